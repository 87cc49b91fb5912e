"""The ``fastml`` command.

    fastml info    what was compiled, what this machine offers, versions
    fastml demo    distance matrices, a k-nearest-neighbour classifier,
                   transforms feeding a classifier and gradient boosting
                   with fastml and with scikit-learn, checked against each
                   other and timed; gradient boosting on a local Dask
                   cluster (a progress bar) against the same fit in memory
    fastml bench   fastml against every installed peer, family by family,
                   with a Markdown report and plots
"""
import argparse
import importlib
import importlib.metadata
import statistics
import sys
import time

from fastml._bench.progress import steps as progress


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def info(args=None):
    """Print build and runtime information; return the exit status."""
    import fastml
    from fastml._threads import effective_n_threads, usable_cpu_count

    print(f"fastml {fastml.__version__}")
    print("compiled kernel modules:")
    loaded = {}
    for name in ("fastml._kernels._distances", "fastml._kernels._moments",
                 "fastml._kernels._binning", "fastml._kernels._features", "fastml._kernels._gbdt",
                 "fastml._kernels._openmp_info"):
        try:
            loaded[name] = importlib.import_module(name)
            print(f"  {name:32s} loaded")
        except ImportError as exc:
            print(f"  {name:32s} FAILED: {exc}")
    omp = loaded.get("fastml._kernels._openmp_info")
    if omp is not None:
        enabled = omp.openmp_enabled()
        print(f"OpenMP: {'yes' if enabled else 'no (kernels run serially)'}")
        print(f"threads: {effective_n_threads(None)} (usable CPUs: {usable_cpu_count()})")
    dist = loaded.get("fastml._kernels._distances")
    if dist is not None:
        print(f"vector instructions: {dist.isa_in_use()} in use "
              f"(best compiled in and supported by this CPU: {dist.best_isa()}; "
              "levels: baseline, avx2, avx512)")
    try:
        import numba

        layer = numba.config.THREADING_LAYER
        print(f"numba {numba.__version__} (threading layer setting: {layer}; "
              "custom metrics run serial kernels on fastml's own threads)")
    except ImportError:
        print("numba: not installed (custom metrics unavailable)")
    for dist_name in ("numpy", "scipy", "scikit-learn", "dask", "distributed", "threadpoolctl"):
        print(f"{dist_name} {_version(dist_name)}")
    return 0


def _timed(func, repeat=3, budget=0.25):
    """``func()``'s result and the median seconds of its timed calls: one
    warm-up call, then ``repeat`` calls, or more for a fast call, until
    about ``budget`` seconds are spent.  Three calls of a few milliseconds
    would all run while the other library's OpenMP threads, just released,
    still spin on the second core."""
    result = func()
    times = []
    while len(times) < repeat or (sum(times) < budget and len(times) < 500):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def demo(args):
    """Distance matrices, kNN classification, transforms and gradient
    boosting, with fastml and scikit-learn, compared and timed; exit status
    1 if anything disagrees."""
    sections = [
        ("distance matrices: four metrics on digits and on random data", _demo_distances),
        ("k-nearest-neighbour classification (k=5): digits and a generated problem",
         _demo_knn),
        ("transforms feeding a logistic regression, as in a pipeline", _demo_transforms),
        ("gradient boosting (50 iterations): digits and a generated problem", _demo_boosting),
        ("gradient boosting on a local Dask cluster of 2 worker processes", _demo_dask_boosting),
    ]
    print(f"fastml demo: each step runs scikit-learn and fastml on the same data, checks that "
          f"they agree and times both (medians; n = {args.n}).")
    ok = True
    for number, (title, step) in enumerate(sections, 1):
        print(f"\n[{number}/{len(sections)}] {title}", flush=True)
        ok &= step(args)
    return 0 if ok else 1


