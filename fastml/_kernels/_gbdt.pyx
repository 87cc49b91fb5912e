# cython: language_level=3
"""Compiled kernels of histogram gradient boosting: gradient histograms,
split scoring and the partition of a node's rows.

Nothing here validates its input: ``fastml.kernels`` passes contiguous
arrays of the right shapes and dtypes, and output arrays.  The GIL is
released throughout.

Gradients and hessians arrive as fixed-point integers (int64, one scale per
array chosen so that no sum can overflow): histogram sums are then exact,
so they do not depend on the thread count, on the order of the rows, or on
how the rows were split into chunks, and a sibling's histogram obtained by
subtraction (parent - child) is exactly the one built from its rows.
"""
from cython cimport floating
from cython.parallel cimport prange


def build_histograms(
    const unsigned char[:, ::1] binned_t,  # IN (d, n) bin codes, one row per feature
    const unsigned int[::1] samples,       # IN (m,) the node's rows; size 0: every row
    const long long[::1] gradients,        # IN (m,) fixed-point gradients, in samples' order
    const long long[::1] hessians,         # IN (m,) fixed-point hessians, same order; size 0: none
    long long[:, :, ::1] hist,             # OUT (d, n_bins, 3) gradient, hessian, row count
    int n_threads,                         # IN
):
    """Sum the gradients, hessians and rows of the given samples per
    (feature, bin).  The gradients come gathered in the samples' order (the
    caller gathers them once for every feature).  Features are split over
    threads."""
    cdef Py_ssize_t d = binned_t.shape[0], n_bins = hist.shape[1]
    cdef Py_ssize_t m = samples.shape[0] if samples.shape[0] > 0 else binned_t.shape[1]
    cdef bint all_rows = samples.shape[0] == 0, with_hessians = hessians.shape[0] > 0
    cdef Py_ssize_t f, b, k
    cdef const unsigned char *codes
    cdef unsigned char code
    with nogil:
        for f in prange(d, schedule="static", num_threads=n_threads):
            for b in range(n_bins):
                hist[f, b, 0] = 0
                hist[f, b, 1] = 0
                hist[f, b, 2] = 0
            codes = &binned_t[f, 0]
            if with_hessians:
                for k in range(m):
                    code = codes[k] if all_rows else codes[samples[k]]
                    hist[f, code, 0] += gradients[k]
                    hist[f, code, 1] += hessians[k]
                    hist[f, code, 2] += 1
            else:
                for k in range(m):
                    code = codes[k] if all_rows else codes[samples[k]]
                    hist[f, code, 0] += gradients[k]
                    hist[f, code, 2] += 1


cdef inline double _score(double g, double h, double l2) noexcept nogil:
    """G^2 / (H + l2): the loss reduction of a leaf with these sums (up to
    a factor 1/2 shared by every term of a gain)."""
    return g * g / (h + l2)


def find_splits(
    const long long[:, :, ::1] hist,      # IN (d, n_bins, 3) the node's histogram
    const unsigned short[::1] n_values,   # IN (d,) bins holding values (0 .. n_values - 1)
    const unsigned char[::1] allowed,     # IN (d,) 1 for the features that may split
    Py_ssize_t missing_bin,               # IN the bin of missing values
    double gradient_scale,                # IN value of one gradient unit
    double hessian_scale,                 # IN value of one hessian unit (rows when no hessians)
    bint with_hessians,                   # IN hist[..., 1] holds hessians, else use counts
    double l2_regularization,             # IN
    long long min_samples_leaf,           # IN
    double min_hessian,                   # IN minimum hessian sum in each child
    double[::1] gain,                     # OUT (d,) best gain per feature, -inf if none
    long long[::1] threshold,             # OUT (d,) last bin of the left child
    unsigned char[::1] missing_left,      # OUT (d,) 1 if missing values go left
    long long[:, ::1] left,               # OUT (d, 3) the left child's sums
    int n_threads,                        # IN
):
    """The best threshold of each feature: rows with bin <= threshold go
    left, missing values to the better side (left tried first, so a tie
    sends them left; the first of equal thresholds wins).  Features are
    split over threads; each is scanned in bin order, so the result does
    not depend on the thread count."""
    cdef Py_ssize_t d = hist.shape[0], f, b, side
    cdef long long g_total, h_total, n_total, g_miss, h_miss, n_miss
    cdef long long g_left, h_left, n_left, g_l, h_l, n_l
    cdef double parent, candidate, hl, hr, l2 = l2_regularization
    with nogil:
        for f in prange(d, schedule="static", num_threads=n_threads):
            gain[f] = -1.0 / 0.0
            threshold[f] = -1
            missing_left[f] = 0
            left[f, 0] = 0
            left[f, 1] = 0
            left[f, 2] = 0
            if not allowed[f]:
                continue
            g_total = 0
            h_total = 0
            n_total = 0
            for b in range(hist.shape[1]):
                g_total = g_total + hist[f, b, 0]
                h_total = h_total + (hist[f, b, 1] if with_hessians else hist[f, b, 2])
                n_total = n_total + hist[f, b, 2]
            g_miss = hist[f, missing_bin, 0]
            h_miss = hist[f, missing_bin, 1] if with_hessians else hist[f, missing_bin, 2]
            n_miss = hist[f, missing_bin, 2]
            parent = _score(g_total * gradient_scale, h_total * hessian_scale, l2)
            g_left = 0
            h_left = 0
            n_left = 0
            for b in range(n_values[f]):
                g_left = g_left + hist[f, b, 0]
                h_left = h_left + (hist[f, b, 1] if with_hessians else hist[f, b, 2])
                n_left = n_left + hist[f, b, 2]
                for side in range(2):  # 0: missing values left, 1: right
                    if side == 0 and n_miss == 0:
                        continue  # no missing values: one candidate, sent right
                    g_l = g_left + (g_miss if side == 0 else 0)
                    h_l = h_left + (h_miss if side == 0 else 0)
                    n_l = n_left + (n_miss if side == 0 else 0)
                    if n_l < min_samples_leaf or n_total - n_l < min_samples_leaf:
                        continue
                    hl = h_l * hessian_scale
                    hr = (h_total - h_l) * hessian_scale
                    if hl < min_hessian or hr < min_hessian:
                        continue
                    candidate = (_score(g_l * gradient_scale, hl, l2)
                                 + _score((g_total - g_l) * gradient_scale, hr, l2) - parent)
                    if candidate > gain[f]:
                        gain[f] = candidate
                        threshold[f] = b
                        missing_left[f] = side == 0
                        left[f, 0] = g_l
                        left[f, 1] = h_l if with_hessians else 0
                        left[f, 2] = n_l


