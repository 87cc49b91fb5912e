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

int fastml_maha_cholesky(int d, const double *A_hi, const double *A_lo,
                         double *Rt_hi, double *Rt_lo)
{
    for (int i = 0; i < d * d; i++)
        Rt_hi[i] = Rt_lo[i] = 0.0;
    /* Row k of R (column k of Rt): R[k,j] = (A[k,j] - sum_i<k R[i,k] R[i,j]) / R[k,k]. */
    for (int k = 0; k < d; k++) {
        for (int j = k; j < d; j++) {
            dd s = {A_hi[k * d + j], A_lo[k * d + j]};
            for (int i = 0; i < k; i++) {
                dd rik = {Rt_hi[k * d + i], Rt_lo[k * d + i]};
                dd rij = {Rt_hi[j * d + i], Rt_lo[j * d + i]};
                s = dd_add(s, dd_neg(dd_mul(rik, rij)));
            }
            if (j == k) {
                if (!(s.hi > 0.0))
                    return k + 1;
                s = dd_sqrt(s);
            } else {
                s = dd_div(s, (dd){Rt_hi[k * d + k], Rt_lo[k * d + k]});
            }
            Rt_hi[j * d + k] = s.hi;
            Rt_lo[j * d + k] = s.lo;
        }
    }
    return 0;
}

/* z_k = sum_{j >= k} R[k,j] x_j - off_k: for each j, the row Rt[j, :j+1]
 * times x_j, accumulated across k (the loop the compiler vectorises). */
#define TRANSFORM_BODY                                                    \
    for (int k = 0; k < d; k++)                                           \
        z_hi[k] = z_lo[k] = 0.0;                                          \
    for (int j = 0; j < d; j++) {                                         \
        const double xj = x[j];                                           \
        const double *rh = Rt_hi + (size_t)j * d, *rl = Rt_lo + (size_t)j * d; \
        if (xj == 0.0)                                                    \
            continue;                                                     \
        for (int k = 0; k <= j; k++)                                      \
            ACCUMULATE(z_hi[k], z_lo[k], xj, rh[k], rl[k]);               \
    }                                                                     \
    for (int k = 0; k < d; k++) {                                         \
        dd z = two_sum(z_hi[k], z_lo[k]);                                 \
        z = dd_add(z, (dd){-off_hi[k], -off_lo[k]});                      \
        z_hi[k] = z.hi;                                                   \
        z_lo[k] = z.lo;                                                   \
    }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTML_MAHA_DISPATCH 1
__attribute__((target("avx2,fma")))
static void transform_row_fma(int d, const double *restrict x,
                              const double *restrict Rt_hi,
                              const double *restrict Rt_lo,
                              const double *restrict off_hi,
                              const double *restrict off_lo,
                              double *restrict z_hi, double *restrict z_lo)
{
    TRANSFORM_BODY
}
#endif

static void transform_row_base(int d, const double *restrict x,
                               const double *restrict Rt_hi,
                               const double *restrict Rt_lo,
                               const double *restrict off_hi,
                               const double *restrict off_lo,
                               double *restrict z_hi, double *restrict z_lo)
{
    TRANSFORM_BODY
}

void fastml_maha_transform_row(int d, const double *x, const double *Rt_hi,
                               const double *Rt_lo, const double *off_hi,
                               const double *off_lo, double *z_hi,
                               double *z_lo)
{
#ifdef FASTML_MAHA_DISPATCH
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        transform_row_fma(d, x, Rt_hi, Rt_lo, off_hi, off_lo, z_hi, z_lo);
        return;
    }
#endif
    transform_row_base(d, x, Rt_hi, Rt_lo, off_hi, off_lo, z_hi, z_lo);
}

double fastml_maha_refine(double s, int d, const double *x, const double *y,
                          const double *zx_hi, const double *zx_lo,
                          double r_x, double t_x,
                          const double *zy_hi, const double *zy_lo,
                          double r_y, double t_y,
                          const double *Rt_hi, const double *Rt_lo,
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
            const double rh = Rt_hi[(size_t)j * d + k], rl = Rt_lo[(size_t)j * d + k];
            ACCUMULATE(sk, ck, dh[j], rh, rl);
            ACCUMULATE(sk, ck, dl[j], rh, rl);
        }
        double w = sk + ck;
        acc += w * w;
    }
    return sqrt(acc);
}
