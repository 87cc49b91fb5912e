# cython: language_level=3
"""Compiled pairwise-distance kernels.

Nothing here validates its input: callers (``fastml.kernels``) pass
C-contiguous float32 or float64 arrays of matching dtype, an output array to
fill, and a thread count.  Every function releases the GIL for its whole run.

Three families:

* direct metrics (L1, chebyshev, minkowski, canberra, ...): the C tile
  kernels of ``direct.c``, vectorised across rows of Y, over a grid of
  (X-row block, Y-row block) jobs run by ``prange``;
* matrix-product metrics (euclidean, sqeuclidean, cosine, boolean counts):
  BLAS GEMM on tiles, then a pass that turns dot products into distances and
  recomputes, from differences, every pair whose value is too small for the
  GEMM identity to be accurate;
* haversine, a plain loop over pairs of 2-D points.

Symmetric problems (``Y is X``) compute only the tiles that touch the upper
triangle and then mirror it, so the result is exactly symmetric.
"""
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.stdlib cimport calloc, malloc, realloc, free
from libc.math cimport sqrt, sin, cos, asin, fabs, fma, INFINITY

from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from "direct.h" nogil:
    int FASTML_NO_DIAG
    int FASTML_NR_F64
    int FASTML_NR_F32
    int fastml_direct_select_isa(int max_level)
    int fastml_direct_isa()
    int fastml_direct_best_isa()
    void fastml_pack_f64(const double *B, Py_ssize_t ldb, int n, int d,
                         double *Bp)
    void fastml_pack_f32(const float *B, Py_ssize_t ldb, int n, int d,
                         float *Bp)
    void fastml_tile_f64(int metric, const double *A, Py_ssize_t lda, int m,
                         const double *Bp, int n, int d, const double *w,
                         const double *prm, double *out, Py_ssize_t ldo,
                         int diag)
    void fastml_tile_f32(int metric, const float *A, Py_ssize_t lda, int m,
                         const float *Bp, int n, int d, const float *w,
                         const double *prm, float *out, Py_ssize_t ldo,
                         int diag)
    int fastml_finish_sq_f64(double *row, int nb, double x_sq,
                             const double *y_sq, double tau, int take_sqrt)
    int fastml_finish_sq_f32(float *row, int nb, double x_sq,
                             const double *y_sq, double tau, int take_sqrt)
    int fastml_finish_cos_f64(double *row, int nb, double x_norm,
                              const double *y_norm, double tau)
    int fastml_finish_cos_f32(float *row, int nb, double x_norm,
                              const double *y_norm, double tau)
    int fastml_first_at_most_f64(const double *row, int start, int stop,
                                 double bound)
    int fastml_first_at_most_f32(const float *row, int start, int stop,
                                 float bound)

cdef extern from "vpow.h" nogil:
    void fastml_pow_array(const double *x, double p, double *out, Py_ssize_t n)
    void fastml_pow_array_f32(const float *x, double p, float *out,
                              Py_ssize_t n)

# Direct metric codes (direct.h); the Python layer refers to them by name.
DIRECT_CODES = {
    "l1": 0, "sqeuclidean": 1, "euclidean": 2, "chebyshev": 3,
    "minkowski3": 4, "minkowski4": 5, "minkowski": 6, "canberra": 7,
    "braycurtis": 8, "hamming": 9, "jensenshannon": 10, "dot": 11,
}

# Matrix-product metric codes (this file).
cdef enum:
    G_EUCLIDEAN = 0
    G_SQEUCLIDEAN = 1
    G_COSINE = 2
    G_DICE = 3
    G_ROGERSTANIMOTO = 4
    G_RUSSELLRAO = 5
    G_SOKALSNEATH = 6
    G_YULE = 7
    G_HAMMING = 8
    G_JACCARD = 9
GEMM_CODES = {
    "euclidean": G_EUCLIDEAN, "sqeuclidean": G_SQEUCLIDEAN,
    "cosine": G_COSINE, "dice": G_DICE, "rogerstanimoto": G_ROGERSTANIMOTO,
    "russellrao": G_RUSSELLRAO, "sokalsneath": G_SOKALSNEATH,
    "yule": G_YULE, "hamming": G_HAMMING, "jaccard": G_JACCARD,
}

ISA_NAMES = ("baseline", "avx2", "avx512")

# Tile sizes.  Direct: X rows per job, and the packed Y block is kept under
# DIRECT_BLOCK_BYTES so it stays in L2 while the rows of X stream past it.
# GEMM: a GEMM_MB x GEMM_NB tile of dot products per job.
cdef enum:
    DIRECT_MB = 128
    DIRECT_BLOCK_BYTES = 262144
    DIRECT_MAX_NB = 1024
    GEMM_MB = 128
    GEMM_NB = 256
    KNN_GEMM_MB = 512
    KNN_GEMM_NB = 1024
    SMALL_Y_BYTES = 2097152   # a Y this small is packed whole for a top-k search


def select_isa(int max_level):
    """Use the best instruction set up to `max_level` (0, 1, 2); return it."""
    return fastml_direct_select_isa(max_level)


def isa_in_use():
    """Name of the instruction set the direct kernels dispatch to."""
    return ISA_NAMES[fastml_direct_isa()]


def best_isa():
    """Name of the best instruction set compiled in and supported here."""
    return ISA_NAMES[fastml_direct_best_isa()]


select_isa(2)


def pow_array(
    const floating[::1] x,         # IN (n,)
    double p,                      # IN
    floating[::1] out,             # OUT (n,) may be x's buffer
):
    """``out = x ** p`` with the vectorised power of ``vpow.h`` (C's pow
    semantics; float32 computed in float64 and rounded once).  A test hook:
    the kernels call the C function directly."""
    cdef Py_ssize_t n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} elements, x has {n}")
    if n == 0:
        return
    with nogil:
        if floating is double:
            fastml_pow_array(&x[0], p, &out[0], n)
        else:
            fastml_pow_array_f32(&x[0], p, &out[0], n)


def pow_array_addresses():
    """(float64, float32): the addresses of ``fastml_pow_array`` and
    ``fastml_pow_array_f32``, for code compiled at run time in this process
    (custom metrics call them on 16 lanes at once; ``fastml._numba.lanes``).
    """
    return (<size_t> <void *> &fastml_pow_array, <size_t> <void *> &fastml_pow_array_f32)


