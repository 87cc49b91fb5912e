"""fastml.neighbors against scikit-learn's brute-force estimators on NumPy input.

Neighbours are compared as the issue states: the same distances (rtol 1e-12
in float64, 1e-6 in float32) and the same neighbour sets, except where the
reference itself has equal distances at the k-th place (an exact tie may be
broken either way; fastml breaks it towards the smaller index, which is
tested on its own).  For float32 data the reference is scikit-learn on the
same values in float64: fastml promises float32 results as accurate as a
float64 brute force, which scikit-learn's own float32 path is not (its
float32 cosine distances are off by up to 5e-6 relative here).
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist
from sklearn import neighbors as sk
from sklearn.cluster import DBSCAN, SpectralClustering
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.manifold import TSNE, Isomap
from sklearn.pipeline import make_pipeline

from fastml import neighbors as fm

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}

# (metric, metric_params) families; V and VI given explicitly, since
# scikit-learn's brute force has no data-dependent default for them.
rng0 = np.random.default_rng(5)
_V = rng0.uniform(0.5, 2.0, 6)
_A = rng0.normal(size=(6, 6))
_VI = _A @ _A.T + 6 * np.eye(6)
METRICS = [
    ("euclidean", None),
    ("manhattan", None),
    ("chebyshev", None),
    ("minkowski", {"p": 3}),
    ("cosine", None),
    ("correlation", None),
    ("canberra", None),
    ("braycurtis", None),
    ("seuclidean", {"V": _V}),
    ("mahalanobis", {"VI": _VI}),
]


def as64(*arrays):
    """The float64 reference inputs of the same values."""
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def make_data(rng, dtype, n_fit=400, n_query=60, n_features=6):
    X = rng.normal(size=(n_fit, n_features)).astype(dtype)
    Q = rng.normal(size=(n_query, n_features)).astype(dtype)
    return X, Q


def assert_same_neighbors(got, ref, dtype):
    """Same distances, and the same neighbours wherever the reference has
    no tie at the k-th place."""
    (d, i), (d_ref, i_ref) = got, ref
    assert d.shape == d_ref.shape and i.shape == i_ref.shape
    assert i.dtype == np.int64
    assert_allclose(d, d_ref, rtol=RTOL[np.dtype(dtype)], atol=1e-12)
    kth = d_ref[:, -1:]
    strictly_inside = d_ref < kth * (1 - 1e-5)
    for row in range(i.shape[0]):
        assert set(i[row][strictly_inside[row]]) == set(i_ref[row][strictly_inside[row]])


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.mark.parametrize("metric, params", METRICS, ids=[m for m, _ in METRICS])
def test_kneighbors_matches_sklearn(rng, dtype, metric, params):
    X, Q = make_data(rng, dtype)
    if metric == "braycurtis":
        # scikit-learn's BrayCurtis divides by sum(|x| + |y|), SciPy's (and
        # fastml's) by sum(|x + y|): they agree on non-negative data only
        X, Q = np.abs(X), np.abs(Q)
    kw = dict(n_neighbors=7, metric=metric, metric_params=params)
    ours = fm.NearestNeighbors(**kw).fit(X)
    X64, Q64 = as64(X, Q)
    ref = sk.NearestNeighbors(algorithm="brute", **kw).fit(X64)
    got = ours.kneighbors(Q)
    assert got[0].dtype == dtype  # float32 distances stay float32
    assert_same_neighbors(got, ref.kneighbors(Q64), dtype)
    # the training points as queries: each is not its own neighbour
    assert_same_neighbors(ours.kneighbors(), ref.kneighbors(), dtype)
    assert ours.effective_metric_ == ref.effective_metric_


def test_haversine_matches_sklearn(rng, dtype):
    X = np.c_[rng.uniform(-1.5, 1.5, 300), rng.uniform(-3, 3, 300)].astype(dtype)
    ours = fm.NearestNeighbors(n_neighbors=4, metric="haversine").fit(X)
    (X64,) = as64(X)
    ref = sk.NearestNeighbors(n_neighbors=4, metric="haversine", algorithm="brute").fit(X64)
    assert_same_neighbors(ours.kneighbors(X[:50]), ref.kneighbors(X64[:50]), dtype)


@pytest.mark.parametrize("metric", ["jaccard", "hamming", "dice"])
def test_boolean_metrics_match_sklearn(rng, metric):
    X = rng.integers(0, 2, size=(300, 12)).astype(bool)
    Q = rng.integers(0, 2, size=(40, 12)).astype(bool)
    # 0/1 data ties a lot: compare the distances, and each index's distance
    ours = fm.NearestNeighbors(n_neighbors=5, metric=metric).fit(X)
    ref = sk.NearestNeighbors(n_neighbors=5, metric=metric, algorithm="brute").fit(X)
    d, i = ours.kneighbors(Q)
    d_ref, _ = ref.kneighbors(Q)
    assert_allclose(d, d_ref, rtol=1e-12)
    assert_allclose(d, np.take_along_axis(cdist(Q, X, metric), i, axis=1), rtol=1e-12)


def test_custom_metric_matches_sklearn_callable(rng):
    def l1(a, b):
        s = 0.0
        for j in range(a.shape[0]):
            s += abs(a[j] - b[j])
        return s

    X, Q = make_data(rng, np.float64, n_fit=150, n_query=20)
    ours = fm.NearestNeighbors(n_neighbors=3, metric=l1).fit(X)
    ref = sk.NearestNeighbors(n_neighbors=3, metric=l1, algorithm="brute").fit(X)
    assert_same_neighbors(ours.kneighbors(Q), ref.kneighbors(Q), np.float64)


@pytest.mark.parametrize("p, expected", [(1, "manhattan"), (2, "euclidean"),
                                         (np.inf, "chebyshev"), (3, "minkowski")])
def test_effective_metric_like_sklearn(rng, p, expected):
    X, _ = make_data(rng, np.float64, n_fit=20)
    ours = fm.NearestNeighbors(p=p).fit(X)
    ref = sk.NearestNeighbors(p=p, algorithm="brute").fit(X)
    assert ours.effective_metric_ == ref.effective_metric_ == expected
    assert ours.effective_metric_params_ == ref.effective_metric_params_


@pytest.mark.parametrize("k", [1, "all"])
def test_k_edges(rng, dtype, k):
    X, Q = make_data(rng, dtype, n_fit=50, n_query=10)
    k = X.shape[0] if k == "all" else k
    got = fm.NearestNeighbors(n_neighbors=k).fit(X).kneighbors(Q)
    X64, Q64 = as64(X, Q)
    ref = sk.NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X64).kneighbors(Q64)
    assert_same_neighbors(got, ref, dtype)
    if k == X.shape[0]:
        assert_array_equal(np.sort(got[1], axis=1), np.tile(np.arange(k), (10, 1)))
    # training points as queries: at most n_samples_fit - 1 neighbours
    kk = min(k, X.shape[0] - 1)
    d, i = fm.NearestNeighbors(n_neighbors=kk).fit(X).kneighbors()
    assert not (i == np.arange(X.shape[0])[:, None]).any()


def test_exact_ties_go_to_the_smaller_index():
    X = np.array([[0.0], [2.0], [-2.0], [2.0], [5.0]])
    d, i = fm.NearestNeighbors(n_neighbors=3).fit(X).kneighbors([[0.0]])
    assert_array_equal(i, [[0, 1, 2]])
    assert_array_equal(d, [[0.0, 2.0, 2.0]])


def test_duplicate_points_as_training_queries():
    # each duplicate finds its twin at distance 0, never itself
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    d, i = fm.NearestNeighbors(n_neighbors=1).fit(X).kneighbors()
    assert_array_equal(i.ravel(), [1, 0, 0, 2])
    assert_array_equal(d.ravel(), [0.0, 0.0, 1.0, 2.0])
    ref = sk.NearestNeighbors(n_neighbors=1, algorithm="brute").fit(X).kneighbors()
    assert_array_equal(d, ref[0])


@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
def test_layouts(rng, layout):
    X, Q = make_data(rng, np.float64)
    if layout == "F":
        X, Q = np.asfortranarray(X), np.asfortranarray(Q)
    elif layout == "readonly":
        X.flags.writeable = Q.flags.writeable = False
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
        Q = np.repeat(Q, 2, axis=1)[:, ::2]
    got = fm.NearestNeighbors(n_neighbors=5).fit(X).kneighbors(Q)
    ref = sk.NearestNeighbors(n_neighbors=5, algorithm="brute").fit(X).kneighbors(Q)
    assert_same_neighbors(got, ref, np.float64)


def test_pandas_and_polars_input(rng):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X, Q = make_data(rng, np.float64)
    ref = fm.NearestNeighbors().fit(X).kneighbors(Q)
    columns = [f"f{j}" for j in range(X.shape[1])]
    for frame in (pd.DataFrame, lambda a, columns: pl.DataFrame(a, schema=columns)):
        nn = fm.NearestNeighbors().fit(frame(X, columns=columns))
        got = nn.kneighbors(frame(Q, columns=columns))
        assert_array_equal(got[1], ref[1])
    assert_array_equal(nn.feature_names_in_, columns)


# ------------------------------------------------------------------ radius

def safe_radius(D, near):
    """A radius close to ``near`` with no distance within 1e-4 of it, so
    that rounding cannot move a point across the boundary."""
    values = np.sort(D.ravel())
    gaps = np.diff(values)
    candidates = np.flatnonzero((gaps > 2e-4) & (np.abs(values[:-1] - near) < 0.2 * near))
    j = candidates[np.argmin(np.abs(values[candidates] - near))]
    return float(0.5 * (values[j] + values[j + 1]))


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
def test_radius_neighbors_matches_sklearn(rng, dtype, metric):
    X, Q = make_data(rng, dtype)
    X64, Q64 = as64(X, Q)
    scipy_name = "cityblock" if metric == "manhattan" else metric
    radius = safe_radius(np.vstack([cdist(Q64, X64, scipy_name), cdist(X64, X64, scipy_name)]),
                         {"euclidean": 1.8, "manhattan": 3.0, "cosine": 0.3}[metric])
    ours = fm.NearestNeighbors(radius=radius, metric=metric).fit(X)
    ref = sk.NearestNeighbors(radius=radius, metric=metric, algorithm="brute").fit(X64)
    for query, query64 in ((Q, Q64), (None, None)):
        d, i = ours.radius_neighbors(query, sort_results=True)
        d_ref, i_ref = ref.radius_neighbors(query64, sort_results=True)
        assert d.dtype == object and i.dtype == object and len(i) == len(i_ref)
        for row in range(len(i)):
            assert_array_equal(np.sort(i[row]), np.sort(i_ref[row]))
            assert_allclose(d[row], d_ref[row], rtol=RTOL[np.dtype(dtype)], atol=1e-7)
            assert d[row].dtype == dtype and i[row].dtype == np.int64
        G = ours.radius_neighbors_graph(query, mode="distance")
        G_ref = ref.radius_neighbors_graph(query64, mode="distance")
        assert G.shape == G_ref.shape and G.nnz == G_ref.nnz
        assert abs(G - G_ref).max() <= 1e-5
    ind_only = ours.radius_neighbors(Q, return_distance=False)
    assert len(ind_only) == Q.shape[0]


def test_graphs_match_sklearn(rng):
    X, Q = make_data(rng, np.float64)
    ours = fm.NearestNeighbors(n_neighbors=4).fit(X)
    ref = sk.NearestNeighbors(n_neighbors=4, algorithm="brute").fit(X)
    for mode in ("connectivity", "distance"):
        for query in (Q, None):
            G = ours.kneighbors_graph(query, mode=mode)
            G_ref = ref.kneighbors_graph(query, mode=mode)
            assert G.format == "csr" and G.shape == G_ref.shape
            assert abs(G - G_ref).max() <= 1e-12
    with pytest.raises(ValueError, match="Unsupported mode"):
        ours.kneighbors_graph(Q, mode="weights")


# ------------------------------------------------------------------ supervised

@pytest.mark.parametrize("weights", ["uniform", "distance", lambda d: np.exp(-d)],
                         ids=["uniform", "distance", "callable"])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
def test_classifier_matches_sklearn(rng, dtype, weights, metric):
    X, Q = make_data(rng, dtype, n_fit=300, n_query=80)
    y = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, X.shape[0])]
    kw = dict(n_neighbors=6, weights=weights, metric=metric)
    ours = fm.KNeighborsClassifier(**kw).fit(X, y)
    X64, Q64 = as64(X, Q)
    ref = sk.KNeighborsClassifier(algorithm="brute", **kw).fit(X64, y)
    assert_array_equal(ours.classes_, ref.classes_)
    assert_array_equal(ours.predict(Q), ref.predict(Q64))
    assert_allclose(ours.predict_proba(Q), ref.predict_proba(Q64), rtol=1e-6, atol=1e-12)
    assert ours.score(Q, ref.predict(Q64)) == 1.0


def test_classifier_multi_output(rng):
    X, Q = make_data(rng, np.float64)
    Y = np.c_[rng.integers(0, 3, X.shape[0]), rng.integers(5, 7, X.shape[0])]
    ours = fm.KNeighborsClassifier(n_neighbors=5).fit(X, Y)
    ref = sk.KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, Y)
    assert ours.outputs_2d_ and ref.outputs_2d_
    assert_array_equal(ours.predict(Q), ref.predict(Q))
    for p, p_ref, c, c_ref in zip(ours.predict_proba(Q), ref.predict_proba(Q),
                                  ours.classes_, ref.classes_):
        assert_array_equal(c, c_ref)
        assert_allclose(p, p_ref, rtol=1e-12)


def test_classifier_distance_weights_with_exact_matches():
    # a query lying on training points: only those points vote
    X = np.array([[0.0], [0.0], [1.0], [1.1]])
    y = np.array([0, 1, 1, 1])
    ours = fm.KNeighborsClassifier(n_neighbors=4, weights="distance").fit(X, y)
    ref = sk.KNeighborsClassifier(n_neighbors=4, weights="distance", algorithm="brute").fit(X, y)
    assert_allclose(ours.predict_proba([[0.0]]), ref.predict_proba([[0.0]]))
    assert_allclose(ours.predict_proba([[0.0]]), [[0.5, 0.5]])


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_regressor_matches_sklearn(rng, dtype, weights):
    X, Q = make_data(rng, dtype)
    y = rng.normal(size=X.shape[0])
    Y2 = np.c_[y, 3 * y + 1]
    for target in (y, Y2, y[:, None]):
        ours = fm.KNeighborsRegressor(n_neighbors=5, weights=weights).fit(X, target)
        X64, Q64 = as64(X, Q)
        ref = sk.KNeighborsRegressor(n_neighbors=5, weights=weights, algorithm="brute").fit(
            X64, target)
        got, expected = ours.predict(Q), ref.predict(Q64)
        assert got.shape == expected.shape
        assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-12,
                        atol=1e-7 if dtype == np.float32 else 0)


# ------------------------------------------------------------------ transformers

def test_transformers_match_sklearn(rng, dtype):
    X, Q = make_data(rng, dtype)
    for mode in ("distance", "connectivity"):
        ours = fm.KNeighborsTransformer(n_neighbors=5, mode=mode).fit(X)
        ref = sk.KNeighborsTransformer(n_neighbors=5, mode=mode).fit(X)
        for query in (X, Q):
            G, G_ref = ours.transform(query), ref.transform(query)
            assert G.shape == G_ref.shape and G.nnz == G_ref.nnz
            assert abs(G - G_ref).max() <= 1e-5
        ours = fm.RadiusNeighborsTransformer(radius=2.0, mode=mode).fit(X)
        ref = sk.RadiusNeighborsTransformer(radius=2.0, mode=mode).fit(X)
        G, G_ref = ours.transform(Q), ref.transform(Q)
        assert G.nnz == G_ref.nnz and abs(G - G_ref).max() <= 1e-5
    names = fm.KNeighborsTransformer().fit(X).get_feature_names_out()
    assert names[0] == "kneighborstransformer0" and len(names) == X.shape[0]


def test_transformer_graphs_feed_sklearn_precomputed_estimators():
    # a little noise: integer pixels tie often, and ties may be broken
    # differently (fastml: the smaller index)
    X = load_digits().data[:400] + np.random.default_rng(0).normal(scale=1e-3, size=(400, 64))
    graph = fm.KNeighborsTransformer(n_neighbors=10, mode="distance").fit_transform(X)
    graph_ref = sk.KNeighborsTransformer(n_neighbors=10, mode="distance").fit_transform(X)
    # same edges; fastml's values are exact (scikit-learn's, from dot
    # products, are off by up to 3e-6 here, its self-distances not 0)
    assert_array_equal(graph.indptr, graph_ref.indptr)
    assert_array_equal(np.sort(graph.indices.reshape(400, 11), axis=1),
                       np.sort(graph_ref.indices.reshape(400, 11), axis=1))
    coo = graph.tocoo()
    assert_allclose(coo.data, cdist(X, X)[coo.row, coo.col], rtol=1e-12, atol=1e-12)

    iso = make_pipeline(fm.KNeighborsTransformer(n_neighbors=10),
                        Isomap(n_neighbors=10, metric="precomputed"))
    iso_ref = make_pipeline(sk.KNeighborsTransformer(n_neighbors=10),
                            Isomap(n_neighbors=10, metric="precomputed"))
    emb, emb_ref = iso.fit_transform(X), iso_ref.fit_transform(X)
    assert_allclose(np.abs(emb), np.abs(emb_ref), rtol=1e-6, atol=1e-6)

    labels = DBSCAN(eps=20.0, min_samples=5, metric="precomputed").fit_predict(
        fm.RadiusNeighborsTransformer(radius=20.0).fit_transform(X))
    labels_ref = DBSCAN(eps=20.0, min_samples=5, metric="precomputed").fit_predict(
        sk.RadiusNeighborsTransformer(radius=20.0).fit_transform(X))
    assert_array_equal(labels, labels_ref)

    tsne = TSNE(metric="precomputed", init="random", perplexity=5, max_iter=250,
                random_state=0)
    emb = tsne.fit_transform(fm.KNeighborsTransformer(n_neighbors=16).fit_transform(X))
    assert emb.shape == (400, 2) and np.isfinite(emb).all()

    spectral = SpectralClustering(n_clusters=10, affinity="precomputed_nearest_neighbors",
                                  n_neighbors=10, random_state=0)
    connectivity = fm.KNeighborsTransformer(n_neighbors=10, mode="connectivity").fit_transform(X)
    connectivity_ref = sk.KNeighborsTransformer(n_neighbors=10,
                                                mode="connectivity").fit_transform(X)
    assert_array_equal(spectral.fit_predict(connectivity),
                       spectral.fit_predict(connectivity_ref))


def test_precomputed_metric(rng):
    X, Q = make_data(rng, np.float64)
    ours = fm.KNeighborsClassifier(n_neighbors=3, metric="precomputed")
    y = rng.integers(0, 2, X.shape[0])
    ours.fit(cdist(X, X), y)
    ref = sk.KNeighborsClassifier(n_neighbors=3, metric="precomputed").fit(cdist(X, X), y)
    assert_array_equal(ours.predict(cdist(Q, X)), ref.predict(cdist(Q, X)))
    assert_same_neighbors(ours.kneighbors(cdist(Q, X)), ref.kneighbors(cdist(Q, X)), np.float64)
    with pytest.raises(ValueError, match="square"):
        ours.fit(cdist(Q, X), y[:Q.shape[0]])


# ------------------------------------------------------------------ errors

def test_errors(rng):
    X, Q = make_data(rng, np.float64, n_fit=10)
    nn = fm.NearestNeighbors(n_neighbors=3).fit(X)
    with pytest.raises(ValueError, match="Expected n_neighbors > 0. Got 0"):
        nn.kneighbors(Q, n_neighbors=0)
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit, but "
                                         "n_neighbors = 11, n_samples_fit = 10"):
        nn.kneighbors(Q, n_neighbors=11)
    with pytest.raises(ValueError, match="n_neighbors = 11, n_samples_fit = 10"):
        nn.kneighbors(n_neighbors=10)  # + itself
    with pytest.raises(ValueError, match="n_neighbors' parameter of NearestNeighbors"):
        fm.NearestNeighbors(n_neighbors=0).fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but NearestNeighbors is "
                                         "expecting 6 features"):
        nn.kneighbors(Q[:, :5])
    bad = Q.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nn.kneighbors(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        nn.kneighbors(bad)
    with pytest.raises(ValueError, match="infinity"):
        fm.NearestNeighbors().fit(bad)
    with pytest.raises(ValueError, match="0 sample"):
        fm.NearestNeighbors().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="radius must be a non-negative"):
        nn.radius_neighbors(Q, radius=-1.0)
    with pytest.raises(ValueError, match=r"'radius' parameter of NearestNeighbors must be "
                                         r"a float in the range \[0, inf\) or None"):
        fm.NearestNeighbors(radius=-0.5).fit(X)
    with pytest.raises(ValueError, match="'leaf_size' parameter of NearestNeighbors must be"):
        fm.NearestNeighbors(leaf_size=0).fit(X)
    with pytest.raises(ValueError, match="did you mean 'cityblock'|Did you mean 'cityblock'"):
        fm.NearestNeighbors(metric="cityblok").fit(X)
    with pytest.raises(ValueError, match="'algorithm' parameter"):
        fm.NearestNeighbors(algorithm="annoy").fit(X)
    with pytest.raises(NotFittedError):
        fm.KNeighborsClassifier().predict(Q)
    with pytest.raises(NotFittedError):
        fm.NearestNeighbors().kneighbors(Q)
    with pytest.raises(ValueError, match="'weights' parameter"):
        fm.KNeighborsRegressor(weights="gaussian").fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="p must be a positive number"):
        fm.NearestNeighbors(p=-1).fit(X)


def test_failed_fit_leaves_a_fitted_estimator_unchanged(rng):
    X, Q = make_data(rng, np.float64)
    nn = fm.NearestNeighbors(n_neighbors=3).fit(X)
    before = nn.kneighbors(Q)
    with pytest.raises(ValueError):
        nn.set_params(metric="nope").fit(X[:20])
    nn.set_params(metric="minkowski")
    assert nn.n_samples_fit_ == X.shape[0]
    assert_array_equal(nn.kneighbors(Q)[1], before[1])


def test_empty_query(rng, dtype):
    X, _ = make_data(rng, dtype)
    nn = fm.NearestNeighbors(n_neighbors=3).fit(X)
    d, i = nn.kneighbors(np.zeros((0, X.shape[1]), dtype))
    assert d.shape == (0, 3) and i.shape == (0, 3) and d.dtype == dtype
    assert nn.kneighbors_graph(np.zeros((0, X.shape[1]))).shape == (0, X.shape[0])
    d, i = nn.radius_neighbors(np.zeros((0, X.shape[1])))
    assert d.shape == (0,) and i.shape == (0,)
    clf = fm.KNeighborsClassifier(n_neighbors=3).fit(X, rng.integers(0, 2, X.shape[0]))
    assert clf.predict(np.zeros((0, X.shape[1]))).shape == (0,)
    assert clf.predict_proba(np.zeros((0, X.shape[1]))).shape == (0, 2)


def test_memory_stays_far_below_the_distance_matrix():
    """kneighbors on 50 000 x 50 000 (a 20 GB float64 matrix) allocates a
    few MB in Python: the result and the kernel's tiles."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 4))
    nn = fm.NearestNeighbors(n_neighbors=5).fit(X)
    tracemalloc.start()
    d, i = nn.kneighbors(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert d.shape == (50_000, 5) and (d[:, 0] == 0).all()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_failed_fits_change_nothing(rng):
    X, Q = make_data(rng, np.float64)
    y = rng.integers(0, 3, X.shape[0])
    clf = fm.KNeighborsClassifier(n_neighbors=3).fit(X, y)
    before = dict(clf.__dict__)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X[:, :4], rng.normal(size=X.shape[0]))      # continuous labels
    with pytest.raises(ValueError, match="metric 'nope' is not supported"):
        clf.set_params(metric="nope").fit(X[:, :2], y)
    clf.set_params(metric="minkowski")
    assert clf.__dict__.keys() == before.keys()
    assert clf.n_features_in_ == X.shape[1] and clf._fit_X is before["_fit_X"]
    assert_array_equal(clf.predict(Q), fm.KNeighborsClassifier(n_neighbors=3).fit(X, y).predict(Q))


