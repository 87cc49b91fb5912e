/* Unweighted per-column statistics of a block of rows (see moments.h).
 *
 * Rows are read in order and every column accumulates in its own float64
 * lane, so the sums are the plain left-to-right sums over rows.  The
 * accumulators are restrict-qualified and updated with selects (a NaN
 * compares false everywhere), so the loop over columns vectorises; it is
 * built for baseline x86-64, AVX2 and AVX-512 with GCC's target_clones and
 * the best is chosen when the module loads.
 */
#include <math.h>
#include <stddef.h>
#include "moments.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define SUMS_BODY(T)                                                              \
    ptrdiff_t i, j;                                                                  \
    for (j = 0; j < d; j++) {                                                     \
        count[j] = 0.0;                                                           \
        sum[j] = 0.0;                                                             \
        low[j] = INFINITY;                                                        \
        high[j] = -INFINITY;                                                      \
    }                                                                             \
    for (i = row0; i < row1; i++) {                                               \
        const T *x = X + i * d;                                                   \
        for (j = 0; j < d; j++) {                                                 \
            double v = (double)x[j];                                              \
            int present = v == v;                                                 \
            count[j] += present ? 1.0 : 0.0;                                      \
            sum[j] += present ? v : 0.0;                                          \
            low[j] = v < low[j] ? v : low[j];                                     \
            high[j] = v > high[j] ? v : high[j];                                  \
        }                                                                         \
    }

#define M2_BODY(T)                                                                \
    ptrdiff_t i, j;                                                                  \
    for (j = 0; j < d; j++)                                                       \
        m2[j] = 0.0;                                                              \
    for (i = row0; i < row1; i++) {                                               \
        const T *x = X + i * d;                                                   \
        for (j = 0; j < d; j++) {                                                 \
            double v = (double)x[j];                                              \
            double dev = v - mean[j];                                             \
            m2[j] += v == v ? dev * dev : 0.0;                                    \
        }                                                                         \
    }

CLONES void fastml_block_sums_f64(const double *restrict X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                                  double *restrict count, double *restrict sum,
                                  double *restrict low, double *restrict high)
{
    SUMS_BODY(double)
}

CLONES void fastml_block_sums_f32(const float *restrict X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                                  double *restrict count, double *restrict sum,
                                  double *restrict low, double *restrict high)
{
    SUMS_BODY(float)
}

CLONES void fastml_block_m2_f64(const double *restrict X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                                const double *restrict mean, double *restrict m2)
{
    M2_BODY(double)
}

CLONES void fastml_block_m2_f32(const float *restrict X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                                const double *restrict mean, double *restrict m2)
{
    M2_BODY(float)
}
