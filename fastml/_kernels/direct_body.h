/*
 * Tile kernels for the metrics that are computed element by element
 * ("direct" metrics: everything that is not a matrix product).
 *
 * This file is a template: direct.c includes it once per (instruction set,
 * dtype) with these macros defined:
 *
 *   T        element type (float or double)
 *   NR       columns per packed panel (64 bytes of T)
 *   VW       native vector width of the target in bytes (16, 32 or 64)
 *   FN(x)    name mangling, e.g. FN(l1) -> fastml_l1_f32_avx2
 *   TILE_FN_T  the pointer type of a tile kernel for T
 *   ITYPE    signed integer type of the size of T
 *   ABSMASK  an ITYPE with every bit but the sign bit set
 *
 * Data layout
 * -----------
 * A      rows of X, row-major, row stride lda (elements).
 * Bp     a block of Y rows packed into panels of NR rows, transposed:
 *        element (feature k, column c) of panel q is Bp[q*d*NR + k*NR + c].
 *        Missing columns of the last panel are zero (computed, never stored).
 * out    row-major, row stride ldo; the kernel writes out[r, c] for the
 *        rows r < m and the columns c < n it is asked for.
 *
 * Register blocking: MR rows of A against one panel at a time, so the
 * MR accumulator vectors (NR lanes each) live in registers and every loaded
 * panel vector is reused MR times.  Lanes are rows of Y, so no horizontal
 * reduction and no fast-math are needed, and the lane order never changes
 * a result.
 *
 * float32 accumulates in float32 over KCHUNK features, then adds the partial
 * sums into float64 totals: the error grows with KCHUNK + d / KCHUNK instead
 * of d, at the cost of one extra add per KCHUNK features (canberra too,
 * for float32 input in range: canberra_t).  The metrics built on
 * MICROKERNEL_D (minkowski with a fractional p; canberra for float64 input,
 * and for float32 input with values beyond 2^126 or extreme weights; its
 * four-row variant MICROKERNEL_CAN4 for float64 canberra in range)
 * compute and sum every term in float64 instead, in feature order, so that
 * their float32 results are SciPy's float64 results rounded once.
 */

#define MR 4
#define KCHUNK 128

/* A scalar s becomes a vector of VL copies as `s - zero`: unlike
 * `zero + s` (which is +0 for s = -0) it is an exact identity, so the
 * compiler emits a plain broadcast. */

/* Vector types of the clone's native width VW bytes (GCC/clang vector
 * extensions): a 64-byte panel row is NV = NR * sizeof(T) / VW vectors of
 * VL lanes.  Loads through VEC pointers may be unaligned. */
#define VL (VW / (int)sizeof(T))
#define NV (NR / VL)
typedef T FN(vec) __attribute__((vector_size(VW), aligned(sizeof(T))));
typedef ITYPE FN(ivec) __attribute__((vector_size(VW)));
typedef double FN(dvec) __attribute__((vector_size(VW / sizeof(T) * sizeof(double))));
typedef long long FN(divec) __attribute__((vector_size(VW / sizeof(T) * sizeof(double))));
#define VEC FN(vec)
#define IVEC FN(ivec)
#define DVEC FN(dvec)
#define DIVEC FN(divec)

/* mask ? a : b, lane-wise, for a mask from a comparison */
#define SELECT(mask, a, b) ((VEC)(((mask) & (IVEC)(a)) | (~(mask) & (IVEC)(b))))
#define SELECT_D(mask, a, b) ((DVEC)(((mask) & (DIVEC)(a)) | (~(mask) & (DIVEC)(b))))
/* a where mask, else 0 */
#define KEEP(mask, a) ((VEC)((mask) & (IVEC)(a)))
#define VABS(v) ((VEC)((IVEC)(v) & ABSMASK))

/*
 * Every metric below is given by:
 *   UPDATE(a0, a1, x, y, wk)   fold one feature into the accumulator vectors
 *                              a0, a1 (x: broadcast row of X, y: NR rows of
 *                              Y, wk: broadcast weight)
 *   FOLD(t, a)                 fold a KCHUNK partial `a` into the float64
 *                              total `t`
 *   FINISH(t0, t1)             the distance from two scalar totals
 * Accumulators start at 0.  Unused accumulators are removed by the compiler.
 */
#define FOLD_SUM(t, a) ((t) + __builtin_convertvector((a), DVEC))
#define FOLD_MAX(t, a) SELECT_D((t) > __builtin_convertvector((a), DVEC), (t), \
                                __builtin_convertvector((a), DVEC))

