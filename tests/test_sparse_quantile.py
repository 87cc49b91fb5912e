"""QuantileTransformer on scipy.sparse input against scikit-learn, bit for
bit: the quantiles (implicit zeros counted or ignored, the same subsample
draws), the transform of the stored values only, the inverse, the output
class and format, and the errors."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn import preprocessing as sk

from fastml import preprocessing as fp

CLASSES = [sparse.csr_matrix, sparse.csc_matrix, sparse.csr_array, sparse.csc_array]
DTYPES = [np.float64, np.float32]


def make(cls, dtype, n=300, d=7, negative=False, seed=0):
    """Columns of varied density: one empty, one full, explicit zeros and
    NaN among the stored values."""
    rng = np.random.RandomState(seed)
    X = rng.exponential(size=(n, d)) * (rng.uniform(size=(n, d)) < [0.1, 0.3, 0.6, 1.0, 0.0,
                                                                    0.5, 0.05])
    X[rng.uniform(size=(n, d)) < 0.03] = np.nan
    if negative:
        X[:, ::2] *= -1
    S = sparse.csc_matrix(X)
    S.data[::11] = 0.0          # explicit zeros
    return cls(S).astype(dtype)


def pair(**kw):
    kw.setdefault("n_quantiles", 50)
    return sk.QuantileTransformer(**kw), fp.QuantileTransformer(**kw)


def assert_same_sparse(got, expected):
    assert type(got) is type(expected)
    assert got.format == expected.format == "csc"
    assert got.dtype == expected.dtype
    assert_array_equal(got.indptr, expected.indptr)
    assert_array_equal(got.indices, expected.indices)
    assert_array_equal(got.data, expected.data)


def fit_both(X, **kw):
    ref, ours = pair(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN / empty columns
        ref.fit(X)
        ours.fit(X)
    assert_array_equal(ours.quantiles_, ref.quantiles_)
    assert_array_equal(ours.references_, ref.references_)
    assert ours.n_quantiles_ == ref.n_quantiles_
    return ref, ours


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("ignore", [False, True])
def test_fit_transform_inverse(cls, dtype, distribution, ignore):
    X = make(cls, dtype, negative=ignore)
    ref, ours = fit_both(X, output_distribution=distribution, ignore_implicit_zeros=ignore)
    expected, got = ref.transform(X), ours.transform(X)
    assert_same_sparse(got, expected)
    assert got.nnz == X.nnz                      # implicit zeros stay implicit
    assert_same_sparse(ours.inverse_transform(got), ref.inverse_transform(expected))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_subsample_draws(dtype, ignore, seed):
    # subsample under n_samples and under most columns' stored count: the
    # long columns are fitted on scikit-learn's draws from the same stream
    X = make(sparse.csc_matrix, dtype, n=1000, negative=ignore)
    kw = dict(n_quantiles=40, subsample=60, random_state=seed, ignore_implicit_zeros=ignore)
    ref, ours = fit_both(X, **kw)
    assert_same_sparse(ours.transform(X), ref.transform(X))
    # a RandomState instance draws from its current state, as scikit-learn's
    r1, r2 = np.random.RandomState(seed), np.random.RandomState(seed)
    r1.uniform(size=3), r2.uniform(size=3)
    a = sk.QuantileTransformer(**{**kw, "random_state": r1}).fit(X)
    b = fp.QuantileTransformer(**{**kw, "random_state": r2}).fit(X)
    assert_array_equal(b.quantiles_, a.quantiles_)


def test_subsample_of_a_long_int32_column():
    # subsample * nnz over 2**31 with int32 indices: the count drawn is exact
    X = sparse.random_array((400_000, 1), density=0.99, format="csc", random_state=0)
    assert X.indptr.dtype == np.int32
    fit_both(X, n_quantiles=100, subsample=10_000, random_state=0)


def test_empty_and_all_nan_columns():
    X = sparse.csc_matrix(np.array([[0.0, np.nan, 1.0], [0.0, np.nan, 2.0], [0.0, 0.0, 0.0]]))
    for ignore in (False, True):
        ref, ours = fit_both(X, n_quantiles=3, ignore_implicit_zeros=ignore)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = ref.transform(X)
            got = ours.transform(X)
        assert_array_equal(got.toarray(), expected.toarray())
    assert_array_equal(fit_both(X, n_quantiles=3, ignore_implicit_zeros=True)[1]
                       .quantiles_[:, 0], 0.0)


def test_other_formats_and_integers_become_csc_float64():
    X = make(sparse.csr_matrix, np.float64)
    X.data[np.isnan(X.data)] = 1.0
    Xi = sparse.coo_array(np.round(X.toarray() * 3).astype(np.int64))
    ref, ours = fit_both(Xi)
    assert_same_sparse(ours.transform(Xi), ref.transform(Xi))
    assert ours.transform(Xi).dtype == np.float64
    assert isinstance(ours.transform(X.tolil()), sparse.csc_matrix)


def test_copy_false_maps_csc_in_place():
    X = make(sparse.csc_matrix, np.float64)
    expected = sk.QuantileTransformer(n_quantiles=50).fit(X).transform(X)
    ours = fp.QuantileTransformer(n_quantiles=50, copy=False).fit(X)
    out = ours.transform(X)
    assert out is X or np.shares_memory(out.data, X.data)
    assert_array_equal(X.data, expected.data)
    Y = make(sparse.csc_matrix, np.float64)
    before = Y.data.copy()
    fp.QuantileTransformer(n_quantiles=50).fit(Y).transform(Y)
    assert_array_equal(Y.data, before)              # copy=True leaves X alone


def test_errors():
    X = make(sparse.csc_matrix, np.float64, negative=True)
    with pytest.raises(ValueError, match="only accepts non-negative sparse matrices"):
        fp.QuantileTransformer(n_quantiles=10).fit(X)
    ours = fp.QuantileTransformer(n_quantiles=10, ignore_implicit_zeros=True).fit(X)
    positive = fp.QuantileTransformer(n_quantiles=10).fit(abs(X))
    with pytest.raises(ValueError, match="only accepts non-negative sparse matrices"):
        positive.transform(X)
    positive.inverse_transform(X)       # the inverse does not check the sign
    with pytest.raises(ValueError, match="X has 3 features, but QuantileTransformer"):
        ours.inverse_transform(X[:, :3])
    with pytest.raises(ValueError, match="X has 3 features"):
        ours.transform(X[:, :3])
    inf = X.copy()
    inf.data[0] = np.inf
    with pytest.raises(ValueError, match="[Ii]nfinity"):
        fp.QuantileTransformer(n_quantiles=10, ignore_implicit_zeros=True).fit(inf)
    with pytest.warns(UserWarning, match="'ignore_implicit_zeros' takes effect only"):
        fp.QuantileTransformer(n_quantiles=10, ignore_implicit_zeros=True).fit(X.toarray())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # no such warning for sparse input
        fp.QuantileTransformer(n_quantiles=10, ignore_implicit_zeros=True).fit(X)


def test_dask_sparse_blocks_transform_is_lazy():
    # fit and transform of Dask sparse blocks: tests/test_sparse_dask_quantile_rbf.py
    da = pytest.importorskip("dask.array")
    from dask.array.utils import meta_from_array

    X = make(sparse.csr_matrix, np.float64)
    D = da.from_array(X, chunks=(100, X.shape[1]), asarray=False)

    def explode(block):
        raise AssertionError("a block was computed")

    D = D.map_blocks(explode, dtype=D.dtype, meta=meta_from_array(D))
    fitted = fp.QuantileTransformer(n_quantiles=10).fit(abs(X))
    out = fitted.transform(D)
    assert out.shape == X.shape and meta_from_array(out).format == "csc"
