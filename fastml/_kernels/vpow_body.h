/*
 * Template of the vectorised power of vpow.h for one instruction set.
 * direct_isa.h includes it once per level with
 *
 *   VW        vector width in bytes
 *   PFN(x)    name mangling, e.g. PFN(vpow_abs) -> fastml_vpow_abs_avx2
 *   VFMA(a, b, c)        optional: fused a * b + c on float64 vectors
 *   VLOOKUP16(tab, idx)  optional: lane c of the result is tab[idx[c]], for
 *                        a 16-entry table and an int64 index vector
 *   VSQRT(a)             optional: the level's vector square root
 *
 * defined.  Everything is on float64 vectors of the native width (PDL =
 * VW / 8 lanes), with GCC vector extensions.  The exact products the
 * double-double steps need come from VFMA, or from Dekker's product where
 * the level has no FMA (SSE2); other FMAs come from contraction and only
 * make the results more accurate.
 */
#define PDL (VW / 8)
typedef double PFN(pdv) __attribute__((vector_size(VW), aligned(8)));
typedef long long PFN(piv) __attribute__((vector_size(VW)));
typedef float PFN(pfv) __attribute__((vector_size(VW / 2), aligned(4)));
#define PDVEC PFN(pdv)
#define PIVEC PFN(piv)
#define PFVEC PFN(pfv)
#define PSEL(mask, a, b) ((PDVEC)(((mask) & (PIVEC)(a)) | (~(mask) & (PIVEC)(b))))

#ifndef FASTML_VPOW_TABLES
#define FASTML_VPOW_TABLES
/*
 * log |x| = k ln 2 + log z, z = |x| / 2^k in [0.698, 1.396), split into 16
 * intervals by the top 4 bits of the significand of z's offset bits: on
 * interval j, log z = -log(invc[j]) + log1p(z invc[j] - 1), |z invc[j] - 1|
 * <= 0.0297.  invc[j] is 1 / (the interval's midpoint) rounded to float64,
 * exactly 1 on interval 9 (which holds 1 at two thirds of its bit range, so
 * log z near z = 1 is log1p(z - 1) with no cancellation), and logc_hi +
 * logc_lo = -log(invc[j]) to about 2^-110 relative.  Computed with Python's
 * decimal module at 60 digits: invc = float(1 / ((a + b) / 2)) for the
 * interval [a, b), logc = -Decimal(invc).ln(), hi = float(logc),
 * lo = float(logc - Decimal(hi)).
 */
#define FASTML_POW_OFF 0x3fe6555555555556LL   /* 1 - (9 + 2/3) 2^48 in bits */
static const double fastml_pow_invc[16] = {
        0x1.66c612afa64e7p+0, 0x1.57b864407292cp+0, 0x1.49e112e63a6a8p+0, 0x1.3d1c13d1c13d1p+0,
    0x1.314abba098a55p+0, 0x1.2652c7480c437p+0, 0x1.1c1d986a8b192p+0, 0x1.12979907269d5p+0,
    0x1.09afbd94109afp+0, 0x1.0000000000000p+0, 0x1.e6a74981446f7p-1, 0x1.cb5d4ef40991ep-1,
    0x1.b2f9341b2f933p-1, 0x1.9d0ac19d0ac19p-1, 0x1.89374bc6a7ef9p-1, 0x1.7734c36b7b1d4p-1
};
static const double fastml_pow_logc_hi[16] = {
        -0x1.599d63116b992p-2, -0x1.2db8ec8e8a679p-2, -0x1.03a25dcb05091p-2, -0x1.b66a7745e6782p-3,
    -0x1.68a266e2f7501p-3, -0x1.1db2fe6229aecp-3, -0x1.aad19489c6bd5p-4, -0x1.1f2b355e8f77dp-4,
    -0x1.303f467128535p-5, 0x0.0p+0, 0x1.9fed48a0a9c63p-5, 0x1.bc5632de898dcp-4,
    0x1.4de7b857bcc77p-3, 0x1.b7dc1d0462b57p-3, 0x1.0e4cfbea84ee9p-2, 0x1.3e4f3c1b236a7p-2
};
static const double fastml_pow_logc_lo[16] = {
        0x1.32dd7b92d6275p-56, 0x1.2bef885711824p-58, 0x1.576ba25baa0bfp-56, -0x1.d53447ad82dbdp-57,
    0x1.033a748f157cap-57, -0x1.a60cbbae69befp-57, -0x1.1c67b7bd6c990p-58, -0x1.b89600db7ebc0p-61,
    0x1.027ddf0d7970bp-60, 0x0.0p+0, -0x1.af895506aec9dp-63, 0x1.f4df4500842e5p-58,
    0x1.6d84521407f7bp-57, -0x1.2ac75d3822300p-57, -0x1.ae98f4eac0b04p-57, -0x1.d319534c2288ap-58
};
/* ln 2 = LN2HI + LN2LO, LN2HI with 40 significant bits: k LN2HI is exact
 * for |k| < 2^13. */
