# The steps of growing a tree, without the GIL, shared by the kernels of
# _gbdt.pyx (one step per call, from Python) and the tree grower of
# _grower.pyx (every step of a tree in one call): a node's histograms, the
# best split of one feature, and the partition of a node's rows.  Inline
# functions, so that both modules compile the same code with the same
# flags and give the same bits.
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from fastml._kernels.common cimport FASTML_N_BINS, FASTML_SET_WORDS


cdef extern from "partition.h" nogil:
    void fastml_bin_sides(int64_t threshold, int missing_left, int64_t missing_bin,
                          int categorical, const uint64_t *left_set, uint8_t *goes_left)
    Py_ssize_t fastml_split_sides(const uint32_t *samples, Py_ssize_t k0, Py_ssize_t k1,
                                  const uint8_t *codes, Py_ssize_t stride,
                                  const uint8_t *goes_left, uint8_t *side)
    void fastml_write_sides(const uint32_t *samples, Py_ssize_t k0, Py_ssize_t k1,
                            const uint8_t *side, Py_ssize_t at_left, Py_ssize_t at_right,
                            uint32_t *out)


cdef extern from "histogram.h" nogil:
    double fastml_pack_rows(const int64_t *gradients, const int64_t *hessians, Py_ssize_t r0,
                            Py_ssize_t r1, int count_bits, uint64_t *values)
    void fastml_packed_histograms(const uint8_t *codes, Py_ssize_t d, const uint32_t *samples,
                                  Py_ssize_t k0, Py_ssize_t k1, const uint64_t *values,
                                  int width, const int32_t *row_features,
                                  Py_ssize_t n_row_features, const int32_t *column_features,
                                  Py_ssize_t n_column_features, uint64_t *packed)
    void fastml_unpack_histograms(uint64_t *packed, Py_ssize_t parts, Py_ssize_t stride,
                                  Py_ssize_t f0, Py_ssize_t f1, int width, int count_bits,
                                  const uint16_t *n_values, Py_ssize_t missing_bin,
                                  int64_t *hist)
    void fastml_wide_histograms(const uint8_t *codes, Py_ssize_t d, const uint32_t *samples,
                                Py_ssize_t k0, Py_ssize_t k1, const int64_t *gradients,
                                const int64_t *hessians, const int32_t *row_features,
                                Py_ssize_t n_row_features, const int32_t *column_features,
                                Py_ssize_t n_column_features, int64_t *hist)


# ---------------------------------------------------------------- histograms

cdef struct HistogramSource:
    # The rows' fixed-point values and how to sum them (GradientHistograms).
    const uint8_t *codes          # (n, d) bin codes, C order
    Py_ssize_t d
    const uint64_t *values        # packed values (pack_rows), or NULL: sum unpacked
    int width                     # 2 with hessians, 1 without
    int count_bits
    const int64_t *gradients      # (n,) for the unpacked sums
    const int64_t *hessians       # (n,) or NULL
    const int32_t *row_features   # features summed row by row
    Py_ssize_t n_row_features
    const int32_t *column_features  # the others, summed feature by feature
    Py_ssize_t n_column_features
    const uint16_t *n_values      # (d,) or NULL: bins 0 .. n_values[f] - 1 and
    Py_ssize_t missing_bin        # missing_bin hold feature f's codes


cdef inline Py_ssize_t scratch_words(const HistogramSource *src) noexcept nogil:
    """Words of one part's scratch histograms (uint64, or int64 unpacked)."""
    return src.d * FASTML_N_BINS * (src.width if src.values != NULL else 3)