/* ROWS rows of A starting at RB (ROWS is MR or 1) against panel B, q. */
#define MICROKERNEL(ROWS, RB, UPDATE, FOLD, FINISH)                           \
    do {                                                                      \
        DVEC t0[ROWS][NV], t1[ROWS][NV];                                      \
        for (int r = 0; r < ROWS; ++r)                                        \
            for (int v = 0; v < NV; ++v) { t0[r][v] = dzero; t1[r][v] = dzero; } \
        for (int k0 = 0; k0 < d; k0 += KCHUNK) {                              \
            const int k1 = (d - k0 < KCHUNK) ? d : k0 + KCHUNK;               \
            VEC a0[ROWS][NV], a1[ROWS][NV];                                   \
            for (int r = 0; r < ROWS; ++r)                                    \
                for (int v = 0; v < NV; ++v) { a0[r][v] = zero; a1[r][v] = zero; } \
            for (int k = k0; k < k1; ++k) {                                   \
                const VEC wk = (w ? w[k] : (T)1) - zero;                      \
                (void)wk;                                                     \
                for (int v = 0; v < NV; ++v) {                                \
                    const VEC y = *(const VEC *)(B + (ptrdiff_t)k * NR + v * VL); \
                    for (int r = 0; r < ROWS; ++r) {                          \
                        const VEC x = A[(ptrdiff_t)(RB + r) * lda + k] - zero;\
                        UPDATE(a0[r][v], a1[r][v], x, y, wk);                 \
                    }                                                         \
                }                                                             \
            }                                                                 \
            for (int r = 0; r < ROWS; ++r)                                    \
                for (int v = 0; v < NV; ++v) {                                \
                    t0[r][v] = FOLD(t0[r][v], a0[r][v]);                      \
                    t1[r][v] = FOLD(t1[r][v], a1[r][v]);                      \
                }                                                             \
        }                                                                     \
        for (int r = 0; r < ROWS; ++r) {                                      \
            T *o = out + (ptrdiff_t)(RB + r) * ldo + (ptrdiff_t)q * NR;       \
            T res[NR];  /* every lane, so FINISH vectorises */                \
            for (int c = 0; c < NR; ++c)                                      \
                res[c] = (T)(FINISH(t0[r][c / VL][c % VL], t1[r][c / VL][c % VL])); \
            if (ncols == NR)                                                  \
                memcpy(o, res, sizeof res);  /* one 64-byte store */          \
            else                                                              \
                for (int c = 0; c < ncols; ++c) o[c] = res[c];                \
        }                                                                     \
    } while (0)

/* Rows RB .. RB + ROWS - 1 of a float64 tile: their totals t0 finished and
 * stored (every lane computed, so FINISH vectorises; one 64-byte store for
 * a full panel). */
#define STORE_D(ROWS, RB, FINISH)                                             \
    for (int r = 0; r < (ROWS); ++r) {                                        \
        T *o = out + (ptrdiff_t)((RB) + r) * ldo + (ptrdiff_t)q * NR;         \
        T res[NR];                                                            \
        for (int c = 0; c < NR; ++c)                                          \
            res[c] = (T)(FINISH(t0[r][c / NDL][c % NDL], 0.0));               \
        if (ncols == NR)                                                      \
            memcpy(o, res, sizeof res);                                       \
        else                                                                  \
            for (int c = 0; c < ncols; ++c) o[c] = res[c];                    \
    }

/* The same in float64 throughout, for metrics whose terms are computed in
 * float64 whatever T is (the conversions from T are exact): a panel row is
 * NP native float64 vectors NDVEC of NDL lanes (defined below), and
 * UPDATE(t, x, y, wk) folds one feature into the float64 total t, with x,
 * y, wk NDVECs and xa the broadcast of XA(row, k), a per-row
 * auxiliary value (the FOLD argument of DEFINE_TILE_MK: no KCHUNK partial
 * sums here, the terms are added in feature order, as SciPy adds them). */
#define NP (NR / NDL)
#define MICROKERNEL_D(ROWS, RB, UPDATE, XA, FINISH)                           \
    do {                                                                      \
        const NDVEC nzero = {0};                                              \
        NDVEC t0[ROWS][NP];                                                   \
        for (int r = 0; r < ROWS; ++r)                                        \
            for (int v = 0; v < NP; ++v) t0[r][v] = nzero;                    \
        for (int k = 0; k < d; ++k) {                                         \
            const NDVEC wk = (w ? (double)w[k] : 1.0) - nzero;                \
            NDVEC x[ROWS], xa[ROWS];                                          \
            (void)wk; (void)xa;                                               \
            for (int r = 0; r < ROWS; ++r) {                                  \
                x[r] = (double)A[(ptrdiff_t)(RB + r) * lda + k] - nzero;      \
                xa[r] = XA(RB + r, k) - nzero;                                \
            }                                                                 \
            for (int v = 0; v < NP; ++v) {                                    \
                const NDVEC y = __builtin_convertvector(                      \
                    *(const HVEC *)(B + (ptrdiff_t)k * NR + v * NDL), NDVEC); \
                for (int r = 0; r < ROWS; ++r)                                \
                    UPDATE(t0[r][v], x[r], xa[r], y, wk);                     \
            }                                                                 \
        }                                                                     \
        STORE_D(ROWS, RB, FINISH);                                            \
    } while (0)

/*
 * DEFINE_TILE(name, UPDATE, FOLD, FINISH) defines
 *   void FN(name)(A, lda, m, Bp, n, d, w, prm, out, ldo, diag)
 * computing out[r, c] for r < m, c < n.  When diag != FASTML_NO_DIAG the
 * tile straddles the diagonal of a symmetric problem: local row r maps to
 * local column r + diag, and panels entirely left of that column are
 * skipped (their values come from the mirror image).
 */
#define DEFINE_TILE(NAME, UPDATE, FOLD, FINISH)                               \
    DEFINE_TILE_MK(NAME, MICROKERNEL, UPDATE, FOLD, FINISH)