#define FASTML_LN2HI 0x1.62e42fefa4000p-1
#define FASTML_LN2LO -0x1.8432a1b0e2634p-43
#define FASTML_INVLN2 0x1.71547652b82fep+0
#endif

#ifdef VLOOKUP16
#define PLOOKUP VLOOKUP16
#else
#define PLOOKUP(tab, idx) PFN(lookup16)((tab), (idx))
static inline PDVEC PFN(lookup16)(const double *tab, PIVEC idx)
{
    PDVEC v;
    for (int c = 0; c < PDL; ++c) v[c] = tab[idx[c]];
    return v;
}
#endif

/* Correctly rounded square root of each lane. */
static inline PDVEC PFN(vsqrt)(PDVEC x)
{
#ifdef VSQRT
    return VSQRT(x);
#else
    for (int c = 0; c < PDL; ++c) x[c] = sqrt(x[c]);
    return x;
#endif
}

/* a * b - p exactly, for p = a * b rounded (and no overflow). */
static inline PDVEC PFN(prod_err)(PDVEC a, PDVEC b, PDVEC p)
{
#ifdef VFMA
    return VFMA(a, b, -p);
#else
    const PDVEC ca = a * 134217729.0, cb = b * 134217729.0;
    const PDVEC ah = ca - (ca - a), bh = cb - (cb - b);
    const PDVEC al = a - ah, bl = b - bh;
    return (((ah * bh - p) + ah * bl) + al * bh) + al * bl;
#endif
}

/*
 * log x = hi + lo for finite x > 0 (subnormals included), with a relative
 * error of about 2^-68.  x = 2^k z, z invc = 1 + r exactly as rh + rl (the
 * FMA residual), and log1p(r) = rh - rh^2 / 2 + rh^3 P(rh) + rl / (1 + rh),
 * P the series to rh^12 (the first omitted term is below 2^-64 of the
 * result).  k ln2 + logc + rh - rh^2 / 2 is summed in double-double (fast
 * two-sums: each partial sum is at least as large as the next term), the
 * remaining terms, all below 2^-16, in l, and hi + lo = s3 + l
 * renormalised.
 */
static inline PDVEC PFN(vlog_dd)(PDVEC x, PDVEC *lo)
{
    const PIVEC ix0 = (PIVEC)x;
    const PIVEC sub = ix0 < 0x0010000000000000LL;     /* subnormal: x 2^52 */
    const PIVEC ix = (sub & (PIVEC)(x * 0x1p52)) | (~sub & ix0);
    const PIVEC tmp = ix - FASTML_POW_OFF;
    const PIVEC k = (tmp >> 52) - (sub & 52);
    const PIVEC idx = (tmp >> 48) & 15;
    const PDVEC z = (PDVEC)(ix - (tmp & -0x10000000000000LL));   /* ix - k 2^52 */
    const PDVEC kd = (PDVEC)(k + 0x4338000000000000LL) - 0x1.8p52;
    const PDVEC invc = PLOOKUP(fastml_pow_invc, idx);
    const PDVEC lch = PLOOKUP(fastml_pow_logc_hi, idx);
    const PDVEC lcl = PLOOKUP(fastml_pow_logc_lo, idx);
    const PDVEC pz = z * invc;
    const PDVEC rl = PFN(prod_err)(z, invc, pz);
    const PDVEC rh = pz - 1.0;                 /* exact: pz is within 3% of 1 */
    const PDVEC r2h = rh * rh;
    const PDVEC r2l = PFN(prod_err)(rh, rh, r2h);
    PDVEC q = rh * (-1.0 / 12) + 1.0 / 11;
    q = q * rh - 1.0 / 10;
    q = q * rh + 1.0 / 9;
    q = q * rh - 1.0 / 8;
    q = q * rh + 1.0 / 7;
    q = q * rh - 1.0 / 6;
    q = q * rh + 1.0 / 5;
    q = q * rh - 1.0 / 4;
    q = q * rh + 1.0 / 3;
    const PDVEC t1 = kd * FASTML_LN2HI;        /* exact */
    const PDVEC s1 = t1 + lch, e1 = (t1 - s1) + lch;
    const PDVEC s2 = s1 + rh, e2 = (s1 - s2) + rh;
    const PDVEC h = -0.5 * r2h;
    const PDVEC s3 = s2 + h, e3 = (s2 - s3) + h;
    PDVEC l = kd * FASTML_LN2LO + lcl;
    l += (e1 + e2) + e3;
    l += rl * ((1.0 - rh) + r2h);
    l += -0.5 * r2l;
    l += (r2h * rh) * q;
    const PDVEC s4 = s3 + l;                   /* normalise: |lo| <= ulp(hi) / 2 */
    *lo = (s3 - s4) + l;
    return s4;
}

