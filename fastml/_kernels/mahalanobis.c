/* Double-double arithmetic for the float64 mahalanobis distance.
 *
 * Why double-double, and where each part's error goes: see the comment
 * above _MahalanobisFactor in fastml/kernels/_plan.py.  In short, with
 * VI = R^T R the distance is |R (u - v)|; R and the rows R u must be known
 * to ~1e-30 relative (not 1e-16) for R u - R v to keep 11 digits when VI is
 * ill-conditioned, because |R| |u| can exceed |R (u - v)| by cond(VI)^(1/2)
 * times |u| / |u - v|.
 *
 * Only error-free transformations are used (Knuth's TwoSum, TwoProduct by
 * fma).  Fused multiply-add contraction by the compiler is harmless here:
 * no product is ever subtracted from its own rounded value except through
 * an explicit fma.
 */
#include <math.h>
#include <stddef.h>
#include "mahalanobis.h"

typedef struct { double hi, lo; } dd;

static inline dd two_sum(double a, double b)
{
    double s = a + b, z = s - a;
    dd r = {s, (a - (s - z)) + (b - z)};
    return r;
}

static inline dd fast_two_sum(double a, double b)   /* |a| >= |b| or a == 0 */
{
    double s = a + b;
    dd r = {s, b - (s - a)};
    return r;
}

static inline dd dd_add(dd a, dd b)
{
    dd s = two_sum(a.hi, b.hi), t = two_sum(a.lo, b.lo);
    s.lo += t.hi;
    s = fast_two_sum(s.hi, s.lo);
    s.lo += t.lo;
    return fast_two_sum(s.hi, s.lo);
}

static inline dd dd_neg(dd a) { dd r = {-a.hi, -a.lo}; return r; }

static inline dd dd_mul(dd a, dd b)
{
    double p = a.hi * b.hi;
    double e = fma(a.hi, b.hi, -p);
    e += a.hi * b.lo + a.lo * b.hi;
    return fast_two_sum(p, e);
}

static inline dd dd_div(dd a, dd b)
{
    double q1 = a.hi / b.hi;
    dd r = dd_add(a, dd_neg(dd_mul(b, (dd){q1, 0.0})));
    double q2 = r.hi / b.hi;
    r = dd_add(r, dd_neg(dd_mul(b, (dd){q2, 0.0})));
    double q3 = r.hi / b.hi;
    return dd_add(fast_two_sum(q1, q2), (dd){q3, 0.0});
}

static inline dd dd_sqrt(dd a)   /* a > 0: one Newton step from sqrt(a.hi) */
{
    double x = sqrt(a.hi);
    double p = x * x, e = fma(x, x, -p);
    double r = ((a.hi - p) - e) + a.lo;
    return fast_two_sum(x, r / (2.0 * x));
}

/* s + c += a * (b_hi + b_lo), compensated: s collects the rounded sums,
 * c every rounding error (Ogata, Rump and Oishi's Dot2 kept unrounded). */
#define ACCUMULATE(s, c, a, b_hi, b_lo) do {                      \
        double p_ = (a) * (b_hi);                                 \
        double e_ = fma((a), (b_hi), -p_) + (a) * (b_lo);         \
        double t_ = (s) + p_, z_ = t_ - (s);                      \
        (c) += ((s) - (t_ - z_)) + (p_ - z_) + e_;                \
        (s) = t_;                                                 \
    } while (0)

/* Row k of R: R[k, j] = (A[k, j] - sum_{i<k} R[i, k] R[i, j]) / R[k, k], the
 * sum accumulated in place in R[k, k:], vectorised across j. */
#define CHOLESKY_BODY                                                         \
    for (int k = 0; k < d; k++) {                                             \
        double *restrict sh = R_hi + (size_t)k * d, *restrict sl = R_lo + (size_t)k * d; \
        for (int j = 0; j < k; j++)                                           \
            sh[j] = sl[j] = 0.0;                                              \
        for (int j = k; j < d; j++) {                                         \
            sh[j] = A_hi[(size_t)k * d + j];                                  \
            sl[j] = A_lo[(size_t)k * d + j];                                  \
        }                                                                     \
        for (int i = 0; i < k; i++) {                                         \
            const double *ih = R_hi + (size_t)i * d, *il = R_lo + (size_t)i * d; \
            const dd a = {-ih[k], -il[k]};                                    \
            for (int j = k; j < d; j++) {                                     \
                dd t = dd_add((dd){sh[j], sl[j]}, dd_mul(a, (dd){ih[j], il[j]})); \
                sh[j] = t.hi;                                                 \
                sl[j] = t.lo;                                                 \
            }                                                                 \
        }                                                                     \
        if (!(sh[k] > 0.0))                                                   \
            return k + 1;                                                     \
        dd rkk = dd_sqrt((dd){sh[k], sl[k]});                                 \
        sh[k] = rkk.hi;                                                       \
        sl[k] = rkk.lo;                                                       \
        for (int j = k + 1; j < d; j++) {                                     \
            dd t = dd_div((dd){sh[j], sl[j]}, rkk);                           \
            sh[j] = t.hi;                                                     \
            sl[j] = t.lo;                                                     \
        }                                                                     \
    }                                                                         \
    return 0;

