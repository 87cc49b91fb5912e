"""The chunk-level kernels of fastml.

Each function here takes NumPy blocks (float32 or float64, any memory layout,
read-only included) and returns new NumPy arrays.  They release the GIL, keep
no state, give the same result whatever ``n_threads`` is, and default to one
thread because under Dask the scheduler supplies the parallelism.  Use them
inside ``dask.array.map_blocks`` / ``blockwise`` to build your own graphs;
the public API (``fastml.metrics``) uses them the same way.
"""
import numbers
import threading
from functools import partial
from typing import NamedTuple

import numpy as np

from fastml import _distance_metrics
from fastml._validation import (
    check_2d,
    check_input_dtype,
    check_no_custom_metric_params,
    check_positive_int,
    check_same_n_features,
)

__all__ = [
    "pairwise_distances_chunk",
    "argkmin_chunk",
    "merge_argkmin",
    "radius_neighbors_chunk",
    "Moments",
    "moments_chunk",
    "combine_moments",
    "max_abs_chunk",
    "center_scale_chunk",
    "affine_chunk",
    "quantiles_chunk",
    "QuantileSummary",
    "quantile_summary_chunk",
    "combine_quantile_summaries",
    "compress_quantile_summary",
    "summary_quantiles",
    "bin_chunk",
    "quantile_transform_chunk",
    "polynomial_features_chunk",
    "fourier_features_chunk",
    "N_BINS",
    "fixed_point_scale",
    "to_fixed_point",
    "gradient_histograms_chunk",
    "GradientHistograms",
    "SplitCandidates",
    "find_node_splits",
    "partition_chunk",
    "bin_thresholds",
    "Tree",
    "predict_tree_chunk",
]


def _as_block(X, name):
    check_input_dtype(X, name)
    X = np.asarray(X)
    check_2d(X, name)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _prepare(X, Y, metric, params, finite):
    """Checked float blocks X, Y of one dtype, and the metric's Plan (None
    for a custom metric).

    ``finite=True`` is the neighbour searches' contract: no NaN or inf, and
    the cosine distance of an all-zero row is 1, as in scikit-learn (SciPy's
    NaN would rank nowhere)."""
    X = _as_block(X, "X")
    Y = _as_block(Y, "Y")
    check_same_n_features(X, Y)
    if X.dtype != Y.dtype:
        X, Y = X.astype(np.float64), Y.astype(np.float64)
    if X.shape[1] == 0:
        raise ValueError("X and Y have 0 features; distances need at least one feature.")
    if finite:
        for A, name in ((X, "X"), (Y, "Y")):
            if not np.isfinite(A).all():
                raise ValueError(
                    f"{name} contains NaN or infinity; nearest neighbours need finite "
                    f"values. Impute them first (e.g. sklearn.impute.SimpleImputer)."
                )
    if callable(metric):
        check_no_custom_metric_params(params)
        return X, Y, None
    name = _distance_metrics.resolve_metric(metric)
    params = _distance_metrics.check_params(name, params, X.shape[1])
    for key, value in _distance_metrics.default_params(name, params, X, Y).items():
        params.setdefault(key, value)
    if finite and name == "jensenshannon":
        for A, label in ((X, "X"), (Y, "Y")):
            bad = _distance_metrics.not_a_distribution(A)
            if bad.any():
                raise ValueError(
                    f"jensenshannon needs rows of non-negative values with a positive sum; "
                    f"row {int(np.flatnonzero(bad)[0])} of {label} is not one."
                )
    cosine_zero = 1.0 if finite and name == "cosine" else np.nan
    return X, Y, _distance_metrics.Plan(name, params, X.dtype, X.shape[1],
                                        cosine_zero=cosine_zero)


def pairwise_distances_chunk(X, Y, metric="euclidean", *, n_threads=1, **params):
    """Distances between every row of X and every row of Y.

    The chunk kernel behind :func:`fastml.metrics.pairwise_distances`, with
    SciPy's :func:`~scipy.spatial.distance.cdist` semantics.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        float32 or float64 (other numeric dtypes become float64); any layout.
    Y : ndarray of shape (m, d)
        If the dtypes of X and Y differ, both are computed in float64.
    metric : str or callable, default="euclidean"
        A name from ``scipy.spatial.distance.cdist`` or its aliases,
        scikit-learn's aliases (``l1``, ``l2``, ``manhattan``, ...) or
        ``"haversine"``; or a Python function ``f(a, b) -> float`` of two 1-D
        arrays, compiled with Numba (once per process and dtype).
    n_threads : int, default=1
        Threads for this call.  Keep 1 inside Dask tasks.
    **params
        Metric parameters: ``p`` and ``w`` (minkowski), ``w`` (weights, for
        every metric SciPy weights), ``V`` (seuclidean), ``VI``
        (mahalanobis), ``base`` (jensenshannon).  Without ``V`` / ``VI`` they
        are computed from X and Y, as SciPy does.

    Returns
    -------
    D : ndarray of shape (n, m)
        The dtype of X and Y (float32 stays float32).

    Notes
    -----
    Boolean metrics (dice, jaccard, rogerstanimoto, russellrao, sokalsneath,
    yule) treat nonzero as True, as ``cdist`` does for jaccard.  Cosine, and
    euclidean with many features, come from BLAS dot products; every pair for
    which that identity could lose accuracy is recomputed exactly: identical
    rows give exactly 0, and the relative error stays near 1e-5 (float32) /
    1e-13 (float64) on every pair.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import pairwise_distances_chunk
    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> pairwise_distances_chunk(X, X)
    array([[0., 5.],
           [5., 0.]])

    The same kernel on every pair of row blocks of two Dask arrays:

    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> A = da.from_array(rng.normal(size=(1000, 8)), chunks=(250, 8))
    >>> B = da.from_array(rng.normal(size=(600, 8)), chunks=(300, 8))
    >>> D = da.blockwise(pairwise_distances_chunk, "ij", A, "ik", B, "jk",
    ...                  metric="cityblock", dtype=A.dtype, concatenate=True)
    >>> D.chunks
    ((250, 250, 250, 250), (300, 300))
    >>> np.allclose(D.compute(), pairwise_distances_chunk(A.compute(), B.compute(),
    ...                                                   metric="cityblock"))
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    X, Y, plan = _prepare(X, Y, metric, params, finite=False)
    if plan is None:
        return custom_distances(X, Y, metric, n_threads=n_threads)
    return plan.compute(X, Y, n_threads)


def argkmin_chunk(X, Y, k, metric="euclidean", *, n_threads=1, **params):
    """For each row of X, its k nearest rows of Y.

    Distances are computed tile by tile and offered at once to a per-row
    top-k heap: the (n, m) distance matrix never exists, and the extra
    memory is one tile per thread plus the (n, k) result.  Euclidean ranks
    on squared distances and returns the winners' distances recomputed from
    differences in float64.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Queries: float32 or float64 (other numeric dtypes become float64),
        any layout, finite.
    Y : ndarray of shape (m, d)
        The rows searched (an index, or one shard of it).
    k : int
        Neighbours per query, >= 1.  If Y has fewer than k rows, the
        missing neighbours are reported as distance ``inf``, index -1.
    metric : str or callable, default="euclidean"
        As in :func:`pairwise_distances_chunk`, except that the cosine
        distance of an all-zero row is 1, as in scikit-learn (``cdist``
        gives NaN).
    n_threads : int, default=1
        Threads for this call (over blocks of X rows).  Keep 1 inside Dask
        tasks.
    **params
        Metric parameters, as in :func:`pairwise_distances_chunk`.

    Returns
    -------
    distances : ndarray of shape (n, k)
        The dtype of X and Y, ascending along each row.
    indices : ndarray of shape (n, k), int64
        Rows of Y; among equal distances the smaller index comes first.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import argkmin_chunk
    >>> Y = np.array([[0.0], [1.0], [3.0], [4.0]])
    >>> argkmin_chunk(np.array([[2.9], [0.5]]), Y, k=2)
    (array([[0.1, 1.1],
           [0.5, 0.5]]), array([[2, 3],
           [0, 1]]))

    Over the shards of a Dask index: each shard's answer, its indices made
    global with the shard's offset, then merged (see :func:`merge_argkmin`).

    >>> import dask
    >>> import dask.array as da
    >>> from functools import reduce
    >>> from fastml.kernels import merge_argkmin
    >>> rng = np.random.default_rng(0)
    >>> index = da.from_array(rng.normal(size=(1000, 4)), chunks=(300, 4))
    >>> Q = rng.normal(size=(5, 4))
    >>> offsets = np.cumsum((0,) + index.chunks[0][:-1])
    >>> parts = [dask.delayed(argkmin_chunk)(Q, block, 3)
    ...          for block in index.to_delayed().ravel()]
    >>> parts = [(d, i + off) for (d, i), off in zip(dask.compute(*parts), offsets)]
    >>> d, i = reduce(merge_argkmin, parts)
    >>> np.array_equal(i, argkmin_chunk(Q, index.compute(), 3)[1])
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    k = check_positive_int(k, "k")
    X, Y, plan = _prepare(X, Y, metric, params, finite=True)
    if plan is not None:
        return plan.argkmin(X, Y, k, n_threads)
    heap_d, heap_i = _distance_metrics.new_heaps(X.shape[0], k)
    X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
    _distance_metrics.offer_in_blocks(
        lambda A, B: custom_distances(A, B, metric, n_threads=n_threads), X, Y,
        heap_d, heap_i, n_threads,
    )
    distances, indices = _distance_metrics.finish_heaps(heap_d, heap_i, n_threads)
    return distances.astype(X.dtype, copy=False), indices


def merge_argkmin(a, b):
    """Merge two k-nearest results over different rows of the index.

    Parameters
    ----------
    a, b : tuple (distances, indices)
        Results of :func:`argkmin_chunk` for the same queries against two
        disjoint sets of index rows, with the indices already made global
        (shard offset added).  Shapes (n, ka) and (n, kb).

    Returns
    -------
    distances, indices : ndarrays of shape (n, max(ka, kb))
        The nearest of both, sorted by distance, ties by the smaller index;
        missing neighbours (index -1) last.  The merge is associative and
        commutative, so any tree of shards gives the unsharded answer.
    """
    (da_, ia), (db, ib) = a, b
    if da_.shape[0] != db.shape[0]:
        raise ValueError(
            f"merge_argkmin needs results for the same queries, got {da_.shape[0]} "
            f"and {db.shape[0]} rows."
        )
    k = max(da_.shape[1], db.shape[1])
    d = np.concatenate([da_, db], axis=1)
    i = np.concatenate([ia, ib], axis=1).astype(np.int64, copy=False)
    # missing neighbours (-1) sort after every real index of equal distance
    tie_key = np.where(i < 0, np.iinfo(np.int64).max, i)
    order = np.lexsort((tie_key, d), axis=-1)[:, :k]
    return (np.take_along_axis(d, order, axis=1).astype(np.result_type(da_, db), copy=False),
            np.take_along_axis(i, order, axis=1))


