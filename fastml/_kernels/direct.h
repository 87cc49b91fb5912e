/* Public C interface of the direct-metric tile kernels (see direct_body.h). */
#ifndef FASTML_DIRECT_H
#define FASTML_DIRECT_H

#include <stddef.h>

#define FASTML_NO_DIAG (-2147483647 - 1)

/* Metric codes, in the order of the tables in direct_body.h. */
enum {
    FASTML_L1 = 0, FASTML_SQEUCLIDEAN, FASTML_EUCLIDEAN, FASTML_CHEBYSHEV,
    FASTML_MINKOWSKI3, FASTML_MINKOWSKI4, FASTML_MINKOWSKI, FASTML_CANBERRA,
    FASTML_BRAYCURTIS, FASTML_HAMMING, FASTML_JENSENSHANNON, FASTML_DOT,
    FASTML_N_DIRECT
};

/* Instruction-set levels the kernels were compiled for. */
enum { FASTML_ISA_BASELINE = 0, FASTML_ISA_AVX2 = 1, FASTML_ISA_AVX512 = 2 };

/* Columns per packed panel. */
#define FASTML_NR_F64 8
#define FASTML_NR_F32 16

/* Pick the best level this CPU supports, capped by `max_level`; returns it. */
int fastml_direct_select_isa(int max_level);
/* The level in use, and the best level compiled in and supported here. */
int fastml_direct_isa(void);
int fastml_direct_best_isa(void);

void fastml_pack_f64(const double *B, ptrdiff_t ldb, int n, int d, double *Bp);
void fastml_pack_f32(const float *B, ptrdiff_t ldb, int n, int d, float *Bp);

void fastml_tile_f64(int metric, const double *A, ptrdiff_t lda, int m,
                     const double *Bp, int n, int d, const double *w,
                     const double *prm, double *out, ptrdiff_t ldo, int diag);
void fastml_tile_f32(int metric, const float *A, ptrdiff_t lda, int m,
                     const float *Bp, int n, int d, const float *w,
                     const double *prm, float *out, ptrdiff_t ldo, int diag);

/* Row finishers of the GEMM metrics, in place; nonzero: some pair needs
 * the exact recomputation (then no square root was taken). */
int fastml_finish_sq_f64(double *row, int nb, double x_sq, const double *y_sq,
                         double tau, int take_sqrt);
int fastml_finish_sq_f32(float *row, int nb, double x_sq, const double *y_sq,
                         double tau, int take_sqrt);
int fastml_finish_cos_f64(double *row, int nb, double x_norm,
                          const double *y_norm, double tau);
int fastml_finish_cos_f32(float *row, int nb, double x_norm,
                          const double *y_norm, double tau);

/* The first j in [start, stop) with row[j] <= bound, or stop (NaN never
 * is). */
int fastml_first_at_most_f64(const double *row, int start, int stop, double bound);
int fastml_first_at_most_f32(const float *row, int start, int stop, float bound);

#endif
