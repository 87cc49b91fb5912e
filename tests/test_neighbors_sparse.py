"""The neighbours estimators on scipy.sparse input, against scikit-learn's
brute force on the same input: the same neighbours, predictions, graphs,
errors and warnings."""
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn import neighbors as sk

from fastml import neighbors as fm

METRICS = ["euclidean", "l2", "cosine", "manhattan", "cityblock", "l1", "minkowski"]


def make(rng, n, d=40, density=0.15, dtype=np.float64, fmt="csr", array_class=False):
    """Random sparse rows, none all-zero (a zero row ties with every row at
    cosine distance 1, and the libraries break such ties differently)."""
    A = sparse.random(n, d, density=density, format="csr", dtype=np.float64, random_state=rng)
    A = A + sparse.csr_matrix((rng.uniform(0.5, 1, n), (np.arange(n), rng.integers(0, d, n))),
                              shape=(n, d))
    A = A.asformat(fmt).astype(dtype)
    return sparse.csr_array(A).asformat(fmt) if array_class else A


def assert_same_neighbours(ours, theirs, rtol=1e-12):
    np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("metric", METRICS)
def test_kneighbors_is_scikit_learns(rng, metric):
    X, Q = make(rng, 300), make(rng, 25, fmt="csc")
    ours = fm.NearestNeighbors(n_neighbors=5, metric=metric).fit(X)
    theirs = sk.NearestNeighbors(n_neighbors=5, metric=metric, algorithm="brute").fit(X)
    assert_same_neighbours(ours.kneighbors(Q), theirs.kneighbors(Q))
    assert_same_neighbours(ours.kneighbors(), theirs.kneighbors())   # X=None: not itself


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("array_class", [False, True])
def test_any_sparse_class_format_and_dtype(rng, dtype, fmt, array_class):
    X = make(rng, 200, dtype=dtype, fmt=fmt, array_class=array_class)
    Q = make(rng, 10, dtype=dtype, fmt=fmt, array_class=array_class)
    ours = fm.NearestNeighbors(n_neighbors=4).fit(X).kneighbors(Q)
    theirs = sk.NearestNeighbors(n_neighbors=4, algorithm="brute").fit(X).kneighbors(Q)
    assert_same_neighbours(ours, theirs, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_dense_queries_on_a_sparse_index_and_the_reverse(rng):
    X, Q = make(rng, 150), make(rng, 12)
    expected = sk.NearestNeighbors(n_neighbors=3, algorithm="brute").fit(X).kneighbors(Q)
    assert_same_neighbours(fm.NearestNeighbors(n_neighbors=3).fit(X).kneighbors(Q.toarray()),
                           expected)
    assert_same_neighbours(fm.NearestNeighbors(n_neighbors=3).fit(X.toarray()).kneighbors(Q),
                           expected)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_classifier_and_regressor_predict_as_scikit_learn(rng, weights):
    X, Q = make(rng, 300), make(rng, 40)
    y = rng.integers(0, 4, 300)
    for Ours, Theirs in ((fm.KNeighborsClassifier, sk.KNeighborsClassifier),
                         (fm.KNeighborsRegressor, sk.KNeighborsRegressor)):
        ours = Ours(n_neighbors=7, weights=weights, metric="cosine").fit(X, y)
        theirs = Theirs(n_neighbors=7, weights=weights, metric="cosine",
                        algorithm="brute").fit(X, y)
        np.testing.assert_allclose(ours.predict(Q), theirs.predict(Q), rtol=1e-12)
    proba = fm.KNeighborsClassifier(n_neighbors=7).fit(X, y).predict_proba(Q)
    np.testing.assert_allclose(
        proba, sk.KNeighborsClassifier(n_neighbors=7, algorithm="brute").fit(X, y)
        .predict_proba(Q))


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_graphs_and_transformers(rng, mode):
    X, Q = make(rng, 200), make(rng, 20)
    ours = fm.NearestNeighbors(n_neighbors=4, radius=1.1).fit(X)
    theirs = sk.NearestNeighbors(n_neighbors=4, radius=1.1, algorithm="brute").fit(X)
    for method in ("kneighbors_graph", "radius_neighbors_graph"):
        a, b = getattr(ours, method)(Q, mode=mode), getattr(theirs, method)(Q, mode=mode)
        a.sort_indices()
        b.sort_indices()
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    for Ours, Theirs, param in ((fm.KNeighborsTransformer, sk.KNeighborsTransformer,
                                 {"n_neighbors": 3}),
                                (fm.RadiusNeighborsTransformer, sk.RadiusNeighborsTransformer,
                                 {"radius": 1.1})):
        a = Ours(mode=mode, **param).fit(X).transform(Q)
        b = Theirs(mode=mode, algorithm="brute", **param).fit(X).transform(Q)
        np.testing.assert_allclose(a.toarray(), b.toarray(), rtol=1e-12)


@pytest.mark.parametrize("sort_results", [False, True])
def test_radius_neighbors_is_scikit_learns(rng, sort_results):
    X, Q = make(rng, 250), make(rng, 15)
    ours = fm.NearestNeighbors(radius=1.0, metric="manhattan").fit(X)
    theirs = sk.NearestNeighbors(radius=1.0, metric="manhattan", algorithm="brute").fit(X)
    (d1, i1), (d2, i2) = (m.radius_neighbors(Q, 1.5, sort_results=sort_results)
                          for m in (ours, theirs))
    for a, b, c, e in zip(d1, i1, d2, i2):
        if not sort_results:   # scikit-learn's order is its own then
            order_a, order_b = np.argsort(b), np.argsort(e)
            a, b, c, e = a[order_a], b[order_a], c[order_b], e[order_b]
        np.testing.assert_array_equal(b, e)
        np.testing.assert_allclose(a, c, rtol=1e-12)


def test_metrics_scikit_learn_refuses_for_sparse_are_refused(rng):
    X = make(rng, 50)
    for metric, p in (("chebyshev", 2), ("minkowski", 3), ("sqeuclidean", 2)):
        with pytest.raises(ValueError, match="not valid for sparse input"):
            fm.NearestNeighbors(metric=metric, p=p).fit(X)
        with pytest.raises(ValueError, match="not valid for sparse input"):
            sk.NearestNeighbors(metric=metric, p=p).fit(X)
    with pytest.raises(TypeError, match="Sparse data"):   # a dense-only metric, sparse query
        fm.NearestNeighbors(metric="chebyshev").fit(X.toarray()).kneighbors(X)


def test_a_tree_asked_for_warns_and_searches_by_brute_force(rng):
    X = make(rng, 60)
    with pytest.warns(UserWarning, match="cannot use tree with sparse input"):
        ours = fm.NearestNeighbors(n_neighbors=2, algorithm="kd_tree").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ours.kneighbors(X[:5])
    assert_same_neighbours(got, sk.NearestNeighbors(n_neighbors=2, algorithm="brute")
                           .fit(X).kneighbors(X[:5]))


def test_dask_arrays_of_sparse_blocks_stay_lazy_on_a_cluster(rng, client):
    """An index and queries held as Dask arrays of scipy.sparse blocks, on
    the test's LocalCluster: lazy results, scikit-learn's neighbours."""
    import dask.array as da

    X, Q = make(rng, 300), make(rng, 45)
    y = rng.integers(0, 3, 300)
    Xd = da.from_array(X, chunks=(110, 40), asarray=False)
    Qd = da.from_array(Q, chunks=(20, 40), asarray=False)
    ours = fm.KNeighborsClassifier(n_neighbors=4, metric="cosine").fit(
        Xd, da.from_array(y, chunks=110))
    distances, indices = ours.kneighbors(Qd)
    assert isinstance(indices, da.Array)
    theirs = sk.KNeighborsClassifier(n_neighbors=4, metric="cosine",
                                     algorithm="brute").fit(X, y)
    assert_same_neighbours(client.compute([distances, indices], sync=True),
                           theirs.kneighbors(Q))
    np.testing.assert_array_equal(ours.predict(Qd).compute(), theirs.predict(Q))
    with pytest.raises(ValueError, match="not valid for sparse input"):
        fm.NearestNeighbors(metric="chebyshev").fit(Xd)


def test_precomputed_sparse_graphs_as_in_scikit_learn(rng):
    """The transformers' graphs fed back with metric="precomputed", the
    pipeline pattern: the same neighbours, predictions and radius searches
    as scikit-learn, and its errors."""
    X, y, Q = rng.normal(size=(150, 4)), rng.normal(size=150), rng.normal(size=(20, 4))
    maker = fm.KNeighborsTransformer(n_neighbors=8, mode="distance").fit(X)
    G, Gq = maker.transform(X), maker.transform(Q)
    for fmt in ("csr", "csc", "coo", "lil"):
        ours = fm.NearestNeighbors(n_neighbors=4, metric="precomputed").fit(G.asformat(fmt))
        theirs = sk.NearestNeighbors(n_neighbors=4, metric="precomputed").fit(G)
        assert_same_neighbours(ours.kneighbors(Gq.asformat(fmt)), theirs.kneighbors(Gq))
        assert_same_neighbours(ours.kneighbors(), theirs.kneighbors())
        for sort_results in (False, True):
            (d1, i1), (d2, i2) = (m.radius_neighbors(Gq, 1.0, sort_results=sort_results)
                                  for m in (ours, theirs))
            for a, b, c, e in zip(d1, i1, d2, i2):
                order_a, order_b = np.lexsort((b, a)), np.lexsort((e, c))
                np.testing.assert_array_equal(b[order_a], e[order_b])
                if sort_results:
                    np.testing.assert_array_equal(a, np.sort(a))
    predicted = fm.KNeighborsRegressor(n_neighbors=5, metric="precomputed").fit(G, y).predict(Gq)
    np.testing.assert_allclose(
        predicted, sk.KNeighborsRegressor(n_neighbors=5, metric="precomputed").fit(G, y)
        .predict(Gq))
    ours = fm.NearestNeighbors(n_neighbors=4, metric="precomputed").fit(G)
    with pytest.raises(ValueError, match="10 neighbors per samples are required"):
        ours.kneighbors(Gq, n_neighbors=10)
    with pytest.raises(TypeError, match="'dok' format is not supported"):
        fm.NearestNeighbors(metric="precomputed").fit(G.todok())
    negative = G.copy()
    negative.data[3] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to precomputed"):
        fm.NearestNeighbors(metric="precomputed").fit(negative)
    with pytest.raises(ValueError, match="150 training samples"):
        ours.kneighbors(Gq[:, :100])


def test_a_sparse_query_on_a_tree_fitted_on_dense_rows_is_refused(rng):
    X, Q = rng.normal(size=(50, 4)), sparse.csr_matrix(rng.normal(size=(5, 4)))
    for algorithm in ("kd_tree", "ball_tree"):
        with pytest.raises(ValueError, match=f"{algorithm} does not work with sparse"):
            fm.NearestNeighbors(algorithm=algorithm).fit(X).kneighbors(Q)
        with pytest.raises(ValueError, match=f"{algorithm} does not work with sparse"):
            sk.NearestNeighbors(algorithm=algorithm).fit(X).kneighbors(Q)


def test_a_callable_metric_on_sparse_rows_runs_as_in_scikit_learn(rng):
    """scikit-learn calls a callable metric on pairs of sparse rows; fastml
    does the same (its speed), with one SlowMetricWarning per search."""
    from fastml._validation.metrics import SlowMetricWarning

    X, Q = make(rng, 80), make(rng, 6)

    def l1(a, b, scale=1.0):
        return scale * abs(a - b).sum()

    for params in ({}, {"scale": 2.0}):
        theirs = sk.NearestNeighbors(n_neighbors=3, radius=1.5, metric=l1, algorithm="brute",
                                     metric_params=params or None).fit(X)
        ours = fm.NearestNeighbors(n_neighbors=3, radius=1.5, metric=l1,
                                   metric_params=params or None).fit(X)
        with pytest.warns(SlowMetricWarning, match="sparse input is called in plain Python"):
            got = ours.kneighbors(Q)
        assert_same_neighbours(got, theirs.kneighbors(Q))
        with pytest.warns(SlowMetricWarning):
            got = ours.radius_neighbors(Q, sort_results=True)
        for a, b, c, e in zip(*got, *theirs.radius_neighbors(Q, sort_results=True)):
            np.testing.assert_array_equal(b, e)
            np.testing.assert_allclose(a, c)


def test_a_distance_metric_object_on_sparse_rows_runs_its_own_pairwise(rng):
    from sklearn.metrics import DistanceMetric

    from fastml._validation.metrics import SlowMetricWarning

    X, Q = make(rng, 80), make(rng, 6)
    for name in ("euclidean", "canberra"):   # (chebyshev's many exact ties break either way)
        metric = DistanceMetric.get_metric(name)
        theirs = sk.NearestNeighbors(n_neighbors=3, metric=metric, algorithm="brute").fit(X)
        ours = fm.NearestNeighbors(n_neighbors=3, metric=metric).fit(X)
        with pytest.warns(SlowMetricWarning, match="its own pairwise method"):
            got = ours.kneighbors(Q)
        assert_same_neighbours(got, theirs.kneighbors(Q))