def radius_neighbors_chunk(X, Y, radius, metric="euclidean", *, n_threads=1,
                           sort_results=False, **params):
    """For each row of X, the rows of Y within ``radius`` (distance <= radius).

    Distances are computed in blocks of bounded size (about 32 MB at a
    time), never as the whole (n, m) matrix.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (m, d)
    radius : float
        >= 0.
    metric, n_threads, **params
        As in :func:`argkmin_chunk` (a zero row is at cosine distance 1).
    sort_results : bool, default=False
        Sort each row's neighbours by distance (ties by index); otherwise
        they come in increasing index order.

    Returns
    -------
    offsets : ndarray of shape (n + 1,), int64
        Row i's neighbours are ``indices[offsets[i]:offsets[i + 1]]``.
    indices : ndarray, int64
    distances : ndarray
        The dtype of X and Y.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import radius_neighbors_chunk
    >>> Y = np.array([[0.0], [1.0], [3.0]])
    >>> radius_neighbors_chunk(np.array([[0.9], [5.0]]), Y, radius=1.0)
    (array([0, 2, 2]), array([0, 1]), array([0.9, 0.1]))
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if not isinstance(radius, numbers.Real) or not radius >= 0:
        raise ValueError(f"radius must be a non-negative number, got {radius!r}.")
    X, Y, plan = _prepare(X, Y, metric, params, finite=True)
    n, m = X.shape[0], Y.shape[0]
    rows = max(1, min(n, (1 << 22) // max(m, 1)))
    counts, indices, distances = [np.zeros(0, np.int64)], [], []
    for x0 in range(0, n, rows):
        if plan is None:
            D = custom_distances(X[x0:x0 + rows], Y, metric, n_threads=n_threads)
        else:
            D = plan.compute(X[x0:x0 + rows], Y, n_threads)
        r, c = np.nonzero(D <= radius)
        counts.append(np.bincount(r, minlength=D.shape[0]))
        indices.append(c.astype(np.int64))
        distances.append(D[r, c])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    distances = np.concatenate(distances) if distances else np.zeros(0, X.dtype)
    if sort_results:
        row = np.repeat(np.arange(n), np.diff(offsets))
        order = np.lexsort((indices, distances, row))
        indices, distances = indices[order], distances[order]
    return offsets, indices, distances.astype(X.dtype, copy=False)


def custom_distances(X, Y, metric, *, n_threads=1, symmetric=False):
    """Distances from a user-written ``metric(a, b) -> float``, compiled with
    Numba into a tiled kernel run on ``n_threads`` threads.

    With ``symmetric=True`` (Y is X) each pair is computed once, the result
    mirrored, and the diagonal set to 0.
    """
    from fastml._kernels import _distances
    from fastml._numba import custom_metric

    X = np.ascontiguousarray(X)
    Y = X if symmetric else np.ascontiguousarray(Y)
    out = np.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)   # every entry is written
    custom_metric.pairwise(X, Y, metric, out, n_threads=n_threads, symmetric=symmetric)
    if symmetric:
        _distances.mirror_upper(out, n_threads)
    return out


# ---------------------------------------------------------------- column statistics

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
    X = _as_block(X, "X")
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
        _moments.block_moments(X, w, MOMENTS_BLOCK_ROWS, bool(deviations), *stats, n_threads)
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
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(_as_block(X, "X"))
    n, d = X.shape
    high = np.full((max(1, -(-n // MOMENTS_BLOCK_ROWS)), d), -1.0)
    if n:
        _moments.block_max_abs(X, MOMENTS_BLOCK_ROWS, high, n_threads)
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
    """
    if np.shape(a.mean) != np.shape(b.mean):
        raise ValueError(
            f"combine_moments needs statistics of the same columns, got "
            f"{np.shape(a.mean)[0]} and {np.shape(b.mean)[0]} columns."
        )
    return Moments(*_merge(*a, *b))


