/* The same sources build with and without OpenMP: without it these stubs
 * stand in and every prange runs serially. */
#ifndef FASTML_OPENMP_COMPAT_H
#define FASTML_OPENMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
#define FASTML_OPENMP 1
#else
#define FASTML_OPENMP 0
static int omp_get_max_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
#endif
#endif
