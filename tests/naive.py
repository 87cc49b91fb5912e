"""Naive NumPy references for the accuracy tests, all in one place.

The distance references first: every pair is computed from its own difference vector in ``np.longdouble``
(80-bit extended precision on x86-64), so these references are far more
accurate than the float64 kernels they check.  They are O(n * m * d) in
memory per call: keep the inputs small.
"""
import numpy as np

from fastml.kernels import N_BINS, Moments

LONG = np.longdouble


def _as_long(X):
    return np.asarray(X).astype(LONG)


def sqeuclidean(X, Y, w=None):
    """sum_k w_k (x_k - y_k)**2 for every pair, in longdouble."""
    X, Y = _as_long(X), _as_long(Y)
    out = np.empty((X.shape[0], Y.shape[0]), dtype=LONG)
    wl = None if w is None else _as_long(w)
    for i in range(X.shape[0]):
        diff = X[i][None, :] - Y            # (m, d), one pair per row
        sq = diff * diff
        if wl is not None:
            sq = sq * wl
        out[i] = sq.sum(axis=1)
    return out


def euclidean(X, Y, w=None):
    return np.sqrt(sqeuclidean(X, Y, w))


def cosine(X, Y):
    """1 - cos(x, y) for every pair, in longdouble, without cancellation.

    With d = x - y (exact in longdouble for nearby float32/float64 inputs)::

        1 - cos = (|d|**2 - (|x| - |y|)**2) / (2 |x| |y|),
        |x| - |y| = d . (x + y) / (|x| + |y|),

    so nearly parallel rows (tiny distances) keep their relative accuracy,
    unlike ``1 - x.y / (|x| |y|)`` or differences of normalised rows.
    """
    X, Y = _as_long(X), _as_long(Y)
    nx = np.sqrt((X * X).sum(axis=1))
    ny = np.sqrt((Y * Y).sum(axis=1))
    out = np.empty((X.shape[0], Y.shape[0]), dtype=LONG)
    for i in range(X.shape[0]):
        diff = X[i][None, :] - Y                                  # (m, d)
        dn2 = (diff * diff).sum(axis=1)
        norm_gap = (diff * (X[i][None, :] + Y)).sum(axis=1) / (nx[i] + ny)
        out[i] = (dn2 - norm_gap * norm_gap) / (2 * nx[i] * ny)
    return out


REFERENCES = {"euclidean": euclidean, "sqeuclidean": sqeuclidean, "cosine": cosine}


def max_relative_error(got, ref):
    """Largest |got - ref| / |ref| over every pair (ref must be nonzero)."""
    got = np.asarray(got).astype(LONG)
    ref = np.asarray(ref)
    assert got.shape == ref.shape
    if ref.size == 0:
        return 0.0
    assert np.all(ref != 0), "the relative error needs a nonzero reference"
    return float(np.max(np.abs(got - ref) / np.abs(ref)))


def layouts(A):
    """The same values as A in C order, Fortran order, read-only, and as a
    strided view (every other row and column of a larger array)."""
    fortran = np.asfortranarray(A)
    readonly = A.copy()
    readonly.setflags(write=False)
    big = np.zeros((2 * A.shape[0], 2 * A.shape[1]), dtype=A.dtype)
    big[::2, ::2] = A
    strided = big[::2, ::2]
    assert not strided.flags.c_contiguous and not fortran.flags.c_contiguous
    return {"C": A, "F": fortran, "readonly": readonly, "strided": strided}


# ---------------------------------------------------------------- from test_gbdt_kernels.py
def naive_thresholds(column, max_bins):
    """scikit-learn 1.9's rule, in plain NumPy."""
    values = np.sort(column[~np.isnan(column)].astype(np.float64))
    distinct = np.unique(values)
    if distinct.size <= max_bins:
        cuts = (distinct[:-1] + distinct[1:]) / 2
    else:
        levels = np.linspace(0, 100, max_bins + 1)[1:-1]
        cuts = np.unique(np.percentile(values, levels, method="averaged_inverted_cdf"))
    return np.minimum(cuts, 1e300)


# from test_gbdt_kernels.py
def naive_splits(hist, n_values, g_scale, h_scale, l2, min_leaf, min_hessian,
                 missing_bin=N_BINS - 1):
    """Every threshold and missing side, scanned in Python floats."""
    out = []
    for f in range(hist.shape[0]):
        H = hist[f].astype(object)            # exact integers
        hess = H[:, 1] if h_scale is not None else H[:, 2]
        scale_h = h_scale if h_scale is not None else 1.0
        G_tot, H_tot, N_tot = H[:, 0].sum(), hess.sum(), H[:, 2].sum()
        miss = (H[missing_bin, 0], hess[missing_bin], H[missing_bin, 2])

        def score(gs, hs):
            return (gs * g_scale) ** 2 / (hs * scale_h + l2)

        best = (-np.inf, -1, False)
        for b in range(n_values[f]):
            gl, hl, nl = H[:b + 1, 0].sum(), hess[:b + 1].sum(), H[:b + 1, 2].sum()
            for missing_left in ((True, False) if miss[2] else (False,)):
                g_l = gl + (miss[0] if missing_left else 0)
                h_l = hl + (miss[1] if missing_left else 0)
                n_l = nl + (miss[2] if missing_left else 0)
                if n_l < min_leaf or N_tot - n_l < min_leaf:
                    continue
                if h_l * scale_h < min_hessian or (H_tot - h_l) * scale_h < min_hessian:
                    continue
                gain = score(g_l, h_l) + score(G_tot - g_l, H_tot - h_l) - score(G_tot, H_tot)
                if gain > best[0]:
                    best = (gain, b, missing_left)
        out.append(best)
    return out


