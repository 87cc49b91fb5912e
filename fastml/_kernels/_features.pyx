# cython: language_level=3
"""Compiled feature expansions: polynomial features and random Fourier
features, each one pass over the rows, parallel over row blocks.

Nothing here validates its input: ``fastml.kernels`` passes C-contiguous
arrays of the right shapes and a fresh output array.  The GIL is released
throughout; every output row depends on its input row only, so the result
does not depend on ``n_threads``.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid


cdef extern from "fourier.h" nogil:
    void fastml_fourier_rows_f64(const double *x, int rows, int d, const double *W, int m,
                                 const double *b, double scale, double *acc, double *out)
    void fastml_fourier_rows_f32(const float *x, int rows, int d, const double *W, int m,
                                 const double *b, double scale, double *acc, float *out)
    void fastml_cos_inplace(double *v, int n)


FOURIER_ROWS = 4   # rows sharing each pass over W (the scratch holds this many)
cdef Py_ssize_t FOURIER_ROWS_C = FOURIER_ROWS


def polynomial_rows(
    const floating[:, ::1] X,          # IN (n, d)
    const Py_ssize_t[::1] parent,      # IN (p,) column c = column parent[c] * X[:, feature[c]];
    const Py_ssize_t[::1] feature,     # IN (p,)   parent -1: X[:, feature[c]]; -2: 1
    const Py_ssize_t[::1] keep,        # IN (q,) the columns written out, in order
    floating[:, ::1] scratch,          # TMP (n_threads, p) one row buffer per thread
    floating[:, ::1] out,              # OUT (n, q)
    int n_threads,                     # IN
):
    """Every row's monomials, each the product of an earlier one and a
    feature (in X's dtype, the order scikit-learn multiplies in), built in
    the thread's row buffer and copied out."""
    cdef Py_ssize_t n = X.shape[0], p = parent.shape[0], q = keep.shape[0], i, c
    cdef floating *row
    with nogil, parallel(num_threads=n_threads):
        row = &scratch[threadid(), 0]
        for i in prange(n, schedule="static"):
            for c in range(p):
                if parent[c] == -2:
                    row[c] = 1
                elif parent[c] == -1:
                    row[c] = X[i, feature[c]]
                else:
                    row[c] = row[parent[c]] * X[i, feature[c]]
            for c in range(q):
                out[i, c] = row[keep[c]]


def fourier_rows(
    const floating[:, ::1] X,          # IN (n, d)
    const double[:, ::1] W,            # IN (d, m) random weights
    const double[::1] offset,          # IN (m,) random offsets
    double scale,                      # IN sqrt(2 / m)
    double[:, ::1] scratch,            # TMP (n_threads, FOURIER_ROWS * m) per-thread buffer
    floating[:, ::1] out,              # OUT (n, m)
    int n_threads,                     # IN
):
    """out = scale * cos(X @ W + offset), FOURIER_ROWS rows at a time in float64."""
    cdef Py_ssize_t n = X.shape[0], block, n_blocks = (X.shape[0] + FOURIER_ROWS_C - 1) // FOURIER_ROWS_C
    cdef int d = X.shape[1], m = W.shape[1], rows
    cdef double *acc
    with nogil, parallel(num_threads=n_threads):
        acc = &scratch[threadid(), 0]
        for block in prange(n_blocks, schedule="static"):
            rows = <int> min(FOURIER_ROWS_C, n - block * FOURIER_ROWS_C)
            if floating is double:
                fastml_fourier_rows_f64(&X[block * FOURIER_ROWS_C, 0], rows, d, &W[0, 0], m,
                                        &offset[0], scale, acc, &out[block * FOURIER_ROWS_C, 0])
            else:
                fastml_fourier_rows_f32(&X[block * FOURIER_ROWS_C, 0], rows, d, &W[0, 0], m,
                                        &offset[0], scale, acc, &out[block * FOURIER_ROWS_C, 0])


def cos_inplace(double[::1] v):
    """cos of every element, in place, with the kernels' vectorised cosine."""
    with nogil:
        fastml_cos_inplace(&v[0], <int> v.shape[0])
