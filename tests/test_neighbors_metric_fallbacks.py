"""Metrics fastml has no compiled kernel for run as scikit-learn runs them,
with one SlowMetricWarning per call: a callable Numba cannot compile, a
callable with keyword parameters, a DistanceMetric object, nan_euclidean;
and metric_params={'p': ...} with euclidean, which scikit-learn ignores."""
import warnings

import numpy as np
import pytest
import sklearn.neighbors as sk
from scipy.spatial.distance import braycurtis
from sklearn.metrics import DistanceMetric

import fastml.neighbors as fm
from fastml.kernels.distances import SlowMetricWarning


def scaled_manhattan(a, b, scale=1.0):
    return scale * np.abs(a - b).sum()


def _data(nan=False):
    rng = np.random.default_rng(3)
    X, Q = rng.normal(size=(40, 3)), rng.normal(size=(7, 3))
    if nan:
        X[::4, 1] = np.nan
        Q[0, 0] = np.nan
    return X, Q, rng.integers(0, 3, 40)


CASES = {
    "uncompilable callable": dict(metric=braycurtis),  # SciPy's: Numba cannot compile it
    "callable with metric_params": dict(metric=scaled_manhattan,
                                        metric_params={"scale": 2.5}),
    "DistanceMetric": dict(metric=DistanceMetric.get_metric("minkowski", p=3)),
    "nan_euclidean": dict(metric="nan_euclidean"),
}


def _query(est, X, y, Q, method):
    if method in ("predict", "predict_proba"):
        return getattr(est.fit(X, y), method)(Q)
    est.fit(X)
    if method == "radius_neighbors":
        dist, ind = est.radius_neighbors(Q, radius=2.0, sort_results=True)
        return np.concatenate(dist), np.concatenate(ind)
    if method == "transform":
        return est.transform(Q).toarray()
    return est.kneighbors(Q, 4)


ESTIMATORS = [("NearestNeighbors", "kneighbors"), ("NearestNeighbors", "radius_neighbors"),
              ("KNeighborsClassifier", "predict_proba"), ("KNeighborsRegressor", "predict"),
              ("KNeighborsTransformer", "transform"), ("RadiusNeighborsTransformer",
                                                       "transform")]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name, method", ESTIMATORS, ids=[m for _, m in ESTIMATORS])
