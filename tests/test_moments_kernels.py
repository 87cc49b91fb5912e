"""fastml.kernels.moments_chunk and combine_moments against NumPy.

The reference is NumPy's two-pass statistics in float64 over the non-NaN
values of each column (``naive_moments``).  Tolerances: mean, min, max and
count to 1e-12 relative (min and max exactly); M2 to 1e-9 relative, since
it is a sum of squared deviations whose rounding depends on the summation
order.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from naive import layouts
from fastml.kernels import (QUANTILE_METHODS, Moments, combine_moments, max_abs_chunk,
                            moments_chunk)
from naive import naive_moments




def assert_moments(got, ref):
    assert isinstance(got, Moments)
    for field in ("count", "mean", "m2", "min", "max"):
        assert getattr(got, field).dtype == np.float64
    assert_allclose(got.count, ref.count, rtol=1e-12)
    assert_allclose(got.mean, ref.mean, rtol=1e-12, atol=1e-300)
    assert_allclose(got.m2, ref.m2, rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(ref.mean), initial=1))
    assert_array_equal(got.min, ref.min)
    assert_array_equal(got.max, ref.max)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
def test_matches_numpy(rng, dtype, layout):
    X = rng.normal(3.0, 2.0, size=(3000, 7)).astype(dtype)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 4] = np.nan            # an all-NaN column
    X[:, 5] = 2.5               # a constant column
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "readonly":
        X.flags.writeable = False
    elif layout == "strided":
        X = np.repeat(X, 2, axis=0)[::2]
    got = moments_chunk(X, n_threads=2)
    assert_moments(got, naive_moments(X))
    assert got.count[4] == 0 and np.isnan(got.mean[4]) and np.isnan(got.max_abs[4])
    assert got.m2[5] == 0.0 and got.var()[5] == 0.0


@pytest.mark.parametrize("shape", [(0, 3), (1, 3), (5, 1), (1025, 2), (2048, 3)])
def test_edge_shapes(rng, shape):
    X = rng.normal(size=shape)
    got = moments_chunk(X)
    assert got.mean.shape == (shape[1],)
    assert_moments(got, naive_moments(X))


def test_sample_weight(rng):
    X = rng.normal(size=(2500, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    w = rng.uniform(0, 3, size=2500)
    assert_moments(moments_chunk(X, sample_weight=w), naive_moments(X, w))
    # integer weights are repetitions (0: the row is left out, min/max included)
    reps = rng.integers(0, 4, size=2500)
    assert_moments(moments_chunk(X, sample_weight=reps),
                   naive_moments(np.repeat(X, reps, axis=0)))


def test_large_mean_is_stable():
    # one-pass sums of squares lose every digit here; two passes do not
    rng = np.random.default_rng(1)
    X = 1e9 + rng.normal(size=(10_000, 3))
    got = moments_chunk(X)
    assert_allclose(got.var(), X.var(axis=0), rtol=1e-6)
    halves = combine_moments(moments_chunk(X[:3333]), moments_chunk(X[3333:]))
    assert_allclose(halves.var(), X.var(axis=0), rtol=1e-6)


def test_thread_count_does_not_change_the_result(rng):
    X = rng.normal(size=(10_000, 5))
    one, two = moments_chunk(X, n_threads=1), moments_chunk(X, n_threads=2)
    for a, b in zip(one, two):
        assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_any_split_combines_to_the_whole(sizes, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(50.0, 3.0, size=(sum(sizes), 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    bounds = np.cumsum([0] + sizes)
    parts = [moments_chunk(X[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    # left fold and right fold: the merge is associative up to rounding
    left = parts[0]
    for part in parts[1:]:
        left = combine_moments(left, part)
    right = parts[-1]
    for part in parts[-2::-1]:
        right = combine_moments(part, right)
    whole = naive_moments(X)
    assert_moments(left, whole)
    assert_moments(right, whole)


def test_errors(rng):
    X = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(10,\)"):
        moments_chunk(X, sample_weight=np.ones(9))
    with pytest.raises(ValueError, match="finite and non-negative"):
        moments_chunk(X, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="2-D"):
        moments_chunk(np.ones(5))
    with pytest.raises(ValueError, match="same columns"):
        combine_moments(moments_chunk(X), moments_chunk(X[:, :1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unweighted_path_equals_weights_of_one_bit_for_bit(rng, dtype):
    """The vectorised unweighted kernel and the weighted one add the same
    terms in the same order, with no fused multiply-add in either."""
    X = rng.normal(3.0, 2.0, size=(5000, 7)).astype(dtype)
    X[rng.random(X.shape) < 0.05] = np.nan
    plain, weighted = moments_chunk(X), moments_chunk(X, sample_weight=np.ones(5000))
    for field in Moments._fields:
        assert_array_equal(getattr(plain, field), getattr(weighted, field), err_msg=field)


def test_without_deviations(rng):
    X = rng.normal(size=(3000, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    full, quick = moments_chunk(X), moments_chunk(X, deviations=False)
    for field in ("count", "mean", "min", "max"):
        assert_array_equal(getattr(quick, field), getattr(full, field))
    assert (quick.m2 == 0).all() and (full.m2 > 0).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
@pytest.mark.parametrize("n", [2, 1023, 3000])
def test_max_abs_matches_numpy(rng, dtype, layout, n):
    X = rng.normal(-1.0, 5.0, size=(n, 5)).astype(dtype)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 3] = np.nan            # an all-NaN column
    X[:, 4] = -2.5              # a constant negative column
    X = layouts(X)[layout]
    got = max_abs_chunk(X, n_threads=2)
    assert got.dtype == np.float64 and got.shape == (5,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        expected = np.nanmax(np.abs(X.astype(np.float64)), axis=0, initial=-np.inf)
    expected[np.isneginf(expected)] = np.nan
    assert_array_equal(got, expected)
    assert_array_equal(got, moments_chunk(X).max_abs)
    assert_array_equal(max_abs_chunk(X, n_threads=1), got)


def test_max_abs_edge_shapes(rng):
    assert_array_equal(max_abs_chunk(np.empty((0, 3))), [np.nan] * 3)
    assert_array_equal(max_abs_chunk(np.array([[-4.0, 0.0]])), [4.0, 0.0])
    assert max_abs_chunk(np.empty((5, 0))).shape == (0,)


def test_max_abs_keeps_infinity(rng):
    X = rng.normal(size=(50, 2))
    X[7, 1] = -np.inf
    assert_array_equal(np.isinf(max_abs_chunk(X)), [False, True])


# ---------------------------------------------------------------- apply kernels

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
def test_apply_kernels_match_numpy(rng, dtype, layout):
    from fastml.kernels import affine_chunk, center_scale_chunk

    X = rng.normal(size=(500, 5)).astype(dtype)
    X[3, 1] = np.nan
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "readonly":
        X.flags.writeable = False
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    a, b = rng.normal(size=5), rng.uniform(0.5, 2.0, size=5)
    X64 = X.astype(np.float64)
    got = center_scale_chunk(X, a, b, n_threads=2)
    assert got.dtype == dtype and got.flags.c_contiguous
    assert_array_equal(got, ((X64 - a) / b).astype(dtype))   # float64, rounded once
    got = affine_chunk(X, b, a, n_threads=2)
    assert_allclose(got, (X64 * b + a).astype(dtype), rtol=np.finfo(dtype).eps, atol=0)
    clipped = affine_chunk(X, b, a, clip=(-0.5, 0.5))
    expected = np.clip(X64 * b + a, -0.5, 0.5).astype(dtype)
    assert_allclose(clipped, expected, rtol=np.finfo(dtype).eps)
    assert np.isnan(clipped[3, 1])


def test_apply_kernels_in_place_and_errors(rng):
    from fastml.kernels import affine_chunk, center_scale_chunk

    X = rng.normal(size=(50, 3))
    expected = (X - 1.0) / 2.0
    out = center_scale_chunk(X, np.ones(3), np.full(3, 2.0), out=X)
    assert out is X
    assert_array_equal(X, expected)
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\)"):
        center_scale_chunk(X, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="out must be a writeable C-contiguous"):
        affine_chunk(X, np.ones(3), np.ones(3), out=np.empty((50, 3), np.float32))
    assert center_scale_chunk(np.zeros((0, 3)), np.ones(3), np.ones(3)).shape == (0, 3)


# ---------------------------------------------------------------- exact quantiles

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 1001])
@pytest.mark.parametrize("layout", ["C", "F", "readonly"])
def test_quantiles_equal_numpy_bit_for_bit(rng, dtype, n, layout):
    from fastml.kernels import quantiles_chunk

    X = rng.normal(size=(n, 5)).astype(dtype)
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 4] = np.nan                            # no values: NaN
    if n > 3:
        X[: n // 2, 3] = 1.5                    # heavy ties
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "readonly":
        X.flags.writeable = False
    q = np.array([0.0, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0])
    for method in QUANTILE_METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN column
            expected = np.nanquantile(X, q, axis=0, method=method)
        for threads in (1, 2):
            got = quantiles_chunk(X, q, method=method, n_threads=threads)
            assert got.dtype == np.float64 and got.shape == (7, 5)
            assert_array_equal(got, expected, err_msg=method)


def selection_columns(rng, n, dtype):
    """Columns that stress the bucketed selection of quantiles_chunk."""
    x = np.arange(n, dtype=np.float64)
    columns = [
        rng.normal(size=n),                                   # the usual case
        rng.standard_cauchy(size=n) ** 3,                     # heavy tails
        np.round(rng.normal(size=n)),                         # heavy ties
        np.where(rng.random(n) < 0.9, 7.0, rng.normal(size=n)),  # one value dominates
        x,                                                    # sorted
        x[::-1].copy(),                                       # reversed
        np.where(x % 2 == 0, -x, x),                          # alternating extremes
        np.full(n, -2.5),                                     # constant
        np.where(x % 7 == 0, np.nan, rng.uniform(-1, 1, n)),  # patterned NaN
        np.concatenate(([-1e308, 1e308], rng.normal(size=n - 2))),  # range beyond float64
        np.concatenate(([-np.inf, np.inf], rng.normal(size=n - 2))),
        np.where(rng.random(n) < 0.5, 0.0, -0.0) * rng.integers(0, 2, n),  # signed zeros
    ]
    return np.column_stack(columns).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [16_385, 50_000])
def test_quantiles_by_selection_equal_numpy(rng, dtype, n):
    """Columns past SELECT_SORT_BELOW go through the bucketed selection."""
    from fastml.kernels.quantiles import SELECT_SORT_BELOW, quantiles_chunk

    assert n > SELECT_SORT_BELOW
    X = selection_columns(rng, n, dtype)
    levels = [np.array([0.5]), np.array([0.0, 0.25, 0.5, 0.75, 1.0]), np.linspace(0, 1, 256),
              np.linspace(0, 1, 1000), np.array([1e-6, 0.999999])]
    for q in levels:
        for method in ("linear", "averaged_inverted_cdf", "inverted_cdf", "hazen"):
            with np.errstate(invalid="ignore"):  # inf - inf in NumPy's interpolation
                expected = np.nanquantile(X, q, axis=0, method=method)
                got = quantiles_chunk(X, q, method=method, n_threads=2)
            assert_array_equal(got, expected, err_msg=f"{method} {len(q)}")


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["normal", "ties", "tails", "nan"]),
       levels=st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_selection_recursion_equals_numpy(n, seed, kind, levels):
    """With tiny thresholds every branch of _select runs on small inputs:
    windows, overflow buckets, recursion, fallbacks."""
    from fastml.kernels import quantiles as kernels

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1))
    if kind == "ties":
        x = np.round(x)
    elif kind == "tails":
        x = rng.standard_cauchy(size=(n, 1)) ** 3
    elif kind == "nan":
        x[rng.random(x.shape) < 0.3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN column
        expected = np.nanquantile(x, levels, axis=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "SELECT_SORT_BELOW", 4)
        patch.setattr(kernels, "SELECT_BUCKETS", 8)
        patch.setattr(kernels, "SELECT_SAMPLE", 16)
        assert_array_equal(kernels.quantiles_chunk(x, levels), expected)


def test_quantile_errors(rng):
    from fastml.kernels import quantiles_chunk

    with pytest.raises(ValueError, match="method must be one of"):
        quantiles_chunk(rng.normal(size=(5, 2)), [0.5], method="nearest-ish")
    with pytest.raises(ValueError, match=r"quantiles must lie in \[0, 1\]"):
        quantiles_chunk(rng.normal(size=(5, 2)), [0.5, 50])
