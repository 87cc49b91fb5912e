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

CLONES void fastml_cos_rows_f32(float *v, int rows, int m, const double *b, double scale,
                                double *acc)
{
    COS_ROWS_BODY(float)
}
