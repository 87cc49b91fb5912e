"""Bin codes and quantile maps of blocks of rows.

``bin_chunk`` maps each value to the index of its bin between fitted edges
(as ``KBinsDiscretizer`` and gradient boosting do), ``quantile_transform_chunk``
maps values through fitted quantiles, and ``bin_thresholds`` draws the bin
thresholds of gradient boosting from a sample.
"""
import numbers

import numpy as np

from fastml._threads import threads_for
from fastml._validation import as_float_block, check_positive_int
from fastml.kernels.moments import _apply_args
from fastml.kernels.quantiles import _interpolated, _map_columns, weighted_quantiles

__all__ = [
    "bin_chunk",
    "quantile_transform_chunk",
    "bin_thresholds",
]


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

    Row-local, so ``map_blocks`` over the row blocks of a Dask array:

    >>> import dask.array as da
    >>> edges = [np.array([-0.5, 0.5]), np.array([0.0])]
    >>> X = da.from_array(np.random.default_rng(0).normal(size=(100, 2)), chunks=(25, 2))
    >>> B = X.map_blocks(bin_chunk, edges, dtype=np.uint8)
    >>> np.array_equal(B.compute(), bin_chunk(X.compute(), edges))
    True
    """
    from fastml._kernels import _binning

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(as_float_block(X, "X"))
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
        # a binary search per element: about 8 operations each
        _binning.bin_codes(X, flat, offsets, nan_code, out, threads_for(8 * X.size, n_threads))
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
    out, n_threads
        As in :func:`center_scale_chunk`, and so is the result.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import quantile_transform_chunk
    >>> q = np.array([[0.0], [10.0], [20.0]])
    >>> quantile_transform_chunk(np.array([[5.0], [20.0]]), q, [0.0, 0.5, 1.0])
    array([[0.25],
           [1.  ]])

    Fit the quantiles on a sample of a Dask array, then ``map_blocks``:

    >>> import dask.array as da
    >>> from fastml.kernels import quantiles_chunk
    >>> X = da.random.default_rng(0).normal(size=(4000, 2), chunks=(1000, 2))
    >>> references = np.linspace(0, 1, 101)
    >>> quantiles = quantiles_chunk(X[::4].compute(), references)
    >>> U = X.map_blocks(quantile_transform_chunk, quantiles, references, dtype=X.dtype)
    >>> np.allclose(U.compute(), quantile_transform_chunk(X.compute(), quantiles, references))
    True
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
                              out, threads_for(16 * X.size, n_threads))   # two searches
    return out


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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import bin_thresholds
    >>> bin_thresholds(np.array([[1.0], [2.0], [2.0], [4.0]]))
    [array([1.5, 3. ])]

    Draw the thresholds from a sample of a Dask array's rows, then bin its
    blocks with :func:`bin_chunk` (edges just above the thresholds, so that
    ``x <= threshold`` goes left; NaN to bin ``max_bins``):

    >>> import dask.array as da
    >>> from fastml.kernels import bin_chunk
    >>> X = da.random.default_rng(0).normal(size=(10_000, 2), chunks=(2500, 2))
    >>> thresholds = bin_thresholds(X[::10].compute(), max_bins=16)
    >>> edges = [np.nextafter(t, np.inf) for t in thresholds]
    >>> B = X.map_blocks(bin_chunk, edges, missing_bin=16, dtype=np.uint8)
    >>> int(B.max().compute())  # 16 value bins: codes 0 .. 15
    15
    >>> np.array_equal(B.compute(), bin_chunk(X.compute(), edges, missing_bin=16))
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if (not isinstance(max_bins, numbers.Integral) or isinstance(max_bins, bool)
            or not 2 <= max_bins <= 255):
        raise ValueError(f"max_bins must be an int in [2, 255], got {max_bins!r}.")
    X = as_float_block(X, "X")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (X.shape[0],) or not np.all(sample_weight >= 0):
            raise ValueError(f"sample_weight must be {X.shape[0]} non-negative weights.")
    percents = np.linspace(0, 100, max_bins + 1)[1:-1]
    levels = np.true_divide(percents, 100)
    thresholds = [None] * X.shape[1]

    def column(j):

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
            cuts = np.unique(weighted_quantiles(values, weights, percents, average=True))
        else:
            cuts = _interpolated(values.size, levels, "averaged_inverted_cdf",
                                 values.__getitem__, np.float64)
            cuts = np.unique(cuts)
        thresholds[j] = np.minimum(cuts, ALMOST_INF)

    _map_columns(column, X.shape[1], n_threads, X.shape[0])
    return thresholds
