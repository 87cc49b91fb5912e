/* Double-double helpers of the float64 mahalanobis distance (mahalanobis.c).
 *
 * A double-double value is an unevaluated sum hi + lo of two doubles with
 * |lo| <= ulp(hi) / 2: about 106 bits of significand.  Matrices are dense,
 * row-major, d x d, as two arrays (hi, lo).
 */
#ifndef FASTML_MAHALANOBIS_H
#define FASTML_MAHALANOBIS_H
#include <stddef.h>

/* Upper triangular R with A = R^T R, A symmetric given as (A_hi, A_lo).
 * R is written transposed (Rt[j*d + k] = R[k, j], zero above the
 * diagonal of Rt), the layout fastml_maha_transform_row reads.  Returns 0,
 * or k + 1 if pivot k is not positive (A is not numerically positive
 * definite). */
int fastml_maha_cholesky(int d, const double *A_hi, const double *A_lo,
                         double *Rt_hi, double *Rt_lo);

/* z = R x - off in double-double, x one row of d doubles. */
void fastml_maha_transform_row(int d, const double *x, const double *Rt_hi,
                               const double *Rt_lo, const double *off_hi,
                               const double *off_lo, double *z_hi,
                               double *z_lo);

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
                          const double *Rt_hi, const double *Rt_lo,
                          double tol, double *work);
#endif
