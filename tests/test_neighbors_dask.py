"""fastml.neighbors on Dask arrays, on real multi-process clusters.

Every graph runs on the session ``client`` (two single-threaded worker
processes, see conftest.py) unless a test starts its own cluster: one whose
worker is killed mid-query, and one made of separate ``dask scheduler`` and
``dask worker`` processes on loopback.  Results are compared with fastml's
NumPy path (itself tested against scikit-learn in test_neighbors.py) and,
for predictions, with scikit-learn.
"""
import os
import signal
import sys
import time

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neighbors as sk
from sklearn.exceptions import DataConversionWarning

from fastml import neighbors as fm

distributed = pytest.importorskip("distributed")

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}


def run(client, *arrays):
    """Compute lazy results on the cluster (never on a local scheduler)."""
    for a in arrays:
        assert isinstance(a, da.Array), type(a)
    return client.gather(client.compute(list(arrays)))


def l1(a, b):
    s = 0.0
    for j in range(a.shape[0]):
        s += abs(a[j] - b[j])
    return s


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine", "seuclidean", l1],
                         ids=["euclidean", "manhattan", "cosine", "seuclidean", "custom"])
@pytest.mark.parametrize("index_rows", [500, 130, 45], ids=["1-shard", "4-shards", "12-shards"])
def test_kneighbors_equals_numpy(client, rng, dtype, metric, index_rows):
    X = rng.normal(size=(500, 6)).astype(dtype)
    Q = rng.normal(size=(170, 6)).astype(dtype)
    expected = fm.NearestNeighbors(n_neighbors=7, metric=metric).fit(X).kneighbors(Q)
    nn = fm.NearestNeighbors(n_neighbors=7, metric=metric).fit(
        da.from_array(X, chunks=(index_rows, 6)))
    d, i = nn.kneighbors(da.from_array(Q, chunks=(60, 6)))
    assert d.chunks == ((60, 60, 50), (7,)) and d.dtype == dtype and i.dtype == np.int64
    got_d, got_i = run(client, d, i)
    assert_array_equal(got_i, expected[1])
    assert_allclose(got_d, expected[0], rtol=RTOL[np.dtype(dtype)])


def test_fit_keeps_the_index_on_the_workers(client, rng):
    X = da.from_array(rng.normal(size=(400, 5)), chunks=(100, 5))
    nn = fm.NearestNeighbors().fit(X)
    assert isinstance(nn._fit_X, da.Array) and nn._fit_X.chunks == X.chunks
    distributed.wait(nn._fit_X)  # persisted: computing in the background
    held = client.who_has(nn._fit_X)
    assert len(held) == 4 and all(workers for workers in held.values())
    assert nn.n_samples_fit_ == 400 and nn.n_features_in_ == 5


def test_mixed_inputs(client, rng):
    X, Q = rng.normal(size=(300, 4)), rng.normal(size=(90, 4))
    expected = fm.NearestNeighbors(n_neighbors=3).fit(X).kneighbors(Q)
    # NumPy index, Dask queries
    d, i = fm.NearestNeighbors(n_neighbors=3).fit(X).kneighbors(da.from_array(Q, chunks=40))
    assert_array_equal(run(client, i)[0], expected[1])
    # Dask index, NumPy queries: still lazy, the index is never gathered
    nn = fm.NearestNeighbors(n_neighbors=3).fit(da.from_array(X, chunks=(70, 4)))
    d, i = nn.kneighbors(Q)
    got_d, got_i = run(client, d, i)
    assert_array_equal(got_i, expected[1])
    assert_allclose(got_d, expected[0], rtol=1e-12)
    # the training points as queries (each not its own neighbour)
    d, i = nn.kneighbors()
    expected = fm.NearestNeighbors(n_neighbors=3).fit(X).kneighbors()
    assert_array_equal(run(client, i)[0], expected[1])


