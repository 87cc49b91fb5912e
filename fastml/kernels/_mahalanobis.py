"""Mahalanobis distances to a guaranteed accuracy: VI = R^T R in
double-double, rows R x in double-double, and a per-pair error bound that
refines the pairs the euclidean kernels cannot guarantee (used by
``fastml.kernels._plan``)."""
import hashlib
import threading

import numpy as np

from fastml._kernels import _distances

# Error analysis.  SciPy computes q = (u - v) VI (u - v)^T per pair in
# float64: d = u - v (one rounding per entry), then VI d and d . (VI d), so
# |q_scipy - q| <~ (n + 2) eps |d|^T |VI| |d|.  Relative to q that is
# (n + 2) eps kappa(d), kappa(d) = |d|^T |VI| |d| / d^T VI d, which can reach
# cond(VI): with near-collinear features (x2 ~ x1 + delta z) every pair has
# d1 ~ d2 and kappa ~ 1 / delta^2 ~ cond(VI).  Diagonal scalings cancel out
# of kappa, so features of very different scales cost SciPy nothing;
# collinearity does.  Measured against the exact reference (tests/naive.py's
# ``mahalanobis``: exact products by Dekker splits, summed by math.fsum),
# SciPy's worst relative error is 1.2e-13 on breast_cancer (VI = inv(cov),
# cond(cov) 6e11, of its correlation matrix 1e5), 5e-11 / 4e-8 / 6e-5 on
# synthetic collinear data with cond 1e6 / 1e9 / 1e12, 3e-16 with the same
# conditions from feature scales.  So the tests check against the exact
# reference, and against SciPy only up to SciPy's own bound.
#
# The fast way writes VI = R^T R and q = |R u - R v|^2, a euclidean distance
# between transformed rows.  Its errors, relative to the distance |R d|:
#  1. the factor's backward error: a float64 Cholesky gives R^T R = VI + E,
#     |E| <= gamma_n |R^T| |R|, so q moves by up to gamma_n |(|R| |d|)|^2,
#     i.e. ~n eps kappa'(d) with kappa' ~ cond(VI) again.  An eigenvector
#     root of the unscaled VI (fastml before) is worse: its error is
#     eps ||VI|| in every entry, which swamps the small entries belonging to
#     features of large scale;
#  2. rounding the transformed rows: eps |R| |u| per row, against |R d|:
#     eps cond(VI)^(1/2) |u| / |d|.  Centring shrinks |u| to the data's
#     spread but cannot help near pairs or collinear features;
#  3. the euclidean kernel on the rounded rows: n eps relative from
#     differences; the GEMM identity's loss for close pairs is bounded by the
#     kernels' recompute threshold (1e-13).
# Candidates measured (worst relative error; breast_cancer, then collinear
# cond 1e6 / 1e9 / 1e12): eigenvector root, as before: 1e-6, 4e-11 / 5e-7 /
# 1e-4.  Equilibrated (diag^-1/2), centred, float64 Cholesky: 1.2e-13,
# 7e-11 / 4e-8 / 6e-5 -- SciPy's accuracy, as 1 predicts.  SciPy's per-pair
# form as blocked matrix products for every pair: exact as SciPy but only
# 2.3x (1 thread) to 3.2x (2) SciPy's speed at 1000 x 1000 x 64.  Chosen:
# R and R u in double-double (mahalanobis.c; 4e-16 on all of the above):
# the factor's backward error becomes ~n 2^-104 |R^T| |R| and the rows'
# ~n^2 2^-104 |R| |u|, negligible up to cond(VI) ~1e14..1e16, which is
# checked per VI below (else: SciPy's form, blocked).  Scaling changes
# nothing in a Cholesky factor, so VI is not equilibrated.  The kernels run
# on the hi parts of the centred rows R u - R c; a per-pair bound sends each
# pair whose dropped lo parts could matter (|lo_u| + |lo_v| > 1e-12 |R d|:
# near pairs) to the lo-aware difference, and a pair nearer still (the rows'
# own error) to R times the exact difference u - v, both in mahalanobis.c.
# Identical rows give exactly 0.  Float32 rows are (u - c) R^T by BLAS in
# float64 rounded to float32: error ~eps32 |R (u - c)| / |R d| (2e-7 on
# breast_cancer and at collinear cond 1e12; before: 1.5e-6 and 1.7e-4).

