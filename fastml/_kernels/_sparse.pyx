# cython: language_level=3
"""Compiled kernels over the ``data`` / ``indices`` / ``indptr`` arrays of
CSR and CSC matrices.

Nothing here validates its input: ``fastml.kernels.sparse`` passes float32
or float64 ``data``, ``np.intp`` ``indices`` and ``indptr``, sample weights
(or none) and output arrays of the right shapes.  The GIL is released
throughout; everything accumulates in float64.

Column statistics visit each column's stored values in row order (CSR: one
serial pass over the rows; CSC: one column per iteration, columns spread
over threads), so the results do not depend on ``n_threads``.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdlib cimport qsort


ctypedef fused index_t:         # the input's indices, int32 or int64, read as they are
    int
    long long


cdef inline double _weight(const double *w, Py_ssize_t i) noexcept nogil:
    return 1.0 if w == NULL else w[i]


def csr_column_sums(
    const floating[::1] data,      # IN (nnz,)
    const index_t[::1] indices, # IN (nnz,) column of each value
    const Py_ssize_t[::1] indptr,  # IN (n + 1,)
    const double[::1] w,           # IN (n,) sample weights, or size 0 for none
    double[::1] stored,            # OUT (d,) weight of the stored values (NaN included)
    double[::1] nan,               # OUT (d,) weight of the stored NaN values
    double[::1] sums,              # OUT (d,) weighted sum of the stored non-NaN values
    double[::1] low,               # OUT (d,) smallest stored non-NaN value (+inf if none)
    double[::1] high,              # OUT (d,) largest stored non-NaN value (-inf if none)
    double[::1] entries,           # OUT (d,) stored values in rows of weight > 0 (a count)
):
    """First pass of the column moments of a CSR matrix: rows in order,
    each value added to its column's accumulators.  Rows of weight 0 are
    skipped (weights are repetitions)."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, j
    cdef const double *wp = &w[0] if w.shape[0] > 0 else NULL
    cdef double wi, x
    with nogil:
        for i in range(n):
            wi = _weight(wp, i)
            if wi == 0:
                continue
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                x = data[k]
                entries[j] += 1
                stored[j] += wi
                if x != x:
                    nan[j] += wi
                    continue
                sums[j] += wi * x
                if x < low[j]:
                    low[j] = x
                if x > high[j]:
                    high[j] = x