#define DEFINE_TILE_MK(NAME, MK, UPDATE, FOLD, FINISH)                        \
    static void FN(NAME)(const T *A, ptrdiff_t lda, int m, const T *Bp,       \
                         int n, int d, const T *w, const double *prm,         \
                         T *out, ptrdiff_t ldo, int diag)                     \
    {                                                                         \
        const int npanels = (n + NR - 1) / NR;                                \
        const VEC zero = {0};                                                 \
        const DVEC dzero = {0};                                               \
        (void)prm; (void)zero; (void)dzero;                                   \
        for (int r0 = 0; r0 < m; r0 += MR) {                                  \
            const int rows = (m - r0 < MR) ? m - r0 : MR;                     \
            int q0 = 0;                                                       \
            if (diag != FASTML_NO_DIAG && r0 + diag > 0)                      \
                q0 = (r0 + diag) / NR;                                        \
            for (int q = q0; q < npanels; ++q) {                              \
                const T *B = Bp + (ptrdiff_t)q * d * NR;                      \
                const int ncols = (n - q * NR < NR) ? n - q * NR : NR;        \
                if (rows == MR) {                                             \
                    MK(MR, r0, UPDATE, FOLD, FINISH);                         \
                } else {                                                      \
                    for (int rr = r0; rr < r0 + rows; ++rr)                   \
                        MK(1, rr, UPDATE, FOLD, FINISH);                      \
                }                                                             \
            }                                                                 \
        }                                                                     \
    }

/* cityblock / manhattan / l1, and minkowski with p = 1 */
#define U_L1(a0, a1, x, y, wk) a0 += VABS(x - y)
#define F_ID(t0, t1) (t0)
DEFINE_TILE(l1, U_L1, FOLD_SUM, F_ID)

/* sqeuclidean and euclidean computed from differences (exact for x == y) */
#define U_SQ(a0, a1, x, y, wk) { const VEC df_ = x - y; a0 += df_ * df_; }
#define F_SQRT(t0, t1) sqrt(t0)
DEFINE_TILE(sqeuclidean, U_SQ, FOLD_SUM, F_ID)
DEFINE_TILE(euclidean, U_SQ, FOLD_SUM, F_SQRT)

/* dot products, finished into cosine distances by the caller */
#define U_DOT(a0, a1, x, y, wk) a0 += x * y
DEFINE_TILE(dot, U_DOT, FOLD_SUM, F_ID)

/* chebyshev: max |x - y|.  VMAX (the instruction set's max, where direct.c
 * defines it) does not propagate NaN: the caller marks the rows and columns
 * that hold NaN afterwards. */
#ifndef VMAX
#define VMAX(a, b) SELECT((a) > (b), (a), (b))
#endif
#define U_MAX(a0, a1, x, y, wk) a0 = VMAX(VABS(x - y), a0)
DEFINE_TILE(chebyshev, U_MAX, FOLD_MAX, F_ID)

/* minkowski with p = 3 and p = 4 (multiplications, no pow) */
#define U_P3(a0, a1, x, y, wk) { const VEC df_ = VABS(x - y); a0 += df_ * df_ * df_; }
#define F_P3(t0, t1) cbrt(t0)
DEFINE_TILE(minkowski3, U_P3, FOLD_SUM, F_P3)
#define U_P4(a0, a1, x, y, wk) { const VEC df_ = (x - y) * (x - y); a0 += df_ * df_; }
#define F_P4(t0, t1) sqrt(sqrt(t0))
DEFINE_TILE(minkowski4, U_P4, FOLD_SUM, F_P4)


/* braycurtis: sum |x - y| / sum |x + y| (0 / 0 is nan, as in SciPy) */
#define U_BC(a0, a1, x, y, wk) { a0 += VABS(x - y); a1 += VABS(x + y); }
#define F_DIV(t0, t1) ((t0) / (t1))
DEFINE_TILE(braycurtis, U_BC, FOLD_SUM, F_DIV)

/* canberra for float32 input (float64 input: the float64 kernels further
 * down), like the other float32 metrics: each term
 * |x - y| / (|x| + |y|) (times w) in float32, float32 partial sums over
 * KCHUNK features folded into float64.  The terms are >= 0, so the sum
 * loses nothing to cancellation: a few float32 roundings per term plus the
 * partial sums' (relative error below 1e-5 of SciPy's float64 result).  A
 * term with |x| + |y| = 0 counts 0; NaN and infinities give what SciPy's
 * division gives (inf / inf is NaN).  FN(canberra) takes this path only when
 * no finite input reaches 2^126 (so |x| + |y| and |x - y| cannot overflow)
 * and every weight is 0 or in [2^-100, 2^100] (a nonzero quotient is >=
 * 2^-25, so w q neither overflows nor becomes subnormal). */
#define U_CAN32(a0, a1, x, y, wk)                                             \
    { const VEC den_ = VABS(x) + VABS(y);                                     \
      a0 += VABS(x - y) / SELECT(den_ > zero, den_, zero + 1); }
#define U_CAN32_W(a0, a1, x, y, wk)                                           \
    { const VEC den_ = VABS(x) + VABS(y);                                     \
      a0 += VABS(x - y) / SELECT(den_ > zero, den_, zero + 1) * wk; }
DEFINE_TILE(canberra_t, U_CAN32, FOLD_SUM, F_ID)
DEFINE_TILE(canberra_t_w, U_CAN32_W, FOLD_SUM, F_ID)
#ifdef VRCP14_F32
/* The same without the float32 divide (one 16-lane divide per five cycles
 * or so bounds the kernel above; this is about 1.4 times faster): 1 / den
 * from VRCP14_F32's 14-bit estimate and one Newton step (relative error
 * about 2^-24), times |x - y|.  Taken when, besides the conditions above,
 * every input is 0 or has magnitude in [2^-60, 2^60] (no NaN, infinity or
 * subnormal: 1 / den and the Newton step stay normal). */
