"""Mergeable quantile summaries of columns, with a stated rank error.

``quantile_summary_chunk`` reduces a block to a ``QuantileSummary``,
``combine_quantile_summaries`` merges two (associative),
``compress_quantile_summary`` bounds a summary's size, and
``summary_quantiles`` reads quantiles off it: the quantiles of a row-chunked
Dask array come from one tree reduction.
"""
import numbers
from typing import NamedTuple

import numpy as np

from fastml._validation import as_float_block, check_positive_int
from fastml.kernels.quantiles import _check_levels, _interpolated, _map_columns

__all__ = [
    "SUMMARY_SIZE",
    "QuantileSummary",
    "quantile_summary_chunk",
    "combine_quantile_summaries",
    "compress_quantile_summary",
    "summary_quantiles",
]


SUMMARY_SIZE = 4096


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

    _map_columns(column, X.shape[1], n_threads, X.shape[0])
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
        Entries of ``summary``, at most ``size`` per column.

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
    quantiles, method
        As in :func:`quantiles_chunk`, and so is the result.
    dtype : {np.float32, np.float64}, default=np.float64
        The data's dtype: interpolation is done as NumPy does for it.

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