def test_slow_metrics_match_sklearn(case, name, method):
    params = CASES[case]
    if case == "DistanceMetric" and (name == "KNeighborsClassifier" or "adius" in method + name):
        # scikit-learn's own tests skip these: its classifier and radius
        # searches refuse DistanceMetric objects (fastml takes them)
        pytest.skip("scikit-learn refuses DistanceMetric objects here")
    X, Q, y = _data(nan=case == "nan_euclidean")
    ref = _query(getattr(sk, name)(**params), X, y, Q, method)
    with pytest.warns(SlowMetricWarning) as record:
        got = _query(getattr(fm, name)(**params), X, y, Q, method)
    assert len(record) == 1, [str(w.message) for w in record]   # one per query
    for a, b in zip(got if isinstance(got, tuple) else (got,),
                    ref if isinstance(ref, tuple) else (ref,)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_the_warning_says_what_is_slower_and_why():
    X, Q, _ = _data()
    for metric, words in [(braycurtis, "Numba cannot compile it: Untyped global name"),
                          (DistanceMetric.get_metric("chebyshev"), "its own pairwise method"),
                          ("nan_euclidean", "scikit-learn's nan_euclidean_distances")]:
        nn = fm.NearestNeighbors(n_neighbors=2, metric=metric).fit(X)
        with pytest.warns(SlowMetricWarning, match=words):
            nn.kneighbors(Q)


def test_distance_metric_takes_every_algorithm_as_in_sklearn():
    X, Q, _ = _data()
    metric = DistanceMetric.get_metric("minkowski", p=3)
    for algorithm in ("auto", "brute", "ball_tree", "kd_tree"):
        ref = sk.NearestNeighbors(n_neighbors=3, metric=metric, algorithm=algorithm).fit(X)
        ours = fm.NearestNeighbors(n_neighbors=3, metric=metric, algorithm=algorithm).fit(X)
        assert ours.effective_metric_ is metric and ours.effective_metric_params_ == {}
        with pytest.warns(SlowMetricWarning):
            got = ours.kneighbors(Q)
        np.testing.assert_allclose(got, ref.kneighbors(Q), rtol=1e-12)


def test_nan_euclidean_allows_nan_and_no_tree():
    X, Q, _ = _data(nan=True)
    assert fm.NearestNeighbors(metric="nan_euclidean").__sklearn_tags__().input_tags.allow_nan
    with pytest.raises(ValueError, match="nan_euclidean"):
        sk.NearestNeighbors(metric="nan_euclidean", algorithm="kd_tree").fit(X)
    with pytest.raises(ValueError, match="nan_euclidean"):
        fm.NearestNeighbors(metric="nan_euclidean", algorithm="kd_tree").fit(X)
    X[0, 0] = np.inf
    for mod in (sk, fm):
        with pytest.raises(ValueError, match="infinity"):
            mod.NearestNeighbors(metric="nan_euclidean").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        fm.NearestNeighbors(metric="euclidean").fit(Q)   # NaN only with nan_euclidean


def test_nan_euclidean_on_dask_is_a_clear_error():
    da = pytest.importorskip("dask.array")
    X, _, _ = _data()
    with pytest.raises(NotImplementedError, match="nan_euclidean.*Dask"):
        fm.NearestNeighbors(metric="nan_euclidean").fit(da.from_array(X, chunks=10))


def _record(func):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            out = func()
        except TypeError as err:
            out = err
    return out, sorted(w.category.__name__ for w in record)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
@pytest.mark.parametrize("p", [2, None])
def test_p_in_metric_params_of_euclidean_is_ignored_as_in_sklearn(metric, p):
    """scikit-learn's brute force warns that p is not used and ignores it."""
    X, Q, _ = _data()
    kw = dict(n_neighbors=3, metric=metric, p=p, metric_params={"p": 3}, algorithm="brute")
    ref, ref_warnings = _record(lambda: sk.NearestNeighbors(**kw).fit(X).kneighbors(Q))
    got, got_warnings = _record(lambda: fm.NearestNeighbors(**kw).fit(X).kneighbors(Q))
    assert got_warnings == ref_warnings      # SyntaxWarning (p given too), UserWarning
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert fm.NearestNeighbors(**kw).fit(X).effective_metric_params_ == {"p": 3}


@pytest.mark.parametrize("metric, algorithm", [("manhattan", "brute"), ("cosine", "brute"),
                                               ("l2", "brute"), ("euclidean", "kd_tree"),
                                               ("euclidean", "ball_tree")])
def test_p_in_metric_params_of_other_metrics_is_a_type_error_as_in_sklearn(metric, algorithm):
    X, Q, _ = _data()
    kw = dict(n_neighbors=3, metric=metric, p=None, metric_params={"p": 3},
              algorithm=algorithm)
    ref, _ = _record(lambda: sk.NearestNeighbors(**kw).fit(X).kneighbors(Q))
    got, _ = _record(lambda: fm.NearestNeighbors(**kw).fit(X).kneighbors(Q))
    assert isinstance(ref, TypeError) and isinstance(got, TypeError), (ref, got)


def _threaded_results(params, X, Q, n_jobs):
    """pairwise_distances (X with itself, and Q to X), kneighbors and
    radius_neighbors with ``n_jobs`` threads, and the warnings each gave."""
    from fastml.metrics import pairwise_distances

    kw = dict(params.get("metric_params") or {})
    calls = [lambda: pairwise_distances(X, metric=params["metric"], n_jobs=n_jobs, **kw),
             lambda: pairwise_distances(Q, X, metric=params["metric"], n_jobs=n_jobs, **kw),
             lambda: fm.NearestNeighbors(n_jobs=n_jobs, **params).fit(X).kneighbors(Q, 5),
             lambda: fm.NearestNeighbors(n_jobs=n_jobs, **params).fit(X).kneighbors(),
             lambda: fm.NearestNeighbors(n_jobs=n_jobs, **params).fit(X).radius_neighbors(
                 Q, radius=2.0, sort_results=True)]
    results, counts = [], []
    for call in calls:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            got = call()
        counts.append(sum(issubclass(w.category, SlowMetricWarning) for w in record))
        got = got if isinstance(got, tuple) else (got,)
        results.append([np.concatenate(a) if a.dtype == object else a for a in got])
    return results, counts


@pytest.mark.parametrize("case", list(CASES))
def test_threaded_fallbacks_equal_one_thread_bit_for_bit(case):
    params = CASES[case]
    rng = np.random.default_rng(5)
    X, Q = rng.normal(size=(61, 4)), rng.normal(size=(23, 4))
    if case == "nan_euclidean":
        X[::5, 2], Q[1, 0] = np.nan, np.nan
    ref, ref_counts = _threaded_results(params, X, Q, 1)
    # pairwise_distances hands nan_euclidean to scikit-learn whole (with the
    # same one warning), and its n_jobs splits the matrix products (not bit
    # for bit): searches only
    skip = 2 if case == "nan_euclidean" else 0
    assert ref_counts == [1] * 5
    for n_jobs in (2, 3):
        got, counts = _threaded_results(params, X, Q, n_jobs)
        assert counts == ref_counts, n_jobs        # one warning per call still
        for a_list, b_list in zip(got[skip:], ref[skip:]):
            for a, b in zip(a_list, b_list):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert np.array_equal(a, b, equal_nan=True), (case, n_jobs)


def test_a_python_callable_runs_on_n_jobs_threads_of_the_kept_pool():
    import threading
    import time

    from fastml.metrics import pairwise_distances

    names = set()

    def slow_l1(a, b):
        names.add(threading.current_thread().name)
        time.sleep(1e-4)                # releases the GIL: the threads overlap
        return float(np.abs(a - b).sum())

    X = np.random.default_rng(0).normal(size=(24, 3))
    with pytest.warns(SlowMetricWarning):
        D = pairwise_distances(X, X[:10], metric=slow_l1, n_jobs=2)
    np.testing.assert_allclose(D, np.abs(X[:, None] - X[None, :10]).sum(-1))
    pool_threads = {n for n in names if n.startswith("fastml-metric")}
    assert len(pool_threads) == 1 and len(names) == 2, names   # caller + one pool thread


def test_an_error_in_a_threaded_callable_is_raised():
    from scipy.spatial.distance import cityblock

    def fails_on_row_30(a, b):
        if a[0] == 30.0:
            raise ZeroDivisionError("row 30")
        return cityblock(a, b)          # SciPy's: Numba cannot compile it

    X = np.arange(40.0)[:, None]
    nn = fm.NearestNeighbors(n_neighbors=2, metric=fails_on_row_30, n_jobs=3).fit(X)
    with pytest.warns(SlowMetricWarning), pytest.raises(ZeroDivisionError, match="row 30"):
        nn.kneighbors(X)
