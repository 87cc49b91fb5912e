"""Benchmark gradient boosting fitted on a Dask cluster: fastml against
``lightgbm.dask`` and ``xgboost.dask`` on the same ``LocalCluster`` (issue 15).

What is measured
----------------
``make_classification(n_samples=--n, n_features=28, n_informative=14,
random_state=0)`` (binary) or ``make_regression(..., noise=10)``, float32,
80/20 split, the training rows as a Dask array of 8 blocks made on the
workers' side (``client.scatter`` of the blocks, then persisted), 100
iterations, 31 leaves, learning rate 0.1, 255 bins, no early stopping, on
a ``LocalCluster`` of ``--workers`` single-threaded worker processes
(default 2):

* fit time (median of ``--repeat`` runs, systems alternated);
* test AUC / R2 of each model (each predicting on Dask test rows);
* bytes sent over loopback during one fit (``/proc/net/dev``: between
  the client, the scheduler and the workers, Dask's messages and the
  peers' own sockets alike; the machine should be otherwise quiet), per
  iteration, beside the size of the training data;
* fastml in memory on the same rows, with 2 threads (timed first, before
  any cluster or peer runs in the process), and fastml on 1
  worker (parallel efficiency = time on 1 / (2 x time on 2)).

Peers: ``lightgbm.dask.DaskLGBM*(num_leaves=31, min_child_samples=20,
max_bin=255, n_estimators=iterations)``, ``xgboost.dask.DaskXGB*(
tree_method="hist", grow_policy="lossguide", max_leaves=31, max_depth=0,
max_bin=256, min_child_weight=0)``.  A peer that is not installed is
skipped (``pip install ".[bench]"``).

    python benchmarks/bench_boosting_dask.py --n 1000000
    python benchmarks/bench_boosting_dask.py --task binary --systems fastml

No malloc variables: the workers run with what Dask's nanny sets
(``MALLOC_TRIM_THRESHOLD_``), as a user's do.

fastml places one shard a host, so on a ``LocalCluster`` its fit is one
shard computing on every worker's threads.  To time the multi-shard path
(a fit spread over several hosts) on one machine, force a shard per
worker through Dask's config::

    DASK_FASTML__BOOSTING__SHARD_PER_WORKER=True DASK_FASTML__BOOSTING__ROWS_PER_SHARD=1 \
        python benchmarks/bench_boosting_dask.py --n 1000000 --systems fastml,lightgbm.dask
"""
import argparse
import importlib.util
import statistics
import subprocess
import sys
import time

import numpy as np


def data(task, n):
    from sklearn.datasets import make_classification, make_regression

    if task == "binary":
        X, y = make_classification(n_samples=n, n_features=28, n_informative=14,
                                   random_state=0)
    else:
        X, y = make_regression(n_samples=n, n_features=28, n_informative=14, noise=10,
                               random_state=0)
    split = int(0.8 * n)
    X = X.astype(np.float32)
    return X[:split], y[:split], X[split:], y[split:]


def systems(task, iterations):
    """name -> a zero-argument constructor of an unfitted model."""
    from fastml import ensemble as fm

    kind = "Classifier" if task == "binary" else "Regressor"
    out = {"fastml": lambda: getattr(fm, f"HistGradientBoosting{kind}")(
        max_iter=iterations, max_leaf_nodes=31, early_stopping=False, random_state=0)}
    if importlib.util.find_spec("lightgbm"):
        import lightgbm.dask as lgb

        out["lightgbm.dask"] = lambda: getattr(lgb, f"DaskLGBM{kind}")(
            n_estimators=iterations, num_leaves=31, learning_rate=0.1, max_bin=255,
            min_child_samples=20, reg_lambda=0.0, verbose=-1)
    if importlib.util.find_spec("xgboost"):
        import xgboost.dask as xgb

        out["xgboost.dask"] = lambda: getattr(xgb, f"DaskXGB{kind}")(
            n_estimators=iterations, tree_method="hist", grow_policy="lossguide",
            max_leaves=31, max_depth=0, learning_rate=0.1, max_bin=256, min_child_weight=0,
            reg_lambda=0.0)
    return out


def predict(model, X, task):
    """Test predictions, from Dask test rows (every system predicts on Dask)."""
    import dask.array as da

    X = da.from_array(X, chunks=(50_000, X.shape[1]))
    out = model.predict_proba(X)[:, 1] if task == "binary" else model.predict(X)
    return np.asarray(out.compute())


def score(task, y, prediction):
    from sklearn.metrics import r2_score, roc_auc_score

    return roc_auc_score(y, prediction) if task == "binary" else r2_score(y, prediction)


