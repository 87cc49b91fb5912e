"""Gradient boosting fitted on Dask blocks (``fastml._dask.boosting``): the
trees of the in-memory fit on the same rows, bit for bit, whatever the
blocks and workers; predictions on Dask input lazy; unsupported options
and bad input refused before any work is sent."""
import dask
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification, make_regression

from fastml import kernels
from fastml.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                             NumbaLoss)

distributed = pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def shards_on_every_worker():
    """A shard per worker however few the rows, as on large data spread
    over several hosts: the tests' data is small, and their workers share
    one host, which would otherwise hold one shard."""
    with dask.config.set({"fastml.boosting.rows-per-shard": 1,
                          "fastml.boosting.shard-per-worker": True}):
        yield


def assert_same_model(got, expected):
    assert got.n_iter_ == expected.n_iter_
    assert_array_equal(got._baseline, expected._baseline)
    for a, b in zip(got._thresholds, expected._thresholds):
        assert_array_equal(a, b)
    for trees, expected_trees in zip(got._trees, expected._trees):
        for tree, expected_tree in zip(trees, expected_trees):
            for field in kernels.Tree._fields:
                assert_array_equal(getattr(tree, field), getattr(expected_tree, field),
                                   err_msg=field)


class Block:
    """A stand-in for a block's future where only its key is read."""

    def __init__(self, key):
        self.key = key


def regression_data(n=3000, seed=0):
    X, y = make_regression(n_samples=n, n_features=6, noise=5, random_state=seed)
    X[::7, 1] = np.nan
    X[:, 3] = np.round(X[:, 3])
    return X, y


@pytest.mark.parametrize("chunks", [3000, 1000, (1200, 1, 799, 1000)])
def test_regression_on_blocks_is_the_in_memory_model(chunks):
    X, y = regression_data()
    params = dict(max_iter=8, early_stopping=False, random_state=0)
    Xd = da.from_array(X, chunks=(chunks, 6))
    model = HistGradientBoostingRegressor(**params).fit(Xd, da.from_array(y, chunks=500))
    expected = HistGradientBoostingRegressor(**params).fit(X, y)
    assert_same_model(model, expected)
    prediction = model.predict(Xd)
    assert isinstance(prediction, da.Array)
    assert_array_equal(prediction.compute(), expected.predict(X))


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_the_in_memory_losses(capsys, early_stopping):
    """One line per iteration, with the training loss (early stopping off)
    or the recorded scores, as the in-memory fit prints them."""
    import re

    X, y = regression_data(1500, seed=2)
    params = dict(max_iter=4, early_stopping=early_stopping, n_iter_no_change=50,
                  random_state=0, verbose=1)
    HistGradientBoostingRegressor(**params).fit(X, y)
    in_memory = capsys.readouterr().out
    HistGradientBoostingRegressor(**params).fit(da.from_array(X, chunks=(400, 6)),
                                                da.from_array(y, chunks=400))
    on_dask = capsys.readouterr().out
    pattern = r"\[(\d)/4\] 1 tree, \d+ leaves, (train loss [\d.]+|train score \S+, val score \S+),"
    assert re.findall(pattern, on_dask) == re.findall(pattern, in_memory)
    assert len(re.findall(pattern, on_dask)) == 4
    assert "round trips to the shards" in on_dask


def test_small_data_fits_on_one_shard(client, capsys):
    """Below two shards' worth of rows (ROWS_PER_SHARD), one worker holds
    every block: no round trips between workers; the same model."""
    from fastml._dask.boosting import ROWS_PER_SHARD, shard_count

    X, y = regression_data(2000, seed=11)
    params = dict(max_iter=3, early_stopping=False, random_state=0)
    with dask.config.set({"fastml.boosting.rows-per-shard": ROWS_PER_SHARD}):
        assert shard_count(10_000, 2) == 1
        assert shard_count(2 * ROWS_PER_SHARD, 2) == 2
        assert shard_count(10 * ROWS_PER_SHARD, 3) == 3
        assert shard_count(0, 2) == 1
        model = HistGradientBoostingRegressor(**params, verbose=1).fit(
            da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500))
    out = capsys.readouterr().out
    # the idle worker's thread goes to the shard beside it (on the same host)
    assert "1 shard on 2 workers, computing on 2 threads" in out
    assert out.count("0 round trips to the shards") == 3   # the compiled grower, in place
    assert_same_model(model, HistGradientBoostingRegressor(**params).fit(X, y))
    HistGradientBoostingRegressor(**params, verbose=1).fit(
        da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500))
    # the fixture's setting
    assert "2 shards on 2 workers, computing on 1+1 threads" in capsys.readouterr().out


