"""Binning and quantile mapping: the kernels against NumPy, the estimators
(KBinsDiscretizer, QuantileTransformer) against scikit-learn.

Everything here is compared bit for bit: the bin edges are exact quantiles
computed with NumPy's own definitions, and each output element is computed
with the same float64 operations in the same order as scikit-learn's.
"""
import warnings

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn import preprocessing as sk

from fastml import preprocessing as fp
from naive import layouts
from fastml.kernels import QUANTILE_METHODS, bin_chunk, quantile_transform_chunk

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def layout(X, kind):
    return layouts(np.ascontiguousarray(X))[kind]


def make_data(rng, dtype, n=2000, d=6, nan=False):
    X = np.column_stack([
        rng.normal(size=n),
        np.round(rng.normal(size=n)),           # heavy ties
        np.full(n, 3.0),                        # constant
        rng.standard_cauchy(size=n),            # heavy tails
        np.sort(rng.normal(size=n)),            # sorted
        np.sort(rng.exponential(size=n))[::-1],  # reversed
    ][:d])
    if nan:
        X[rng.random(X.shape) < 0.05] = np.nan
    return X.astype(dtype)


def assert_identical(got, expected):
    if sparse.issparse(expected):
        assert type(got) is type(expected) and got.dtype == expected.dtype
        assert got.shape == expected.shape
        assert_array_equal(got.indptr, expected.indptr)
        assert_array_equal(got.indices, expected.indices)
        assert_array_equal(got.data, expected.data)
        return
    assert isinstance(got, np.ndarray) and got.dtype == expected.dtype
    assert_array_equal(got, expected)


# ------------------------------------------------------------------ bin_chunk

@DTYPES
@pytest.mark.parametrize("kind", ["C", "F", "readonly", "strided"])
def test_bin_chunk_equals_searchsorted(rng, dtype, kind):
    X = layout(make_data(rng, dtype, n=3000, nan=True), kind)
    edges = [np.sort(rng.normal(size=k)) for k in (0, 1, 2, 255, 7, 40)]
    edges[1] = np.array([3.0])                                   # an edge equal to values
    edges[4] = np.sort(np.r_[rng.normal(size=5), 0.0, 0.0])      # repeated edges
    expected = np.stack([np.searchsorted(e, X[:, j], side="right")
                         for j, e in enumerate(edges)], axis=1)
    for threads in (1, 2):
        got = bin_chunk(X, edges, n_threads=threads)
        assert got.dtype == np.uint8
        assert_array_equal(got, expected)
    got = bin_chunk(X, edges, missing_bin=255, n_threads=2)
    assert_array_equal(got, np.where(np.isnan(X), 255, expected))
    for out_dtype in (np.float32, np.float64, np.uint16):
        got = bin_chunk(X, edges, dtype=out_dtype)
        assert got.dtype == out_dtype
        assert_array_equal(got, expected)


@pytest.mark.parametrize("n", [1, 7, 9, 23, 3001])
def test_bin_chunk_rows_beyond_the_lockstep_groups(rng, n):
    """The kernel searches groups of rows in lockstep; the rows left over
    (n not a multiple of the group) are binned one by one, the same way."""
    X = rng.normal(size=(n, 3))
    X[rng.random(X.shape) < 0.1] = np.nan
    edges = [np.sort(rng.normal(size=k)) for k in (0, 13, 254)]
    expected = np.stack([np.searchsorted(e, X[:, j], side="right")
                         for j, e in enumerate(edges)], axis=1)
    got = bin_chunk(X, edges, missing_bin=255, n_threads=2)
    assert_array_equal(got, np.where(np.isnan(X), 255, expected))


def test_bin_chunk_many_bins_use_uint16(rng):
    X = rng.normal(size=(5000, 2))
    edges = [np.sort(rng.normal(size=65535)), np.sort(rng.normal(size=256))]
    got = bin_chunk(X, edges, n_threads=2)
    assert got.dtype == np.uint16
    assert_array_equal(got[:, 0], np.searchsorted(edges[0], X[:, 0], side="right"))
    assert_array_equal(got[:, 1], np.searchsorted(edges[1], X[:, 1], side="right"))
    assert got[:, 1].max() == 256  # 257 bins do not fit in uint8