cdef inline void build_histograms(const HistogramSource *src, const uint32_t *rows,
                                  Py_ssize_t m, int parts, uint64_t *scratch,
                                  int64_t *hist) noexcept nogil:
    """hist (d, 256, 3) = gradient, hessian and row sums of rows[0 .. m-1]
    (rows NULL: rows 0 .. m-1), each of the parts (threads) summing a range
    of the rows into its own scratch histograms (parts * scratch_words,
    zeroed, left zeroed), which are then added: exact integers modulo
    2**64.  With n_values, only the bins holding codes are written; the
    others of hist must be zero already."""
    cdef Py_ssize_t d = src.d, words = scratch_words(src), t, f, b, k, i
    cdef int64_t total
    cdef int64_t *part_hist = <int64_t *> scratch
    if src.values != NULL:
        for t in prange(parts, schedule="static", num_threads=parts):
            fastml_packed_histograms(src.codes, d, rows, m * t // parts, m * (t + 1) // parts,
                                     src.values, src.width, src.row_features,
                                     src.n_row_features, src.column_features,
                                     src.n_column_features, scratch + t * words)
        for t in prange(parts, schedule="static", num_threads=parts):
            fastml_unpack_histograms(scratch, parts, words, d * t // parts,
                                     d * (t + 1) // parts, src.width, src.count_bits,
                                     src.n_values, src.missing_bin, hist)
        return
    for t in prange(parts, schedule="static", num_threads=parts):
        fastml_wide_histograms(src.codes, d, rows, m * t // parts, m * (t + 1) // parts,
                               src.gradients, src.hessians, src.row_features,
                               src.n_row_features, src.column_features,
                               src.n_column_features, part_hist + t * words)
    for f in prange(d, schedule="static", num_threads=parts):
        for b in range(FASTML_N_BINS):
            if src.n_values != NULL and b >= src.n_values[f] and b != src.missing_bin:
                continue   # a bin without codes: zero in hist already
            for k in range(3):
                i = (f * FASTML_N_BINS + b) * 3 + k
                total = 0
                for t in range(parts):
                    total = total + part_hist[t * words + i]
                    part_hist[t * words + i] = 0
                hist[i] = total


# ---------------------------------------------------------------- split scoring

cdef struct SplitRule:
    # What a split must satisfy and how its gain is computed.
    double gradient_scale        # value of one gradient unit
    double hessian_scale         # value of one hessian unit (one row without hessians)
    bint with_hessians           # hist[..., 1] holds hessians, else use the row counts
    double l2_regularization
    long long min_samples_leaf
    double min_hessian           # minimum hessian sum in each child
    double categorical_smoothing  # added to a category's hessian when ranking it
    Py_ssize_t missing_bin


cdef struct FeatureSplit:
    # The best split of one feature.
    double gain                  # -inf if none
    long long threshold          # last bin of the left child (categorical: prefix length)
    uint8_t missing_left
    uint64_t left_set[FASTML_SET_WORDS]  # bins going left (categorical only)
    long long left[3]            # the left child's gradient, hessian, row sums


cdef inline double node_loss(double g, double h, double l2) noexcept nogil:
    """The loss term of a node with these sums at its optimal value
    ``-g / (h + l2 + 1e-15)``: ``g * value``, computed in scikit-learn's
    order so that gains tie where its gains tie."""
    return g * (-g / (h + l2 + 1e-15))


cdef inline double split_gain(long long g_left, long long h_left, long long n_left,
                              long long g_total, long long h_total, long long n_total,
                              double parent, const SplitRule *rule) noexcept nogil:
    """The gain (loss reduction, twice that of the second-order step) of
    sending the rows with these sums left and the rest right, or -inf when
    a side has fewer than min_samples_leaf rows or a hessian sum below
    min_hessian."""
    cdef double hl = h_left * rule.hessian_scale, hr = (h_total - h_left) * rule.hessian_scale
    cdef double gain = parent
    if n_left < rule.min_samples_leaf or n_total - n_left < rule.min_samples_leaf:
        return -1.0 / 0.0
    if hl < rule.min_hessian or hr < rule.min_hessian:
        return -1.0 / 0.0
    gain -= node_loss(g_left * rule.gradient_scale, hl, rule.l2_regularization)
    gain -= node_loss((g_total - g_left) * rule.gradient_scale, hr, rule.l2_regularization)
    return gain