def test_one_shard_a_host(client, capsys):
    """Workers on one host share one shard (however many rows) unless its
    rows would not fit in one worker's memory."""
    from fastml._dask.boosting import _shard_workers

    X, y = regression_data(2000, seed=12)
    params = dict(max_iter=2, early_stopping=False, random_state=0)
    with dask.config.set({"fastml.boosting.shard-per-worker": False}):
        model = HistGradientBoostingRegressor(**params, verbose=1).fit(
            da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500))
    assert "1 shard on 2 workers, computing on 2 threads" in capsys.readouterr().out
    assert_same_model(model, HistGradientBoostingRegressor(**params).fit(X, y))

    blocks, sizes = [Block(i) for i in range(4)], [1000, 1000, 1000, 3000]
    holders = {0: ["a1"], 1: ["a2"], 2: ["b1"], 3: ["b2"]}
    workers = {addr: dict(host=addr[0], nthreads=1, memory_limit=10**9)
               for addr in ("a1", "a2", "b1", "b2")}
    with dask.config.set({"fastml.boosting.shard-per-worker": False}):
        # one per host, on the worker holding the most rows
        assert _shard_workers(blocks, sizes, holders, workers, 100) == ["b2", "a1"]
        # a host's 3000 rows take 300 000 bytes: more than half of 500 000
        small = {addr: dict(info, memory_limit=500_000) for addr, info in workers.items()}
        assert sorted(_shard_workers(blocks, sizes, holders, small, 100)) == [
            "a1", "a2", "b1", "b2"]
        with dask.config.set({"fastml.boosting.rows-per-shard": 4000}):
            assert _shard_workers(blocks, sizes, holders, workers, 100) == ["b2"]
    assert sorted(_shard_workers(blocks, sizes, holders, workers, 100)) == [
        "a1", "a2", "b1", "b2"]   # the fixture's shard per worker


def test_shards_compute_on_the_threads_of_their_hosts():
    """A worker without a shard lends its threads to the shards on its
    host, shared out as evenly as they go; hosts without a shard lend
    nothing."""
    from fastml._dask.boosting import shard_threads

    workers = {"a1": dict(host="a", nthreads=2), "a2": dict(host="a", nthreads=1),
               "a3": dict(host="a", nthreads=4), "a4": dict(host="a", nthreads=2),
               "b1": dict(host="b", nthreads=3), "c1": dict(host="c", nthreads=8)}
    assert shard_threads(["a1", "a2", "b1"], workers) == {"a1": 2 + 3, "a2": 1 + 3, "b1": 3}
    assert shard_threads(["a3"], workers) == {"a3": 4 + 5}
    assert shard_threads(list(workers), workers) == {
        addr: info["nthreads"] for addr, info in workers.items()}


def test_fit_on_a_process_cluster(client):
    """Two worker processes: blocks, histograms and trees are pickled and
    sent; the model is still the in-memory one."""
    X, y = make_classification(n_samples=2400, n_features=8, n_informative=5, n_classes=3,
                               random_state=1)
    w = np.random.default_rng(1).integers(1, 4, 2400).astype(np.float64)
    params = dict(max_iter=4, early_stopping=False, random_state=0, max_features=0.5,
                  max_leaf_nodes=15)
    Xd = da.from_array(X, chunks=(500, 8))
    model = HistGradientBoostingClassifier(**params).fit(
        Xd, da.from_array(y, chunks=600), sample_weight=da.from_array(w, chunks=600))
    expected = HistGradientBoostingClassifier(**params).fit(X, y, sample_weight=w)
    assert_same_model(model, expected)
    assert_array_equal(model.predict_proba(Xd).compute(), expected.predict_proba(X))
    assert_array_equal(model.predict(Xd).compute(), expected.predict(X))


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gamma", "absolute_error",
                                  "quantile"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses(loss, weighted):
    """Every loss; absolute_error and quantile set their leaves from the
    residuals of the leaf's rows, gathered in row order."""
    X, y = regression_data(1500, seed=2)
    y = np.abs(y) + 1.0
    w = np.random.default_rng(2).integers(1, 4, 1500).astype(np.float64) if weighted else None
    params = dict(loss=loss, max_iter=5, early_stopping=False, random_state=0,
                  quantile=0.8 if loss == "quantile" else None)
    with dask.config.set(scheduler="threads"):   # not the session's process cluster
        model = HistGradientBoostingRegressor(**params).fit(
            da.from_array(X, chunks=(400, 6)), da.from_array(y, chunks=400), sample_weight=w)
    assert_same_model(model, HistGradientBoostingRegressor(**params).fit(X, y, sample_weight=w))


def test_binary_classification_with_class_weight_and_labels():
    X, y = make_classification(n_samples=2000, n_features=5, random_state=3)
    labels = np.array(["no", "yes"])[y]
    params = dict(max_iter=5, early_stopping=False, random_state=0, class_weight="balanced",
                  max_depth=3)
    Xd = da.from_array(X, chunks=(700, 5))
    model = HistGradientBoostingClassifier(**params).fit(Xd, da.from_array(labels, chunks=700))
    expected = HistGradientBoostingClassifier(**params).fit(X, labels)
    assert_same_model(model, expected)
    assert_array_equal(model.predict(Xd).compute(), expected.predict(X))
    assert_array_equal(model.decision_function(Xd).compute(), expected.decision_function(X))


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("binning_sample", [500, 5000])
def test_binning_sample_above_binning_sample_rows(monkeypatch, early_stopping, binning_sample):
    """Above BINNING_SAMPLE rows, the thresholds come from the same drawn
    rows as in memory (gathered from the blocks); with early stopping,
    from the training rows of the split (read from the given blocks), all
    of them below BINNING_SAMPLE."""
    from fastml.ensemble._hist_gradient_boosting import gradient_boosting

    monkeypatch.setattr(gradient_boosting, "BINNING_SAMPLE", binning_sample)
    X, y = regression_data(2000, seed=4)
    w = np.random.default_rng(4).integers(1, 3, 2000).astype(np.float64)
    params = dict(max_iter=3, early_stopping=early_stopping, random_state=0)
    model = HistGradientBoostingRegressor(**params).fit(
        da.from_array(X, chunks=(300, 6)), da.from_array(y, chunks=300),
        sample_weight=da.from_array(w, chunks=300))
    expected = HistGradientBoostingRegressor(**params).fit(X, y, sample_weight=w)
    assert_same_model(model, expected)
    assert_array_equal(model.validation_score_, expected.validation_score_)


