"""fastml.preprocessing scalers against scikit-learn's, on NumPy, pandas,
polars and Dask input.

Fitted attributes and outputs agree to rounding: rtol 1e-12 in float64,
1e-6 in float32 (fastml computes each element in float64 and rounds once;
scikit-learn rounds after each float32 operation).  NaN positions must be
identical.
"""
import warnings

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import preprocessing as sk

from fastml import preprocessing as fp

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}

PAIRS = [
    pytest.param(fp.StandardScaler, sk.StandardScaler, {}, id="standard"),
    pytest.param(fp.StandardScaler, sk.StandardScaler, {"with_mean": False}, id="standard-no-mean"),
    pytest.param(fp.StandardScaler, sk.StandardScaler, {"with_std": False}, id="standard-no-std"),
    pytest.param(fp.StandardScaler, sk.StandardScaler, {"with_mean": False, "with_std": False},
                 id="standard-neither"),
    pytest.param(fp.MinMaxScaler, sk.MinMaxScaler, {}, id="minmax"),
    pytest.param(fp.MinMaxScaler, sk.MinMaxScaler, {"feature_range": (-2, 3), "clip": True},
                 id="minmax-clip"),
    pytest.param(fp.MaxAbsScaler, sk.MaxAbsScaler, {}, id="maxabs"),
]
ROBUST = [
    pytest.param({}, id="robust"),
    pytest.param({"quantile_range": (10.0, 90.0), "unit_variance": True}, id="robust-unit-var"),
    pytest.param({"with_centering": False}, id="robust-no-centering"),
    pytest.param({"with_scaling": False}, id="robust-no-scaling"),
]
ATTRIBUTES = ("center_", "mean_", "var_", "scale_", "n_samples_seen_", "min_", "data_min_", "data_max_",
              "data_range_", "max_abs_")


def make_data(rng, dtype, n=700, d=6):
    X = rng.normal(5.0, 3.0, size=(n, d))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 2] = 7.0          # constant
    X[:, 3] *= 1e-20       # tiny scale
    return X.astype(dtype)


def assert_same_fit(ours, ref, dtype):
    rtol = RTOL[np.dtype(dtype)]
    for name in ATTRIBUTES:
        if not hasattr(ref, name):
            continue
        expected, got = getattr(ref, name), getattr(ours, name)
        if expected is None:
            assert got is None, name
            continue
        assert np.asarray(got).dtype == np.asarray(expected).dtype, name
        # a constant feature's variance is rounding noise of mean^2 in both
        atol = 1e-28 * np.nanmax(ref.mean_ ** 2) if name == "var_" else 0
        assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=name)


