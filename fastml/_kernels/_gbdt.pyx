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
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, fabs, fma, fmax, isfinite, log1p, rint
from libc.string cimport memcpy
from scipy.special.cython_special cimport expit
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from fastml._kernels.common cimport FASTML_N_BINS, FASTML_SET_WORDS
from fastml._kernels.gbdt_steps cimport (
    FeatureSplit, HistogramSource, SplitRule, build_histograms, fastml_bin_sides,
    fastml_pack_rows, no_split, partition_rows, scan_feature)


cdef extern from "split_rules.h" nogil:
    bint fastml_bin_goes_left(int64_t code, int64_t threshold, int missing_left,
                              int64_t missing_bin, int categorical, const uint64_t *left_set)


cdef extern from "forest.h" nogil:
    ctypedef struct fastml_node:
        pass
    void fastml_predict_block_f64(const double *X, Py_ssize_t d, Py_ssize_t row0,
                                  Py_ssize_t row1, const fastml_node *nodes,
                                  const uint64_t *left_sets, const int64_t *roots,
                                  const int64_t *depths, Py_ssize_t n_trees, double *out)
    void fastml_predict_block_f32(const float *X, Py_ssize_t d, Py_ssize_t row0,
                                  Py_ssize_t row1, const fastml_node *nodes,
                                  const uint64_t *left_sets, const int64_t *roots,
                                  const int64_t *depths, Py_ssize_t n_trees, double *out)


