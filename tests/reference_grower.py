"""The leaf-wise tree grower as a loop in Python over the step kernels of
``fastml.kernels`` (``GradientHistograms``, ``find_node_splits``,
``partition_chunk``): the reference ``kernels.TreeGrower`` (the same loop,
compiled) is tested against, bit for bit (test_compiled_grower.py).  It was
fastml's grower until the loop moved into compiled code.

The grower keeps the leaves that may still split in a heap ordered by gain
(ties to the older node) and splits the best one until ``max_leaf_nodes``
leaves exist or none can split.  Only the smaller child's histogram is
built; its sibling's is the parent's minus it, exactly, since histogram
sums are fixed-point integers.
"""
import heapq

import numpy as np

from fastml import kernels
from fastml._threads import threads_for


_NO_CATEGORIES = np.zeros(kernels.boosting.SET_WORDS, dtype=np.uint64)
def _bits(mask):
    """A (256,) boolean mask as 4 uint64 words, bit b of word b // 64."""
    return np.packbits(mask, bitorder="little").view("<u8").astype(np.uint64)


class _Leaf:
    """A leaf of the growing tree: its rows, gradient / hessian / row sums,
    histogram (None when it cannot split) and best split."""

    __slots__ = ("node", "rows", "sums", "hist", "feature", "split")

    def __init__(self, node, rows, sums, hist):
        self.node, self.rows, self.sums, self.hist = node, rows, sums, hist
        self.feature = -1
        self.split = None


def grow_tree(binned, gradients, hessians, *, gradient_scale, hessian_scale, thresholds,
              missing_bin, learning_rate=0.1, max_leaf_nodes=31, max_depth=None,
              min_samples_leaf=20, l2_regularization=0.0, min_hessian=1e-3,
              min_gain_to_split=0.0, categorical=None, n_allowed_features=None, rng=None,
              binned_columns=None, by_column=None, histogram_pool=None, n_threads=1):
    """One leaf-wise tree fitted to fixed-point gradients.

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
        Bin codes (C order avoids copies).
    gradients, hessians : ndarray of shape (n,), int64
        Fixed-point (``kernels.to_fixed_point``); hessians None for a
        constant hessian of 1 per row.
    gradient_scale, hessian_scale : float
        Their scales (``hessian_scale`` ignored without hessians).
    thresholds : list of d float64 arrays
        ``kernels.bin_thresholds``: bin ``b`` of feature ``f`` holds values
        ``<= thresholds[f][b]``.
    missing_bin : int
        The code of missing values.
    learning_rate : float, default=0.1
        Multiplies the leaf values.
    max_leaf_nodes : int or None, default=31
    max_depth : int or None, default=None
        Edges from the root to the deepest leaf.
    min_samples_leaf : int, default=20
    l2_regularization, min_hessian, min_gain_to_split : float
    categorical : ndarray of shape (d,) of bool, default=None
        Categorical features: their bin codes are category codes.
    n_allowed_features : int, default=None
        Features drawn (without replacement, by ``rng``) as candidates at
        each node (``max_features``); None for all.
    rng : numpy.random.Generator, default=None
        Needed with ``n_allowed_features``.
    binned_columns : ndarray of shape (n, d), uint8, default=None
        The same codes in Fortran order, for the partitions (a node's
        scattered rows are read faster from one contiguous column); made
        from ``binned`` if None, so pass it when growing many trees.
    by_column : ndarray of shape (d,), bool, default=None
        Features whose histograms are summed feature by feature
        (``kernels.GradientHistograms``); found on a sample of rows if
        None, so pass it when growing many trees.
    histogram_pool : list, default=None
        Spare (d, N_BINS, 3) int64 arrays: histograms are written into them
        rather than into new arrays, and the tree's histograms are added to
        it when it is grown (a new array of that size costs page faults,
        which dominate small nodes).  Pass the same list for every tree.
    n_threads : int, default=1

    Returns
    -------
    tree : kernels.Tree
    leaf_rows : list of (node, ndarray of uint32)
        The training rows of each leaf, to update raw predictions without
        predicting.
    """
    return TreeGrower(binned, gradients, hessians, gradient_scale=gradient_scale,
                      hessian_scale=hessian_scale, thresholds=thresholds,
                      missing_bin=missing_bin, learning_rate=learning_rate,
                      max_leaf_nodes=max_leaf_nodes, max_depth=max_depth,
                      min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
                      min_hessian=min_hessian, min_gain_to_split=min_gain_to_split,
                      categorical=categorical, n_allowed_features=n_allowed_features, rng=rng,
                      binned_columns=binned_columns, by_column=by_column,
                      histogram_pool=histogram_pool, n_threads=n_threads).grow()