@pytest.mark.parametrize("chunks", [(70, 5), (250, 2), (1000, 5)])
@pytest.mark.parametrize("rows", [None, "drawn"])
def test_gather_rows_takes_each_blocks_rows_where_it_is(chunks, rows):
    """The binning sample: X[rows] (repeated rows, any order) or all of X,
    over blocks of rows and of columns, and whether any block, sampled or
    not, holds an infinite value."""
    from fastml._dask.boosting import gather_rows

    X = np.random.default_rng(5).normal(size=(1000, 5)).astype(np.float32)
    drawn = None if rows is None else np.random.default_rng(6).integers(0, 999, 600)
    sample, has_inf = gather_rows(da.from_array(X, chunks=chunks), drawn)
    assert_array_equal(sample, X if drawn is None else X[drawn])
    assert sample.dtype == X.dtype and not has_inf
    X[999, 3] = -np.inf   # a row never drawn, in the last block
    assert gather_rows(da.from_array(X, chunks=chunks), drawn)[1]


@pytest.mark.parametrize("Model, make, params", [
    (HistGradientBoostingRegressor, regression_data, {}),   # 'auto': over 10 000 rows
    (HistGradientBoostingClassifier, None, {"early_stopping": True}),
    (HistGradientBoostingClassifier, None, {"early_stopping": True, "max_iter": 6,
                                            "validation_fraction": None}),
])
def test_early_stopping_on_the_loss_stops_where_in_memory_stops(Model, make, params):
    """The validation rows are the in-memory split's, the scores the same
    bit for bit, so the fit stops at the same iteration."""
    if make is None:
        X, y = make_classification(n_samples=3000, n_features=8, n_classes=3, n_informative=5,
                                   random_state=9)
    else:
        X, y = make(12_000, seed=9)
    params = {"max_iter": 80, "random_state": 0, "n_iter_no_change": 2, "learning_rate": 0.3,
              **params}
    with dask.config.set(scheduler="threads"):   # not the session's process cluster
        model = Model(**params).fit(da.from_array(X, chunks=(2500, X.shape[1])),
                                    da.from_array(y, chunks=2500))
    expected = Model(**params).fit(X, y)
    assert_same_model(model, expected)
    assert model.n_iter_ < params["max_iter"] or params.get("validation_fraction", 0.1) is None
    assert_array_equal(model.train_score_, expected.train_score_)
    assert_array_equal(model.validation_score_, expected.validation_score_)


@pytest.mark.parametrize("given_validation", [False, True])
def test_one_shard_scores_on_a_process_cluster(client, given_validation):
    """A fit's one shard scores its rows where they are (only the scores
    travel), as in memory, bit for bit: the validation split's rows or
    X_val's, with weights."""
    X, y = make_classification(n_samples=14_000, n_features=8, n_classes=3, n_informative=5,
                               random_state=4)
    w = np.random.default_rng(4).integers(1, 3, 14_000).astype(np.float64)
    params = dict(max_iter=80, random_state=0, n_iter_no_change=2, learning_rate=0.3,
                  early_stopping=True)
    Xd, yd, wd = (da.from_array(a, chunks=3000) if a.ndim == 1 else
                  da.from_array(a, chunks=(3000, 8)) for a in (X, y, w))
    if given_validation:   # the last 2000 rows
        fit = dict(X_val=Xd[12_000:], y_val=yd[12_000:], sample_weight_val=wd[12_000:])
        expected_fit = dict(X_val=X[12_000:], y_val=y[12_000:], sample_weight_val=w[12_000:])
        X, y, w, Xd, yd, wd = (a[:12_000] for a in (X, y, w, Xd, yd, wd))
    else:
        fit = expected_fit = {}
    with dask.config.set({"fastml.boosting.shard-per-worker": False}):
        model = HistGradientBoostingClassifier(**params).fit(Xd, yd, sample_weight=wd, **fit)
    expected = HistGradientBoostingClassifier(**params).fit(X, y, sample_weight=w,
                                                            **expected_fit)
    assert_same_model(model, expected)
    assert model.n_iter_ < params["max_iter"]
    assert_array_equal(model.train_score_, expected.train_score_)
    assert_array_equal(model.validation_score_, expected.validation_score_)


