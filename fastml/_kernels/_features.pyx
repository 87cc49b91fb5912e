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
    void fastml_cos_inplace(double *v, int n)
    void fastml_cos_rows_f64(double *v, int rows, int m, const double *b, double scale,
                             double *acc)
    void fastml_cos_rows_f32(float *v, int rows, int m, const float *b, float scale,
                             float *acc)
    void fastml_cosf_inplace(float *v, int n)




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


def cos_rows(
    floating[:, ::1] out,              # IN/OUT (n, m) the projection X @ W, then the features
    const floating[::1] offset,        # IN (m,) random offsets, out's dtype
    double scale,                      # IN sqrt(2 / m)
    floating[:, ::1] scratch,          # TMP (n_threads, m) per-thread buffer
    int n_threads,                     # IN
):
    """out = scale * cos(out + offset) in place, rows over threads, in out's
    dtype (float32 as scikit-learn's float32 path computes it)."""
    cdef Py_ssize_t n = out.shape[0], i
    cdef int m = out.shape[1]
    cdef floating *acc
    with nogil, parallel(num_threads=n_threads):
        acc = &scratch[threadid(), 0]
        for i in prange(n, schedule="static"):
            if floating is double:
                fastml_cos_rows_f64(&out[i, 0], 1, m, &offset[0], scale, acc)
            else:
                fastml_cos_rows_f32(&out[i, 0], 1, m, &offset[0], <float> scale, acc)


def cos_inplace(floating[::1] v):
    """cos of every element, in place, with the kernels' vectorised cosine
    (float64 or float32)."""
    with nogil:
        if floating is double:
            fastml_cos_inplace(&v[0], <int> v.shape[0])
        else:
            fastml_cosf_inplace(&v[0], <int> v.shape[0])
