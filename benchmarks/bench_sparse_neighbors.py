"""Benchmark exact k-nearest-neighbour search on sparse TF-IDF rows against
scikit-learn's brute force (issue 18).

What is measured
----------------
A TF-IDF index of ``--n-index`` documents (default 100 000) over 2^18
hashed features and ``--n-queries`` query documents (default 1 000), made
as text makes them: document lengths Poisson(120), words drawn from a Zipf
law (exponent 1.1) over a 200 000-word vocabulary and hashed to columns,
then ``TfidfTransformer`` (l2-normalised rows, about 95 non-zeros per row).
Both sides take the ``scipy.sparse`` CSR matrices as they are:

* fastml ``neighbors.NearestNeighbors(n_jobs=T)`` on the sparse index,
  fitted outside the clock, ``kneighbors`` timed;
* scikit-learn ``NearestNeighbors(algorithm="brute", n_jobs=T)``, the same.

Cases: k = 10, cosine and euclidean.  Every contender is warmed up once,
then they alternate ``--repeat`` times and the median is reported, with the
share of neighbour indices equal to scikit-learn's.

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        PYTHONPATH=. python benchmarks/bench_sparse_neighbors.py
"""
import argparse

import numpy as np
from threadpoolctl import threadpool_limits

from fastml._bench.cases import tfidf_rows
from fastml._bench.harness import alternated_medians


def contenders(metric, index, queries, k, threads):
    """name -> zero-argument callable returning (distances, indices)."""
    from sklearn.neighbors import NearestNeighbors

    from fastml.neighbors import NearestNeighbors as FastNearestNeighbors

    theirs = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric,
                              n_jobs=threads).fit(index)
    ours = FastNearestNeighbors(n_neighbors=k, metric=metric, n_jobs=threads).fit(index)
    return {"fastml": lambda: ours.kneighbors(queries),
            "sklearn": lambda: theirs.kneighbors(queries)}


def run(args):
    rows = tfidf_rows(args.n_index + args.n_queries)
    index, queries = rows[:args.n_index], rows[args.n_index:]
    print(f"index {index.shape[0]} x {index.shape[1]}, {index.nnz / index.shape[0]:.0f} "
          f"non-zeros per row; {queries.shape[0]} queries", flush=True)
    results = []
    for metric in ("cosine", "euclidean"):
        with threadpool_limits(args.threads):
            calls = contenders(metric, index, queries, args.k, args.threads)
            warm = {name: call() for name, call in calls.items()}
            same = float(np.mean(warm["fastml"][1] == warm["sklearn"][1]))
            del warm
            med = alternated_medians(calls, args.repeat)
        results.append((metric, med, same))
        print(f"  {metric}: fastml {med['fastml']:.3f} s, sklearn {med['sklearn']:.3f} s, "
              f"{med['sklearn'] / med['fastml']:.2f}x, same neighbours {same:.4f}", flush=True)
    return results


def table(results, args):
    out = [f"TF-IDF index {args.n_index} x 2^18, {args.n_queries} queries, k = {args.k}, "
           f"{args.threads} threads, median of {args.repeat}:", "",
           "| metric | fastml s | sklearn s | sklearn / fastml | same neighbours |",
           "|---|---|---|---|---|"]
    for metric, med, same in results:
        out.append(f"| {metric} | {med['fastml']:.3f} | {med['sklearn']:.3f} | "
                   f"{med['sklearn'] / med['fastml']:.2f}x | {same:.4f} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-index", type=int, default=100_000)
    p.add_argument("--n-queries", type=int, default=1_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    print(table(run(args), args))


if __name__ == "__main__":
    main()
