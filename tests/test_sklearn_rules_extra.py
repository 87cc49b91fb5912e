"""scikit-learn 1.9 rules found by running scikit-learn's own test files
against fastml's estimators, with scikit-learn itself as the reference."""
import numpy as np
import pytest
import sklearn.neighbors as sk_neighbors

import fastml.neighbors as fm_neighbors

SEARCH_METHODS = ("kneighbors", "kneighbors_graph", "radius_neighbors",
                  "radius_neighbors_graph")


@pytest.mark.parametrize("name", fm_neighbors.__all__)
def test_the_search_methods_are_those_of_sklearn(name):
    """KNeighborsTransformer, KNeighborsClassifier and KNeighborsRegressor
    have no radius search in scikit-learn, RadiusNeighborsTransformer no
    k-nearest search: hasattr answers as there, on the class, on an
    instance and on a fitted one, so duck-typed code takes the same branch."""
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    ref, ours = getattr(sk_neighbors, name)(), getattr(fm_neighbors, name)()
    fitted = getattr(fm_neighbors, name)().fit(X, y)
    for method in SEARCH_METHODS:
        expected = hasattr(ref, method)
        assert hasattr(type(ours), method) == expected, method
        assert hasattr(ours, method) == expected, method
        assert hasattr(fitted, method) == expected, method
    for method in SEARCH_METHODS:
        if not hasattr(ref, method):
            with pytest.raises(AttributeError, match=f"'{name}' object has no attribute"):
                getattr(fitted, method)


@pytest.mark.parametrize("name, params", [
    ("KNeighborsClassifier", {"n_neighbors": 2}),
    ("KNeighborsRegressor", {"n_neighbors": 2}),
    ("KNeighborsTransformer", {"n_neighbors": 2}),
    ("RadiusNeighborsTransformer", {"radius": 1.5}),
])
@pytest.mark.filterwarnings("ignore:metric='nan_euclidean' has no compiled kernel")
def test_nan_euclidean_response_methods_as_in_sklearn(name, params):
    """scikit-learn's test_nan_euclidean_support: every response method an
    estimator has runs with metric="nan_euclidean" and gives no NaN; the
    RadiusNeighborsTransformer used to expose a kneighbors that failed
    without n_neighbors."""
    X = [[0, 1], [1, np.nan], [2, 3], [3, 5]]
    y = [0, 0, 1, 1]
    ref = getattr(sk_neighbors, name)(metric="nan_euclidean", **params).fit(X, y)
    ours = getattr(fm_neighbors, name)(metric="nan_euclidean", **params).fit(X, y)
    for method in ("kneighbors", "predict", "transform", "fit_predict"):
        assert hasattr(ours, method) == hasattr(ref, method)
        if not hasattr(ours, method):
            continue
        got, expected = getattr(ours, method)(X), getattr(ref, method)(X)
        if hasattr(got, "toarray"):
            assert not np.isnan(got.data).any()
            np.testing.assert_allclose(got.toarray(), expected.toarray())
        elif isinstance(got, tuple):
            for g, e in zip(got, expected):
                assert not np.isnan(g).any()
                np.testing.assert_allclose(g, e)
        else:
            assert not np.isnan(got).any()
            np.testing.assert_allclose(got, expected)


def test_the_estimators_still_search_and_pickle():
    """The hidden methods leave the ones each estimator uses in place."""
    import pickle
    X = np.random.default_rng(1).normal(size=(30, 2))
    y = np.arange(30) % 3
    clf = fm_neighbors.KNeighborsClassifier(n_neighbors=3).fit(X, y)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict(X),
        sk_neighbors.KNeighborsClassifier(n_neighbors=3).fit(X, y).predict(X))
    for name, params in (("KNeighborsTransformer", {"n_neighbors": 3}),
                         ("RadiusNeighborsTransformer", {"radius": 0.8})):
        ours = getattr(fm_neighbors, name)(**params).fit_transform(X)
        ref = getattr(sk_neighbors, name)(**params).fit_transform(X)
        np.testing.assert_allclose(ours.toarray(), ref.toarray())


@pytest.mark.parametrize("container", ["csr_matrix", "csr_array", "csc_matrix", "coo_array"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("gamma", [0.5, "scale"])
def test_rbf_sampler_takes_sparse_input_as_sklearn(container, dtype, gamma):
    """scikit-learn's RBFSampler takes sparse X (test_input_validation):
    the same weights (gamma="scale" from the sparse variance), a dense
    output in X's float dtype, the features of X.toarray()."""
    import scipy.sparse as sp
    from sklearn.kernel_approximation import RBFSampler as SkRBFSampler

    from fastml.kernel_approximation import RBFSampler

    D = sp.random(60, 25, density=0.2, random_state=0, format="csr")
    D = (D * 10).astype(dtype) if dtype == np.int64 else D.astype(dtype)
    X = getattr(sp, container)(D)
    ref = SkRBFSampler(gamma=gamma, n_components=30, random_state=3).fit(X)
    ours = RBFSampler(gamma=gamma, n_components=30, random_state=3).fit(X)
    np.testing.assert_array_equal(ours.random_weights_, ref.random_weights_)
    np.testing.assert_array_equal(ours.random_offset_, ref.random_offset_)
    got, expected = ours.transform(X), ref.transform(X)
    assert type(got) is np.ndarray and got.dtype == expected.dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got, expected, **tol)
    np.testing.assert_allclose(got, ours.transform(X.toarray()), **tol)
    assert not sp.issparse(X) or X.nnz == D.nnz  # X untouched


def test_rbf_sampler_sparse_list_example_of_sklearn():
    """scikit-learn's test_input_validation, sparse half."""
    import scipy.sparse as sp

    from fastml.kernel_approximation import RBFSampler

    X = sp.csr_matrix([[1, 2], [3, 4], [5, 6]])
    assert RBFSampler().fit(X).transform(X).shape == (3, 100)


def test_unknown_categorical_feature_name_is_quoted_plainly():
    """scikit-learn's test_categorical_spec_errors_with_feature_names: the
    message names the unknown feature as 'f3', not np.str_('f3')."""
    pd = pytest.importorskip("pandas")
    from fastml.ensemble import HistGradientBoostingRegressor

    X = pd.DataFrame({"f0": [0, 1, 2], "f1": [0, 1, 2], "f2": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"names \['f3'\], which are not features of X"):
        HistGradientBoostingRegressor(categorical_features=["f0", "f3"]).fit(X, [0, 1, 2])
