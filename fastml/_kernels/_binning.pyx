# cython: language_level=3
"""Compiled per-column lookups in sorted tables: bin codes and quantile maps.

Nothing here validates its input: ``fastml.kernels`` passes C-contiguous
arrays of the right shapes, tables sorted ascending per column, and an
output array.  The GIL is released throughout; rows are split over threads,
and every element is computed independently, so the result does not depend
on ``n_threads``.

Both lookups use one search: the number of table values <= x (what
``np.searchsorted(table, x, side="right")`` returns), found branch-free so
that searches overlap in the CPU; bin codes run several rows' searches in
lockstep.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isnan, INFINITY, NAN
from scipy.special.cython_special cimport ndtri, ndtr


ctypedef fused code_t:
    unsigned char
    unsigned short
    float
    double


cdef inline Py_ssize_t _count_le(const double *table, Py_ssize_t n, double x) noexcept nogil:
    """Number of table[0:n] <= x (table ascending); 0 for NaN."""
    cdef const double *base = table
    cdef Py_ssize_t half
    if n == 0:
        return 0
    # invariant: every value before base is <= x, every value from
    # base + n on is > x
    while n > 1:
        half = n >> 1
        base = base + half if base[half] <= x else base
        n -= half
    return (base - table) + (base[0] <= x)


cdef enum:
    LANES = 8  # searches bin_codes runs in lockstep (rows of one column)


cdef inline void _count_le_lanes(const double *table, Py_ssize_t n, const double *x,
                                 Py_ssize_t *count) noexcept nogil:
    """_count_le of LANES values at once: the searches run in lockstep, so
    their dependent loads overlap (1.7x one at a time)."""
    cdef const double *base[LANES]
    cdef Py_ssize_t half, r
    for r in range(LANES):
        base[r] = table
    if n == 0:
        for r in range(LANES):
            count[r] = 0
        return
    while n > 1:
        half = n >> 1
        for r in range(LANES):
            base[r] = base[r] + half if base[r][half] <= x[r] else base[r]
        n -= half
    for r in range(LANES):
        count[r] = (base[r] - table) + (base[r][0] <= x[r])


cdef void _bin_row_group(const floating[:, ::1] X, Py_ssize_t i, const double[::1] edges,
                         const Py_ssize_t[::1] offsets, const double[::1] nan_code,
                         code_t[:, ::1] out) noexcept nogil:
    """Rows i .. i + LANES - 1 of bin_codes, column by column."""
    cdef double x[LANES]
    cdef Py_ssize_t count[LANES]
    cdef Py_ssize_t j, r
    for j in range(X.shape[1]):
        for r in range(LANES):
            x[r] = X[i + r, j]
        _count_le_lanes(&edges[offsets[j]], offsets[j + 1] - offsets[j], x, count)
        for r in range(LANES):
            out[i + r, j] = <code_t> (nan_code[j] if isnan(x[r]) else count[r])


def bin_codes(
    const floating[:, ::1] X,      # IN (n, d)
    const double[::1] edges,       # IN inner bin edges of every column, concatenated
    const Py_ssize_t[::1] offsets, # IN (d + 1,) column j's edges: edges[offsets[j]:offsets[j+1]]
    const double[::1] nan_code,    # IN (d,) code written for NaN
    code_t[:, ::1] out,            # OUT (n, d)
    int n_threads,                 # IN
):
    """out[i, j] = the number of column j's edges <= X[i, j], NaN to nan_code[j].
    Rows go LANES at a time (``_bin_row_group``), the rest one by one."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j, group
    cdef double x
    with nogil:
        for group in prange(n // LANES, schedule="static", num_threads=n_threads):
            _bin_row_group(X, group * LANES, edges, offsets, nan_code, out)
        for i in range(n - n % LANES, n):
            for j in range(d):
                x = X[i, j]
                if isnan(x):
                    out[i, j] = <code_t> nan_code[j]
                else:
                    out[i, j] = <code_t> _count_le(&edges[offsets[j]],
                                                   offsets[j + 1] - offsets[j], x)


cdef inline double _interp(double x, const double *xp, const double *fp, Py_ssize_t m) noexcept nogil:
    """``np.interp(x, xp, fp)`` for ascending xp of length m >= 1, with
    NumPy's rounding: the segment [xp[j], xp[j+1]) holding x, the slope of
    that segment, and its fallbacks for infinite slopes."""
    cdef Py_ssize_t j = _count_le(xp, m, x) - 1
    cdef double slope, y
    if j < 0:
        return fp[0]
    if j >= m - 1:
        return fp[m - 1]
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    y = slope * (x - xp[j]) + fp[j]
    if isnan(y):
        y = slope * (x - xp[j + 1]) + fp[j + 1]
        if isnan(y) and fp[j] == fp[j + 1]:
            y = fp[j]
    return y


def quantile_map(
    const floating[:, ::1] X,      # IN (n, d)
    const double[:, ::1] quantiles,  # IN (d, m) each column's quantiles, ascending
    const double[:, ::1] mirrored, # IN (d, m) -quantiles[:, ::-1]
    const double[::1] references,  # IN (m,) the quantile levels, 0 ... 1
    const double[::1] mirrored_references,  # IN (m,) -references[::-1]
    bint inverse,                  # IN False: values to levels; True: levels to values
    bint normal,                   # IN output (or input, if inverse) is standard normal
    double bound,                  # IN distance of the bound tests (normal only)
    double clip_low,               # IN normal output clipped to [clip_low, clip_high]
    double clip_high,              # IN
    floating[:, ::1] out,          # OUT (n, d), may be X itself
    int n_threads,                 # IN
):
    """scikit-learn's QuantileTransformer, one element at a time.

    Forward: the average of the interpolation from below and from above
    (so that tied quantiles map to the middle of their levels), values at
    the ends (or, for normal output, within ``bound`` of them) to 0 and 1,
    and for normal output the normal quantile function, clipped.  Inverse:
    the normal CDF first (normal input), then interpolation from levels to
    values.  NaN stays NaN.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], m = references.shape[0], i, j
    cdef double x, y, low, high
    cdef floating xt
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            for j in range(d):
                xt = X[i, j]
                x = xt
                low = quantiles[j, 0]
                high = quantiles[j, m - 1]
                if isnan(x) or isnan(low):  # no value, or a column fitted without any
                    out[i, j] = <floating> NAN
                    continue
                if not inverse:
                    y = 0.5 * (_interp(x, &quantiles[j, 0], &references[0], m)
                               - _interp(-x, &mirrored[j, 0], &mirrored_references[0], m))
                    if normal:
                        # the bound tests run in X's dtype, as scikit-learn's do
                        if <floating> (xt + <floating> bound) > high:
                            y = 1.0
                        if <floating> (xt - <floating> bound) < low:
                            y = 0.0
                        # float32 goes through float32 on the way, as in SciPy
                        y = <floating> ndtri(<double> <floating> y)
                        y = clip_low if y < clip_low else (clip_high if y > clip_high else y)
                    else:
                        if x == high:
                            y = 1.0
                        if x == low:
                            y = 0.0
                else:
                    if normal:
                        x = ndtr(x)
                        y = _interp(x, &references[0], &quantiles[j, 0], m)
                        if x + bound > 1.0:
                            y = high
                        if x - bound < 0.0:
                            y = low
                    else:
                        y = _interp(x, &references[0], &quantiles[j, 0], m)
                        if x == 1.0:
                            y = high
                        if x == 0.0:
                            y = low
                out[i, j] = <floating> y


# ---------------------------------------------------------------- selection

# Buckets: 0 holds the values below a window [low, low + n_inner / scale],
# the last one the values above it, and the ones between split the window
# into equal widths, so bucket order is value order and the values at given
# sorted positions lie in known buckets.


def value_range(const floating[::1] column):
    """``(low, high, count)`` of the non-NaN values (low > high if none)."""
    cdef Py_ssize_t i, n = column.shape[0], count = 0
    cdef double x, low = INFINITY, high = -INFINITY
    with nogil:
        for i in range(n):
            x = column[i]
            # selects, so the loop vectorises; NaN compares false
            count += 1 if x == x else 0
            low = x if x < low else low
            high = x if x > high else high
    return low, high, count


cdef inline Py_ssize_t _bucket(double x, double low, double scale, double last) noexcept nogil:
    """Bucket of a non-NaN x, ``last`` the index of the above-window
    bucket: clamped with selects rather than branches (half the values may
    fall on either side of a narrow window), monotone in x."""
    cdef double t = (x - low) * scale
    t = t if t >= 0.0 else -1.0
    t = t if t < last - 1.0 else last - 1.0
    return 1 + <Py_ssize_t> t


def bucket_counts(
    const floating[::1] column,    # IN (n,)
    double low,                    # IN where the window starts
    double scale,                  # IN inner buckets per unit of the window
    Py_ssize_t[::1] counts,        # OUT (n_buckets,) zeroed by the caller
):
    """Count the non-NaN values of each bucket."""
    cdef Py_ssize_t i, n = column.shape[0]
    cdef double x, last = counts.shape[0] - 1
    with nogil:
        for i in range(n):
            x = column[i]
            if x == x:
                counts[_bucket(x, low, scale, last)] += 1


def bucket_collect(
    const floating[::1] column,    # IN (n,)
    double low,                    # IN as for bucket_counts
    double scale,                  # IN
    const unsigned char[::1] wanted,  # IN (n_buckets,) 1 for the buckets to keep
    floating[::1] out,             # OUT the kept values, in input order
):
    """Copy the values of the wanted buckets (never NaN) into out."""
    cdef Py_ssize_t i, n = column.shape[0], kept = 0
    cdef double last = wanted.shape[0] - 1
    cdef floating x
    with nogil:
        for i in range(n):
            x = column[i]
            if x == x and wanted[_bucket(x, low, scale, last)]:
                out[kept] = x
                kept += 1


# ---------------------------------------------------------------- quantile summaries

def add_rank_bounds(
    const double[::1] values,      # IN (m,) one summary column's entries, ascending, distinct
    const long long[::1] rmin,     # IN (m,) lower bounds on the values below each entry
    const long long[::1] rmax,     # IN (m,) upper bounds on the values up to each entry
    const long long[::1] count,    # IN (m,) lower bounds on each entry's repeats
    long long n,                   # IN values the column summarises
    const double[::1] points,      # IN (u,) ascending, a superset of values
    long long[::1] low,            # IN/OUT (u,) += the summary's rmin at each point
    long long[::1] high,           # IN/OUT (u,) += its rmax at each point
    long long[::1] repeats,        # IN/OUT (u,) += its count at each point
):
    """Add the rank bounds one summary column gives to each point: its own
    entry's where it has the point's value; else the sure count of values
    up to its predecessor (rmin + count) and the most values below its
    successor (rmax - count), with count 0.  One merge-like pass."""
    cdef Py_ssize_t i = 0, u, m = values.shape[0]
    cdef double p
    with nogil:
        for u in range(points.shape[0]):
            p = points[u]
            while i < m and values[i] < p:
                i += 1
            if i < m and values[i] == p:
                low[u] += rmin[i]
                high[u] += rmax[i]
                repeats[u] += count[i]
            else:
                low[u] += rmin[i - 1] + count[i - 1] if i > 0 else 0
                high[u] += rmax[i] - count[i] if i < m else n
