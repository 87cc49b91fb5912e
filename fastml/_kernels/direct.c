/*
 * Instantiates direct_body.h for float and double at three instruction-set
 * levels and dispatches at run time on what the CPU supports.  The wheel
 * stays portable (baseline x86-64), yet the hot loops run with AVX2+FMA or
 * AVX-512 where available.  Non-x86 builds get the baseline only.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "direct.h"
#include "vpow.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

typedef void (*tile_fn_f64)(const double *, ptrdiff_t, int, const double *,
                            int, int, const double *, const double *,
                            double *, ptrdiff_t, int);
typedef void (*tile_fn_f32)(const float *, ptrdiff_t, int, const float *,
                            int, int, const float *, const double *,
                            float *, ptrdiff_t, int);

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* ---- baseline ---- */
#define VW 16
#define ISA base
#if defined(__x86_64__) || defined(_M_X64)
#define VMAX_F64(a, b) ((VEC)_mm_max_pd((__m128d)(a), (__m128d)(b)))
#define VMAX_F32(a, b) ((VEC)_mm_max_ps((__m128)(a), (__m128)(b)))
#define VSQRT(a) ((PDVEC)_mm_sqrt_pd((__m128d)(a)))
#endif
#include "direct_isa.h"
#undef VSQRT
#undef VMAX_F64
#undef VMAX_F32
#undef ISA
#undef VW

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define FASTML_HAVE_X86_CLONES 1

/* ---- AVX2 + FMA (x86-64-v3) ---- */
#if defined(__clang__)
#pragma clang attribute push (__attribute__((target("avx2,fma,bmi,bmi2,popcnt"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#endif
#define VW 32
#define ISA avx2
#define VMAX_F64(a, b) ((VEC)_mm256_max_pd((__m256d)(a), (__m256d)(b)))
#define VMAX_F32(a, b) ((VEC)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define VFMA(a, b, c) ((PDVEC)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#define VLOOKUP16(tab, idx) ((PDVEC)_mm256_i64gather_pd((tab), (__m256i)(idx), 8))
#define VSQRT(a) ((PDVEC)_mm256_sqrt_pd((__m256d)(a)))
#include "direct_isa.h"
#undef VSQRT
#undef VFMA
#undef VLOOKUP16
#undef VMAX_F64
#undef VMAX_F32
#undef ISA
#undef VW
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX-512 F/BW/DQ/VL (x86-64-v4), full 512-bit vectors ---- */
#if defined(__clang__)
#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,prefer-vector-width=512"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4,prefer-vector-width=512")
#endif
#define VW 64
#define ISA avx512
#define VMAX_F64(a, b) ((VEC)_mm512_max_pd((__m512d)(a), (__m512d)(b)))
#define VMAX_F32(a, b) ((VEC)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define VRCP14(a) ((NDVEC)_mm512_rcp14_pd((__m512d)(a)))
#define VRCP14_PS(a) _mm512_rcp14_ps((__m512)(a))
#define VFMA(a, b, c) ((PDVEC)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c)))
/* a 16-entry table is two registers: one permute, no gather */
#define VLOOKUP16(tab, idx) ((PDVEC)_mm512_permutex2var_pd(                  \
    _mm512_loadu_pd(tab), (__m512i)(idx), _mm512_loadu_pd((tab) + 8)))
#define VSQRT(a) ((PDVEC)_mm512_sqrt_pd((__m512d)(a)))
#include "direct_isa.h"
#undef VSQRT
#undef VRCP14
#undef VRCP14_PS
#undef VFMA
#undef VLOOKUP16
#undef VMAX_F64
#undef VMAX_F32
#undef ISA
#undef VW
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* x86 clones */

/* ---- dispatch ---- */
typedef int (*finish_sq_f64_fn)(double *, int, double, const double *, double, int);
typedef int (*finish_sq_f32_fn)(float *, int, double, const double *, double, int);
typedef int (*finish_cos_f64_fn)(double *, int, double, const double *, double);
typedef int (*finish_cos_f32_fn)(float *, int, double, const double *, double);
typedef void (*pow_f64_fn)(const double *, double, double *, ptrdiff_t);
typedef void (*pow_f32_fn)(const float *, double, float *, ptrdiff_t);
typedef int (*first_at_most_f64_fn)(const double *, int, int, double);
typedef int (*first_at_most_f32_fn)(const float *, int, int, float);

static const tile_fn_f64 *table_f64 = fastml_table_f64_base;
static const tile_fn_f32 *table_f32 = fastml_table_f32_base;
static finish_sq_f64_fn finish_sq_f64 = fastml_finish_sq_f64_base;
static finish_sq_f32_fn finish_sq_f32 = fastml_finish_sq_f32_base;
static finish_cos_f64_fn finish_cos_f64 = fastml_finish_cos_f64_base;
static finish_cos_f32_fn finish_cos_f32 = fastml_finish_cos_f32_base;
static pow_f64_fn pow_f64 = fastml_pow_array_f64_base;
static pow_f32_fn pow_f32 = fastml_pow_array_f32_base;
static first_at_most_f64_fn first_at_most_f64 = fastml_first_at_most_f64_base;
static first_at_most_f32_fn first_at_most_f32 = fastml_first_at_most_f32_base;
static int isa_in_use = FASTML_ISA_BASELINE;

