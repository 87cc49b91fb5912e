"""Per-column statistics of blocks of rows, and affine maps of columns.

``moments_chunk`` / ``max_abs_chunk`` reduce a block to small partial
results that ``combine_moments`` merges (associative, so ``da.reduction``
tree-merges them); ``center_scale_chunk`` and ``affine_chunk`` apply the
fitted per-column statistics to a block, as the scalers' ``transform`` does.
"""
from typing import NamedTuple

import numpy as np

from fastml._threads import threads_for
from fastml._validation import as_float_block, check_positive_int

__all__ = [
    "Moments",
    "moments_chunk",
    "max_abs_chunk",
    "combine_moments",
    "center_scale_chunk",
    "affine_chunk",
]


MOMENTS_BLOCK_ROWS = 1024  # rows per block of moments_chunk (fixed: results
                           # do not depend on the thread count)


class Moments(NamedTuple):
    """Per-column statistics of some rows, NaN skipped; all float64 (d,).

    ``count`` is the (weighted) number of non-NaN values, ``m2`` the
    (weighted) sum of squared deviations from ``mean``.  A column without
    values has count 0 and NaN mean, min and max.
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @property
    def max_abs(self):
        """The largest absolute value of each column (NaN if none)."""
        return np.fmax(np.abs(self.min), np.abs(self.max))

    def var(self, ddof=0):
        """Per-column (weighted) variance; NaN where count <= ddof."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > ddof, self.m2 / (self.count - ddof), np.nan)


def _merge(na, ma, m2a, lowa, higha, nb, mb, m2b, lowb, highb):
    """Chan et al.'s pairwise update of (count, mean, M2), elementwise; a
    side with count 0 contributes nothing (its mean is NaN)."""
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = mb - ma
        fraction = np.where(n > 0, nb / n, 0.0)
        mean = np.where(na == 0, mb, np.where(nb == 0, ma, ma + delta * fraction))
        m2 = np.where(na == 0, m2b, np.where(nb == 0, m2a,
                                             m2a + m2b + delta * delta * na * fraction))
    return n, mean, m2, np.fmin(lowa, lowb), np.fmax(higha, highb)


