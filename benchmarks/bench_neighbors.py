"""Benchmark exact k-nearest-neighbour search against faiss and scikit-learn.

What is measured
----------------
Wall-clock time to find the k = 10 nearest rows of an index (200 000 x d,
standard normal, float32) for 10 000 queries, in the same process:

* fastml ``neighbors.NearestNeighbors(n_jobs=T)``, fitted outside the
  clock, ``kneighbors`` timed (the drop-in path: input checks included);
* faiss ``IndexFlatL2`` (euclidean) / ``IndexFlat(d, METRIC_L1)``
  (manhattan), index built outside the clock, ``faiss.omp_set_num_threads(T)``;
* scikit-learn ``NearestNeighbors(algorithm="brute", n_jobs=T)``, fitted
  outside the clock, ``kneighbors`` timed.

Cases: euclidean d = 32 and d = 128, manhattan d = 32.  Each case warms every
contender up once, then alternates them ``--repeat`` times and reports the
median, and the growth of the resident-set high-water mark of one more call
(as in bench_pairwise.py).  The neighbour sets are compared with faiss's
(faiss returns squared L2 distances; fastml and scikit-learn the distances).

With ``--dask`` it also times the same fastml query on a ``LocalCluster`` of
two single-threaded worker processes (on the same two cores): index and
queries persisted on the workers as Dask arrays (index in 2 shards, queries
in 10 chunks), ``kneighbors`` computed and gathered; the in-process time is
fastml with 2 threads.  The target is dask / in-process <= 1.4.

Run it with the same glibc settings as bench_pairwise.py::

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        PYTHONPATH=. python benchmarks/bench_neighbors.py --out benchmarks/results/neighbors.md
"""
import argparse
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from bench_pairwise import header

from fastml._bench.harness import alternated_medians, peak_mib
from fastml.neighbors import NearestNeighbors as FastNearestNeighbors

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
    ours = FastNearestNeighbors(n_neighbors=k, metric=metric, n_jobs=threads).fit(index)
    return {
        "fastml": lambda: ours.kneighbors(queries),
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
            med = alternated_medians(calls, args.repeat)
            peaks = {name: peak_mib(call) for name, call in calls.items()}
        rows.append((metric, d, med, peaks, same))
        print(f"  {metric} d={d}: " + ", ".join(f"{k} {v:.3f} s" for k, v in med.items()),
              flush=True)
    return rows


def run_dask(args, cases=(("euclidean", 32), ("manhattan", 32))):
    """In-process fastml (2 threads) against the same query on a 2-worker
    LocalCluster; returns rows (metric, d, in-process s, dask s)."""
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    rng = np.random.default_rng(1)
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        for metric, d in cases:
            index = rng.standard_normal((args.n_index, d)).astype(np.float32)
            queries = rng.standard_normal((args.n_queries, d)).astype(np.float32)
            local = FastNearestNeighbors(n_neighbors=args.k, metric=metric,
                                         n_jobs=args.threads).fit(index)
            index_d = client.persist(da.from_array(index, chunks=(args.n_index // 2, d)))
            queries_d = client.persist(da.from_array(queries, chunks=(args.n_queries // 10, d)))
            wait([index_d, queries_d])
            remote = FastNearestNeighbors(n_neighbors=args.k, metric=metric).fit(index_d)

            def on_cluster():
                return client.gather(client.compute(list(remote.kneighbors(queries_d))))

            expected = local.kneighbors(queries)[1]
            assert np.array_equal(on_cluster()[1], expected), "dask result differs"
            med = alternated_medians({"local": lambda: local.kneighbors(queries),
                                      "dask": on_cluster}, args.repeat)
            rows.append((metric, d, med["local"], med["dask"]))
            print(f"  dask {metric} d={d}: in-process {med['local']:.3f} s, "
                  f"LocalCluster {med['dask']:.3f} s", flush=True)
    return rows


def dask_table(rows):
    out = ["| metric | d | fastml in-process s (2 threads) | fastml on 2-worker LocalCluster s "
           "| dask / in-process |", "|---|---|---|---|---|"]
    for metric, d, local, remote in rows:
        out.append(f"| {metric} | {d} | {local:.3f} | {remote:.3f} | {remote / local:.2f} |")
    return "\n".join(out)


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
    p.add_argument("--dask", action="store_true",
                   help="also time the query on a 2-worker LocalCluster")
    p.add_argument("--only-dask", action="store_true", help="only the LocalCluster part")
    p.add_argument("--out", help="also write the report (markdown) here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    head = header(args).replace(
        f"- n = {args.n}, repeat = {args.repeat}, custom-vs-sklearn size {args.n_small}",
        f"- index {args.n_index} x d float32, {args.n_queries} queries, k = {args.k}, "
        f"repeat = {args.repeat}")
    print(head, flush=True)
    report = head + "\n"
    if not args.only_dask:
        report += "\n" + table(run(args)) + "\n"
    if args.dask or args.only_dask:
        report += "\n" + dask_table(run_dask(args)) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    sys.exit(main())
