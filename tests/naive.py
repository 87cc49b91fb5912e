"""Naive NumPy references for the accuracy tests.

Every pair is computed from its own difference vector in ``np.longdouble``
(80-bit extended precision on x86-64), so these references are far more
accurate than the float64 kernels they check.  They are O(n * m * d) in
memory per call: keep the inputs small.
"""
import numpy as np

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
