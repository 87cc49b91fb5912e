"""Benchmark ``fastml.metrics.pairwise_distances`` against its peers.

What is measured
----------------
Wall-clock time of one full ``pairwise_distances(X, Y)`` call, output
allocation included, for X, Y of shape (n, d) drawn from a standard normal
distribution (``numpy.random.default_rng(0)``), in float64 and float32:

1. euclidean, sqeuclidean, cosine against
   :func:`sklearn.metrics.pairwise_distances`;
2. the other numeric metrics against :func:`scipy.spatial.distance.cdist`
   (single-threaded, as users run it);
3. boolean metrics on 0/1 data against ``cdist`` on bool arrays;
4. a custom metric written in Python (vectorised and loop versions) against
   scikit-learn's callable path, and against fastml's built-in cityblock;
5. the SIMD gain of the direct kernels: cityblock and chebyshev with the
   instruction set capped by ``fastml._kernels._distances.select_isa``;
6. optionally (``--dask``) fastml on Dask arrays on a 2-worker
   ``distributed.LocalCluster`` against the in-process call.

How
---
Everything runs in this one process.  Each case warms up the peer and fastml
once, then alternates peer, fastml, peer, fastml, ... ``--repeat`` times and
reports the median of each.  The warm-up results are compared on their
first rows, so a mismatch between fastml and the peer shows in the notes.
BLAS and OpenMP are limited to ``--threads`` with threadpoolctl.

Peak memory of a fastml call is measured once more, after the timed runs:
the process high-water mark is reset (``/proc/self/clear_refs``), freed heap
memory is handed back to the kernel (``malloc_trim``), and the growth of
``VmHWM`` during the call is reported.  This counts every page the call
touches, C allocations (BLAS buffers, kernel tiles) included, which
tracemalloc would miss.  Where ``/proc`` does not allow it, only the size of
the output matrix is reported.

Run it through ``benchmarks/run.sh``, which tells glibc to keep freed memory
(``MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1e11``), so
that large outputs are not mapped and page-faulted afresh on every run.

Examples
--------
::

    PYTHONPATH=. python benchmarks/bench_pairwise.py --quick
    PYTHONPATH=. python benchmarks/bench_pairwise.py --only cityblock,simd --n 4000
"""
import argparse
import functools
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import scipy
import sklearn
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances as sk_pairwise_distances
from threadpoolctl import threadpool_info, threadpool_limits

import fastml
from fastml._bench.harness import MALLOC_ENV, cpu_model, peak_mib, timed
from fastml._kernels import _distances, _openmp_info
from fastml.metrics import pairwise_distances as fm_pairwise_distances

MIB = 2**20
DTYPES = (np.float64, np.float32)
SKLEARN_METRICS = ("euclidean", "sqeuclidean", "cosine")
SCIPY_ALL_D = ("cityblock", "chebyshev")
SCIPY_D64 = ("minkowski", "canberra", "braycurtis", "correlation", "hamming",
             "jensenshannon", "seuclidean", "mahalanobis")
SCIPY_SUBSET = ("minkowski", "jensenshannon")  # peer timed on a row subset
BOOLEAN_METRICS = ("dice", "jaccard", "rogerstanimoto", "yule")
GROUPS = {
    "sklearn": SKLEARN_METRICS,
    "scipy": SCIPY_ALL_D + SCIPY_D64,
    "boolean": BOOLEAN_METRICS,
    "custom": ("custom",),
    "simd": ("simd",),
    "dask": ("dask",),
}
CASE_NAMES = tuple(name for names in GROUPS.values() for name in names)


# ---------------------------------------------------------------- custom metrics
def manhattan(a, b):
    """L1 distance, vectorised NumPy."""
    return np.abs(a - b).sum()


def manhattan_loop(a, b):
    """L1 distance, explicit loop."""
    s = 0.0
    for k in range(a.shape[0]):
        s += abs(a[k] - b[k])
    return s


def manhattan_loop_input_precision(a, b):
    """L1 distance, explicit loop, summed in the input's precision: Numba
    types ``s`` float32 for float32 rows and float64 for float64 rows
    (``s = 0.0`` makes every sum float64)."""
    s = np.float32(0.0)
    for k in range(a.shape[0]):
        s += abs(a[k] - b[k])
    return s


def euclidean(a, b):
    """L2 distance, vectorised NumPy."""
    return np.sqrt(((a - b) ** 2).sum())