cdef inline void no_split(FeatureSplit *best) noexcept nogil:
    """A feature without a valid split: gain -inf, threshold -1."""
    cdef Py_ssize_t k
    best.gain = -1.0 / 0.0
    best.threshold = -1
    best.missing_left = 0
    for k in range(FASTML_SET_WORDS):
        best.left_set[k] = 0
    best.left[0] = best.left[1] = best.left[2] = 0


cdef inline void _keep(FeatureSplit *best, double candidate, long long threshold,
                       long long g, long long h, long long n, bint with_hessians,
                       bint missing_left) noexcept nogil:
    """Keep a candidate that beats the best so far strictly."""
    if candidate > best.gain:
        best.gain = candidate
        best.threshold = threshold
        best.missing_left = missing_left
        best.left[0] = g
        best.left[1] = h if with_hessians else 0
        best.left[2] = n


cdef inline void scan_feature(const int64_t *hist, Py_ssize_t n_values, bint categorical,
                              bint has_missing, const SplitRule *rule, double *keys,
                              long long *order, FeatureSplit *best) noexcept nogil:
    """The best split of one feature from its histogram hist (256, 3).

    Numerical features, scanned as scikit-learn does so that ties go the
    same way: thresholds in increasing order with missing values sent
    right (up to the last value bin when the feature has missing values:
    values left, missing right), then, for features with missing values,
    in decreasing order with missing values sent left; a candidate must
    beat the best so far strictly.  Categorical features: the categories
    present (the missing bin counts as one) with a support of at least
    categorical_smoothing are ranked by gradient / (hessian +
    categorical_smoothing), ties by bin (keys, order: 256 each, scratch);
    the left child takes the best of the first 1 .. half of that ranking
    and of its last 1 .. half less one, as scikit-learn scans them
    (``left_set``; ``threshold`` is how many categories go left); the rare
    categories go right."""
    cdef Py_ssize_t b, k, j, middle, n_cats = 0, missing_bin = rule.missing_bin
    cdef long long g_total = 0, h_total = 0, n_total = 0, g = 0, h = 0, n = 0, code
    cdef long long g_right = 0, h_right = 0, n_right = 0
    cdef bint with_h = rule.with_hessians, from_back = 0
    cdef double parent, key, gain_before
    no_split(best)
    for b in range(n_values + 1):   # the bins that hold codes
        code = b if b < n_values else missing_bin
        g_total += hist[3 * code]
        h_total += hist[3 * code + 1] if with_h else hist[3 * code + 2]
        n_total += hist[3 * code + 2]
    parent = node_loss(g_total * rule.gradient_scale, h_total * rule.hessian_scale,
                       rule.l2_regularization)
    if categorical:
        for b in range(n_values + 1):   # rank the categories present: insertion sort
            code = b if b < n_values else missing_bin
            if hist[3 * code + 2] == 0:
                continue
            # scikit-learn's minimum support: a category whose hessian, in
            # rows of the node's mean hessian, is under categorical_smoothing
            # is not ranked and always goes right (as unseen categories do)
            if ((<double> (hist[3 * code + 1] if with_h else hist[3 * code + 2])) * n_total
                    < rule.categorical_smoothing * (h_total if with_h else n_total)):
                continue
            key = hist[3 * code] * rule.gradient_scale / (
                (hist[3 * code + 1] if with_h else hist[3 * code + 2]) * rule.hessian_scale
                + rule.categorical_smoothing)
            j = n_cats
            while j > 0 and keys[j - 1] > key:
                keys[j] = keys[j - 1]
                order[j] = order[j - 1]
                j -= 1
            keys[j] = key
            order[j] = code
            n_cats += 1
        # scikit-learn's scan: the first 1, 2, ... up to half of the ranked
        # categories go left, then the last 1, 2, ... up to half less one
        # (the unranked rare categories stay right either way)
        middle = (n_cats + 1) // 2
        for j in range(2 * middle - 1):
            if j == middle:                  # the scan from the back starts
                g = h = n = 0
            k = j if j < middle else n_cats - 1 - (j - middle)
            code = order[k]
            g += hist[3 * code]
            h += hist[3 * code + 1] if with_h else hist[3 * code + 2]
            n += hist[3 * code + 2]
            gain_before = best.gain
            _keep(best, split_gain(g, h, n, g_total, h_total, n_total, parent, rule),
                  (j if j < middle else j - middle) + 1, g, h, n, with_h, 0)
            if best.gain != gain_before:
                from_back = j >= middle
        for j in range(best.threshold if best.threshold > 0 else 0):
            code = order[n_cats - 1 - j if from_back else j]
            best.left_set[code >> 6] |= (<uint64_t> 1) << (code & 63)
            if code == missing_bin:
                best.missing_left = 1
        return
    for b in range(n_values - 1 + has_missing):  # missing values right
        g += hist[3 * b]
        h += hist[3 * b + 1] if with_h else hist[3 * b + 2]
        n += hist[3 * b + 2]
        _keep(best, split_gain(g, h, n, g_total, h_total, n_total, parent, rule),
              b, g, h, n, with_h, 0)
    if not has_missing:
        return
    for b in range(n_values - 2, -1, -1):  # then missing values left: bins above b right
        g_right += hist[3 * (b + 1)]
        h_right += hist[3 * (b + 1) + 1] if with_h else hist[3 * (b + 1) + 2]
        n_right += hist[3 * (b + 1) + 2]
        _keep(best, split_gain(g_total - g_right, h_total - h_right, n_total - n_right,
                               g_total, h_total, n_total, parent, rule),
              b, g_total - g_right, h_total - h_right, n_total - n_right, with_h, 1)


