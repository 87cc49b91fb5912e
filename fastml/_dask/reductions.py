"""Column statistics of Dask arrays (moments, max-abs, quantile summaries)
from one tree reduction each, and per-block affine maps.

Blocks may be NumPy arrays or scipy.sparse CSR / CSC matrices or arrays
(``da.from_array(X, asarray=False)``): each block function picks the dense
or the sparse kernel for its block, and the partial results merge alike.
Implicit zeros are values, as in the in-memory sparse statistics.
"""
from functools import partial

import numpy as np
from scipy import sparse

from fastml._dask.arrays import as_float_dask_array, tree_reduce


def column_moments(X, deviations=True, fan_in=8):
    """``kernels.Moments`` of a Dask array's columns: ``moments_chunk`` per
    block, merged by ``combine_moments`` in a tree; one ``dask.compute``."""
    X = as_float_dask_array(X, "X")
    return tree_reduce(X, partial(_moments_block, deviations=deviations), _combine_all,
                        fan_in)


def _moments_block(block, deviations):
    from fastml.kernels import moments_chunk, sparse_moments_chunk

    kernel = sparse_moments_chunk if sparse.issparse(block) else moments_chunk
    return kernel(block, deviations=deviations)


def column_max_abs(X, fan_in=8):
    """``max_abs_chunk`` of a Dask array's columns (``sparse_moments_chunk``
    of sparse blocks), merged with ``np.fmax`` in a tree; one
    ``dask.compute``."""
    X = as_float_dask_array(X, "X")
    return tree_reduce(X, _max_abs_block, _fmax_all, fan_in)


def _max_abs_block(block):
    from fastml.kernels import max_abs_chunk, sparse_moments_chunk

    if sparse.issparse(block):   # implicit zeros included
        return sparse_moments_chunk(block, deviations=False).max_abs
    return max_abs_chunk(block)


def _fmax_all(parts):
    return np.fmax.reduce(np.stack(parts))


def _combine_all(parts):
    from functools import reduce
    from fastml.kernels import combine_moments

    return reduce(combine_moments, parts)


def column_quantile_summary(X, size=None, fan_in=8, implicit_zeros=True):
    """``kernels.QuantileSummary`` of a Dask array's columns:
    ``quantile_summary_chunk`` per block (the same summary of a sparse
    block, see ``_sparse_quantile_summary``), combined in a tree; a combined
    summary over ``8 * size`` entries in a column is compressed to
    ``4 * size`` (each compression adds at most ``n / (8 (size - 1)) + 1``
    to its stated ``rank_error()``).  One ``dask.compute``.
    ``implicit_zeros=False``: a sparse block's stored values only."""
    from fastml.kernels import SUMMARY_SIZE

    size = SUMMARY_SIZE if size is None else size
    X = as_float_dask_array(X, "X")
    return tree_reduce(X, partial(_summary_block, size=size, implicit_zeros=implicit_zeros),
                        partial(_combine_summaries, size=size), fan_in)


def _summary_block(block, size, implicit_zeros=True):
    from fastml.kernels import quantile_summary_chunk

    if sparse.issparse(block):
        return _sparse_quantile_summary(block, size, implicit_zeros)
    return quantile_summary_chunk(block, size)


def _ranges(starts, stops):
    """Concatenated ``arange(starts[j], stops[j])`` and the j of each."""
    lengths = np.maximum(stops - starts, 0)
    owner = np.repeat(np.arange(lengths.size), lengths)
    first = np.cumsum(lengths) - lengths
    return starts[owner] + np.arange(owner.size) - first[owner], owner


