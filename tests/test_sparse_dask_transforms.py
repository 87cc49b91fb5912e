"""Scalers and PolynomialFeatures on Dask arrays of scipy.sparse blocks.

fit: one tree reduction of the sparse block statistics; transform: a lazy
Dask array of sparse blocks of the class and format the in-memory
transform returns.  Compared with fastml and scikit-learn in memory.
"""
import numpy as np
import pytest
from scipy import sparse

da = pytest.importorskip("dask.array")
skp = pytest.importorskip("sklearn.preprocessing")

from dask.array.utils import meta_from_array  # noqa: E402

from fastml.preprocessing import (  # noqa: E402
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

CLASSES = [sparse.csr_matrix, sparse.csr_array, sparse.csc_matrix, sparse.csc_array]
DTYPES = [np.float32, np.float64]
ROWS = 15


def make(rng, cls, dtype, n=90, d=6, nan=True):
    """Sparse rows with empty rows and a whole empty block (rows 15:30)."""
    A = rng.normal(size=(n, d)).round(1)
    A[rng.random((n, d)) < 0.6] = 0
    A[15:30] = 0
    A[50:53] = 0
    if nan:
        A[rng.random((n, d)) < 0.03] = np.nan
    return cls(A.astype(dtype))


def as_dask(X, rows=ROWS):
    return da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)


def _explode(block):
    raise AssertionError("a block was computed")


def untouchable(X):
    """A Dask array of sparse blocks that fails if any block is computed."""
    D = as_dask(X)
    return D.map_blocks(_explode, dtype=D.dtype, meta=meta_from_array(D))


def assert_same_sparse(got, expected):
    assert type(got) is type(expected)
    assert got.format == expected.format and got.dtype == expected.dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.toarray(), expected.toarray())


def tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_standard_scaler(rng, cls, dtype):
    X = make(rng, cls, dtype)
    mem = StandardScaler(with_mean=False).fit(X)
    ref = skp.StandardScaler(with_mean=False).fit(X)
    lazy = StandardScaler(with_mean=False).fit(as_dask(X))
    # one tree merge of block moments: equal within rounding ...
    np.testing.assert_allclose(lazy.mean_, mem.mean_, rtol=1e-12)
    np.testing.assert_allclose(lazy.var_, mem.var_, rtol=1e-12)
    np.testing.assert_allclose(lazy.var_, ref.var_, rtol=tol(dtype))
    np.testing.assert_array_equal(lazy.n_samples_seen_, mem.n_samples_seen_)
    # ... and bit for bit from a single block
    one = StandardScaler(with_mean=False).fit(as_dask(X, X.shape[0]))
    np.testing.assert_array_equal(one.scale_, mem.scale_)
    Xt = mem.transform(as_dask(X))
    assert isinstance(Xt, da.Array) and sparse.issparse(meta_from_array(Xt))
    expected = mem.transform(X)   # CSR, CSC becomes CSR as in scikit-learn
    assert_same_sparse(Xt.compute(), expected)
    assert type(meta_from_array(Xt)) is type(expected)
    assert_same_sparse(mem.inverse_transform(as_dask(expected)).compute(),
                       mem.inverse_transform(expected))


def test_standard_scaler_partial_fit_and_without_std(rng):
    X = make(rng, sparse.csr_matrix, np.float64)
    lazy = StandardScaler(with_mean=False)
    mem = StandardScaler(with_mean=False)
    for part in (X[:40], X[40:]):
        lazy.partial_fit(as_dask(part))
        mem.partial_fit(part)
    np.testing.assert_array_equal(lazy.n_samples_seen_, mem.n_samples_seen_)
    np.testing.assert_allclose(lazy.var_, mem.var_, rtol=1e-12)
    plain = StandardScaler(with_mean=False, with_std=False).fit(as_dask(X))
    assert_same_sparse(plain.transform(as_dask(X)).compute(), plain.transform(X))


def test_centering_refused_before_any_work(rng):
    X = make(rng, sparse.csc_array, np.float64)
    D = untouchable(X)
    with pytest.raises(ValueError, match="Cannot center sparse matrices: pass `with_mean"):
        StandardScaler().fit(D)
    dense_fit = StandardScaler().fit(X.toarray())
    with pytest.raises(ValueError, match="Cannot center sparse matrices"):
        dense_fit.transform(D)
    with pytest.raises(ValueError, match="Cannot uncenter sparse matrices"):
        dense_fit.inverse_transform(D)
    with pytest.raises(ValueError, match="use `with_centering=False`"):
        RobustScaler().fit(D)
    with pytest.raises(TypeError, match="MinMaxScaler does not support sparse input"):
        MinMaxScaler().fit(D)
    # transforms are lazy: building them computes nothing
    StandardScaler(with_mean=False).fit(X).transform(D)
    MaxAbsScaler().fit(X).transform(D)
    PolynomialFeatures().fit(np.ones((1, X.shape[1]))).transform(D)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("clip", [False, True])
