"""Grow one gradient-boosting regression tree, leaf by leaf, from the
kernels of ``fastml.kernels``: histograms, split scores and partitions.

The grower keeps the leaves that may still split in a heap ordered by gain
(ties to the older node) and splits the best one until ``max_leaf_nodes``
leaves exist or none can split, as scikit-learn's and LightGBM's leaf-wise
growth does.  Only the smaller child's histogram is built; its sibling's is
the parent's minus it, exactly, since histogram sums are fixed-point
integers.  Histograms come from one source, ``histogram``: a later
distributed source sums row-chunk histograms instead, with the same result.
"""
import heapq

import numpy as np

from fastml import kernels


_NO_CATEGORIES = np.zeros(4, dtype=np.uint64)


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
    binned = np.ascontiguousarray(binned)
    binned_columns = np.asfortranarray(binned if binned_columns is None else binned_columns)
    n, d = binned.shape
    if binned_columns.shape != binned.shape:
        raise ValueError(f"binned_columns has shape {binned_columns.shape}, binned "
                         f"{binned.shape}; pass the same codes in Fortran order.")
    learning_rate = float(learning_rate)  # a NumPy float32 would round leaf values to float32
    gradients = kernels.check_fixed_point(gradients, n, "gradients")
    if hessians is not None:
        hessians = kernels.check_fixed_point(hessians, n, "hessians")
    n_values = np.array([len(t) + 1 for t in thresholds], dtype=np.uint16)
    categorical = np.zeros(d, bool) if categorical is None else np.asarray(categorical, bool)
    categorical_codes = categorical.astype(np.uint8)
    every_feature = np.ones(d, np.uint8)
    with_hessians = hessians is not None
    h_scale = hessian_scale if with_hessians else 1.0
    nodes = {k: [] for k in kernels.Tree._fields}

    def add_node(hist_sums, depth):
        g, h, count = (int(v) for v in hist_sums)
        hess = h * h_scale if with_hessians else float(count)
        for key, val in (("feature", -1), ("threshold", np.nan), ("threshold_bin", -1),
                         ("missing_left", False), ("categorical", False),
                         ("left_categories", _NO_CATEGORIES), ("left", -1), ("right", -1),
                         ("value", learning_rate * (-(g * gradient_scale)
                                                   / (hess + l2_regularization + 1e-15))),
                         ("count", count), ("gain", 0.0), ("depth", depth)):
            nodes[key].append(val)
        return len(nodes["value"]) - 1

    histogram = kernels.GradientHistograms(binned, gradients, hessians, by_column=by_column,
                                           n_threads=n_threads, check_input=False)

    def may_split(count, depth):
        """Whether a node of count rows at this depth may still split."""
        return (max_depth is None or depth < max_depth) and count >= 2 * min_samples_leaf

    def consider(leaf, heap):
        """Score the leaf's best split; queue it if it may split."""
        if not may_split(nodes["count"][leaf.node], nodes["depth"][leaf.node]):
            return
        allowed = every_feature
        if n_allowed_features is not None and n_allowed_features < d:
            allowed = np.zeros(d, np.uint8)
            allowed[rng.choice(d, n_allowed_features, replace=False)] = 1
        split = kernels.find_node_splits(
            leaf.hist, n_values, gradient_scale=gradient_scale,
            hessian_scale=hessian_scale if with_hessians else None, missing_bin=missing_bin,
            l2_regularization=l2_regularization, min_samples_leaf=min_samples_leaf,
            min_hessian=min_hessian, allowed=allowed, categorical=categorical_codes,
            has_missing=has_missing,
            n_threads=min(n_threads, max(1, d // 8)),  # a thread per 8 features
            check_input=False)
        feature = int(np.argmax(split.gain))  # ties to the first feature
        if split.gain[feature] <= min_gain_to_split:
            return
        leaf.feature, leaf.split = feature, split
        heapq.heappush(heap, (-float(split.gain[feature]), leaf.node, leaf))

    root_rows = np.arange(n, dtype=np.uint32)
    pool = [] if histogram_pool is None else histogram_pool

    def spare():
        return pool.pop() if pool else None

    root_hist = histogram(None, out=spare(), check_input=False)
    unseen = root_hist[:, :, 2] == 0  # (d, N_BINS) bins without a training row
    has_missing = (~unseen[:, missing_bin]).astype(np.uint8)
    root_sums = root_hist[0].sum(axis=0)
    root = _Leaf(add_node(root_sums, 0), root_rows, root_sums, root_hist)
    heap, n_leaves, finished = [], 1, [root]
    consider(root, heap)
    while heap and (max_leaf_nodes is None or n_leaves < max_leaf_nodes):
        _, _, leaf = heapq.heappop(heap)
        finished.remove(leaf)
        f, split = leaf.feature, leaf.split
        threshold_bin = int(split.threshold[f])
        missing_left = bool(split.missing_left[f])
        if not has_missing[f]:  # missing values at predict time join the larger child
            missing_left = bool(split.left[f, 2] > nodes["count"][leaf.node] - split.left[f, 2])
        left_set = None
        if categorical[f]:  # unseen categories follow missing values
            left_set = split.left_set[f] | (_bits(unseen[f]) if missing_left else 0)
        rows_left, rows_right = kernels.partition_chunk(
            leaf.rows, binned_columns[:, f], threshold_bin, missing_left=missing_left,
            missing_bin=missing_bin, left_set=left_set, n_threads=n_threads, check_input=False)
        n_leaves += 1
        depth = nodes["depth"][leaf.node] + 1
        # Histograms only when a child may still split: the smaller child's
        # is built, its sibling's is the parent's minus it.
        hists = (None, None)
        if ((max_leaf_nodes is None or n_leaves < max_leaf_nodes)
                and may_split(max(rows_left.size, rows_right.size), depth)):
            smaller_left = rows_left.size <= rows_right.size
            small_hist = histogram(rows_left if smaller_left else rows_right, out=spare(),
                                   check_input=False)
            sibling_hist = np.subtract(leaf.hist, small_hist, out=leaf.hist)  # in place
            hists = (small_hist, sibling_hist) if smaller_left else (sibling_hist, small_hist)
        else:
            pool.append(leaf.hist)  # no child needs it
        left_sums = split.left[f]  # exactly the sums of the rows sent left
        children = [_Leaf(add_node(sums, depth), rows, sums, h)
                    for sums, h, rows in zip((left_sums, leaf.sums - left_sums), hists,
                                             (rows_left, rows_right))]
        parent = leaf.node
        nodes["feature"][parent] = f
        nodes["threshold_bin"][parent] = threshold_bin
        nodes["missing_left"][parent] = missing_left
        if categorical[f]:
            nodes["categorical"][parent] = True
            nodes["left_categories"][parent] = left_set
        else:
            nodes["threshold"][parent] = (thresholds[f][threshold_bin]
                                          if threshold_bin < len(thresholds[f]) else np.inf)
        nodes["left"][parent], nodes["right"][parent] = children[0].node, children[1].node
        nodes["gain"][parent] = float(split.gain[f])
        nodes["value"][parent] = 0.0
        leaf.hist = None  # passed on to a child, or back to the pool
        finished.extend(children)
        for child in children:
            if child.hist is not None:
                consider(child, heap)
    pool.extend(leaf.hist for leaf in finished if leaf.hist is not None)
    leaf_rows = sorted((leaf.node, leaf.rows) for leaf in finished)
    dtypes = {"feature": np.int64, "threshold": np.float64, "threshold_bin": np.int64,
              "missing_left": bool, "categorical": bool, "left_categories": np.uint64,
              "left": np.int64, "right": np.int64,
              "value": np.float64, "count": np.int64, "gain": np.float64, "depth": np.int64}
    tree = kernels.Tree(**{k: np.asarray(v, dtype=dtypes[k]) for k, v in nodes.items()})
    return tree, leaf_rows
