/* Unweighted per-column statistics of a block of rows, NaN skipped. */
#ifndef FASTML_MOMENTS_H
#define FASTML_MOMENTS_H

/* For rows row0 .. row1 - 1 of X (C order, d columns): count of non-NaN
 * values, their sum, minimum and maximum, per column, in float64
 * (low = +inf, high = -inf for a column without values). */
void fastml_block_sums_f64(const double *X, long row0, long row1, long d,
                           double *count, double *sum, double *low, double *high);
void fastml_block_sums_f32(const float *X, long row0, long row1, long d,
                           double *count, double *sum, double *low, double *high);

/* m2[j] = sum over the same rows of (x - mean[j])^2, NaN skipped. */
void fastml_block_m2_f64(const double *X, long row0, long row1, long d,
                         const double *mean, double *m2);
void fastml_block_m2_f32(const float *X, long row0, long row1, long d,
                         const double *mean, double *m2);

#endif