def test_bin_chunk_edge_shapes_and_errors(rng):
    assert bin_chunk(np.empty((0, 2)), [[0.0], [1.0]]).shape == (0, 2)
    assert bin_chunk(np.empty((3, 0)), []).shape == (3, 0)
    with pytest.raises(ValueError, match="one array per column"):
        bin_chunk(rng.normal(size=(4, 2)), [[0.0]])
    with pytest.raises(ValueError, match="ascending"):
        bin_chunk(rng.normal(size=(4, 1)), [[1.0, 0.0]])
    with pytest.raises(ValueError, match="ascending and free of NaN"):
        bin_chunk(rng.normal(size=(4, 1)), [[np.nan]])
    with pytest.raises(ValueError, match="at most 65535"):
        bin_chunk(rng.normal(size=(4, 1)), [np.arange(65536.0)])
    with pytest.raises(ValueError, match="do not fit in uint8"):
        bin_chunk(rng.normal(size=(4, 1)), [np.arange(300.0)], dtype=np.uint8)
    with pytest.raises(ValueError, match="dtype must be"):
        bin_chunk(rng.normal(size=(4, 1)), [[0.0]], dtype=np.int32)
    for missing_bin in (-1, 2.5, np.nan):
        with pytest.raises(ValueError, match="missing_bin"):
            bin_chunk(rng.normal(size=(4, 1)), [[0.0]], missing_bin=missing_bin)
    with pytest.raises(TypeError, match="complex"):
        bin_chunk(np.ones((2, 1), dtype=complex), [[0.0]])


# ------------------------------------------------------- quantile_transform_chunk

@DTYPES
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("kind", ["C", "F", "readonly", "strided"])
def test_quantile_transform_chunk_equals_sklearn(rng, dtype, distribution, kind):
    X = make_data(rng, dtype, n=3000, nan=True)
    ref = sk.QuantileTransformer(n_quantiles=200, output_distribution=distribution,
                                 subsample=None).fit(X)
    Xk = layout(X, kind)
    for threads in (1, 2):
        got = quantile_transform_chunk(Xk, ref.quantiles_, ref.references_,
                                       output_distribution=distribution, n_threads=threads)
        assert_identical(got, ref.transform(X))
        back = quantile_transform_chunk(got, ref.quantiles_, ref.references_,
                                        output_distribution=distribution, inverse=True,
                                        n_threads=threads)
        assert_identical(back, ref.inverse_transform(ref.transform(X)))


def test_quantile_transform_chunk_in_place_and_errors(rng):
    X = rng.normal(size=(50, 2))
    q = np.quantile(X, [0, 0.5, 1], axis=0)
    expected = quantile_transform_chunk(X, q, [0, 0.5, 1])
    out = quantile_transform_chunk(X, q, [0, 0.5, 1], out=X)
    assert out is X
    assert_array_equal(X, expected)
    # a column fitted without values maps everything to NaN
    q_nan = q.copy()
    q_nan[:, 1] = np.nan
    got = quantile_transform_chunk(rng.normal(size=(5, 2)), q_nan, [0, 0.5, 1])
    assert np.isnan(got[:, 1]).all() and not np.isnan(got[:, 0]).any()
    with pytest.raises(ValueError, match="shape"):
        quantile_transform_chunk(X, q, [0, 1])
    with pytest.raises(ValueError, match="ascending"):
        quantile_transform_chunk(X, q[::-1], [0, 0.5, 1])
    with pytest.raises(ValueError, match="output_distribution"):
        quantile_transform_chunk(X, q, [0, 0.5, 1], output_distribution="beta")


# ----------------------------------------------------------- KBinsDiscretizer

KBINS = [
    pytest.param({"strategy": "quantile"}, id="quantile"),
    pytest.param({"strategy": "uniform"}, id="uniform"),
] + [pytest.param({"strategy": "quantile", "quantile_method": m}, id=m)
     for m in QUANTILE_METHODS if m != "averaged_inverted_cdf"]


def assert_same_kbins(ours, ref):
    assert_array_equal(ours.n_bins_, ref.n_bins_)
    assert ours.bin_edges_.dtype == object and len(ours.bin_edges_) == len(ref.bin_edges_)
    for got, expected in zip(ours.bin_edges_, ref.bin_edges_):
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)


