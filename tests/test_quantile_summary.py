"""The mergeable quantile summary of fastml.kernels against NumPy.

References: ``np.nanquantile`` for exact summaries (bit for bit), and the
sorted column itself for approximate ones: every position's answer must be
the value of a position within ``rank_error()`` of it, and that bound must
stay within the stated a-priori bounds.
"""
from functools import reduce

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_array_equal

from fastml import kernels
from fastml.kernels import (
    QUANTILE_METHODS,
    combine_quantile_summaries,
    compress_quantile_summary,
    quantile_summary_chunk,
    summary_quantiles,
)
from naive import layouts


def summarise(X, bounds, size):
    """The combined summary of the row blocks X[bounds[i]:bounds[i + 1]],
    merged left to right, and the summaries of the blocks."""
    parts = [quantile_summary_chunk(X[a:b], size) for a, b in zip(bounds[:-1], bounds[1:])]
    return reduce(combine_quantile_summaries, parts), parts


def actual_rank_error(X, summary):
    """(d,) worst distance, over all positions t of each sorted column,
    between t and the positions holding the value the summary gives for t."""
    worst = np.zeros(X.shape[1], dtype=np.int64)
    for j in range(X.shape[1]):
        column = np.sort(X[:, j][~np.isnan(X[:, j])])
        assert summary.n[j] == column.size
        if not column.size:
            continue
        values, rmin, rmax, count = summary.column(j)
        t = np.arange(column.size)
        answer = values[kernels.summaries._entries_for(rmin, rmax, count, t)]
        first = np.searchsorted(column, answer, "left")
        last = np.searchsorted(column, answer, "right") - 1
        worst[j] = np.max(np.maximum(np.maximum(first - t, t - last), 0))
    return worst


