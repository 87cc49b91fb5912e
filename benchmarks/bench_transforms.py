"""Benchmark the scalers of fastml.preprocessing against scikit-learn and dask-ml.

What is measured
----------------
Wall-clock ``fit_transform`` of 5 000 000 x 20 standard-normal float64 (and
float32), in the same process, warm-up first, then ``--repeat`` alternated
runs, median reported:

* fastml ``StandardScaler`` / ``MinMaxScaler`` / ``MaxAbsScaler`` (all
  usable cores: ``--threads``, limited with threadpoolctl);
* scikit-learn's classes of the same names;
* dask-ml's ``StandardScaler`` / ``MinMaxScaler`` on the NumPy array.

Then, at the sizes of issue #4's reference timings, float64 and float32,
``fit_transform`` against scikit-learn (and dask-ml where it has the class):

* ``KBinsDiscretizer(255, encode="ordinal", strategy="quantile",
  subsample=None)`` on 1 000 000 x 20 (exact edges);
* ``QuantileTransformer(n_quantiles=1000)`` on 1 000 000 x 20;
* ``PolynomialFeatures(degree=2)`` on 1 000 000 x 20;
* ``RBFSampler(n_components=512, random_state=0)`` on 200 000 x 20.

Dask: ``fit(X).transform(X).compute()`` on a Dask array of 10 row chunks,
threaded scheduler, fastml against dask-ml: ``StandardScaler`` on
5 000 000 x 20, ``RobustScaler`` and ``QuantileTransformer(n_quantiles=1000)``
on 1 000 000 x 20 (fastml from merged quantile summaries, within the
reported rank error; dask-ml from approximate per-chunk percentiles).

Run it with glibc told to keep freed memory (see bench_pairwise.py)::

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        PYTHONPATH=. python benchmarks/bench_transforms.py --out benchmarks/results/transforms.md
"""
import argparse
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from bench_pairwise import header

from fastml._bench.harness import alternated_medians


def contenders(name, X):
    """peer name -> zero-argument callable, fastml first."""
    import sklearn.preprocessing as sk

    import fastml.preprocessing as fp

    calls = {"fastml": lambda: getattr(fp, name)().fit_transform(X),
             "sklearn": lambda: getattr(sk, name)().fit_transform(X)}
    try:
        import dask_ml.preprocessing as dm

        if hasattr(dm, name):
            calls["dask-ml"] = lambda: getattr(dm, name)().fit_transform(X)
    except ImportError:
        pass
    return calls


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float64, np.float32):
        X = rng.standard_normal((args.n, args.d)).astype(dtype)
        for name in ("StandardScaler", "MinMaxScaler", "MaxAbsScaler"):
            with threadpool_limits(args.threads):
                calls = contenders(name, X)
                for call in calls.values():
                    call()
                med = alternated_medians(calls, args.repeat)
            rows.append((name, np.dtype(dtype).name, med))
            print(f"  {name} {np.dtype(dtype).name}: "
                  + ", ".join(f"{p} {t:.3f} s" for p, t in med.items()), flush=True)
    return rows


EXPANSIONS = [
    # (label, module, class, parameters, rows)
    ("KBinsDiscretizer quantile 255", "preprocessing", "KBinsDiscretizer",
     dict(n_bins=255, encode="ordinal", strategy="quantile", subsample=None), 1_000_000),
    ("QuantileTransformer 1000", "preprocessing", "QuantileTransformer",
     dict(n_quantiles=1000), 1_000_000),
    ("PolynomialFeatures 2", "preprocessing", "PolynomialFeatures", dict(degree=2), 1_000_000),
    ("RBFSampler 512", "kernel_approximation", "RBFSampler",
     dict(n_components=512, random_state=0), 200_000),
]