def test_the_leader_grows_iterations_until_early_stopping_ends_the_fit(monkeypatch):
    """Early stopping on the loss with one shard: the client asks for
    several iterations a call, and the leader ends a call at the iteration
    where the fit stops, growing no tree beyond it."""
    from fastml._dask import boosting_shards

    calls, grown = [], []
    iterations, grow_iteration = boosting_shards.Leader.iterations, \
        boosting_shards.Shard.grow_iteration
    monkeypatch.setattr(boosting_shards.Leader, "iterations", lambda self, *args: (
        calls.append(args[1]), iterations(self, *args))[1])
    monkeypatch.setattr(boosting_shards.Shard, "grow_iteration", lambda self, *args: (
        grown.append(1), grow_iteration(self, *args))[1])
    X, y = regression_data(12_000, seed=9)
    params = dict(max_iter=80, random_state=0, n_iter_no_change=2, learning_rate=0.3)
    with dask.config.set(scheduler="threads"):
        model = HistGradientBoostingRegressor(**params).fit(
            da.from_array(X, chunks=(2500, 6)), da.from_array(y, chunks=2500))
    expected = HistGradientBoostingRegressor(**params).fit(X, y)
    assert_same_model(model, expected)
    assert model.n_iter_ < 80 and len(grown) == model.n_iter_
    assert len(calls) < model.n_iter_ and max(calls) > 1


def test_validation_rows_and_leaf_quantiles_on_a_process_cluster(client):
    """On the worker processes: the validation blocks held by the shards,
    their raw predictions gathered for the scores (early stopping at the
    in-memory iteration), and the quantile loss's leaf values from the
    residuals of every shard's rows, in row order."""
    X, y = make_classification(n_samples=3000, n_features=8, n_classes=3, n_informative=5,
                               random_state=9)
    params = dict(max_iter=60, random_state=0, n_iter_no_change=2, learning_rate=0.3,
                  early_stopping=True)
    Xd = da.from_array(X, chunks=(700, 8))
    model = HistGradientBoostingClassifier(**params).fit(Xd, da.from_array(y, chunks=700))
    expected = HistGradientBoostingClassifier(**params).fit(X, y)
    assert_same_model(model, expected)
    assert model.n_iter_ < params["max_iter"]
    assert_array_equal(model.validation_score_, expected.validation_score_)

    X, y = regression_data(2000, seed=3)
    params = dict(loss="quantile", quantile=0.3, max_iter=4, early_stopping=False,
                  random_state=0)
    model = HistGradientBoostingRegressor(**params).fit(
        da.from_array(X, chunks=(300, 6)), da.from_array(y, chunks=300))
    assert_same_model(model, HistGradientBoostingRegressor(**params).fit(X, y))


def test_early_stopping_split_read_from_the_given_blocks(client):
    """With early stopping, each shard takes the split's training rows from
    the given blocks (no shuffle), in the split's order: the same leaf
    quantiles (weighted, from every shard's residuals), scores and last
    iteration as in memory, with blocks of one and two rows, some of them
    all validation rows."""
    X, y = regression_data(3000, seed=13)
    w = np.random.default_rng(13).integers(1, 4, 3000).astype(np.float64)
    params = dict(loss="absolute_error", max_iter=40, random_state=0, n_iter_no_change=2,
                  learning_rate=0.5, early_stopping=True, validation_fraction=0.2)
    chunks = (1, 2, 1, 996, 1200, 800)
    model = HistGradientBoostingRegressor(**params).fit(
        da.from_array(X, chunks=(chunks, 6)), da.from_array(y, chunks=(chunks,)),
        sample_weight=da.from_array(w, chunks=(chunks,)))
    expected = HistGradientBoostingRegressor(**params).fit(X, y, sample_weight=w)
    assert_same_model(model, expected)
    assert 2 < model.n_iter_ < params["max_iter"]
    assert_array_equal(model.train_score_, expected.train_score_)
    assert_array_equal(model.validation_score_, expected.validation_score_)


def test_a_shard_of_validation_rows_only(client):
    """A worker whose blocks hold only validation rows: its shard trains on
    no row (and holds some validation rows); the model and scores are
    still the in-memory ones."""
    from sklearn.model_selection import train_test_split

    X, y = regression_data(3000, seed=14)
    for seed in range(100):   # a split with rows 0 and 1 both validation rows
        expected = HistGradientBoostingRegressor(max_iter=3, early_stopping=True,
                                                 random_state=seed).fit(X, y)
        _, val = train_test_split(np.arange(3000), test_size=0.1,
                                  random_state=expected._random_seed)
        if {0, 1} <= set(val.tolist()):
            break
    workers = sorted(client.scheduler_info()["workers"])
    parts = [client.scatter(a, workers=[addr]) for a, addr in
             ((X[:2], workers[0]), (X[2:], workers[1]), (y[:2], workers[0]),
              (y[2:], workers[1]))]
    Xd = da.concatenate([da.from_delayed(parts[0], (2, 6), X.dtype),
                         da.from_delayed(parts[1], (2998, 6), X.dtype)])
    yd = da.concatenate([da.from_delayed(parts[2], (2,), y.dtype),
                         da.from_delayed(parts[3], (2998,), y.dtype)])
    model = HistGradientBoostingRegressor(max_iter=3, early_stopping=True,
                                          random_state=seed).fit(Xd, yd)
    assert_same_model(model, expected)
    assert_array_equal(model.validation_score_, expected.validation_score_)