def _apply_args(X, vectors, out, name):
    """Checked (X, float64 vectors, out) for the elementwise apply kernels."""
    X = np.ascontiguousarray(_as_block(X, "X"))
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
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X, (center, scale), out = _apply_args(
        X, [("center", center), ("scale", scale)], out, "center_scale_chunk")
    if X.size:
        _moments.center_divide(X, center, scale, out, n_threads)
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
    out : ndarray of shape (n, d), default=None
        Where to write; X itself for in place.
    n_threads : int, default=1

    Returns
    -------
    out : ndarray of shape (n, d), X's dtype
    """
    from fastml._kernels import _moments

    n_threads = check_positive_int(n_threads, "n_threads")
    X, (factor, offset), out = _apply_args(
        X, [("factor", factor), ("offset", offset)], out, "affine_chunk")
    low, high = (-np.inf, np.inf) if clip is None else (float(clip[0]), float(clip[1]))
    if X.size:
        _moments.multiply_add(X, factor, offset, clip is not None, low, high, out, n_threads)
    return out


QUANTILE_METHODS = ("inverted_cdf", "averaged_inverted_cdf", "closest_observation",
                    "interpolated_inverted_cdf", "hazen", "weibull", "linear",
                    "median_unbiased", "normal_unbiased")


def _map_columns(func, d, n_threads):
    """func(j) for every column j, on n_threads threads (NumPy's sort
    releases the GIL)."""
    if n_threads == 1 or d < 2:
        for j in range(d):
            func(j)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(n_threads, d)) as pool:
        list(pool.map(func, range(d)))


def quantiles_chunk(X, quantiles, *, method="linear", n_threads=1):
    """Exact per-column quantiles, NaN skipped, by selection.

    The same numbers as ``np.nanquantile(X, quantiles, axis=0,
    method=method)`` (and so as scikit-learn's ``np.nanpercentile`` /
    ``np.percentile`` calls), bit for bit: float32 columns interpolate as
    NumPy does for float32.  Columns are not sorted (``_select``): each
    column's range is cut into equal buckets, one pass counts them, and
    only the buckets holding the wanted order statistics are copied out and
    searched again; a column sorts (NumPy's vectorised sort) only when it is
    small or its wanted buckets hold over a quarter of its values (heavy
    ties or heavy tails).  Columns run on ``n_threads`` threads.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    quantiles : array-like of shape (q,)
        In [0, 1].
    method : str, default="linear"
        One of NumPy's nine quantile definitions (``QUANTILE_METHODS``).
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (q, d), float64
        NaN for a column without values.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import quantiles_chunk
    >>> quantiles_chunk(np.array([[1.0, 5.0], [2.0, np.nan], [4.0, 7.0]]), [0.5, 1.0])
    array([[2., 6.],
           [4., 7.]])
    """
    from fastml._kernels import _binning

    n_threads = check_positive_int(n_threads, "n_threads")
    X = _as_block(X, "X")
    q = _check_levels(quantiles, method)
    out = np.full((q.shape[0], X.shape[1]), np.nan)

    columns = _transposed(X)

    def column(j):
        low, high, n = _binning.value_range(columns[j])
        if n:
            out[:, j] = _interpolated(n, q, method,
                                      partial(_select, columns[j], (low, high, n)), X.dtype)

    _map_columns(column, X.shape[1], n_threads)
    return out


def _transposed(X, rows=8192):
    """X.T as a C-contiguous (d, n) array: a view of Fortran-ordered X, else
    copied block by block of rows (faster than a column at a time)."""
    if X.T.flags.c_contiguous:
        return X.T
    out = np.empty((X.shape[1], X.shape[0]), dtype=X.dtype)
    for start in range(0, X.shape[0], rows):
        out[:, start:start + rows] = X[start:start + rows].T
    return out


SELECT_BUCKETS = 1 << 16     # equal-width buckets of a window
SELECT_SORT_BELOW = 1 << 14  # inputs this small are just sorted
SELECT_SAMPLE = 4096         # values sampled to place the window


def _select(values, value_range, positions, depth=0):
    """The values at ``positions`` (int array) of the sorted non-NaN
    ``values`` (a 1-D contiguous array), whose (low, high, count) is
    ``value_range``: a float64 array.

    Positions 0 and count - 1 are low and high.  For the others, a sorted
    strided sample places a window that holds them with high probability
    (the sample positions widened by three binomial standard deviations),
    ``SELECT_BUCKETS`` equal-width buckets of it are counted, and the
    buckets holding the positions are copied out and searched again the
    same way.  The window only decides the speed: a position outside it
    falls in an overflow bucket, which is copied like any other.  Small
    or constant inputs are sorted, and so are inputs whose wanted buckets
    hold over a quarter of the values (heavy ties): the counting pass is
    then the only extra cost."""
    from fastml._kernels import _binning

    low, high, n = value_range
    result = np.where(positions == 0, low, high).astype(np.float64)
    inner = (positions > 0) & (positions < n - 1)
    if not inner.any() or low == high:
        return result
    if n <= SELECT_SORT_BELOW or depth == 4:
        result[inner] = np.sort(values)[positions[inner]]   # NaN sorts last
        return result
    positions = positions[inner]
    sample = np.sort(values[::max(1, n // SELECT_SAMPLE)])
    m = int(np.searchsorted(sample, np.nan))                # NaN sorts last

    def sample_value(fraction, side):
        spread = 3 * np.sqrt(fraction * (1 - fraction) * m) + 2
        k = int(np.clip(np.round(fraction * (m - 1) + side * spread), 0, m - 1))
        return sample[k] if 0 < k < m - 1 else (low if side < 0 else high)

    window_low = sample_value(positions.min() / (n - 1), -1)
    window_high = sample_value(positions.max() / (n - 1), +1)
    scale = SELECT_BUCKETS / (window_high - window_low) if window_high > window_low else 0.0
    if not (np.isfinite(scale) and scale > 0):
        window_low, window_high, scale = low, high, SELECT_BUCKETS / (high - low)
        if not (np.isfinite(scale) and scale > 0):          # a range beyond float64
            result[inner] = np.sort(values)[positions]
            return result
    counts = np.zeros(SELECT_BUCKETS + 2, dtype=np.intp)
    _binning.bucket_counts(values, window_low, scale, counts)
    ends = np.cumsum(counts)                                # values in buckets <= b
    buckets = np.searchsorted(ends, positions, side="right")
    wanted = np.zeros(counts.shape, dtype=np.uint8)
    wanted[buckets] = 1
    kept_counts = np.where(wanted, counts, 0)
    n_kept = int(kept_counts.sum())
    if n_kept > n // 4:  # copying most values costs more than sorting them
        result[inner] = np.sort(values)[positions]
        return result
    kept = np.empty(n_kept, dtype=values.dtype)
    _binning.bucket_collect(values, window_low, scale, wanted, kept)
    # where each bucket starts among the kept values, and among all of them
    within = positions - (ends - counts)[buckets] + (np.cumsum(kept_counts) - kept_counts)[buckets]
    result[inner] = _select(kept, (float(kept.min()), float(kept.max()), n_kept), within,
                            depth + 1)
    return result


def _check_levels(quantiles, method):
    q = np.asarray(quantiles, dtype=np.float64).ravel()
    if not np.all((q >= 0) & (q <= 1)):
        raise ValueError(f"quantiles must lie in [0, 1], got {q}.")
    if method not in QUANTILE_METHODS:
        raise ValueError(f"method must be one of {QUANTILE_METHODS}, got {method!r}.")
    return q


def _interpolated(n, q, method, values_at, dtype):
    """NumPy's quantiles ``q`` (definition ``method``) of ``n`` sorted
    values of ``dtype``, given ``values_at(positions)``: the same
    positions, weights and interpolation, so the same bits.  float64."""
    below, above, weight = _interpolation(n, q, method)
    if weight is None:
        return np.asarray(values_at(below)).astype(dtype)
    both = np.asarray(values_at(np.concatenate((below, above)))).astype(dtype)
    low, high = both[:below.size], both[below.size:]
    step = high - low  # NumPy's lerp, exact at both ends
    result = low + step * weight
    np.subtract(high, step * (1 - weight), out=result, where=weight >= 0.5)
    return result

# ------------------------------------------------------------ quantile summaries

SUMMARY_SIZE = 4096

_HF_CONSTANTS = {  # (alpha, beta) of Hyndman & Fan's continuous definitions
    "interpolated_inverted_cdf": (0.0, 1.0),
    "hazen": (0.5, 0.5),
    "weibull": (0.0, 0.0),
    "median_unbiased": (1 / 3.0, 1 / 3.0),
    "normal_unbiased": (3 / 8.0, 3 / 8.0),
}


class QuantileSummary(NamedTuple):
    """A mergeable summary of each column's values (NaN skipped).

    The entries of column ``j`` are ``values[offsets[j]:offsets[j + 1]]``:
    distinct data values in ascending order, each with bounds on its ranks
    among the column's ``n[j]`` values: at least ``rmin`` values are smaller,
    at most ``rmax`` values are smaller or equal, and at least ``count`` are
    equal to it.  A summary of a chunk (``quantile_summary_chunk``) has exact
    ranks; ``combine_quantile_summaries`` adds the bounds of its two inputs.
    ``rank_error()`` is the error bound this gives (see there).
    """

    values: np.ndarray   # (m,) float64
    rmin: np.ndarray     # (m,) int64
    rmax: np.ndarray     # (m,) int64
    count: np.ndarray    # (m,) int64
    offsets: np.ndarray  # (d + 1,) int64
    n: np.ndarray        # (d,) int64, non-NaN values per column
    n_rows: int          # rows summarised, NaN included

    def column(self, j):
        """``(values, rmin, rmax, count)`` of column ``j``."""
        part = slice(self.offsets[j], self.offsets[j + 1])
        return self.values[part], self.rmin[part], self.rmax[part], self.count[part]

    def extremes(self):
        """``(low, high)``: each column's smallest and largest value, exact
        (NaN for a column without values)."""
        low, high = np.full(len(self.n), np.nan), np.full(len(self.n), np.nan)
        filled = self.offsets[1:] > self.offsets[:-1]
        low[filled] = self.values[self.offsets[:-1][filled]]
        high[filled] = self.values[self.offsets[1:][filled] - 1]
        return low, high

    def rank_error(self):
        """(d,) int64: for every position ``t`` of a column's sorted values
        (0-based, ``0 <= t <= n - 1``), the value returned for ``t`` by
        ``summary_quantiles`` is the value at some position within this
        distance of ``t``; 0 means the summary is exact.

        Where the bounds come from: an entry's value lies somewhere in
        positions ``rmin .. rmax - 1``, on at least ``count`` of them, so the
        nearest entry to ``t`` is off by at most half the gap between the
        positions two consecutive entries surely reach (rounded down, as
        positions are integers), or by the distance from an end.  A chunk
        summary of ``size`` entries is off by at most
        ``ceil((n - 1) / (size - 1)) // 2`` (consecutive kept order
        statistics are that far apart); combining two summaries adds their
        gaps, so ``combine(a, b).rank_error() <= a.rank_error() +
        b.rank_error()``, and any tree of chunk summaries keeps the relative
        error of its chunks, about ``1 / (2 (size - 1))`` of the values.
        This is the merge argument of Greenwald and Khanna's summaries
        ("Space-efficient online computation of quantile summaries", 2001).
        """
        error = np.zeros(len(self.n), dtype=np.int64)
        for j in range(len(self.n)):
            _, rmin, rmax, count = self.column(j)
            if rmin.size == 0:
                continue
            first, last = _sure_positions(rmin, rmax, count)
            gaps = np.concatenate((first[1:] - last[:-1], first - last)) // 2
            error[j] = max(gaps.max(), first[0], self.n[j] - 1 - last[-1], 0)
        return error


def _sure_positions(rmin, rmax, count):
    """First and last positions (0-based) an entry surely holds when its
    bounds are tight; an entry with loose bounds has first > last."""
    return rmax - count, rmin + count - 1


def _summary(columns, n, n_rows):
    """Assemble a QuantileSummary from per-column (values, rmin, rmax, count)."""
    sizes = [len(c[0]) for c in columns]
    offsets = np.zeros(len(columns) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])

    def field(k, dtype):
        return np.concatenate([np.asarray(c[k], dtype=dtype) for c in columns] or
                              [np.empty(0, dtype)])

    return QuantileSummary(field(0, np.float64), field(1, np.int64), field(2, np.int64),
                           field(3, np.int64), offsets, np.asarray(n, dtype=np.int64),
                           int(n_rows))


def quantile_summary_chunk(X, size=SUMMARY_SIZE, *, n_threads=1):
    """Summary of each column of a chunk for approximate quantiles.

    Each column is sorted once and ``size`` order statistics, evenly spaced
    in rank, are kept with their exact ranks (all distinct values when the
    column has at most ``size`` of them, so the summary is then exact).
    Summaries of chunks combine (``combine_quantile_summaries``) into one for
    the whole array, whose queries (``summary_quantiles``) are off by at most
    ``rank_error()`` positions, about ``n / (2 (size - 1))``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        NaN is skipped.
    size : int, default=SUMMARY_SIZE
        Entries kept per column, at least 2.
    n_threads : int, default=1

    Returns
    -------
    QuantileSummary
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}.")
    X = _as_block(X, "X")
    columns = [None] * X.shape[1]
    n = np.zeros(X.shape[1], dtype=np.int64)

    def column(j):
        values = np.sort(X[:, j])  # NaN sorts last
        m = int(np.searchsorted(values, np.nan))
        values = values[:m]
        kept = values[np.round(np.linspace(0, m - 1, min(size, m))).astype(np.intp)]
        kept = np.unique(kept)
        rmin = np.searchsorted(values, kept, "left")
        rmax = np.searchsorted(values, kept, "right")
        columns[j] = (kept, rmin, rmax, rmax - rmin)
        n[j] = m

    _map_columns(column, X.shape[1], n_threads)
    return _summary(columns, n, X.shape[0])


def combine_quantile_summaries(a, b, *more):
    """The summary of the union of the data of two (or more) summaries.

    Keeps every entry of each, with their rank bounds added, so the result
    is the same for any order and grouping of combines (associative and
    commutative; combining several at once gives the same result as
    combining them in pairs, faster) and its ``rank_error()`` is at most
    the sum of theirs.  Its size is at most the sum too:
    ``compress_quantile_summary`` bounds it.

    Parameters
    ----------
    a, b, *more : QuantileSummary
        Of the same number of columns.

    Returns
    -------
    QuantileSummary
    """
    from fastml._kernels import _binning

    summaries = (a, b, *more)
    for s in summaries[1:]:
        if len(s.n) != len(a.n):
            raise ValueError(f"Cannot combine summaries of {len(a.n)} and {len(s.n)} columns.")
    columns = []
    for j in range(len(a.n)):
        entries = [s.column(j) for s in summaries]
        values = np.concatenate([e[0] for e in entries])
        values.sort(kind="stable")  # ascending runs: a merge
        points = values[np.concatenate(([True], values[1:] != values[:-1]))[:values.size]]
        totals = [np.zeros(points.size, dtype=np.int64) for _ in range(3)]
        for s, e in zip(summaries, entries):
            _binning.add_rank_bounds(*e, int(s.n[j]), points, *totals)
        columns.append((points, *totals))
    return _summary(columns, sum(s.n for s in summaries), sum(s.n_rows for s in summaries))


def _entries_for(rmin, rmax, count, positions):
    """Index of the entry that best answers each position: the smallest
    worst-case distance to the positions its value may hold."""
    first, last = _sure_positions(rmin, rmax, count)
    positions = np.asarray(positions, dtype=np.float64)
    # worst distance max(t - last, first - t) falls along the entries then rises
    i = np.searchsorted(first + last, 2 * positions).clip(1, max(rmin.size - 1, 1))
    i = np.minimum(i, rmin.size - 1)
    j = np.maximum(i - 1, 0)

    def worst(k):
        return np.maximum(positions - last[k], first[k] - positions)

    return np.where(worst(j) <= worst(i), j, i)


def compress_quantile_summary(summary, size=SUMMARY_SIZE):
    """Keep at most ``size`` entries per column: the answers for ``size``
    evenly spaced positions (the smallest and largest values included).

    Kept entries keep their bounds, so ``rank_error()`` stays a true bound;
    it grows by at most ``(n - 1) / (2 (size - 1)) + 1`` positions.

    Parameters
    ----------
    summary : QuantileSummary
    size : int, default=SUMMARY_SIZE
        At least 2.

    Returns
    -------
    QuantileSummary
    """
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}.")
    columns = []
    for j in range(len(summary.n)):
        entries = summary.column(j)
        m = entries[0].size
        if m > size:
            targets = np.linspace(0, summary.n[j] - 1, size)
            keep = np.unique(np.concatenate(([0, m - 1], _entries_for(*entries[1:], targets))))
            entries = tuple(e[keep] for e in entries)
        columns.append(entries)
    return _summary(columns, summary.n, summary.n_rows)