#define CAN32_RCP(x, y)                                                       \
    ({ const VEC den_ = VABS(x) + VABS(y);                                    \
       const VEC dd_ = SELECT(den_ > zero, den_, zero + 1);                   \
       VEC r_ = VRCP14_F32(dd_);                                              \
       r_ = r_ + r_ * (1 - dd_ * r_);                                         \
       VABS(x - y) * r_; })
#define U_CAN32_RCP(a0, a1, x, y, wk) a0 += CAN32_RCP(x, y)
#define U_CAN32_RCP_W(a0, a1, x, y, wk) a0 += CAN32_RCP(x, y) * wk
DEFINE_TILE(canberra_t_rcp, U_CAN32_RCP, FOLD_SUM, F_ID)
DEFINE_TILE(canberra_t_rcp_w, U_CAN32_RCP_W, FOLD_SUM, F_ID)
#endif

/* hamming (weighted, numeric): sum w [x != y] / sum w; prm[0] = sum w */
#define U_HAM(a0, a1, x, y, wk) a0 += KEEP(x != y, wk)
#define F_HAM(t0, t1) ((t0) / prm[0])
DEFINE_TILE(hamming, U_HAM, FOLD_SUM, F_HAM)

/* float64 vectors of the native width: NDL lanes */
#define NDL (VW / 8)
typedef double FN(ndvec) __attribute__((vector_size(VW), aligned(8)));
typedef long long FN(ndivec) __attribute__((vector_size(VW)));
#define NDVEC FN(ndvec)
#define NDIVEC FN(ndivec)
typedef T FN(hvec) __attribute__((vector_size(NDL * sizeof(T)), aligned(sizeof(T))));
#define HVEC FN(hvec)

/*
 * canberra (weighted): sum w |x - y| / (|x| + |y|), each term in float64
 * (float64 input; float32 input only when canberra_t cannot take it: the
 * float32 result is then within one rounding of SciPy's, which computes in
 * float64), summed in feature order as SciPy does.  A term with |x| + |y| = 0 has x = y = 0 and counts 0;
 * SciPy's w |x - y| / (|x| + |y|) is evaluated in that order.
 */
#define DABS(v) ((NDVEC)((NDIVEC)(v) & 0x7fffffffffffffffLL))
#define DSELECT(mask, a, b) ((NDVEC)(((mask) & (NDIVEC)(a)) | (~(mask) & (NDIVEC)(b))))
#define NO_XA(row, k) 0.0
#define U_CAN_DIV(t, x, xa, y, wk)                                            \
    { const NDVEC den_ = DABS(x) + DABS(y);                                   \
      t += wk * DABS(x - y) / DSELECT(den_ > 0.0, den_, den_ + 1.0); }
DEFINE_TILE_MK(canberra_div, MICROKERNEL_D, U_CAN_DIV, NO_XA, F_ID)

#ifdef VRCP14
/*
 * The same without the divide, whose throughput (one float64 lane per two
 * cycles at any vector width) bounds the kernel above: 1 / den from the
 * instruction set's 14-bit estimate VRCP14 and one Newton step (relative
 * error about 2^-28), q0 = num / den as num * (1 / den), then one
 * correction by the residual num - den q0, which the FMA computes with a
 * single rounding: q is within one ulp of the correctly rounded quotient
 * (relative error about 2^-56 before the last rounding) and nearly always
 * equal to it.
 *
 * Every step must stay clear of overflow and subnormals: the caller takes
 * this path only when every input is 0 or in [2^-500, 2^500] and every
 * weight 0 or in [2^-200, 2^200], so a nonzero den is in [2^-500, 2^501]
 * and a nonzero quotient is >= 2^-254 (|x - y| >= 2^-53 (|x| + |y|) when
 * x != y).  The caller also passes, in place of prm, |x| + 2^-600 for
 * every row of A (row stride d), so den = (|x| + 2^-600) + |y| costs one
 * addition and is |x| + |y| exactly, except that den = 0 becomes 2^-600:
 * then num = 0 and the term is 0, as in SciPy.
 */
#define CAN_XA(row, k) prm[(ptrdiff_t)(row) * d + (k)]
#define CAN_QUOTIENT(t, num, xa, y)                                           \
    { const NDVEC den_ = xa + DABS(y);                                        \
      NDVEC r_ = VRCP14(den_);                                                \
      r_ = r_ + r_ * (1.0 - den_ * r_);                                       \
      const NDVEC q_ = (num) * r_;                                            \
      const NDVEC res_ = (num) - den_ * q_;                                   \
      t += q_ + r_ * res_; }
#define U_CAN_RCP(t, x, xa, y, wk) { const NDVEC num_ = DABS(x - y); CAN_QUOTIENT(t, num_, xa, y) }
#define U_CAN_RCP_W(t, x, xa, y, wk) { const NDVEC num_ = wk * DABS(x - y); CAN_QUOTIENT(t, num_, xa, y) }
DEFINE_TILE_MK(canberra_rcp, MICROKERNEL_D, U_CAN_RCP, CAN_XA, F_ID)
DEFINE_TILE_MK(canberra_rcp_w, MICROKERNEL_D, U_CAN_RCP_W, CAN_XA, F_ID)