@pytest.mark.parametrize("as_dask", [False, True])
def test_validation_rows_given_to_fit(as_dask):
    """X_val / y_val / sample_weight_val (NumPy or Dask) stand in for the
    split of X, as in memory: the same scores and the same last iteration."""
    X, y = regression_data(3000, seed=11)
    X_val, y_val = regression_data(800, seed=12)
    w_val = np.random.default_rng(3).integers(1, 3, 800).astype(np.float64)
    params = dict(max_iter=60, random_state=0, n_iter_no_change=2, learning_rate=0.5,
                  early_stopping=True)
    given = (da.from_array(X_val, chunks=(300, 6)), da.from_array(y_val, chunks=300),
             da.from_array(w_val, chunks=300)) if as_dask else (X_val, y_val, w_val)
    with dask.config.set(scheduler="threads"):
        model = HistGradientBoostingRegressor(**params).fit(
            da.from_array(X, chunks=(700, 6)), da.from_array(y, chunks=700),
            X_val=given[0], y_val=given[1], sample_weight_val=given[2])
    expected = HistGradientBoostingRegressor(**params).fit(
        X, y, X_val=X_val, y_val=y_val, sample_weight_val=w_val)
    assert_same_model(model, expected)
    assert model.n_iter_ < params["max_iter"]
    assert_array_equal(model.validation_score_, expected.validation_score_)


def test_bad_validation_rows_are_refused_before_any_work():
    X = da.zeros((300, 3), chunks=(100, 3))
    y = da.zeros(300, chunks=100)
    with dask.config.set(scheduler=_no_work_scheduler):
        with pytest.raises(ValueError, match="both X_val and y_val"):
            HistGradientBoostingRegressor().fit(X, y, X_val=X)
        with pytest.raises(ValueError, match="early_stopping is False"):
            HistGradientBoostingRegressor(early_stopping=False).fit(X, y, X_val=X, y_val=y)
        with pytest.raises(ValueError, match="sample_weight_val needs"):
            HistGradientBoostingRegressor().fit(X, y, sample_weight_val=np.ones(300))
    with pytest.raises(ValueError, match="X_val contains infinity"):
        HistGradientBoostingRegressor(early_stopping=True).fit(
            da.from_array(np.random.default_rng(0).normal(size=(300, 3)), chunks=(100, 3)), y,
            X_val=np.full((10, 3), np.inf), y_val=np.zeros(10))


def test_warm_start_on_a_process_cluster(client):
    """A warm start adds iterations to the trees so far: the shards start
    from their raw predictions, and the feature draws go on where they
    stopped -- the model of the same warm fits in memory."""
    X, y = make_classification(n_samples=2000, n_features=8, n_informative=5, n_classes=3,
                               random_state=13)
    params = dict(max_iter=3, early_stopping=False, random_state=0, max_features=0.5,
                  warm_start=True, max_leaf_nodes=10)
    Xd, yd = da.from_array(X, chunks=(450, 8)), da.from_array(y, chunks=450)
    model = HistGradientBoostingClassifier(**params).fit(Xd, yd)
    expected = HistGradientBoostingClassifier(**params).fit(X, y)
    model.set_params(max_iter=6)
    expected.set_params(max_iter=6)
    model.fit(Xd, yd)
    expected.fit(X, y)
    assert model.n_iter_ == 6
    assert_same_model(model, expected)
    model.set_params(max_iter=5)
    with pytest.raises(ValueError, match="max_iter=5 must be larger"):
        model.fit(Xd, yd)


def test_staged_predictions_on_dask_input_are_lazy_and_the_in_memory_ones():
    X, y = make_classification(n_samples=900, n_features=6, n_informative=4, n_classes=3,
                               random_state=14)
    model = HistGradientBoostingClassifier(max_iter=4, early_stopping=False,
                                           random_state=0).fit(X, y)
    Xd = da.from_array(X, chunks=(400, 6))
    for method in ("staged_predict", "staged_predict_proba", "staged_decision_function"):
        stages = list(getattr(model, method)(Xd))
        expected = list(getattr(model, method)(X))
        assert len(stages) == len(expected) == 4
        assert all(isinstance(stage, da.Array) for stage in stages)
        for stage, want in zip(dask.compute(*stages), expected):
            assert_array_equal(stage, want)
    regressor = HistGradientBoostingRegressor(max_iter=3, early_stopping=False).fit(X, y)
    stages = list(regressor.staged_predict(Xd))
    assert isinstance(stages[-1], da.Array)
    assert_array_equal(stages[-1].compute(), regressor.predict(X))
    binary = HistGradientBoostingClassifier(max_iter=2, early_stopping=False).fit(X, y > 0)
    assert_array_equal(list(binary.staged_decision_function(Xd))[-1].compute(),
                       binary.decision_function(X))