def _interpolation(n, q, method):
    """NumPy's rule for quantile ``q`` of ``n`` sorted values: positions
    ``(below, above)`` and the weight of ``above``; weight None for the
    discrete definitions, which take the value at ``below``."""
    if method in ("inverted_cdf", "closest_observation"):
        index = n * q - 1 if method == "inverted_cdf" else n * q - 1 - 0.5
        below = np.floor(index)
        take_below = index - below == 0
        if method == "closest_observation":
            take_below &= below % 2 == 1
        position = np.where(take_below, below, below + 1).astype(np.intp)
        position = np.clip(position, 0, n - 1)
        return position, position, None
    if method == "linear":
        index = (n - 1) * q
    elif method == "averaged_inverted_cdf":
        index = n * q - 1
    else:
        alpha, beta = _HF_CONSTANTS[method]
        index = n * q + (alpha + q * (1 - alpha - beta)) - 1
    below = np.floor(index)
    weight = index - below
    if method == "averaged_inverted_cdf":
        weight = np.where(weight == 0, 0.5, 1.0)
    below = below.astype(np.intp)
    above = below + 1
    at_top = index >= n - 1
    below[at_top] = above[at_top] = n - 1
    at_bottom = index < 0
    below[at_bottom] = above[at_bottom] = 0
    return below, above, weight


def summary_quantiles(summary, quantiles, *, method="linear", dtype=np.float64):
    """Per-column quantiles from a summary.

    NumPy's definition ``method`` picks the positions and the interpolation
    weight; the summary gives each position's value, off by at most
    ``summary.rank_error()`` positions.  With an exact summary (every
    error 0) the result equals ``np.nanquantile(X, quantiles, axis=0,
    method=method)`` for X of dtype ``dtype``, bit for bit.

    Parameters
    ----------
    summary : QuantileSummary
    quantiles : array-like of shape (q,)
        In [0, 1].
    method : str, default="linear"
        One of ``QUANTILE_METHODS``.
    dtype : {np.float32, np.float64}, default=np.float64
        The data's dtype: interpolation is done as NumPy does for it.

    Returns
    -------
    ndarray of shape (q, d), float64
        NaN for a column without values.
    """
    q = _check_levels(quantiles, method)
    out = np.full((q.shape[0], len(summary.n)), np.nan)
    for j in range(len(summary.n)):
        if summary.n[j]:
            values, rmin, rmax, count = summary.column(j)
            out[:, j] = _interpolated(
                int(summary.n[j]), q, method,
                lambda positions: values[_entries_for(rmin, rmax, count, positions)], dtype)
    return out


def _check_edges(edges, d):
    """Concatenated float64 edges and (d + 1,) offsets of d ascending lists."""
    if len(edges) != d:
        raise ValueError(f"edges must hold one array per column of X ({d}), got {len(edges)}.")
    arrays = [np.asarray(e, dtype=np.float64).ravel() for e in edges]
    for j, e in enumerate(arrays):
        if np.isnan(e).any() or np.any(np.diff(e) < 0):
            raise ValueError(f"edges[{j}] must be ascending and free of NaN, got {e}.")
        if e.shape[0] > 65535:
            raise ValueError(
                f"edges[{j}] has {e.shape[0]} edges; at most 65535 (65536 bins) fit in uint16."
            )
    offsets = np.zeros(d + 1, dtype=np.intp)
    offsets[1:] = np.cumsum([e.shape[0] for e in arrays])
    flat = np.concatenate(arrays) if arrays else np.empty(0)
    return np.ascontiguousarray(flat), offsets


def bin_chunk(X, edges, *, missing_bin=None, dtype=None, n_threads=1):
    """Bin codes: for each value, the number of its column's edges <= it.

    The code of ``X[i, j]`` is ``np.searchsorted(edges[j], X[i, j],
    side="right")``: with the k inner edges of k + 1 bins, bins are
    ``[-inf, e0), [e0, e1), ..., [e_{k-1}, inf]`` numbered 0 ... k.  One
    pass, parallel over rows, one branch-free binary search per value.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    edges : sequence of d 1-D arrays
        Each ascending, at most 65535 edges.
    missing_bin : int or array-like of shape (d,), default=None
        The code of NaN; None gives NaN the top bin (``len(edges[j])``),
        as ``np.searchsorted`` does.
    dtype : dtype, default=None
        uint8 when every column has at most 256 bins (and ``missing_bin``
        fits), else uint16.  float32 / float64 give the codes as floats.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n, d), ``dtype``

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import bin_chunk
    >>> bin_chunk(np.array([[0.5, -1.0], [2.0, np.nan]]), [[1.0, 2.0], [0.0]], missing_bin=9)
    array([[0, 0],
           [2, 9]], dtype=uint8)
    """
    from fastml._kernels import _binning

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(_as_block(X, "X"))
    flat, offsets = _check_edges(edges, X.shape[1])
    n_edges = np.diff(offsets)
    if missing_bin is None:
        nan_code = n_edges.astype(np.float64)
    else:
        nan_code = np.broadcast_to(np.asarray(missing_bin, dtype=np.float64),
                                   (X.shape[1],)).copy()
        if not np.all((nan_code >= 0) & (nan_code == np.round(nan_code))):
            raise ValueError(f"missing_bin must be non-negative integers, got {missing_bin!r}.")
    top = max(int(n_edges.max(initial=0)), int(nan_code.max(initial=0)))
    if dtype is None:
        dtype = np.uint8 if top <= 255 else np.uint16
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ValueError(f"dtype must be uint8, uint16, float32 or float64, got {dtype}.")
    if dtype.kind == "u" and top > np.iinfo(dtype).max:
        raise ValueError(f"codes up to {top} do not fit in {dtype}; use uint16.")
    out = np.empty(X.shape, dtype=dtype)
    if X.size:
        _binning.bin_codes(X, flat, offsets, nan_code, out, n_threads)
    return out


def quantile_transform_chunk(X, quantiles, references, *, output_distribution="uniform",
                             inverse=False, out=None, n_threads=1):
    """Map values to their quantile levels (or back), column by column.

    The transform of scikit-learn's ``QuantileTransformer`` in one pass:
    each value is interpolated in its column's ``quantiles`` onto
    ``references`` (from below and from above, averaged, so tied quantiles
    map to the middle of their levels); ``output_distribution="normal"``
    then applies the standard normal quantile function (SciPy's ``ndtri``),
    clipped at levels 1e-7 from 0 and 1.  ``inverse=True`` goes back.
    float32 stays float32; NaN stays NaN.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    quantiles : ndarray of shape (m, d)
        Each column ascending (``QuantileTransformer.quantiles_``); a column
        of NaN (a feature fitted without values) maps everything to NaN.
    references : ndarray of shape (m,)
        Ascending levels in [0, 1] (``QuantileTransformer.references_``).
    output_distribution : {"uniform", "normal"}, default="uniform"
    inverse : bool, default=False
    out : ndarray of shape (n, d), default=None
        Where to write; X itself (C-contiguous, writeable) for in place.
    n_threads : int, default=1

    Returns
    -------
    out : ndarray of shape (n, d), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import quantile_transform_chunk
    >>> q = np.array([[0.0], [10.0], [20.0]])
    >>> quantile_transform_chunk(np.array([[5.0], [20.0]]), q, [0.0, 0.5, 1.0])
    array([[0.25],
           [1.  ]])
    """
    from fastml._kernels import _binning

    n_threads = check_positive_int(n_threads, "n_threads")
    if output_distribution not in ("uniform", "normal"):
        raise ValueError("output_distribution must be 'uniform' or 'normal', "
                         f"got {output_distribution!r}.")
    X, _, out = _apply_args(X, [], out, "quantile_transform_chunk")
    quantiles = np.asarray(quantiles, dtype=np.float64)
    references = np.ascontiguousarray(references, dtype=np.float64)
    m = references.shape[0]
    if references.ndim != 1 or m == 0 or quantiles.shape != (m, X.shape[1]):
        raise ValueError(
            f"quantiles must have shape (m, {X.shape[1]}) and references shape (m,) with "
            f"m >= 1, got {quantiles.shape} and {references.shape}."
        )
    missing = np.isnan(quantiles)
    if np.any(missing.any(axis=0) & ~missing.all(axis=0)) or np.any(
            np.diff(quantiles, axis=0) < 0):
        raise ValueError("quantiles must be ascending down each column, and free of NaN "
                         "except in columns that are all NaN (those map to NaN).")
    table = np.ascontiguousarray(quantiles.T)
    bound = 1e-7  # scikit-learn's BOUNDS_THRESHOLD
    clip = (0.0, 0.0)
    if output_distribution == "normal":
        from scipy.special import ndtri

        clip = (float(ndtri(bound - np.spacing(1))), float(ndtri(1 - (bound - np.spacing(1)))))
    if X.size:
        _binning.quantile_map(X, table, np.ascontiguousarray(-table[:, ::-1]), references,
                              np.ascontiguousarray(-references[::-1]), bool(inverse),
                              output_distribution == "normal", bound, clip[0], clip[1],
                              out, n_threads)
    return out


def _degree_range(degree):
    """(min_degree, max_degree) of a polynomial ``degree``: an int d >= 0
    means (0, d); a pair must satisfy 0 <= min_degree <= max_degree."""
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if is_int(degree):
        if degree < 0:
            raise ValueError(f"degree must be a non-negative int, got {degree}.")
        return 0, int(degree)
    if isinstance(degree, (tuple, list)) and len(degree) == 2 and all(map(is_int, degree)):
        low, high = int(degree[0]), int(degree[1])
        if not 0 <= low <= high:
            raise ValueError(
                "degree=(min_degree, max_degree) must be non-negative integers that "
                f"fulfil min_degree <= max_degree, got {degree}."
            )
        return low, high
    raise ValueError(f"degree must be a non-negative int or tuple (min_degree, max_degree), "
                     f"got {degree!r}.")


