# cython: language_level=3
"""Whether the compiled kernels were built with OpenMP, and its thread count."""

cdef extern from "openmp_compat.h" nogil:
    int FASTML_OPENMP
    int omp_get_max_threads()


def openmp_enabled():
    """True if the kernels were compiled with OpenMP (parallel prange)."""
    return bool(FASTML_OPENMP)


def openmp_max_threads():
    """Threads an OpenMP parallel region would use by default (1 without
    OpenMP)."""
    return omp_get_max_threads()