#define USE_ISA(SUFFIX)                                                       \
    do {                                                                      \
        table_f64 = fastml_table_f64_##SUFFIX;                                \
        table_f32 = fastml_table_f32_##SUFFIX;                                \
        finish_sq_f64 = fastml_finish_sq_f64_##SUFFIX;                        \
        finish_sq_f32 = fastml_finish_sq_f32_##SUFFIX;                        \
        finish_cos_f64 = fastml_finish_cos_f64_##SUFFIX;                      \
        finish_cos_f32 = fastml_finish_cos_f32_##SUFFIX;                      \
        pow_f64 = fastml_pow_array_f64_##SUFFIX;                              \
        pow_f32 = fastml_pow_array_f32_##SUFFIX;                              \
        first_at_most_f64 = fastml_first_at_most_f64_##SUFFIX;                \
        first_at_most_f32 = fastml_first_at_most_f32_##SUFFIX;                \
    } while (0)

int fastml_direct_best_isa(void)
{
#ifdef FASTML_HAVE_X86_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return FASTML_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FASTML_ISA_AVX2;
#endif
    return FASTML_ISA_BASELINE;
}

int fastml_direct_select_isa(int max_level)
{
    int level = fastml_direct_best_isa();
    if (max_level < level) level = max_level < 0 ? 0 : max_level;
    USE_ISA(base);
#ifdef FASTML_HAVE_X86_CLONES
    if (level == FASTML_ISA_AVX512)
        USE_ISA(avx512);
    else if (level == FASTML_ISA_AVX2)
        USE_ISA(avx2);
#endif
    isa_in_use = level;
    return level;
}

int fastml_direct_isa(void) { return isa_in_use; }

/* Pack rows [0, n) of B (row stride ldb, d features) into NR-wide panels,
 * zero-filling the missing columns of the last panel. */
#define DEFINE_PACK(NAME, T, NR)                                              \
    void NAME(const T *B, ptrdiff_t ldb, int n, int d, T *Bp)                 \
    {                                                                         \
        const int npanels = (n + NR - 1) / NR;                                \
        for (int q = 0; q < npanels; ++q) {                                   \
            T *P = Bp + (ptrdiff_t)q * d * NR;                                \
            const int ncols = (n - q * NR < NR) ? n - q * NR : NR;            \
            for (int c = 0; c < ncols; ++c) {                                 \
                const T *row = B + (ptrdiff_t)(q * NR + c) * ldb;             \
                for (int k = 0; k < d; ++k) P[(ptrdiff_t)k * NR + c] = row[k];\
            }                                                                 \
            for (int c = ncols; c < NR; ++c)                                  \
                for (int k = 0; k < d; ++k) P[(ptrdiff_t)k * NR + c] = 0;     \
        }                                                                     \
    }
DEFINE_PACK(fastml_pack_f64, double, FASTML_NR_F64)
DEFINE_PACK(fastml_pack_f32, float, FASTML_NR_F32)

void fastml_tile_f64(int metric, const double *A, ptrdiff_t lda, int m,
                     const double *Bp, int n, int d, const double *w,
                     const double *prm, double *out, ptrdiff_t ldo, int diag)
{
    table_f64[metric](A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
}

void fastml_tile_f32(int metric, const float *A, ptrdiff_t lda, int m,
                     const float *Bp, int n, int d, const float *w,
                     const double *prm, float *out, ptrdiff_t ldo, int diag)
{
    table_f32[metric](A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
}

int fastml_finish_sq_f64(double *row, int nb, double x_sq, const double *y_sq,
                         double tau, int take_sqrt)
{
    return finish_sq_f64(row, nb, x_sq, y_sq, tau, take_sqrt);
}

int fastml_finish_sq_f32(float *row, int nb, double x_sq, const double *y_sq,
                         double tau, int take_sqrt)
{
    return finish_sq_f32(row, nb, x_sq, y_sq, tau, take_sqrt);
}

int fastml_finish_cos_f64(double *row, int nb, double x_norm,
                          const double *y_norm, double tau)
{
    return finish_cos_f64(row, nb, x_norm, y_norm, tau);
}

int fastml_finish_cos_f32(float *row, int nb, double x_norm,
                          const double *y_norm, double tau)
{
    return finish_cos_f32(row, nb, x_norm, y_norm, tau);
}

int fastml_first_at_most_f64(const double *row, int start, int stop, double bound)
{
    return first_at_most_f64(row, start, stop, bound);
}

int fastml_first_at_most_f32(const float *row, int start, int stop, float bound)
{
    return first_at_most_f32(row, start, stop, bound);
}

/* vpow.h: p = 0, 1, 2 exactly, NaN, infinite and huge p by libm, the rest
 * in the vector unit. */
void fastml_pow_array(const double *x, double p, double *out, ptrdiff_t n)
{
    if (p == 0 || p == 1 || p == 2 || !(fabs(p) <= 0x1p600)) {
        for (ptrdiff_t i = 0; i < n; ++i)
            out[i] = p == 0 ? 1.0 : p == 1 ? x[i] : p == 2 ? x[i] * x[i] : pow(x[i], p);
        return;
    }
    pow_f64(x, p, out, n);
}

void fastml_pow_array_f32(const float *x, double p, float *out, ptrdiff_t n)
{
    if (p == 0 || p == 1 || p == 2 || !(fabs(p) <= 0x1p600)) {
        for (ptrdiff_t i = 0; i < n; ++i)
            out[i] = p == 0 ? 1.0f : p == 1 ? x[i]
                   : (float)(p == 2 ? (double)x[i] * x[i] : pow(x[i], p));
        return;
    }
    pow_f32(x, p, out, n);
}