def test_zero_rows_under_cosine_are_at_distance_one_like_sklearn(rng):
    X, Q = make_data(rng, np.float64, n_fit=50, n_query=5)
    X[3] = 0.0
    Q[1] = 0.0
    ours = fm.NearestNeighbors(n_neighbors=50, metric="cosine").fit(X)
    ref = sk.NearestNeighbors(n_neighbors=50, metric="cosine", algorithm="brute").fit(X)
    d, i = ours.kneighbors(Q)
    d_ref, _ = ref.kneighbors(Q)
    assert_allclose(d, d_ref, rtol=1e-12, atol=1e-15)
    assert (d[1] == 1.0).all()
    y = rng.integers(0, 2, X.shape[0])
    proba = fm.KNeighborsClassifier(n_neighbors=5, weights="distance",
                                    metric="cosine").fit(X, y).predict_proba(Q)
    assert_allclose(proba.sum(axis=1), 1.0)


def test_zero_weights_raise_like_sklearn(rng):
    X, Q = make_data(rng, np.float64, n_fit=30, n_query=4)
    y = rng.integers(0, 2, 30)
    clf = fm.KNeighborsClassifier(weights=lambda d: np.zeros_like(d)).fit(X, y)
    with pytest.raises(ValueError, match="All neighbors of some sample is getting zero weights"):
        clf.predict(Q)


def test_bad_data_dependent_parameters_fail_at_fit():
    X = np.c_[np.arange(10.0), np.ones(10)]  # a constant feature: variance 0
    with pytest.raises(ValueError, match="variances V for metric 'seuclidean' must be positive"):
        fm.NearestNeighbors(metric="seuclidean").fit(X)


def test_precomputed_query_checks(rng):
    X, Q = make_data(rng, np.float64)
    nn = fm.NearestNeighbors(n_neighbors=3, metric="precomputed").fit(cdist(X, X))
    with pytest.raises(ValueError, match="distances to the 400 training samples; got 6"):
        nn.kneighbors(Q)
    with pytest.raises(ValueError, match="negative values"):
        nn.kneighbors(-cdist(Q, X))
    with pytest.raises(ValueError, match="Unsupported mode"):
        nn.kneighbors_graph(cdist(Q, X), mode="weights")