def test_max_abs_scaler(rng, cls, dtype, clip):
    X = make(rng, cls, dtype)
    mem = MaxAbsScaler(clip=clip).fit(X)
    lazy = MaxAbsScaler(clip=clip).fit(as_dask(X))
    ref = skp.MaxAbsScaler(clip=clip).fit(X)
    for attribute in ("max_abs_", "scale_"):   # bit for bit: a max merges exactly
        np.testing.assert_array_equal(getattr(lazy, attribute), getattr(mem, attribute))
        np.testing.assert_array_equal(getattr(lazy, attribute), getattr(ref, attribute))
    assert lazy.max_abs_.dtype == mem.max_abs_.dtype == dtype
    unseen = cls(X * 3)   # values beyond the fitted maxima: clipped with clip=True
    Xt = lazy.transform(as_dask(unseen)).compute()
    assert_same_sparse(Xt, mem.transform(unseen))
    np.testing.assert_allclose(Xt.toarray(), ref.transform(unseen).toarray(), rtol=tol(dtype))
    assert_same_sparse(lazy.inverse_transform(as_dask(X)).compute(), mem.inverse_transform(X))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_robust_scaler(rng, cls, dtype):
    X = make(rng, cls, dtype)
    mem = RobustScaler(with_centering=False).fit(X)
    lazy = RobustScaler(with_centering=False).fit(as_dask(X))
    ref = skp.RobustScaler(with_centering=False).fit(X)
    # blocks of <= 4096 rows: exact summaries, so the same quantiles
    np.testing.assert_array_equal(lazy.quantile_rank_error_, 0)
    np.testing.assert_array_equal(lazy.scale_, mem.scale_)
    np.testing.assert_allclose(lazy.scale_, ref.scale_, rtol=tol(dtype))
    assert_same_sparse(lazy.transform(as_dask(X)).compute(), mem.transform(X))
    assert_same_sparse(lazy.inverse_transform(as_dask(X)).compute(), mem.inverse_transform(X))


@pytest.mark.parametrize("size", [2, 3, 7, 4096])
def test_sparse_summary_is_the_dense_summary(rng, size):
    from fastml._dask.reductions import _sparse_quantile_summary
    from fastml.kernels import quantile_summary_chunk

    for _ in range(30):
        n, d = int(rng.integers(0, 80)), int(rng.integers(1, 5))
        A = rng.normal(size=(n, d)).round(int(rng.integers(0, 3)))
        A[rng.random((n, d)) < rng.choice([0.0, 0.5, 0.95, 1.0])] = 0
        A[rng.random((n, d)) < 0.05] = np.nan
        A = np.abs(A) if rng.random() < 0.3 else A
        X = sparse.csr_matrix(A)
        expected, got = quantile_summary_chunk(A, size), _sparse_quantile_summary(X, size)
        for field in expected._fields:
            np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", [dict(degree=2), dict(degree=(1, 3), interaction_only=True,
                                                           include_bias=False)])
def test_polynomial_features(rng, cls, dtype, params):
    X = make(rng, cls, dtype, nan=False)
    mem = PolynomialFeatures(**params).fit(X)
    lazy = PolynomialFeatures(**params).fit(as_dask(X))
    assert lazy.n_output_features_ == mem.n_output_features_
    Xt = lazy.transform(as_dask(X))
    assert Xt.chunks == (as_dask(X).chunks[0], (mem.n_output_features_,))
    expected = mem.transform(X)
    assert type(meta_from_array(Xt)) is type(expected)
    got = Xt.compute()
    assert_same_sparse(got, expected)
    np.testing.assert_array_equal(
        got.toarray(), skp.PolynomialFeatures(**params).fit_transform(X).toarray())


def test_pandas_output_refused_for_sparse_blocks(rng):
    pytest.importorskip("dask.dataframe")
    X = make(rng, sparse.csr_matrix, np.float64)
    scaler = StandardScaler(with_mean=False).set_output(transform="pandas").fit(X)
    with pytest.raises(ValueError, match="outputs a Dask array of scipy sparse blocks"):
        scaler.transform(untouchable(X))


@pytest.mark.parametrize("Estimator, params", [
    (StandardScaler, dict(with_mean=False)),
    (MaxAbsScaler, dict(clip=True)),
    (RobustScaler, dict(with_centering=False)),
    (PolynomialFeatures, dict(degree=2)),
])
def test_on_the_cluster(client, rng, Estimator, params):
    """Fit and transform on worker processes equal the local scheduler."""
    X = make(rng, sparse.csr_array, np.float64, nan=Estimator is not PolynomialFeatures)
    lazy = Estimator(**params).fit(as_dask(X))
    mem = Estimator(**params).fit(X)
    for attribute in ("scale_", "n_output_features_"):
        if hasattr(mem, attribute):
            np.testing.assert_allclose(getattr(lazy, attribute), getattr(mem, attribute),
                                       rtol=1e-12)
    got = client.compute(mem.transform(as_dask(X))).result()
    assert_same_sparse(got, mem.transform(X))


def test_int_dtype_and_feature_chunks(rng):
    """Integer values and several feature chunks are taken as the in-memory
    estimators take them (float64, all of a row's features)."""
    A = (make(rng, sparse.csr_matrix, np.float64, nan=False).toarray() * 10).astype(np.int64)
    X = sparse.csc_matrix(A)
    D = da.from_array(X, chunks=(ROWS, 4), asarray=False)
    for estimator in (StandardScaler(with_mean=False), MaxAbsScaler(),
                      RobustScaler(with_centering=False), PolynomialFeatures()):
        expected = type(estimator)(**estimator.get_params()).fit_transform(X)
        got = estimator.fit_transform(D).compute()
        assert type(got) is type(expected) and got.format == expected.format
        assert got.dtype == expected.dtype == np.float64
        # StandardScaler: its merged moments are equal within rounding
        np.testing.assert_allclose(got.toarray(), expected.toarray(), rtol=1e-12)