def run_expansions(args):
    import importlib

    rng = np.random.default_rng(2)
    rows = []
    for label, module, name, params, n in EXPANSIONS:
        n = min(n, args.n)
        for dtype in (np.float64, np.float32):
            X = rng.standard_normal((n, args.d)).astype(dtype)
            ours = getattr(importlib.import_module(f"fastml.{module}"), name)
            ref = getattr(importlib.import_module(f"sklearn.{module}"), name)
            calls = {"fastml": lambda: ours(**params).fit_transform(X),
                     "sklearn": lambda: ref(**params).fit_transform(X)}
            try:
                dm = importlib.import_module("dask_ml.preprocessing")
                if module == "preprocessing" and hasattr(dm, name):
                    peer = getattr(dm, name)
                    calls["dask-ml"] = lambda: peer(**params).fit_transform(X)
            except ImportError:
                pass
            with threadpool_limits(args.threads):
                for call in calls.values():
                    call()
                med = alternated_medians(calls, args.repeat)
            rows.append((f"{label} ({n} x {args.d})", np.dtype(dtype).name, med))
            print(f"  {label} {np.dtype(dtype).name}: "
                  + ", ".join(f"{p} {t:.3f} s" for p, t in med.items()), flush=True)
    return rows


DASK_CASES = [  # (estimator, constructor parameters, rows)
    ("StandardScaler", {}, None),
    ("RobustScaler", {}, 1_000_000),
    ("QuantileTransformer", {"n_quantiles": 1000}, 1_000_000),
]


def run_dask(args):
    import dask
    import dask.array as da

    import fastml.preprocessing as fp

    rng = np.random.default_rng(1)
    rows = []
    for name, params, n in DASK_CASES:
        n = n or args.n
        X = da.from_array(rng.standard_normal((n, args.d)), chunks=(n // 10, args.d))
        ours = getattr(fp, name)
        calls = {"fastml": lambda: ours(**params).fit(X).transform(X).compute()}
        try:
            import dask_ml.preprocessing as dm

            peer = getattr(dm, name)
            calls["dask-ml"] = lambda: peer(**params).fit(X).transform(X).compute()
        except ImportError:
            pass
        with dask.config.set(scheduler="threads", num_workers=args.threads):
            for call in calls.values():
                call()
            med = alternated_medians(calls, args.repeat)
            error = getattr(ours(**params).fit(X), "quantile_rank_error_", None)
        label = f"{name} ({n} x {args.d})"
        if error is not None:
            label += f", rank error <= {int(error.max())} positions"
        print(f"  dask {label}: " + ", ".join(f"{p} {t:.3f} s" for p, t in med.items()))
        rows.append((label, med))
    return rows


def _seconds(value):
    return "n/a" if value is None else f"{value:.3f}"


def _ratio(peer, ours):
    return "n/a" if peer is None else f"{peer / ours:.2f}"


def table(rows, dask_rows):
    out = ["| estimator | dtype | fastml s | sklearn s | dask-ml s | sklearn / fastml "
           "| dask-ml / fastml |", "|---|---|---|---|---|---|---|"]
    for name, dtype, med in rows:
        ours, dm = med["fastml"], med.get("dask-ml")
        out.append(f"| {name} | {dtype} | {ours:.3f} | {med['sklearn']:.3f} | {_seconds(dm)} | "
                   f"{med['sklearn'] / ours:.2f} | {_ratio(dm, ours)} |")
    out += ["", "| Dask fit + transform + compute, float64, 10 chunks, threads "
            "| fastml s | dask-ml s | dask-ml / fastml |", "|---|---|---|---|"]
    for name, med in dask_rows:
        ours, dm = med["fastml"], med.get("dask-ml")
        out.append(f"| {name} | {ours:.3f} | {_seconds(dm)} | {_ratio(dm, ours)} |")
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=5_000_000)
    p.add_argument("--d", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--n-small", type=int, default=0, help=argparse.SUPPRESS)  # for header()
    p.add_argument("--out", help="also write the report (markdown) here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    head = header(args).replace(
        f"- n = {args.n}, repeat = {args.repeat}, custom-vs-sklearn size {args.n_small}",
        f"- X: {args.n} x {args.d} standard normal, repeat = {args.repeat}")
    print(head, flush=True)
    report = head + "\n\n" + table(run(args) + run_expansions(args), run_dask(args)) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    sys.exit(main())
