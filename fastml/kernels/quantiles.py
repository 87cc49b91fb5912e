"""Quantiles of columns: exact on one block, or from mergeable summaries.

``quantiles_chunk`` computes exact quantiles of a block's columns;
``quantile_summary_chunk`` reduces a block to a ``QuantileSummary`` with a
stated rank error, ``combine_quantile_summaries`` merges two (associative)
and ``summary_quantiles`` reads quantiles off the merged summary, so the
quantiles of a row-chunked Dask array come from one tree reduction.
"""
import numbers
from functools import partial
from typing import NamedTuple

import numpy as np

from fastml._validation import as_float_block, check_positive_int

__all__ = [
    "QUANTILE_METHODS",
    "quantiles_chunk",
    "SUMMARY_SIZE",
    "QuantileSummary",
    "quantile_summary_chunk",
    "combine_quantile_summaries",
    "compress_quantile_summary",
    "summary_quantiles",
    "weighted_quantiles",
]


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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import quantile_summary_chunk
    >>> s = quantile_summary_chunk(np.array([[3.0], [1.0], [2.0], [np.nan]]))
    >>> s.values, s.rmin, s.rmax, s.n
    (array([1., 2., 3.]), array([0, 1, 2]), array([1, 2, 3]), array([3]))

    One summary per row block of a Dask array, combined: blocks of at most
    ``size`` rows give an exact summary, so exact quantiles.

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import combine_quantile_summaries, summary_quantiles
    >>> X = da.random.default_rng(0).normal(size=(3000, 2), chunks=(1000, 2))
    >>> parts = [dask.delayed(quantile_summary_chunk)(block) for block in X.to_delayed().ravel()]
    >>> total = dask.delayed(combine_quantile_summaries)(*parts).compute()
    >>> q = summary_quantiles(total, [0.1, 0.5])
    >>> np.array_equal(q, np.quantile(X.compute(), [0.1, 0.5], axis=0))
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}.")
    X = as_float_block(X, "X")
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import combine_quantile_summaries, quantile_summary_chunk
    >>> a = quantile_summary_chunk(np.array([[1.0], [2.0]]))
    >>> b = quantile_summary_chunk(np.array([[2.0], [5.0]]))
    >>> s = combine_quantile_summaries(a, b)
    >>> s.values, s.rmin, s.rmax, s.count
    (array([1., 2., 5.]), array([0, 1, 3]), array([1, 3, 4]), array([1, 2, 1]))

    Small summaries of the row blocks of a Dask array, combined lazily:

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import summary_quantiles
    >>> X = da.random.default_rng(0).normal(size=(3000, 2), chunks=(1000, 2))
    >>> parts = [dask.delayed(quantile_summary_chunk)(block, 64)
    ...          for block in X.to_delayed().ravel()]
    >>> total = dask.delayed(combine_quantile_summaries)(*parts).compute()
    >>> total.rank_error()  # positions, of 3000
    array([23, 23])
    >>> median = np.quantile(X.compute(), 0.5, axis=0)
    >>> bool(np.abs(summary_quantiles(total, [0.5]) - median).max() < 0.01)
    True
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import compress_quantile_summary, quantile_summary_chunk
    >>> s = compress_quantile_summary(quantile_summary_chunk(np.arange(100.0)[:, None]), 5)
    >>> s.values, s.rank_error()
    (array([ 0., 25., 49., 74., 99.]), array([12]))

    Combine, then compress, at every step of a tree over Dask row blocks,
    so no summary grows past ``size`` entries per column:

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import combine_quantile_summaries
    >>> X = da.random.default_rng(0).normal(size=(4000, 2), chunks=(1000, 2))
    >>> merge = dask.delayed(lambda a, b: compress_quantile_summary(
    ...     combine_quantile_summaries(a, b), 128))
    >>> parts = [dask.delayed(quantile_summary_chunk)(b, 128) for b in X.to_delayed().ravel()]
    >>> while len(parts) > 1:
    ...     parts = [merge(a, b) for a, b in zip(parts[::2], parts[1::2])]
    >>> total = parts[0].compute()
    >>> int(np.diff(total.offsets).max()) <= 128, total.n
    (True, array([4000, 4000]))
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import quantile_summary_chunk, summary_quantiles
    >>> s = quantile_summary_chunk(np.array([[1.0], [2.0], [4.0]]))
    >>> summary_quantiles(s, [0.5, 0.75])
    array([[2.],
           [3.]])

    The quantiles of a float32 Dask array, from its blocks' exact summaries:

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import combine_quantile_summaries
    >>> X = da.random.default_rng(0).random((2000, 3), dtype=np.float32, chunks=(500, 3))
    >>> parts = [dask.delayed(quantile_summary_chunk)(b) for b in X.to_delayed().ravel()]
    >>> total = dask.delayed(combine_quantile_summaries)(*parts).compute()
    >>> q = summary_quantiles(total, [0.3, 0.9], method="hazen", dtype=np.float32)
    >>> np.array_equal(q, np.quantile(X.compute(), [0.3, 0.9], axis=0, method="hazen"))
    True
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