def partition(
    const unsigned int[::1] samples,      # IN (m,) the node's rows
    const unsigned char[::1] codes,       # IN (n,) the split feature's bin codes
    Py_ssize_t threshold,                 # IN rows with code <= threshold go left
    bint missing_left,                    # IN where rows in the missing bin go
    Py_ssize_t missing_bin,               # IN
    const long long[::1] starts,          # IN (parts + 1,) the parts of samples, one per thread
    long long[::1] left_counts,           # TMP (parts,) rows of each part going left
    unsigned int[::1] out,                # OUT (m,) left rows then right rows, each in input order
    int n_threads,                        # IN
):
    """Split a node's rows stably: parts counted in parallel, then each
    part writes its rows at offsets from the counts' prefix sums."""
    cdef Py_ssize_t parts = starts.shape[0] - 1, p, k, row
    cdef long long n_left = 0, at_left, at_right, before
    cdef unsigned char code
    cdef bint goes_left
    with nogil:
        for p in prange(parts, schedule="static", num_threads=n_threads):
            left_counts[p] = 0
            for k in range(starts[p], starts[p + 1]):
                code = codes[samples[k]]
                goes_left = missing_left if code == missing_bin else code <= threshold
                left_counts[p] += goes_left
        for p in range(parts):
            n_left += left_counts[p]
        for p in prange(parts, schedule="static", num_threads=n_threads):
            before = 0
            for k in range(p):
                before = before + left_counts[k]
            at_left = before
            at_right = n_left + starts[p] - before
            for k in range(starts[p], starts[p + 1]):
                row = samples[k]
                code = codes[row]
                goes_left = missing_left if code == missing_bin else code <= threshold
                if goes_left:
                    out[at_left] = row
                    at_left = at_left + 1
                else:
                    out[at_right] = row
                    at_right = at_right + 1
    return n_left


def predict_tree(
    const floating[:, ::1] X,             # IN (n, d) raw feature values
    const long long[::1] feature,         # IN (nodes,) split feature of each node
    const double[::1] threshold,          # IN (nodes,) x <= threshold goes left
    const unsigned char[::1] missing_left,  # IN (nodes,) where NaN goes
    const long long[::1] left,            # IN (nodes,) left child, -1 for a leaf
    const long long[::1] right,           # IN (nodes,) right child
    const double[::1] value,              # IN (nodes,) leaf values
    double[::1] out,                      # IN/OUT (n,) += the leaf value of each row
    int n_threads,                        # IN
):
    """Add one tree's prediction to out; rows over threads, node 0 the root."""
    cdef Py_ssize_t i, node
    cdef double x
    with nogil:
        for i in prange(X.shape[0], schedule="static", num_threads=n_threads):
            node = 0
            while left[node] >= 0:
                x = X[i, feature[node]]
                if x != x:
                    node = left[node] if missing_left[node] else right[node]
                elif x <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            out[i] += value[node]
