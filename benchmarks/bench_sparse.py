"""Benchmark fastml on ``scipy.sparse`` input against scikit-learn.

What is measured
----------------
Wall-clock time of whole public calls on TF-IDF-like data: rows of hashed
features (``--d``, default 2**16 columns) with about ``--nnz`` stored values
per row (default 65, density ~0.1%), the columns drawn from a Zipf-like
law (frequent terms are shared by many rows, as in text), values
log-normal, rows L2-normalised, CSR float64:

1. ``pairwise_distances(X[:n_q], X)`` for euclidean, cosine (``n_q`` =
   ``--n``) and manhattan (``--n-manhattan`` query rows: scikit-learn's
   sparse manhattan visits every pair's union of features);
2. ``StandardScaler(with_mean=False)``, ``MaxAbsScaler`` and
   ``RobustScaler(with_centering=False)`` ``fit_transform`` on
   ``--n-scale`` rows of ``--d-scale`` hashed columns;
3. ``PolynomialFeatures(2)`` and ``PolynomialFeatures(3,
   interaction_only=True)`` ``fit_transform`` on ``--n-poly`` of those
   rows (sparse output).

How
---
One process; each case warms both systems up (and checks that the results
agree), then alternates scikit-learn, fastml, ... ``--repeat`` times
(:func:`fastml._bench.harness.alternated_medians`) and prints the medians
and their ratio (scikit-learn time / fastml time; above 1: fastml faster).
fastml gets ``n_jobs=--threads``; BLAS and OpenMP are capped at
``--threads`` with threadpoolctl.  Run it with glibc told to keep freed
memory (``MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=100000000000``), as ``benchmarks/run.sh`` does.

Example
-------
::

    PYTHONPATH=. python benchmarks/bench_sparse.py --quick
"""
import argparse

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from fastml._bench.harness import alternated_medians


def tfidf_like(n, d, nnz, seed=0):
    """CSR float64 (n, d): ~nnz Zipf-distributed columns per row, L2 rows."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(d) + 10.0)
    cols = rng.choice(d, size=n * nnz, p=weights / weights.sum())
    rows = np.repeat(np.arange(n), nnz)
    X = sparse.csr_array((rng.lognormal(size=n * nnz), (rows, cols)), shape=(n, d))
    X.sum_duplicates()
    norms = np.sqrt(np.bincount(np.repeat(np.arange(n), np.diff(X.indptr)),
                                weights=X.data ** 2, minlength=n))
    X.data /= np.repeat(np.where(norms > 0, norms, 1.0), np.diff(X.indptr))
    # int32 indices, as scikit-learn's vectorizers make them (its sparse
    # manhattan refuses int64 ones)
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    return X


def agree(a, b):
    """Equal within 1e-6 (sparse results compared without densifying)."""
    if sparse.issparse(a) and sparse.issparse(b):
        return a.shape == b.shape and abs(a - b).max() <= 1e-6 * max(1.0, abs(a).max())
    a, b = (m.toarray() if sparse.issparse(m) else m for m in (a, b))
    return np.allclose(a, b, rtol=1e-6, atol=1e-6)


def case(name, peer, ours, repeat):
    same = agree(peer(), ours())
    t = alternated_medians({"scikit-learn": peer, "fastml": ours}, repeat)
    ratio = t["scikit-learn"] / t["fastml"]
    print(f"{name:<48} {t['scikit-learn']:>10.4f} {t['fastml']:>10.4f} {ratio:>8.2f}x"
          f"  {'agree' if same else 'MISMATCH'}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=5000, help="rows of X (and queries)")
    p.add_argument("--n-manhattan", type=int, default=500, help="manhattan query rows")
    p.add_argument("--d", type=int, default=2**16)
    p.add_argument("--nnz", type=int, default=65, help="stored values per row")
    p.add_argument("--n-scale", type=int, default=20000)
    p.add_argument("--d-scale", type=int, default=2**12)
    p.add_argument("--n-poly", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    a = p.parse_args()
    if a.quick:
        a.n, a.n_manhattan, a.n_scale, a.n_poly, a.repeat = 1000, 200, 5000, 500, 3

    from sklearn import preprocessing as skp
    from sklearn.metrics import pairwise_distances as sk_pd

    from fastml import preprocessing as fp
    from fastml.metrics import pairwise_distances as fm_pd

    X = tfidf_like(a.n, a.d, a.nnz)
    print(f"X: {X.shape[0]} x {X.shape[1]} CSR float64, {X.nnz / X.shape[0]:.0f} stored "
          f"values per row (density {X.nnz / X.shape[0] / X.shape[1]:.2%}); "
          f"{a.threads} threads; median of {a.repeat}")
    print(f"{'case':<48} {'sklearn s':>10} {'fastml s':>10} {'ratio':>9}")
    with threadpool_limits(a.threads):
        for metric, n_q in (("euclidean", a.n), ("cosine", a.n),
                            ("manhattan", a.n_manhattan)):
            Q = X[:n_q]
            case(f"pairwise_distances {metric} {n_q} x {a.n}",
                 lambda: sk_pd(Q, X, metric=metric, n_jobs=a.threads),
                 lambda: fm_pd(Q, X, metric=metric, n_jobs=a.threads), a.repeat)
        S = tfidf_like(a.n_scale, a.d_scale, a.nnz, seed=1)
        for label, peer, ours in (
                ("StandardScaler(with_mean=False)", skp.StandardScaler(with_mean=False),
                 fp.StandardScaler(with_mean=False)),
                ("MaxAbsScaler", skp.MaxAbsScaler(), fp.MaxAbsScaler()),
                ("RobustScaler(with_centering=False)", skp.RobustScaler(with_centering=False),
                 fp.RobustScaler(with_centering=False))):
            case(f"{label} fit_transform {S.shape[0]} x {S.shape[1]}",
                 lambda: peer.fit_transform(S), lambda: ours.fit_transform(S), a.repeat)
        P = S[:a.n_poly]
        for kw in (dict(degree=2), dict(degree=3, interaction_only=True)):
            label = ", ".join(f"{k}={v}" for k, v in kw.items())
            case(f"PolynomialFeatures({label}) {P.shape[0]} x {P.shape[1]}",
                 lambda: skp.PolynomialFeatures(**kw).fit_transform(P),
                 lambda: fp.PolynomialFeatures(**kw).fit_transform(P), a.repeat)


if __name__ == "__main__":
    main()