def minkowski_1_5(a, b):
    """Minkowski p = 1.5, vectorised NumPy with a fractional power."""
    return np.sum(np.abs(a - b) ** 1.5) ** (1 / 1.5)


CUSTOM_METRICS = (manhattan, manhattan_loop, manhattan_loop_input_precision, euclidean,
                  minkowski_1_5)
# the built-in each is compared with (metric, parameters); else cityblock
BUILT_IN = {euclidean: ("euclidean", {}), minkowski_1_5: ("minkowski", {"p": 1.5})}


# ---------------------------------------------------------------- cases
@dataclass
class Case:
    """One comparison: two zero-argument callables returning a matrix."""

    name: str                      # selection key for --only
    label: str                     # "case" column
    dtype: str
    d: int
    peer_label: str
    peer: Callable
    fastml: Callable
    out_shape: tuple
    out_itemsize: int
    peer_scale: float = 1.0        # peer ran on 1/peer_scale of the rows
    check_rows: Optional[int] = None
    memory: bool = True
    notes: list = field(default_factory=list)
    after: Optional[Callable] = None   # called with the Result


@dataclass
class Result:
    case: Case
    peer_s: float
    fastml_s: float
    peer_warmup_s: float
    fastml_warmup_s: float
    peak_mib: Optional[float]


@functools.lru_cache(maxsize=None)
def data(n, d, dtype, kind="normal"):
    """X, Y of shape (n, d): standard normal (seed 0), |.| or 0/1."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    if kind == "abs":
        X, Y = np.abs(X), np.abs(Y)
    elif kind == "bool":
        return X > 0, Y > 0
    return X.astype(dtype), Y.astype(dtype)


def fastml_call(X, Y, metric, threads, **kw):
    return lambda: fm_pairwise_distances(X, Y, metric=metric, n_jobs=threads, **kw)


def sklearn_cases(n, threads):
    for metric in SKLEARN_METRICS:
        # euclidean/cosine: sklearn's BLAS fast path, n_jobs=None (BLAS threads);
        # sqeuclidean goes to cdist, split over n_jobs joblib threads.
        n_jobs = threads if metric == "sqeuclidean" else None
        for d in (8, 64, 512):
            for dtype in DTYPES:
                X, Y = data(n, d, dtype)
                yield Case(
                    metric, metric, np.dtype(dtype).name, d,
                    f"sklearn (n_jobs={n_jobs})",
                    lambda X=X, Y=Y, m=metric, j=n_jobs: sk_pairwise_distances(
                        X, Y, metric=m, n_jobs=j),
                    fastml_call(X, Y, metric, threads), (n, n), np.dtype(dtype).itemsize,
                )


def scipy_cases(n, threads):
    metrics = [(m, d) for m in SCIPY_ALL_D for d in (8, 64, 512)]
    metrics += [(m, 64) for m in SCIPY_D64]
    for metric, d in metrics:
        kw = {"p": 3} if metric == "minkowski" else {}
        label = "minkowski p=3" if metric == "minkowski" else metric
        for dtype in DTYPES:
            X, Y = data(n, d, dtype, "abs" if metric == "jensenshannon" else "normal")
            rows = max(8, n // 8) if metric in SCIPY_SUBSET else n
            case = Case(
                metric, label, np.dtype(dtype).name, d, "scipy cdist",
                lambda X=X[:rows], Y=Y, m=metric, kw=kw: cdist(X, Y, m, **kw),
                fastml_call(X, Y, metric, threads, **kw), (n, n), np.dtype(dtype).itemsize,
                peer_scale=n / rows, check_rows=rows,
            )
            if rows < n:
                case.notes.append(f"cdist timed on {rows}x{n}, scaled x{n / rows:g}")
            if metric == "jensenshannon":
                case.notes.append("data |N(0,1)|")
            yield case


def mahalanobis_cases(n, threads):
    """mahalanobis on near-collinear features: x_j = x_0 + 1e-4 z_j, so
    cov's condition number is ~1e10 (d / 1e-8), VI = inv(cov) given."""
    rng = np.random.default_rng(0)
    d = 64
    base = rng.standard_normal((2 * n, 1))
    data64 = base + 1e-4 * rng.standard_normal((2 * n, d))
    VI = np.linalg.inv(np.cov(data64.T))
    for dtype in DTYPES:
        X, Y = data64[:n].astype(dtype), data64[n:].astype(dtype)
        case = Case(
            "mahalanobis", "mahalanobis collinear", np.dtype(dtype).name, d, "scipy cdist",
            lambda X=X, Y=Y: cdist(X, Y, "mahalanobis", VI=VI),
            fastml_call(X, Y, "mahalanobis", threads, VI=VI), (n, n), np.dtype(dtype).itemsize,
            notes=["cond(cov) 9e9; SciPy's own error here ~1e-8"],
        )
        yield case