/*
 * float64 canberra with one reciprocal estimate per four terms (the rows
 * r0 .. r0 + 3 of a register block against the same lanes): their
 * denominators d0 .. d3 give P = (d0 d1)(d2 d3), R = 1 / P from VRCP14 and
 * one cubic Newton step (e = 1 - P R, R (1 + e + e^2): relative error
 * about 2^-42), then 1 / (d0 d1) = (d2 d3) R, 1 / d0 = d1 / (d0 d1),
 * 1 / d1 = d0 / (d0 d1), and so on.  Four reciprocals cost 3 products, one
 * estimate, 3 FMAs and 6 products, instead of four estimates (each takes
 * three vector-unit slots) and eight FMAs: 11 instead of 12 vector
 * operations per term, and the vector unit is what bounds this kernel (the
 * divider is no help: a 512-bit divide also takes about three slots of the
 * FMA ports).  Each quotient is then corrected by its FMA residual as in
 * CAN_QUOTIENT; with reciprocals good to about 2^-42 the corrected quotient
 * is within about 2^-84 of the exact one before its rounding, so in
 * practice every term is the correctly rounded quotient SciPy divides
 * (canberra_rcp's Newton step leaves 2^-28 and misrounds a few terms in
 * 10^3: up to 2 ulp on a distance).
 *
 * The loop is software-pipelined two features deep: the reciprocals of
 * feature k + 2 are computed while the quotients of feature k are
 * finished, so the long dependency chain of a feature's reciprocals (some
 * 40 cycles) is hidden without filling the scheduler (one feature ahead
 * left the cubic step ~4% slower than the quadratic one; three ahead
 * spills registers).
 *
 * Range: FN(canberra) takes this path when every input is 0 or has
 * magnitude in [2^-160, 2^160] and every weight is 0 or in [2^-200,
 * 2^200], and passes |x| + 2^-240 for every row (CAN_XA): 2^-240 is below
 * half an ulp of any nonzero input, so den = |x| + |y| exactly unless x = y
 * = 0, where den = 2^-240 and the term is 0 / den = 0.  Then every den is
 * in [2^-240, 2^161], P in [2^-960, 2^644], and every intermediate, the
 * residual included, stays a normal number.
 */
#define CAN4_TINY 0x1p-240
#define CAN4_RECIP(d0, d1, d2, d3, r0, r1, r2, r3)                            \
    { const NDVEC p01_ = d0 * d1, p23_ = d2 * d3, P_ = p01_ * p23_;           \
      NDVEC R_ = VRCP14(P_);                                                  \
      const NDVEC e_ = 1.0 - P_ * R_;                                         \
      R_ = R_ + R_ * (e_ + e_ * e_);                                          \
      const NDVEC r01_ = p23_ * R_, r23_ = p01_ * R_;                         \
      r0 = d1 * r01_; r1 = d0 * r01_; r2 = d3 * r23_; r3 = d2 * r23_; }
/* the denominators of feature k for the four rows from RB, and their
 * reciprocals */
#define CAN4_DENS(RB, k, den, rc)                                             \
    for (int v = 0; v < NP; ++v) {                                            \
        const NDVEC ay_ = DABS(__builtin_convertvector(                       \
            *(const HVEC *)(B + (ptrdiff_t)(k) * NR + v * NDL), NDVEC));      \
        for (int r = 0; r < 4; ++r)                                           \
            den[r][v] = (CAN_XA(RB + r, (k)) - nzero) + ay_;                  \
        CAN4_RECIP(den[0][v], den[1][v], den[2][v], den[3][v],                \
                   rc[0][v], rc[1][v], rc[2][v], rc[3][v])                    \
    }
/* add the terms of feature k, given their denominators and reciprocals */
#define CAN4_TERMS(RB, k, NUM, den, rc)                                       \
    for (int v = 0; v < NP; ++v) {                                            \
        const NDVEC y_ = __builtin_convertvector(                             \
            *(const HVEC *)(B + (ptrdiff_t)(k) * NR + v * NDL), NDVEC);       \
        const NDVEC wk_ = (w ? (double)w[k] : 1.0) - nzero;                   \
        (void)wk_;                                                            \
        for (int r = 0; r < 4; ++r) {                                         \
            const NDVEC x_ = (double)A[(ptrdiff_t)(RB + r) * lda + (k)] - nzero; \
            const NDVEC num_ = NUM(x_, y_, wk_);                              \
            const NDVEC q_ = num_ * rc[r][v];                                 \
            const NDVEC res_ = num_ - den[r][v] * q_;                         \
            t0[r][v] += q_ + rc[r][v] * res_;                                 \
        }                                                                     \
    }
#define CAN4_NUM(x, y, wk) DABS(x - y)
#define CAN4_NUM_W(x, y, wk) (wk * DABS(x - y))
/* ROWS is MR = 4 or 1; one row takes MICROKERNEL_D with UPDATE. */
#define MICROKERNEL_CAN4(ROWS, RB, UPDATE, NUM, FINISH)                       \
    do {                                                                      \
        if (ROWS != 4) {                                                      \
            MICROKERNEL_D(ROWS, RB, UPDATE, CAN_XA, FINISH);                  \
            break;                                                            \
        }                                                                     \
        const NDVEC nzero = {0};                                              \
        NDVEC t0[4][NP], dA[4][NP], rA[4][NP], dB[4][NP], rB[4][NP];          \
        NDVEC dC[4][NP], rC[4][NP];                                           \
        for (int r = 0; r < 4; ++r)                                           \
            for (int v = 0; v < NP; ++v) t0[r][v] = nzero;                    \
        int k = 0;                                                            \
        if (d >= 2) {                                                         \
            CAN4_DENS(RB, 0, dA, rA)                                          \
            CAN4_DENS(RB, 1, dB, rB)                                          \
            for (; k + 4 < d; k += 3) {                                       \
                CAN4_DENS(RB, k + 2, dC, rC)                                  \
                CAN4_TERMS(RB, k, NUM, dA, rA)                                \
                CAN4_DENS(RB, k + 3, dA, rA)                                  \
                CAN4_TERMS(RB, k + 1, NUM, dB, rB)                            \
                CAN4_DENS(RB, k + 4, dB, rB)                                  \
                CAN4_TERMS(RB, k + 2, NUM, dC, rC)                            \
            }                                                                 \
            CAN4_TERMS(RB, k, NUM, dA, rA)                                    \
            CAN4_TERMS(RB, k + 1, NUM, dB, rB)                                \
            k += 2;                                                           \
        }                                                                     \
        for (; k < d; ++k) {                                                  \
            CAN4_DENS(RB, k, dC, rC)                                          \
            CAN4_TERMS(RB, k, NUM, dC, rC)                                    \
        }                                                                     \
        STORE_D(4, RB, FINISH);                                               \
    } while (0)