class TreeGrower:
    """Grows one leaf-wise tree fitted to fixed-point gradients; the
    parameters are those of :func:`grow_tree`.  ``grow()`` runs once.

    One method per step: the root (``_make_root``), the node to split next
    (the heap of ``_consider``), splitting it (``_split``), the children's
    histograms (``_children_histograms``) and the finished tree
    (``_finish``).
    """

    def __init__(self, binned, gradients, hessians, *, gradient_scale, hessian_scale,
                 thresholds, missing_bin, learning_rate=0.1, max_leaf_nodes=31,
                 max_depth=None, min_samples_leaf=20, l2_regularization=0.0, min_hessian=1e-3,
                 min_gain_to_split=0.0, categorical=None, n_allowed_features=None, rng=None,
                 binned_columns=None, by_column=None, histogram_pool=None, n_threads=1):
        binned = np.ascontiguousarray(binned)
        binned_columns = np.asfortranarray(binned if binned_columns is None else binned_columns)
        n, d = binned.shape
        if binned_columns.shape != binned.shape:
            raise ValueError(f"binned_columns has shape {binned_columns.shape}, binned "
                             f"{binned.shape}; pass the same codes in Fortran order.")
        gradients = kernels.check_fixed_point(gradients, n, "gradients")
        if hessians is not None:
            hessians = kernels.check_fixed_point(hessians, n, "hessians")
        self.n_rows, self.n_features = n, d
        self.binned_columns = binned_columns
        self.with_hessians = hessians is not None
        self.gradient_scale = gradient_scale
        self.hessian_scale = hessian_scale if self.with_hessians else None
        self.thresholds, self.missing_bin = thresholds, missing_bin
        self.learning_rate = float(learning_rate)  # a NumPy float32 would round leaf values
        self.max_leaf_nodes, self.max_depth = max_leaf_nodes, max_depth
        self.min_samples_leaf, self.min_hessian = min_samples_leaf, min_hessian
        self.l2_regularization, self.min_gain_to_split = l2_regularization, min_gain_to_split
        self.n_values = np.array([len(t) + 1 for t in thresholds], dtype=np.uint16)
        self.categorical = (np.zeros(d, bool) if categorical is None
                            else np.asarray(categorical, bool))
        self.categorical_codes = self.categorical.astype(np.uint8)
        self.every_feature = np.ones(d, np.uint8)
        self.n_allowed_features, self.rng = n_allowed_features, rng
        self.pool = [] if histogram_pool is None else histogram_pool
        self.n_threads = n_threads
        # scoring a node's splits: about 8 operations per feature and bin,
        # and a thread per 8 features at most
        self.split_threads = min(threads_for(8 * d * kernels.N_BINS, n_threads),
                                 max(1, d // 8))
        # histograms touch the bins that hold codes only, and so does the
        # sibling subtraction: bins below the largest n_values, and the missing bin
        self.histogram = kernels.GradientHistograms(
            binned, gradients, hessians, by_column=by_column,
            bins=(self.n_values, missing_bin), n_threads=n_threads, check_input=False)
        top = int(self.n_values.max(initial=0))
        self.used_bins = ([slice(0, top + 1)] if missing_bin == top else
                          [slice(0, top), slice(missing_bin, missing_bin + 1)])
        self.nodes = {k: [] for k in kernels.Tree._fields}
        self.heap, self.finished, self.n_leaves = [], [], 0

    def grow(self):
        """(tree, leaf_rows), as :func:`grow_tree` returns them."""
        self._make_root()
        while self.heap and self._may_add_leaf():
            _, _, leaf = heapq.heappop(self.heap)
            self._split(leaf)
        return self._finish()

    # ------------------------------------------------------------ nodes

    def _add_node(self, hist_sums, depth):
        """A new leaf's node from its gradient / hessian / row sums."""
        g, h, count = (int(v) for v in hist_sums)
        hess = h * self.hessian_scale if self.with_hessians else float(count)
        value = self.learning_rate * (-(g * self.gradient_scale)
                                      / (hess + self.l2_regularization + 1e-15))
        for key, val in (("feature", -1), ("threshold", np.nan), ("threshold_bin", -1),
                         ("missing_left", False), ("categorical", False),
                         ("left_categories", _NO_CATEGORIES), ("left", -1), ("right", -1),
                         ("value", value), ("count", count), ("gain", 0.0), ("depth", depth)):
            self.nodes[key].append(val)
        return len(self.nodes["value"]) - 1

    def _spare(self):
        """A histogram array from the pool, or None for a new one."""
        return self.pool.pop() if self.pool else None

    def _make_root(self):
        root_hist = self.histogram(None, out=self._spare(), check_input=False)
        self.unseen = root_hist[:, :, 2] == 0  # (d, N_BINS) bins without a training row
        self.has_missing = (~self.unseen[:, self.missing_bin]).astype(np.uint8)
        root_sums = root_hist[0].sum(axis=0)
        root = _Leaf(self._add_node(root_sums, 0), np.arange(self.n_rows, dtype=np.uint32),
                     root_sums, root_hist)
        self.n_leaves, self.finished = 1, [root]
        self._consider(root)

    # ------------------------------------------------------------ choosing nodes

    def _may_add_leaf(self):
        return self.max_leaf_nodes is None or self.n_leaves < self.max_leaf_nodes

    def _may_split(self, count, depth):
        """Whether a node of count rows at this depth may still split."""
        return ((self.max_depth is None or depth < self.max_depth)
                and count >= 2 * self.min_samples_leaf)

    def _allowed_features(self):
        """The features a node may split on (``max_features``)."""
        d, k = self.n_features, self.n_allowed_features
        if k is None or k >= d:
            return self.every_feature
        allowed = np.zeros(d, np.uint8)
        allowed[self.rng.choice(d, k, replace=False)] = 1
        return allowed

    def _consider(self, leaf):
        """Score the leaf's best split; queue it if it may split."""
        if not self._may_split(self.nodes["count"][leaf.node], self.nodes["depth"][leaf.node]):
            return
        split = kernels.find_node_splits(
            leaf.hist, self.n_values, gradient_scale=self.gradient_scale,
            hessian_scale=self.hessian_scale, missing_bin=self.missing_bin,
            l2_regularization=self.l2_regularization, min_samples_leaf=self.min_samples_leaf,
            min_hessian=self.min_hessian, allowed=self._allowed_features(),
            categorical=self.categorical_codes, has_missing=self.has_missing,
            n_threads=self.split_threads,
            check_input=False)
        feature = int(np.argmax(split.gain))  # ties to the first feature
        if split.gain[feature] <= self.min_gain_to_split:
            return
        leaf.feature, leaf.split = feature, split
        heapq.heappush(self.heap, (-float(split.gain[feature]), leaf.node, leaf))

    # ------------------------------------------------------------ splitting

    def _split(self, leaf):
        """Split a queued leaf into two children and queue them."""
        self.finished.remove(leaf)
        f, split = leaf.feature, leaf.split
        threshold_bin = int(split.threshold[f])
        missing_left = bool(split.missing_left[f])
        if not self.has_missing[f]:  # missing values at predict time join the larger child
            missing_left = bool(split.left[f, 2]
                                > self.nodes["count"][leaf.node] - split.left[f, 2])
        left_set = None
        if self.categorical[f]:  # unseen categories follow missing values
            left_set = split.left_set[f] | (_bits(self.unseen[f]) if missing_left else 0)
        rows_left, rows_right = kernels.partition_chunk(
            leaf.rows, self.binned_columns[:, f], threshold_bin, missing_left=missing_left,
            missing_bin=self.missing_bin, left_set=left_set, n_threads=self.n_threads,
            check_input=False)
        self.n_leaves += 1
        depth = self.nodes["depth"][leaf.node] + 1
        hists = self._children_histograms(leaf, rows_left, rows_right, depth)
        left_sums = split.left[f]  # exactly the sums of the rows sent left
        children = [_Leaf(self._add_node(sums, depth), rows, sums, h)
                    for sums, h, rows in zip((left_sums, leaf.sums - left_sums), hists,
                                             (rows_left, rows_right))]
        self._record_split(leaf, threshold_bin, missing_left, left_set, children)
        leaf.hist = None  # passed on to a child, or back to the pool
        self.finished.extend(children)
        for child in children:
            if child.hist is not None:
                self._consider(child)

    def _children_histograms(self, leaf, rows_left, rows_right, depth):
        """(left, right) histograms, or (None, None) when no child may
        split: the smaller child's is built, its sibling's is the parent's
        minus it (in place)."""
        if not (self._may_add_leaf()
                and self._may_split(max(rows_left.size, rows_right.size), depth)):
            self.pool.append(leaf.hist)  # no child needs it
            return None, None
        smaller_left = rows_left.size <= rows_right.size
        small_hist = self.histogram(rows_left if smaller_left else rows_right,
                                    out=self._spare(), check_input=False)
        sibling_hist = leaf.hist
        for bins in self.used_bins:
            np.subtract(sibling_hist[:, bins], small_hist[:, bins], out=sibling_hist[:, bins])
        return (small_hist, sibling_hist) if smaller_left else (sibling_hist, small_hist)

    def _record_split(self, leaf, threshold_bin, missing_left, left_set, children):
        """Turn the leaf's node into a split node pointing to its children."""
        nodes, parent, f = self.nodes, leaf.node, leaf.feature
        nodes["feature"][parent] = f
        nodes["threshold_bin"][parent] = threshold_bin
        nodes["missing_left"][parent] = missing_left
        if self.categorical[f]:
            nodes["categorical"][parent] = True
            nodes["left_categories"][parent] = left_set
        else:
            thresholds = self.thresholds[f]
            nodes["threshold"][parent] = (thresholds[threshold_bin]
                                          if threshold_bin < len(thresholds) else np.inf)
        nodes["left"][parent], nodes["right"][parent] = children[0].node, children[1].node
        nodes["gain"][parent] = float(leaf.split.gain[f])
        nodes["value"][parent] = 0.0

    # ------------------------------------------------------------ finishing

    def _finish(self):
        """The tree's arrays and its leaves' rows; histograms back to the pool.
        A tree that did not split predicts 0, as scikit-learn's does (its
        root's value is set only when it splits).  On fewer rows than
        2 * min_samples_leaf every tree is one leaf, at the loss's optimal
        constant: its gradients sum to zero but for their rounding, which a
        Newton step on the root would add at every iteration."""
        if self.n_leaves == 1:
            self.nodes["value"][0] = 0.0
        self.pool.extend(leaf.hist for leaf in self.finished if leaf.hist is not None)
        leaf_rows = sorted((leaf.node, leaf.rows) for leaf in self.finished)
        tree = kernels.Tree.from_nodes(**self.nodes)
        return tree, leaf_rows