#define CHOLESKY_ARGS                                                         \
    int d, const double *restrict A_hi, const double *restrict A_lo,          \
    double *restrict R_hi, double *restrict R_lo

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTML_MAHA_DISPATCH 1
#define FASTML_FMA_TARGET __attribute__((target("avx2,fma")))
FASTML_FMA_TARGET static int cholesky_fma(CHOLESKY_ARGS) { CHOLESKY_BODY }
#endif
static int cholesky_base(CHOLESKY_ARGS) { CHOLESKY_BODY }

static int has_fma(void)
{
#ifdef FASTML_MAHA_DISPATCH
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int fastml_maha_cholesky(int d, const double *A_hi, const double *A_lo,
                         double *R_hi, double *R_lo)
{
#ifdef FASTML_MAHA_DISPATCH
    if (has_fma())
        return cholesky_fma(d, A_hi, A_lo, R_hi, R_lo);
#endif
    return cholesky_base(d, A_hi, A_lo, R_hi, R_lo);
}

#define RB FASTML_MAHA_RB

/* Rows r < nr of X times R, RB rows at a time in the vector lanes:
 * z[r, k] = sum_{j >= k} R[k, j] x[r, j] - off_k.  xt (work) holds the
 * block transposed, d x RB. */
#define TRANSFORM_BODY                                                        \
    for (int j = 0; j < d; j++)                                               \
        for (int r = 0; r < RB; r++)                                          \
            xt[j * RB + r] = r < nr ? X[r * ldx + j] : 0.0;                   \
    for (int k = 0; k < d; k++) {                                             \
        double s[RB], c[RB];                                                  \
        for (int r = 0; r < RB; r++)                                          \
            s[r] = c[r] = 0.0;                                                \
        const double *rh = R_hi + (size_t)k * d, *rl = R_lo + (size_t)k * d;  \
        for (int j = k; j < d; j++) {                                         \
            const double bh = rh[j], bl = rl[j];                              \
            for (int r = 0; r < RB; r++)                                      \
                ACCUMULATE(s[r], c[r], xt[j * RB + r], bh, bl);               \
        }                                                                     \
        for (int r = 0; r < nr; r++) {                                        \
            dd z = dd_add(two_sum(s[r], c[r]), (dd){-off_hi[k], -off_lo[k]}); \
            Z_hi[r * ldz + k] = z.hi;                                         \
            Z_lo[r * ldz + k] = z.lo;                                         \
        }                                                                     \
    }

#define TRANSFORM_ARGS                                                        \
    int nr, int d, const double *restrict X, ptrdiff_t ldx,                   \
    const double *restrict R_hi, const double *restrict R_lo,                 \
    const double *restrict off_hi, const double *restrict off_lo,             \
    double *restrict Z_hi, double *restrict Z_lo, ptrdiff_t ldz,              \
    double *restrict xt

#ifdef FASTML_MAHA_DISPATCH
FASTML_FMA_TARGET static void transform_rows_fma(TRANSFORM_ARGS)
{
    TRANSFORM_BODY
}
#endif

static void transform_rows_base(TRANSFORM_ARGS)
{
    TRANSFORM_BODY
}

void fastml_maha_transform_rows(int nr, int d, const double *X, ptrdiff_t ldx,
                                const double *R_hi, const double *R_lo,
                                const double *off_hi, const double *off_lo,
                                double *Z_hi, double *Z_lo, ptrdiff_t ldz,
                                double *work)
{
#ifdef FASTML_MAHA_DISPATCH
    if (has_fma()) {
        transform_rows_fma(nr, d, X, ldx, R_hi, R_lo, off_hi, off_lo, Z_hi, Z_lo, ldz, work);
        return;
    }
#endif
    transform_rows_base(nr, d, X, ldx, R_hi, R_lo, off_hi, off_lo, Z_hi, Z_lo, ldz, work);
}

double fastml_maha_refine(double s, int d, const double *x, const double *y,
                          const double *zx_hi, const double *zx_lo,
                          double r_x, double t_x,
                          const double *zy_hi, const double *zy_lo,
                          double r_y, double t_y,
                          const double *R_hi, const double *R_lo,
                          double tol, double *work)
{
    if (!isfinite(s) || !isfinite(r_x + r_y))
        return s;
    if (r_x + r_y <= tol * s)                                   /* 1. */
        return s;
    double acc = 0.0;
    for (int k = 0; k < d; k++) {
        double w = (zx_hi[k] - zy_hi[k]) + (zx_lo[k] - zy_lo[k]);
        acc += w * w;
    }
    double s2 = sqrt(acc);
    /* the difference of hi parts rounds by at most eps |lo_x - lo_y| */
    if (t_x + t_y + 0x1p-52 * (r_x + r_y) <= tol * s2)         /* 2. */
        return s2;
    /* 3. x - y exactly (d_hi + d_lo), then R (x - y) in double-double. */
    double *dh = work, *dl = work + d;
    int zero = 1;
    for (int j = 0; j < d; j++) {
        dd t = two_sum(x[j], -y[j]);
        dh[j] = t.hi;
        dl[j] = t.lo;
        zero &= t.hi == 0.0;
    }
    if (zero)
        return 0.0;
    acc = 0.0;
    for (int k = 0; k < d; k++) {
        double sk = 0.0, ck = 0.0;
        for (int j = k; j < d; j++) {
            const double rh = R_hi[(size_t)k * d + j], rl = R_lo[(size_t)k * d + j];
            ACCUMULATE(sk, ck, dh[j], rh, rl);
            ACCUMULATE(sk, ck, dl[j], rh, rl);
        }
        double w = sk + ck;
        acc += w * w;
    }
    return sqrt(acc);
}