# Relative error of a float64 mahalanobis distance guaranteed on every pair
# (before the final square root's half ulp).
TOL = 1e-12
_DD_EPS = 2.0 ** -104           # unit roundoff of double-double arithmetic
_FACTOR_CACHE = {}               # VI's digest -> factor: Dask builds a plan per block
_FACTOR_LOCK = threading.Lock()


def _two_sum(a, b):
    """s + e == a + b exactly (NumPy never contracts these)."""
    s = a + b
    z = s - a
    return s, (a - (s - z)) + (b - z)


class MahalanobisFactor:
    """VI = R^T R in double-double, and the rows R x - R c it maps X to.

    ``R`` is None when no factor can guarantee the distances (VI not
    numerically positive definite, or cond(VI) beyond ~1e16): the caller
    then evaluates SciPy's per-pair quadratic form.
    """

    def __init__(self, VI):
        VI = self.VI = np.asarray(VI, dtype=np.float64)
        d = VI.shape[0]
        # The symmetric part (VI + VI^T) / 2 exactly: q only sees that part.
        hi, lo = _two_sum(VI, VI.T)
        A_hi, A_lo = _two_sum(hi * 0.5, lo * 0.5)
        self.R_hi, self.R_lo = np.zeros((d, d)), np.zeros((d, d))
        self.R = None
        if not np.isfinite(VI).all():
            return
        if _distances.maha_cholesky(A_hi, A_lo, self.R_hi, self.R_lo) == 0:
            R = self.R_hi
            self.norm = float(np.linalg.norm(R))
            # Backward error of the factor relative to q, every pair d:
            # gamma |(|R| |d|)|^2 / |R d|^2 <= gamma (||(|R|)||_2 ||R^-1||_2)^2,
            # each 2-norm bounded by sqrt(||.||_1 ||.||_inf) (O(d^2), no SVD).
            with np.errstate(all="ignore"):
                R_inv = np.abs(np.linalg.inv(R)) if d else R
                kappa = np.prod([np.abs(M).sum(axis=a).max(initial=0.0)
                                 for M in (R, R_inv) for a in (0, 1)])
            bound = 4 * (d + 2) * _DD_EPS * kappa
            if np.isfinite(bound) and bound <= TOL:
                self.R = R
                return
        sym = 0.5 * (VI + VI.T)
        vals = np.linalg.eigvalsh(sym)
        if vals.min() < -1e-10 * max(abs(vals).max(), 1e-300):
            raise ValueError(
                "VI for metric 'mahalanobis' must be positive semi-definite (an inverse "
                f"covariance matrix); its smallest eigenvalue is {vals.min():.3g}."
            )

    @classmethod
    def of(cls, VI):
        """The factor of VI, cached on a digest of its bytes (a few entries)."""
        VI = np.ascontiguousarray(VI, dtype=np.float64)
        key = (VI.shape, hashlib.blake2b(VI).digest())
        factor = _FACTOR_CACHE.get(key)
        if factor is None:
            factor = cls(VI)
            with _FACTOR_LOCK:        # Dask's threads build plans at once
                while len(_FACTOR_CACHE) >= 4:
                    _FACTOR_CACHE.pop(next(iter(_FACTOR_CACHE)))
                _FACTOR_CACHE[key] = factor
        return factor

    def offset(self, X):
        """R c in double-double for c the mean row of X (float64)."""
        d = self.R.shape[0]
        c = np.ascontiguousarray(X.mean(axis=0) if X.shape[0] else np.zeros(d), np.float64)
        off_hi, off_lo = np.empty((1, d)), np.empty((1, d))
        _distances.maha_transform(c[None, :], self.R_hi, self.R_lo, np.zeros(d), np.zeros(d),
                                  off_hi, off_lo, 1)
        return off_hi[0], off_lo[0]

    def rows(self, X, offset, n_threads):
        """(Z_hi, Z_lo, r, t) for the rows of X (C-contiguous float64):
        Z_hi + Z_lo = R x - R c to ~1e-30, t bounds that error per row and
        r = |Z_lo| + t the error of Z_hi alone (2-norms)."""
        n, d = X.shape
        Z_hi, Z_lo = np.empty((n, d)), np.empty((n, d))
        _distances.maha_transform(X, self.R_hi, self.R_lo, offset[0], offset[1],
                                  Z_hi, Z_lo, n_threads)
        x_norm = np.sqrt(np.einsum("ij,ij->i", X, X))
        t = 4 * (d + 2) ** 2 * _DD_EPS * (self.norm * x_norm + np.linalg.norm(offset[0]))
        r = np.sqrt(np.einsum("ij,ij->i", Z_lo, Z_lo)) + t
        return Z_hi, Z_lo, r, t