def moments_chunk(X, *, sample_weight=None, deviations=True, n_threads=1):
    """Per-column count, mean, M2, min and max of a block of rows.

    NaN values are skipped, as scikit-learn's scalers skip them.  Each
    block of 1024 rows is summarised with two passes over it while it is
    in cache (exact mean, then squared deviations), and the blocks are
    merged pairwise in a fixed order, so the result does not depend on
    ``n_threads``.  Everything accumulates in float64.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        float32 or float64 (other numeric dtypes become float64).
        C-contiguous input is read in place; other layouts are copied first.
    sample_weight : ndarray of shape (n,), default=None
        Non-negative weights, read as repetitions: ``count`` is the sum of
        the weights, and a row of weight 0 counts nowhere (not in min/max
        either).
    deviations : bool, default=True
        False skips the second pass: ``m2`` is then 0 (and so are
        variances), for callers that only need counts, means, min and max.
    n_threads : int, default=1

    Returns
    -------
    Moments
        ``(count, mean, m2, min, max)``, each float64 of shape (d,), with
        ``max_abs`` and ``var(ddof)`` derived.  Merge two with
        :func:`combine_moments`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import moments_chunk
    >>> m = moments_chunk(np.array([[1.0, np.nan], [3.0, 4.0]]))
    >>> m.count, m.mean, m.var()
    (array([2., 1.]), array([2., 4.]), array([1., 0.]))

    On Dask, summarise each block and tree-merge the summaries:

    >>> import dask
    >>> import dask.array as da
    >>> from functools import reduce
    >>> from fastml.kernels import combine_moments
    >>> X = da.random.default_rng(0).normal(5.0, 2.0, size=(10_000, 3), chunks=(1000, 3))
    >>> parts = [dask.delayed(moments_chunk)(block) for block in X.to_delayed().ravel()]
    >>> total = reduce(combine_moments, dask.compute(*parts))
    >>> np.allclose(total.mean, X.mean(axis=0).compute())
    True
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X = as_float_block(X, "X")
    X = np.ascontiguousarray(X)
    n, d = X.shape
    if sample_weight is None:
        w = np.empty(0)
    else:
        w = np.ascontiguousarray(sample_weight, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(
                f"sample_weight must have shape ({n},) to match X, got {w.shape}."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative.")

    n_blocks = max(1, -(-n // MOMENTS_BLOCK_ROWS))
    stats = [np.zeros((n_blocks, d)) for _ in range(5)]
    if n == 0:
        stats[1][:] = stats[3][:] = stats[4][:] = np.nan
    else:
        _moments.block_moments(X, w, MOMENTS_BLOCK_ROWS, bool(deviations), *stats,
                               threads_for(X.size, n_threads))
    # merge neighbouring blocks pairwise until one is left: a fixed tree
    while stats[0].shape[0] > 1:
        odd = stats[0].shape[0] % 2
        merged = _merge(*[s[0:-1 if odd else None:2] for s in stats],
                        *[s[1::2] for s in stats])
        stats = [np.concatenate([m, s[-1:]]) if odd else m for m, s in zip(merged, stats)]
    count, mean, m2, low, high = (s[0] for s in stats)
    if not deviations:  # the merge's between-block terms alone mean nothing
        m2 = np.zeros_like(m2)
    return Moments(count, mean, m2, low, high)


def max_abs_chunk(X, *, n_threads=1):
    """Per-column largest absolute value of a block of rows, NaN skipped.

    ``moments_chunk(X).max_abs`` from one lighter pass that keeps only this
    statistic (``MaxAbsScaler``'s).  Merge two with ``np.fmax``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        float32 or float64; other layouts are copied to C order first.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (d,), float64
        NaN for a column without values.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import max_abs_chunk
    >>> max_abs_chunk(np.array([[1.0, -5.0, np.nan], [-3.0, np.nan, np.nan]]))
    array([ 3.,  5., nan])

    On Dask, one result per block, merged with ``np.fmax``:

    >>> import dask
    >>> import dask.array as da
    >>> from functools import reduce
    >>> X = da.random.default_rng(0).normal(size=(4000, 3), chunks=(1000, 3))
    >>> parts = [dask.delayed(max_abs_chunk)(block) for block in X.to_delayed().ravel()]
    >>> total = reduce(np.fmax, dask.compute(*parts))
    >>> np.array_equal(total, abs(X).max(axis=0).compute())
    True
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(as_float_block(X, "X"))
    n, d = X.shape
    high = np.full((max(1, -(-n // MOMENTS_BLOCK_ROWS)), d), -1.0)
    if n:
        _moments.block_max_abs(X, MOMENTS_BLOCK_ROWS, high, threads_for(X.size, n_threads))
    high = high.max(axis=0)
    high[high < 0] = np.nan
    return high


def combine_moments(a, b):
    """The statistics of two sets of rows together.

    Associative and commutative up to rounding (Chan et al.'s parallel
    update, stable for large means), so any tree of chunks merges to the
    whole-array answer.

    Parameters
    ----------
    a, b : Moments
        From :func:`moments_chunk` (or earlier merges) over the same columns.

    Returns
    -------
    Moments

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import combine_moments, moments_chunk
    >>> m = combine_moments(moments_chunk(np.array([[1.0], [2.0]])),
    ...                     moments_chunk(np.array([[6.0]])))
    >>> m.count, m.mean, m.var()
    (array([3.]), array([3.]), array([4.66666667]))

    A lazy pairwise tree over the row blocks of a Dask array:

    >>> import dask
    >>> import dask.array as da
    >>> X = da.random.default_rng(1).normal(size=(4000, 2), chunks=(1000, 2))
    >>> parts = [dask.delayed(moments_chunk)(block) for block in X.to_delayed().ravel()]
    >>> while len(parts) > 1:
    ...     parts = [dask.delayed(combine_moments)(a, b) for a, b in zip(parts[::2], parts[1::2])]
    >>> np.allclose(parts[0].compute().var(), X.var(axis=0).compute())
    True
    """
    if np.shape(a.mean) != np.shape(b.mean):
        raise ValueError(
            f"combine_moments needs statistics of the same columns, got "
            f"{np.shape(a.mean)[0]} and {np.shape(b.mean)[0]} columns."
        )
    return Moments(*_merge(*a, *b))


def _apply_args(X, vectors, out, name):
    """Checked (X, float64 vectors, out) for the elementwise apply kernels."""
    X = np.ascontiguousarray(as_float_block(X, "X"))
    d = X.shape[1]
    checked = []
    for label, v in vectors:
        v = np.ascontiguousarray(v, dtype=np.float64)
        if v.shape != (d,):
            raise ValueError(f"{name}: {label} must have shape ({d},) to match X, got {v.shape}.")
        checked.append(v)
    if out is None:
        out = np.empty_like(X)
    elif (not isinstance(out, np.ndarray) or out.shape != X.shape or out.dtype != X.dtype
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(
            f"{name}: out must be a writeable C-contiguous array of shape {X.shape} and "
            f"dtype {X.dtype} (X itself for in place)."
        )
    return X, checked, out


def center_scale_chunk(X, center, scale, *, out=None, n_threads=1):
    """``(X - center) / scale``, column by column, in one pass.

    Standardisation (center = mean, scale = standard deviation), max-abs
    scaling (center = 0) and the inverse of min-max scaling.  Computed in
    float64 per element and rounded once to X's dtype: float32 stays
    float32.  NaN stays NaN.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    center, scale : array-like of shape (d,)
    out : ndarray of shape (n, d), default=None
        Where to write; pass X itself (C-contiguous, writeable) for in place.
    n_threads : int, default=1

    Returns
    -------
    out : ndarray of shape (n, d), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import center_scale_chunk
    >>> center_scale_chunk(np.array([[1.0, 10.0], [3.0, np.nan]]), [2.0, 0.0], [1.0, 5.0])
    array([[-1.,  2.],
           [ 1., nan]])

    Standardising a Dask array: fit the statistics, then ``map_blocks``:

    >>> import dask
    >>> import dask.array as da
    >>> X = da.random.default_rng(0).normal(3.0, 2.0, size=(1000, 2), chunks=(250, 2))
    >>> mean, std = dask.compute(X.mean(axis=0), X.std(axis=0))
    >>> Z = X.map_blocks(center_scale_chunk, mean, std, dtype=X.dtype)
    >>> np.allclose(Z.compute(), (X.compute() - mean) / std)
    True
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X, (center, scale), out = _apply_args(
        X, [("center", center), ("scale", scale)], out, "center_scale_chunk")
    if X.size:
        _moments.center_divide(X, center, scale, out, threads_for(X.size, n_threads))
    return out


def affine_chunk(X, factor, offset, *, clip=None, out=None, n_threads=1):
    """``X * factor + offset``, column by column, optionally clipped, in one pass.

    Min-max scaling (factor = scale, offset = min) and the inverse of
    standardisation.  Computed in float64 per element and rounded once to
    X's dtype.  NaN stays NaN.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    factor, offset : array-like of shape (d,)
    clip : (low, high), default=None
        Clip every result to this range.
    out, n_threads
        As in :func:`center_scale_chunk`, and so is the result.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import affine_chunk
    >>> affine_chunk(np.array([[1.0, 2.0], [np.nan, 8.0]]), [2.0, 0.5], [1.0, 0.0])
    array([[ 3.,  1.],
           [nan,  4.]])

    Row-local, so ``map_blocks`` over a Dask array (here min-max scaling):

    >>> import dask
    >>> import dask.array as da
    >>> X = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2))
    >>> low, high = dask.compute(X.min(axis=0), X.max(axis=0))
    >>> Y = X.map_blocks(affine_chunk, 1 / (high - low), -low / (high - low), clip=(0, 1),
    ...                  dtype=X.dtype)
    >>> Y.compute()
    array([[0.        , 0.        ],
           [0.33333333, 0.33333333],
           [0.66666667, 0.66666667],
           [1.        , 1.        ]])
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X, (factor, offset), out = _apply_args(
        X, [("factor", factor), ("offset", offset)], out, "affine_chunk")
    low, high = (-np.inf, np.inf) if clip is None else (float(clip[0]), float(clip[1]))
    if X.size:
        _moments.multiply_add(X, factor, offset, clip is not None, low, high, out,
                              threads_for(X.size, n_threads))
    return out
