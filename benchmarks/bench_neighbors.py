"""Benchmark exact k-nearest-neighbour search against faiss and scikit-learn.

What is measured
----------------
Wall-clock time to find the k = 10 nearest rows of an index (200 000 x d,
standard normal, float32) for 10 000 queries, in the same process:

* fastml ``kernels.argkmin_chunk(Q, index, k, metric, n_threads=T)``;
* faiss ``IndexFlatL2`` (euclidean) / ``IndexFlat(d, METRIC_L1)``
  (manhattan), index built outside the clock, ``faiss.omp_set_num_threads(T)``;
* scikit-learn ``NearestNeighbors(algorithm="brute", n_jobs=T)``, fitted
  outside the clock, ``kneighbors`` timed.

Cases: euclidean d = 32 and d = 128, manhattan d = 32.  Each case warms every
contender up once, then alternates them ``--repeat`` times and reports the
median, and the growth of the resident-set high-water mark of one more call
(as in bench_pairwise.py).  The neighbour sets are compared with faiss's
(faiss returns squared L2 distances; fastml and scikit-learn the distances).

Run it with the same glibc settings as bench_pairwise.py::

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        PYTHONPATH=. python benchmarks/bench_neighbors.py --out benchmarks/results/neighbors.md
"""
import argparse
import statistics
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from bench_pairwise import header, peak_mib, timed
from fastml.kernels import argkmin_chunk

CASES = (("euclidean", 32), ("euclidean", 128), ("manhattan", 32))


def contenders(metric, index, queries, k, threads):
    """name -> zero-argument callable returning (distances, indices)."""
    import faiss
    from sklearn.neighbors import NearestNeighbors

    faiss.omp_set_num_threads(threads)
    d = index.shape[1]
    flat = faiss.IndexFlatL2(d) if metric == "euclidean" else faiss.IndexFlat(d, faiss.METRIC_L1)
    flat.add(index)
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric, n_jobs=threads)
    nn.fit(index)
    return {
        "fastml": lambda: argkmin_chunk(queries, index, k, metric, n_threads=threads),
        "faiss": lambda: flat.search(queries, k),
        "sklearn": lambda: nn.kneighbors(queries),
    }


def agreement(results):
    """Share of (query, neighbour) slots where fastml's index equals the peer's."""
    ref = results["fastml"][1]
    return {name: float(np.mean(np.sort(res[1], axis=1) == np.sort(ref, axis=1)))
            for name, res in results.items() if name != "fastml"}


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for metric, d in CASES:
        index = rng.standard_normal((args.n_index, d)).astype(np.float32)
        queries = rng.standard_normal((args.n_queries, d)).astype(np.float32)
        with threadpool_limits(args.threads):
            calls = contenders(metric, index, queries, args.k, args.threads)
            warm = {name: call() for name, call in calls.items()}
            same = agreement(warm)
            del warm
            times = {name: [] for name in calls}
            for _ in range(args.repeat):
                for name, call in calls.items():
                    times[name].append(timed(call))
            peaks = {name: peak_mib(call) for name, call in calls.items()}
        med = {name: statistics.median(t) for name, t in times.items()}
        rows.append((metric, d, med, peaks, same))
        print(f"  {metric} d={d}: " + ", ".join(f"{k} {v:.3f} s" for k, v in med.items()),
              flush=True)
    return rows


def table(rows):
    out = ["| metric | d | fastml s | faiss s | sklearn s | fastml / faiss | "
           "sklearn / fastml | peak MiB fastml / faiss / sklearn | same neighbours as faiss, sklearn |",
           "|---|---|---|---|---|---|---|---|---|"]
    for metric, d, med, peaks, same in rows:
        peak = " / ".join("n/a" if peaks[n] is None else f"{peaks[n]:.0f}"
                          for n in ("fastml", "faiss", "sklearn"))
        out.append(
            f"| {metric} | {d} | {med['fastml']:.3f} | {med['faiss']:.3f} | {med['sklearn']:.3f} "
            f"| {med['fastml'] / med['faiss']:.2f} | {med['sklearn'] / med['fastml']:.2f} "
            f"| {peak} | {same['faiss']:.4f}, {same['sklearn']:.4f} |"
        )
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-index", type=int, default=200_000)
    p.add_argument("--n-queries", type=int, default=10_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)  # for header()
    p.add_argument("--n-small", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", help="also write the report (markdown) here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    head = header(args).replace(
        f"- n = {args.n}, repeat = {args.repeat}, custom-vs-sklearn size {args.n_small}",
        f"- index {args.n_index} x d float32, {args.n_queries} queries, k = {args.k}, "
        f"repeat = {args.repeat}")
    print(head, flush=True)
    report = head + "\n\n" + table(run(args)) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    sys.exit(main())