cdef inline Py_ssize_t _cdiv(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


def direct_distances(
    const floating[:, ::1] X,      # IN (n, d)
    const floating[:, ::1] Y,      # IN (m, d)
    int metric,                    # IN code from DIRECT_CODES
    const floating[::1] w,         # IN (d,) weights, or size 0 for none
    const double[::1] params,      # IN metric parameters (size >= 1)
    floating[:, ::1] out,          # OUT (n, m)
    bint symmetric,                # IN Y is X: fill the upper triangle only
    int n_threads,                 # IN
    const double[::1] x_norm=None, # IN (n,) metric "dot" only: |X[i]|
    const double[::1] y_norm=None, # IN (m,) metric "dot" only: |Y[j]|
    double tau=0,                  # IN cosine recompute threshold
    double zero_value=0,           # IN cosine of a zero row
):
    """Fill ``out[i, j] = metric(X[i], Y[j])`` with the direct tile kernels.

    With ``x_norm`` and ``y_norm`` given (metric ``"dot"``), each tile of
    dot products is turned into cosine distances while it is still in
    cache, as ``gemm_distances`` does for its tiles."""
    cdef:
        Py_ssize_t n = X.shape[0], m = Y.shape[0]
        int d = <int> X.shape[1]
        int nr = FASTML_NR_F64 if floating is double else FASTML_NR_F32
        Py_ssize_t nb, n_xb, n_yb, n_jobs, job, xb, yb
        Py_ssize_t x0, x1, y0, y1, i, j0
        int diag
        bint cosine = x_norm is not None
        floating *packed
        Py_ssize_t *packed_y0
        const floating *wp = &w[0] if w.shape[0] > 0 else NULL
        const double *prm = &params[0]
        Py_ssize_t[:, ::1] jobs

    if n == 0 or m == 0:
        return
    # Columns per job: a multiple of nr keeping the packed block near L2 size.
    nb = DIRECT_BLOCK_BYTES // (max(d, 1) * sizeof(floating))
    nb = min(max(nb // nr, 1) * nr, DIRECT_MAX_NB)
    nb = min(nb, _cdiv(m, nr) * nr)
    jobs = _job_grid(n, m, DIRECT_MB, nb, symmetric)
    n_jobs = jobs.shape[0]

    with nogil, parallel(num_threads=n_threads):
        packed = <floating *> malloc(nb * max(d, 1) * sizeof(floating))
        # the Y block this thread last packed: the jobs are Y-block major and
        # dealt round-robin, so a thread meets each block ~n_xb / n_threads
        # times in a row and packs it once (~2% of canberra's time per pack)
        packed_y0 = <Py_ssize_t *> malloc(sizeof(Py_ssize_t))
        packed_y0[0] = -1
        for job in prange(n_jobs, schedule="static", chunksize=1):
            x0 = jobs[job, 0]
            x1 = min(x0 + DIRECT_MB, n)
            y0 = jobs[job, 1]
            y1 = min(y0 + nb, m)
            diag = FASTML_NO_DIAG
            if symmetric and y0 < x1 - 1:
                diag = <int> (x0 - y0)
            if floating is double:
                if packed_y0[0] != y0:
                    fastml_pack_f64(&Y[y0, 0], d, <int> (y1 - y0), d, packed)
                    packed_y0[0] = y0
                fastml_tile_f64(metric, &X[x0, 0], d, <int> (x1 - x0), packed,
                                <int> (y1 - y0), d, wp, prm, &out[x0, y0],
                                out.shape[1], diag)
            else:
                if packed_y0[0] != y0:
                    fastml_pack_f32(&Y[y0, 0], d, <int> (y1 - y0), d, packed)
                    packed_y0[0] = y0
                fastml_tile_f32(metric, &X[x0, 0], d, <int> (x1 - x0), packed,
                                <int> (y1 - y0), d, wp, prm, &out[x0, y0],
                                out.shape[1], diag)
            if cosine:
                for i in range(x0, x1):
                    # symmetric: the columns left of the diagonal may
                    # not have been computed; the mirror fills them
                    j0 = max(y0, i) if symmetric else y0
                    if j0 < y1:
                        _finish_cosine(&X[i, 0], &Y[j0, 0], d, <int> (y1 - j0),
                                       x_norm[i], &y_norm[j0], tau, zero_value,
                                       &out[i, j0])
        free(packed)
        free(packed_y0)

    if symmetric:
        mirror_upper(out, n_threads)


def _job_grid(Py_ssize_t n, Py_ssize_t m, Py_ssize_t mb, Py_ssize_t nb,
              bint symmetric):
    """(x0, y0) corners of the tiles to compute, Y-block major.

    For a symmetric problem the tiles entirely below the diagonal are left
    out: the mirror pass fills them.
    """
    import numpy as np
    x0 = np.arange(0, n, mb)
    y0 = np.arange(0, m, nb)
    yy, xx = np.meshgrid(y0, x0, indexing="ij")
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
    if symmetric:
        y_last = np.minimum(grid[:, 1] + nb, m) - 1
        grid = grid[y_last >= grid[:, 0]]
    return np.ascontiguousarray(grid, dtype=np.intp)


def mirror_upper(floating[:, ::1] out, int n_threads):
    """Copy the upper triangle of the square `out` onto the lower one and set
    the diagonal to exactly zero."""
    cdef:
        Py_ssize_t n = out.shape[0], bs = 64, n_blocks, bi, bj, i, j, i1, j1
    n_blocks = _cdiv(n, bs)
    with nogil:
        for bi in prange(n_blocks, schedule="static", chunksize=1,
                         num_threads=n_threads):
            i1 = min((bi + 1) * bs, n)
            for bj in range(bi + 1):
                j1 = min((bj + 1) * bs, n)
                for i in range(bi * bs, i1):
                    for j in range(bj * bs, min(j1, i)):
                        out[i, j] = out[j, i]
            for i in range(bi * bs, i1):
                out[i, i] = 0


cdef inline double _sqdist_exact(const floating *a, const floating *b,
                                 int d) noexcept nogil:
    """sum_k (a_k - b_k)^2, from differences, accumulated in float64."""
    cdef double s = 0, t
    cdef int k
    for k in range(d):
        t = <double> a[k] - <double> b[k]
        s += t * t
    return s


cdef inline void _dd_add_product(double x, double y, double *hi,
                                 double *lo) noexcept nogil:
    """(hi, lo) += x * y, keeping the rounding errors of the product and of
    the sum in ``lo`` (compensated dot product, Ogita, Rump & Oishi 2005)."""
    cdef double p = x * y
    cdef double p_err = fma(x, y, -p)
    cdef double s = hi[0] + p
    cdef double t = s - hi[0]
    lo[0] += ((hi[0] - (s - t)) + (p - t)) + p_err
    hi[0] = s


cdef inline void _dd_square_diff(double ah, double al, double bh, double bl,
                                 double ch, double cl, double *out) noexcept nogil:
    """out = a * b - c * c for double-double a, b, c, rounded to double.

    The leading products are exact (``fma``); their difference is exact when
    they are close (Sterbenz), so the cancellation loses nothing."""
    cdef double p = ah * bh, q = ch * ch
    cdef double p_err = fma(ah, bh, -p) + (ah * bl + al * bh)
    cdef double q_err = fma(ch, ch, -q) + 2 * ch * cl
    out[0] = (p - q) + (p_err - q_err)


cdef inline double _cosine_exact(const floating *a, const floating *b,
                                 int d) noexcept nogil:
    """1 - cos(a, b) to a few units in the last place, even for nearly
    parallel rows, where ``1 - a.b / (|a| |b|)`` loses every digit::

        1 - cos = (|a|^2 |b|^2 - (a.b)^2) / (|a| |b| (|a| |b| + a.b))

    with the three dot products and the numerator in double-double
    arithmetic.  Identical or power-of-two-scaled rows give exactly 0.
    Only called for pairs with ``a.b > 0``, so the denominator is safe."""
    cdef double aa = 0, aa_lo = 0, bb = 0, bb_lo = 0, ab = 0, ab_lo = 0
    cdef double x, y
    cdef int k
    for k in range(d):
        x = a[k]
        y = b[k]
        _dd_add_product(x, x, &aa, &aa_lo)
        _dd_add_product(y, y, &bb, &bb_lo)
        _dd_add_product(x, y, &ab, &ab_lo)
    return _cosine_from_sums(aa, aa_lo, bb, bb_lo, ab, ab_lo)


cdef inline double _cosine_from_sums(double aa, double aa_lo, double bb, double bb_lo,
                                     double ab, double ab_lo) noexcept nogil:
    """1 - cos from the double-double sums a.a, b.b and a.b (a.b > 0), by
    _cosine_exact's formula."""
    cdef double num, norms
    _dd_square_diff(aa, aa_lo, bb, bb_lo, ab, ab_lo, &num)
    norms = sqrt(aa) * sqrt(bb)
    return max(num, 0.0) / (norms * (norms + ab))


cdef inline void _gemm_tile(const floating *X, const floating *Y, int mb,
                            int nb, int d, floating *dots,
                            int ldd) noexcept nogil:
    """dots[i, j] = X[i] . Y[j] for an mb x nb tile (row-major, row stride
    ldd), written straight into the output matrix.

    Row-major dots = X Y^T is column-major dots^T = Y X^T: transa = 'T' on
    the d x nb column-major view of Y, transb = 'N' on X.
    """
    cdef char ta = b'T', tb = b'N'
    cdef int ld = d
    cdef floating one = 1, zero = 0
    if floating is double:
        dgemm(&ta, &tb, &nb, &mb, &d, &one, <double *> Y, &ld, <double *> X,
              &ld, &zero, dots, &ldd)
    else:
        sgemm(&ta, &tb, &nb, &mb, &d, &one, <float *> Y, &ld, <float *> X,
              &ld, &zero, dots, &ldd)


cdef inline void _finish_euclidean(
    const floating *x,          # IN (d,) the row of X
    const floating *Y,          # IN (nb, d) rows of Y, row stride d
    int d, int nb,
    double x_sq,                # IN |x|^2
    const double *y_sq,         # IN (nb,) |Y[j]|^2
    double tau,
    bint take_sqrt,
    floating *row,              # IN x . Y[j]; OUT the distances (nb,)
) noexcept nogil:
    """One row of squared (or plain) euclidean distances from dot products,
    in place: the vectorised C finisher, then the exact recomputation of
    the pairs below ``tau * (|x|^2 + |y|^2)`` if there are any."""
    cdef int j, risky
    if floating is double:
        risky = fastml_finish_sq_f64(row, nb, x_sq, y_sq, tau, take_sqrt)
    else:
        risky = fastml_finish_sq_f32(row, nb, x_sq, y_sq, tau, take_sqrt)
    if not risky:
        return
    for j in range(nb):
        if row[j] < tau * (x_sq + y_sq[j]):
            row[j] = <floating> _sqdist_exact(x, Y + <Py_ssize_t> j * d, d)
    if take_sqrt:
        for j in range(nb):
            row[j] = sqrt(row[j])


cdef inline void _finish_cosine(
    const floating *x,          # IN (d,) the row of X
    const floating *Y,          # IN (nb, d) rows of Y, row stride d
    int d, int nb,
    double x_norm,              # IN |x|
    const double *y_norm,       # IN (nb,) |Y[j]|
    double tau,
    double zero_value,          # IN the distance from a zero row
    floating *row,              # IN x . Y[j]; OUT the distances (nb,)
) noexcept nogil:
    """One row of cosine distances from dot products, in place; pairs with
    ``1 - cos < tau``, or with a zero row, are then recomputed exactly."""
    cdef int j, risky
    if floating is double:
        risky = fastml_finish_cos_f64(row, nb, x_norm, y_norm, tau)
    else:
        risky = fastml_finish_cos_f32(row, nb, x_norm, y_norm, tau)
    if not risky:
        return
    for j in range(nb):
        if x_norm == 0 or y_norm[j] == 0:
            row[j] = <floating> zero_value
        elif row[j] < tau:             # NaN from NaN input stays NaN
            row[j] = <floating> _cosine_exact(x, Y + <Py_ssize_t> j * d, d)


cdef inline double _boolean(int kind, double ntt, double nx, double ny,
                            double total) noexcept nogil:
    """A boolean dissimilarity from (weighted) counts, as SciPy defines it."""
    cdef double ntf = nx - ntt, nft = ny - ntt
    cdef double nff = total - ntt - ntf - nft
    cdef double r
    if kind == G_DICE:
        return (ntf + nft) / (2 * ntt + ntf + nft)
    if kind == G_ROGERSTANIMOTO:
        r = 2 * (ntf + nft)
        return r / (ntt + nff + r)
    if kind == G_RUSSELLRAO:
        return (total - ntt) / total
    if kind == G_SOKALSNEATH:
        r = 2 * (ntf + nft)
        return r / (ntt + r)
    if kind == G_YULE:
        r = ntf * nft
        return 0.0 if r == 0 else 2 * r / (ntt * nff + r)
    if kind == G_HAMMING:
        return (ntf + nft) / total
    # G_JACCARD
    r = ntt + ntf + nft
    return 0.0 if r == 0 else (ntf + nft) / r


def gemm_distances(
    const floating[:, ::1] X,      # IN (n, d)
    const floating[:, ::1] Y,      # IN (m, d)
    int kind,                      # IN code from GEMM_CODES
    const double[::1] x_stat,      # IN (n,) see below
    const double[::1] y_stat,      # IN (m,)
    double total,                  # IN boolean metrics: sum of the weights
    double tau,                    # IN recompute threshold (see below)
    double zero_value,             # IN cosine of a zero row
    floating[:, ::1] out,          # OUT (n, m)
    bint symmetric,                # IN Y is X: fill the upper triangle only
    int n_threads,                 # IN
):
    """Distances from tiled GEMM dot products.

    ``x_stat``/``y_stat`` are squared norms (euclidean, sqeuclidean), norms
    (cosine) or weighted counts of nonzeros (boolean metrics; X and Y then
    hold 0/1 indicators, X scaled by the weights).

    Accuracy: ``|x|^2 + |y|^2 - 2 x.y`` has an absolute error of about
    ``eps * sqrt(d) * (|x|^2 + |y|^2)``.  Every pair whose result is below
    ``tau * (|x|^2 + |y|^2)`` (for cosine: ``1 - cos < tau``) is recomputed
    from differences in float64, so the relative error stays near
    ``eps * sqrt(d) / tau`` on every pair and identical rows give exactly 0.
    """
    cdef:
        Py_ssize_t n = X.shape[0], m = Y.shape[0]
        int d = <int> X.shape[1]
        Py_ssize_t n_jobs, job, i, x0, y0
        int mb, nb
        int ldo = <int> out.shape[1]
        floating *tile
        Py_ssize_t[:, ::1] jobs

    if n == 0 or m == 0:
        return
    jobs = _job_grid(n, m, GEMM_MB, GEMM_NB, symmetric)
    n_jobs = jobs.shape[0]

    with nogil:
        for job in prange(n_jobs, schedule="static", chunksize=1,
                          num_threads=n_threads):
            x0 = jobs[job, 0]
            y0 = jobs[job, 1]
            mb = <int> min(GEMM_MB, n - x0)
            nb = <int> min(GEMM_NB, m - y0)
            tile = &out[x0, y0]
            _gemm_tile(&X[x0, 0], &Y[y0, 0], mb, nb, d, tile, ldo)
            for i in range(mb):
                _finish_gemm_row(kind, &X[x0 + i, 0], &Y[y0, 0], d, nb,
                                 x_stat[x0 + i], &y_stat[y0], tau, zero_value,
                                 total, tile + i * ldo)

    if symmetric:
        mirror_upper(out, n_threads)


cdef inline void _finish_gemm_row(
    int kind, const floating *x, const floating *Y, int d, int nb,
    double x_stat, const double *y_stat, double tau, double zero_value,
    double total,
    floating *row,              # IN x . Y[j]; OUT the distances (nb,)
) noexcept nogil:
    """Turn one row of dot products into distances of metric `kind`."""
    cdef int j
    if kind == G_EUCLIDEAN or kind == G_SQEUCLIDEAN:
        _finish_euclidean(x, Y, d, nb, x_stat, y_stat, tau,
                          kind == G_EUCLIDEAN, row)
    elif kind == G_COSINE:
        _finish_cosine(x, Y, d, nb, x_stat, y_stat, tau, zero_value, row)
    else:
        for j in range(nb):
            row[j] = <floating> _boolean(kind, row[j], x_stat, y_stat[j],
                                         total)


def haversine_distances(
    const floating[:, ::1] X,      # IN (n, 2) latitude, longitude in radians
    const floating[:, ::1] Y,      # IN (m, 2)
    floating[:, ::1] out,          # OUT (n, m)
    int n_threads,                 # IN
):
    """Great-circle distance on the unit sphere, as scikit-learn defines it:
    ``2 arcsin(sqrt(sin^2(dlat/2) + cos(lat1) cos(lat2) sin^2(dlon/2)))``."""
    cdef:
        Py_ssize_t n = X.shape[0], m = Y.shape[0], i, j
        double s_lat, s_lon, c1
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            c1 = cos(X[i, 0])
            for j in range(m):
                s_lat = sin(0.5 * (<double> X[i, 0] - Y[j, 0]))
                s_lon = sin(0.5 * (<double> X[i, 1] - Y[j, 1]))
                out[i, j] = <floating> (2 * asin(sqrt(min(
                    s_lat * s_lat + c1 * cos(Y[j, 0]) * s_lon * s_lon, 1.0))))


# ---------------------------------------------------------------- k nearest
#
# argkmin: the k smallest distances of each row of X to the rows of Y,
# computed tile by tile and offered at once to a per-row max-heap of
# (distance, index) pairs, so the n x m matrix never exists.  Extra memory:
# one tile per thread plus the packed block of Y.  Y blocks are the outer
# loop (each is packed once), X row blocks the parallel inner loop (each
# thread owns its rows' heaps, so nothing is shared).

cdef extern from "<stdint.h>":
    Py_ssize_t PTRDIFF_MAX

# The index of an empty heap slot: larger than any real index, so it sorts
# last among equal distances.
EMPTY_INDEX = PTRDIFF_MAX


cdef inline bint _after(double d1, Py_ssize_t i1, double d2,
                        Py_ssize_t i2) noexcept nogil:
    """(d1, i1) comes after (d2, i2): by distance, then by index."""
    return d1 > d2 or (d1 == d2 and i1 > i2)


cdef inline void _sift_down(double *hd, Py_ssize_t *hi, int size, double v,
                            Py_ssize_t idx) noexcept nogil:
    """Put (v, idx) at the root of the max-heap hd/hi[:size] and restore it."""
    cdef int pos = 0, child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _after(hd[child + 1], hi[child + 1],
                                       hd[child], hi[child]):
            child += 1
        if not _after(hd[child], hi[child], v, idx):
            break
        hd[pos] = hd[child]
        hi[pos] = hi[child]
        pos = child
    hd[pos] = v
    hi[pos] = idx


cdef inline void _offer_row(const floating *row, int nb, Py_ssize_t j0, int k,
                            double *hd, Py_ssize_t *hi) noexcept nogil:
    """Offer row[j], the distance to global index j0 + j, to the heap of the
    k best pairs.  Indices arrive in increasing order, so a candidate equal
    to the worst kept pair never displaces it: ties go to the smaller index.
    NaN counts as +inf."""
    cdef int j = 0
    cdef double v, top = hd[0]
    while j < nb:
        if top < INFINITY:
            # Most candidates lose: a vector scan skips to the next one <=
            # the worst kept distance.  Casting top to the row's dtype
            # cannot lose a candidate: no value of that dtype lies between
            # top and its rounding.  NaN never passes.
            if floating is double:
                j = fastml_first_at_most_f64(row, j, nb, top)
            else:
                j = fastml_first_at_most_f32(row, j, nb, <float> top)
            if j == nb:
                break
        v = row[j]
        if v != v:
            v = INFINITY
        if v < top or (v == top and hi[0] >= j0 + j):
            _sift_down(hd, hi, k, v, j0 + j)
            top = hd[0]
        j += 1


def argkmin_tiles(
    const floating[:, ::1] X,      # IN (n, d) rows as the metric wants them
    const floating[:, ::1] Y,      # IN (m, d)
    bint direct,                   # IN direct tile kernel, else GEMM tiles
    int code,                      # IN DIRECT_CODES or GEMM_CODES entry
    const floating[::1] w,         # IN direct: weights, or size 0
    const double[::1] params,      # IN direct: metric parameters
    const double[::1] x_stat,      # IN GEMM / cosine: row statistics of X
    const double[::1] y_stat,      # IN GEMM / cosine: of Y
    double tau,                    # IN recompute threshold (GEMM, cosine)
    double zero_value,             # IN cosine of a zero row
    double total,                  # IN boolean metrics: sum of the weights
    double[:, ::1] heap_d,         # IN/OUT (n, k) max-heaps: distances
    Py_ssize_t[:, ::1] heap_i,     # IN/OUT (n, k) max-heaps: indices
    Py_ssize_t offset,             # IN global index of Y[0]
    int n_threads,                 # IN
):
    """Offer every distance between the rows of X and Y to the heaps.

    The tiles are the ones ``direct_distances`` / ``gemm_distances``
    compute (``code`` "dot" with ``x_stat`` given finishes to cosine)."""
    import numpy as np
    cdef:
        Py_ssize_t n = X.shape[0], m = Y.shape[0]
        int d = <int> X.shape[1], k = <int> heap_d.shape[1]
        int nr = FASTML_NR_F64 if floating is double else FASTML_NR_F32
        int mb, nb, tid, mbx, nby
        Py_ssize_t xb, n_xb, yb, n_yb, x0, x1, y0, y1, i
        bint cosine = direct and x_stat.shape[0] > 0
        const floating *wp = &w[0] if w.shape[0] > 0 else NULL
        const double *prm = &params[0] if params.shape[0] > 0 else NULL
        floating[:, ::1] bufs
        floating[::1] packed
        floating *buf

    if n == 0 or m == 0 or k == 0:
        return
    if direct:
        mb = DIRECT_MB
        nb = DIRECT_BLOCK_BYTES // (max(d, 1) * sizeof(floating))
        nb = min(max(nb // nr, 1) * nr, DIRECT_MAX_NB)
        nb = <int> min(nb, _cdiv(m, nr) * nr)
    else:
        mb = KNN_GEMM_MB
        nb = KNN_GEMM_NB
    dtype = np.float64 if floating is double else np.float32
    n_yb = _cdiv(m, nb)
    if direct and n_yb > 1 and m * max(d, 1) * sizeof(floating) <= SMALL_Y_BYTES:
        _argkmin_small_y(X, Y, code, wp, prm, x_stat, y_stat, tau, zero_value, cosine,
                         nb, heap_d, heap_i, offset, n_threads)
        return
    bufs = np.empty((n_threads, mb * nb), dtype=dtype)
    packed = np.empty(nb * max(d, 1) if direct else 1, dtype=dtype)
    n_xb = _cdiv(n, mb)

    with nogil:
        for yb in range(n_yb):
            y0 = yb * nb
            y1 = min(y0 + nb, m)
            nby = <int> (y1 - y0)
            if direct:
                if floating is double:
                    fastml_pack_f64(&Y[y0, 0], d, nby, d, &packed[0])
                else:
                    fastml_pack_f32(&Y[y0, 0], d, nby, d, &packed[0])
            for xb in prange(n_xb, schedule="static", num_threads=n_threads):
                tid = threadid()
                buf = &bufs[tid, 0]
                x0 = xb * mb
                x1 = min(x0 + mb, n)
                mbx = <int> (x1 - x0)
                if direct:
                    if floating is double:
                        fastml_tile_f64(code, &X[x0, 0], d, mbx, &packed[0], nby,
                                        d, wp, prm, buf, nby, FASTML_NO_DIAG)
                    else:
                        fastml_tile_f32(code, &X[x0, 0], d, mbx, &packed[0], nby,
                                        d, wp, prm, buf, nby, FASTML_NO_DIAG)
                    if cosine:
                        for i in range(x0, x1):
                            _finish_cosine(&X[i, 0], &Y[y0, 0], d, nby, x_stat[i],
                                           &y_stat[y0], tau, zero_value,
                                           buf + (i - x0) * nby)
                else:
                    _gemm_tile(&X[x0, 0], &Y[y0, 0], mbx, nby, d, buf, nby)
                    for i in range(x0, x1):
                        _finish_gemm_row(code, &X[i, 0], &Y[y0, 0], d, nby,
                                         x_stat[i], &y_stat[y0], tau,
                                         zero_value, total,
                                         buf + (i - x0) * nby)
                for i in range(x0, x1):
                    _offer_row(buf + (i - x0) * nby, nby, offset + y0, k,
                               &heap_d[i, 0], &heap_i[i, 0])


cdef void _argkmin_small_y(
    const floating[:, ::1] X, const floating[:, ::1] Y, int code, const floating *wp,
    const double *prm, const double[::1] x_stat, const double[::1] y_stat, double tau,
    double zero_value, bint cosine, int nb, double[:, ::1] heap_d,
    Py_ssize_t[:, ::1] heap_i, Py_ssize_t offset, int n_threads):
    """argkmin_tiles' direct path for a Y small enough to pack whole (a
    user's first try, a Dask block): every Y block packed once, then one
    parallel loop in which each job takes a few rows of X past all of Y
    (blocks of rows small enough that every thread gets several), instead
    of one parallel loop per Y block.  Each row's heap is offered every
    distance by one job, so the result is the same."""
    import numpy as np
    cdef:
        Py_ssize_t n = X.shape[0], m = Y.shape[0], xb, yb, x0, x1, y0, i
        int d = <int> X.shape[1], k = <int> heap_d.shape[1], mbx, nby, tid
        Py_ssize_t n_yb = _cdiv(m, nb), block = nb * max(d, 1)
        int mb = <int> min(DIRECT_MB, max(4, _cdiv(_cdiv(n, 4 * n_threads), 4) * 4))
        Py_ssize_t n_xb = _cdiv(n, mb)
        floating[:, ::1] bufs = np.empty((n_threads, mb * nb),
                                         dtype=np.float64 if floating is double else np.float32)
        floating[::1] packed = np.empty(n_yb * block,
                                        dtype=np.float64 if floating is double else np.float32)
        floating *buf
    with nogil:
        for yb in prange(n_yb, schedule="static", num_threads=n_threads):
            y0 = yb * nb
            if floating is double:
                fastml_pack_f64(&Y[y0, 0], d, <int> min(nb, m - y0), d, &packed[yb * block])
            else:
                fastml_pack_f32(&Y[y0, 0], d, <int> min(nb, m - y0), d, &packed[yb * block])
        for xb in prange(n_xb, schedule="dynamic", num_threads=n_threads):
            tid = threadid()
            buf = &bufs[tid, 0]
            x0 = xb * mb
            x1 = min(x0 + mb, n)
            mbx = <int> (x1 - x0)
            for yb in range(n_yb):
                y0 = yb * nb
                nby = <int> min(nb, m - y0)
                if floating is double:
                    fastml_tile_f64(code, &X[x0, 0], d, mbx, &packed[yb * block], nby, d, wp,
                                    prm, buf, nby, FASTML_NO_DIAG)
                else:
                    fastml_tile_f32(code, &X[x0, 0], d, mbx, &packed[yb * block], nby, d, wp,
                                    prm, buf, nby, FASTML_NO_DIAG)
                for i in range(x0, x1):
                    if cosine:
                        _finish_cosine(&X[i, 0], &Y[y0, 0], d, nby, x_stat[i], &y_stat[y0],
                                       tau, zero_value, buf + (i - x0) * nby)
                    _offer_row(buf + (i - x0) * nby, nby, offset + y0, k, &heap_d[i, 0],
                               &heap_i[i, 0])


def argkmin_offer(
    const floating[:, ::1] D,      # IN (n, nb) distances to Y[offset:offset+nb]
    double[:, ::1] heap_d,         # IN/OUT (n, k)
    Py_ssize_t[:, ::1] heap_i,     # IN/OUT (n, k)
    Py_ssize_t offset,             # IN global index of column 0
    int n_threads,                 # IN
):
    """Offer a block of distances computed elsewhere (custom metrics,
    haversine) to the heaps."""
    cdef Py_ssize_t n = D.shape[0], i
    cdef int nb = <int> D.shape[1], k = <int> heap_d.shape[1]
    if n == 0 or nb == 0 or k == 0:
        return
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            _offer_row(&D[i, 0], nb, offset, k, &heap_d[i, 0], &heap_i[i, 0])


def sort_heaps(double[:, ::1] heap_d, Py_ssize_t[:, ::1] heap_i,
               int n_threads):
    """Sort each row's heap in place, ascending by (distance, index)."""
    cdef Py_ssize_t n = heap_d.shape[0], i
    cdef int k = <int> heap_d.shape[1], end
    cdef double v
    cdef Py_ssize_t idx
    if k == 0:
        return
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            for end in range(k - 1, 0, -1):
                v = heap_d[i, end]
                idx = heap_i[i, end]
                heap_d[i, end] = heap_d[i, 0]
                heap_i[i, end] = heap_i[i, 0]
                _sift_down(&heap_d[i, 0], &heap_i[i, 0], end, v, idx)


def sqeuclidean_pairs(
    const floating[:, ::1] X,      # IN (n, d)
    const floating[:, ::1] Y,      # IN (m, d)
    const Py_ssize_t[:, ::1] idx,  # IN (n, k) rows of Y; EMPTY_INDEX skipped
    double[:, ::1] out,            # OUT (n, k) |X[i] - Y[idx[i, c]]|^2
    int n_threads,                 # IN
):
    """Squared distances of the selected pairs, from differences in float64."""
    cdef Py_ssize_t n = X.shape[0], i, c, k = idx.shape[1]
    cdef int d = <int> X.shape[1]
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            for c in range(k):
                if idx[i, c] != PTRDIFF_MAX:
                    out[i, c] = _sqdist_exact(&X[i, 0], &Y[idx[i, c], 0], d)


# ---------------------------------------------------------------- mahalanobis (float64)
cdef extern from "mahalanobis.h" nogil:
    int FASTML_MAHA_RB
    int fastml_maha_cholesky(int d, const double *A_hi, const double *A_lo,
                             double *R_hi, double *R_lo)
    void fastml_maha_transform_rows(int nr, int d, const double *X, Py_ssize_t ldx,
                                    const double *R_hi, const double *R_lo,
                                    const double *off_hi, const double *off_lo,
                                    double *Z_hi, double *Z_lo, Py_ssize_t ldz,
                                    double *work)
    double fastml_maha_refine(double s, int d, const double *x, const double *y,
                              const double *zx_hi, const double *zx_lo, double r_x,
                              double t_x, const double *zy_hi, const double *zy_lo,
                              double r_y, double t_y, const double *R_hi,
                              const double *R_lo, double tol, double *work)


def maha_cholesky(
    const double[:, ::1] A_hi,     # IN (d, d) symmetric, double-double with A_lo
    const double[:, ::1] A_lo,     # IN (d, d)
    double[:, ::1] R_hi,           # OUT (d, d) upper, A = R^T R
    double[:, ::1] R_lo,           # OUT (d, d)
):
    """Cholesky factor in double-double; 0, or k + 1 if pivot k is not positive."""
    cdef int d = <int> A_hi.shape[0], status
    if d == 0:
        return 0
    with nogil:
        status = fastml_maha_cholesky(d, &A_hi[0, 0], &A_lo[0, 0], &R_hi[0, 0], &R_lo[0, 0])
    return status


def maha_transform(
    const double[:, ::1] X,        # IN (n, d)
    const double[:, ::1] R_hi,     # IN (d, d) upper factor, row-major
    const double[:, ::1] R_lo,     # IN (d, d)
    const double[::1] off_hi,      # IN (d,) subtracted from every row
    const double[::1] off_lo,      # IN (d,)
    double[:, ::1] Z_hi,           # OUT (n, d) R x - off, double-double
    double[:, ::1] Z_lo,           # OUT (n, d)
    int n_threads,                 # IN
):
    """The rows R x - off in double-double, FASTML_MAHA_RB rows per C call."""
    cdef Py_ssize_t n = X.shape[0], b, start, n_blocks
    cdef int d = <int> X.shape[1], rb = FASTML_MAHA_RB
    cdef double *work
    if n == 0 or d == 0:
        return
    n_blocks = (n + rb - 1) // rb
    with nogil, parallel(num_threads=n_threads):
        work = <double *> malloc(rb * d * sizeof(double))
        if work != NULL:
            for b in prange(n_blocks, schedule="dynamic"):
                start = b * rb
                fastml_maha_transform_rows(
                    <int> min(rb, n - start), d, &X[start, 0], X.shape[1], &R_hi[0, 0],
                    &R_lo[0, 0], &off_hi[0], &off_lo[0], &Z_hi[start, 0], &Z_lo[start, 0],
                    Z_hi.shape[1], work)
            free(work)


def maha_refine(
    double[:, ::1] out,            # IN/OUT (n, m) distances from the hi parts
    const Py_ssize_t[:, ::1] idx,  # IN (n, m) columns of Y, or (0, 0): column j is row j
    const double[:, ::1] X,        # IN (n, d) the rows before the transform
    const double[:, ::1] Y,        # IN (p, d)
    const double[:, ::1] Zx_hi,    # IN (n, d) maha_transform of X
    const double[:, ::1] Zx_lo,    # IN (n, d)
    const double[::1] r_x,         # IN (n,) bound on |Zx - Zx_hi|
    const double[::1] t_x,         # IN (n,) bound on the transform's error
    const double[:, ::1] Zy_hi,    # IN (p, d)
    const double[:, ::1] Zy_lo,    # IN (p, d)
    const double[::1] r_y,         # IN (p,)
    const double[::1] t_y,         # IN (p,)
    const double[:, ::1] R_hi,     # IN (d, d) upper factor, row-major
    const double[:, ::1] R_lo,     # IN (d, d)
    double tol,                    # IN relative error to guarantee
    bint symmetric,                # IN skip the diagonal (Y is X)
    int n_threads,                 # IN
):
    """Refine every distance whose error bound exceeds tol (fastml_maha_refine);
    the first test, r_x + r_y <= tol * s, runs here for every pair."""
    cdef Py_ssize_t n = out.shape[0], m = out.shape[1], i, c, j
    cdef int d = <int> X.shape[1]
    cdef bint gather = idx.shape[0] > 0
    cdef double *work
    cdef double rx
    if n == 0 or m == 0 or d == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        work = <double *> malloc(2 * d * sizeof(double))
        if work != NULL:
            for i in prange(n, schedule="dynamic"):
                rx = r_x[i]
                for c in range(m):
                    j = idx[i, c] if gather else c
                    if j == PTRDIFF_MAX or (symmetric and j == i):
                        continue
                    if rx + r_y[j] <= tol * out[i, c]:
                        continue
                    out[i, c] = fastml_maha_refine(
                        out[i, c], d, &X[i, 0], &Y[j, 0], &Zx_hi[i, 0], &Zx_lo[i, 0],
                        rx, t_x[i], &Zy_hi[j, 0], &Zy_lo[j, 0], r_y[j], t_y[j],
                        &R_hi[0, 0], &R_lo[0, 0], tol, work)
            free(work)


# ---------------------------------------------------------------- sparse rows: top-k
# X and Y in CSR form (data, indices, indptr); each row's indices sorted and
# unique.  Y also as its transpose in CSR form (Yt: for each feature, the
# rows of Y that hold it), so that the dot products of one row of X with
# every row of Y are accumulated feature by feature into a dense row of m
# sums: the work is the number of (feature of x, row of Y holding it) pairs,
# not m times the row lengths.

ctypedef fused sparse_index:
    int
    long long


cdef inline double _sparse_sqdist_exact(
        const floating *xv, const sparse_index *xi, Py_ssize_t nx,
        const floating *yv, const sparse_index *yi, Py_ssize_t ny) noexcept nogil:
    """|x - y|^2 from differences, in float64, for two sorted sparse rows."""
    cdef Py_ssize_t a = 0, b = 0
    cdef double s = 0, t
    while a < nx or b < ny:
        if b == ny or (a < nx and xi[a] < yi[b]):
            t = xv[a]
            a += 1
        elif a == nx or yi[b] < xi[a]:
            t = yv[b]
            b += 1
        else:
            t = <double> xv[a] - <double> yv[b]
            a += 1
            b += 1
        s += t * t
    return s


cdef inline double _sparse_cosine_exact(
        const floating *xv, const sparse_index *xi, Py_ssize_t nx,
        const floating *yv, const sparse_index *yi, Py_ssize_t ny) noexcept nogil:
    """1 - cos(x, y) for two sorted sparse rows, as _cosine_exact (a.b > 0)."""
    cdef Py_ssize_t a, b = 0
    cdef double aa = 0, aa_lo = 0, bb = 0, bb_lo = 0, ab = 0, ab_lo = 0
    for a in range(nx):
        _dd_add_product(xv[a], xv[a], &aa, &aa_lo)
    for b in range(ny):
        _dd_add_product(yv[b], yv[b], &bb, &bb_lo)
    a = 0
    b = 0
    while a < nx and b < ny:
        if xi[a] < yi[b]:
            a += 1
        elif yi[b] < xi[a]:
            b += 1
        else:
            _dd_add_product(xv[a], yv[b], &ab, &ab_lo)
            a += 1
            b += 1
    return _cosine_from_sums(aa, aa_lo, bb, bb_lo, ab, ab_lo)


cdef inline double _sparse_l1_exact(
        const floating *xv, const sparse_index *xi, Py_ssize_t nx,
        const floating *yv, const sparse_index *yi, Py_ssize_t ny) noexcept nogil:
    """|x - y|_1 from differences, in float64, for two sorted sparse rows."""
    cdef Py_ssize_t a = 0, b = 0
    cdef double s = 0
    while a < nx or b < ny:
        if b == ny or (a < nx and xi[a] < yi[b]):
            s += fabs(xv[a])
            a += 1
        elif a == nx or yi[b] < xi[a]:
            s += fabs(yv[b])
            b += 1
        else:
            s += fabs(<double> xv[a] - <double> yv[b])
            a += 1
            b += 1
    return s


# what argkmin_sparse ranks on
cdef enum:
    SPARSE_SQEUCLIDEAN = 0
    SPARSE_COSINE = 1
    SPARSE_L1 = 2
SPARSE_KINDS = {"sqeuclidean": SPARSE_SQEUCLIDEAN, "cosine": SPARSE_COSINE,
                "l1": SPARSE_L1}


cdef inline double _sparse_exact(
        int kind, const floating *x_data, const sparse_index *x_indices,
        Py_ssize_t x0, Py_ssize_t x1, const floating *y_data,
        const sparse_index *y_indices, const sparse_index *y_indptr,
        Py_ssize_t j) noexcept nogil:
    """The distance of kind between x (entries x0:x1) and row j of Y, from
    differences."""
    cdef Py_ssize_t y0 = y_indptr[j], y1 = y_indptr[j + 1]
    if kind == SPARSE_COSINE:
        return _sparse_cosine_exact(&x_data[x0], &x_indices[x0], x1 - x0, &y_data[y0],
                                    &y_indices[y0], y1 - y0)
    if kind == SPARSE_L1:
        return _sparse_l1_exact(&x_data[x0], &x_indices[x0], x1 - x0, &y_data[y0],
                                &y_indices[y0], y1 - y0)
    return _sparse_sqdist_exact(&x_data[x0], &x_indices[x0], x1 - x0, &y_data[y0],
                                &y_indices[y0], y1 - y0)


cdef enum:
    SPARSE_ROW_BLOCK = 2048   # distances made and offered at a time


cdef inline Py_ssize_t _max_terms(const sparse_index[::1] indptr) noexcept nogil:
    """The largest number of stored values in a row (at least 1)."""
    cdef Py_ssize_t i, most = 1
    for i in range(indptr.shape[0] - 1):
        most = max(most, <Py_ssize_t> (indptr[i + 1] - indptr[i]))
    return most


cdef inline void _start_row(const sparse_index *x_indices, Py_ssize_t x0, Py_ssize_t x1,
                            const sparse_index *yt_indptr, Py_ssize_t *cursor) noexcept nogil:
    """Each feature of x (entries x0:x1) at the start of its posting list
    (the rows of Y holding it, in increasing order)."""
    cdef Py_ssize_t p
    for p in range(x0, x1):
        cursor[p - x0] = yt_indptr[x_indices[p]]


cdef inline void _sparse_block(
        int kind, const floating *x_data, const sparse_index *x_indices, Py_ssize_t x0,
        Py_ssize_t x1, double xs, const floating *y_data, const sparse_index *y_indices,
        const sparse_index *y_indptr, const double *y_stat, const floating *yt_data,
        const sparse_index *yt_indices, const sparse_index *yt_indptr,
        const int *dense_slot, const double *dense_cols, Py_ssize_t m, double tau,
        Py_ssize_t j0, int nb, Py_ssize_t *cursor, double *acc, double *row) noexcept nogil:
    """row[:nb] = the distances from x (entries x0:x1) to rows j0 .. j0 + nb
    - 1 of Y.

    First the sums over the features they share, feature of x by feature,
    into acc[:nb], which stays in the L1 cache: x_f y_f (for L1 the overlap
    |x_f| + |y_f| - |x_f - y_f|).  A feature most rows of Y hold has a dense
    column (dense_slot[f] >= 0: row dense_slot[f] of dense_cols, m values,
    zeros included) added in one vectorised pass; the others walk their
    posting list in Y's transpose from their cursor to the end of the block
    (the cursor then waits there for the next block).  Zeros add nothing,
    so both give the same sums in the same order.  Then the identity,
    branch-free so that it vectorises, and the few pairs it cannot resolve,
    from differences (see argkmin_sparse).  acc is left zero."""
    cdef Py_ssize_t p, q, end, j1 = j0 + nb
    cdef double xv, yv
    cdef int j, slot
    cdef const double *ys = y_stat + j0
    cdef const double *column
    for p in range(x0, x1):
        xv = x_data[p]
        slot = dense_slot[x_indices[p]]
        if slot >= 0:
            column = dense_cols + slot * m + j0
            if kind == SPARSE_L1:
                for j in range(nb):
                    acc[j] += fabs(xv) + fabs(column[j]) - fabs(xv - column[j])
            else:
                for j in range(nb):
                    acc[j] += xv * column[j]
            continue
        q = cursor[p - x0]
        end = yt_indptr[x_indices[p] + 1]
        if kind == SPARSE_L1:
            while q < end and yt_indices[q] < j1:
                yv = yt_data[q]
                acc[yt_indices[q] - j0] += fabs(xv) + fabs(yv) - fabs(xv - yv)
                q += 1
        else:
            while q < end and yt_indices[q] < j1:
                acc[yt_indices[q] - j0] += xv * yt_data[q]
                q += 1
        cursor[p - x0] = q
    if kind == SPARSE_COSINE:
        for j in range(nb):
            row[j] = min(1.0 - acc[j] * (xs * ys[j]), 2.0)   # (xs ys): (j, i) has the same bits
            acc[j] = 0
        for j in range(nb):
            if row[j] < tau and xs != 0 and ys[j] != 0:
                row[j] = _sparse_exact(kind, x_data, x_indices, x0, x1, y_data, y_indices,
                                       y_indptr, j0 + j)
        return
    if kind == SPARSE_L1:
        for j in range(nb):
            row[j] = xs + ys[j] - acc[j]
            acc[j] = 0
    else:
        for j in range(nb):
            row[j] = xs + ys[j] - 2 * acc[j]
            acc[j] = 0
    for j in range(nb):
        if row[j] < tau * (xs + ys[j]):
            row[j] = _sparse_exact(kind, x_data, x_indices, x0, x1, y_data, y_indices,
                                   y_indptr, j0 + j)


def argkmin_sparse(
    const floating[::1] x_data, const sparse_index[::1] x_indices,
    const sparse_index[::1] x_indptr,          # IN X (n rows), CSR, sorted
    const floating[::1] y_data, const sparse_index[::1] y_indices,
    const sparse_index[::1] y_indptr,          # IN Y (m rows), CSR, sorted
    const floating[::1] yt_data, const sparse_index[::1] yt_indices,
    const sparse_index[::1] yt_indptr,         # IN Y transposed, CSR, sorted
    const int[::1] dense_slot,                 # IN (d,) row of dense_cols, or -1
    const double[:, ::1] dense_cols,           # IN (F, m) common features' columns
    int kind,                                  # IN SPARSE_KINDS entry
    const double[::1] x_stat,                  # IN (n,) see below
    const double[::1] y_stat,                  # IN (m,) the same for Y
    double tau,                                # IN recompute threshold
    double[:, ::1] heap_d,                     # IN/OUT (n, k) max-heaps: distances
    Py_ssize_t[:, ::1] heap_i,                 # IN/OUT (n, k) max-heaps: indices
    int n_threads,                             # IN
):
    """Offer every distance of ``kind`` between the rows of sparse X and Y
    to the heaps, block of rows of Y by block (_sparse_block).

    The sums over the features a pair shares give the distance through an
    identity: ``|x|^2 + |y|^2 - 2 x.y`` (row statistic ``|x|^2``), ``1 -
    x.y (1 / |x|) (1 / |y|)`` (statistic ``1 / |x|``, 0 for a zero row,
    whose distances are then 1), or ``|x|_1 + |y|_1 - sum (|x_f| + |y_f| -
    |x_f - y_f|)`` (statistic ``|x|_1``).  A pair whose value is below
    ``tau`` times the scale of the identity's rounding is recomputed from
    differences (as ``gemm_distances`` does for its tiles).  Every step
    gives (x, y) and (y, x) the same bits.  Extra memory per thread: two
    blocks of SPARSE_ROW_BLOCK doubles and a cursor per value of a row."""
    import numpy as np
    cdef:
        Py_ssize_t n = x_indptr.shape[0] - 1, m = y_indptr.shape[0] - 1
        Py_ssize_t i, j0, jb, x0, x1
        Py_ssize_t n_blocks = _cdiv(m, SPARSE_ROW_BLOCK)
        int k = <int> heap_d.shape[1], tid, nb
        double[:, ::1] sums = np.zeros((n_threads, SPARSE_ROW_BLOCK))
        double[:, ::1] rows = np.empty((n_threads, SPARSE_ROW_BLOCK))
        Py_ssize_t[:, ::1] cursors = np.empty((n_threads, _max_terms(x_indptr)), np.intp)
    if n == 0 or m == 0 or k == 0:
        return
    with nogil:
        for i in prange(n, schedule="dynamic", num_threads=n_threads):
            tid = threadid()
            x0 = x_indptr[i]
            x1 = x_indptr[i + 1]
            _start_row(&x_indices[0], x0, x1, &yt_indptr[0], &cursors[tid, 0])
            for jb in range(n_blocks):
                j0 = jb * SPARSE_ROW_BLOCK
                nb = <int> min(SPARSE_ROW_BLOCK, m - j0)
                _sparse_block(kind, &x_data[0], &x_indices[0], x0, x1, x_stat[i], &y_data[0],
                              &y_indices[0], &y_indptr[0], &y_stat[0], &yt_data[0],
                              &yt_indices[0], &yt_indptr[0], &dense_slot[0],
                              &dense_cols[0, 0], m, tau, j0, nb, &cursors[tid, 0],
                              &sums[tid, 0], &rows[tid, 0])
                _offer_row(&rows[tid, 0], nb, j0, k, &heap_d[i, 0], &heap_i[i, 0])


def sparse_distance_rows(
    const floating[::1] x_data, const sparse_index[::1] x_indices,
    const sparse_index[::1] x_indptr,          # IN X (n rows), CSR, sorted
    const floating[::1] y_data, const sparse_index[::1] y_indices,
    const sparse_index[::1] y_indptr,          # IN Y (m rows), CSR, sorted
    const floating[::1] yt_data, const sparse_index[::1] yt_indices,
    const sparse_index[::1] yt_indptr,         # IN Y transposed, CSR, sorted
    const int[::1] dense_slot,                 # IN (d,) row of dense_cols, or -1
    const double[:, ::1] dense_cols,           # IN (F, m) common features' columns
    int kind,                                  # IN SPARSE_KINDS entry
    const double[::1] x_stat,                  # IN (n,) as argkmin_sparse's
    const double[::1] y_stat,                  # IN (m,)
    double tau,                                # IN as argkmin_sparse's
    bint take_sqrt,                            # IN euclidean: the square roots
    floating[:, ::1] out,                      # OUT (n, m)
    int n_threads,                             # IN
):
    """The whole (n, m) matrix of the distances ``argkmin_sparse`` ranks on
    (their square roots with ``take_sqrt``), in the dtype of the rows."""
    import numpy as np
    cdef:
        Py_ssize_t n = x_indptr.shape[0] - 1, m = y_indptr.shape[0] - 1
        Py_ssize_t i, j, j0, jb, x0, x1
        Py_ssize_t n_blocks = _cdiv(m, SPARSE_ROW_BLOCK)
        int tid, nb
        double[:, ::1] sums = np.zeros((n_threads, SPARSE_ROW_BLOCK))
        double[:, ::1] rows = np.empty((n_threads, SPARSE_ROW_BLOCK))
        Py_ssize_t[:, ::1] cursors = np.empty((n_threads, _max_terms(x_indptr)), np.intp)
    if n == 0 or m == 0:
        return
    with nogil:
        for i in prange(n, schedule="dynamic", num_threads=n_threads):
            tid = threadid()
            x0 = x_indptr[i]
            x1 = x_indptr[i + 1]
            _start_row(&x_indices[0], x0, x1, &yt_indptr[0], &cursors[tid, 0])
            for jb in range(n_blocks):
                j0 = jb * SPARSE_ROW_BLOCK
                nb = <int> min(SPARSE_ROW_BLOCK, m - j0)
                _sparse_block(kind, &x_data[0], &x_indices[0], x0, x1, x_stat[i], &y_data[0],
                              &y_indices[0], &y_indptr[0], &y_stat[0], &yt_data[0],
                              &yt_indices[0], &yt_indptr[0], &dense_slot[0],
                              &dense_cols[0, 0], m, tau, j0, nb, &cursors[tid, 0],
                              &sums[tid, 0], &rows[tid, 0])
                if take_sqrt:
                    for j in range(nb):
                        out[i, j0 + j] = <floating> sqrt(rows[tid, j])
                else:
                    for j in range(nb):
                        out[i, j0 + j] = <floating> rows[tid, j]


def radius_sparse(
    const floating[::1] x_data, const sparse_index[::1] x_indices,
    const sparse_index[::1] x_indptr,          # IN X (n rows), CSR, sorted
    const floating[::1] y_data, const sparse_index[::1] y_indices,
    const sparse_index[::1] y_indptr,          # IN Y (m rows), CSR, sorted
    const floating[::1] yt_data, const sparse_index[::1] yt_indices,
    const sparse_index[::1] yt_indptr,         # IN Y transposed, CSR, sorted
    const int[::1] dense_slot,                 # IN (d,) row of dense_cols, or -1
    const double[:, ::1] dense_cols,           # IN (F, m) common features' columns
    int kind,                                  # IN SPARSE_KINDS entry
    const double[::1] x_stat,                  # IN (n,) as argkmin_sparse's
    const double[::1] y_stat,                  # IN (m,)
    double tau,                                # IN as argkmin_sparse's
    double bound,                              # IN keep distances <= bound (ranked kind)
    int n_threads,                             # IN
):
    """The rows of Y within ``bound`` of each row of X, by the distances
    ``argkmin_sparse`` ranks on.

    Returns (counts (n,) int64, indices int64, distances float64): row i's
    are the next counts[i] entries, in increasing index order."""
    import numpy as np
    cdef:
        Py_ssize_t n = x_indptr.shape[0] - 1, m = y_indptr.shape[0] - 1
        Py_ssize_t i, j0, jb, x0, x1, c, total = 0
        Py_ssize_t n_blocks = _cdiv(m, SPARSE_ROW_BLOCK)
        int tid, nb
        double[:, ::1] sums = np.zeros((n_threads, SPARSE_ROW_BLOCK))
        double[:, ::1] rows = np.empty((n_threads, SPARSE_ROW_BLOCK))
        Py_ssize_t[:, ::1] cursors = np.empty((n_threads, _max_terms(x_indptr)), np.intp)
        Py_ssize_t[::1] counts = np.zeros(n, np.intp)
        Py_ssize_t[::1] starts = np.zeros(n + 1, np.intp)
        Py_ssize_t **found_i = <Py_ssize_t **> calloc(max(n, 1), sizeof(Py_ssize_t *))
        double **found_d = <double **> calloc(max(n, 1), sizeof(double *))
        Py_ssize_t[::1] out_i
        double[::1] out_d
        int n_failed = 0
    if found_i == NULL or found_d == NULL:
        free(found_i)
        free(found_d)
        raise MemoryError()
    try:
        with nogil:
            for i in prange(n, schedule="dynamic", num_threads=n_threads):
                tid = threadid()
                x0 = x_indptr[i]
                x1 = x_indptr[i + 1]
                _start_row(&x_indices[0], x0, x1, &yt_indptr[0], &cursors[tid, 0])
                for jb in range(n_blocks):
                    j0 = jb * SPARSE_ROW_BLOCK
                    nb = <int> min(SPARSE_ROW_BLOCK, m - j0)
                    _sparse_block(kind, &x_data[0], &x_indices[0], x0, x1, x_stat[i],
                                  &y_data[0], &y_indices[0], &y_indptr[0], &y_stat[0],
                                  &yt_data[0], &yt_indices[0], &yt_indptr[0],
                                  &dense_slot[0], &dense_cols[0, 0], m, tau, j0, nb,
                                  &cursors[tid, 0], &sums[tid, 0], &rows[tid, 0])
                    n_failed += not _keep_within(&rows[tid, 0], nb, j0, bound,
                                                 &found_i[i], &found_d[i], &counts[i])
        if n_failed:
            raise MemoryError()
        for i in range(n):
            starts[i + 1] = starts[i] + counts[i]
        total = starts[n]
        out_i = np.empty(total, np.intp)
        out_d = np.empty(total, np.float64)
        with nogil:
            for i in prange(n, schedule="static", num_threads=n_threads):
                for c in range(counts[i]):
                    out_i[starts[i] + c] = found_i[i][c]
                    out_d[starts[i] + c] = found_d[i][c]
    finally:
        for i in range(n):
            free(found_i[i])
            free(found_d[i])
        free(found_i)
        free(found_d)
    return np.asarray(counts, np.int64), np.asarray(out_i, np.int64), np.asarray(out_d)


cdef inline bint _keep_within(const double *row, int nb, Py_ssize_t j0, double bound,
                              Py_ssize_t **found_i, double **found_d,
                              Py_ssize_t *count) noexcept nogil:
    """Append (j0 + j, row[j]) for every row[j] <= bound to one row's
    growing arrays; False if memory ran out."""
    cdef int j
    cdef Py_ssize_t size
    cdef void *grown
    for j in range(nb):
        if row[j] <= bound:
            size = count[0]
            if size & (size - 1) == 0:          # 0, 1, 2, 4, ...: double the room
                grown = realloc(found_i[0], max(2 * size, 8) * sizeof(Py_ssize_t))
                if grown == NULL:
                    return False
                found_i[0] = <Py_ssize_t *> grown
                grown = realloc(found_d[0], max(2 * size, 8) * sizeof(double))
                if grown == NULL:
                    return False
                found_d[0] = <double *> grown
            found_i[0][size] = j0 + j
            found_d[0][size] = row[j]
            count[0] = size + 1
    return True


def sparse_pair_distances(
    const floating[::1] x_data, const sparse_index[::1] x_indices,
    const sparse_index[::1] x_indptr,
    const floating[::1] y_data, const sparse_index[::1] y_indices,
    const sparse_index[::1] y_indptr,
    int kind,                                  # IN SPARSE_KINDS entry
    const Py_ssize_t[::1] x_rows,              # IN (P,) a row of X per pair
    const Py_ssize_t[::1] y_rows,              # IN (P,) a row of Y per pair
    double[::1] out,                           # IN/OUT (P,)
    int n_threads,
):
    """The distances of the pairs (x_rows[p], y_rows[p]) from differences:
    the candidates of ``argkmin_sparse`` and ``radius_sparse`` to full
    accuracy (a cosine distance of 1 or more -- a zero row, or x.y <= 0 --
    is kept as it is)."""
    cdef Py_ssize_t n_pairs = x_rows.shape[0], p, i
    with nogil:
        for p in prange(n_pairs, schedule="static", num_threads=n_threads):
            i = x_rows[p]
            if kind != SPARSE_COSINE or out[p] < 1.0:
                out[p] = _sparse_exact(kind, &x_data[0], &x_indices[0], x_indptr[i],
                                       x_indptr[i + 1], &y_data[0], &y_indices[0],
                                       &y_indptr[0], y_rows[p])