def test_empty_index_shards(client, rng):
    # boolean indexing that empties a whole chunk, as filtering often does
    X, Q = rng.normal(size=(200, 4)), rng.normal(size=(30, 4))
    keep = np.ones(200, dtype=bool)
    keep[50:100] = False
    expected = fm.NearestNeighbors(n_neighbors=6).fit(X[keep]).kneighbors(Q)
    index = da.from_array(X, chunks=(50, 4))[da.from_array(keep, chunks=50)]
    index = index.compute_chunk_sizes()
    assert index.chunks[0] == (50, 0, 50, 50)
    d, i = fm.NearestNeighbors(n_neighbors=6).fit(index).kneighbors(da.from_array(Q, chunks=10))
    got_d, got_i = run(client, d, i)
    assert_array_equal(got_i, expected[1])
    assert_allclose(got_d, expected[0], rtol=1e-12)


def test_continuous_and_column_labels_on_dask(client, rng):
    X = da.from_array(rng.normal(size=(60, 3)), chunks=20)
    with pytest.raises(ValueError, match="Unknown label type"):
        fm.KNeighborsClassifier().fit(X, da.from_array(rng.normal(size=60), chunks=20))
    labels = rng.integers(0, 3, 60)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf = fm.KNeighborsClassifier().fit(X, da.from_array(labels[:, None], chunks=20))
    assert not clf.outputs_2d_ and clf.classes_.tolist() == [0, 1, 2]


def test_feature_chunked_and_integer_input(client, rng):
    X = rng.integers(0, 5, size=(200, 6))
    Q = rng.integers(0, 5, size=(50, 6))
    expected = fm.NearestNeighbors(n_neighbors=4, metric="manhattan").fit(X).kneighbors(Q)
    nn = fm.NearestNeighbors(n_neighbors=4, metric="manhattan").fit(
        da.from_array(X, chunks=(64, 2)))
    d, i = nn.kneighbors(da.from_array(Q, chunks=(20, 3)))
    got_d, got_i = run(client, d, i)
    assert_array_equal(got_i, expected[1])
    assert_array_equal(got_d, expected[0])


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_classifier_and_regressor(client, rng, weights):
    X, Q = rng.normal(size=(400, 5)), rng.normal(size=(120, 5))
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 400)]
    Xd, Qd = da.from_array(X, chunks=(150, 5)), da.from_array(Q, chunks=(50, 5))
    ref = sk.KNeighborsClassifier(n_neighbors=5, weights=weights, algorithm="brute").fit(X, y)
    for labels in (y, da.from_array(y, chunks=150)):
        clf = fm.KNeighborsClassifier(n_neighbors=5, weights=weights).fit(Xd, labels)
        assert_array_equal(clf.classes_, ref.classes_)
        pred, proba = clf.predict(Qd), clf.predict_proba(Qd)
        assert proba.chunks == ((50, 50, 20), (3,))
        pred, proba = run(client, pred, proba)
        assert_array_equal(pred, ref.predict(Q))
        assert_allclose(proba, ref.predict_proba(Q), rtol=1e-12)
    Y2 = np.c_[rng.integers(0, 2, 400), rng.integers(3, 6, 400)]
    clf = fm.KNeighborsClassifier(n_neighbors=5, weights=weights).fit(X, Y2)
    ref2 = sk.KNeighborsClassifier(n_neighbors=5, weights=weights, algorithm="brute").fit(X, Y2)
    assert_array_equal(run(client, clf.predict(Qd))[0], ref2.predict(Q))
    target = rng.normal(size=400)
    reg = fm.KNeighborsRegressor(n_neighbors=5, weights=weights).fit(Xd, da.from_array(target))
    ref = sk.KNeighborsRegressor(n_neighbors=5, weights=weights, algorithm="brute").fit(X, target)
    pred = reg.predict(Qd)
    assert pred.shape == (120,)
    assert_allclose(run(client, pred)[0], ref.predict(Q), rtol=1e-12)


