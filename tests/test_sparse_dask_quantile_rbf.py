"""QuantileTransformer and RBFSampler on Dask arrays of scipy.sparse blocks.

fit: one tree reduction (quantile summaries / column moments of the sparse
blocks); transform: lazy, each block mapped by the in-memory sparse
function (CSC blocks for QuantileTransformer, dense for RBFSampler).
Compared with fastml and scikit-learn in memory.
"""
import numpy as np
import pytest
from scipy import sparse

da = pytest.importorskip("dask.array")
skp = pytest.importorskip("sklearn.preprocessing")
ska = pytest.importorskip("sklearn.kernel_approximation")

from dask.array.utils import meta_from_array  # noqa: E402
from fastml.kernel_approximation import RBFSampler  # noqa: E402
from fastml.preprocessing import QuantileTransformer  # noqa: E402
from test_sparse_dask_transforms import as_dask, assert_same_sparse, untouchable  # noqa: E402

CLASSES = [sparse.csr_matrix, sparse.csr_array, sparse.csc_matrix, sparse.csc_array]
DTYPES = [np.float32, np.float64]


def make(rng, cls, dtype, n=90, d=6, negative=False):
    """Sparse rows with empty rows, a whole empty block and an empty column."""
    A = rng.normal(size=(n, d)).round(1)
    if not negative:
        A = np.abs(A)
    A[rng.random((n, d)) < 0.6] = 0
    A[15:30] = 0
    A[:, 4] = 0
    return cls(A.astype(dtype))


def csc_class(cls):
    return sparse.csc_array if issubclass(cls, sparse.sparray) else sparse.csc_matrix


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_quantile_dask_sparse_as_in_memory(cls, dtype, ignore, distribution):
    rng = np.random.default_rng(0)
    X = make(rng, cls, dtype, negative=ignore)
    kw = dict(n_quantiles=20, subsample=None, ignore_implicit_zeros=ignore,
              output_distribution=distribution)
    mem = QuantileTransformer(**kw).fit(X)
    ref = skp.QuantileTransformer(**kw).fit(X)
    lazy = QuantileTransformer(**kw).fit(as_dask(X))
    np.testing.assert_array_equal(lazy.quantile_rank_error_, 0)
    np.testing.assert_array_equal(lazy.quantiles_, mem.quantiles_)
    np.testing.assert_allclose(lazy.quantiles_, ref.quantiles_, rtol=1e-6)
    out = lazy.transform(as_dask(X))
    assert meta_from_array(out).format == "csc" and out.dtype == X.dtype
    got = out.compute()
    expected = mem.transform(X)
    assert type(got) is csc_class(cls) is type(expected)
    assert_same_sparse(got, expected)
    np.testing.assert_allclose(got.toarray(), ref.transform(X).toarray(), rtol=1e-5,
                               atol=1e-6)
    back = lazy.inverse_transform(as_dask(expected)).compute()
    assert_same_sparse(back, mem.inverse_transform(expected))


def test_quantile_dask_sparse_transform_lazy_and_input_unchanged():
    rng = np.random.default_rng(1)
    X = make(rng, sparse.csc_matrix, np.float64)
    before = X.copy()
    qt = QuantileTransformer(n_quantiles=10).fit(X)
    out = qt.transform(untouchable(X))          # nothing computed
    assert out.shape == X.shape
    qt.transform(as_dask(X)).compute()
    np.testing.assert_array_equal(X.toarray(), before.toarray())  # blocks were copies


def test_quantile_dask_sparse_negative_refused():
    rng = np.random.default_rng(2)
    X = make(rng, sparse.csr_matrix, np.float64, negative=True)
    with pytest.raises(ValueError, match="non-negative sparse"):
        QuantileTransformer(n_quantiles=10).fit(as_dask(X))
    qt = QuantileTransformer(n_quantiles=10).fit(abs(X))
    with pytest.raises(ValueError, match="non-negative sparse"):
        qt.transform(as_dask(X)).compute()


def test_quantile_dask_sparse_large_blocks_rank_error():
    rng = np.random.default_rng(3)
    A = rng.random((12000, 2))
    A[A < 0.3] = 0
    X = sparse.csr_matrix(A)
    lazy = QuantileTransformer(n_quantiles=50).fit(as_dask(X, rows=6000))
    mem = QuantileTransformer(n_quantiles=50, subsample=None).fit(X)
    err = lazy.quantile_rank_error_
    assert np.all(err > 0)
    for j in range(2):
        column = np.sort(A[:, j])
        lo = np.searchsorted(column, lazy.quantiles_[:, j], "left")
        hi = np.searchsorted(column, lazy.quantiles_[:, j], "right")
        pos = mem.references_ * (column.size - 1)
        assert np.all(lo - 1 <= pos + err[j]) and np.all(hi >= pos - err[j])


def test_quantile_dask_sparse_on_cluster(client):
    rng = np.random.default_rng(4)
    X = make(rng, sparse.csr_matrix, np.float32)
    mem = QuantileTransformer(n_quantiles=15).fit(X)
    lazy = QuantileTransformer(n_quantiles=15).fit(as_dask(X))
    np.testing.assert_array_equal(lazy.quantiles_, mem.quantiles_)
    assert_same_sparse(lazy.transform(as_dask(X)).compute(), mem.transform(X))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", ["scale", 0.3])
def test_rbf_dask_sparse_as_in_memory(cls, dtype, gamma):
    rng = np.random.default_rng(5)
    X = make(rng, cls, dtype, negative=True)
    kw = dict(gamma=gamma, n_components=30, random_state=0)
    mem = RBFSampler(**kw).fit(X)
    ref = ska.RBFSampler(**kw).fit(X)
    lazy = RBFSampler(**kw).fit(as_dask(X))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(lazy.random_weights_, mem.random_weights_, rtol=rtol)
    assert lazy.random_weights_.dtype == mem.random_weights_.dtype
    np.testing.assert_array_equal(lazy.random_offset_, mem.random_offset_)
    out = lazy.transform(as_dask(X))
    assert isinstance(meta_from_array(out), np.ndarray) and out.dtype == X.dtype
    assert out.shape == (X.shape[0], 30)
    got = out.compute()
    assert isinstance(got, np.ndarray)
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, mem.transform(X), atol=atol)
    np.testing.assert_allclose(got, ref.transform(X), atol=atol)
    # the in-memory fit, lazy transform: the same block function
    np.testing.assert_allclose(mem.transform(as_dask(X)).compute(), mem.transform(X),
                               atol=atol)


def test_rbf_dask_sparse_transform_lazy():
    rng = np.random.default_rng(6)
    X = make(rng, sparse.csr_matrix, np.float64)
    rbf = RBFSampler(n_components=8, random_state=0).fit(X)
    out = rbf.transform(untouchable(X))
    assert out.shape == (X.shape[0], 8)


def test_rbf_dask_sparse_on_cluster(client):
    rng = np.random.default_rng(7)
    X = make(rng, sparse.csc_matrix, np.float64, negative=True)
    mem = RBFSampler(gamma="scale", n_components=20, random_state=1).fit(X)
    lazy = RBFSampler(gamma="scale", n_components=20, random_state=1).fit(as_dask(X))
    np.testing.assert_allclose(lazy.random_weights_, mem.random_weights_, rtol=1e-12)
    np.testing.assert_allclose(lazy.transform(as_dask(X)).compute(), mem.transform(X),
                               atol=1e-12)