def _demo_distances(args):
    """Distance matrices with fastml and scikit-learn, compared and timed."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.metrics import pairwise_distances as sk_pairwise

    from fastml.metrics import pairwise_distances

    rng = np.random.default_rng(0)
    digits = load_digits().data
    n = args.n
    datasets = [
        ("digits (1797 x 64, bundled)", digits, None),
        (f"random {n} x 64 float64", rng.standard_normal((n, 64)), rng.standard_normal((n, 64))),
        (f"random {n} x 64 float32", rng.standard_normal((n, 64), dtype=np.float32),
         rng.standard_normal((n, 64), dtype=np.float32)),
    ]
    metrics = ["euclidean", "cosine", "manhattan", "chebyshev"]
    print(f"{'data':32s} {'metric':10s} {'sklearn s':>10s} {'fastml s':>10s} "
          f"{'speed-up':>9s} {'max rel diff':>13s}")
    ok = True
    cases = [(label, X, Y, metric) for label, X, Y in datasets for metric in metrics]
    for label, X, Y, metric in progress(cases, lambda c: f"{c[3]} on {c[0]}"):
        ref, t_ref = _timed(lambda: sk_pairwise(X, Y, metric=metric, n_jobs=-1))
        got, t_got = _timed(lambda: pairwise_distances(X, Y, metric=metric))
        tol = 1e-5 if got.dtype == np.float32 else 1e-9
        diff = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3 if metric == "cosine" else 1e-12)
        agree = bool(np.all(diff <= tol))
        ok &= agree
        print(f"{label:32s} {metric:10s} {t_ref:10.4f} {t_got:10.4f} "
              f"{t_ref / t_got:8.1f}x {diff.max():13.2e}{'' if agree else '  MISMATCH'}")
    print("all distances agree with scikit-learn" if ok else "SOME DISTANCES DISAGREE")
    return ok


def _demo_knn(args):
    """KNeighborsClassifier from fastml and scikit-learn (brute force) on the
    bundled digits, and on a larger generated problem: time, accuracy, and
    whether every prediction is the same."""
    import numpy as np
    from sklearn.datasets import load_digits, make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier as SkKNN

    from fastml.neighbors import KNeighborsClassifier

    digits = load_digits()
    # a little noise breaks the many exact ties between integer pixel images,
    # which the two libraries may break differently
    noise = np.random.default_rng(0).normal(scale=1e-6, size=digits.data.shape)
    X_big, y_big = make_classification(n_samples=5 * args.n, n_features=32, n_informative=16,
                                       n_classes=4, random_state=0)
    problems = [("digits (1797 x 64, bundled)", digits.data + noise, digits.target),
                (f"generated {5 * args.n} x 32 float32", X_big.astype(np.float32), y_big)]
    print(f"{'kNN classification (k=5)':32s} {'sklearn s':>10s} {'fastml s':>10s} "
          f"{'speed-up':>9s} {'accuracy':>9s} {'same predictions':>17s}")
    ok = True
    for label, X, y in progress(problems, lambda p: f"kNN on {p[0]}"):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        ref_model = SkKNN(n_neighbors=5, algorithm="brute", n_jobs=-1).fit(X_train, y_train)
        model = KNeighborsClassifier(n_neighbors=5).fit(X_train, y_train)
        ref, t_ref = _timed(lambda: ref_model.predict(X_test))
        got, t_got = _timed(lambda: model.predict(X_test))
        same = bool(np.array_equal(got, ref))
        ok &= same
        print(f"{label:32s} {t_ref:10.4f} {t_got:10.4f} {t_ref / t_got:8.1f}x "
              f"{np.mean(got == y_test):9.3f} {'yes' if same else 'NO':>17s}")
    print("all predictions agree with scikit-learn" if ok else "SOME PREDICTIONS DISAGREE")
    return ok


def _demo_transforms(args):
    """A transform feeding a classifier: fastml's transformer against
    scikit-learn's in the same pipeline, the transform step timed, the
    features and the predictions compared."""
    import numpy as np
    from sklearn import preprocessing as sk
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from fastml import preprocessing as fp

    X, y = make_classification(n_samples=10 * args.n, n_features=20, n_informative=10,
                               random_state=1)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    transforms = [("KBinsDiscretizer(16, onehot)",
              dict(n_bins=16, encode="onehot", subsample=None), "KBinsDiscretizer"),
             ("QuantileTransformer(normal)",
              dict(n_quantiles=min(1000, len(X_train)), output_distribution="normal",
                   random_state=0),
              "QuantileTransformer")]
    print(f"{'transform -> LogisticRegression':32s} {'sklearn s':>10s} {'fastml s':>10s} "
          f"{'speed-up':>9s} {'accuracy':>9s} {'same predictions':>17s}")
    ok = True
    for label, params, name in progress(transforms, lambda t: t[0]):
        ref_step, step = getattr(sk, name)(**params), getattr(fp, name)(**params)
        ref_features, t_ref = _timed(lambda: ref_step.fit_transform(X_train))
        features, t_got = _timed(lambda: step.fit_transform(X_train))
        ref = make_pipeline(ref_step, LogisticRegression(max_iter=500)).fit(X_train, y_train)
        ours = make_pipeline(step, LogisticRegression(max_iter=500)).fit(X_train, y_train)
        same_features = (features != ref_features).sum() == 0
        got = ours.predict(X_test)
        same = bool(same_features and np.array_equal(got, ref.predict(X_test)))
        ok &= same
        print(f"{label:32s} {t_ref:10.4f} {t_got:10.4f} {t_ref / t_got:8.1f}x "
              f"{np.mean(got == y_test):9.3f} {'yes' if same else 'NO':>17s}")
    print("all transforms and predictions agree with scikit-learn" if ok
          else "SOME TRANSFORMS DISAGREE")
    return ok


def _demo_boosting(args):
    """HistGradientBoostingClassifier from fastml and scikit-learn with the
    same settings, on the bundled digits and a larger generated problem:
    fit time, accuracy, and how many test predictions agree."""
    import numpy as np
    from sklearn.datasets import load_digits, make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier as SkHGB
    from sklearn.model_selection import train_test_split

    from fastml.ensemble import HistGradientBoostingClassifier

    digits = load_digits()
    X_big, y_big = make_classification(n_samples=25 * args.n, n_features=28, n_informative=14,
                                       random_state=0)
    problems = [("digits (1797 x 64, 10 classes)", digits.data, digits.target),
                (f"generated {25 * args.n} x 28 float32", X_big.astype(np.float32), y_big)]
    params = dict(max_iter=50, early_stopping=False, random_state=0)
    print(f"{'gradient boosting fit (50 iter.)':32s} {'sklearn s':>10s} {'fastml s':>10s} "
          f"{'speed-up':>9s} {'accuracy':>9s} {'same predictions':>17s}")
    ok = True
    for label, X, y in progress(problems, lambda p: f"fitting on {p[0]} (scikit-learn, then fastml)"):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        ref, t_ref = _timed(lambda: SkHGB(**params).fit(X_train, y_train), repeat=1)
        got, t_got = _timed(lambda: HistGradientBoostingClassifier(**params).fit(X_train, y_train),
                            repeat=1)
        predicted = got.predict(X_test)
        # both grow the same trees; a split whose gains tie to rounding may
        # still go either way, so allow a handful of differing predictions
        same = float(np.mean(predicted == ref.predict(X_test)))
        ok &= same >= 0.99
        print(f"{label:32s} {t_ref:10.4f} {t_got:10.4f} {t_ref / t_got:8.1f}x "
              f"{np.mean(predicted == y_test):9.3f} {same:16.1%}")
    print("gradient boosting agrees with scikit-learn" if ok else "GRADIENT BOOSTING DISAGREES")
    return ok


def _demo_dask_boosting(args):
    """HistGradientBoostingClassifier fitted on a Dask array by a local
    cluster of two worker processes, its iterations as a progress bar,
    against the same fit in memory: fit times, and whether the two models
    predict the same."""
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster
    from sklearn.datasets import make_classification

    from fastml._bench.progress import fit_progress
    from fastml.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=25 * args.n, n_features=28, n_informative=14,
                               random_state=0)
    X = X.astype(np.float32)
    params = dict(max_iter=20, early_stopping=False, random_state=0)
    in_memory, t_memory = _timed(lambda: HistGradientBoostingClassifier(**params).fit(X, y),
                                 repeat=1)
    print(f"starting the cluster; fitting {X.shape[0]} x {X.shape[1]} float32 in 4 blocks, "
          f"{params['max_iter']} iterations", flush=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        Xd = da.from_array(X, chunks=(-(-X.shape[0] // 4), X.shape[1]))
        yd = da.from_array(y, chunks=Xd.chunks[0])
        with fit_progress("fitting on 2 Dask workers"):
            start = time.perf_counter()
            model = HistGradientBoostingClassifier(**params, verbose=1).fit(Xd, yd)
            t_dask = time.perf_counter() - start
        same = np.array_equal(model.predict_proba(Xd).compute(), in_memory.predict_proba(X))
    print(f"{'fit':32s} {'in memory s':>12s} {'on Dask s':>10s} {'same model':>11s}")
    print(f"{'generated ' + str(X.shape[0]) + ' x 28 float32':32s} {t_memory:12.4f} "
          f"{t_dask:10.4f} {'yes' if same else 'NO':>11s}")
    print("the Dask fit is the in-memory model" if same else "THE DASK FIT DIFFERS")
    return same


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastml", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show build and runtime information")
    p_demo = sub.add_parser("demo", help="compare and time fastml against scikit-learn "
                                         "(distances, kNN, transforms, boosting)")
    p_demo.add_argument("--n", type=int, default=4000,
                        help="rows of the generated data sets (default 4000)")
    _add_bench_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        return info(args)
    if args.command == "bench":
        return bench(args)
    return demo(args)


def _add_bench_parser(sub):
    from fastml._bench.cases import FAMILIES, PEERS

    p = sub.add_parser(
        "bench", help="time fastml against its peers and write a report with plots",
        description="Time fastml against every installed peer in this one process "
                    "(alternating runs, medians, peak memory) and write DIR/report.md "
                    "and PNG plots.")
    p.add_argument("families", nargs="*", metavar="FAMILY", choices=[[], *FAMILIES],
                   help=f"families to run (default: all): {', '.join(FAMILIES)}")
    p.add_argument("--quick", action="store_true",
                   help="smaller data, fewer runs: under 2 minutes on 2 cores")
    p.add_argument("--out", default="fastml-bench", metavar="DIR",
                   help="folder for report.md and the plots (default: fastml-bench)")
    p.add_argument("--peers", default=",".join(PEERS),
                   help=f"comma-separated peers to compare with (default: {','.join(PEERS)})")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every system (default: 2)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every data size (e.g. 0.05 for a smoke test)")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed runs per system (default: 3 with --quick, else 5)")


def bench(args):
    """Run ``fastml bench``; exit status 0."""
    from fastml._bench.cases import FAMILIES
    from fastml._bench.run import run

    peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    families = tuple(args.families) or FAMILIES
    try:
        run(families, quick=args.quick, out_dir=args.out, peers=peers, threads=args.threads,
            scale=args.scale, repeat=args.repeat)
    except ValueError as exc:
        print(f"fastml bench: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