def test_errors_on_dask_input(client, rng):
    nn = fm.NearestNeighbors(n_neighbors=3).fit(da.from_array(rng.normal(size=(50, 4)),
                                                             chunks=20))
    with pytest.raises(ValueError, match="X has 3 features, but NearestNeighbors is expecting 4"):
        nn.kneighbors(da.zeros((10, 3), chunks=5))
    with pytest.raises(ValueError, match="n_neighbors = 51, n_samples_fit = 50"):
        nn.kneighbors(da.zeros((10, 4), chunks=5), n_neighbors=51)
    with pytest.raises(NotImplementedError, match="radius_neighbors .*in-memory"):
        nn.radius_neighbors(np.zeros((2, 4)))
    pre = fm.NearestNeighbors(n_neighbors=2, metric="precomputed").fit(np.zeros((5, 5)))
    with pytest.raises(NotImplementedError, match="precomputed.*in-memory"):
        pre.kneighbors(da.zeros((3, 5), chunks=3))
    bad = da.from_array(np.full((10, 4), np.nan), chunks=5)
    d, i = nn.kneighbors(bad)  # lazy: the error comes when the block runs
    with pytest.raises(ValueError, match="NaN or infinity"):
        run(client, i)
    with pytest.raises(ValueError, match="0 sample"):
        fm.NearestNeighbors().fit(da.zeros((0, 3), chunks=1))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fm.KNeighborsClassifier().fit(da.zeros((10, 3), chunks=5), np.zeros(9))
    d, i = nn.kneighbors(da.zeros((0, 4), chunks=(1, 4)))
    assert d.shape == (0, 3)


def _worker_pids(client):
    return client.run(os.getpid)


def test_a_killed_worker_does_not_change_the_answer():
    """SIGKILL one of two worker processes in the middle of a query: Dask
    recomputes what it held (index shards included) and the answer stays."""
    # made by the workers (no large graph); the same values locally
    random = da.random.RandomState(0)
    Xd = random.normal(size=(60_000, 32), chunks=(6_000, 32))
    Qd = random.normal(size=(6_000, 32), chunks=(200, 32))
    X, Q = da.compute(Xd, Qd, scheduler="sync")
    expected = fm.NearestNeighbors(n_neighbors=5).fit(X).kneighbors(Q)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        nn = fm.NearestNeighbors(n_neighbors=5).fit(Xd)
        d, i = nn.kneighbors(Qd)
        futures = client.compute([d, i])

        def finished_searches(dask_scheduler):
            return sum(1 for ts in dask_scheduler.tasks.values()
                       if "argkmin" in str(ts.key) and ts.state in ("memory", "released"))

        deadline = time.monotonic() + 60
        while client.run_on_scheduler(finished_searches) < 20:
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.02)
        before = _worker_pids(client)
        victim = sorted(before.values())[0]
        os.kill(victim, signal.SIGKILL)
        killed_mid_query = not all(f.done() for f in futures)
        got_d, got_i = client.gather(futures)
        assert killed_mid_query
        client.wait_for_workers(2, timeout=60)
        assert victim not in _worker_pids(client).values()
    assert_array_equal(got_i, expected[1])
    assert_allclose(got_d, expected[0], rtol=1e-12)


def test_cluster_of_separate_scheduler_and_worker_processes(rng, separate_processes_cluster):
    """``dask scheduler`` and ``dask worker`` started as their own processes
    on loopback, as on a real cluster; fastml is imported by the workers."""
    with distributed.Client(separate_processes_cluster, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        X, Q = rng.normal(size=(2_000, 8)), rng.normal(size=(300, 8))
        y = rng.integers(0, 4, 2_000)
        clf = fm.KNeighborsClassifier(n_neighbors=6).fit(
            da.from_array(X, chunks=(500, 8)), da.from_array(y, chunks=500))
        d, i = clf.kneighbors(da.from_array(Q, chunks=(100, 8)))
        pred = clf.predict(da.from_array(Q, chunks=(100, 8)))
        got_d, got_i, got_pred = client.gather(client.compute([d, i, pred]))
        workers_used = client.run(lambda: "fastml" in sys.modules)
    expected = fm.NearestNeighbors(n_neighbors=6).fit(X).kneighbors(Q)
    assert_array_equal(got_i, expected[1])
    assert_allclose(got_d, expected[0], rtol=1e-12)
    ref = sk.KNeighborsClassifier(n_neighbors=6, algorithm="brute").fit(X, y)
    assert_array_equal(got_pred, ref.predict(Q))
    assert len(workers_used) == 2 and all(workers_used.values())
