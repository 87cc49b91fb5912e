"""Bad input gets a clear exception, raised in Python before compiled code
runs, saying what was received and how to fix it."""
import numpy as np
import pytest

from fastml import kernels
from fastml.metrics import pairwise_distances, pairwise_distances_chunked

X = np.arange(12.0).reshape(4, 3)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "Input X contains NaN"),
    (np.inf, "Input X contains infinity"),
])
def test_non_finite_input(bad, message):
    Xb = X.copy()
    Xb[1, 2] = bad
    with pytest.raises(ValueError, match=message):
        pairwise_distances(Xb)
    with pytest.raises(ValueError, match=message):
        next(pairwise_distances_chunked(Xb))
    if bad is np.nan:
        pairwise_distances(Xb, ensure_all_finite="allow-nan")  # allowed, as in scikit-learn
    pairwise_distances(Xb, ensure_all_finite=False)


@pytest.mark.parametrize("func", [pairwise_distances, kernels.pairwise_distances_chunk])
def test_feature_count_mismatch(func):
    with pytest.raises(ValueError, match="X has 3 and Y has 2"):
        func(X, X[:, :2])


@pytest.mark.parametrize("func", [pairwise_distances, kernels.pairwise_distances_chunk])
@pytest.mark.parametrize("shape, hint", [((5,), "reshape"), ((2, 2, 2), "3-D")])
def test_wrong_number_of_dimensions(func, shape, hint):
    with pytest.raises(ValueError, match=hint):
        func(np.zeros(shape), np.zeros(shape))


@pytest.mark.parametrize("func", [pairwise_distances, kernels.pairwise_distances_chunk])
@pytest.mark.parametrize("data, word", [
    (np.array([["a", "b"], ["c", "d"]]), "strings"),
    (np.array([[1, None], [2, 3]], dtype=object), "Python objects"),
    (np.ones((2, 2), dtype=complex), "complex"),
])
def test_unsupported_dtypes(func, data, word):
    with pytest.raises(TypeError, match=word):
        func(data, data)


@pytest.mark.parametrize("func", [pairwise_distances, kernels.pairwise_distances_chunk])
def test_unknown_metric_suggests_the_closest(func):
    with pytest.raises(ValueError, match="'euclidan' is not supported. Did you mean 'euclidean'"):
        func(X, X, metric="euclidan")
    with pytest.raises(ValueError, match="Supported metrics"):
        func(X, X, metric="nonsense")
    with pytest.raises(TypeError, match="metric must be a string or a callable"):
        func(X, X, metric=3)


