/* Random Fourier features: scale * cos(projection + b), in place. */
#ifndef FASTML_FOURIER_H
#define FASTML_FOURIER_H

/* v[i, j] = scale * cos(v[i, j] + b[j]) over `rows` rows of m values, in
 * place, through acc (m values of scratch): float64 in float64, float32 in
 * float32 (as scikit-learn's float32 path). */
void fastml_cos_rows_f64(double *v, int rows, int m, const double *b, double scale,
                         double *acc);
void fastml_cos_rows_f32(float *v, int rows, int m, const float *b, float scale,
                         float *acc);

/* cosf of every element, in place: the float32 cosine of the kernels. */
void fastml_cosf_inplace(float *v, int n);

/* cos of every element of v (length n), in place: the vectorised cosine
 * of the kernels, exposed for tests. */
void fastml_cos_inplace(double *v, int n);

#endif