def sent_bytes():
    """Bytes sent over the loopback interface so far (``/proc/net/dev``,
    Linux): every message between the client, the scheduler and the
    workers of a ``LocalCluster`` -- Dask's task data, actor calls and the
    peers' own sockets alike (Dask's own counters, such as a worker's
    ``transfer_outgoing_bytes_total``, count task data only)."""
    with open("/proc/net/dev") as dev:
        for line in dev:
            name, _, fields = line.partition(":")
            if name.strip() == "lo":
                return int(fields.split()[8])
    return 0


def blocks_on_cluster(client, X, y, n_blocks=8):
    """X, y as Dask arrays whose blocks were scattered to the workers."""
    import dask.array as da

    rows = np.array_split(np.arange(X.shape[0]), n_blocks)
    xs = client.scatter([X[r] for r in rows])
    ys = client.scatter([y[r] for r in rows])
    Xd = da.concatenate([da.from_delayed(f, (r.size, X.shape[1]), X.dtype)
                         for f, r in zip(xs, rows)])
    yd = da.concatenate([da.from_delayed(f, (r.size,), y.dtype) for f, r in zip(ys, rows)])
    return client.persist(Xd), client.persist(yd)


def in_memory(task, args, X, y, X_test, y_test):
    """The row of fastml in memory (2 threads), timed before any cluster
    starts or peer runs in the process (after them the regression fit
    took 4.1-4.3 s instead of 3.0 s)."""
    from fastml import ensemble as fm

    make = getattr(fm, "HistGradientBoostingClassifier" if task == "binary"
                   else "HistGradientBoostingRegressor")
    times = []
    for _ in range(args.repeat):
        tic = time.perf_counter()
        model = make(max_iter=args.iterations, early_stopping=False, random_state=0).fit(X, y)
        times.append(time.perf_counter() - tic)
    return (task, 0, "fastml in memory", statistics.median(times), 0.0,
            score(task, y_test, predict(model, X_test, task)))


def run_task(task, args):
    import distributed

    X, y, X_test, y_test = data(task, args.n)
    found = {name: make for name, make in systems(task, args.iterations).items()
             if args.systems is None or name in args.systems}
    rows = [in_memory(task, args, X, y, X_test, y_test)]
    for n_workers in sorted({args.workers, 1} if args.efficiency else {args.workers}):
        with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                      processes=True, dashboard_address=":0") as cluster, \
                distributed.Client(cluster) as client:
            Xd, yd = blocks_on_cluster(client, X, y)
            names = list(found) if n_workers == args.workers else ["fastml"]
            times = {name: [] for name in names}
            models = {}
            for name in names:   # warm-up: imports, compilation, worker start
                models[name] = found[name]().fit(Xd, yd)
            for _ in range(args.repeat):
                for name in names:
                    before, tic = sent_bytes(), time.perf_counter()
                    models[name] = found[name]().fit(Xd, yd)
                    times[name].append((time.perf_counter() - tic, sent_bytes() - before))
            for name in names:
                seconds = statistics.median(t for t, _ in times[name])
                sent = statistics.median(b for _, b in times[name])
                rows.append((task, n_workers, name, seconds, sent / args.iterations,
                             score(task, y_test, predict(models[name], X_test, task))))
    return rows, X.nbytes + y.nbytes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=800_000, help="rows (80%% train)")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--task", choices=["binary", "regression", "both"], default="both")
    p.add_argument("--systems", type=lambda s: s.split(","), default=None,
                   help="comma-separated systems to run (default: fastml, lightgbm.dask, "
                        "xgboost.dask, those installed)")
    p.add_argument("--no-efficiency", dest="efficiency", action="store_false",
                   help="skip the 1-worker fastml run")
    p.add_argument("--no-header", dest="header", action="store_false", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.header:
        print("| task | workers | system | fit s | bytes sent per iteration | test score |")
        print("|---|---|---|---|---|---|", flush=True)
    if args.task == "both":
        # each task in a process of its own: after the first task's clusters
        # and peers, the second's in-memory fit ran 35-45% slower (4.1-4.3 s
        # against 3.0 s) in the same process
        argv = sys.argv[1:] if argv is None else list(argv)
        for task in ("binary", "regression"):
            subprocess.run([sys.executable, __file__, *argv, "--task", task, "--no-header"],
                           check=True)
        return
    rows, data_bytes = run_task(args.task, args)
    for task, workers, name, seconds, per_iter, test in rows:
        where = "in memory, 2 threads" if workers == 0 else f"{workers} x 1"
        print(f"| {task} | {where} | {name} | {seconds:.2f} | {per_iter / 1e6:.2f} MB "
              f"| {test:.5f} |")
    print(f"| {args.task} | | training data | | {data_bytes / 1e6:.1f} MB in all | |")


if __name__ == "__main__":
    main()
