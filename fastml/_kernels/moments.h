/* Unweighted per-column statistics of a block of rows, NaN skipped. */
#ifndef FASTML_MOMENTS_H
#define FASTML_MOMENTS_H

#include <stddef.h>

/* For rows row0 .. row1 - 1 of X (C order, d columns): count of non-NaN
 * values, their sum, minimum and maximum, per column, in float64
 * (low = +inf, high = -inf for a column without values). */
void fastml_block_sums_f64(const double *X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                           double *count, double *sum, double *low, double *high);
void fastml_block_sums_f32(const float *X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                           double *count, double *sum, double *low, double *high);

/* m2[j] = sum over the same rows of (x - mean[j])^2, NaN skipped. */
void fastml_block_m2_f64(const double *X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                         const double *mean, double *m2);
void fastml_block_m2_f32(const float *X, ptrdiff_t row0, ptrdiff_t row1, ptrdiff_t d,
                         const double *mean, double *m2);

#endif