def assert_same_output(got, expected, dtype):
    assert got.dtype == expected.dtype == dtype
    assert_array_equal(np.isnan(got), np.isnan(expected))
    # relative to each column's magnitude: a value near 0 may differ by an ulp of it
    scale = np.nanmax(np.abs(expected), axis=0, initial=np.finfo(dtype).tiny)
    assert_allclose(got / scale, expected / scale, rtol=RTOL[np.dtype(dtype)],
                    atol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("ours_cls, ref_cls, params", PAIRS)
@pytest.mark.parametrize("layout", ["C", "F", "readonly"])
def test_matches_sklearn(rng, dtype, ours_cls, ref_cls, params, layout):
    X = make_data(rng, dtype)
    Q = make_data(rng, dtype, n=50) * 1.5   # unseen data, partly out of range
    if layout == "F":
        X, Q = np.asfortranarray(X), np.asfortranarray(Q)
    elif layout == "readonly":
        X.flags.writeable = Q.flags.writeable = False
    ours, ref = ours_cls(**params), ref_cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same_output(ours.fit_transform(X), ref.fit_transform(X), dtype)
    assert_same_fit(ours, ref, dtype)
    assert_same_output(ours.transform(Q), ref.transform(Q), dtype)
    assert_same_output(ours.inverse_transform(Q), ref.inverse_transform(Q), dtype)


@pytest.mark.parametrize("ours_cls, ref_cls, params", PAIRS)
def test_partial_fit_matches_sklearn(rng, ours_cls, ref_cls, params):
    X = make_data(rng, np.float64)
    ours, ref = ours_cls(**params), ref_cls(**params)
    for part in np.array_split(X, 5):
        ours.partial_fit(part)
        ref.partial_fit(part)
    assert_same_fit(ours, ref, np.float64)
    assert_same_output(ours.transform(X), ref.transform(X), np.float64)


def test_sample_weight_matches_sklearn(rng):
    X = make_data(rng, np.float64)
    w = rng.uniform(0, 2, X.shape[0])
    ours = fp.StandardScaler().fit(X, sample_weight=w)
    ref = sk.StandardScaler().fit(X, sample_weight=w)
    assert_same_fit(ours, ref, np.float64)
    with pytest.raises(ValueError, match="at least one non-zero"):
        fp.StandardScaler().fit(X, sample_weight=np.zeros(X.shape[0]))


def test_copy_false_transforms_in_place(rng):
    X = rng.normal(size=(100, 3))
    expected = sk.StandardScaler().fit_transform(X)
    scaler = fp.StandardScaler(copy=False).fit(X)
    out = scaler.transform(X)
    assert out is X
    assert_allclose(X, expected, rtol=1e-12)


def test_feature_names_and_set_output(rng):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X = make_data(rng, np.float64)
    columns = [f"c{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    scaler = fp.StandardScaler().set_output(transform="pandas").fit(frame)
    out = scaler.transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == columns
    assert_array_equal(scaler.get_feature_names_out(), columns)
    out = fp.MinMaxScaler().set_output(transform="polars").fit_transform(
        pl.DataFrame(X, schema=columns))
    assert isinstance(out, pl.DataFrame) and out.columns == columns
    with pytest.raises(ValueError, match="feature names"):
        scaler.transform(frame.rename(columns={"c0": "other"}))


def test_errors_and_nothing_half_fitted(rng):
    X = make_data(rng, np.float64)
    scaler = fp.StandardScaler().fit(X)
    before = {k: np.copy(v) for k, v in scaler.__dict__.items() if isinstance(v, np.ndarray)}
    with pytest.raises(ValueError, match="X has 3 features, but StandardScaler is expecting 6"):
        scaler.transform(X[:, :3])
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        scaler.partial_fit(bad)
    for k, v in before.items():
        assert_array_equal(scaler.__dict__[k], v)
    with pytest.raises(ValueError, match="Minimum of desired feature range must be smaller"):
        fp.MinMaxScaler(feature_range=(1, 0)).fit(X)
    with pytest.raises(ValueError, match="0 sample"):
        fp.MaxAbsScaler().fit(np.zeros((0, 3)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("params", ROBUST)
def test_robust_scaler_matches_sklearn(rng, dtype, params):
    X = make_data(rng, dtype)
    X[:5, 0] = 1e6                       # outliers
    Q = make_data(rng, dtype, n=40)
    ours, ref = fp.RobustScaler(**params), sk.RobustScaler(**params)
    assert_same_output(ours.fit_transform(X), ref.fit_transform(X), dtype)
    # the quantiles are scikit-learn's bit for bit
    for name in ("center_", "scale_"):
        expected = getattr(ref, name)
        if expected is None:
            assert getattr(ours, name) is None
        else:
            assert getattr(ours, name).dtype == expected.dtype
            assert_array_equal(getattr(ours, name), expected)
    assert_same_output(ours.transform(Q), ref.transform(Q), dtype)
    assert_same_output(ours.inverse_transform(Q), ref.inverse_transform(Q), dtype)


def test_robust_scaler_errors(client, rng):
    X = make_data(rng, np.float64)
    with pytest.raises(ValueError, match="Invalid quantile range"):
        fp.RobustScaler(quantile_range=(80, 20)).fit(X)
    bad = X.copy()
    bad[1, 1] = -np.inf
    with pytest.raises(ValueError, match="infinity"):
        fp.RobustScaler().fit(bad)
    with pytest.raises(ValueError, match="infinity"):
        fp.RobustScaler().fit(da.from_array(bad, chunks=100))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("params", [{}, {"quantile_range": (10.0, 95.0), "unit_variance": True},
                                    {"with_centering": False}])
def test_robust_scaler_dask_fit(client, rng, dtype, params):
    """Exact (equal to scikit-learn) with blocks of at most SUMMARY_SIZE
    rows; within quantile_rank_error_ positions with larger blocks."""
    X = make_data(rng, dtype, n=3000)
    X[::11, 2] = np.nan
    ref = sk.RobustScaler(**params).fit(X)
    ours = fp.RobustScaler(**params).fit(da.from_array(X, chunks=(500, 2)))
    assert_array_equal(ours.quantile_rank_error_, 0)
    assert_same_fit(ours, ref, dtype)
    out = ours.transform(da.from_array(X, chunks=500))
    assert_same_output(client.compute(out).result(), ref.transform(X), dtype)

    big = np.repeat(X, 5, axis=0) + rng.normal(scale=1e-3, size=(15_000, X.shape[1]))
    ours = fp.RobustScaler().fit(da.from_array(big, chunks=(7_500, -1)))
    error = ours.quantile_rank_error_
    assert np.all((0 < error) & (error <= 2 * 7_500 / (2 * 4095) + 2))
    for j in range(big.shape[1]):
        column = np.sort(big[:, j][~np.isnan(big[:, j])])
        middle = (column.size - 1) // 2
        assert column[middle - error[j] - 1] <= ours.center_[j] <= column[middle + error[j] + 1]


# ------------------------------------------------------------------ Dask

@pytest.mark.parametrize("ours_cls, ref_cls, params", PAIRS)
def test_dask_equals_numpy(client, rng, ours_cls, ref_cls, params):
    X = make_data(rng, np.float64, n=1000)
    Xd = da.from_array(X, chunks=(130, 3))      # feature-chunked: rechunked
    ours = ours_cls(**params).fit(Xd)
    ref = ref_cls(**params).fit(X)
    assert_same_fit(ours, ref, np.float64)
    out = ours.transform(Xd)
    assert isinstance(out, da.Array) and out.dtype == np.float64
    assert out.chunks[0] == Xd.chunks[0] and len(out.chunks[1]) == 1
    assert_same_output(client.compute(out).result(), ref.transform(X), np.float64)


def test_dask_float32_stays_float32(client, rng):
    X = make_data(rng, np.float32, n=500)
    out = fp.StandardScaler().fit(da.from_array(X, chunks=100)).transform(
        da.from_array(X, chunks=100))
    assert out.dtype == np.float32 and out._meta.dtype == np.float32
    assert_same_output(client.compute(out).result(), sk.StandardScaler().fit_transform(X),
                       np.float32)
