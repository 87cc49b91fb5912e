/* Random Fourier features: scale * cos(projection + b), in place. */
#ifndef FASTML_FOURIER_H
#define FASTML_FOURIER_H

/* v[i, j] = scale * cos(v[i, j] + b[j]) over `rows` rows of m values, in
 * place, through acc (m doubles of scratch). */
void fastml_cos_rows_f64(double *v, int rows, int m, const double *b, double scale,
                         double *acc);
void fastml_cos_rows_f32(float *v, int rows, int m, const double *b, double scale,
                         double *acc);

/* cos of every element of v (length n), in place: the vectorised cosine
 * of the kernels, exposed for tests. */
void fastml_cos_inplace(double *v, int n);

#endif