# from test_gbdt_kernels.py
def naive_histograms(binned, g, h, samples):
    rows = np.arange(binned.shape[0]) if samples is None else np.asarray(samples)
    hist = np.zeros((binned.shape[1], N_BINS, 3), dtype=np.int64)
    for f in range(binned.shape[1]):
        codes = binned[rows, f]
        np.add.at(hist[f, :, 0], codes, g[rows])
        if h is not None:
            np.add.at(hist[f, :, 1], codes, h[rows])
        np.add.at(hist[f, :, 2], codes, 1)
    return hist


# from test_moments_kernels.py
def naive_moments(X, w=None):
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    out = {k: np.full(X.shape[1], np.nan) for k in ("count", "mean", "m2", "min", "max")}
    for j in range(X.shape[1]):
        ok = ~np.isnan(X[:, j]) & (w > 0)  # weight 0: not a row at all
        x, wj = X[ok, j], w[ok]
        out["count"][j] = wj.sum()
        out["m2"][j] = 0.0
        if ok.any():
            mean = np.sum(wj * x) / wj.sum() if wj.sum() > 0 else np.nan
            out["mean"][j] = mean
            out["m2"][j] = np.sum(wj * (x - mean) ** 2) if wj.sum() > 0 else 0.0
            out["min"][j], out["max"][j] = x.min(), x.max()
    return Moments(**out)


# from test_tree_grower.py
def naive_predict(X, tree):
    out = np.zeros(X.shape[0])
    for i, row in enumerate(X):
        node = 0
        while tree.left[node] >= 0:
            x = row[tree.feature[node]]
            go_left = tree.missing_left[node] if np.isnan(x) else x <= tree.threshold[node]
            node = tree.left[node] if go_left else tree.right[node]
        out[i] = tree.value[node]
    return out


# ---------------------------------------------------------------- from test_mahalanobis.py
def _split(a):
    """Dekker's split: a == hi + lo with 26-bit halves (float64 arrays)."""
    c = 134217729.0 * a             # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _two_product(a, b):
    """p + e == a * b exactly (no overflow or underflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def mahalanobis(X, Y, VI):
    """sqrt((x - y) VI (x - y)^T) for every pair, the quadratic form exactly
    rounded: x - y as an exact sum of two doubles, every product
    d_i VI_ij d_j as an exact sum of doubles (Dekker), summed by math.fsum.
    Python loop over pairs: keep n * m * d * d below ~2e7."""
    import math

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    VI = np.asarray(VI, dtype=np.float64)
    out = np.empty((X.shape[0], Y.shape[0]))
    for i in range(X.shape[0]):
        s = X[i][None, :] - Y                         # (m, d), one pair per row
        z = s - X[i]
        e = (X[i] - (s - z)) + (-Y - z)               # X[i] - Y == s + e exactly
        terms = []
        for a in (s, e):
            for b in (s, e):
                p1, e1 = _two_product(a[:, :, None], VI[None])      # a_k VI_kl
                for part in (p1, e1):
                    p2, e2 = _two_product(part, b[:, None, :])       # ... b_l
                    terms += [p2.reshape(len(Y), -1), e2.reshape(len(Y), -1)]
        terms = np.concatenate(terms, axis=1)
        for j in range(Y.shape[0]):
            q = math.fsum(terms[j].tolist())
            out[i, j] = math.sqrt(q) if q >= 0 else math.nan
    return out


def scipy_mahalanobis_error_bound(X, Y, VI):
    """A priori relative error bound of SciPy's float64 quadratic form per
    pair, (d + 2) eps |x - y|^T |VI| |x - y| / q (q from SciPy's own
    evaluation; inf where q <= 0)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    diff = X[:, None, :] - Y[None, :, :]
    mag = np.einsum("nmk,nmk->nm", np.abs(diff) @ np.abs(VI).T, np.abs(diff))
    q = np.einsum("nmk,nmk->nm", diff @ VI.T, diff)
    eps = np.finfo(np.float64).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, (X.shape[1] + 2) * eps * mag / q, np.inf)


# ---------------------------------------------------------------- from test_direct_kernels_precision.py
def minkowski(X, Y, p):
    """(sum_k |x_k - y_k|**p)**(1/p) for every pair, in longdouble (the
    powers through exp/log in longdouble: |x - y|**p for a fractional p)."""
    X, Y = _as_long(X), _as_long(Y)
    p = LONG(p)
    out = np.empty((X.shape[0], Y.shape[0]), dtype=LONG)
    for i in range(X.shape[0]):
        diff = np.abs(X[i][None, :] - Y)
        with np.errstate(divide="ignore"):
            terms = np.where(diff > 0, np.exp(p * np.log(diff)), LONG(0))
        out[i] = terms.sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.where(out > 0, np.exp(np.log(out) / p), LONG(0))
