"""Benchmark fastml's HistGradientBoosting* against scikit-learn,
LightGBM and XGBoost (issue #5).

What is measured
----------------
``make_classification(n_samples=1_000_000, n_features=28,
n_informative=14, random_state=0)`` (binary) and ``make_regression(...,
noise=10)`` (and, with ``--task two-valued``, the binary data with its
last 14 columns replaced by ``X > 0``: features of two values, whose
histogram updates repeat bins row after row), as float32, 80/20 split, 100 iterations, 31 leaves, learning
rate 0.1, 255 bins, no early stopping, min 20 rows per leaf, no L2, 2
threads, all in one process, runs alternated, median of ``--repeat``:

* fit time, and peak memory growth during fit (resident-set high-water
  mark; see bench_pairwise.peak_mib);
* predict time on the 200 000 test rows (``predict_proba`` /
  ``predict``), and test AUC / R2.

Peers: ``sklearn.ensemble.HistGradientBoosting*(early_stopping=False)``,
``lightgbm.LGBM*(num_leaves=31, min_child_samples=20, max_bin=255)``,
``xgboost.XGB*(tree_method="hist", grow_policy="lossguide", max_leaves=31,
max_depth=0, max_bin=256, min_child_weight=0)``.  A peer that is not
installed is skipped (``pip install ".[bench]"``).

Run with glibc told to keep freed memory (see DESIGN.md)::

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        PYTHONPATH=. python benchmarks/bench_boosting.py
"""
import argparse
import importlib.util
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from fastml._bench.harness import peak_mib


def models(task, threads, iterations):
    """name -> zero-argument constructor of an unfitted model."""
    from sklearn import ensemble as sk

    from fastml import ensemble as fm

    common = dict(max_iter=iterations, max_leaf_nodes=31, learning_rate=0.1, max_bins=255,
                  early_stopping=False, random_state=0)
    kind = "Regressor" if task == "regression" else "Classifier"
    out = {
        "fastml": lambda: getattr(fm, f"HistGradientBoosting{kind}")(**common),
        "sklearn": lambda: getattr(sk, f"HistGradientBoosting{kind}")(**common),
    }
    if importlib.util.find_spec("lightgbm"):
        import lightgbm

        out["lightgbm"] = lambda: getattr(lightgbm, f"LGBM{kind}")(
            n_estimators=iterations, num_leaves=31, learning_rate=0.1, max_bin=255,
            min_child_samples=20, reg_lambda=0.0, n_jobs=threads, verbose=-1,
            random_state=0)
    if importlib.util.find_spec("xgboost"):
        import xgboost

        out["xgboost"] = lambda: getattr(xgboost, f"XGB{kind}")(
            n_estimators=iterations, tree_method="hist", grow_policy="lossguide",
            max_leaves=31, max_depth=0, learning_rate=0.1, max_bin=256, min_child_weight=0,
            reg_lambda=0.0, n_jobs=threads, random_state=0)
    return out


def dataset(task, n):
    from sklearn.datasets import make_classification, make_regression
    from sklearn.model_selection import train_test_split

    if task in ("binary", "two-valued"):
        X, y = make_classification(n_samples=n, n_features=28, n_informative=14,
                                   random_state=0)
        if task == "two-valued":
            X[:, 14:] = X[:, 14:] > 0
    else:
        X, y = make_regression(n_samples=n, n_features=28, n_informative=14, noise=10,
                               random_state=0)
    return train_test_split(X.astype(np.float32), y, test_size=0.2, random_state=0)


def quality(task, model, X, y):
    from sklearn.metrics import r2_score, roc_auc_score

    if task != "regression":
        return roc_auc_score(y, model.predict_proba(X)[:, 1])
    return r2_score(y, model.predict(X))


def run(task, args):
    X_train, X_test, y_train, y_test = dataset(task, args.n)
    makers = models(task, args.threads, args.iterations)
    fit_times = {name: [] for name in makers}
    predict_times = {name: [] for name in makers}
    peaks, scores = {}, {}
    predict = "predict" if task == "regression" else "predict_proba"
    with threadpool_limits(args.threads):
        for name, make in makers.items():  # warm-up (Numba-free, but imports and caches)
            make().set_params(**({"max_iter": 2} if "max_iter" in make().get_params()
                                 else {"n_estimators": 2})).fit(X_train[:20000],
                                                                 y_train[:20000])
        for r in range(args.repeat):
            for name, make in makers.items():
                model = make()
                if r == 0:
                    peaks[name] = peak_mib(lambda: model.fit(X_train, y_train))
                    fit_times[name].append(np.nan)
                else:
                    start = time.perf_counter()
                    model.fit(X_train, y_train)
                    fit_times[name].append(time.perf_counter() - start)
                start = time.perf_counter()
                getattr(model, predict)(X_test)
                predict_times[name].append(time.perf_counter() - start)
                scores[name] = quality(task, model, X_test, y_test)
                del model
    return {name: (statistics.median(t for t in fit_times[name] if t == t),
                   statistics.median(predict_times[name]), peaks[name], scores[name])
            for name in makers}


def table(task, results, args):
    metric = "R2" if task == "regression" else "AUC"
    best = min(fit for name, (fit, _, _, _) in results.items() if name != "fastml")
    fast = results["fastml"][0]
    lines = [
        f"### {task}: {args.n} x 28 float32, 80/20 split, {args.iterations} iterations, "
        f"31 leaves, {args.threads} threads",
        "",
        f"| library | fit s | predict s ({int(args.n * 0.2)} rows) | peak fit MiB | "
        f"test {metric} | fit / fastml fit |",
        "|---|---|---|---|---|---|",
    ]
    for name, (fit, pred, peak, score) in results.items():
        peak_text = "n/a" if peak is None else f"{peak:.0f}"
        lines.append(f"| {name} | {fit:.3f} | {pred:.3f} | {peak_text} | {score:.5f} | "
                     f"{fit / fast:.2f} |")
    lines += ["", f"fastest peer / fastml fit: {best / fast:.2f}", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per library; the first measures peak memory, the rest time")
    p.add_argument("--task", choices=("binary", "regression", "both", "two-valued"),
                   default="both")
    p.add_argument("--out", default=None, help="also write the tables to this file")
    args = p.parse_args(argv)
    if args.repeat < 2:
        p.error("--repeat must be at least 2 (the first run measures memory)")
    tasks = ("binary", "regression") if args.task == "both" else (args.task,)
    text = "\n".join(table(task, run(task, args), args) for task in tasks)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