def _sparse_quantile_summary(X, size, implicit_zeros=True):
    """``quantile_summary_chunk`` of a sparse block, equal to that of the
    densified block (the same order statistics, exact ranks, implicit zeros
    counted), from one sort of the stored values: the evenly spaced
    positions falling in a column's run of zeros give one entry, so the
    work is O(nnz log nnz + d), never O(n d).  ``implicit_zeros=False``:
    the summary of the stored values alone (as if each column held only
    them; ``n_rows`` stays the block's row count)."""
    from fastml.kernels import QuantileSummary

    X = X.tocsc(copy=True)
    X.sum_duplicates()
    n, d = X.shape
    cols = np.repeat(np.arange(d), np.diff(X.indptr))
    data = X.data.astype(np.float64)
    keep = ~np.isnan(data)
    order = np.lexsort((data[keep], cols[keep]))
    v, c = data[keep][order], cols[keep][order]
    stored = np.bincount(c, minlength=d)
    zeros = n - np.diff(X.indptr)                 # implicit zeros
    if not implicit_zeros:
        zeros = np.zeros_like(zeros)
    m = stored + zeros                            # non-NaN values (the dense n[j])
    start = np.cumsum(stored) - stored            # column j's values in v
    neg = np.bincount(c[v < 0], minlength=d)
    s = np.minimum(size, m)                       # positions kept, as linspace(0, m - 1, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(s > 1, (m - 1) / np.maximum(s - 1, 1), 1.0)
    # the k whose positions may fall before or after the zeros (rounding margin 2)
    a = np.minimum(np.ceil(neg / step).astype(np.int64) + 2, s)
    b = np.maximum(np.floor((neg + zeros) / step).astype(np.int64) - 2, a)
    k1, j1 = _ranges(np.zeros(d, np.int64), a)
    k2, j2 = _ranges(b, s)
    k, j = np.concatenate((k1, k2)), np.concatenate((j1, j2))
    p = np.round(k * step[j]).astype(np.int64)
    p = np.where(k == s[j] - 1, m[j] - 1, p)      # linspace's exact last point
    in_zeros = (p >= neg[j]) & (p < neg[j] + zeros[j])
    # the zero entry (once) where some position falls in the zeros
    zero_hit = np.zeros(d, bool)
    zero_hit[j[in_zeros]] = True
    k, j, p = k[~in_zeros], j[~in_zeros], p[~in_zeros]
    index = np.clip(start[j] + np.where(p < neg[j], p, p - zeros[j]), 0, max(v.size - 1, 0))
    values = v[index] if v.size else np.zeros(0)
    zj = np.flatnonzero(zero_hit)
    values = np.concatenate((values, np.zeros(zj.size)))
    j = np.concatenate((j, zj))
    order = np.lexsort((values, j))
    values, j = values[order], j[order]
    new = np.ones(values.size, bool)
    new[1:] = (values[1:] != values[:-1]) | (j[1:] != j[:-1])
    values, j = values[new], j[new]
    # exact ranks: stored values below / up to each entry, plus the zeros
    unique = np.unique(v)
    width = unique.size + 1
    keys = c * width + np.searchsorted(unique, v)
    below = np.searchsorted(keys, j * width + np.searchsorted(unique, values, "left")) - start[j]
    upto = np.searchsorted(keys, j * width + np.searchsorted(unique, values, "right")) - start[j]
    rmin = below + np.where(values > 0, zeros[j], 0)
    rmax = upto + np.where(values >= 0, zeros[j], 0)
    offsets = np.zeros(d + 1, dtype=np.int64)
    np.cumsum(np.bincount(j, minlength=d), out=offsets[1:])
    return QuantileSummary(values, rmin.astype(np.int64), rmax.astype(np.int64),
                           (rmax - rmin).astype(np.int64), offsets, m.astype(np.int64), int(n))


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


def scale_sparse_columns(X, factor, formats, clip=False):
    """Lazy ``sparse_scale_columns_chunk`` of every block of a Dask array of
    scipy.sparse blocks: stored values of column j times ``factor[j]``
    (optionally clipped to [-1, 1]).  A block not in ``formats`` becomes
    ``formats[0]`` first, as the in-memory scalers convert X; the blocks
    keep their class (matrix or array) and dtype."""
    from dask.array.utils import meta_from_array

    X = as_float_dask_array(X, "X", allow_unknown_rows=True)
    meta = meta_from_array(X)
    meta = (meta if meta.format in formats else meta.asformat(formats[0])).astype(X.dtype)
    return X.map_blocks(_scale_sparse_block, factor=np.asarray(factor, dtype=np.float64),
                        formats=tuple(formats), clip=clip, dtype=X.dtype, meta=meta)


def _scale_sparse_block(block, factor, formats, clip):
    from fastml.kernels import sparse_scale_columns_chunk

    if block.format not in formats:
        block = block.asformat(formats[0])
    return sparse_scale_columns_chunk(block, factor, clip=clip, copy=True, n_threads=1)


def column_quantiles(X, levels, method, allow_nan, implicit_zeros=True):
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

    ``implicit_zeros=False``: the quantiles of a sparse block's stored
    values only (a column without any is NaN).
    """
    from fastml.kernels import summary_quantiles

    summary = column_quantile_summary(X, implicit_zeros=implicit_zeros)
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