@pytest.mark.parametrize("Model, scoring, n", [
    (HistGradientBoostingRegressor, "r2", 3000),
    (HistGradientBoostingClassifier, "accuracy", 12_000),   # above SCORING_SAMPLE rows
])
def test_early_stopping_on_a_scorer(client, Model, scoring, n):
    """A scorer other than the loss sees the in-memory fit's training rows
    (gathered once) and validation rows: the same scores, the same stop."""
    if Model is HistGradientBoostingRegressor:
        X, y = regression_data(n, seed=15)
    else:
        X, y = make_classification(n_samples=n, n_features=6, n_informative=4,
                                   random_state=15)
    params = dict(max_iter=40, random_state=0, n_iter_no_change=2, learning_rate=0.5,
                  early_stopping=True, scoring=scoring, max_leaf_nodes=8, tol=1e-3)
    model = Model(**params).fit(da.from_array(X, chunks=(n // 3, X.shape[1])),
                                da.from_array(y, chunks=n // 3))
    expected = Model(**params).fit(X, y)
    assert_same_model(model, expected)
    assert model.n_iter_ < params["max_iter"]
    assert_array_equal(model.train_score_, expected.train_score_)
    assert_array_equal(model.validation_score_, expected.validation_score_)


def test_blocks_are_shared_out_to_the_workers_by_rows():
    """Each block goes to a worker holding it, unless that worker has its
    share of rows (1.25 x the mean) already."""
    from fastml._dask.boosting import _assign

    blocks = [Block(i) for i in range(6)]
    sizes = [100, 100, 100, 100, 50, 50]
    every_block_on_a = {i: ["a"] for i in range(6)}
    groups = _assign(blocks, sizes, every_block_on_a, ["a", "b"])
    assert sorted(groups) == ["a", "b"]
    assert sorted(i for ids in groups.values() for i in ids) == list(range(6))
    assert all(sum(sizes[i] for i in ids) <= 1.25 * 250 for ids in groups.values())
    held_where_balanced = {0: ["a"], 1: ["b"], 2: ["a"], 3: ["b"], 4: ["a"], 5: ["b"]}
    assert _assign(blocks, sizes, held_where_balanced, ["a", "b"]) == {"a": [0, 2, 4],
                                                                       "b": [1, 3, 5]}


@pytest.mark.parametrize("hessians", [False, True])
def test_packed_histograms_are_the_histograms(hessians):
    """The wire format of the summed histograms gives back every bin:
    negative gradient sums, counts up to their bit width, zero hessians
    left out; sums too large to shift travel unpacked."""
    from fastml._dask.boosting_shards import add_histograms, pack_histograms

    rng = np.random.default_rng(0)
    hist = np.zeros((3, 4, kernels.N_BINS, 3), np.int64)
    hist[..., 0] = rng.integers(-2**40, 2**40, hist.shape[:-1])
    hist[..., 1] = rng.integers(0, 2**40, hist.shape[:-1]) if hessians else 0
    hist[..., 2] = rng.integers(0, 1000, hist.shape[:-1])
    hist[0, 0, 0, 2] = 1023   # the largest count of 10 bits
    words, packed_hessians, bits = pack_histograms(hist)
    assert bits == 10 and words.shape == hist.shape[:-1]
    assert (packed_hessians is None) != hessians
    total = np.ones_like(hist)
    add_histograms(total, (words, packed_hessians, bits))
    assert_array_equal(total, hist + 1)
    hist[1, 2, 3, 0] = -2**52
    unpacked = pack_histograms(hist)
    assert_array_equal(unpacked, hist)
    assert not np.shares_memory(unpacked, hist)


HEAP_CHURN = """
import ctypes
import numpy as np
from fastml._dask.boosting_shards import heap_blocks

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

def mapped_and_kept(mib):
    # an array of mib MiB: mapped on its own (hblkhd), or from the heap
    # and, once freed, kept there (fordblks)
    block = np.ones(mib << 17)
    mapped = libc.mallinfo2().hblkhd >= mib << 20
    del block
    return int(mapped), int(libc.mallinfo2().fordblks >= mib << 20)

print(int(heap_blocks.mallopt is not None and hasattr(libc, "mallinfo2")))
print(*mapped_and_kept(8))
with heap_blocks():
    print(*mapped_and_kept(8))
print(*mapped_and_kept(24))   # larger than the 8 MiB the heap kept
"""


def test_heap_blocks_keep_freed_arrays_in_a_dask_workers_heap(tmp_path):
    """With the malloc variable Dask's nanny sets, each large array is
    mapped on its own, and its pages faulted in again each time one is
    made; inside ``heap_blocks`` it comes from the heap, which keeps it
    once freed; after it, malloc maps large arrays again."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    done = subprocess.run([sys.executable, "-c", HEAP_CHURN], env=env, capture_output=True,
                          text=True, cwd=tmp_path)   # the installed fastml, not the sources
    assert done.returncode == 0, done.stderr
    supported, *found = done.stdout.split()
    if supported != "1":
        pytest.skip("no glibc mallopt and mallinfo2 here")
    before, inside, after = (found[i:i + 2] for i in (0, 2, 4))
    assert before[0] == "1"                  # mapped afresh
    assert inside == ["0", "1"]              # from the heap, kept once freed
    assert after[0] == "1"                   # mapped again: the settings are back


def test_reduction_tree_has_the_leader_shard_at_its_root():
    from fastml._dask.boosting_shards import reduction_tree

    root, worker, below = reduction_tree(list("abcde"), list("ABCDE"))
    assert (root, worker) == ("e", "E")
    assert [(s, w) for s, w, _ in below] == [("a", "A"), ("b", "B")]
    assert [(s, w, b) for s, w, b in below[0][2]] == [("c", "C", []), ("d", "D", [])]
    assert below[1][2] == []
    assert reduction_tree(["x"], [None]) == ("x", None, [])


def test_dask_dataframe_input():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = regression_data(1000, seed=5)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    ddf = dd.from_pandas(frame, npartitions=3)
    params = dict(max_iter=3, early_stopping=False, random_state=0)
    model = HistGradientBoostingRegressor(**params).fit(ddf, dd.from_pandas(pd.Series(y), 3))
    expected = HistGradientBoostingRegressor(**params).fit(frame, y)
    assert_same_model(model, expected)
    assert list(model.feature_names_in_) == list(frame.columns)


def categorical_frame(n=3000, seed=0):
    """A frame of numbers and string categories -- missing values, a
    category only in the last rows (one partition) -- and a target that
    needs the categories."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 12, n)
    codes[-40:] = 12
    labels = np.array(list("abcdefghijklm"), dtype=object)[codes]
    labels[::11] = None
    x = rng.normal(size=(n, 2))
    x[::13, 1] = np.nan
    frame = pd.DataFrame({"x0": x[:, 0], "colour": pd.Categorical(labels), "x1": x[:, 1]})
    y = x[:, 0] + np.where(np.isin(codes, [1, 3, 5, 7, 12]), 2.0, -1.0) + rng.normal(0, .2, n)
    return frame, y


def test_categorical_features_on_a_process_cluster(client):
    """Categories found over every partition (one only in the last), coded
    on the workers; categorical splits sent to the shards; predictions on
    the Dask DataFrame coded per partition: the in-memory model."""
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame, y = categorical_frame()
    labels = np.where(y > 0, "yes", "no")
    params = dict(max_iter=5, early_stopping=True, n_iter_no_change=50, random_state=0,
                  class_weight="balanced")
    ddf = dd.from_pandas(frame, npartitions=4)
    model = HistGradientBoostingClassifier(**params).fit(
        ddf, dd.from_pandas(pd.Series(labels), npartitions=4))
    expected = HistGradientBoostingClassifier(**params).fit(frame, labels)
    assert_array_equal(model.is_categorical_, [False, True, False])
    assert_array_equal(model._categories[1], expected._categories[1])
    assert any(tree.categorical.any() for trees in model._trees for tree in trees)
    assert_same_model(model, expected)
    assert_array_equal(model.validation_score_, expected.validation_score_)
    proba = model.predict_proba(ddf)
    assert isinstance(proba, da.Array)
    assert_array_equal(proba.compute(), expected.predict_proba(frame))
    assert_array_equal(model.predict(ddf).compute(), expected.predict(frame))
    *_, last = model.staged_predict_proba(ddf)
    assert_array_equal(last.compute(), expected.predict_proba(frame))


@pytest.mark.parametrize("chunks", [3000, (1200, 1, 799, 1000)])
def test_categorical_columns_of_a_dask_array(chunks):
    """Numeric category values marked by index, blocks of any size; a warm
    start and X_val coded with the first fit's categories."""
    frame, y = categorical_frame()
    X = frame.assign(colour=frame["colour"].cat.codes.replace(-1, np.nan) * 10.0).to_numpy()
    params = dict(max_iter=3, random_state=0, categorical_features=[1], warm_start=True,
                  early_stopping=True, n_iter_no_change=50)
    Xd, yd = da.from_array(X, chunks=(chunks, 3)), da.from_array(y, chunks=500)
    val = dict(X_val=X[:500], y_val=y[:500])
    model = HistGradientBoostingRegressor(**params).fit(
        Xd, yd, X_val=da.from_array(X[:500], chunks=(200, 3)), y_val=val["y_val"])
    expected = HistGradientBoostingRegressor(**params).fit(X, y, **val)
    model.set_params(max_iter=5)
    expected.set_params(max_iter=5)
    model.fit(Xd, yd, X_val=da.from_array(X[:500], chunks=(200, 3)), y_val=val["y_val"])
    expected.fit(X, y, **val)
    assert_same_model(model, expected)
    assert any(tree.categorical.any() for trees in model._trees for tree in trees)
    assert_array_equal(model.predict(Xd).compute(), expected.predict(X))
    *_, last = model.staged_predict(Xd)
    assert_array_equal(last.compute(), expected.predict(X))
    model.set_params(categorical_features=[0, 1], max_iter=6)
    with pytest.raises(ValueError, match="categorical_features changed"):
        model.fit(Xd, yd)


def test_numba_loss_on_a_process_cluster(client):
    """A custom loss (a closure: pickled by value) compiled on each worker;
    early stopping on its loss function: the in-memory model."""
    import math

    X, y = regression_data(2000, seed=4)
    y = y / 100
    delta = 1.5

    def pseudo_huber(y_true, raw):
        r = raw - y_true
        s = math.sqrt(1.0 + r * r / (delta * delta))
        return r / s, 1.0 / (s * s * s)

    def loss(y_true, raw):
        r = raw - y_true
        return delta * delta * (math.sqrt(1.0 + r * r / (delta * delta)) - 1.0)

    params = dict(max_iter=5, early_stopping=True, n_iter_no_change=50, random_state=0,
                  loss=NumbaLoss(pseudo_huber, loss=loss))
    model = HistGradientBoostingRegressor(**params).fit(
        da.from_array(X, chunks=(600, 6)), da.from_array(y, chunks=600))
    expected = HistGradientBoostingRegressor(**params).fit(X, y)
    assert_same_model(model, expected)
    assert_array_equal(model.train_score_, expected.train_score_)


def _no_work_scheduler(*args, **kwargs):
    raise AssertionError("work was sent before the input was refused")


def test_bad_dask_input_is_refused():
    X = da.from_array(np.random.default_rng(0).normal(size=(100, 3)), chunks=(30, 3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        HistGradientBoostingRegressor(early_stopping=False).fit(X, da.zeros(90, chunks=30))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        HistGradientBoostingRegressor(early_stopping=False).fit(
            X[X[:, 0] > 0], da.zeros(100, chunks=30))
    with pytest.raises(ValueError, match="NaN"):
        HistGradientBoostingClassifier(early_stopping=False).fit(
            X, da.from_array(np.r_[np.nan, np.zeros(99)], chunks=30))
    X_inf = da.from_array(np.r_[[[np.inf, 0, 0]], np.zeros((99, 3))], chunks=(30, 3))
    with pytest.raises(ValueError, match="infinity"):
        HistGradientBoostingRegressor(early_stopping=False).fit(X_inf, da.zeros(100, chunks=30))


@pytest.mark.parametrize("shards", ["one per worker", "one"])
def test_a_worker_killed_mid_fit_does_not_change_the_model(capsys, shards):
    """SIGKILL a worker process holding a shard while the trees grow: the
    fit notices (it says so when verbose), Dask recomputes the blocks it
    held from the graph, new shards start from the trees so far, and the
    fit ends with the in-memory model.  One shard: the fit is not verbose,
    so the leader grows several iterations a call, and the kill lands in
    one of those calls."""
    import os
    import signal
    import threading
    import time

    from fastml._dask.boosting import ROWS_PER_SHARD

    verbose = int(shards == "one per worker")
    X, y = regression_data(4000, seed=6)
    params = dict(max_iter=40 if verbose else 150, early_stopping=False, random_state=0,
                  max_leaf_nodes=15)
    expected = HistGradientBoostingRegressor(**params).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client, \
            dask.config.set({"fastml.boosting.rows-per-shard": 1 if verbose else ROWS_PER_SHARD}):
        model = HistGradientBoostingRegressor(**params, verbose=verbose)

        def kill_when_trees_grow():
            pid = None
            while pid is None:   # a worker holding a shard (the one shard's, with one)
                holding = client.run(lambda dask_worker: len(dask_worker.state.actors))
                pid = next((pids[addr] for addr, n in sorted(holding.items()) if n), None)
            while getattr(model, "_trees", None) is None or len(model._trees) < 2:
                time.sleep(0.001)
            grown.append(len(model._trees))
            os.kill(pid, signal.SIGKILL)

        pids, grown = client.run(os.getpid), []
        killer = threading.Thread(target=kill_when_trees_grow, daemon=True)
        killer.start()
        model.fit(da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500))
        killer.join(timeout=1)
        assert grown and grown[0] < params["max_iter"] == model.n_iter_   # killed mid-fit
    if verbose:
        assert "Lost a worker: the shards start again" in capsys.readouterr().out
    assert_same_model(model, expected)


@pytest.mark.parametrize("n_workers", [1, 3, 4])
def test_same_model_on_one_three_and_four_workers(n_workers):
    """Four workers: a shard below the root of the reduction tree sums its
    child's histograms with its own before they go up."""
    X, y = regression_data(2500, seed=7)
    params = dict(max_iter=4, early_stopping=False, random_state=0, max_leaf_nodes=12)
    expected = HistGradientBoostingRegressor(**params).fit(X, y)
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        model = HistGradientBoostingRegressor(**params).fit(
            da.from_array(X, chunks=(400, 6)), da.from_array(y, chunks=(900, 900, 700)))
    assert_same_model(model, expected)


def test_fit_on_separate_scheduler_and_worker_processes(separate_processes_cluster):
    """``dask scheduler`` and two ``dask worker`` processes on loopback."""
    import sys

    X, y = make_classification(n_samples=1500, n_features=6, random_state=8)
    params = dict(max_iter=3, early_stopping=False, random_state=0)
    with distributed.Client(separate_processes_cluster, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        Xd = da.from_array(X, chunks=(400, 6))
        model = HistGradientBoostingClassifier(**params).fit(Xd, da.from_array(y, chunks=400))
        proba = model.predict_proba(Xd).compute()
        workers_used = client.run(lambda: "fastml" in sys.modules)
    expected = HistGradientBoostingClassifier(**params).fit(X, y)
    assert_same_model(model, expected)
    assert_array_equal(proba, expected.predict_proba(X))
    assert len(workers_used) == 2 and all(workers_used.values())


def test_a_lost_worker_with_scattered_blocks_is_a_clear_error():
    """Blocks scattered to the workers cannot be computed again when their
    worker dies: the fit says so, rather than retrying, and the model is
    left as it was."""
    import os
    import signal
    import threading
    import time

    from fastml._dask.boosting import BlocksLost

    X, y = regression_data(4000, seed=6)
    params = dict(max_iter=40, early_stopping=False, random_state=0, max_leaf_nodes=15)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        rows = np.array_split(np.arange(len(X)), 8)
        blocks = client.scatter([X[r] for r in rows])
        Xd = da.concatenate([da.from_delayed(b, (r.size, X.shape[1]), X.dtype)
                             for b, r in zip(blocks, rows)])
        pids = client.run(os.getpid)
        model = HistGradientBoostingRegressor(**params)

        def kill_when_trees_grow():
            while getattr(model, "_trees", None) is None or len(model._trees) < 2:
                time.sleep(0.01)
            os.kill(sorted(pids.values())[0], signal.SIGKILL)

        threading.Thread(target=kill_when_trees_grow, daemon=True).start()
        with pytest.raises(BlocksLost, match="scattered to the workers"):
            model.fit(Xd, da.from_array(y, chunks=500))
    assert not hasattr(model, "_trees") and not hasattr(model, "n_iter_")
