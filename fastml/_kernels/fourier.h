/* Random Fourier features: one row of scale * cos(x @ W + b), fused. */
#ifndef FASTML_FOURIER_H
#define FASTML_FOURIER_H

/* out[j] = scale * cos(b[j] + sum_k x[k] * W[k * m + j]) for j < m, for
 * `rows` consecutive rows of x (row stride d) and out (row stride m).
 * acc is scratch of rows * m doubles.  Accumulates in float64. */
void fastml_fourier_rows_f64(const double *x, int rows, int d, const double *W, int m,
                             const double *b, double scale, double *acc, double *out);
void fastml_fourier_rows_f32(const float *x, int rows, int d, const double *W, int m,
                             const double *b, double scale, double *acc, float *out);

/* cos of every element of v (length n), in place: the vectorised cosine
 * of the kernels, exposed for tests. */
void fastml_cos_inplace(double *v, int n);

#endif