def chunk_bound(n, size):
    """The stated bound of one chunk summary."""
    return -(-(n - 1) // (size - 1)) // 2 if n > 1 else 0


def adversarial(kind, n, rng):
    if kind == "sorted":
        return np.arange(n, dtype=np.float64)
    if kind == "reversed":
        return np.arange(n, 0, -1, dtype=np.float64)
    if kind == "heavy ties":
        return rng.choice([0.0, 1.0, 2.0, 1e6], size=n, p=[0.7, 0.2, 0.09, 0.01])
    if kind == "heavy tails":
        return rng.standard_cauchy(n) ** 3
    if kind == "alternating extremes":
        x = np.arange(n, dtype=np.float64)
        return np.where(x % 2 == 0, -x, x)
    if kind == "one value":
        return np.full(n, 3.5)
    if kind == "sorted blocks":  # each chunk a narrow band, bands interleaved
        return (np.arange(n) % 97) * 1000.0 + np.arange(n) / n
    raise ValueError(kind)


KINDS = ["sorted", "reversed", "heavy ties", "heavy tails", "alternating extremes",
         "one value", "sorted blocks"]


# ------------------------------------------------------------------ exact summaries

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_exact_summary_equals_numpy(dtype, method):
    """Chunks with at most ``size`` values keep every value: combined, the
    summary answers exactly np.nanquantile, bit for bit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(dtype)
    X[:, 1] = np.round(X[:, 1])            # ties
    X[::3, 2] = np.nan                     # NaN pattern
    X[:, 3] = np.nan                       # no values
    summary, _ = summarise(X, [0, 50, 51, 200, 300], size=200)
    assert_array_equal(summary.rank_error(), 0)
    assert_array_equal(summary.n, np.sum(~np.isnan(X), axis=0))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        assert_array_equal(summary.extremes(), [np.nanmin(X, axis=0), np.nanmax(X, axis=0)])
    assert summary.n_rows == 300
    q = np.concatenate(([0.0, 1.0, 0.5], rng.uniform(size=40)))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanquantile(X, q, axis=0, method=method)
    assert_array_equal(summary_quantiles(summary, q, method=method, dtype=dtype), expected)


@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
def test_chunk_summary_layouts(layout):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(500, 3))
    A[rng.uniform(size=A.shape) < 0.1] = np.nan
    X = layouts(A)[layout]
    for size in (2, 7, 500):
        got = quantile_summary_chunk(X, size)
        ref = quantile_summary_chunk(np.ascontiguousarray(A), size)
        for field in ("values", "rmin", "rmax", "count", "offsets", "n"):
            assert_array_equal(getattr(got, field), getattr(ref, field))


def test_chunk_summary_ranks_are_exact():
    X = np.array([[3.0], [1.0], [1.0], [np.nan], [2.0], [1.0]])
    s = quantile_summary_chunk(X, size=10)
    assert_array_equal(s.values, [1.0, 2.0, 3.0])
    assert_array_equal(s.rmin, [0, 3, 4])
    assert_array_equal(s.rmax, [3, 4, 5])
    assert_array_equal(s.count, [3, 1, 1])
    assert_array_equal(s.n, [5])
    assert s.n_rows == 6


def test_summary_of_empty_chunk():
    s = quantile_summary_chunk(np.empty((0, 2)), size=4)
    assert_array_equal(s.n, [0, 0])
    assert_array_equal(s.offsets, [0, 0, 0])
    both = combine_quantile_summaries(s, quantile_summary_chunk(np.ones((3, 2)), size=4))
    assert_array_equal(summary_quantiles(both, [0.5]), [[1.0, 1.0]])
    assert np.all(np.isnan(summary_quantiles(s, [0.5])))


# ------------------------------------------------------------------ combine

def assert_same_summary(a, b):
    for field in ("values", "rmin", "rmax", "count", "offsets", "n"):
        assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.n_rows == b.n_rows


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), cuts=st.lists(st.floats(0, 1), min_size=2, max_size=2),
       size=st.integers(2, 40), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["normal", "ties", "nan"]))
def test_combine_is_associative_and_commutative(n, cuts, size, seed, kind):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    if kind == "ties":
        X = np.round(X)
    if kind == "nan":
        X[rng.uniform(size=X.shape) < 0.3] = np.nan
    i, j = sorted(int(c * n) for c in cuts)
    a, b, c = (quantile_summary_chunk(p, size) for p in (X[:i], X[i:j], X[j:]))
    left = combine_quantile_summaries(combine_quantile_summaries(a, b), c)
    right = combine_quantile_summaries(a, combine_quantile_summaries(b, c))
    assert_same_summary(left, right)
    assert_same_summary(combine_quantile_summaries(a, b), combine_quantile_summaries(b, a))
    assert_same_summary(combine_quantile_summaries(c, a, b), left)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), n_chunks=st.integers(1, 8), size=st.integers(2, 30),
       seed=st.integers(0, 2**32 - 1))
def test_error_bound_holds_for_any_split(n, n_chunks, size, seed):
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, 2)) * rng.choice([1, 10]), 1)
    bounds = np.unique(np.concatenate(([0, n], rng.integers(0, n + 1, n_chunks - 1))))
    summary, parts = summarise(X, bounds, size)
    for part, a, b in zip(parts, bounds[:-1], bounds[1:]):
        assert np.all(part.rank_error() <= chunk_bound(b - a, size))
    stated = summary.rank_error()
    assert np.all(stated <= sum(p.rank_error() for p in parts))
    assert np.all(actual_rank_error(X, summary) <= stated)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [2, 5, 64])
def test_error_bound_holds_on_adversarial_inputs(kind, size):
    rng = np.random.default_rng(2)
    n = 5000
    X = np.stack([adversarial(kind, n, rng), adversarial(kind, n, rng)[::-1]], axis=1)
    bounds = np.concatenate((np.arange(0, n, 617), [n]))
    summary, _ = summarise(X, bounds, size)
    stated = summary.rank_error()
    assert np.all(actual_rank_error(X, summary) <= stated)
    # the relative error of the chunks is kept: about 1 / (2 (size - 1))
    assert np.all(stated <= sum(chunk_bound(b - a, size)
                                for a, b in zip(bounds[:-1], bounds[1:])))
    # user-facing form: each quantile lies between the order statistics
    # rank_error() positions either side of NumPy's
    q = np.linspace(0, 1, 101)
    got = summary_quantiles(summary, q)
    position = (n - 1) * q
    for j in range(2):
        column = np.sort(X[:, j])
        low = column[np.clip(np.floor(position).astype(int) - stated[j], 0, n - 1)]
        high = column[np.clip(np.ceil(position).astype(int) + stated[j], 0, n - 1)]
        assert np.all((low <= got[:, j]) & (got[:, j] <= high))


@pytest.mark.parametrize("kind", KINDS)
def test_compress_keeps_a_true_bound(kind):
    rng = np.random.default_rng(3)
    n, size = 6000, 50
    X = adversarial(kind, n, rng)[:, None]
    summary, _ = summarise(X, np.arange(0, n + 1, 500), size=40)
    small = compress_quantile_summary(summary, size)
    assert np.diff(small.offsets)[0] <= size
    assert small.n_rows == n and small.n[0] == n
    assert small.rank_error()[0] <= summary.rank_error()[0] + (n - 1) / (2 * (size - 1)) + 1
    assert np.all(actual_rank_error(X, small) <= small.rank_error())
    # the smallest and largest values are kept
    assert summary_quantiles(small, [0.0, 1.0])[:, 0].tolist() == [X.min(), X.max()]


def test_compress_leaves_small_summaries_alone():
    s = quantile_summary_chunk(np.arange(10.0)[:, None], size=10)
    assert_same_summary(compress_quantile_summary(s, 10), s)


# ------------------------------------------------------------------ errors

def test_summary_errors():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="size must be an int >= 2"):
        quantile_summary_chunk(X, size=1)
    with pytest.raises(ValueError, match="size must be an int >= 2"):
        compress_quantile_summary(quantile_summary_chunk(X), size=2.5)
    with pytest.raises(ValueError, match="2 and 3 columns"):
        combine_quantile_summaries(quantile_summary_chunk(X), quantile_summary_chunk(np.ones((1, 3))))
    with pytest.raises(ValueError, match=r"quantiles must lie in \[0, 1\]"):
        summary_quantiles(quantile_summary_chunk(X), [1.5])
    with pytest.raises(ValueError, match="method must be one of"):
        summary_quantiles(quantile_summary_chunk(X), [0.5], method="lower")
    with pytest.raises(ValueError, match="2-D"):
        quantile_summary_chunk(np.ones(3))
