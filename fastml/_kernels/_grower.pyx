# cython: language_level=3
"""The tree grower of histogram gradient boosting, compiled: every step of
one leaf-wise tree in one call, without the GIL (``fastml.kernels.TreeGrower``
is its Python face).

The leaves that may still split wait in a heap ordered by gain (ties to the
older node); the best one is split until ``max_leaf_nodes`` leaves exist or
none can split, as scikit-learn's and LightGBM's leaf-wise growth does.  A
node's rows are a range of one array, partitioned in place (stably) when it
splits.  Only the smaller child's histogram is built; its sibling's is the
parent's minus it, exactly, since histogram sums are fixed-point integers.
The steps (histograms, split scores, partitions) are those of _gbdt.pyx
(``gbdt_steps.pxd``), so a tree is the one the kernels of
``fastml.kernels`` give step by step.

Nothing here validates its input: ``fastml.kernels.TreeGrower`` passes
contiguous arrays of the right shapes and dtypes.
"""
import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.math cimport NAN
from cython.parallel cimport prange

from fastml._kernels.common cimport FASTML_N_BINS, FASTML_SET_WORDS
from fastml._kernels.gbdt_steps cimport (
    FeatureSplit, HistogramSource, SplitRule, build_histograms, copy_rows, fastml_bin_sides,
    no_split, partition_rows, scan_feature, scratch_words)


cdef struct Node:
    # the tree's fields (kernels.Tree)
    long long feature
    double threshold
    long long threshold_bin
    uint8_t missing_left
    uint8_t categorical
    uint64_t left_categories[FASTML_SET_WORDS]
    long long left
    long long right
    double value
    long long count
    double gain
    long long depth
    # while growing
    Py_ssize_t start          # the node's rows: rows[start .. stop - 1]
    Py_ssize_t stop
    long long sums[3]         # gradient, hessian, row sums
    int64_t *hist             # (d, 256, 3), or NULL when it cannot split
    long long split_feature   # its best split, once queued
    FeatureSplit split