def _polynomial_plan(n_features, min_degree, max_degree, interaction_only, include_bias):
    """How each output column of polynomial features is built.

    Returns (parent, feature, keep): column c of the full expansion is
    ``column[parent[c]] * X[:, feature[c]]`` (parent -1: ``X[:, feature[c]]``;
    -2: the constant 1), in scikit-learn's column order: bias, degree 1,
    then for each degree the terms grouped by their first feature, each
    the previous degree's terms from that feature on times it.  ``keep``
    lists the columns of degree >= min_degree (and the bias).
    """
    parent, feature = [], []
    if include_bias:
        parent.append(-2)
        feature.append(0)
    first = len(parent)
    if max_degree >= 1:
        parent += [-1] * n_features
        feature += list(range(n_features))
    index = list(range(first, first + n_features)) + [first + n_features]
    for _ in range(2, max_degree + 1):
        new_index, end = [], index[-1]
        for j in range(n_features):
            start = index[j] + (index[j + 1] - index[j] if interaction_only else 0)
            new_index.append(len(parent))
            if end <= start:
                break
            parent += range(start, end)
            feature += [j] * (end - start)
        new_index.append(len(parent))
        index = new_index
    n_full = len(parent)
    if min_degree <= 1:
        keep = list(range(n_full))
    else:
        # drop the terms of degree 1 ... min_degree - 1, keep the bias
        n_low = first + _n_terms(n_features, 1, min_degree - 1, interaction_only)
        keep = list(range(first)) + list(range(n_low, n_full))
    as_index = lambda v: np.asarray(v, dtype=np.intp)  # noqa: E731
    return as_index(parent), as_index(feature), as_index(keep)


def _n_terms(n_features, low, high, interaction_only):
    """The number of monomials of degree low ... high in n_features variables."""
    from math import comb

    if interaction_only:
        return sum(comb(n_features, k) for k in range(low, min(high, n_features) + 1))
    return sum(comb(n_features + k - 1, k) for k in range(low, high + 1))


def polynomial_features_chunk(X, degree=2, *, interaction_only=False, include_bias=True,
                              n_threads=1):
    """All monomials of the features up to ``degree``, in one pass.

    scikit-learn's ``PolynomialFeatures`` output, bit for bit: the same
    columns in the same order (bias, degree 1, then each degree's terms
    grouped by their first feature), each computed in X's dtype as the
    product of a lower-degree term and one feature, as scikit-learn
    multiplies.  Each row's terms are built in a small per-thread buffer,
    so the output is written once.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    degree : int or (min_degree, max_degree), default=2
    interaction_only : bool, default=False
        Only products of distinct features.
    include_bias : bool, default=True
        A first column of ones.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n, n_output), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import polynomial_features_chunk
    >>> polynomial_features_chunk(np.array([[2.0, 3.0]]))
    array([[1., 2., 3., 4., 6., 9.]])
    """
    from fastml._kernels import _features

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(_as_block(X, "X"))
    low, high = _degree_range(degree)
    parent, feature, keep = _polynomial_plan(X.shape[1], low, high, interaction_only,
                                             include_bias)
    out = np.empty((X.shape[0], keep.shape[0]), dtype=X.dtype)
    if out.size:
        scratch = np.empty((n_threads, parent.shape[0]), dtype=X.dtype)
        _features.polynomial_rows(X, parent, feature, keep, scratch, out, n_threads)
    return out


def fourier_features_chunk(X, weights, offset, *, n_threads=1):
    """Random Fourier features ``sqrt(2 / m) * cos(X @ weights + offset)``.

    The projection is one BLAS product in X's dtype (on BLAS's own
    threads), written into the output; one compiled pass then adds the
    offset, takes a vectorised cosine and scales, in place, rows over
    ``n_threads`` threads.  NumPy's ``np.cos``, most of scikit-learn's time,
    is not used.  Everything runs in X's dtype, as in scikit-learn: float64
    within 2 ulp of libm's cosine, float32 within one float32 ulp of 1
    (absolute) of the exact cosine of the float32 argument.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (d, m)
        ``RBFSampler.random_weights_``.
    offset : ndarray of shape (m,)
        ``RBFSampler.random_offset_``.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n, m), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import fourier_features_chunk
    >>> Z = fourier_features_chunk(np.array([[0.0], [np.pi]]), np.ones((1, 2)), [0.0, np.pi])
    >>> Z  # sqrt(2 / 2) * cos([[0, pi], [pi, 2 pi]])
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    from fastml._kernels import _features

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(_as_block(X, "X"))
    weights = np.asarray(weights)
    offset = np.ascontiguousarray(offset, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != X.shape[1] or offset.shape != (weights.shape[1],):
        raise ValueError(
            f"weights must have shape ({X.shape[1]}, m) and offset shape (m,), got "
            f"{weights.shape} and {offset.shape}."
        )
    m = weights.shape[1]
    out = np.empty((X.shape[0], m), dtype=X.dtype)
    if out.size:
        # BLAS's own threads: limiting them would change a setting of the whole
        # process while other threads (Dask's) may be calling BLAS too
        np.matmul(X, weights.astype(X.dtype, copy=False), out=out)
        _features.cos_rows(out, offset.astype(X.dtype), float(np.sqrt(2.0 / m)),
                           np.empty((n_threads, m), dtype=X.dtype), n_threads)
    return out


# ------------------------------------------------------------ gradient boosting

N_BINS = 256  # uint8 bin codes: up to 255 value bins and a missing-value bin


# Steps below the largest value the packed fast path must leave, at least.
# 2**20 keeps it up to about 2M rows of equal-sized gradients (a sum then
# errs by ~2**-23 relative, like float32 sums); more rows sum unpacked.
FIXED_POINT_LEVELS = 2**20


def fixed_point_scale(max_abs, n_rows, *, abs_sum=None):
    """The power of two ``s`` for fixed-point gradients or hessians.

    Values up to ``max_abs`` become the int64 integers ``round(v / s)``
    (``to_fixed_point``), and any sum of them stays below ``2**62``, so
    histogram sums are exact integers: the same for any thread count, row
    order or split into chunks, and subtraction (sibling = parent - child)
    is exact.  Sums are bounded by ``abs_sum`` (the sum of the absolute
    values) if given, else by ``max_abs * n_rows``.  When that leaves
    ``FIXED_POINT_LEVELS`` steps below ``max_abs`` or more, the scale also
    keeps the bit length of ``n_rows`` free, so that the histogram kernel
    can pack the row count beside the sums (its fast path); otherwise the
    full range goes to precision and the kernel sums unpacked.  Use one
    scale for every chunk of the same gradients.

    Parameters
    ----------
    max_abs : float
        The largest absolute value, finite.
    n_rows : int
        The most rows a sum will add.
    abs_sum : float, default=None
        The sum of the absolute values (a tighter bound than
        ``max_abs * n_rows`` when a few values are large).

    Returns
    -------
    float
    """
    if not np.isfinite(max_abs) or max_abs < 0:
        raise ValueError(f"max_abs must be finite and non-negative, got {max_abs!r}.")
    n_rows = max(int(n_rows), 1)
    if max_abs == 0:
        return 1.0
    bound = max_abs * n_rows if abs_sum is None else max(float(abs_sum), max_abs)
    if not np.isfinite(bound):
        raise ValueError(f"abs_sum must be finite, got {abs_sum!r}.")
    top = np.ceil(np.log2(bound * (1 + 2.0**-40)))  # sums < 2**top, rounding included
    packed = float(2.0 ** (top - 62 + n_rows.bit_length()))
    if max_abs / packed >= FIXED_POINT_LEVELS:
        return packed
    return float(2.0 ** (top - 62))


def _abs_max_sum(values, *, n_threads=1):
    """The largest absolute value of ``values`` (any shape) and the sum of
    the absolute values (inf if it overflows float64), in one pass;
    ValueError for NaN or inf."""
    from fastml._kernels import _gbdt

    values = np.asarray(values)
    values = np.ascontiguousarray(values, dtype=np.float32 if values.dtype == np.float32
                                  else np.float64).reshape(-1)
    largest, total = _gbdt.abs_max_sum(values, n_threads)
    if np.isnan(total) or not np.isfinite(largest):  # NaN leaves the max, not the sum
        raise ValueError("Gradients and hessians must be finite.")
    return largest, total


def to_fixed_point(values, scale, *, n_threads=1, check_input=True):
    """``round(values / scale)`` as int64 (see ``fixed_point_scale``).

    Parameters
    ----------
    values : array-like of shape (n,)
        Finite.
    scale : float
        A power of two from ``fixed_point_scale``.
    n_threads : int, default=1
        For float32 values, the conversion runs on this many threads.
    check_input : bool, default=True
        False skips the check that the values are finite and fit the scale,
        for callers that took the scale from these values' largest and
        summed magnitudes (``fixed_point_scale``).

    Returns
    -------
    ndarray of shape (n,), int64
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}.")
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    if check_input:
        largest, _ = _abs_max_sum(values, n_threads=n_threads)
        if np.rint(largest / scale) >= 2.0 ** 62:
            raise ValueError(f"Values up to {largest} do not fit the fixed-point scale "
                             f"{scale}; take the scale from fixed_point_scale.")
    values = np.asarray(values)
    if values.dtype == np.float32 and float(np.log2(scale)).is_integer():
        out = np.empty(values.shape, dtype=np.int64)
        _gbdt.to_fixed(np.ascontiguousarray(values), float(scale), out, n_threads)
        return out
    return np.rint(values / scale).astype(np.int64)


def _check_binned(binned):
    binned = np.asarray(binned)
    if binned.dtype != np.uint8 or binned.ndim != 2:
        raise ValueError(f"binned must be a 2-D uint8 array of bin codes, got {binned.dtype} "
                         f"with shape {binned.shape}.")
    return binned


def _check_rows(samples, n, name="samples"):
    """Row indices as contiguous uint32, each below n (checked before the
    cast, so no index wraps around)."""
    samples = np.asarray(samples)
    if samples.dtype.kind not in "iu" or (samples.size and int(samples.min()) < 0):
        raise ValueError(f"{name} must be non-negative integer row indices.")
    if samples.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of row indices.")
    if samples.size and int(samples.max()) >= n:
        raise ValueError(f"{name} holds row {int(samples.max())}, but there are {n} rows.")
    return np.ascontiguousarray(samples, dtype=np.uint32)


def _check_fixed(values, n, name):
    values = np.asarray(values)
    if values.dtype != np.int64 or values.shape != (n,):
        raise ValueError(f"{name} must be int64 fixed-point values of shape ({n},) "
                         f"(see to_fixed_point), got {values.dtype} {values.shape}.")
    return np.ascontiguousarray(values)


SMALL_HISTOGRAM = 1 << 14  # (rows x features) below this are summed on one thread
PART_ROWS = 512  # rows per thread, at least, for a thread's own histograms to pay off
REPEAT_SAMPLE = 4096  # rows sampled to find the features whose codes repeat


