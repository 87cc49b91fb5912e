"""Timing and memory measurement shared by ``fastml bench`` and benchmarks/.

Every case runs all its systems (fastml and each installed peer) in this one
process: one warm-up call each, then the systems in turn, ``repeat`` times,
so that a slow spell of a shared machine touches every system alike.  The
median of each system's runs is reported; ratios of medians are what carry
over from one machine to another, absolute times do not.
"""
import ctypes
import gc
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# glibc settings under which freed memory is kept and reused: without them a
# large output freed and allocated again costs page faults (about 1.5 s per
# GiB on these virtual machines) that swamp the kernels' times.
MALLOC_ENV = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0",
              "MALLOC_TRIM_THRESHOLD_": "100000000000"}


@dataclass
class Case:
    """One benchmark case: the same work done by fastml and its peers.

    Attributes
    ----------
    family : str
        'distances', 'neighbors', 'transforms', 'boosting' or 'dask'.
    name : str
        What is computed, e.g. 'euclidean' or 'fit, binary'.
    n, d : int
        Rows and features of the data (the x axis of the size plots).
    dtype : str
    systems : dict of str -> callable
        Zero-argument calls, 'fastml' first; each returns its result.
    check : callable, optional
        ``check(fastml_result, peer_result)`` -> None if they agree, else a
        short note that the report shows beside the times.
    sweep : bool
        Part of a series over ``n`` (drawn as time against size).
    """
    family: str
    name: str
    n: int
    d: int
    dtype: str
    systems: Dict[str, Callable]
    check: Optional[Callable] = None
    sweep: bool = False


@dataclass
class Result:
    """Median seconds and peak memory (MiB, None where unknown) per system."""
    case: Case
    seconds: Dict[str, float]
    peak_mib: Dict[str, Optional[float]]
    notes: List[str] = field(default_factory=list)

    def speedup(self, peer):
        """Peer time over fastml time: above 1 where fastml is faster."""
        return self.seconds[peer] / self.seconds["fastml"]


def timed(call):
    """Seconds taken by ``call()``; its result is freed after the clock stops."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        out = call()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    del out
    return elapsed


def alternated_medians(calls, repeat):
    """Median seconds of each zero-argument callable of ``calls`` (name ->
    callable), run ``repeat`` times in turn; warm them up first."""
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            times[name].append(timed(call))
    return {name: statistics.median(t) for name, t in times.items()}


def _status_kib(field_name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def _malloc_trim():
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def peak_mib(call):
    """Growth of the process's resident high-water mark during ``call()``,
    in MiB, or None where it cannot be reset (not Linux).

    Counts every page the call touches, C allocations (BLAS buffers, kernel
    scratch) included, which tracemalloc would miss.
    """
    gc.collect()
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        base = _status_kib("VmRSS")
    except (OSError, KeyError):
        return None
    out = call()
    peak = _status_kib("VmHWM")
    del out
    return (peak - base) / 1024


def measure(case, repeat, memory=True):
    """Warm up, compare and time every system of ``case``; a `Result`."""
    notes = []
    first = {name: call() for name, call in case.systems.items()}
    if case.check is not None:
        for name, result in first.items():
            if name != "fastml":
                note = case.check(first["fastml"], result)
                if note:
                    notes.append(f"{name}: {note}")
    del first
    seconds = alternated_medians(case.systems, repeat)
    peaks = {name: peak_mib(call) if memory else None for name, call in case.systems.items()}
    return Result(case, seconds, peaks, notes)


def cpu_model():
    """The processor's model name, as the OS reports it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_lines(threads):
    """Markdown bullet lines: the machine, threads and library versions."""
    import importlib.metadata

    from threadpoolctl import threadpool_info

    import fastml
    from fastml._kernels import _distances, _openmp_info

    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    blas = sorted({f"{i['internal_api']}" for i in threadpool_info() if i["user_api"] == "blas"})
    peers = [f"{dist} {version(dist)}" for dist in
             ("numpy", "scipy", "scikit-learn", "dask", "distributed", "lightgbm", "xgboost",
              "faiss-cpu", "dask-ml") if version(dist)]
    env_ok = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    return [
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"- threads: {threads} for every system (fastml n_jobs, peers' n_jobs / "
        "num_threads, BLAS and OpenMP limited with threadpoolctl)",
        f"- fastml {fastml.__version__}: vector instructions {_distances.isa_in_use()}, "
        f"OpenMP {'yes' if _openmp_info.openmp_enabled() else 'no'}; BLAS: "
        f"{', '.join(blas) or 'none found'}",
        f"- python {platform.python_version()}; " + ", ".join(peers),
        "- glibc keeps freed memory (" + " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items())
        + ("): yes" if env_ok else "): NO -- large outputs are page-faulted afresh on every "
           "run; set them to compare allocation-heavy cases fairly"),
    ]