cdef class Grower:
    """Grows trees on one set of binned rows; see ``fastml.kernels.TreeGrower``.

    Holds what every tree of a fit shares: the codes, the split rule, and
    scratch memory kept from tree to tree (histograms: new memory costs
    page faults, which dominate small nodes)."""

    cdef const uint8_t[:, ::1] binned        # (n, d) bin codes, C order
    cdef const uint8_t[::1, :] columns       # the same, Fortran order (partitions)
    cdef const uint16_t[::1] n_values        # (d,) bins 0 .. n_values[f] - 1 hold values
    cdef Py_ssize_t missing_bin
    cdef const uint8_t[::1] categorical      # (d,)
    cdef const double[:, ::1] threshold_values  # (d, 256) bin -> threshold, +inf past the last
    cdef const int32_t[::1] row_features, column_features  # how histograms are summed
    cdef double learning_rate, min_gain_to_split
    cdef long long max_leaf_nodes, max_depth  # -1: no limit
    cdef SplitRule rule
    cdef int n_threads
    cdef long long work_per_thread, histogram_work, part_rows
    # scratch
    cdef int64_t **free_hists                # histograms not in use
    cdef Py_ssize_t n_free, n_hists
    cdef uint64_t *hist_scratch              # (n_threads, d * 256 * 3), zeroed
    cdef double *keys                        # (d, 256) category ranking
    cdef long long *order
    cdef FeatureSplit *feature_splits        # (d,)
    cdef uint8_t *allowed                    # (d,)
    cdef uint8_t *has_missing                # (d,) from the root's histogram
    cdef uint64_t *unseen                    # (d, 4) bins without a training row
    cdef uint8_t *side                       # (n,)
    cdef uint32_t *moved                     # (n,)
    cdef long long *left_counts              # (n_threads,)
    # the tree being grown
    cdef Node *nodes
    cdef Py_ssize_t n_nodes, capacity, n_leaves
    cdef Py_ssize_t *heap
    cdef Py_ssize_t heap_size
    cdef HistogramSource source
    cdef object choose_features              # callable -> (d,) uint8, or None
    cdef bint choosing                       # choose_features is not None
    cdef object failure                      # what choose_features raised
    cdef uint32_t *rows                      # (n,) the rows, each node's a range

    def __init__(self, const uint8_t[:, ::1] binned, const uint8_t[::1, :] columns,
                 const uint16_t[::1] n_values, Py_ssize_t missing_bin,
                 const uint8_t[::1] categorical, const double[:, ::1] threshold_values,
                 const int32_t[::1] row_features, const int32_t[::1] column_features,
                 double learning_rate, long long max_leaf_nodes, long long max_depth,
                 long long min_samples_leaf, double l2_regularization, double min_hessian,
                 double min_gain_to_split, double categorical_smoothing, int n_threads,
                 long long work_per_thread, long long histogram_work, long long part_rows):
        cdef Py_ssize_t n = binned.shape[0], d = binned.shape[1]
        self.binned, self.columns, self.n_values = binned, columns, n_values
        self.missing_bin, self.categorical = missing_bin, categorical
        self.threshold_values = threshold_values
        self.row_features, self.column_features = row_features, column_features
        self.learning_rate, self.min_gain_to_split = learning_rate, min_gain_to_split
        self.max_leaf_nodes, self.max_depth = max_leaf_nodes, max_depth
        self.rule.l2_regularization = l2_regularization
        self.rule.min_samples_leaf = min_samples_leaf
        self.rule.min_hessian = min_hessian
        self.rule.categorical_smoothing = categorical_smoothing
        self.rule.missing_bin = missing_bin
        self.n_threads = n_threads
        self.work_per_thread, self.histogram_work = work_per_thread, histogram_work
        self.part_rows = part_rows
        self.hist_scratch = <uint64_t *> calloc(n_threads * d * FASTML_N_BINS * 3, 8)
        self.keys = <double *> malloc(d * FASTML_N_BINS * sizeof(double))
        self.order = <long long *> malloc(d * FASTML_N_BINS * sizeof(long long))
        self.feature_splits = <FeatureSplit *> malloc(d * sizeof(FeatureSplit))
        self.allowed = <uint8_t *> malloc(d)
        self.has_missing = <uint8_t *> malloc(d)
        self.unseen = <uint64_t *> malloc(d * FASTML_SET_WORDS * 8)
        self.side = <uint8_t *> malloc(n + 1)
        self.moved = <uint32_t *> malloc((n + 1) * sizeof(uint32_t))
        self.left_counts = <long long *> malloc(n_threads * sizeof(long long))
        if not (self.hist_scratch and self.keys and self.order and self.feature_splits
                and self.allowed and self.has_missing and self.unseen and self.side
                and self.moved and self.left_counts):
            raise MemoryError("no memory for the tree grower's scratch arrays")

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.n_free):
            free(self.free_hists[i])
        free(self.free_hists)
        free(self.hist_scratch)
        free(self.keys)
        free(self.order)
        free(self.feature_splits)
        free(self.allowed)
        free(self.has_missing)
        free(self.unseen)
        free(self.side)
        free(self.moved)
        free(self.left_counts)
        free(self.nodes)
        free(self.heap)

    def grow(self, const int64_t[::1] gradients, const int64_t[::1] hessians,
             const uint64_t[::1] values, int width, int count_bits, double gradient_scale,
             double hessian_scale, choose_features):
        """One tree fitted to these fixed-point gradients (hessians of size
        0: a hessian of 1 per row), summed packed (values from pack_rows,
        width, count_bits) or, values of size 0, unpacked.  choose_features:
        None, or a callable giving each node's allowed features as a (d,)
        uint8 array.  Returns (fields, rows, leaves): the tree's fields as
        arrays (kernels.Tree), the rows in leaf order, and for each leaf (in
        node order) its node, start and stop in rows."""
        cdef Py_ssize_t d = self.binned.shape[1], k
        cdef int status
        rows = np.arange(self.binned.shape[0], dtype=np.uint32)
        cdef uint32_t[::1] row_view = rows
        self.source.codes = &self.binned[0, 0]
        self.source.d = d
        self.source.values = <const uint64_t *> &values[0] if values.shape[0] else NULL
        self.source.width = width
        self.source.count_bits = count_bits
        self.source.gradients = &gradients[0]
        self.source.hessians = &hessians[0] if hessians.shape[0] else NULL
        self.source.row_features = &self.row_features[0] if self.row_features.shape[0] else NULL
        self.source.n_row_features = self.row_features.shape[0]
        self.source.column_features = (&self.column_features[0]
                                       if self.column_features.shape[0] else NULL)
        self.source.n_column_features = self.column_features.shape[0]
        self.source.n_values = &self.n_values[0]
        self.source.missing_bin = self.missing_bin
        self.rule.gradient_scale = gradient_scale
        self.rule.hessian_scale = hessian_scale if hessians.shape[0] else 1.0
        self.rule.with_hessians = hessians.shape[0] > 0
        self.choose_features = choose_features
        for k in range(d):
            self.allowed[k] = 1
        self.n_nodes = self.n_leaves = self.heap_size = 0
        self.choosing = choose_features is not None
        self.rows = &row_view[0]
        with nogil:
            status = self._grow_tree()
        self.choose_features, self.rows = None, NULL
        if status == -1:
            raise MemoryError("no memory for the tree grower's histograms or nodes")
        if status == -2:
            failure, self.failure = self.failure, None
            raise failure
        return self._fields(), rows, self._leaves()

    # ------------------------------------------------------------ the loop

    cdef int _grow_tree(self) noexcept nogil:
        """Grow the tree; 0, or -1 out of memory, -2 choose_features failed."""
        cdef Py_ssize_t n = self.binned.shape[0], node
        cdef int status
        cdef int64_t *root_hist = self._new_hist()
        if root_hist == NULL:
            return -1
        build_histograms(&self.source, NULL, n, self._histogram_parts(n),
                         self.hist_scratch, root_hist)
        self._read_root(root_hist)
        node = self._add_node(root_hist, 0, 0, 0, 0, 0, n)
        if node < 0:
            self._release(root_hist)
            return -1
        self.nodes[node].hist = root_hist
        self.n_leaves = 1
        status = self._consider(node)
        while status == 0 and self.heap_size and self._may_add_leaf():
            status = self._split(self._pop())
        if self.n_leaves == 1:   # a tree that did not split predicts 0, as scikit-learn's
            self.nodes[0].value = 0.0
        for node in range(self.n_nodes):   # histograms back to the pool
            if self.nodes[node].hist != NULL:
                self._release(self.nodes[node].hist)
                self.nodes[node].hist = NULL
        return status

    cdef bint _may_add_leaf(self) noexcept nogil:
        return self.max_leaf_nodes < 0 or self.n_leaves < self.max_leaf_nodes

    cdef bint _may_split(self, long long count, long long depth) noexcept nogil:
        """Whether a node of count rows at this depth may still split."""
        return ((self.max_depth < 0 or depth < self.max_depth)
                and count >= 2 * self.rule.min_samples_leaf)

    cdef void _read_root(self, const int64_t *hist) noexcept nogil:
        """The features with missing values, and for each feature the bins
        without a training row (unseen categories), from the root's histogram."""
        cdef Py_ssize_t d = self.binned.shape[1], f, b
        for f in range(d):
            self.has_missing[f] = hist[(f * FASTML_N_BINS + self.missing_bin) * 3 + 2] != 0
            for b in range(FASTML_SET_WORDS):
                self.unseen[f * FASTML_SET_WORDS + b] = 0
            for b in range(FASTML_N_BINS):
                if hist[(f * FASTML_N_BINS + b) * 3 + 2] == 0:
                    self.unseen[f * FASTML_SET_WORDS + (b >> 6)] |= (<uint64_t> 1) << (b & 63)

    cdef Py_ssize_t _add_node(self, const int64_t *hist_or_null, long long g, long long h,
                              long long count, long long depth, Py_ssize_t start,
                              Py_ssize_t stop) noexcept nogil:
        """A new leaf of rows[start .. stop - 1] with these sums (from
        hist's feature 0 if given); its index, or -1 out of memory.  Its
        value is the Newton step, as scikit-learn's: learning_rate * -G /
        (H + l2)."""
        cdef Py_ssize_t node = self.n_nodes, b, capacity = 2 * self.capacity + 64
        cdef Node *grown_nodes
        cdef Py_ssize_t *grown_heap
        cdef Node *x
        cdef double hess
        if node == self.capacity:
            grown_nodes = <Node *> realloc(self.nodes, capacity * sizeof(Node))
            if grown_nodes == NULL:
                return -1
            self.nodes = grown_nodes
            grown_heap = <Py_ssize_t *> realloc(self.heap, capacity * sizeof(Py_ssize_t))
            if grown_heap == NULL:
                return -1
            self.heap, self.capacity = grown_heap, capacity
        if hist_or_null != NULL:   # the root: every row is in feature 0's bins
            g = h = count = 0
            for b in range(FASTML_N_BINS):
                g += hist_or_null[3 * b]
                h += hist_or_null[3 * b + 1]
                count += hist_or_null[3 * b + 2]
        x = &self.nodes[node]
        x.feature, x.threshold, x.threshold_bin = -1, NAN, -1
        x.missing_left = x.categorical = 0
        for b in range(FASTML_SET_WORDS):
            x.left_categories[b] = 0
        x.left = x.right = -1
        hess = h * self.rule.hessian_scale if self.rule.with_hessians else <double> count
        x.value = self.learning_rate * (-(g * self.rule.gradient_scale)
                                        / (hess + self.rule.l2_regularization + 1e-15))
        x.count, x.gain, x.depth = count, 0.0, depth
        x.sums[0], x.sums[1], x.sums[2] = g, h, count
        x.start, x.stop = start, stop
        x.hist = NULL
        x.split_feature = -1
        self.n_nodes += 1
        return node

    cdef int _consider(self, Py_ssize_t node) noexcept nogil:
        """Score the node's best split; queue it if it may split, else give
        its histogram back.  0, or -2 when choose_features failed."""
        cdef Node *x = &self.nodes[node]
        cdef Py_ssize_t d = self.binned.shape[1], f, best = 0
        cdef int threads
        if not self._may_split(x.count, x.depth):
            self._release(x.hist)
            x.hist = NULL
            return 0
        if self.choosing:
            with gil:
                try:
                    self._choose_features()
                except BaseException as error:
                    self.failure = error
                    return -2
        threads = <int> min(self._threads_for(8 * d * FASTML_N_BINS), max(1, d // 8))
        for f in prange(d, schedule="static", num_threads=threads):
            self._scan(x.hist, f)
        for f in range(1, d):   # ties to the first feature
            if self.feature_splits[f].gain > self.feature_splits[best].gain:
                best = f
        x = &self.nodes[node]
        if not self.feature_splits[best].gain > self.min_gain_to_split:
            self._release(x.hist)
            x.hist = NULL
            return 0
        x.split_feature = best
        x.split = self.feature_splits[best]
        self._push(node)
        return 0

    cdef void _scan(self, const int64_t *hist, Py_ssize_t f) noexcept nogil:
        """The best split of feature f, to feature_splits[f]."""
        cdef FeatureSplit *best = &self.feature_splits[f]
        if not self.allowed[f]:
            no_split(best)
            return
        scan_feature(hist + f * FASTML_N_BINS * 3, self.n_values[f], self.categorical[f],
                     self.has_missing[f], &self.rule, self.keys + f * FASTML_N_BINS,
                     self.order + f * FASTML_N_BINS, best)

    cdef void _choose_features(self) except *:
        cdef const uint8_t[::1] chosen = self.choose_features()
        cdef Py_ssize_t f
        for f in range(self.binned.shape[1]):
            self.allowed[f] = chosen[f]

    cdef int _split(self, Py_ssize_t node) noexcept nogil:
        """Split a queued leaf into two children, and queue them.  0, -1
        out of memory, -2 choose_features failed."""
        cdef Node *x = &self.nodes[node]
        cdef Py_ssize_t f = x.split_feature, start = x.start, stop = x.stop, m = stop - start
        cdef Py_ssize_t n_left, k, left, right
        cdef long long tb = x.split.threshold, depth = x.depth + 1
        cdef long long g = x.split.left[0], h = x.split.left[1], count = x.split.left[2]
        cdef long long g_right = x.sums[0] - g, h_right = x.sums[1] - h
        cdef long long count_right = x.sums[2] - count
        cdef bint missing_left = x.split.missing_left, smaller_left = True
        cdef uint64_t left_set[FASTML_SET_WORDS]
        cdef uint8_t goes_left[FASTML_N_BINS]
        cdef int64_t *parent_hist = x.hist
        cdef int64_t *small_hist = NULL
        cdef int status, parts
        x.hist = NULL
        if not self.has_missing[f]:   # missing values at predict time join the larger child
            missing_left = count > x.count - count
        for k in range(FASTML_SET_WORDS):   # unseen categories follow missing values
            left_set[k] = x.split.left_set[k] | (
                self.unseen[f * FASTML_SET_WORDS + k] if missing_left else 0)
        fastml_bin_sides(tb, missing_left, self.missing_bin, self.categorical[f], left_set,
                         goes_left)
        parts = <int> self._threads_for(8 * m)
        n_left = partition_rows(self.rows + start, m, &self.columns[0, f], 1, goes_left,
                                parts, self.left_counts, self.side, self.moved)
        copy_rows(self.moved, m, parts, self.rows + start)
        self.n_leaves += 1
        if self._may_add_leaf() and self._may_split(max(n_left, m - n_left), depth):
            smaller_left = n_left <= m - n_left
            small_hist = self._new_hist()
            if small_hist == NULL:
                self._release(parent_hist)
                return -1
            if smaller_left:
                self._histogram(self.rows + start, n_left, small_hist)
            else:
                self._histogram(self.rows + start + n_left, m - n_left, small_hist)
            self._subtract(parent_hist, small_hist)   # the parent's becomes the sibling's
        else:
            self._release(parent_hist)
            parent_hist = NULL
        left = self._add_node(NULL, g, h, count, depth, start, start + n_left)
        right = self._add_node(NULL, g_right, h_right, count_right, depth, start + n_left, stop)
        if left < 0 or right < 0:
            self._release(small_hist)
            self._release(parent_hist)
            return -1
        if small_hist != NULL:
            self.nodes[left].hist = small_hist if smaller_left else parent_hist
            self.nodes[right].hist = parent_hist if smaller_left else small_hist
        self._record_split(node, f, tb, missing_left, left_set, left, right)
        if small_hist == NULL:
            return 0
        status = self._consider(left)
        if status == 0:
            status = self._consider(right)
        return status

    cdef void _record_split(self, Py_ssize_t node, Py_ssize_t f, long long tb,
                            bint missing_left, const uint64_t *left_set, Py_ssize_t left,
                            Py_ssize_t right) noexcept nogil:
        """Turn a leaf into a split node pointing to its children."""
        cdef Node *x = &self.nodes[node]
        cdef Py_ssize_t k
        x.feature, x.threshold_bin, x.missing_left = f, tb, missing_left
        if self.categorical[f]:
            x.categorical = 1
            for k in range(FASTML_SET_WORDS):
                x.left_categories[k] = left_set[k]
        else:
            x.threshold = self.threshold_values[f, tb]
        x.left, x.right = left, right
        x.gain = x.split.gain
        x.value = 0.0

    # ------------------------------------------------------------ histograms

    cdef Py_ssize_t _threads_for(self, long long work) noexcept nogil:
        """fastml._threads.threads_for."""
        return max(1, min(self.n_threads, work // self.work_per_thread))

    cdef int _histogram_parts(self, Py_ssize_t m) noexcept nogil:
        """Threads for a histogram of m rows (GradientHistograms' rule)."""
        return <int> min(self._threads_for(self.histogram_work * m * self.binned.shape[1]),
                         max(1, m // self.part_rows))

    cdef void _histogram(self, const uint32_t *rows, Py_ssize_t m, int64_t *hist) noexcept nogil:
        build_histograms(&self.source, rows, m, self._histogram_parts(m), self.hist_scratch,
                         hist)

    cdef void _subtract(self, int64_t *hist, const int64_t *small) noexcept nogil:
        """hist -= small over the bins that hold codes (the others are zero)."""
        cdef Py_ssize_t d = self.binned.shape[1], f, b, i
        for f in range(d):
            for b in range(self.n_values[f]):
                i = (f * FASTML_N_BINS + b) * 3
                hist[i] -= small[i]
                hist[i + 1] -= small[i + 1]
                hist[i + 2] -= small[i + 2]
            if self.missing_bin >= self.n_values[f]:
                i = (f * FASTML_N_BINS + self.missing_bin) * 3
                hist[i] -= small[i]
                hist[i + 1] -= small[i + 1]
                hist[i + 2] -= small[i + 2]

    cdef int64_t *_new_hist(self) noexcept nogil:
        """A (d, 256, 3) histogram, zero outside the bins that hold codes:
        one given back before, or a new zeroed one (NULL out of memory)."""
        cdef int64_t **grown
        if self.n_free:
            self.n_free -= 1
            return self.free_hists[self.n_free]
        if self.n_hists % 16 == 0:   # room to give every histogram back
            grown = <int64_t **> realloc(self.free_hists, (self.n_hists + 16) * sizeof(int64_t *))
            if grown == NULL:
                return NULL
            self.free_hists = grown
        cdef int64_t *hist = <int64_t *> calloc(self.binned.shape[1] * FASTML_N_BINS * 3, 8)
        if hist != NULL:
            self.n_hists += 1
        return hist

    cdef void _release(self, int64_t *hist) noexcept nogil:
        if hist != NULL:
            self.free_hists[self.n_free] = hist
            self.n_free += 1

    # ------------------------------------------------------------ the heap

    cdef bint _before(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
        """Node a splits before node b: a larger gain, ties to the older."""
        cdef double ga = self.nodes[a].split.gain, gb = self.nodes[b].split.gain
        return ga > gb or (ga == gb and a < b)

    cdef void _push(self, Py_ssize_t node) noexcept nogil:
        cdef Py_ssize_t i = self.heap_size, parent
        self.heap_size += 1
        while i > 0:
            parent = (i - 1) // 2
            if not self._before(node, self.heap[parent]):
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i] = node

    cdef Py_ssize_t _pop(self) noexcept nogil:
        cdef Py_ssize_t top = self.heap[0], last, i = 0, child
        self.heap_size -= 1
        last = self.heap[self.heap_size]
        while True:
            child = 2 * i + 1
            if child >= self.heap_size:
                break
            if child + 1 < self.heap_size and self._before(self.heap[child + 1],
                                                           self.heap[child]):
                child += 1
            if not self._before(self.heap[child], last):
                break
            self.heap[i] = self.heap[child]
            i = child
        if self.heap_size:
            self.heap[i] = last
        return top

    # ------------------------------------------------------------ results

    def _fields(self):
        """The grown tree's fields as arrays, for kernels.Tree."""
        cdef Py_ssize_t n = self.n_nodes, i, k
        fields = {
            "feature": np.empty(n, np.int64), "threshold": np.empty(n),
            "threshold_bin": np.empty(n, np.int64), "missing_left": np.empty(n, np.bool_),
            "categorical": np.empty(n, np.bool_),
            "left_categories": np.empty((n, FASTML_SET_WORDS), np.uint64),
            "left": np.empty(n, np.int64), "right": np.empty(n, np.int64),
            "value": np.empty(n), "count": np.empty(n, np.int64), "gain": np.empty(n),
            "depth": np.empty(n, np.int64)}
        cdef long long[::1] feature = fields["feature"], threshold_bin = fields["threshold_bin"]
        cdef long long[::1] left = fields["left"], right = fields["right"]
        cdef long long[::1] count = fields["count"], depth = fields["depth"]
        cdef double[::1] threshold = fields["threshold"], value = fields["value"]
        cdef double[::1] gain = fields["gain"]
        cdef uint8_t[::1] missing_left = fields["missing_left"].view(np.uint8)
        cdef uint8_t[::1] categorical = fields["categorical"].view(np.uint8)
        cdef uint64_t[:, ::1] left_categories = fields["left_categories"]
        cdef Node *x
        for i in range(n):
            x = &self.nodes[i]
            feature[i], threshold[i], threshold_bin[i] = x.feature, x.threshold, x.threshold_bin
            missing_left[i], categorical[i] = x.missing_left, x.categorical
            for k in range(FASTML_SET_WORDS):
                left_categories[i, k] = x.left_categories[k]
            left[i], right[i], value[i] = x.left, x.right, x.value
            count[i], gain[i], depth[i] = x.count, x.gain, x.depth
        return fields

    def _leaves(self):
        """(nodes, starts, stops) of the leaves, in node order."""
        leaves = [i for i in range(self.n_nodes) if self.nodes[i].left < 0]
        return (np.array(leaves, dtype=np.int64),
                np.array([self.nodes[i].start for i in leaves], dtype=np.int64),
                np.array([self.nodes[i].stop for i in leaves], dtype=np.int64))
