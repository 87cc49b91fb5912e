"""Benchmark fastml's gradient-boosting kernels against scikit-learn's
HistGradientBoostingRegressor, step by step (issue #5; bench_boosting.py
times the whole estimators against every peer).

What is measured
----------------
``make_regression(n_samples=1_000_000, n_features=28, n_informative=14,
noise=10, random_state=0)`` as float32, 2 threads, in one process,
alternated runs, median of ``--repeat``:

* binning: fastml ``bin_thresholds`` on 200 000 rows drawn without
  replacement plus ``bin_chunk`` of every row, against scikit-learn's
  binning step (its private ``_BinMapper``, the same work inside ``fit``);
* trees: ``--iterations`` squared-error boosting iterations on the binned
  data (gradients, fixed point, ``TreeGrower.grow``, raw-prediction update, as
  the estimator runs them),
  31 leaves, learning rate 0.1, against ``HistGradientBoostingRegressor(
  max_iter=iterations, early_stopping=False)``'s whole ``fit`` minus its
  binning time (measured above).

Run it with glibc told to keep freed memory (see bench_pairwise.py)::

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        PYTHONPATH=. python benchmarks/bench_boosting_kernels.py
"""
import argparse
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from fastml._bench.harness import alternated_medians


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    from sklearn.datasets import make_regression
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    from fastml import kernels

    X, y = make_regression(n_samples=args.n, n_features=28, n_informative=14, noise=10,
                           random_state=0)
    X = X.astype(np.float32)
    threads = args.threads

    def fastml_binning():
        rows = np.random.default_rng(0).choice(X.shape[0], min(200_000, X.shape[0]),
                                               replace=False)
        thresholds = kernels.bin_thresholds(X[rows], 255, n_threads=threads)
        edges = [np.nextafter(t, np.inf) for t in thresholds]
        return thresholds, kernels.bin_chunk(X, edges, missing_bin=255, n_threads=threads)

    def sklearn_binning():
        mapper = _BinMapper(n_bins=256, subsample=200_000, random_state=0, n_threads=threads)
        return mapper.fit_transform(X)

    thresholds, binned = fastml_binning()

    def fastml_trees():
        grower = kernels.TreeGrower(binned, thresholds, missing_bin=255, n_threads=threads)
        raw = np.full(y.shape, y.mean())
        for _ in range(args.iterations):
            g = (raw - y).astype(np.float32)
            largest, abs_sum = kernels.abs_max_sum(g, n_threads=threads)
            scale = kernels.fixed_point_scale(largest, len(g), abs_sum=abs_sum)
            tree, leaves = grower.grow(kernels.to_fixed_point(g, scale, n_threads=threads),
                                       gradient_scale=scale)
            kernels.add_leaf_values(raw, [rows for _, rows in leaves],
                                    tree.value[[node for node, _ in leaves]], check_input=False)
        return raw

    def sklearn_fit():
        return HistGradientBoostingRegressor(max_iter=args.iterations, early_stopping=False,
                                             random_state=0).fit(X, y)

    with threadpool_limits(threads):
        binning = alternated_medians({"fastml": fastml_binning, "sklearn": sklearn_binning},
                                     args.repeat)
        fits = alternated_medians({"fastml": fastml_trees, "sklearn": sklearn_fit},
                                  args.repeat)
    sk_trees = fits["sklearn"] - binning["sklearn"]
    print(f"| step ({args.n} x 28 float32, {threads} threads) | fastml s | sklearn s | "
          "sklearn / fastml |")
    print("|---|---|---|---|")
    print(f"| binning | {binning['fastml']:.3f} | {binning['sklearn']:.3f} | "
          f"{binning['sklearn'] / binning['fastml']:.2f} |")
    print(f"| {args.iterations} squared-error iterations, 31 leaves | {fits['fastml']:.3f} | "
          f"{sk_trees:.3f} | {sk_trees / fits['fastml']:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