def csr_column_m2(
    const floating[::1] data,      # IN (nnz,)
    const index_t[::1] indices, # IN (nnz,)
    const Py_ssize_t[::1] indptr,  # IN (n + 1,)
    const double[::1] w,           # IN (n,) or size 0
    const double[::1] mean,        # IN (d,) column means (zeros included)
    double[::1] m2,                # OUT (d,) weighted sum of (x - mean)^2 over stored non-NaN
):
    """Second pass of the column moments of a CSR matrix."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, j
    cdef const double *wp = &w[0] if w.shape[0] > 0 else NULL
    cdef double wi, x, dev
    with nogil:
        for i in range(n):
            wi = _weight(wp, i)
            if wi == 0:
                continue
            for k in range(indptr[i], indptr[i + 1]):
                x = data[k]
                if x == x:
                    j = indices[k]
                    dev = x - mean[j]
                    m2[j] += wi * dev * dev


cdef void _csc_column(
    const floating *data, const index_t *rows, Py_ssize_t start, Py_ssize_t stop,
    const double *w, double total, bint deviations,
    double *stored, double *nan, double *sums, double *low, double *high, double *m2,
    double *entries,
) noexcept nogil:
    """Both passes over one column of a CSC matrix (its values in row
    order when the indices are sorted)."""
    cdef Py_ssize_t k
    cdef double wi, x, count, mean, dev, acc = 0.0
    stored[0] = 0.0
    entries[0] = 0.0
    nan[0] = 0.0
    sums[0] = 0.0
    low[0] = INFINITY
    high[0] = -INFINITY
    for k in range(start, stop):
        wi = _weight(w, rows[k])
        if wi == 0:
            continue
        x = data[k]
        entries[0] += 1
        stored[0] += wi
        if x != x:
            nan[0] += wi
            continue
        sums[0] += wi * x
        if x < low[0]:
            low[0] = x
        if x > high[0]:
            high[0] = x
    m2[0] = 0.0
    count = total - nan[0]
    if not deviations or count <= 0:
        return
    mean = sums[0] / count
    for k in range(start, stop):
        x = data[k]
        if x == x:
            dev = x - mean
            acc += _weight(w, rows[k]) * dev * dev
    m2[0] = acc


def csc_column_moments(
    const floating[::1] data,      # IN (nnz,)
    const index_t[::1] indices, # IN (nnz,) row of each value
    const Py_ssize_t[::1] indptr,  # IN (d + 1,)
    const double[::1] w,           # IN (n,) or size 0
    double total,                  # IN total weight of the rows
    bint deviations,               # IN also the second pass
    double[::1] stored, double[::1] nan, double[::1] sums,   # OUT (d,) as csr_column_sums
    double[::1] low, double[::1] high,                       # OUT (d,)
    double[::1] m2,                # OUT (d,) as csr_column_m2 (0 without deviations)
    double[::1] entries,           # OUT (d,) as csr_column_sums
    int n_threads,
):
    """Both passes of the column moments of a CSC matrix, a column per
    iteration, columns spread over ``n_threads`` threads."""
    cdef Py_ssize_t d = indptr.shape[0] - 1, j
    cdef const double *wp = &w[0] if w.shape[0] > 0 else NULL
    cdef const floating *dp = &data[0] if data.shape[0] > 0 else NULL
    cdef const index_t *rp = &indices[0] if indices.shape[0] > 0 else NULL
    with nogil:
        for j in prange(d, schedule="static", num_threads=n_threads):
            _csc_column(dp, rp, indptr[j], indptr[j + 1], wp, total, deviations,
                        &stored[j], &nan[j], &sums[j], &low[j], &high[j], &m2[j], &entries[j])


def scale_by_index(
    const floating[::1] data,      # IN (nnz,)
    const index_t[::1] indices, # IN (nnz,) column of each value (CSR)
    const double[::1] factor,      # IN (d,)
    bint clip,                     # IN clip the result to [-1, 1]
    floating[::1] out,             # OUT (nnz,), may be data itself
    int n_threads,
):
    """out[k] = data[k] * factor[indices[k]], in float64, rounded once."""
    cdef Py_ssize_t k
    cdef double v
    with nogil:
        for k in prange(data.shape[0], schedule="static", num_threads=n_threads):
            v = <double> data[k] * factor[indices[k]]
            if clip:
                v = -1.0 if v < -1.0 else (1.0 if v > 1.0 else v)
            out[k] = <floating> v


def scale_by_segment(
    const floating[::1] data,      # IN (nnz,)
    const Py_ssize_t[::1] indptr,  # IN (d + 1,) the values of column j: indptr[j]:indptr[j+1] (CSC)
    const double[::1] factor,      # IN (d,)
    bint clip,                     # IN
    floating[::1] out,             # OUT (nnz,), may be data itself
    int n_threads,
):
    """out[k] = data[k] * factor[j] for the values k of column j."""
    cdef Py_ssize_t j, k, d = indptr.shape[0] - 1
    cdef double v
    with nogil:
        for j in prange(d, schedule="static", num_threads=n_threads):
            for k in range(indptr[j], indptr[j + 1]):
                v = <double> data[k] * factor[j]
                if clip:
                    v = -1.0 if v < -1.0 else (1.0 if v > 1.0 else v)
                out[k] = <floating> v


cdef int _cmp_f64(const void *a, const void *b) noexcept nogil:
    cdef double x = (<const double *> a)[0], y = (<const double *> b)[0]
    return (x > y) - (x < y)


def sorted_segments(
    const floating[::1] data,      # IN (nnz,)
    const Py_ssize_t[::1] indptr,  # IN (d + 1,) segments (CSC columns)
    double[::1] out,               # OUT (nnz,) each segment's non-NaN values, sorted, first
    Py_ssize_t[::1] count,         # OUT (d,) non-NaN values of each segment
    Py_ssize_t[::1] negative,      # OUT (d,) values < 0 of each segment
    int n_threads,
):
    """The stored non-NaN values of every column, sorted, at the start of
    the column's own range of ``out`` (the rest of the range is unused)."""
    cdef Py_ssize_t d = indptr.shape[0] - 1, j, k, m, neg
    cdef double x
    with nogil:
        for j in prange(d, schedule="dynamic", num_threads=n_threads):
            m = 0
            neg = 0
            for k in range(indptr[j], indptr[j + 1]):
                x = data[k]
                if x == x:
                    out[indptr[j] + m] = x
                    m = m + 1
                    if x < 0:
                        neg = neg + 1
            if m > 1:
                qsort(&out[indptr[j]], m, sizeof(double), _cmp_f64)
            count[j] = m
            negative[j] = neg


# ------------------------------------------------------------------ polynomial features
DEF MAX_POLY_DEGREE = 32

ctypedef fused out_index:       # the output's column indices: int32 when they fit
    int
    long long