def pack_rows(
    const long long[::1] gradients,        # IN (n,) fixed-point gradients
    const long long[::1] hessians,         # IN (n,) fixed-point hessians; size 0: none
    int count_bits,                        # IN bits kept for the row count
    unsigned long long[::1] values,        # OUT (n * width,) packed values, width 2 or 1
    int n_threads,                         # IN
):
    """Every row's packed histogram values (``histogram.c``).  Returns the
    sum of the absolute values of the packed quantity (hessians, or
    gradients without them), which bounds every packed sum."""
    cdef Py_ssize_t n = gradients.shape[0], t
    cdef const long long *h = &hessians[0] if hessians.shape[0] > 0 else NULL
    cdef int parts = n_threads if n_threads < 64 else 64
    cdef double part_total[64]
    cdef double total = 0
    if n == 0:
        return 0.0
    with nogil:
        for t in prange(parts, schedule="static", num_threads=parts):
            part_total[t] = fastml_pack_rows(
                <const int64_t *> &gradients[0], <const int64_t *> h, n * t // parts,
                n * (t + 1) // parts, count_bits, <uint64_t *> &values[0])
        for t in range(parts):
            total += part_total[t]
    return total


def build_packed_histograms(
    const unsigned char[:, ::1] binned,    # IN (n, d) bin codes
    const unsigned int[::1] samples,       # IN (m,) the node's rows; size 0: every row
    const unsigned long long[::1] values,  # IN (n * width,) from pack_rows
    int width,                             # IN 2 with hessians, 1 without
    int count_bits,                        # IN as given to pack_rows
    const int[::1] row_features,           # IN features summed row by row
    const int[::1] column_features,        # IN the others: summed feature by feature
    unsigned long long[:, ::1] packed,     # TMP (parts, d * 256 * width) zeroed, left zeroed
    const unsigned short[::1] n_values,    # IN (d,) or size 0: see below
    int missing_bin,                       # IN with n_values: the missing-value bin
    long long[:, :, ::1] hist,             # OUT (d, 256, 3) gradient, hessian, row count
):
    """Histograms through the packed kernel (``histogram.c``): each of the
    parts (threads) sums a range of the node's rows into its own packed
    histograms; they are then added (exact: integers modulo 2**64) and
    unpacked, features over threads, and the scratch is zeroed again on the
    way (no separate pass to clear it for the next call).  With n_values,
    only bins 0 .. n_values[f] - 1 and missing_bin are written: the codes
    of feature f are among them, and the other bins of hist must be zero
    already."""
    cdef HistogramSource src = _source(binned, n_values, missing_bin, row_features,
                                       column_features)
    cdef Py_ssize_t m = samples.shape[0] if samples.shape[0] > 0 else binned.shape[0]
    cdef const uint32_t *rows = <const uint32_t *> &samples[0] if samples.shape[0] else NULL
    src.values = <const uint64_t *> &values[0]
    src.width = width
    src.count_bits = count_bits
    with nogil:
        build_histograms(&src, rows, m, <int> packed.shape[0], <uint64_t *> &packed[0, 0],
                         <int64_t *> &hist[0, 0, 0])


def build_wide_histograms(
    const unsigned char[:, ::1] binned,    # IN (n, d) bin codes
    const unsigned int[::1] samples,       # IN (m,) the node's rows; size 0: every row
    const long long[::1] gradients,        # IN (n,) fixed-point gradients of every row
    const long long[::1] hessians,         # IN (n,) fixed-point hessians; size 0: none
    const int[::1] row_features,           # IN features summed row by row
    const int[::1] column_features,        # IN the others: summed feature by feature
    long long[:, :, :, ::1] part_hist,     # TMP (parts, d, 256, 3) zeroed, left zeroed
    const unsigned short[::1] n_values,    # IN (d,) or size 0: as in build_packed_histograms
    int missing_bin,                       # IN with n_values: the missing-value bin
    long long[:, :, ::1] hist,             # OUT (d, 256, 3) gradient, hessian, row count
):
    """Unpacked histograms (``histogram.c``), for fixed-point values too
    large to pack: each part (thread) sums a range of the node's rows, then
    the parts are added, and zeroed again on the way."""
    cdef HistogramSource src = _source(binned, n_values, missing_bin, row_features,
                                       column_features)
    cdef Py_ssize_t m = samples.shape[0] if samples.shape[0] > 0 else binned.shape[0]
    cdef const uint32_t *rows = <const uint32_t *> &samples[0] if samples.shape[0] else NULL
    src.values = NULL
    src.width = 2 if hessians.shape[0] else 1
    src.gradients = <const int64_t *> &gradients[0]
    src.hessians = <const int64_t *> &hessians[0] if hessians.shape[0] else NULL
    with nogil:
        build_histograms(&src, rows, m, <int> part_hist.shape[0],
                         <uint64_t *> &part_hist[0, 0, 0, 0], <int64_t *> &hist[0, 0, 0])


cdef HistogramSource _source(const unsigned char[:, ::1] binned,
                             const unsigned short[::1] n_values, int missing_bin,
                             const int[::1] row_features, const int[::1] column_features):
    """The parts of a HistogramSource shared by the packed and unpacked sums."""
    cdef HistogramSource src
    src.codes = &binned[0, 0]
    src.d = binned.shape[1]
    src.row_features = <const int32_t *> &row_features[0] if row_features.shape[0] else NULL
    src.n_row_features = row_features.shape[0]
    src.column_features = (<const int32_t *> &column_features[0]
                           if column_features.shape[0] else NULL)
    src.n_column_features = column_features.shape[0]
    src.n_values = <const uint16_t *> &n_values[0] if n_values.shape[0] else NULL
    src.missing_bin = missing_bin
    src.gradients = NULL
    src.hessians = NULL
    src.values = NULL
    return src


def find_splits(
    const long long[:, :, ::1] hist,      # IN (d, n_bins, 3) the node's histogram
    const unsigned short[::1] n_values,   # IN (d,) bins holding values (0 .. n_values - 1)
    const unsigned char[::1] allowed,     # IN (d,) 1 for the features that may split
    const unsigned char[::1] categorical,  # IN (d,) 1 for categorical features
    const unsigned char[::1] has_missing,  # IN (d,) 1 if the feature has missing values
    Py_ssize_t missing_bin,               # IN the bin of missing values
    double gradient_scale,                # IN value of one gradient unit
    double hessian_scale,                 # IN value of one hessian unit (rows when no hessians)
    bint with_hessians,                   # IN hist[..., 1] holds hessians, else use counts
    double l2_regularization,             # IN
    long long min_samples_leaf,           # IN
    double min_hessian,                   # IN minimum hessian sum in each child
    double categorical_smoothing,         # IN added to a category's hessian when ranking it
    double[:, ::1] keys,                  # TMP (d or 0, n_bins) category ranks
    long long[:, ::1] order,              # TMP (d or 0, n_bins) categories in rank order
    double[::1] gain,                     # OUT (d,) best gain per feature, -inf if none
    long long[::1] threshold,             # OUT (d,) last bin of the left child
    unsigned char[::1] missing_left,      # OUT (d,) 1 if missing values go left
    unsigned long long[:, ::1] left_set,  # OUT (d, 4) bins going left (categorical only)
    long long[:, ::1] left,               # OUT (d, 3) the left child's sums
    int n_threads,                        # IN
):
    """The best split of each feature: ``scan_feature`` (gbdt_steps.pxd)
    for each allowed one, features split over threads; each is scanned in a
    fixed order, so the result does not depend on the thread count."""
    cdef Py_ssize_t d = hist.shape[0], f
    cdef SplitRule rule
    rule.gradient_scale = gradient_scale
    rule.hessian_scale = hessian_scale
    rule.with_hessians = with_hessians
    rule.l2_regularization = l2_regularization
    rule.min_samples_leaf = min_samples_leaf
    rule.min_hessian = min_hessian
    rule.categorical_smoothing = categorical_smoothing
    rule.missing_bin = missing_bin
    with nogil:
        for f in prange(d, schedule="static", num_threads=n_threads):
            _feature_split(&hist[f, 0, 0], n_values[f], allowed[f], categorical[f],
                           has_missing[f], &rule, &keys[f, 0] if categorical[f] else NULL,
                           &order[f, 0] if categorical[f] else NULL, &gain[f], &threshold[f],
                           &missing_left[f], <uint64_t *> &left_set[f, 0], &left[f, 0])


cdef void _feature_split(const long long *hist, Py_ssize_t n_values, bint allowed,
                         bint categorical, bint has_missing, const SplitRule *rule,
                         double *keys, long long *order, double *gain, long long *threshold,
                         unsigned char *missing_left, uint64_t *left_set,
                         long long *left) noexcept nogil:
    """find_splits for one feature, written to its rows of the outputs."""
    cdef FeatureSplit best
    cdef Py_ssize_t k
    no_split(&best)
    if allowed:
        scan_feature(<const int64_t *> hist, n_values, categorical, has_missing, rule, keys,
                     order, &best)
    gain[0] = best.gain
    threshold[0] = best.threshold
    missing_left[0] = best.missing_left
    for k in range(FASTML_SET_WORDS):
        left_set[k] = best.left_set[k]
    for k in range(3):
        left[k] = best.left[k]


def partition(
    const unsigned int[::1] samples,      # IN (m,) the node's rows
    const unsigned char[:] codes,         # IN (n,) the split feature's bin codes (strided)
    Py_ssize_t threshold,                 # IN rows with code <= threshold go left
    bint missing_left,                    # IN where rows in the missing bin go
    Py_ssize_t missing_bin,               # IN
    bint categorical,                     # IN a categorical split: left_set decides
    const unsigned long long[::1] left_set,  # IN (4,) bins going left (categorical)
    long long[::1] left_counts,           # TMP (parts,) rows of each part going left: one
                                          # part (thread) per entry
    unsigned char[::1] side,              # TMP (m,) 1 for the rows going left
    unsigned int[::1] out,                # OUT (m,) left rows then right rows, each in input order
):
    """Split a node's rows stably (``partition.c``): each part finds its
    rows' sides, then writes them at offsets from the counts' prefix sums.
    Returns the number of rows going left."""
    cdef uint8_t goes_left[FASTML_N_BINS]
    cdef Py_ssize_t n_left
    if samples.shape[0] == 0:
        return 0
    with nogil:
        fastml_bin_sides(threshold, missing_left, missing_bin, categorical,
                         <const uint64_t *> &left_set[0], goes_left)
        n_left = partition_rows(<const uint32_t *> &samples[0], samples.shape[0], &codes[0],
                                codes.strides[0], goes_left, <int> left_counts.shape[0],
                                &left_counts[0], &side[0], <uint32_t *> &out[0])
    return n_left


cdef inline Py_ssize_t _leaf_of(
        const unsigned char *codes, Py_ssize_t node, Py_ssize_t missing_bin,
        const long long *feature, const long long *threshold_bin,
        const unsigned char *missing_left, const unsigned char *categorical,
        const uint64_t *left_set, const long long *left, const long long *right) noexcept nogil:
    """The leaf a row of bin codes reaches from node (fastml_bin_goes_left)."""
    while left[node] >= 0:
        if fastml_bin_goes_left(codes[feature[node]], threshold_bin[node], missing_left[node],
                                missing_bin, categorical[node],
                                left_set + node * FASTML_SET_WORDS):
            node = left[node]
        else:
            node = right[node]
    return node


def predict_forest_binned(
    const unsigned char[:, ::1] binned,   # IN (n, d) bin codes
    Py_ssize_t missing_bin,               # IN
    const long long[::1] roots,           # IN (trees,) the root node of each tree
    const long long[::1] feature,         # IN (nodes,) split feature of each node
    const long long[::1] threshold_bin,   # IN (nodes,) bins <= threshold_bin go left
    const unsigned char[::1] missing_left,  # IN (nodes,) where the missing bin goes
    const unsigned char[::1] categorical,  # IN (nodes,) 1 for categorical splits
    const unsigned long long[:, ::1] left_set,  # IN (nodes, 4) bins going left
    const long long[::1] left,            # IN (nodes,) left child, -1 for a leaf
    const long long[::1] right,           # IN (nodes,) right child
    const double[::1] value,              # IN (nodes,) leaf values
    double[::1] out,                      # IN/OUT (n,) += the sum of the trees' leaf values
    int n_threads,                        # IN
):
    """Add the trees' predictions for binned rows (the codes the trees
    were grown on) to out, tree by tree in order for each row (so the sum
    does not depend on the thread count); rows over threads."""
    cdef Py_ssize_t i, t, node
    cdef double total
    with nogil:
        for i in prange(binned.shape[0], schedule="static", num_threads=n_threads):
            total = out[i]
            for t in range(roots.shape[0]):
                node = _leaf_of(&binned[i, 0], roots[t], missing_bin, &feature[0],
                                &threshold_bin[0], &missing_left[0], &categorical[0],
                                <const uint64_t *> &left_set[0, 0], &left[0], &right[0])
                total = total + value[node]
            out[i] = total


def descend_binned(
    const unsigned char[:, ::1] binned,   # IN (n, d) bin codes
    Py_ssize_t missing_bin,               # IN
    const long long[::1] start,           # IN (n,) each row's node to start from
    const long long[::1] feature,         # IN (nodes,) as in predict_forest_binned
    const long long[::1] threshold_bin,   # IN
    const unsigned char[::1] missing_left,  # IN
    const unsigned char[::1] categorical,  # IN
    const unsigned long long[:, ::1] left_set,  # IN (nodes, 4)
    const long long[::1] left,            # IN (nodes,) left child, -1 for a leaf
    const long long[::1] right,           # IN (nodes,)
    long long[::1] out,                   # OUT (n,) the leaf each row reaches
    int n_threads,                        # IN
):
    """The leaf each binned row reaches from its start node, by the rule
    of predict_forest_binned; rows over threads."""
    cdef Py_ssize_t i, node
    with nogil:
        for i in prange(binned.shape[0], schedule="static", num_threads=n_threads):
            out[i] = _leaf_of(&binned[i, 0], start[i], missing_bin, &feature[0],
                              &threshold_bin[0], &missing_left[0], &categorical[0],
                              <const uint64_t *> &left_set[0, 0], &left[0], &right[0])


cdef enum:
    PREDICT_BLOCK_ROWS = 64  # rows walked through each tree before the next tree


def predict_packed(
    const floating[:, ::1] X,             # IN (n, d) raw feature values
    const unsigned char[::1] nodes,       # IN packed fastml_node records (forest.h), 32 bytes each
    const unsigned long long[:, ::1] left_sets,  # IN (nodes, 4) categories going left
    const long long[::1] roots,           # IN (trees,) the root node of each tree
    const long long[::1] depths,          # IN (trees,) splits on each tree's longest path
    double[::1] out,                      # IN/OUT (n,) += the sum of the trees' leaf values
    int n_threads,                        # IN
):
    """Add the trees' predictions for rows of values to out, on packed
    nodes, in blocks of rows (``forest.c``); blocks over threads."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], b, row0, row1
    cdef Py_ssize_t n_blocks = (n + PREDICT_BLOCK_ROWS - 1) // PREDICT_BLOCK_ROWS
    cdef const fastml_node *packed = <const fastml_node *> &nodes[0]
    if n == 0 or roots.shape[0] == 0:
        return
    with nogil:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            row0 = b * PREDICT_BLOCK_ROWS
            row1 = row0 + PREDICT_BLOCK_ROWS if row0 + PREDICT_BLOCK_ROWS < n else n
            if floating is double:
                fastml_predict_block_f64(&X[0, 0], d, row0, row1, packed,
                                         <const uint64_t *> &left_sets[0, 0],
                                         <const int64_t *> &roots[0],
                                         <const int64_t *> &depths[0], roots.shape[0], &out[0])
            else:
                fastml_predict_block_f32(&X[0, 0], d, row0, row1, packed,
                                         <const uint64_t *> &left_sets[0, 0],
                                         <const int64_t *> &roots[0],
                                         <const int64_t *> &depths[0], roots.shape[0], &out[0])


def to_fixed(const float[::1] values, double scale, long long[::1] out, int n_threads):
    """out = rint(values / scale) for finite values and a power-of-two scale
    (so multiplying by its inverse is exact)."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef double inverse = 1.0 / scale
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            out[i] = <long long> rint(values[i] * inverse)


cdef inline bint _power_of_two(double w) noexcept nogil:
    """w is 2**k (normal, positive): its significand bits are all zero."""
    cdef uint64_t bits
    memcpy(&bits, &w, 8)
    return w > 0 and (bits & ((<uint64_t> 1 << 52) - 1)) == 0 and (bits >> 52) != 0


def weighted_to_fixed(const float[::1] values, const double[::1] weights, double scale,
                      long long[::1] out, int n_threads):
    """out = rint(w * rint(values / w / scale)) for power-of-two weights w,
    rint(values / scale) for the others: a float32 value weighted by 2**k is
    exactly 2**k times its unit value, so rounding per unit of weight makes
    weight 2 give twice the unit value's integer (the row repeated)."""
    cdef Py_ssize_t i, n = values.shape[0]
    cdef double inverse = 1.0 / scale, w, x
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            w = weights[i]
            x = values[i] * inverse
            out[i] = <long long> (rint(w * rint(x / w)) if _power_of_two(w) else rint(x))


def add_to_leaf_rows(
    double[::1] raw,                      # IN/OUT (n,) raw predictions
    list leaf_rows,                       # IN uint32 arrays: the distinct rows of each leaf
    const double[::1] values,             # IN (leaves,) the value of each leaf
    int n_threads,                        # IN
):
    """raw[leaf_rows[i]] += values[i] for every leaf i.  Each thread takes a
    range of row numbers and, reading every leaf's rows, updates those in
    its range: leaves' rows interleave, so threads taking whole leaves would
    keep writing to the same cache lines (measured 6x slower)."""
    cdef Py_ssize_t n = raw.shape[0], n_leaves = len(leaf_rows), i, k, t, lo, hi
    cdef const unsigned int[::1] rows
    cdef size_t[::1] starts = np.zeros(n_leaves, dtype=np.uintp)
    cdef Py_ssize_t[::1] sizes = np.zeros(n_leaves, dtype=np.intp)
    cdef const uint32_t *leaf
    cdef uint32_t row
    for i in range(n_leaves):
        rows = leaf_rows[i]
        sizes[i] = rows.shape[0]
        if rows.shape[0] > 0:
            starts[i] = <size_t> &rows[0]
    with nogil:
        for t in prange(n_threads, schedule="static", num_threads=n_threads):
            lo = n * t // n_threads
            hi = n * (t + 1) // n_threads
            for i in range(n_leaves):
                leaf = <const uint32_t *> starts[i]
                for k in range(sizes[i]):
                    row = leaf[k]
                    if lo <= row < hi:
                        raw[row] += values[i]


cdef void _abs_max_sum_range(const floating *values, const double *weights, Py_ssize_t k0,
                             Py_ssize_t k1, double *largest, double *total) noexcept nogil:
    """largest[0], total[0] = max and sum of |values[k0 .. k1 - 1]|; with
    weights (not NULL), the max is that of |value| / weight over the rows of
    positive weight (a unit of weight's value).  Four sums and maxima, over
    rows k, k + 1, k + 2, k + 3, added at the end: one running sum would
    wait for each addition before the next (twice as slow, measured)."""
    cdef double big[4]
    cdef double acc[4]
    cdef double v
    cdef Py_ssize_t k = k0, j
    for j in range(4):
        big[j] = 0
        acc[j] = 0
    if weights == NULL:
        while k + 4 <= k1:
            for j in range(4):
                v = fabs(values[k + j])
                acc[j] += v
                big[j] = v if v > big[j] else big[j]
            k += 4
        while k < k1:
            v = fabs(values[k])
            acc[0] += v
            big[0] = v if v > big[0] else big[0]
            k += 1
    else:
        while k + 4 <= k1:
            for j in range(4):
                v = fabs(values[k + j])
                acc[j] += v
                if weights[k + j] > 0 and v / weights[k + j] > big[j]:
                    big[j] = v / weights[k + j]
            k += 4
        while k < k1:
            v = fabs(values[k])
            acc[0] += v
            if weights[k] > 0 and v / weights[k] > big[0]:
                big[0] = v / weights[k]
            k += 1
    largest[0] = fmax(fmax(big[0], big[1]), fmax(big[2], big[3]))
    total[0] = (acc[0] + acc[1]) + (acc[2] + acc[3])


def abs_max_sum(const floating[::1] values, const double[::1] weights, int n_threads):
    """The largest absolute value and the sum of the absolute values (in
    float64), in one pass; rows over threads.  With weights (size n; size 0:
    none) the values are weighted and the largest is a unit of weight's."""
    cdef Py_ssize_t n = values.shape[0], t
    cdef const double *w = &weights[0] if weights.shape[0] > 0 else NULL
    cdef int parts = n_threads if n_threads < 64 else 64
    cdef double part_max[64]
    cdef double part_sum[64]
    cdef double largest = 0, total = 0
    if n == 0:
        return 0.0, 0.0
    with nogil:
        for t in prange(parts, schedule="static", num_threads=parts):
            _abs_max_sum_range(&values[0], w, n * t // parts, n * (t + 1) // parts,
                               &part_max[t], &part_sum[t])
        for t in range(parts):
            total += part_sum[t]
            largest = part_max[t] if part_max[t] > largest else largest
    return largest, total


cdef inline void _add_exactly(double x, long long *high, long long *low) noexcept nogil:
    """Add x to the accumulator of its binary exponent: x is m * 2**(e - 1075)
    with a 53-bit integer m (e the biased exponent, 1 for subnormals), split
    into high and low parts of 27 and 26 bits, so that each bin takes 2**36
    additions without overflow."""
    cdef uint64_t bits
    cdef int64_t m
    cdef Py_ssize_t e
    memcpy(&bits, &x, 8)
    e = <Py_ssize_t> ((bits >> 52) & 0x7FF)
    m = <int64_t> (bits & ((<uint64_t> 1 << 52) - 1))
    if e > 0:
        m = m | (<int64_t> 1 << 52)
    else:
        e = 1
    if bits >> 63:
        m = -m
    high[e] += m >> 26  # floor(m / 2**26), and low[e] the remainder in [0, 2**26)
    low[e] += m & 0x3FFFFFF


def exact_sums(
    const double[::1] values,             # IN (n,) finite
    const double[::1] weights,            # IN (n,) or size 0: no weights
    long long[::1] high,                  # IN/OUT (2048,) zeros: per-exponent sums
    long long[::1] low,                   # IN/OUT (2048,) zeros
):
    """Sum values (times weights) exactly into per-exponent integer
    accumulators, on one thread (about 2 ns a value: a team of threads
    costs more than it saves here).  A weighted term is split into its
    rounded product and the product's rounding error (fma), both exact.
    Returns the number of terms that were not finite (left out)."""
    cdef Py_ssize_t n = values.shape[0], k
    cdef bint weighted = weights.shape[0] > 0
    cdef long long bad = 0
    cdef double p
    with nogil:
        for k in range(n):
            p = values[k] * weights[k] if weighted else values[k]
            if not isfinite(p):
                bad += 1
                continue
            _add_exactly(p, &high[0], &low[0])
            if weighted:
                _add_exactly(fma(values[k], weights[k], -p), &high[0], &low[0])
    return bad


def logistic_gradients(
    const double[::1] raw,                # IN (n,) raw predictions (log-odds)
    const double[::1] y,                  # IN (n,) targets in {0, 1}
    const double[::1] weights,            # IN (n,) sample weights; size 0: none
    float[::1] gradients,                 # OUT (n,) (p - y) w, p = expit(raw)
    float[::1] hessians,                  # OUT (n,) p (1 - p) w
    int n_threads,                        # IN
):
    """Gradients and hessians of the half binomial loss, computed in
    float64 (SciPy's expit) and rounded to float32, rows over threads."""
    cdef Py_ssize_t i, n = raw.shape[0]
    cdef bint weighted = weights.shape[0] > 0
    cdef double p, g, h
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            p = expit(raw[i])
            g = p - y[i]
            h = p * (1 - p)
            if weighted:
                g = g * weights[i]
                h = h * weights[i]
            gradients[i] = <float> g
            hessians[i] = <float> h



def logistic_losses(
    const double[::1] raw,                # IN (n,) raw predictions (log-odds)
    const double[::1] y,                  # IN (n,) targets in {0, 1}
    double[::1] out,                      # OUT (n,) log(1 + exp(raw)) - y raw
    int n_threads,                        # IN
):
    """The half binomial loss of each row, as numpy.logaddexp(0, raw) -
    y * raw computes it (the larger of 0 and raw, plus log1p(exp(-|raw|))),
    rows over threads."""
    cdef Py_ssize_t i, n = raw.shape[0]
    cdef double r
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            r = raw[i]
            out[i] = (fmax(r, 0.0) + log1p(exp(-fabs(r)))) - y[i] * r

# The constants of common.h, for the Python layer (fastml.kernels.boosting).
N_BINS = FASTML_N_BINS
SET_WORDS = FASTML_SET_WORDS
