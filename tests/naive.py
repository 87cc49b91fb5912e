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
    """1 - cos(x, y) for every pair, in longdouble.

    Computed as |x/|x| - y/|y||**2 / 2, which does not cancel when x and y
    are nearly parallel (unlike 1 - x.y / (|x| |y|)).
    """
    X, Y = _as_long(X), _as_long(Y)
    Xn = X / np.sqrt((X * X).sum(axis=1, keepdims=True))
    Yn = Y / np.sqrt((Y * Y).sum(axis=1, keepdims=True))
    out = np.empty((X.shape[0], Y.shape[0]), dtype=LONG)
    for i in range(X.shape[0]):
        diff = Xn[i][None, :] - Yn
        out[i] = (diff * diff).sum(axis=1) / 2
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