/*
 * exp(yh + yl) for |yl| <= 2^-40 |yh|: 2^k exp(r), k = round(yh / ln 2),
 * r = rh + rl = yh - k ln2 + yl with |rh| <= 0.35, exp(rh) - 1 = rh + rh^2
 * Q(rh) to rh^13 (the next term is below 2^-57), rl folded in as rl
 * exp(rh).  2^k is applied as two exact powers of two so that the one
 * rounding of a subnormal result is the last multiplication; |yh| is
 * clamped to 1400, far beyond overflow (709.8) and underflow (-745.2).
 */
static inline PDVEC PFN(vexp_dd)(PDVEC yh, PDVEC yl)
{
    yh = PSEL(yh > 1400.0, (PDVEC){0} + 1400.0, yh);
    yh = PSEL(yh < -1400.0, (PDVEC){0} - 1400.0, yh);
    const PDVEC t = yh * FASTML_INVLN2 + 0x1.8p52;
    const PDVEC kf = t - 0x1.8p52;
    const PIVEC ki = (PIVEC)t - 0x4338000000000000LL;
    const PDVEC rh0 = yh - kf * FASTML_LN2HI;  /* exact */
    const PDVEC c = kf * FASTML_LN2LO;
    const PDVEC rh = rh0 - c;
    const PDVEC rl = ((rh0 - rh) - c) + yl;
    PDVEC q = rh * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
    q = q * rh + 1.0 / 39916800.0;
    q = q * rh + 1.0 / 3628800.0;
    q = q * rh + 1.0 / 362880.0;
    q = q * rh + 1.0 / 40320.0;
    q = q * rh + 1.0 / 5040.0;
    q = q * rh + 1.0 / 720.0;
    q = q * rh + 1.0 / 120.0;
    q = q * rh + 1.0 / 24.0;
    q = q * rh + 1.0 / 6.0;
    q = q * rh + 0.5;
    const PDVEC s = (rh * rh) * q;
    const PDVEC em1 = rh + s;
    const PDVEC l = s + (rl + rl * em1);
    const PDVEC m = 1.0 + (rh + l);
    const PIVEC k1 = ki >> 1, k2 = ki - k1;
    const PDVEC p1 = (PDVEC)((k1 + 1023) << 52), p2 = (PDVEC)((k2 + 1023) << 52);
    return (m * p1) * p2;
}

/*
 * |x|^p for ax = |x| (any value, NaN included) and finite p != 0 with
 * |p| <= 2^600: exp(p log ax), p log ax carried as yh + yl.  0^p and
 * inf^p as pow gives them, NaN stays NaN.
 */