# ---------------------------------------------------------------- partitions

cdef inline void copy_rows(const uint32_t *source, Py_ssize_t m, int parts,
                           uint32_t *out) noexcept nogil:
    """out[0 .. m-1] = source[0 .. m-1], parts threads taking ranges (a
    partition's rows put back in place, on the partition's threads)."""
    cdef Py_ssize_t p, k0
    if parts <= 1:
        memcpy(out, source, m * sizeof(uint32_t))
        return
    for p in prange(parts, schedule="static", num_threads=parts):
        k0 = m * p // parts
        memcpy(out + k0, source + k0, (m * (p + 1) // parts - k0) * sizeof(uint32_t))


cdef inline Py_ssize_t partition_rows(const uint32_t *samples, Py_ssize_t m,
                                      const uint8_t *codes, Py_ssize_t stride,
                                      const uint8_t *goes_left, int parts,
                                      long long *left_counts, uint8_t *side,
                                      uint32_t *out) noexcept nogil:
    """Split samples[0 .. m-1] stably into out: the rows whose bin
    (codes[row * stride]) goes left (goes_left, from fastml_bin_sides), then
    the others, each in input order; parts threads take ranges of the rows
    (left_counts: parts, side: m, scratch).  Returns the rows going left."""
    cdef Py_ssize_t p, k
    cdef long long n_left = 0, before
    for p in prange(parts, schedule="static", num_threads=parts):
        left_counts[p] = fastml_split_sides(samples, m * p // parts, m * (p + 1) // parts,
                                            codes, stride, goes_left, side)
    for p in range(parts):
        n_left += left_counts[p]
    for p in prange(parts, schedule="static", num_threads=parts):
        before = 0
        for k in range(p):
            before = before + left_counts[k]
        fastml_write_sides(samples, m * p // parts, m * (p + 1) // parts, side, before,
                           n_left + m * p // parts - before, out)
    return n_left
