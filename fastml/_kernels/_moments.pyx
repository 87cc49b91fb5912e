# cython: language_level=3
"""Compiled per-column statistics of row blocks.

Nothing here validates its input: ``fastml.kernels`` passes a C-contiguous
float32 or float64 array, sample weights (or none), and output arrays with
one row per block of ``block_rows`` rows.  The GIL is released throughout.

Each block is read twice while it is in cache: once for the weighted count,
sum, minimum and maximum of every column, once for the sum of squared
deviations from the block's own mean (two passes are exact where a one-pass
sum of squares cancels).  Blocks are fixed by ``block_rows``, not by the
thread count, so the statistics, merged afterwards in block order, do not
depend on ``n_threads``.  NaN values, and rows of weight 0, are skipped;
everything accumulates in float64.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs, isnan, INFINITY, NAN

cdef extern from "moments.h" nogil:
    void fastml_block_sums_f64(const double *X, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t d,
                               double *count, double *sum, double *low, double *high)
    void fastml_block_sums_f32(const float *X, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t d,
                               double *count, double *sum, double *low, double *high)
    void fastml_block_m2_f64(const double *X, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t d,
                             const double *mean, double *m2)
    void fastml_block_m2_f32(const float *X, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t d,
                             const double *mean, double *m2)


cdef inline void _sums_to_means(
    Py_ssize_t d, const double *count, double *mean, double *low, double *high,
) noexcept nogil:
    """Sums become means; a column without values gets NaN statistics."""
    cdef Py_ssize_t j
    for j in range(d):
        if count[j] > 0:
            mean[j] = mean[j] / count[j]
        else:
            mean[j] = NAN
            low[j] = NAN
            high[j] = NAN


cdef void _block_moments(
    const floating *X, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t d,
    const double *w,              # sample weights, or NULL for 1
    bint deviations,              # also the second pass (M2); else m2 stays 0
    double *count, double *mean, double *m2, double *low, double *high,
) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double x, wi = 1.0, dev
    if w == NULL:  # the common case, in vectorised C (moments.c)
        _unweighted_block_moments(X, row0, row1, d, deviations, count, mean, m2, low, high)
        return
    for j in range(d):
        count[j] = 0.0
        mean[j] = 0.0
        m2[j] = 0.0
        low[j] = INFINITY
        high[j] = -INFINITY
    for i in range(row0, row1):
        if w != NULL:
            wi = w[i]
            if wi == 0:  # weights are repetitions: weight 0 is no row at all
                continue
        for j in range(d):
            # selects rather than branches, so the loop vectorises; a NaN
            # compares false everywhere and so changes nothing
            x = X[i * d + j]
            count[j] += wi if x == x else 0.0
            mean[j] += wi * x if x == x else 0.0
            low[j] = x if x < low[j] else low[j]
            high[j] = x if x > high[j] else high[j]
    _sums_to_means(d, count, mean, low, high)
    if not deviations:
        return
    for i in range(row0, row1):
        if w != NULL:
            wi = w[i]
        for j in range(d):
            x = X[i * d + j]
            dev = x - mean[j]
            m2[j] += wi * dev * dev if x == x else 0.0


cdef void _unweighted_block_moments(
    const floating *X, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t d, bint deviations,
    double *count, double *mean, double *m2, double *low, double *high,
) noexcept nogil:
    """_block_moments without weights: the same sums in the same order."""
    cdef Py_ssize_t j
    if floating is double:
        fastml_block_sums_f64(X, row0, row1, d, count, mean, low, high)
    else:
        fastml_block_sums_f32(X, row0, row1, d, count, mean, low, high)
    _sums_to_means(d, count, mean, low, high)
    if not deviations:
        for j in range(d):
            m2[j] = 0.0
        return
    if floating is double:
        fastml_block_m2_f64(X, row0, row1, d, mean, m2)
    else:
        fastml_block_m2_f32(X, row0, row1, d, mean, m2)


def block_moments(
    const floating[:, ::1] X,      # IN (n, d)
    const double[::1] w,           # IN (n,) sample weights, or size 0 for none
    Py_ssize_t block_rows,         # IN rows per block
    bint deviations,               # IN compute M2 (a second pass); else 0
    double[:, ::1] count,          # OUT (n_blocks, d) weighted count of non-NaN
    double[:, ::1] mean,           # OUT (n_blocks, d) mean (NaN if count 0)
    double[:, ::1] m2,             # OUT (n_blocks, d) sum of w * (x - mean)^2
    double[:, ::1] low,            # OUT (n_blocks, d) minimum (NaN if count 0)
    double[:, ::1] high,           # OUT (n_blocks, d) maximum (NaN if count 0)
    int n_threads,                 # IN
):
    """Statistics of every column over each block of ``block_rows`` rows."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], b
    cdef Py_ssize_t n_blocks = count.shape[0]
    cdef const double *wp = &w[0] if w.shape[0] > 0 else NULL
    if n == 0 or d == 0:
        return
    with nogil:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            _block_moments(&X[0, 0], b * block_rows, min((b + 1) * block_rows, n), d, wp,
                           deviations, &count[b, 0], &mean[b, 0], &m2[b, 0], &low[b, 0], &high[b, 0])


def center_divide(
    const floating[:, ::1] X,      # IN (n, d)
    const double[::1] center,      # IN (d,) subtracted first (zeros: none)
    const double[::1] scale,       # IN (d,) then divided by
    floating[:, ::1] out,          # OUT (n, d), may be X itself
    int n_threads,                 # IN
):
    """out = (X - center) / scale, computed in float64 and rounded once to
    the dtype of X; NaN stays NaN."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            for j in range(d):
                out[i, j] = <floating> ((<double> X[i, j] - center[j]) / scale[j])


def multiply_add(
    const floating[:, ::1] X,      # IN (n, d)
    const double[::1] factor,      # IN (d,) multiplied first
    const double[::1] offset,      # IN (d,) then added
    bint clip,                     # IN clip the result to [low, high]
    double low,                    # IN
    double high,                   # IN
    floating[:, ::1] out,          # OUT (n, d), may be X itself
    int n_threads,                 # IN
):
    """out = X * factor + offset (optionally clipped), computed in float64
    and rounded once to the dtype of X; NaN stays NaN."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j
    cdef double v
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            for j in range(d):
                v = <double> X[i, j] * factor[j] + offset[j]
                if clip:
                    v = low if v < low else (high if v > high else v)
                out[i, j] = <floating> v


def block_max_abs(
    const floating[:, ::1] X,      # IN (n, d)
    Py_ssize_t block_rows,         # IN rows per block
    double[:, ::1] high,           # OUT (n_blocks, d) largest |x| (-1 if no value)
    int n_threads,                 # IN
):
    """The largest absolute value of every column over each block of
    ``block_rows`` rows, NaN skipped: the one statistic of MaxAbsScaler,
    read in a single pass without the moments' other accumulators."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], b, i, j, row1
    cdef double v
    cdef double *h
    if n == 0 or d == 0:
        return
    with nogil:
        for b in prange(high.shape[0], schedule="static", num_threads=n_threads):
            h = &high[b, 0]
            for j in range(d):
                h[j] = -1.0
            row1 = min((b + 1) * block_rows, n)
            for i in range(b * block_rows, row1):
                for j in range(d):
                    # a select, so the loop vectorises; NaN compares false
                    v = fabs(<double> X[i, j])
                    h[j] = v if v > h[j] else h[j]
