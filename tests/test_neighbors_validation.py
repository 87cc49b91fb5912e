"""``algorithm``, ``leaf_size`` and the warnings of the neighbours
estimators, each case compared with scikit-learn itself: fastml raises
(or warns) exactly where scikit-learn does, and the value of ``algorithm``
never changes fastml's (exact, brute-force) result."""
import warnings

import numpy as np
import pytest
import sklearn.neighbors as sk
from sklearn.exceptions import DataConversionWarning

import fastml.neighbors as fm
from fastml._validation import InvalidParameterError

CLASSES = ["NearestNeighbors", "KNeighborsClassifier", "KNeighborsRegressor",
           "KNeighborsTransformer", "RadiusNeighborsTransformer"]
RNG = np.random.RandomState(0)
X2 = RNG.uniform(-1, 1, size=(24, 2))          # 2 features: haversine works
Y2 = np.arange(24) % 3


def build(module, cls, **params):
    if cls == "RadiusNeighborsTransformer":
        params.pop("n_neighbors", None)
    return getattr(module, cls)(**params)


def fit(est, X, y=Y2):
    if "Classifier" in type(est).__name__ or "Regressor" in type(est).__name__:
        return est.fit(X, y)
    return est.fit(X)


def outcome(module, cls, X=X2, **params):
    """"ok", or the exception; warnings are recorded, not raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit(build(module, cls, n_neighbors=3, **params), X)
        except (ValueError, TypeError) as exc:
            return exc
    return "ok"


def assert_same_outcome(cls, X=X2, **params):
    ref, ours = outcome(sk, cls, X, **params), outcome(fm, cls, X, **params)
    if ref == "ok":
        assert ours == "ok", f"scikit-learn fits {params}, fastml raised {ours!r}"
    else:
        assert ours != "ok", f"scikit-learn raised {ref!r} for {params}, fastml fitted"
        # the same kind of error (fastml's InvalidParameterError is both)
        assert isinstance(ours, type(ref)) or isinstance(ours, InvalidParameterError), (
            f"{params}: scikit-learn raised {type(ref).__name__}, fastml {ours!r}")
    return ours


# every metric both libraries take by name (by brute force)
METRICS = sorted(set(sk.VALID_METRICS["brute"]) - {"precomputed", "nan_euclidean"})
METRIC_PARAMS = {"mahalanobis": {"VI": np.eye(2)}, "seuclidean": {"V": np.ones(2)}}


@pytest.mark.parametrize("algorithm", ["auto", "brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("metric", METRICS)
def test_metric_and_algorithm_accepted_where_sklearn_accepts_them(metric, algorithm):
    X = (X2 > 0) if metric in ("dice", "jaccard", "rogerstanimoto", "russellrao",
                               "sokalsneath", "yule") else X2
    for cls in CLASSES:
        assert_same_outcome(cls, X, metric=metric, algorithm=algorithm,
                            metric_params=METRIC_PARAMS.get(metric))


@pytest.mark.parametrize("metric", ["mahalanobis", "seuclidean"])
def test_ball_tree_without_the_data_dependent_parameter_is_an_error(metric):
    # scikit-learn's BallTree needs VI / V; brute force computes it from X
    err = assert_same_outcome("NearestNeighbors", metric=metric, algorithm="ball_tree")
    assert "metric_params" in str(err) and "brute" in str(err)
    assert_same_outcome("NearestNeighbors", metric=metric, algorithm="brute")


def test_precomputed_takes_no_tree():
    D = np.abs(X2[:, :1] - X2[:, 0])
    for algorithm in ["auto", "brute", "kd_tree", "ball_tree"]:
        assert_same_outcome("NearestNeighbors", D, metric="precomputed", algorithm=algorithm)


def manhattan(a, b):
    return np.abs(a - b).sum()


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("algorithm", ["auto", "brute", "kd_tree", "ball_tree"])
def test_callable_metric_and_algorithm(cls, algorithm):
    err = assert_same_outcome(cls, metric=manhattan, algorithm=algorithm)
    if algorithm == "kd_tree":
        assert "kd_tree" in str(err) and "callable" in str(err)


@pytest.mark.parametrize("algorithm", ["auto", "brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("p", [0.5, 1, 1.5, 2, np.inf])
def test_minkowski_p_and_weights_against_the_algorithm(algorithm, p):
    for cls in CLASSES:
        assert_same_outcome(cls, p=p, algorithm=algorithm)
        if p == np.inf:   # weighted chebyshev: scikit-learn has no metric for it
            continue
        assert_same_outcome(cls, metric="minkowski", p=p, algorithm=algorithm,
                            metric_params={"w": np.array([1.0, 2.0])})


@pytest.mark.parametrize("algorithm", ["auto", "brute"])
def test_fractional_p_warns_as_sklearn_by_brute_force(algorithm):
    for module in (sk, fm):
        with pytest.warns(UserWarning, match="0 < p < 1"):
            module.NearestNeighbors(p=0.5, algorithm=algorithm).fit(X2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fm.NearestNeighbors(p=1.5, algorithm=algorithm).fit(X2)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("params", [
    {"algorithm": "annoy"}, {"algorithm": "KD_TREE"}, {"algorithm": None},
    {"algorithm": 1}, {"leaf_size": 0}, {"leaf_size": -3}, {"leaf_size": 2.0},
    {"leaf_size": "30"}, {"leaf_size": None},
])
def test_unknown_values_raise_as_in_sklearn(cls, params):
    ours = assert_same_outcome(cls, **params)
    assert isinstance(ours, InvalidParameterError) and isinstance(ours, ValueError)
    name = next(iter(params))
    assert f"'{name}' parameter of {cls}" in str(ours)


@pytest.mark.parametrize("cls", CLASSES)
def test_unknown_value_raises_at_fit_and_leaves_the_estimator_unfitted(cls):
    est = build(fm, cls, algorithm="kdtree")       # the constructor stores it
    assert est.algorithm == "kdtree"
    with pytest.raises(ValueError, match="Did you mean 'kd_tree'"):
        fit(est, X2)
    assert not hasattr(est, "n_samples_fit_")


@pytest.mark.parametrize("value", [1, 2, 30, 10**6, np.int64(5), np.uint8(1)])
def test_any_positive_integer_leaf_size_is_accepted(value):
    for cls in CLASSES:
        assert_same_outcome(cls, leaf_size=value)


def test_a_boolean_leaf_size_is_refused_unlike_sklearn():
    # deliberate: fastml never takes a bool for a number (scikit-learn's
    # Interval accepts True as the integer 1)
    assert outcome(sk, "NearestNeighbors", leaf_size=True) == "ok"
    with pytest.raises(InvalidParameterError, match="'leaf_size' parameter"):
        fm.NearestNeighbors(leaf_size=True).fit(X2)


@pytest.mark.parametrize("algorithm", ["auto", "brute", "kd_tree", "ball_tree"])
@pytest.mark.parametrize("leaf_size", [1, 30, 1000])
def test_algorithm_and_leaf_size_never_change_the_result(algorithm, leaf_size):
    X = RNG.normal(size=(200, 4))
    Q = RNG.normal(size=(30, 4))
    base = fm.NearestNeighbors(n_neighbors=7, algorithm="brute").fit(X)
    ours = fm.NearestNeighbors(n_neighbors=7, algorithm=algorithm, leaf_size=leaf_size).fit(X)
    ref = sk.NearestNeighbors(n_neighbors=7, algorithm=algorithm, leaf_size=leaf_size).fit(X)
    for a, b in zip(ours.kneighbors(Q), base.kneighbors(Q)):
        np.testing.assert_array_equal(a, b)
    dist, ind = ref.kneighbors(Q)
    np.testing.assert_array_equal(ours.kneighbors(Q)[1], ind)
    np.testing.assert_allclose(ours.kneighbors(Q)[0], dist, rtol=1e-12)
    got = ours.radius_neighbors_graph(Q, radius=1.5).toarray()
    np.testing.assert_allclose(got, ref.radius_neighbors_graph(Q, radius=1.5).toarray(),
                               rtol=1e-12)


def recorded(category, func):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func()
    return [w for w in caught if issubclass(w.category, category)]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("params", [
    {"metric_params": {"p": 3}}, {"metric_params": {"p": 3}, "p": None},
    {"metric_params": {"p": 1}, "p": 1}, {"metric_params": {"w": np.ones(2)}},
    {"metric_params": None}, {"metric_params": {"p": 2}, "metric": "minkowski"},
])
def test_p_in_metric_params_warns_as_in_sklearn(cls, params):
    def fitted(module):
        return lambda: fit(build(module, cls, n_neighbors=3, **params), X2)

    ref = recorded(SyntaxWarning, fitted(sk))
    ours = recorded(SyntaxWarning, fitted(fm))
    assert len(ours) == len(ref)
    if ours:
        assert "metric_params" in str(ours[0].message)
        assert ours[0].filename == __file__    # points at the caller's line


BOOLEAN_CASES = [  # (fit data, query data)
    (X2 > 0, X2 > 0), (X2 > 0, (X2 > 0).astype(float)), ((X2 > 0).astype(float), X2 > 0),
    (X2, X2), ((X2 > 0).astype(np.int64), (X2 > 0).astype(np.int64)), (X2 > 0, None),
    (X2, None),
]


@pytest.mark.parametrize("metric", ["jaccard", "dice", "russellrao", "euclidean"])
@pytest.mark.parametrize("case", range(len(BOOLEAN_CASES)))
@pytest.mark.parametrize("algorithm", ["brute", "ball_tree"])
def test_boolean_metric_on_other_data_warns_as_in_sklearn(metric, case, algorithm):
    X, Q = BOOLEAN_CASES[case]

    def queries(module, algorithm):
        def run():
            nn = module.NearestNeighbors(n_neighbors=3, metric=metric,
                                         algorithm=algorithm).fit(X)
            nn.kneighbors(Q)
            nn.radius_neighbors(Q, radius=0.5)
        return run

    ref = recorded(DataConversionWarning, queries(sk, algorithm))
    ours = recorded(DataConversionWarning, queries(fm, algorithm))
    assert len(ours) == len(ref)
    for w in ours:
        assert f"Data was converted to boolean for metric {metric}" in str(w.message)
    if algorithm == "brute":   # fastml's "auto" is brute force
        assert len(recorded(DataConversionWarning, queries(fm, "auto"))) == len(ref)


def test_boolean_metric_warns_through_predict():
    Xf = (X2 > 0).astype(float)
    for module in (sk, fm):
        clf = module.KNeighborsClassifier(n_neighbors=3, metric="jaccard",
                                          algorithm="brute").fit(Xf, Y2)
        with pytest.warns(DataConversionWarning, match="converted to boolean"):
            clf.predict(Xf)


def test_fit_takes_a_fitted_estimator_or_a_tree_as_scikit_learn_does():
    """scikit-learn's fit takes a fitted neighbours estimator, a BallTree or
    a KDTree in place of X: the neighbours are those of its rows."""
    from sklearn.neighbors import BallTree, KDTree

    from fastml.neighbors import NearestNeighbors

    X = np.random.default_rng(0).random((30, 3))
    expected = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    fitted = NearestNeighbors(n_neighbors=2).fit(X)
    for data in (fitted, BallTree(X), KDTree(X)):
        got = NearestNeighbors(n_neighbors=2).fit(data).kneighbors(X)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_array_equal(got[0], expected[0])
