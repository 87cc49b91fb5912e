/* Double-double helpers of the float64 mahalanobis distance (mahalanobis.c).
 *
 * A double-double value is an unevaluated sum hi + lo of two doubles with
 * |lo| <= ulp(hi) / 2: about 106 bits of significand.  Matrices are dense,
 * row-major, d x d, as two arrays (hi, lo).
 */
#ifndef FASTML_MAHALANOBIS_H
#define FASTML_MAHALANOBIS_H
#include <stddef.h>

/* Upper triangular R with A = R^T R, A symmetric given as (A_hi, A_lo),
 * written row-major to (R_hi, R_lo), zero below the diagonal.  Returns 0,
 * or k + 1 if pivot k is not positive (A is not numerically positive
 * definite). */
int fastml_maha_cholesky(int d, const double *A_hi, const double *A_lo,
                         double *R_hi, double *R_lo);

/* z = R x - off in double-double for nr <= FASTML_MAHA_RB rows x of X (row
 * stride ldx), written to Z_hi, Z_lo (row stride ldz).  R_hi, R_lo: the
 * upper triangular factor, row-major.  work holds FASTML_MAHA_RB * d
 * doubles. */
#define FASTML_MAHA_RB 16
void fastml_maha_transform_rows(int nr, int d, const double *X, ptrdiff_t ldx,
                                const double *R_hi, const double *R_lo,
                                const double *off_hi, const double *off_lo,
                                double *Z_hi, double *Z_lo, ptrdiff_t ldz,
                                double *work);

/* The distance |R (x - y)| given an approximation s computed from the hi
 * parts of the transformed rows, refined until its error is below
 * tol * distance:
 *   1. s itself if r_x + r_y <= tol * s, where r bounds |z - z_hi| (the
 *      dropped lo parts plus the transform's own error);
 *   2. else |(zx_hi - zy_hi) + (zx_lo - zy_lo)| if t_x + t_y (the
 *      transform's error) is below tol times it;
 *   3. else |R (x - y)| from the exact difference x - y, in double-double.
 * work holds 2 d doubles.  NaN or infinite inputs return s unchanged. */
double fastml_maha_refine(double s, int d, const double *x, const double *y,
                          const double *zx_hi, const double *zx_lo,
                          double r_x, double t_x,
                          const double *zy_hi, const double *zy_lo,
                          double r_y, double t_y,
                          const double *R_hi, const double *R_lo,
                          double tol, double *work);
#endif