static inline PDVEC PFN(vpow_abs)(PDVEC ax, double p)
{
    PDVEC lo;
    const PDVEC hi = PFN(vlog_dd)(ax, &lo);
    const PDVEC pv = (PDVEC){0} + p;
    const PDVEC yh = pv * hi;
    const PDVEC yl = PFN(prod_err)(pv, hi, yh) + pv * lo;
    PDVEC res = PFN(vexp_dd)(yh, yl);
    const PIVEC ia = (PIVEC)ax;
    const PIVEC pos = (PIVEC){0} - (p > 0);   /* all ones if p > 0 */
    const PDVEC inf = (PDVEC){0} + INFINITY;
    res = PSEL(ia == 0, (PDVEC)(~pos & (PIVEC)inf), res);
    res = PSEL(ia >= 0x7ff0000000000000LL,
               PSEL(ia == 0x7ff0000000000000LL, (PDVEC)(pos & (PIVEC)inf), ax), res);
    return res;
}

/* x^p with pow's signs, for the p vpow_abs takes: odd integer p keeps the
 * sign of x, a finite negative x with a non-integer p gives NaN. */
static inline PDVEC PFN(vpow_signed)(PDVEC x, double p, int odd, int integer)
{
    const PIVEC ix = (PIVEC)x;
    const PIVEC sign = ix & (-0x7fffffffffffffffLL - 1);
    PDVEC res = PFN(vpow_abs)((PDVEC)(ix ^ sign), p);
    if (odd)
        res = (PDVEC)((PIVEC)res | sign);
    if (!integer)
        res = PSEL((x < 0.0) & (x > -INFINITY), (PDVEC){0} + NAN, res);
    return res;
}

/* The array functions of vpow.h for this level, for p that vpow_abs
 * takes (the caller handles p = 0, 1, 2, NaN, infinite or huge p). */
/* x^p for p = 0.5, 1.5, 2.5 as |x|^k sqrt(|x|) (within 2 ulp of pow),
 * NaN for finite negative x as pow gives it. */
static inline PDVEC PFN(vpow_half)(PDVEC x, double p)
{
    const PDVEC ax = (PDVEC)((PIVEC)x & 0x7fffffffffffffffLL);
    PDVEC res = PFN(vsqrt)(ax);
    if (p > 1) res *= ax;
    if (p > 2) res *= ax;
    return PSEL((x < 0.0) & (x > -INFINITY), (PDVEC){0} + NAN, res);
}

static inline PDVEC PFN(vpow_any)(PDVEC x, double p, int odd, int integer)
{
    if (p == 0.5 || p == 1.5 || p == 2.5)
        return PFN(vpow_half)(x, p);
    return PFN(vpow_signed)(x, p, odd, integer);
}

static void PFN(pow_array_f64)(const double *x, double p, double *out, ptrdiff_t n)
{
    const int integer = p == floor(p), odd = integer && fmod(p, 2.0) != 0;
    ptrdiff_t i = 0;
    for (; i + PDL <= n; i += PDL) {
        PDVEC v;
        memcpy(&v, x + i, sizeof v);
        v = PFN(vpow_any)(v, p, odd, integer);
        memcpy(out + i, &v, sizeof v);
    }
    if (i < n) {
        PDVEC v = {0};
        for (ptrdiff_t c = 0; c < n - i; ++c) v[c] = x[i + c];
        v = PFN(vpow_any)(v, p, odd, integer);
        for (ptrdiff_t c = 0; c < n - i; ++c) out[i + c] = v[c];
    }
}

static void PFN(pow_array_f32)(const float *x, double p, float *out, ptrdiff_t n)
{
    const int integer = p == floor(p), odd = integer && fmod(p, 2.0) != 0;
    ptrdiff_t i = 0;
    for (; i + PDL <= n; i += PDL) {
        PFVEC f;
        memcpy(&f, x + i, sizeof f);
        f = __builtin_convertvector(
            PFN(vpow_any)(__builtin_convertvector(f, PDVEC), p, odd, integer), PFVEC);
        memcpy(out + i, &f, sizeof f);
    }
    if (i < n) {
        PDVEC v = {0};
        for (ptrdiff_t c = 0; c < n - i; ++c) v[c] = x[i + c];
        v = PFN(vpow_any)(v, p, odd, integer);
        for (ptrdiff_t c = 0; c < n - i; ++c) out[i + c] = (float)v[c];
    }
}

#undef PDL
#undef PDVEC
#undef PIVEC
#undef PFVEC
#undef PSEL
#undef PLOOKUP