cdef void _poly_row(
    const floating *v, const Py_ssize_t *f, Py_ssize_t s,   # the row's values and features
    const Py_ssize_t *degrees, Py_ssize_t n_degrees, const long long *offsets,
    const long long *ta, const long long *tb, Py_ssize_t stride, bint interaction_only,
    bint include_bias,
    floating *out_v, out_index *out_c,
) noexcept nogil:
    """Every monomial of the row's stored values, column by column: the
    bias, then for each degree k the combinations of k stored features
    (with repetition unless interaction_only) in lexicographic order, which
    is the order of their output columns.  A monomial's column is its
    degree's offset plus its rank among all combinations of the features,
    summed position by position: with T[r, v] the number of combinations
    whose value at a position with r more after it is below v, position q
    adds T[r, f_q] - T[r, f_{q-1} + gap].  ``f`` are the compact feature
    codes c (ascending with the features), ta[r, c] = T[r, feature c] and
    tb[r, c] = T[r, feature c + gap]."""
    cdef Py_ssize_t pos[MAX_POLY_DEGREE]
    cdef floating prod[MAX_POLY_DEGREE]
    cdef long long rank[MAX_POLY_DEGREE]
    cdef Py_ssize_t w = 0, di, k, p, q, t, last, gap = 1 if interaction_only else 0
    cdef long long base
    cdef floating pr
    if include_bias:
        out_v[0] = 1
        out_c[0] = 0
        w = 1
    for di in range(n_degrees):
        k = degrees[di]
        if s < (k if interaction_only else 1):
            continue
        if k == 1:                # T[0, v] = v: the feature itself
            for t in range(s):
                out_v[w] = v[t]
                out_c[w] = <out_index> (offsets[di] + ta[f[t]])
                w += 1
            continue
        # the first k - 1 positions move like an odometer; for each of
        # their combinations, one tight loop over the last position
        last = k - 2
        for p in range(k - 1):
            pos[p] = 0 if p == 0 else pos[p - 1] + gap
        p = 0                     # prefix products and ranks from position p on
        while True:
            for q in range(p, k - 1):
                prod[q] = v[pos[q]] if q == 0 else prod[q - 1] * v[pos[q]]
                rank[q] = ta[(k - q - 1) * stride + f[pos[q]]] + (
                    0 if q == 0 else rank[q - 1] - tb[(k - q - 1) * stride + f[pos[q - 1]]])
            base = offsets[di] + rank[last] - tb[f[pos[last]]]
            pr = prod[last]
            for t in range(pos[last] + gap, s):
                out_v[w] = pr * v[t]
                out_c[w] = <out_index> (base + ta[f[t]])
                w += 1
            p = last              # the next combination of the first k - 1
            while p >= 0:
                pos[p] += 1
                if pos[p] <= s - 1 - gap * (k - 1 - p):
                    break
                p -= 1
            if p < 0:
                break
            for q in range(p + 1, k - 1):
                pos[q] = pos[q - 1] + gap


def csr_polynomial(
    const floating[::1] data,      # IN (nnz,) X, CSR with sorted indices, no duplicates
    const Py_ssize_t[::1] indices, # IN (nnz,) compact feature codes (ascending with features)
    const Py_ssize_t[::1] indptr,
    const Py_ssize_t[::1] degrees, # IN ascending degrees >= 1 to emit (<= MAX_POLY_DEGREE)
    const long long[::1] offsets,  # IN first output column of each degree
    const long long[:, ::1] ta,    # IN (max_degree, n_codes) rank table at each feature
    const long long[:, ::1] tb,    # IN (max_degree, n_codes) ... at each feature + gap
    bint interaction_only, bint include_bias,
    const Py_ssize_t[::1] out_ptr, # IN (n + 1,) where each output row starts
    floating[::1] out_data,        # OUT (out_ptr[n],)
    out_index[::1] out_indices,    # OUT (out_ptr[n],) sorted within each row
    int n_threads,
):
    """Polynomial features of a CSR matrix, rows over threads."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, i
    cdef const floating *dp = &data[0] if data.shape[0] > 0 else NULL
    cdef const Py_ssize_t *ip = &indices[0] if indices.shape[0] > 0 else NULL
    if out_data.shape[0] == 0:
        return
    with nogil:
        for i in prange(n, schedule="dynamic", chunksize=64, num_threads=n_threads):
            if out_ptr[i + 1] > out_ptr[i]:
                _poly_row(dp + indptr[i] if dp != NULL else NULL,
                          ip + indptr[i] if ip != NULL else NULL,
                          indptr[i + 1] - indptr[i], &degrees[0], degrees.shape[0],
                          &offsets[0], &ta[0, 0], &tb[0, 0], ta.shape[1], interaction_only,
                          include_bias, &out_data[out_ptr[i]], &out_indices[out_ptr[i]])