#if MR != 4
#error "MICROKERNEL_CAN4 blocks four rows"
#endif
/* (DEFINE_TILE_MK's FOLD argument is the microkernel's NUM) */
DEFINE_TILE_MK(canberra_rcp4, MICROKERNEL_CAN4, U_CAN_RCP, CAN4_NUM, F_ID)
DEFINE_TILE_MK(canberra_rcp4_w, MICROKERNEL_CAN4, U_CAN_RCP_W, CAN4_NUM_W, F_ID)

/* The smallest nonzero magnitude (+inf if none) and the largest magnitude
 * (NaN if any value is NaN) among rows x cols values, row stride ld: one
 * vectorised pass on the bit patterns, which order as the magnitudes. */
static void FN(abs_range)(const T *v, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t cols,
                          double *lo, double *hi)
{
    const T inf = (T)INFINITY;
    ITYPE inf_bits, mn, mx = 0;
    memcpy(&inf_bits, &inf, sizeof inf_bits);
    mn = inf_bits;
    for (ptrdiff_t r = 0; r < rows; ++r)
        for (ptrdiff_t c = 0; c < cols; ++c) {
            ITYPE b;
            memcpy(&b, v + r * ld + c, sizeof b);
            b &= ABSMASK;
            const ITYPE nz = b == 0 ? inf_bits : b;
            mn = nz < mn ? nz : mn;
            mx = b > mx ? b : mx;
        }
    T tlo, thi;
    memcpy(&tlo, &mn, sizeof tlo);
    memcpy(&thi, &mx, sizeof thi);
    *lo = tlo;
    *hi = thi;
}

/* 1 if each of rows x cols values (row stride ld) is 0 or has magnitude in
 * [lo, hi]; NaN and infinities fail. */
static int FN(in_range)(const T *v, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t cols,
                        double lo, double hi)
{
    int bad = 0;
    for (ptrdiff_t r = 0; r < rows; ++r)
        for (ptrdiff_t c = 0; c < cols; ++c) {
            const double a = fabs((double)v[r * ld + c]);
            bad |= !(a == 0 || (a >= lo && a <= hi));
        }
    return !bad;
}
#endif

/*
 * minkowski with any other p (prm[0] = p > 0): the terms |x - y|^p in
 * float64 with the vectorised power of vpow_body.h (within 1 ulp of pow),
 * summed in feature order as SciPy sums them.
 */
#define U_PP(t, x, xa, y, wk) t += PFN(vpow_abs)(DABS(x - y), prm[0])
#define F_PP(t0, t1) pow(t0, 1.0 / prm[0])
DEFINE_TILE_MK(minkowski_exp, MICROKERNEL_D, U_PP, NO_XA, F_PP)

/* p = 0.5, 1.5, 2.5: |d|^k sqrt(|d|) with the correctly rounded vector
 * square root, two or three roundings in all (within 2 ulp of pow), about
 * four times faster than exp and log. */
#define U_P05(t, x, xa, y, wk) t += PFN(vsqrt)(DABS(x - y))
#define U_P15(t, x, xa, y, wk) { const NDVEC d_ = DABS(x - y); t += d_ * PFN(vsqrt)(d_); }
#define U_P25(t, x, xa, y, wk) { const NDVEC d_ = DABS(x - y); t += (d_ * d_) * PFN(vsqrt)(d_); }
DEFINE_TILE_MK(minkowski_p05, MICROKERNEL_D, U_P05, NO_XA, F_PP)
DEFINE_TILE_MK(minkowski_p15, MICROKERNEL_D, U_P15, NO_XA, F_PP)
DEFINE_TILE_MK(minkowski_p25, MICROKERNEL_D, U_P25, NO_XA, F_PP)