def division_and_power_cases(n, threads):
    """canberra at 4000 x 8000 x 64 (a quotient per element) and minkowski
    with a fractional p (a power per element) at 2000 x 2000 x 64 and at
    n x n x 64 (peer timed on n / 8 rows there)."""
    X, Y = data(8000, 64, np.float64)
    yield Case(
        "canberra", "canberra 4000x8000", "float64", 64, "scipy cdist",
        lambda X=X[:4000], Y=Y: cdist(X, Y, "canberra"),
        fastml_call(X[:4000], Y, "canberra", threads), (4000, 8000), 8,
    )
    for size in (2000, n):
        for dtype in DTYPES:
            X, Y = data(size, 64, dtype)
            rows = size if size <= 2000 else max(8, size // 8)
            case = Case(
                "minkowski", f"minkowski p=1.5 {size}x{size}", np.dtype(dtype).name, 64,
                "scipy cdist", lambda X=X[:rows], Y=Y: cdist(X, Y, "minkowski", p=1.5),
                fastml_call(X, Y, "minkowski", threads, p=1.5), (size, size),
                np.dtype(dtype).itemsize, peer_scale=size / rows, check_rows=rows,
            )
            if rows < size:
                case.notes.append(f"cdist timed on {rows}x{size}, scaled x{size / rows:g}")
            yield case


def boolean_cases(n, threads):
    Xb, Yb = data(n, 64, None, "bool")
    X01, Y01 = Xb.astype(np.float64), Yb.astype(np.float64)
    for metric in BOOLEAN_METRICS:
        yield Case(
            metric, metric, "bool", 64, "scipy cdist (bool)",
            lambda m=metric: cdist(Xb, Yb, m),
            fastml_call(X01, Y01, metric, threads), (n, n), 8,
            notes=["fastml given 0/1 float64"],
        )


def custom_cases(n, n_small, threads):
    for func in CUSTOM_METRICS:
        for dtype in DTYPES:
            X, Y = data(n_small, 64, dtype)
            case = Case(
                "custom", f"custom {func.__name__}", np.dtype(dtype).name, 64,
                "sklearn callable",
                lambda X=X, Y=Y, f=func: sk_pairwise_distances(X, Y, metric=f),
                fastml_call(X, Y, func, threads), (n_small, n_small),
                np.dtype(dtype).itemsize, notes=[f"{n_small}x{n_small}"],
            )
            case.after = _note_compile_time
            yield case
    for func in CUSTOM_METRICS:
        built_in, params = BUILT_IN.get(func, ("cityblock", {}))
        for dtype in DTYPES:
            X, Y = data(n, 64, dtype)
            case = Case(
                "custom", f"custom {func.__name__} vs built-in", np.dtype(dtype).name, 64,
                f"fastml {built_in}", fastml_call(X, Y, built_in, threads, **params),
                fastml_call(X, Y, func, threads), (n, n), np.dtype(dtype).itemsize,
            )
            case.after = _note_custom_ratio
            yield case


def _note_compile_time(result):
    compile_s = result.fastml_warmup_s - result.fastml_s
    result.case.notes.append(f"first call (Numba compile) ~{compile_s:.2f} s")


def _note_custom_ratio(result):
    ratio = result.fastml_s / result.peer_s
    verdict = "OK" if ratio <= 2 else "MISSED"
    result.case.notes.append(f"custom/built-in {ratio:.2f} (target <= 2: {verdict})")


def simd_cases(n, threads):
    best = _distances.ISA_NAMES.index(_distances.best_isa())
    for metric in ("cityblock", "chebyshev"):
        for dtype in DTYPES:
            X, Y = data(n, 64, dtype)
            call = fastml_call(X, Y, metric, threads)
            for level in range(1, best + 1):
                name = _distances.ISA_NAMES[level]
                yield Case(
                    "simd", f"simd {metric} {name}", np.dtype(dtype).name, 64,
                    "fastml baseline (SSE2)", _at_isa(0, call), _at_isa(level, call),
                    (n, n), np.dtype(dtype).itemsize, notes=["speed-up = SIMD gain"],
                )


def _at_isa(level, call):
    def run():
        got = _distances.select_isa(level)
        if got != level:
            raise RuntimeError(f"select_isa({level}) selected level {got}")
        return call()
    return run


def dask_cases(n, threads, client):
    import dask.array as da

    chunk = max(1, n // 4)
    for metric in ("euclidean", "cityblock"):
        X, Y = data(n, 64, np.float64)

        def on_dask(X=X, Y=Y, m=metric):
            A, B = da.from_array(X, chunks=(chunk, -1)), da.from_array(Y, chunks=(chunk, -1))
            return fm_pairwise_distances(A, B, metric=m).compute()

        yield Case(
            "dask", f"dask {metric}", "float64", 64, f"fastml in-process ({threads} thr)",
            fastml_call(X, Y, metric, threads), on_dask, (n, n), 8, memory=False,
            notes=[f"LocalCluster 2x1 thr, {chunk}-row chunks, result gathered"],
        )


# ---------------------------------------------------------------- measuring
def compare_head(case):
    """Warm-up runs: time both and compare the first rows of their results."""
    start = time.perf_counter()
    ref = case.peer()
    peer_warmup = time.perf_counter() - start
    rows = min(case.check_rows or ref.shape[0], 256)
    head = np.array(ref[:rows], dtype=np.float64)
    del ref
    start = time.perf_counter()
    got = case.fastml()
    fastml_warmup = time.perf_counter() - start
    got_head = np.asarray(got[:rows], dtype=np.float64)
    rtol, atol = (1e-3, 1e-4) if case.dtype == "float32" else (1e-7, 1e-9)
    if not np.allclose(got_head, head, rtol=rtol, atol=atol, equal_nan=True):
        err = np.nanmax(np.abs(got_head - head))
        case.notes.append(f"MISMATCH vs peer, max abs diff {err:.3g}")
    del got, got_head
    return peer_warmup, fastml_warmup


def run_case(case, repeat):
    peer_warmup, fastml_warmup = compare_head(case)
    peer_times, fastml_times = [], []
    for _ in range(repeat):
        peer_times.append(timed(case.peer))
        fastml_times.append(timed(case.fastml))
    peak = peak_mib(case.fastml) if case.memory else None
    result = Result(
        case, statistics.median(peer_times) * case.peer_scale,
        statistics.median(fastml_times), peer_warmup * case.peer_scale,
        fastml_warmup, peak,
    )
    if case.after is not None:
        case.after(result)
    return result


# ---------------------------------------------------------------- reporting
def header(args):
    blas = sorted({f"{i['internal_api']} ({i['num_threads']} thr)"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    lines = [
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"- threads: {args.threads} (fastml n_jobs; BLAS/OpenMP limited with threadpoolctl)",
        f"- fastml {fastml.__version__}: ISA in use {_distances.isa_in_use()} "
        f"(best {_distances.best_isa()}), OpenMP enabled {_openmp_info.openmp_enabled()}",
        f"- BLAS: {', '.join(blas) or 'none found'}",
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}",
        f"- n = {args.n}, repeat = {args.repeat}, custom-vs-sklearn size {args.n_small}",
    ]
    env = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in MALLOC_ENV)
    ok = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    lines.append(f"- glibc malloc: {env} -> {'OK' if ok else 'NOT as recommended'}")
    if not ok:
        lines.append("  run with " + " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())
                     + " (benchmarks/run.sh does) so freed memory is kept and reused")
    return "\n".join(lines)


COLUMNS = ("case", "dtype", "d", "peer", "peer median s", "fastml median s",
           "speed-up (peer/fastml)", "peak MiB (fastml)", "output MiB", "notes")


def table(results):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        c = r.case
        out_mib = np.prod(c.out_shape) * c.out_itemsize / MIB
        peer_s = f"{r.peer_s:.4g}" + ("†" if c.peer_scale != 1 else "")
        peak = "n/a" if r.peak_mib is None else f"{r.peak_mib:.1f}"
        cells = (c.label, c.dtype, str(c.d), c.peer_label, peer_s, f"{r.fastml_s:.4g}",
                 f"{r.peer_s / r.fastml_s:.2f}", peak, f"{out_mib:.1f}", "; ".join(c.notes))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


FOOTNOTES = """\
Notes:
- Times are medians of alternated runs after one warm-up each, output allocation included.
- † peer timed on a row subset of X (n/8 rows: minkowski p=3, jensenshannon) and scaled
  linearly to the full size (cdist cost is linear in the rows of X). SciPy's
  jensenshannon cdist is compiled C in recent SciPy, about as slow per pair as minkowski.
- sklearn euclidean/cosine use n_jobs=None: their BLAS fast path, multi-threaded by BLAS;
  sklearn sqeuclidean calls cdist split over n_jobs={threads} joblib threads. The custom
  metric's sklearn peer uses n_jobs=None: a Python callable holds the GIL.
- cdist is single-threaded and computes float32 input in float64 (float64 output).
- Custom-metric rows exclude Numba compile time (warm-up first); the notes give the
  first call minus the median, once per function and dtype (Numba specialises per dtype).
- Dask rows: peer = fastml in-process, fastml = fastml on Dask arrays (inputs embedded in
  the graph, result gathered into this process; workers run each block on 1 thread).
- SIMD rows: peer = fastml with select_isa(0), fastml = the named level; select_isa(2)
  is restored afterwards.
- peak MiB: growth of the process VmHWM during one extra fastml call, after resetting it
  (/proc/self/clear_refs) and malloc_trim; counts every touched page, C allocations
  included. 'n/a' if /proc does not allow it (then see output MiB)."""


# ---------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (n=1000, repeat=3)")
    p.add_argument("--n", type=int, default=None, help="rows of X and Y (default 8000)")
    p.add_argument("--repeat", type=int, default=None, help="timed runs each (default 5, min 3)")
    p.add_argument("--threads", type=int, default=2, help="threads for fastml/BLAS (default 2)")
    p.add_argument("--out", default=None, help="also write the markdown report here")
    p.add_argument("--only", default=None,
                   help="comma list of case names or groups: " + ", ".join(
                       list(GROUPS) + [n for n in CASE_NAMES if n not in GROUPS]))
    p.add_argument("--dask", action="store_true", help="add the Dask LocalCluster cases")
    args = p.parse_args(argv)
    args.n = args.n or (1000 if args.quick else 8000)
    args.n_small = min(args.n, 100 if args.quick else 500)
    repeat = args.repeat or (3 if args.quick else 5)
    if repeat < 3:
        print(f"--repeat {repeat} raised to the minimum, 3", file=sys.stderr)
    args.repeat = max(repeat, 3)
    explicit = args.only is not None
    args.only = _selection(p, args.only)
    args.dask = args.dask or (explicit and "dask" in args.only)
    return args


def _selection(parser, only):
    if only is None:
        return set(CASE_NAMES)
    chosen = set()
    for name in filter(None, (s.strip() for s in only.split(","))):
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in CASE_NAMES:
            chosen.add(name)
        else:
            parser.error(f"unknown case {name!r}; choose from {', '.join(CASE_NAMES)} "
                         f"or groups {', '.join(GROUPS)}")
    return chosen


def cases(args, client=None):
    yield from sklearn_cases(args.n, args.threads)
    yield from scipy_cases(args.n, args.threads)
    yield from division_and_power_cases(args.n, args.threads)
    yield from mahalanobis_cases(args.n, args.threads)
    yield from boolean_cases(args.n, args.threads)
    yield from custom_cases(args.n, args.n_small, args.threads)
    try:
        yield from simd_cases(args.n, args.threads)
    finally:
        _distances.select_isa(2)
    if client is not None:
        yield from dask_cases(args.n, args.threads, client)


def run_all(args, client=None):
    results = []
    for case in cases(args, client):
        if case.name not in args.only:
            continue
        result = run_case(case, args.repeat)
        print(f"  {case.label} {case.dtype} d={case.d}: peer {result.peer_s:.4g} s, "
              f"fastml {result.fastml_s:.4g} s", file=sys.stderr, flush=True)
        results.append(result)
    return results


def start_dask():
    import logging
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return cluster, Client(cluster)


def main(argv=None):
    args = parse_args(argv)
    report = ["# fastml pairwise_distances benchmark", "", header(args), ""]
    print("\n".join(report), flush=True)
    cluster = client = None
    if args.dask and "dask" in args.only:
        cluster, client = start_dask()
    try:
        with threadpool_limits(limits=args.threads):
            results = run_all(args, client)
    finally:
        _distances.select_isa(2)
        if client is not None:
            client.close()
            cluster.close()
    body = [table(results), "", FOOTNOTES.format(threads=args.threads)]
    print("\n".join(body))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write("\n".join(report + body) + "\n")


if __name__ == "__main__":
    main()
