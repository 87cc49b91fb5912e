/*
 * Random Fourier features: the projection X @ W comes from BLAS, written
 * into the output; one pass here adds the offset, takes the cosine and
 * scales, a row at a time through an L1-resident float64 buffer.
 *
 * The cosine is computed here, not by libm, so that the loop vectorises:
 * the argument is reduced by multiples of pi/2 (three-part Cody-Waite
 * constants, exact products for |x| < 2^20 pi/2), and cos or sin of the
 * remainder (|r| <= pi/4) comes from the classic fdlibm minimax
 * polynomials, picked and signed by the quadrant with selects, not
 * branches.  Error: within 2 ulp of the true cosine for |x| <= 1e5
 * (tests/test_kernel_approximation.py checks it against NumPy); larger or
 * non-finite arguments go through libm's cos.
 *
 * Built for baseline x86-64, AVX2+FMA and AVX-512 with GCC's target_clones
 * (the loader picks the best for the CPU); other compilers and CPUs get one
 * portable build.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fourier.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define TWO_OVER_PI 6.36619772367581382433e-01
#define PIO2_1 1.57079632673412561417e+00   /* first 33 bits of pi/2 */
#define PIO2_2 6.07710050630396597660e-11   /* next 33 bits */
#define PIO2_3 2.02226624871116645580e-21   /* the rest */
#define ROUND_MAGIC 6755399441055744.0      /* 1.5 * 2^52: x + M - M rounds x */
#define REDUCE_LIMIT 1e5                    /* beyond this, libm */

static inline double cos_reduced(double x)
{
    double t = x * TWO_OVER_PI;
    double shifted = t + ROUND_MAGIC;
    double k = shifted - ROUND_MAGIC;       /* nearest integer to x / (pi/2) */
    int64_t bits;
    memcpy(&bits, &shifted, sizeof bits);   /* k mod 4 sits in the low bits */
    int64_t q = bits & 3;
    double r = x - k * PIO2_1;
    r = r - k * PIO2_2;
    r = r - k * PIO2_3;
    double z = r * r;
    double s = r + r * z * (-1.66666666666666324348e-01 + z * (8.33333333332248946124e-03
               + z * (-1.98412698298579493134e-04 + z * (2.75573137070700676789e-06
               + z * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10)))));
    double c = 1.0 - 0.5 * z + z * z * (4.16666666666666019037e-02
               + z * (-1.38888888888741095749e-03 + z * (2.48015872894767294178e-05
               + z * (-2.75573143513906633035e-07 + z * (2.08757232129817482790e-09
               + z * -1.13596475577881948265e-11)))));
    /* cos(r + q pi/2) = c, -s, -c, s for q = 0, 1, 2, 3 */
    double v = (q & 1) ? s : c;
    return ((q + 1) & 2) ? -v : v;
}

/* v[j] = cos(v[j]) in place; arguments beyond REDUCE_LIMIT (or infinite)
 * are redone with libm afterwards (a rare, separate pass). */
static inline void cos_row(double *v, int n)
{
    int j, big = 0;
    for (j = 0; j < n; j++)
        big |= !(fabs(v[j]) <= REDUCE_LIMIT);
    if (big) {
        for (j = 0; j < n; j++)
            v[j] = fabs(v[j]) <= REDUCE_LIMIT ? cos_reduced(v[j]) : cos(v[j]);
        return;
    }
    for (j = 0; j < n; j++)
        v[j] = cos_reduced(v[j]);
}

CLONES void fastml_cos_inplace(double *v, int n)
{
    cos_row(v, n);
}

/* v[i, j] = scale * cos(v[i, j] + b[j]) for `rows` rows of m values (a
 * projection computed elsewhere, e.g. by BLAS), through the float64
 * buffer acc of m doubles. */
#define COS_ROWS_BODY(T)                                                        \
    int i, j;                                                                   \
    for (i = 0; i < rows; i++) {                                                \
        T *row = v + (ptrdiff_t)i * m;                                          \
        for (j = 0; j < m; j++)                                                 \
            acc[j] = (double)row[j] + b[j];                                     \
        cos_row(acc, m);                                                        \
        for (j = 0; j < m; j++)                                                 \
            row[j] = (T)(scale * acc[j]);                                       \
    }

CLONES void fastml_cos_rows_f64(double *v, int rows, int m, const double *b, double scale,
                                double *acc)
{
    COS_ROWS_BODY(double)
}

/* float32: the cosine of a float argument in float arithmetic, as NumPy's
 * float32 cosine and scikit-learn's float32 path compute it: reduction by
 * multiples of pi/2 with a three-part constant whose first two parts have
 * few bits (exact products for |k| < 2^15), and the classic single-precision
 * minimax polynomials on |r| <= pi/4.  Absolute error below one float32
 * ulp of 1 (NumPy's float32 cosine: about 0.6 of one) for |x| <= 8192,
 * tested; beyond, float64 and libm.  Near zeros of the cosine the relative
 * error is larger than NumPy's, but smaller than the rounding of a float32
 * argument of that size. */
#define TWO_OVER_PI_F 0.636619772367581343f
#define PIO2_1F 1.5703125f
#define PIO2_2F 4.837512969970703125e-4f
#define PIO2_3F 7.54978995489188216e-8f
#define ROUND_MAGIC_F 12582912.0f            /* 1.5 * 2^23 */
#define REDUCE_LIMIT_F 8192.0f

static inline float cosf_reduced(float x)
{
    float shifted = x * TWO_OVER_PI_F + ROUND_MAGIC_F;
    float k = shifted - ROUND_MAGIC_F;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    int32_t q = bits & 3;
    float r = x - k * PIO2_1F;
    r = r - k * PIO2_2F;
    r = r - k * PIO2_3F;
    float z = r * r;
    float s = r + r * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
    float c = 1.0f - 0.5f * z + z * z * (4.166664568298827e-2f + z * (-1.388731625493765e-3f
              + z * 2.443315711809948e-5f));
    float v = (q & 1) ? s : c;
    return ((q + 1) & 2) ? -v : v;
}

CLONES void fastml_cos_rows_f32(float *v, int rows, int m, const float *b, float scale,
                                float *acc)
{
    int i, j;
    for (i = 0; i < rows; i++) {
        float *row = v + (ptrdiff_t)i * m;
        int big = 0;
        for (j = 0; j < m; j++) {
            acc[j] = row[j] + b[j];
            big |= !(fabsf(acc[j]) <= REDUCE_LIMIT_F);
        }
        if (!big) {
            for (j = 0; j < m; j++)
                row[j] = scale * cosf_reduced(acc[j]);
        } else {
            for (j = 0; j < m; j++)
                row[j] = fabsf(acc[j]) <= REDUCE_LIMIT_F ? scale * cosf_reduced(acc[j])
                         : (float)((double)scale * cos((double)acc[j]));
        }
    }
}

CLONES void fastml_cosf_inplace(float *v, int n)
{
    int j;
    for (j = 0; j < n; j++)
        v[j] = fabsf(v[j]) <= REDUCE_LIMIT_F ? cosf_reduced(v[j]) : (float)cos((double)v[j]);
}