@pytest.mark.parametrize("params, message", [
    ({"metric": "minkowski", "p": 0}, "p > 0"),
    ({"metric": "minkowski", "p": -1.5}, "p > 0"),
    ({"metric": "minkowski", "p": np.nan}, "p > 0"),
    ({"metric": "cityblock", "w": [1.0, 2.0]}, "length n_features=3"),
    ({"metric": "cityblock", "w": [1.0, -2.0, 1.0]}, "non-negative"),
    ({"metric": "seuclidean", "V": [1.0, 1.0]}, "length n_features=3"),
    ({"metric": "seuclidean", "V": [1.0, 0.0, 1.0]}, "must be positive"),
    ({"metric": "mahalanobis", "VI": np.ones((3, 2))}, "square"),
    ({"metric": "mahalanobis", "VI": np.eye(2)}, r"shape \(3, 3\)"),
    ({"metric": "mahalanobis", "VI": -np.eye(3)}, "positive semi-definite"),
    ({"metric": "jensenshannon", "base": 1}, "base > 0"),
    ({"metric": "haversine"}, "exactly 2 features"),
    ({"metric": "cityblock", "p": 3}, "unexpected parameter"),
    ({"metric": "wminkowski"}, "removed from SciPy"),
])
@pytest.mark.parametrize("func", [pairwise_distances, kernels.pairwise_distances_chunk])
def test_bad_metric_parameters(func, params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        func(X, X, **params)


def test_mahalanobis_without_vi_needs_enough_samples():
    with pytest.raises(ValueError, match="more samples"):
        pairwise_distances(X[:2], metric="mahalanobis")


@pytest.mark.parametrize("kwargs", [{"n_jobs": 0}, {"n_jobs": 1.5}])
def test_bad_n_jobs(kwargs):
    with pytest.raises(ValueError, match="n_jobs"):
        pairwise_distances(X, **kwargs)


@pytest.mark.parametrize("n_threads", [0, -1, 2.0, True])
def test_bad_n_threads(n_threads):
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        kernels.pairwise_distances_chunk(X, X, n_threads=n_threads)


def test_zero_features():
    with pytest.raises(ValueError, match="0 feature"):  # scikit-learn's check_array
        pairwise_distances(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="0 features"):
        kernels.pairwise_distances_chunk(np.zeros((3, 0)), np.zeros((2, 0)))


def test_precomputed_y_only_fixes_the_number_of_columns():
    D = np.ones((3, 4))
    np.testing.assert_array_equal(pairwise_distances(D, np.zeros((4, 2)), metric="precomputed"), D)
    with pytest.raises(ValueError, match="2 columns were expected, X has shape"):
        pairwise_distances(D, np.zeros((2, 4)), metric="precomputed")
    with pytest.raises(ValueError, match="With Y=None X must be square"):
        pairwise_distances(D, metric="precomputed")


def test_chunked_rejects_dask_input_with_the_fix():
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="already lazy"):
        next(pairwise_distances_chunked(da.zeros((4, 3), chunks=2)))


@pytest.mark.parametrize("typed, suggested", [
    ("manhatan", ["manhattan", "mahalanobis"]),
    ("cityblok", ["cityblock"]),
    ("euclidian", ["euclidean", "seuclidean", "sqeuclidean"]),
    ("cosin", ["cosine"]),
])
def test_unknown_metric_suggests_each_close_name_once_closest_first(typed, suggested):
    from fastml._validation.metrics import resolve_metric

    with pytest.raises(ValueError) as info:
        resolve_metric(typed)
    hint = str(info.value).split("Did you mean ")[1].split("?")[0]
    assert hint == " or ".join(repr(name) for name in suggested)


@pytest.mark.parametrize("estimator, typed, suggested", [
    ("KNeighborsClassifier", {"weights": "distanse"}, "'distance'"),
    ("KNeighborsClassifier", {"algorithm": "brutr"}, "'brute'"),
    ("KBinsDiscretizer", {"strategy": "quantle"}, "'quantile'"),
    ("QuantileTransformer", {"output_distribution": "norml"}, "'normal'"),
    ("HistGradientBoostingClassifier", {"loss": "log_los"}, "'log_loss'"),
])
def test_a_mistyped_option_gets_the_closest_options_suggested_once(estimator, typed, suggested):
    import fastml.ensemble
    import fastml.neighbors
    import fastml.preprocessing

    module = next(m for m in (fastml.neighbors, fastml.preprocessing, fastml.ensemble)
                  if hasattr(m, estimator))
    X, y = np.random.default_rng(0).random((30, 2)), np.arange(30) % 2
    with pytest.raises(ValueError) as info:
        getattr(module, estimator)(**typed).fit(X, y)
    hint = str(info.value).split("Did you mean ", 1)[1]
    assert hint.startswith(suggested)                       # closest first
    names = [part.strip(" ?") for part in hint.split(" or ")]
    assert len(names) == len(set(names))                    # each once


def test_did_you_mean_names_each_meaning_once_closest_spelling_first():
    from fastml._validation.parameters import did_you_mean

    aliases = {"cityblock": "cityblock", "manhattan": "cityblock", "l1": "cityblock",
               "mahalanobis": "mahalanobis"}
    assert did_you_mean("manhatan", list(aliases), same=aliases.get) == \
        " Did you mean 'manhattan' or 'mahalanobis'?"
    assert did_you_mean("MANHATAN", ["manhattan"]) == " Did you mean 'manhattan'?"
    assert did_you_mean("zzz", list(aliases)) == ""