static void FN(minkowski)(const T *A, ptrdiff_t lda, int m, const T *Bp, int n,
                          int d, const T *w, const double *prm, T *out,
                          ptrdiff_t ldo, int diag)
{
    const TILE_FN_T tile = prm[0] == 0.5 ? FN(minkowski_p05)
                         : prm[0] == 1.5 ? FN(minkowski_p15)
                         : prm[0] == 2.5 ? FN(minkowski_p25) : FN(minkowski_exp);
    tile(A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
}

/* 1 if no finite value among rows x cols (row stride ld) has magnitude
 * >= 2^126 (NaN and infinities pass). */
static int FN(no_huge)(const T *v, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t cols)
{
    int bad = 0;
    for (ptrdiff_t r = 0; r < rows; ++r)
        for (ptrdiff_t c = 0; c < cols; ++c) {
            const double a = fabs((double)v[r * ld + c]);
            bad |= a >= 0x1p126 && a != (double)INFINITY;
        }
    return !bad;
}

static void FN(canberra)(const T *A, ptrdiff_t lda, int m, const T *Bp, int n,
                         int d, const T *w, const double *prm, T *out,
                         ptrdiff_t ldo, int diag)
{
    const ptrdiff_t packed = (ptrdiff_t)((n + NR - 1) / NR) * d * NR;
    if (sizeof(T) == 4) {
        int w_ok = 1;
        for (int k = 0; w && k < d; ++k)
            w_ok &= w[k] == 0 || (fabs((double)w[k]) >= 0x1p-100
                                  && fabs((double)w[k]) <= 0x1p100);
        if (w_ok && FN(no_huge)(A, m, lda, d) && FN(no_huge)(Bp, 1, 0, packed)) {
#ifdef VRCP14_F32
            if (FN(in_range)(A, m, lda, d, 0x1p-60, 0x1p60)
                && FN(in_range)(Bp, 1, 0, packed, 0x1p-60, 0x1p60)) {
                if (w)
                    FN(canberra_t_rcp_w)(A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
                else
                    FN(canberra_t_rcp)(A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
                return;
            }
#endif
            if (w)
                FN(canberra_t_w)(A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
            else
                FN(canberra_t)(A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
            return;
        }
    }
#ifdef VRCP14
    /* float64 input in [2^-160, 2^160]: one estimate per four terms
     * (float32 input keeps canberra_rcp, its results unchanged) */
    int four = 0, wide;
    if (sizeof(T) == 8) {
        double alo, ahi, blo, bhi;
        FN(abs_range)(A, m, lda, d, &alo, &ahi);
        FN(abs_range)(Bp, 1, 0, packed, &blo, &bhi);
        four = alo >= 0x1p-160 && blo >= 0x1p-160 && ahi <= 0x1p160 && bhi <= 0x1p160;
        wide = alo >= 0x1p-500 && blo >= 0x1p-500 && ahi <= 0x1p500 && bhi <= 0x1p500;
    } else {
        wide = FN(in_range)(A, m, lda, d, 0x1p-500, 0x1p500)
               && FN(in_range)(Bp, 1, 0, packed, 0x1p-500, 0x1p500);
    }
    if (wide && (!w || FN(in_range)(w, 1, 0, d, 0x1p-200, 0x1p200))) {
        const double tiny = four ? CAN4_TINY : 0x1p-600;
        double *ax = malloc(sizeof(double) * ((size_t)m * d + 1));
        if (ax) {
            for (int r = 0; r < m; ++r)
                for (int k = 0; k < d; ++k)
                    ax[(ptrdiff_t)r * d + k] = fabs((double)A[(ptrdiff_t)r * lda + k]) + tiny;
            if (four && w)
                FN(canberra_rcp4_w)(A, lda, m, Bp, n, d, w, ax, out, ldo, diag);
            else if (four)
                FN(canberra_rcp4)(A, lda, m, Bp, n, d, w, ax, out, ldo, diag);
            else if (w)
                FN(canberra_rcp_w)(A, lda, m, Bp, n, d, w, ax, out, ldo, diag);
            else
                FN(canberra_rcp)(A, lda, m, Bp, n, d, w, ax, out, ldo, diag);
            free(ax);
            return;
        }
    }
#endif
    FN(canberra_div)(A, lda, m, Bp, n, d, w, prm, out, ldo, diag);
}

/*
 * Natural logarithm of each float64 lane, for x >= 0: log(0) gives a large
 * negative finite value (about -709.1), which callers multiply by 0; NaN
 * and negative input give unspecified values, which callers multiply by
 * NaN or mask.  x = 2^e m with m in [sqrt(1/2), sqrt(2)); log m =
 * 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, summed from its Taylor
 * series in z = s^2 up to s^21 (the next term is below 2e-17 of the sum).
 * Within 2 ulp of the true value; log(1) = 0 exactly.
 */
static inline NDVEC FN(vlog)(NDVEC x)
{
    const NDVEC zero = {0};
    const NDIVEC bits = (NDIVEC)x;
    /* the biased exponent as a double: its bits under those of 2^52 */
    NDVEC e = (NDVEC)(((bits >> 52) & 0x7ff) | 0x4330000000000000LL)
              - (4503599627370496.0 + 1023.0);
    NDVEC m = (NDVEC)((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
    const NDIVEC big = m > 1.4142135623730951;
    m = (NDVEC)((big & (NDIVEC)(m * 0.5)) | (~big & (NDIVEC)m));
    e += (NDVEC)(big & (NDIVEC)(zero + 1.0));
    const NDVEC s = (m - 1.0) / (m + 1.0);
    const NDVEC z = s * s;
    NDVEC poly = zero + 1.0 / 21;
    for (int k = 9; k >= 1; --k)
        poly = poly * z + 1.0 / (2 * k + 1);
    return e * 0.69314718055994530942 + (2.0 * s + 2.0 * s * (z * poly));
}

/* The jensenshannon term of each lane, in float64 whatever T is:
 * x log(u) + y log(2 - u) with u = 2x / (x + y); 0 where x + y = 0. */
static inline VEC FN(js_terms)(VEC x, VEC y)
{
    const NDVEC zero = {0};
    T res[VL];
    for (int h = 0; h < VL / NDL; ++h) {
        NDVEC xd, yd;
        for (int c = 0; c < NDL; ++c) {
            xd[c] = x[h * NDL + c];
            yd[c] = y[h * NDL + c];
        }
        const NDVEC s = xd + yd;
        const NDVEC u = 2.0 * xd / s;
        const NDVEC t = xd * FN(vlog)(u) + yd * FN(vlog)(2.0 - u);
        const NDIVEC empty = s == 0.0;
        const NDVEC r = (NDVEC)(~empty & (NDIVEC)t);
        for (int c = 0; c < NDL; ++c)
            res[h * NDL + c] = (T)r[c];
    }
    VEC out;
    memcpy(&out, res, sizeof out);
    return out;
}

/* jensenshannon on rows already normalised to sum 1; prm[0] = log(base).
 * Each feature's term is computed in float64 (its two halves cancel to
 * O((x - y)^2)) and is >= 0, so summing the terms in T loses nothing.  A
 * zero entry contributes 0, x = y contributes exactly 0 (u = 1), NaN
 * propagates. */
#define U_JS(a0, a1, x, y, wk) a0 += FN(js_terms)(x, y)
#define F_JS(t0, t1) sqrt(((t0) < 0 ? 0.0 : (t0)) / (2.0 * prm[0]))
DEFINE_TILE(jensenshannon, U_JS, FOLD_SUM, F_JS)

/*
 * Row finishers of the GEMM metrics (_distances.pyx): vectorised passes
 * over one row of dot products, in place.  They return nonzero when a pair
 * needs the exact recomputation, which the caller then does (followed, for
 * euclidean, by the square root); otherwise the row is final.
 */
#define TSQRT(v) (sizeof(T) == 4 ? (T)sqrtf((float)(v)) : (T)sqrt((double)(v)))

static int FN(finish_sq)(T *row, int nb, double x_sq, const double *y_sq,
                         double tau, int take_sqrt)
{
    int risky = 0;
    for (int j = 0; j < nb; ++j)
        row[j] = (T)(x_sq + y_sq[j] - 2.0 * (double)row[j]);
    for (int j = 0; j < nb; ++j)
        risky |= row[j] < tau * (x_sq + y_sq[j]);
    if (!risky && take_sqrt)
        for (int j = 0; j < nb; ++j)
            row[j] = TSQRT(row[j]);
    return risky;
}

/* 1 - cos; a pair below tau, or NaN (a zero row), is risky. */
static int FN(finish_cos)(T *row, int nb, double x_norm, const double *y_norm,
                          double tau)
{
    int risky = 0;
    for (int j = 0; j < nb; ++j)
        row[j] = (T)(1.0 - (double)row[j] / (x_norm * y_norm[j]));
    for (int j = 0; j < nb; ++j) {
        risky |= !(row[j] >= tau);
        row[j] = row[j] > 2 ? (T)2 : row[j];    /* rounding, opposite rows */
    }
    return risky;
}

/* The first j in [start, stop) with row[j] <= bound, or stop (NaN never
 * is): the scan of a top-k search, where most candidates lose, four
 * vectors at a time. */
static int FN(first_at_most)(const T *row, int start, int stop, T bound)
{
    const VEC zero = {0};
    const VEC b = bound - zero;
    int j = start;
    for (; j + 4 * VL <= stop; j += 4 * VL) {
        const IVEC hit = (*(const VEC *)(row + j) <= b)
                         | (*(const VEC *)(row + j + VL) <= b)
                         | (*(const VEC *)(row + j + 2 * VL) <= b)
                         | (*(const VEC *)(row + j + 3 * VL) <= b);
        ITYPE any = 0;
        for (int l = 0; l < VL; ++l)
            any |= hit[l];
        if (any)
            break;
    }
    for (; j < stop; ++j)
        if (row[j] <= bound)
            return j;
    return stop;
}

/* The table direct.c dispatches through, in FASTML_METRIC_* order. */
static const TILE_FN_T FN(table)[FASTML_N_DIRECT] = {
    FN(l1), FN(sqeuclidean), FN(euclidean), FN(chebyshev), FN(minkowski3),
    FN(minkowski4), FN(minkowski), FN(canberra), FN(braycurtis), FN(hamming),
    FN(jensenshannon), FN(dot),
};

#undef MR
#undef KCHUNK
#undef TSQRT
#undef VEC
#undef VL
#undef NV
#undef IVEC
#undef DVEC
#undef DIVEC
#undef NDVEC
#undef NDIVEC
#undef NDL
#undef DABS
#undef NO_XA
#undef CAN_XA
#undef CAN_QUOTIENT
#undef CAN4_TINY
#undef CAN4_RECIP
#undef CAN4_DENS
#undef CAN4_TERMS
#undef CAN4_NUM
#undef CAN4_NUM_W
#undef MICROKERNEL_CAN4
#undef U_CAN_DIV
#undef U_CAN_RCP
#undef U_CAN_RCP_W
#undef U_CAN32
#undef U_CAN32_W
#undef CAN32_RCP
#undef U_CAN32_RCP
#undef U_CAN32_RCP_W
#undef U_PP
#undef U_P05
#undef U_P15
#undef U_P25
#undef F_PP
#undef DSELECT
#undef HVEC
#undef NP
/* the template's parameters (direct_isa.h defines them per dtype) */
#undef VMAX
#undef VRCP14_F32
#undef FN
#undef T
#undef NR
#undef TILE_FN_T
#undef ITYPE
#undef ABSMASK
