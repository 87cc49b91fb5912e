"""Column statistics of Dask arrays (moments, max-abs, quantile summaries)
from one tree reduction each, and per-block affine maps."""
from functools import partial

import numpy as np

from fastml._dask.arrays import as_float_dask_array, tree_reduce


def column_moments(X, deviations=True, fan_in=8):
    """``kernels.Moments`` of a Dask array's columns: ``moments_chunk`` per
    block, merged by ``combine_moments`` in a tree; one ``dask.compute``."""
    from fastml.kernels import moments_chunk

    X = as_float_dask_array(X, "X")
    return tree_reduce(X, partial(moments_chunk, deviations=deviations), _combine_all,
                        fan_in)


def column_max_abs(X, fan_in=8):
    """``max_abs_chunk`` of a Dask array's columns, merged with ``np.fmax``
    in a tree; one ``dask.compute``."""
    from fastml.kernels import max_abs_chunk

    X = as_float_dask_array(X, "X")
    return tree_reduce(X, max_abs_chunk, _fmax_all, fan_in)


def _fmax_all(parts):
    return np.fmax.reduce(np.stack(parts))


def _combine_all(parts):
    from functools import reduce
    from fastml.kernels import combine_moments

    return reduce(combine_moments, parts)


def column_quantile_summary(X, size=None, fan_in=8):
    """``kernels.QuantileSummary`` of a Dask array's columns:
    ``quantile_summary_chunk`` per block, combined in a tree; a combined
    summary over ``8 * size`` entries in a column is compressed to
    ``4 * size`` (each compression adds at most ``n / (8 (size - 1)) + 1``
    to its stated ``rank_error()``).  One ``dask.compute``."""
    from fastml.kernels import SUMMARY_SIZE, quantile_summary_chunk

    size = SUMMARY_SIZE if size is None else size
    X = as_float_dask_array(X, "X")
    return tree_reduce(X, partial(quantile_summary_chunk, size=size),
                        partial(_combine_summaries, size=size), fan_in)


def _combine_summaries(parts, size):
    from fastml.kernels import combine_quantile_summaries, compress_quantile_summary

    summary = combine_quantile_summaries(*parts) if len(parts) > 1 else parts[0]
    if np.diff(summary.offsets).max(initial=0) > 8 * size:
        summary = compress_quantile_summary(summary, 4 * size)
    return summary


def apply_columns(X, kernel, a, b, **kw):
    """Lazy ``kernel(block, a, b, **kw)`` over the row blocks of X (one
    feature chunk); same dtype and chunks."""
    X = as_float_dask_array(X, "X", allow_unknown_rows=True)
    return X.map_blocks(_apply_block, kernel=kernel, a=np.asarray(a), b=np.asarray(b), kw=kw,
                        dtype=X.dtype, meta=np.empty((0, 0), X.dtype))


def _apply_block(block, kernel, a, b, kw):
    return kernel(block, a, b, n_threads=1, **kw)


def column_quantiles(X, levels, method, allow_nan):
    """Per-column quantiles of a Dask array from one ``dask.compute`` of a
    mergeable quantile summary (:func:`column_quantile_summary`).

    Returns
    -------
    quantiles : ndarray of shape (len(levels), n_features), float64
        As ``np.nanquantile(X, levels, axis=0, method=method)``, each off by
        at most ``rank_error`` positions of the sorted column.  The error is
        0 (exact) when no block has more than ``SUMMARY_SIZE`` (4096) values
        in a column and the column has at most 8 x 4096 distinct values
        (beyond, merged summaries are compressed); otherwise it is about
        ``n / 8190`` plus a few positions per block.
    low, high : ndarray of shape (n_features,)
        Each column's smallest and largest value (exact).
    rank_error : ndarray of shape (n_features,), int64
    """
    from fastml.kernels import summary_quantiles

    summary = column_quantile_summary(X)
    if not allow_nan and np.any(summary.n < summary.n_rows):
        feature = int(np.flatnonzero(summary.n < summary.n_rows)[0])
        raise ValueError(f"Input X contains NaN (feature {feature}).")
    low, high = summary.extremes()
    infinite = np.flatnonzero(np.isinf(low) | np.isinf(high))
    if infinite.size:
        raise ValueError(f"Input X contains infinity (feature {int(infinite[0])}); replace "
                         "infinite values first.")
    quantiles = summary_quantiles(summary, levels, method=method, dtype=X.dtype)
    return quantiles, low, high, summary.rank_error()