def _repeating_features(binned):
    """(d,) bool: the features whose codes repeat from row to row, judged
    on up to REPEAT_SAMPLE evenly spaced rows: two rows share a bin with
    probability above 1/32 (fewer than about 32 equally common values, or
    one dominant value).  The histogram kernel sums them feature by feature:
    row by row, each update would wait for the store of the row before."""
    n, d = binned.shape
    if n == 0 or d == 0:
        return np.zeros(d, dtype=bool)
    sample = binned[np.linspace(0, n - 1, min(n, REPEAT_SAMPLE)).astype(np.intp)]
    counts = np.bincount((sample + np.arange(d) * N_BINS).ravel(),
                         minlength=d * N_BINS).reshape(d, N_BINS)
    shares = counts / sample.shape[0]
    return (shares * shares).sum(axis=1) > 1 / 32


def _check_histogram_inputs(binned, gradients, hessians, n_threads):
    """The checked arguments shared by the histogram kernels."""
    binned = _check_binned(binned)
    gradients = _check_fixed(gradients, binned.shape[0], "gradients")
    if hessians is not None:
        hessians = _check_fixed(hessians, binned.shape[0], "hessians")
    return binned, gradients, hessians, check_positive_int(n_threads, "n_threads")


class GradientHistograms:
    """Histograms of a chunk's rows, node after node, for one set of
    fixed-point gradients: ``GradientHistograms(binned, g, h)(rows)`` is
    ``gradient_histograms_chunk(binned, g, h, samples=rows)``.

    Every row's gradient, hessian and a row count are packed once, when it
    is made (the kernel's fast path, see ``fixed_point_scale``), so each
    call reads one packed entry per row; a tree grower makes one per tree.
    The gradients and hessians must not change while it is in use.  Each
    call's rows must be distinct (a tree node's); for a sample with
    repeated rows, use ``gradient_histograms_chunk``.

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
        Bin codes (``bin_chunk``); C order avoids a copy.
    gradients : ndarray of shape (n,), int64
        Fixed-point gradients (``to_fixed_point``).
    hessians : ndarray of shape (n,), int64, default=None
        Fixed-point hessians; None for a constant hessian (the row counts
        stand in).
    by_column : ndarray of shape (d,), bool, default=None
        Features to sum feature by feature over blocks of rows rather than
        row by row: those whose codes repeat from row to row, where the
        row-by-row kernel stalls (about 10x slower for two-valued
        features).  None: found on a sample of rows.  Only speed depends
        on it.
    n_threads : int, default=1
        Threads for each call: they take ranges of the node's rows.
    check_input : bool, default=True
        False skips the checks, for callers that pass C-contiguous uint8
        binned and contiguous int64 gradients (and hessians), checked once
        already.
    """

    def __init__(self, binned, gradients, hessians=None, *, by_column=None, n_threads=1,
                 check_input=True):
        from fastml._kernels import _gbdt

        if check_input:
            binned, gradients, hessians, n_threads = _check_histogram_inputs(
                binned, gradients, hessians, n_threads)
        self.binned = np.ascontiguousarray(binned)
        self.n_threads = n_threads
        n, d = self.binned.shape
        by_column = (_repeating_features(self.binned) if by_column is None
                     else np.asarray(by_column, dtype=bool))
        if by_column.shape != (d,):
            raise ValueError(f"by_column must have shape ({d},), got {by_column.shape}.")
        self._row_features = np.flatnonzero(~by_column).astype(np.int32)
        self._column_features = np.flatnonzero(by_column).astype(np.int32)
        self._gradients = gradients
        self._hessians = np.empty(0, dtype=np.int64) if hessians is None else hessians
        self._width = 1 if hessians is None else 2
        self._count_bits = max(1, n.bit_length())
        self._values = np.empty(n * self._width, dtype=np.uint64)
        total = _gbdt.pack_rows(gradients, self._hessians, self._count_bits, self._values,
                                n_threads if n >= SMALL_HISTOGRAM else 1)
        if total >= 2.0 ** (62 - self._count_bits) - n:  # margin for the rounding of the total
            self._values = None  # a packed sum could overflow: sum unpacked
        # per-thread histograms, zeroed, reused from call to call (by one call
        # at a time): the kernels clear them as they read them out
        self._scratch = np.zeros((0, 0), dtype=np.uint64)
        self._scratch_lock = threading.Lock()

    def __call__(self, samples=None, *, out=None, check_input=True):
        """The histograms of rows ``samples`` (all rows if None).

        Parameters
        ----------
        samples : ndarray of shape (m,), default=None
            The rows to sum (a tree node's); None for every row.
        out : ndarray of shape (d, N_BINS, 3), int64, default=None
            C-contiguous array to write them to (a grower recycles the
            histograms of split nodes: fresh large arrays cost page faults).
        check_input : bool, default=True
            False skips the checks of ``samples`` (contiguous uint32
            distinct rows below n) and ``out``.

        Returns
        -------
        ndarray of shape (d, N_BINS, 3), int64
            ``[..., 0]`` gradient sums, ``[..., 1]`` hessian sums (0
            without hessians), ``[..., 2]`` row counts.
        """
        from fastml._kernels import _gbdt

        n, d = self.binned.shape
        if check_input:
            if samples is not None:
                samples = _check_rows(samples, n)
                if samples.size > 1 and np.unique(samples).size < samples.size:
                    raise ValueError("samples repeats rows; GradientHistograms sums distinct "
                                     "rows (a tree node's). Use gradient_histograms_chunk for "
                                     "a sample with repeated rows.")
            if out is not None and (out.dtype != np.int64 or out.shape != (d, N_BINS, 3)
                                    or not out.flags.c_contiguous):
                raise ValueError(f"out must be a C-contiguous int64 array of shape "
                                 f"({d}, {N_BINS}, 3).")
        hist = np.empty((d, N_BINS, 3), dtype=np.int64) if out is None else out
        m = n if samples is None else samples.size
        if not (d and m):
            hist[...] = 0
            return hist
        rows = np.empty(0, np.uint32) if samples is None else samples
        # Each thread zeroes, fills and adds its own (d, 256) histograms: worth
        # it for enough rows per feature and bin, and enough work overall.
        parts = (min(self.n_threads, max(1, m // PART_ROWS))
                 if m * d >= SMALL_HISTOGRAM else 1)
        words = d * N_BINS * (self._width if self._values is not None else 3)
        owned = self._scratch_lock.acquire(blocking=False)  # else another thread has it
        try:
            if owned and self._scratch.shape[0] >= parts:
                scratch = self._scratch[:parts]  # the kernels leave it zeroed
            else:
                scratch = np.zeros((parts, words), dtype=np.uint64)
                if owned:
                    self._scratch = scratch
            if self._values is not None:
                _gbdt.build_packed_histograms(self.binned, rows, self._values, self._width,
                                              self._count_bits, self._row_features,
                                              self._column_features, scratch, hist)
            else:
                _gbdt.build_wide_histograms(self.binned, rows, self._gradients,
                                            self._hessians, self._row_features,
                                            self._column_features,
                                            scratch.view(np.int64).reshape(parts, d, N_BINS, 3),
                                            hist)
        finally:
            if owned:
                self._scratch_lock.release()
        return hist


def gradient_histograms_chunk(binned, gradients, hessians=None, *, samples=None, n_threads=1,
                              check_input=True):
    """Per (feature, bin) sums of gradients, hessians and rows.

    The histograms gradient boosting scores splits on.  Sums are exact
    integers (fixed point, see ``fixed_point_scale``), so histograms of
    row chunks added together (``+``) equal the histogram of all the rows,
    and a sibling's histogram is its parent's minus its own.  For many
    nodes of the same gradients, ``GradientHistograms`` prepares the rows
    once.

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
        Bin codes (``bin_chunk``); C order avoids a copy.
    gradients : ndarray of shape (n,), int64
        Fixed-point gradients (``to_fixed_point``).
    hessians : ndarray of shape (n,), int64, default=None
        Fixed-point hessians; None for a constant hessian (the row counts
        stand in).
    samples : ndarray of shape (m,), default=None
        The rows to sum (a tree node's, or a sample with repeats); None for
        every row.
    n_threads : int, default=1
        Rows are split over threads.
    check_input : bool, default=True
        False skips the checks, for callers that pass C-contiguous uint8
        binned, contiguous int64 gradients (and hessians) and contiguous
        uint32 samples, checked once already.

    Returns
    -------
    ndarray of shape (d, N_BINS, 3), int64
        ``[..., 0]`` gradient sums, ``[..., 1]`` hessian sums (0 without
        hessians), ``[..., 2]`` row counts.
    """
    if check_input:
        binned, gradients, hessians, n_threads = _check_histogram_inputs(
            binned, gradients, hessians, n_threads)
        if samples is not None:
            samples = _check_rows(samples, binned.shape[0])
    if samples is not None:  # pack only these rows (repeats included) as a chunk
        binned, gradients = binned[samples], gradients[samples]
        hessians = None if hessians is None else hessians[samples]
    histograms = GradientHistograms(binned, gradients, hessians, n_threads=n_threads,
                                    check_input=False)
    return histograms(None)


class SplitCandidates(NamedTuple):
    """The best split of each feature of a node (``find_node_splits``)."""

    gain: np.ndarray          # (d,) float64, -inf where no split is allowed
    threshold: np.ndarray     # (d,) int64 last bin of the left child, -1 if none
    missing_left: np.ndarray  # (d,) bool, missing values go left
    left: np.ndarray          # (d, 3) int64 the left child's histogram sums
    left_set: np.ndarray      # (d, 4) uint64 bits of the bins going left (categorical)


CATEGORICAL_SMOOTHING = 10.0  # hessian added to a category's when ranking categories


def find_node_splits(hist, n_values, *, gradient_scale, hessian_scale=None,
                     missing_bin=N_BINS - 1, l2_regularization=0.0, min_samples_leaf=20,
                     min_hessian=1e-3, allowed=None, categorical=None, has_missing=None,
                     n_threads=1, check_input=True):
    """The best split of each feature of a node, from its histogram.

    A numerical split sends bins ``0 .. threshold`` left and the other
    value bins right; the missing-value bin goes to whichever side scores
    better.  Candidates are scanned as scikit-learn scans them (thresholds
    upwards with missing values right, then, for features with missing
    values, downwards with them left), and a candidate must beat the best
    so far strictly, so ties go the way scikit-learn's go.  A categorical feature's bins are its
    categories: those present in the node (the missing bin is one more) are
    ranked by gradient sum / (hessian sum + ``CATEGORICAL_SMOOTHING``), and
    the best prefix of the ranking goes left (``left_set``; ``threshold``
    is then the prefix length).  The gain is ``G_L^2 / (H_L + l2) + G_R^2 / (H_R + l2) -
    G^2 / (H + l2)`` (twice the loss reduction of a second-order step),
    with the sums converted from fixed point by the scales.  A candidate
    needs ``min_samples_leaf`` rows and a hessian sum of ``min_hessian``
    on each side.

    Parameters
    ----------
    hist : ndarray of shape (d, N_BINS, 3), int64
        From ``gradient_histograms_chunk`` (summed over chunks as needed).
    n_values : ndarray of shape (d,)
        Bins that hold values in each feature (codes 0 .. n_values - 1),
        at most ``missing_bin``.
    gradient_scale : float
        The fixed-point scale of the gradients.
    hessian_scale : float, default=None
        The fixed-point scale of the hessians; None when the histogram has
        none (a constant hessian): each row then counts as hessian 1.
    missing_bin : int, default=N_BINS - 1
    l2_regularization : float, default=0.0
    min_samples_leaf : int, default=20
    min_hessian : float, default=1e-3
    allowed : ndarray of shape (d,) of bool, default=None
        Features that may split (``max_features``); None for all.
    categorical : ndarray of shape (d,) of bool, default=None
        Categorical features (bin ``k`` = category ``k``); None for none.
    has_missing : ndarray of shape (d,) of bool, default=None
        Features with missing values in the training data: only they try
        sending missing values left, and splitting values from missing
        values.  None: those with rows in this node's missing bin.
    n_threads : int, default=1
    check_input : bool, default=True
        False skips the checks, for callers (the tree grower) that pass a
        C-contiguous hist, uint16 n_values and uint8 allowed, categorical
        and has_missing arrays, all checked once already.

    Returns
    -------
    SplitCandidates
    """
    if not check_input:
        return _find_splits(hist, n_values, allowed, categorical, has_missing,
                            missing_bin, gradient_scale, hessian_scale, l2_regularization,
                            min_samples_leaf, min_hessian, n_threads)
    n_threads = check_positive_int(n_threads, "n_threads")
    hist = np.asarray(hist)
    if hist.dtype != np.int64 or hist.ndim != 3 or hist.shape[1:] != (N_BINS, 3):
        raise ValueError(f"hist must be an int64 array of shape (d, {N_BINS}, 3), got "
                         f"{hist.dtype} {hist.shape}.")
    d = hist.shape[0]
    if not 0 <= missing_bin < N_BINS:
        raise ValueError(f"missing_bin must lie in [0, {N_BINS - 1}], got {missing_bin!r}.")
    n_values = np.asarray(n_values)
    if n_values.shape != (d,) or n_values.dtype.kind not in "iu" or np.any(n_values < 0) \
            or np.any(n_values > missing_bin):
        raise ValueError(f"n_values must be ({d},) integers in [0, missing_bin], got "
                         f"{n_values!r}.")
    allowed = np.ones(d, dtype=np.uint8) if allowed is None else \
        np.asarray(allowed, dtype=bool).astype(np.uint8)
    if allowed.shape != (d,):
        raise ValueError(f"allowed must have shape ({d},), got {allowed.shape}.")
    categorical = np.zeros(d, dtype=np.uint8) if categorical is None else \
        np.asarray(categorical, dtype=bool).astype(np.uint8)
    if categorical.shape != (d,):
        raise ValueError(f"categorical must have shape ({d},), got {categorical.shape}.")
    has_missing = (hist[:, missing_bin, 2] > 0 if has_missing is None
                   else np.asarray(has_missing, dtype=bool)).astype(np.uint8)
    if has_missing.shape != (d,):
        raise ValueError(f"has_missing must have shape ({d},), got {has_missing.shape}.")
    for name, value in (("l2_regularization", l2_regularization), ("min_hessian", min_hessian),
                        ("gradient_scale", gradient_scale),
                        ("hessian_scale", 1.0 if hessian_scale is None else hessian_scale)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be finite and non-negative, got {value!r}.")
    if not isinstance(min_samples_leaf, numbers.Integral) or min_samples_leaf < 1:
        raise ValueError(f"min_samples_leaf must be a positive int, got {min_samples_leaf!r}.")
    return _find_splits(np.ascontiguousarray(hist), n_values.astype(np.uint16), allowed,
                        categorical, has_missing, missing_bin, gradient_scale, hessian_scale,
                        l2_regularization, min_samples_leaf, min_hessian, n_threads)


def _find_splits(hist, n_values, allowed, categorical, has_missing, missing_bin,
                 gradient_scale, hessian_scale, l2_regularization, min_samples_leaf,
                 min_hessian, n_threads):
    from fastml._kernels import _gbdt

    d = hist.shape[0]
    with_hessians = hessian_scale is not None
    hessian_scale = 1.0 if hessian_scale is None else hessian_scale
    gain = np.empty(d)
    threshold = np.empty(d, dtype=np.int64)
    missing_left = np.empty(d, dtype=np.uint8)
    left = np.empty((d, 3), dtype=np.int64)
    left_set = np.empty((d, 4), dtype=np.uint64)
    work = d if categorical.any() else 0  # ranking space for categorical features
    _gbdt.find_splits(hist, n_values, allowed, categorical, has_missing, missing_bin,
                      float(gradient_scale), float(hessian_scale),
                      with_hessians, float(l2_regularization), int(min_samples_leaf),
                      float(min_hessian), CATEGORICAL_SMOOTHING,
                      np.empty((work, N_BINS)), np.empty((work, N_BINS), dtype=np.int64),
                      gain, threshold, missing_left, left_set, left, n_threads)
    return SplitCandidates(gain, threshold, missing_left.astype(bool), left, left_set)


def _check_left_set(left_set):
    left_set = np.asarray(left_set)
    if left_set.dtype != np.uint64 or left_set.shape != (4,):
        raise ValueError(f"left_set must be 4 uint64 words (256 bits), got {left_set.dtype} "
                         f"{left_set.shape}.")
    return np.ascontiguousarray(left_set)


def partition_chunk(samples, codes, threshold, *, missing_left=False, missing_bin=N_BINS - 1,
                    left_set=None, n_threads=1, check_input=True):
    """Split a node's rows into the left and right child, each in input
    order (stable), in parallel.

    Parameters
    ----------
    samples : ndarray of shape (m,)
        The node's rows.
    codes : ndarray of shape (n,), uint8
        The split feature's bin codes for every row.
    threshold : int
        Rows with a code <= threshold go left.
    missing_left : bool, default=False
        Where rows in ``missing_bin`` go.
    missing_bin : int, default=N_BINS - 1
    left_set : ndarray of shape (4,), uint64, default=None
        For a categorical split: bit ``b`` set sends bin ``b`` left
        (``threshold`` and ``missing_left`` are then ignored).
    n_threads : int, default=1
    check_input : bool, default=True
        False skips the checks, for callers that pass contiguous uint32
        samples known to be valid rows, and uint8 codes.

    Returns
    -------
    left, right : ndarray of uint32
    """
    from fastml._kernels import _gbdt

    if check_input:
        n_threads = check_positive_int(n_threads, "n_threads")
        codes = np.asarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 1:
            raise ValueError(f"codes must be a 1-D uint8 array, got {codes.dtype} "
                             f"{codes.shape}.")
        samples = _check_rows(samples, codes.shape[0])
    parts = max(1, min(n_threads, samples.size // 4096 + 1))
    starts = (np.arange(parts + 1, dtype=np.int64) * samples.size) // parts
    out = np.empty_like(samples)
    categorical = left_set is not None
    left_set = np.zeros(4, np.uint64) if left_set is None else _check_left_set(left_set)
    n_left = _gbdt.partition(samples, codes, int(threshold), bool(missing_left), int(missing_bin),
                             categorical, left_set, starts, np.empty(parts, dtype=np.int64),
                             np.empty(samples.size, dtype=np.uint8), out)
    return out[:n_left], out[n_left:]


def add_leaf_values(raw, leaf_rows, values, *, n_threads=1, check_input=True):
    """``raw[rows] += value`` in place for each leaf, without temporaries:
    a new tree's leaf values added to the raw predictions of their training
    rows.

    Parameters
    ----------
    raw : ndarray of shape (n,), float64, C-contiguous
    leaf_rows : list of ndarray of uint32
        The rows of each leaf (from the grower); no row in two leaves.
    values : array-like of shape (len(leaf_rows),), float64
    n_threads : int, default=1
        Each thread updates a range of rows.
    check_input : bool, default=True
        False skips the checks (contiguous uint32 rows below n, each row
        in one leaf).
    """
    from fastml._kernels import _gbdt

    values = np.ascontiguousarray(values, dtype=np.float64)
    leaf_rows = list(leaf_rows)
    if check_input:
        n_threads = check_positive_int(n_threads, "n_threads")
        if raw.dtype != np.float64 or raw.ndim != 1 or not raw.flags.c_contiguous:
            raise ValueError("raw must be a contiguous 1-D float64 array.")
        leaf_rows = [_check_rows(rows, raw.shape[0], "rows") for rows in leaf_rows]
        if values.shape != (len(leaf_rows),):
            raise ValueError(f"values has shape {values.shape}; one value per leaf "
                             f"({len(leaf_rows)}) is needed.")
        every = np.concatenate(leaf_rows) if leaf_rows else np.empty(0, np.uint32)
        if np.unique(every).size != every.size:
            raise ValueError("A row appears in two leaves (or twice in one).")
    _gbdt.add_to_leaf_rows(raw, leaf_rows, values, n_threads if raw.size >= 50_000 else 1)


def logistic_gradients_chunk(raw, y, *, sample_weight=None, n_threads=1):
    """Gradients and hessians of the half binomial (log) loss.

    ``p = expit(raw)``; gradient ``(p - y) w``, hessian ``p (1 - p) w``,
    computed in float64 and rounded to float32 (scikit-learn's gradient
    precision).

    Parameters
    ----------
    raw : ndarray of shape (n,)
        Raw predictions (log-odds).
    y : ndarray of shape (n,)
        Targets in {0, 1}.
    sample_weight : ndarray of shape (n,), default=None
    n_threads : int, default=1

    Returns
    -------
    gradients, hessians : ndarray of shape (n,), float32
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    raw = np.ascontiguousarray(raw, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if raw.ndim != 1 or y.shape != raw.shape:
        raise ValueError(f"raw and y must be 1-D of the same length, got {raw.shape} and "
                         f"{y.shape}.")
    weights = np.empty(0) if sample_weight is None else \
        np.ascontiguousarray(sample_weight, dtype=np.float64)
    if weights.size and weights.shape != raw.shape:
        raise ValueError(f"sample_weight must have shape {raw.shape}, got {weights.shape}.")
    gradients = np.empty(raw.shape, dtype=np.float32)
    hessians = np.empty(raw.shape, dtype=np.float32)
    _gbdt.logistic_gradients(raw, y, weights, gradients, hessians, n_threads)
    return gradients, hessians


ALMOST_INF = 1e300  # the largest threshold: +inf values still fall in the last value bin


def bin_thresholds(X, max_bins=255, *, sample_weight=None, n_threads=1):
    """Per-feature bin thresholds for gradient boosting, as scikit-learn's
    ``HistGradientBoosting*`` (1.9) draws them.

    With at most ``max_bins`` distinct values (of positive weight), the
    midpoints between consecutive ones; otherwise the
    ``"averaged_inverted_cdf"`` quantiles (weighted, if weights are given)
    at levels ``1 / max_bins .. (max_bins - 1) / max_bins``, computed in
    float64, duplicates dropped.  NaN is skipped (it gets its own bin);
    thresholds are capped at ``ALMOST_INF``.  A value ``x`` falls in bin
    ``k`` = the number of thresholds ``< x`` (``x <= threshold`` goes
    left).  Pass the rows to draw from as X (scikit-learn draws at most
    200 000).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    max_bins : int, default=255
        Bins for values, in [2, 255]; the missing-value bin is extra.
    sample_weight : ndarray of shape (n,), default=None
        Non-negative weights of the rows; rows of weight 0 are left out.
    n_threads : int, default=1

    Returns
    -------
    list of d ndarrays, float64
        Each ascending, at most ``max_bins - 1`` thresholds.
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if (not isinstance(max_bins, numbers.Integral) or isinstance(max_bins, bool)
            or not 2 <= max_bins <= 255):
        raise ValueError(f"max_bins must be an int in [2, 255], got {max_bins!r}.")
    X = _as_block(X, "X")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (X.shape[0],) or not np.all(sample_weight >= 0):
            raise ValueError(f"sample_weight must be {X.shape[0]} non-negative weights.")
    percents = np.linspace(0, 100, max_bins + 1)[1:-1]
    levels = np.true_divide(percents, 100)
    thresholds = [None] * X.shape[1]

    def column(j):
        from fastml._quantile_transforms import _weighted_quantiles

        values = X[:, j].astype(np.float64)
        keep = ~np.isnan(values)
        if sample_weight is not None:
            keep &= sample_weight != 0
        if sample_weight is None:
            values = np.sort(values[keep])
        else:  # the weights follow the values
            order = np.argsort(values[keep], kind="stable")
            values, weights = values[keep][order], sample_weight[keep][order]
        distinct = values[np.concatenate(([True], values[1:] != values[:-1]))[:values.size]]
        if distinct.size <= max_bins:
            cuts = (distinct[:-1] + distinct[1:]) * 0.5
        elif sample_weight is not None:
            cuts = np.unique(_weighted_quantiles(values, weights, percents, average=True))
        else:
            cuts = _interpolated(values.size, levels, "averaged_inverted_cdf",
                                 values.__getitem__, np.float64)
            cuts = np.unique(cuts)
        thresholds[j] = np.minimum(cuts, ALMOST_INF)

    _map_columns(column, X.shape[1], n_threads)
    return thresholds


class Tree(NamedTuple):
    """Regression trees as arrays (``fastml._tree_grower``): one tree with
    node 0 its root, or several stacked by ``stack_trees``.

    A numerical node splits on ``feature``: values ``<= threshold`` (bins
    ``<= threshold_bin``) go to ``left``, larger ones to ``right``, NaN to
    the side ``missing_left`` says.  A ``categorical`` node sends the
    categories (= bins) whose bit is set in ``left_categories`` left; NaN,
    values that are not a category code and categories unseen in training
    go the missing side.  Leaves have ``left == right == -1``; their
    ``value`` is what they add to a row's raw prediction.
    """

    feature: np.ndarray          # (nodes,) int64
    threshold: np.ndarray        # (nodes,) float64, +inf when only NaN goes right
    threshold_bin: np.ndarray    # (nodes,) int64
    missing_left: np.ndarray     # (nodes,) bool
    categorical: np.ndarray      # (nodes,) bool
    left_categories: np.ndarray  # (nodes, 4) uint64 bit set of 256 categories
    left: np.ndarray             # (nodes,) int64
    right: np.ndarray            # (nodes,) int64
    value: np.ndarray            # (nodes,) float64
    count: np.ndarray            # (nodes,) int64 training rows
    gain: np.ndarray             # (nodes,) float64 of the node's split, 0 for leaves
    depth: np.ndarray            # (nodes,) int64


def stack_trees(trees):
    """Several trees as one ``Tree`` of their nodes, and the root of each.

    Parameters
    ----------
    trees : sequence of Tree

    Returns
    -------
    stacked : Tree
    roots : ndarray of shape (len(trees),), int64
    """
    sizes = np.array([t.value.size for t in trees], dtype=np.int64)
    roots = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    fields = {}
    for name in Tree._fields:
        parts = [getattr(t, name) for t in trees]
        if name in ("left", "right"):
            parts = [np.where(p >= 0, p + r, -1) for p, r in zip(parts, roots)]
        empty = np.empty((0, 4), np.uint64) if name == "left_categories" else np.empty(0)
        fields[name] = np.concatenate(parts) if parts else empty
    return Tree(**fields), roots


def _check_tree(tree, n_features):
    """Refuse node arrays that would send the compiled walk out of bounds
    or round in circles: every field one entry per node, children after
    their parent and inside the tree, split features below n_features, and
    depths one more than the parent's (the block predictor relies on it)."""
    n = tree.value.size
    for name in Tree._fields:
        field = np.asarray(getattr(tree, name))
        expected = (n, 4) if name == "left_categories" else (n,)
        if field.shape != expected:
            raise ValueError(f"tree.{name} has shape {field.shape}, expected {expected}.")
    index = np.arange(n)
    split = tree.left >= 0
    left, right = tree.left[split], tree.right[split]
    if np.any(left <= index[split]) or np.any(right <= index[split]) \
            or np.any(left >= n) or np.any(right >= n):
        raise ValueError("tree nodes must have their children after them and inside the tree.")
    used = tree.feature[split]
    if used.size and (used.min() < 0 or used.max() >= n_features):
        raise ValueError(f"X has {n_features} features, but the tree splits on feature "
                         f"{int(used.max()) if used.max() >= n_features else int(used.min())}.")
    if np.any(tree.depth[left] != tree.depth[split] + 1) or \
            np.any(tree.depth[right] != tree.depth[split] + 1):
        raise ValueError("tree.depth must be each node's parent depth plus one.")


def _checked_roots(tree, roots, n_features):
    """The tree checked against n_features, and its roots as int64 (None:
    one tree, root 0)."""
    _check_tree(tree, n_features)
    n = tree.value.size
    roots = np.zeros(1, np.int64) if roots is None else np.ascontiguousarray(roots, np.int64)
    if roots.ndim != 1 or (roots.size and (roots.min() < 0 or roots.max() >= n)):
        raise ValueError(f"roots must be node indices in [0, {n}).")
    return roots


def _prediction_out(out, n):
    if out is None:
        return np.zeros(n)
    if out.dtype != np.float64 or out.shape != (n,) or not out.flags.c_contiguous:
        raise ValueError(f"out must be a contiguous float64 array of shape ({n},).")
    return out


NODE_RECORD = np.dtype([("threshold", "<f8"), ("value", "<f8"), ("feature", "<i4"),
                        ("left", "<i4"), ("right", "<i4"), ("missing_left", "u1"),
                        ("categorical", "u1"), ("pad", "u1", (2,))])  # forest.h's fastml_node


def _packed_nodes(tree):
    """The nodes as ``NODE_RECORD`` bytes for the block predictor (leaves
    point to themselves on both sides)."""
    if tree.value.size >= 2**31:
        raise ValueError(f"{tree.value.size} nodes exceed the predictor's int32 indices.")
    split = tree.left >= 0
    itself = np.arange(tree.value.size)
    nodes = np.zeros(tree.value.size, dtype=NODE_RECORD)
    nodes["threshold"] = tree.threshold
    nodes["value"] = tree.value
    nodes["feature"] = np.where(split, tree.feature, 0)
    nodes["left"] = np.where(split, tree.left, itself)
    nodes["right"] = np.where(split, tree.right, itself)
    nodes["missing_left"] = tree.missing_left
    nodes["categorical"] = tree.categorical & split
    return nodes.view(np.uint8)


def predict_tree_chunk(X, tree, *, roots=None, out=None, n_threads=1):
    """Raw predictions of a tree (or of stacked trees, summed) for rows of
    feature values.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        NaN follows each split's ``missing_left``.
    tree : Tree
    roots : ndarray of shape (trees,), default=None
        The roots of stacked trees (``stack_trees``); None: one tree, root 0.
        Each row's trees are added in this order.
    out : ndarray of shape (n,), float64, default=None
        Added to in place (the sum over a forest's trees); None starts from 0.
    n_threads : int, default=1
        Rows are split over threads.

    Returns
    -------
    ndarray of shape (n,), float64
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(_as_block(X, "X"))
    roots = _checked_roots(tree, roots, X.shape[1])
    out = _prediction_out(out, X.shape[0])
    if X.shape[0] and roots.size:
        ends = np.append(roots[1:], tree.value.size)
        depths = np.array([tree.depth[a:b].max() - tree.depth[a] for a, b in zip(roots, ends)],
                          dtype=np.int64)
        _gbdt.predict_packed(X, _packed_nodes(tree), np.ascontiguousarray(tree.left_categories),
                             roots, depths, out, n_threads)
    return out


def predict_binned_chunk(binned, tree, *, missing_bin=N_BINS - 1, roots=None, out=None,
                         n_threads=1):
    """``predict_tree_chunk`` for binned rows: the bin codes the trees were
    grown on (``threshold_bin`` decides).

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
    tree : Tree
    missing_bin : int, default=N_BINS - 1
    roots, out, n_threads
        As in ``predict_tree_chunk``.

    Returns
    -------
    ndarray of shape (n,), float64
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    binned = np.ascontiguousarray(_check_binned(binned))
    roots = _checked_roots(tree, roots, binned.shape[1])
    out = _prediction_out(out, binned.shape[0])
    if binned.shape[0]:
        _gbdt.predict_forest_binned(binned, int(missing_bin), roots, tree.feature,
                                    tree.threshold_bin, tree.missing_left.view(np.uint8),
                                    tree.categorical.view(np.uint8),
                                    np.ascontiguousarray(tree.left_categories), tree.left,
                                    tree.right, tree.value, out, n_threads)
    return out
