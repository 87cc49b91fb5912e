"""Quantiles of columns: exact on one block, or from mergeable summaries.

``quantiles_chunk`` computes exact quantiles of a block's columns;
``quantile_summary_chunk`` reduces a block to a ``QuantileSummary`` with a
stated rank error, ``combine_quantile_summaries`` merges two (associative)
and ``summary_quantiles`` reads quantiles off the merged summary, so the
quantiles of a row-chunked Dask array come from one tree reduction.
"""
from functools import partial

import numpy as np

from fastml._threads import threads_for
from fastml._validation import as_float_block, check_positive_int

__all__ = [
    "QUANTILE_METHODS",
    "quantiles_chunk",
    "weighted_quantiles",
]


QUANTILE_METHODS = ("inverted_cdf", "averaged_inverted_cdf", "closest_observation",
                    "interpolated_inverted_cdf", "hazen", "weibull", "linear",
                    "median_unbiased", "normal_unbiased")


def _map_columns(func, d, n_threads, n_rows):
    """func(j) for every column j of ``n_rows`` rows, on n_threads threads
    (NumPy's sort releases the GIL); on this thread for small columns."""
    n_threads = threads_for(d * n_rows * 16, n_threads)   # a selection: ~16 operations per value
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

    Exact quantiles need every row of a column: map over column blocks that
    hold all the rows (see :func:`quantile_summary_chunk` for row blocks).

    >>> import dask.array as da
    >>> X = da.from_array(np.random.default_rng(0).normal(size=(100, 4)), chunks=(-1, 2))
    >>> Q = X.map_blocks(quantiles_chunk, [0.25, 0.75], chunks=((2,), X.chunks[1]),
    ...                  dtype=np.float64)
    >>> np.array_equal(Q.compute(), np.quantile(X.compute(), [0.25, 0.75], axis=0))
    True
    """
    from fastml._kernels import _binning

    n_threads = check_positive_int(n_threads, "n_threads")
    X = as_float_block(X, "X")
    q = _check_levels(quantiles, method)
    out = np.full((q.shape[0], X.shape[1]), np.nan)

    columns = _transposed(X)

    def column(j):
        low, high, n = _binning.value_range(columns[j])
        if n:
            out[:, j] = _interpolated(n, q, method,
                                      partial(_select, columns[j], (low, high, n)), X.dtype)

    _map_columns(column, X.shape[1], n_threads, X.shape[0])
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


_HF_CONSTANTS = {  # (alpha, beta) of Hyndman & Fan's continuous definitions
    "interpolated_inverted_cdf": (0.0, 1.0),
    "hazen": (0.5, 0.5),
    "weibull": (0.0, 0.0),
    "median_unbiased": (1 / 3.0, 1 / 3.0),
    "normal_unbiased": (3 / 8.0, 3 / 8.0),
}


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

def weighted_quantiles(column, weight, levels, average):
    """Weighted inverted-CDF quantiles of one column.

    The definition scikit-learn uses for weighted bin edges: the first
    sorted value whose cumulative weight reaches ``level / 100 * total``;
    with ``average``, the mean of it and the next value of positive weight
    when the target falls exactly on a cumulative sum (to ``eps``).

    Parameters
    ----------
    column : ndarray of shape (n,)
        float32 or float64, no NaN.
    weight : ndarray of shape (n,)
        Non-negative, not all zero, in the column's dtype.
    levels : array-like of shape (q,)
        Levels in percent, in [0, 100].
    average : bool

    Returns
    -------
    quantiles : ndarray of shape (q,), the column's dtype (as scikit-learn)

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import weighted_quantiles
    >>> weighted_quantiles(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]),
    ...                    [0, 50, 100], average=False)
    array([1., 3., 3.])

    Each column of a Dask array needs all its rows: map it over column
    blocks holding every row.

    >>> import dask.array as da
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(-1, 1))
    >>> w = np.ones(6)
    >>> q = X.map_blocks(lambda b: weighted_quantiles(b[:, 0], w, [50], False)[:, None],
    ...                  chunks=((1,), X.chunks[1]), dtype=X.dtype)
    >>> q.compute()
    array([[4., 5.]])
    """
    dtype = column.dtype
    order = np.argsort(column, kind="stable")
    values, w = column[order], weight[order]
    cdf = np.cumsum(w)
    last = values.shape[0] - 1
    out = np.empty(len(levels), dtype=dtype)
    for k, level in enumerate(np.asarray(levels, dtype=dtype)):
        target = level / dtype.type(100) * cdf[-1]
        if target == 0:  # leading zero weights do not count at level 0
            target = np.nextafter(target, dtype.type(1))
        i = min(int(np.searchsorted(cdf, target)), last)
        if not average or cdf[i] - target > np.finfo(dtype).eps:
            out[k] = values[i]
            continue
        following = min(i + 1, last)
        if w[following] == 0:
            following = int(np.searchsorted(cdf, cdf[i], side="right"))
            following = i if following > last else following
        out[k] = (values[i] + values[following]) / 2
    return out