@DTYPES
@pytest.mark.parametrize("params", KBINS)
@pytest.mark.parametrize("encode", ["ordinal", "onehot", "onehot-dense"])
def test_kbins_equals_sklearn(rng, dtype, params, encode):
    X = make_data(rng, dtype)
    kw = dict(n_bins=9, encode=encode, subsample=None, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # constant feature, narrow bins
        ref = sk.KBinsDiscretizer(**kw).fit(X)
        ours = fp.KBinsDiscretizer(**kw).fit(X)
    assert_same_kbins(ours, ref)
    Q = make_data(rng, dtype, n=500) * 1.5           # also values beyond the edges
    out = ours.transform(Q)
    assert_identical(out, ref.transform(Q))
    assert_identical(ours.inverse_transform(out), ref.inverse_transform(ref.transform(Q)))
    assert_array_equal(ours.get_feature_names_out(), ref.get_feature_names_out())


@pytest.mark.parametrize("kind", ["F", "readonly", "strided"])
def test_kbins_layouts(rng, kind):
    X = make_data(rng, np.float64)
    kw = dict(n_bins=6, encode="ordinal", subsample=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = sk.KBinsDiscretizer(**kw).fit(X)
        ours = fp.KBinsDiscretizer(**kw).fit(layout(X, kind))
    assert_same_kbins(ours, ref)
    assert_identical(ours.transform(layout(X, kind)), ref.transform(X))


@DTYPES
@pytest.mark.parametrize("params", [
    pytest.param({"strategy": "quantile"}, id="averaged"),
    pytest.param({"strategy": "quantile", "quantile_method": "inverted_cdf"}, id="inverted"),
    pytest.param({"strategy": "uniform"}, id="uniform"),
])
def test_kbins_sample_weight_equals_sklearn(rng, dtype, params):
    X = make_data(rng, dtype, n=1500)
    w = rng.integers(0, 4, size=X.shape[0]).astype(float)
    w[:10] = 0
    kw = dict(n_bins=7, encode="ordinal", subsample=None, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = sk.KBinsDiscretizer(**kw).fit(X, sample_weight=w)
        ours = fp.KBinsDiscretizer(**kw).fit(X, sample_weight=w)
    assert_same_kbins(ours, ref)
    assert_identical(ours.transform(X), ref.transform(X))


def test_kbins_subsample_draws_the_same_rows(rng):
    X = rng.normal(size=(5000, 3))
    kw = dict(n_bins=10, encode="ordinal", subsample=1000, random_state=7)
    ref = sk.KBinsDiscretizer(**kw).fit(X)
    ours = fp.KBinsDiscretizer(**kw).fit(X)
    assert_same_kbins(ours, ref)


def test_kbins_many_bins_and_per_feature_bins(rng):
    X = rng.normal(size=(20_000, 3))
    kw = dict(n_bins=np.array([300, 2, 1000]), encode="onehot", subsample=None)
    ref = sk.KBinsDiscretizer(**kw).fit(X)
    ours = fp.KBinsDiscretizer(**kw).fit(X)
    assert_same_kbins(ours, ref)
    assert_identical(ours.transform(X), ref.transform(X))


@DTYPES
def test_kbins_output_dtype_parameter(rng, dtype):
    X = make_data(rng, np.float64)
    other = np.float32 if dtype == np.float64 else np.float64
    kw = dict(n_bins=5, encode="onehot-dense", dtype=other, subsample=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = sk.KBinsDiscretizer(**kw).fit(X.astype(dtype))
        ours = fp.KBinsDiscretizer(**kw).fit(X.astype(dtype))
    assert_identical(ours.transform(X.astype(dtype)), ref.transform(X.astype(dtype)))


def test_kbins_warnings_like_sklearn(rng):
    X = np.column_stack([np.full(100, 2.0), np.r_[np.zeros(95), np.arange(5.0)]])
    with pytest.warns(UserWarning, match="Feature 0 is constant"):
        fp.KBinsDiscretizer(n_bins=4, subsample=None).fit(X)
    with pytest.warns(UserWarning, match=r"Bins whose width are too small .* in feature 1 "):
        ours = fp.KBinsDiscretizer(n_bins=4, subsample=None).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = sk.KBinsDiscretizer(n_bins=4, subsample=None).fit(X)
    assert ours.n_bins_[0] == 1 and ours.n_bins_[1] < 4
    assert_same_kbins(ours, ref)


def test_kbins_errors_and_nothing_half_fitted(rng):
    X = rng.normal(size=(50, 2))
    for n_bins, match in [(1, r"n_bins must lie in \[2, 65536\]"),
                          (65537, r"n_bins must lie in \[2, 65536\]"),
                          (np.array([3, 1]), "feature 1 asks for 1 bins"),
                          (np.array([3, 3, 3]), "shape"), (2.5, "shape")]:
        with pytest.raises(ValueError, match=match):
            fp.KBinsDiscretizer(n_bins=n_bins).fit(X)
    with pytest.raises(NotImplementedError, match="kmeans"):
        fp.KBinsDiscretizer(strategy="kmeans").fit(X)
    with pytest.raises(ValueError, match="'encode' parameter of KBinsDiscretizer must be"):
        fp.KBinsDiscretizer(encode="binary").fit(X)
    with pytest.raises(ValueError, match="quantile_method should either"):
        fp.KBinsDiscretizer(quantile_method="linear").fit(X, sample_weight=np.ones(50))
    with pytest.raises(ValueError, match="at least one non-zero"):
        fp.KBinsDiscretizer().fit(X, sample_weight=np.zeros(50))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fp.KBinsDiscretizer().fit(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fp.KBinsDiscretizer().fit(bad)
    est = fp.KBinsDiscretizer(n_bins=3).fit(X)
    edges = est.bin_edges_
    with pytest.raises(ValueError, match="n_bins must lie"):
        est.set_params(n_bins=1).fit(X)
    assert est.bin_edges_ is edges
    with pytest.raises(ValueError, match="X has 3 features"):
        est.transform(rng.normal(size=(5, 3)))


def test_kbins_pandas_polars_and_set_output(rng):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X = rng.normal(size=(300, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    ours = fp.KBinsDiscretizer(n_bins=4, encode="ordinal").set_output(transform="pandas")
    out = ours.fit_transform(frame)
    ref = sk.KBinsDiscretizer(n_bins=4, encode="ordinal").set_output(transform="pandas")
    pd.testing.assert_frame_equal(out, ref.fit_transform(frame))
    ours = fp.KBinsDiscretizer(n_bins=3, encode="onehot-dense").set_output(transform="polars")
    out = ours.fit_transform(pl.from_pandas(frame))
    assert isinstance(out, pl.DataFrame) and out.columns[:2] == ["a_0.0", "a_1.0"]


def test_kbins_dask_transform(client, rng):
    X = make_data(rng, np.float32, n=1200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for encode in ("ordinal", "onehot-dense"):
            ref = sk.KBinsDiscretizer(n_bins=5, encode=encode, subsample=None).fit(X)
            ours = fp.KBinsDiscretizer(n_bins=5, encode=encode, subsample=None).fit(X)
            Xd = da.from_array(X, chunks=(250, 3))       # feature-chunked: rechunked
            out = ours.transform(Xd)
            assert isinstance(out, da.Array) and out.dtype == np.float32
            assert out.chunks[0] == Xd.chunks[0]
            assert_identical(client.compute(out).result(), ref.transform(X))
    with pytest.raises(ValueError, match="onehot-dense"):
        fp.KBinsDiscretizer(encode="onehot").fit(X).transform(da.from_array(X))


def within_rank_error(got, X, q, rank_error):
    """Each column of ``got`` (len(q), d) lies between the order statistics
    of X's non-NaN values ``rank_error`` (+1 for the method's rounding)
    positions either side of the linear definition's."""
    for j in range(X.shape[1]):
        column = np.sort(X[:, j][~np.isnan(X[:, j])])
        n = column.size
        position = (n - 1) * np.asarray(q)
        low = column[np.clip(np.floor(position).astype(int) - rank_error[j] - 1, 0, n - 1)]
        high = column[np.clip(np.ceil(position).astype(int) + rank_error[j] + 1, 0, n - 1)]
        assert np.all((low <= got[:, j]) & (got[:, j] <= high)), j


@DTYPES
@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
@pytest.mark.parametrize("quantile_method", ["averaged_inverted_cdf", "linear"])
def test_kbins_dask_fit_equals_numpy(client, rng, dtype, strategy, quantile_method):
    """Blocks of at most SUMMARY_SIZE rows: the summary is exact, so the
    edges equal scikit-learn's bit for bit."""
    X = make_data(rng, dtype, n=3000)
    params = dict(n_bins=[3, 7, 255, 2, 16, 40], encode="onehot-dense", strategy=strategy,
                  quantile_method=quantile_method, subsample=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = sk.KBinsDiscretizer(**params).fit(X)
        ours = fp.KBinsDiscretizer(**params).fit(da.from_array(X, chunks=(700, 4)))
    for got, expected in zip(ours.bin_edges_, ref.bin_edges_):
        assert_array_equal(got, expected)
    assert_array_equal(ours.n_bins_, ref.n_bins_)
    assert ours.n_features_in_ == 6
    if strategy == "quantile":
        assert_array_equal(ours.quantile_rank_error_, 0)
    else:
        assert not hasattr(ours, "quantile_rank_error_")
    out = ours.transform(da.from_array(X, chunks=(700, 6)))
    assert_identical(client.compute(out).result(), ref.transform(X))


def test_kbins_dask_fit_within_stated_error(client, rng):
    """Blocks larger than the summary: edges within quantile_rank_error_
    positions of the exact ones, and a small error."""
    X = make_data(rng, np.float64, n=60_000)[:, [0, 1, 3, 4, 5]]
    Xd = da.from_array(X, chunks=(15_000, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = fp.KBinsDiscretizer(n_bins=100, encode="ordinal", subsample=None).fit(Xd)
    error = ours.quantile_rank_error_
    assert error[1] == 0  # few distinct values (ties): kept exactly
    assert np.all(error[[0, 2, 3, 4]] > 0) and np.all(error <= 4 * 15_000 / (2 * 4095) + 4)
    for j, edges in enumerate(ours.bin_edges_):
        if len(edges) == 101:  # the ties column loses its narrow bins
            within_rank_error(edges[:, None], X[:, [j]], np.linspace(0, 1, 101), error[[j]])


def test_kbins_dask_fit_errors(client, rng):
    X = make_data(rng, np.float64, n=500)
    Xd = da.from_array(X, chunks=100)
    with pytest.raises(NotImplementedError, match="sample_weight"):
        fp.KBinsDiscretizer().fit(Xd, sample_weight=np.ones(500))
    for strategy in ("quantile", "uniform"):
        for bad, match in ((np.nan, "NaN"), (np.inf, "infinity")):
            Xb = X.copy()
            Xb[3, 4] = bad
            est = fp.KBinsDiscretizer(strategy=strategy)
            with pytest.raises(ValueError, match=match):
                est.fit(da.from_array(Xb, chunks=100))
            assert not hasattr(est, "bin_edges_")
    with pytest.raises(ValueError, match="n_bins must lie in"):
        fp.KBinsDiscretizer(n_bins=1).fit(Xd)


# --------------------------------------------------------- QuantileTransformer

@DTYPES
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("n_quantiles", [1000, 37, 1])
def test_quantile_transformer_equals_sklearn(rng, dtype, distribution, n_quantiles):
    X = make_data(rng, dtype, n=3000, nan=True)
    kw = dict(n_quantiles=n_quantiles, output_distribution=distribution, random_state=0)
    ref = sk.QuantileTransformer(**kw).fit(X)
    ours = fp.QuantileTransformer(**kw).fit(X)
    assert ours.n_quantiles_ == ref.n_quantiles_
    assert_identical(ours.references_, ref.references_)
    assert_identical(ours.quantiles_, ref.quantiles_)
    Q = make_data(rng, dtype, n=400, nan=True) * 1.5
    out = ours.transform(Q)
    assert_identical(out, ref.transform(Q))
    assert_identical(ours.inverse_transform(out), ref.inverse_transform(out))
    assert_array_equal(ours.get_feature_names_out(), ref.get_feature_names_out())


def test_quantile_transformer_subsample_and_layouts(rng):
    X = rng.normal(size=(30_000, 3))
    kw = dict(n_quantiles=500, subsample=5000, random_state=3)
    ref = sk.QuantileTransformer(**kw).fit(X)
    for kind in ("F", "readonly", "strided"):
        ours = fp.QuantileTransformer(**kw).fit(layout(X, kind))
        assert_identical(ours.quantiles_, ref.quantiles_)
        assert_identical(ours.transform(layout(X, kind)), ref.transform(X))


def test_quantile_transformer_copy_false_and_all_nan_column(rng):
    X = rng.normal(size=(200, 2))
    ours = fp.QuantileTransformer(n_quantiles=50, copy=False).fit(X)
    expected = sk.QuantileTransformer(n_quantiles=50).fit(X).transform(X)
    out = ours.transform(X)
    assert out is X
    assert_array_equal(X, expected)
    X = rng.normal(size=(200, 2))
    X[:, 1] = np.nan
    with pytest.warns(RuntimeWarning):
        ours = fp.QuantileTransformer(n_quantiles=50).fit(X)
    with pytest.warns(RuntimeWarning):
        ref = sk.QuantileTransformer(n_quantiles=50).fit(X)
    assert_identical(ours.quantiles_, ref.quantiles_)
    assert np.isnan(ours.transform(rng.normal(size=(4, 2)))[:, 1]).all()


def test_quantile_transformer_errors(rng):
    X = rng.normal(size=(100, 2))
    with pytest.raises(ValueError, match="cannot be greater than the number of samples"):
        fp.QuantileTransformer(n_quantiles=100, subsample=50).fit(X)
    with pytest.raises(ValueError, match=r"'n_quantiles' parameter of QuantileTransformer "
                                         r"must be an int in the range \[1, inf\)"):
        fp.QuantileTransformer(n_quantiles=0).fit(X)
    with pytest.raises(ValueError, match="output_distribution"):
        fp.QuantileTransformer(output_distribution="beta").fit(X)
    with pytest.warns(UserWarning, match="n_quantiles is set to n_samples"):
        assert fp.QuantileTransformer(n_quantiles=500).fit(X).n_quantiles_ == 100
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fp.QuantileTransformer(n_quantiles=10).fit(bad)
    est = fp.QuantileTransformer(n_quantiles=10).fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        est.transform(rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="X has 3 features"):
        est.inverse_transform(rng.normal(size=(5, 3)))


def test_quantile_transformer_dask_transform(client, rng):
    X = make_data(rng, np.float64, n=1500, nan=True)
    ref = sk.QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(X)
    ours = fp.QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(X)
    Xd = da.from_array(X, chunks=(400, 6))
    out = ours.transform(Xd)
    assert isinstance(out, da.Array) and out.dtype == np.float64
    assert_identical(client.compute(out).result(), ref.transform(X))
    back = ours.inverse_transform(out)
    assert_identical(client.compute(back).result(), ref.inverse_transform(ref.transform(X)))


@DTYPES
@pytest.mark.parametrize("n_quantiles", [1000, 37])
def test_quantile_transformer_dask_fit_equals_numpy(client, rng, dtype, n_quantiles):
    X = make_data(rng, dtype, n=3000, nan=True)
    ref = sk.QuantileTransformer(n_quantiles=n_quantiles, subsample=None).fit(X)
    ours = fp.QuantileTransformer(n_quantiles=n_quantiles).fit(da.from_array(X, chunks=800))
    assert_array_equal(ours.quantiles_, ref.quantiles_)
    assert_array_equal(ours.references_, ref.references_)
    assert_array_equal(ours.quantile_rank_error_, 0)
    out = ours.fit_transform(da.from_array(X, chunks=800))
    assert isinstance(out, da.Array) and out.dtype == dtype
    assert_identical(client.compute(out).result(), ref.transform(X))


def test_quantile_transformer_dask_fit_within_stated_error(client, rng):
    X = make_data(rng, np.float64, n=50_000, nan=True)
    ours = fp.QuantileTransformer(n_quantiles=500).fit(da.from_array(X, chunks=(10_000, 6)))
    error = ours.quantile_rank_error_
    assert np.all(error <= 5 * 10_000 / (2 * 4095) + 5)
    within_rank_error(ours.quantiles_, X, ours.references_, error)
    Xb = X.copy()
    Xb[7, 2] = -np.inf
    est = fp.QuantileTransformer()
    with pytest.raises(ValueError, match="infinity"):
        est.fit(da.from_array(Xb, chunks=10_000))
    assert not hasattr(est, "quantiles_")


def test_dask_quantile_fit_exactness_boundary(client, rng):
    """Nine blocks of 4096 rows: exact while the column has at most
    8 x 4096 distinct values (no merged summary is compressed), within the
    stated error beyond."""
    few = np.round(rng.normal(size=(9 * 4096, 1)) * 100)     # a few thousand values
    many = rng.normal(size=(9 * 4096, 1))                   # all distinct
    for X, exact in ((few, True), (many, False)):
        ours = fp.QuantileTransformer(n_quantiles=200).fit(da.from_array(X, chunks=4096))
        ref = sk.QuantileTransformer(n_quantiles=200, subsample=None).fit(X)
        if exact:
            assert_array_equal(ours.quantile_rank_error_, 0)
            assert_array_equal(ours.quantiles_, ref.quantiles_)
        else:
            assert ours.quantile_rank_error_[0] > 0
            within_rank_error(ours.quantiles_, X, ours.references_, ours.quantile_rank_error_)
