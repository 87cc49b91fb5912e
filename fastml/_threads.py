"""Thread counts: resolved once in the public API and passed down.

Kernels never read global state; they receive ``n_threads``.
"""
import functools
import os
import threading
from contextlib import contextmanager

from fastml._kernels import _openmp_info


def usable_cpu_count():
    """CPUs this process may use: CPU affinity and the cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, quota)
    return max(n, 1)


@functools.lru_cache(maxsize=None)
def _cgroup_cpu_quota():
    """CPU limit of the cgroup (v2 ``cpu.max`` or v1 quota / period), read
    once per process (three file reads cost more than a small kernel)."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, int(int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, quota // period)
    except (OSError, ValueError):
        pass
    return None


def effective_n_threads(n_jobs=None):
    """Number of threads for a kernel called from the public API.

    ``None`` or ``-1`` means every usable core, also limited by
    ``OMP_NUM_THREADS`` and threadpoolctl's OpenMP limits (both show in
    ``omp_get_max_threads``).  ``-k`` means all but ``k - 1`` cores, as in
    joblib.  Positive values are taken as they are.  Without OpenMP the
    kernels run on one thread whatever is asked.
    """
    if n_jobs is not None and (not isinstance(n_jobs, (int,)) or isinstance(n_jobs, bool) or n_jobs == 0):
        raise ValueError(
            f"n_jobs must be None, a positive integer or a negative integer, got {n_jobs!r}."
        )
    if not _openmp_info.openmp_enabled():
        return 1
    usable = min(usable_cpu_count(), _openmp_info.openmp_max_threads())
    if n_jobs is None or n_jobs == -1:
        return usable
    if n_jobs < 0:
        return max(1, usable + 1 + n_jobs)
    return n_jobs


# Work (element operations: a subtract-and-add of a distance, a scaled
# element, a bin lookup) that pays for one more thread.  Starting an OpenMP
# team costs 5-50 us on an idle machine, and on a busy one a woken thread
# may wait for a scheduler slice (4-16 ms measured here with the other core
# loaded), while 2**18 such operations take about 50-200 us on one core.
# Small calls -- a user's first try, a Dask block, a tree node -- run on the
# calling thread instead.
WORK_PER_THREAD = 1 << 18


def threads_for(work, n_threads):
    """``n_threads`` lowered so that each thread gets ``WORK_PER_THREAD``
    units of ``work`` at least; 1 for small work.  Results never depend on
    it (the chunk contract), only the time does."""
    return int(max(1, min(n_threads, work // WORK_PER_THREAD)))


_BLAS_LOCK = threading.Lock()
_BLAS_CONTROLLER = None
_BLAS_USERS = 0        # callers inside single_threaded_blas() right now
_BLAS_RESTORE = None   # threadpoolctl's handle that restores the BLAS threads


@contextmanager
def single_threaded_blas():
    """Run the block with BLAS on one thread.

    BLAS's thread count is a setting of the whole process, so calls that
    overlap (Dask's threaded scheduler runs kernels side by side) share one
    limit: the first caller sets it, the last one restores the previous
    count.  threadpoolctl's controller is built once (it scans the loaded
    libraries)."""
    global _BLAS_CONTROLLER, _BLAS_USERS, _BLAS_RESTORE
    with _BLAS_LOCK:
        if _BLAS_USERS == 0:
            if _BLAS_CONTROLLER is None:
                from threadpoolctl import ThreadpoolController

                _BLAS_CONTROLLER = ThreadpoolController()
            _BLAS_RESTORE = _BLAS_CONTROLLER.limit(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                _BLAS_RESTORE.restore_original_limits()
                _BLAS_RESTORE = None