def quadratic_form_distances(X, Y, VI, out, block_bytes=1 << 24):
    """sqrt((x - y) VI (x - y)^T) for every pair, as SciPy evaluates it,
    blocked into matrix products (the fallback for a VI no factor can
    guarantee)."""
    n, m = out.shape
    d = X.shape[1]
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    rows = max(1, block_bytes // (8 * max(m * d, 1)))
    for start in range(0, n, rows):
        diff = X[start:start + rows, None, :] - Y[None, :, :]
        q = np.einsum("bmk,bmk->bm", diff @ VI.T, diff)
        with np.errstate(invalid="ignore"):
            out[start:start + rows] = np.sqrt(q)


def mahalanobis_rows(fac, X, Y, n_threads, exact=True):
    """((X64, rows of X), (Y64, rows of Y)) with the factor's rows
    (Z_hi, Z_lo, r, t), centred on the mean of Y's finite rows (X's if Y
    is None, and then Y's entries are X's).

    ``exact=False`` (float32 distances): Z_hi = (x - c) R_hi^T by BLAS in
    float64 only, whose error ~eps64 |R| |x - c| stays far below the float32
    rounding that follows; Z_lo, r, t are then None.
    """
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    Y64 = X64 if Y is None else np.ascontiguousarray(Y, dtype=np.float64)
    finite = np.isfinite(Y64).all(axis=1)
    if not exact:
        centre = Y64[finite].mean(axis=0) if finite.any() else np.zeros(X64.shape[1])
        zx = ((X64 - centre) @ fac.R_hi.T, None, None, None)
        zy = zx if Y is None else ((Y64 - centre) @ fac.R_hi.T, None, None, None)
        return (X64, zx), (Y64, zy)
    offset = fac.offset(Y64 if finite.all() else Y64[finite])
    zx = fac.rows(X64, offset, n_threads)
    zy = zx if Y is None else fac.rows(Y64, offset, n_threads)
    return (X64, zx), (Y64, zy)


def refine_mahalanobis(fac, out, rows, indices, n_threads, symmetric=False):
    """Refine, in place, the distances out (float64, C-contiguous) whose
    error bound exceeds TOL (column c of row i is Y's row indices[i, c], or
    row c when indices is None; indices < 0 are skipped)."""
    (X64, zx), (Y64, zy) = rows
    if indices is None:
        idx = np.empty((0, 0), dtype=np.intp)
    else:
        idx = np.where(indices < 0, _distances.EMPTY_INDEX, indices).astype(np.intp)
    _distances.maha_refine(out, idx, X64, Y64, *zx, *zy, fac.R_hi, fac.R_lo, TOL,
                           symmetric, n_threads)
