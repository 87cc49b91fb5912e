"""A tree grown node by node over row chunks -- each chunk keeps its rows'
positions (``leaf_positions_chunk``) and answers for the histograms of the
nodes asked for (``node_histograms_chunk``), which are summed -- is the
tree ``TreeGrower`` grows on all the rows at once, bit for bit.  This is
the loop a fit over Dask blocks runs, here in one process."""
import heapq

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastml import kernels

MISSING = 255


def newton_value(sums, gradient_scale, learning_rate, l2):
    g, _, count = (int(v) for v in sums)
    return learning_rate * (-(g * gradient_scale) / (float(count) + l2 + 1e-15))


def grow_over_chunks(chunks, thresholds, gradient_scale, *, max_leaf_nodes=31,
                     min_samples_leaf=20, learning_rate=0.1, l2_regularization=0.0):
    """Leaf-wise growth (no hessians, numerical features) from chunk
    histograms summed; returns the tree and each chunk's leaf positions."""
    n_values = np.array([len(t) + 1 for t in thresholds], np.uint16)
    histograms = [kernels.GradientHistograms(b, g, bins=(n_values, MISSING))
                  for b, g in chunks]
    positions = [np.zeros(b.shape[0], np.int64) for b, _ in chunks]

    def summed(nodes):
        return sum(kernels.node_histograms_chunk(h, p, nodes)
                   for h, p in zip(histograms, positions))

    fields = {k: [] for k in ("feature", "threshold", "threshold_bin", "missing_left", "left",
                              "right", "value", "count", "gain", "depth")}

    def add_node(sums, depth):
        for key, val in (("feature", -1), ("threshold", np.nan), ("threshold_bin", -1),
                         ("missing_left", False), ("left", -1), ("right", -1), ("gain", 0.0),
                         ("value", newton_value(sums, gradient_scale, learning_rate,
                                                l2_regularization)),
                         ("count", int(sums[2])), ("depth", depth)):
            fields[key].append(val)
        return len(fields["value"]) - 1

    def consider(node, hist, heap):
        if fields["count"][node] < 2 * min_samples_leaf:
            return
        split = kernels.find_node_splits(hist, n_values, gradient_scale=gradient_scale,
                                         missing_bin=MISSING, min_samples_leaf=min_samples_leaf,
                                         l2_regularization=l2_regularization,
                                         has_missing=has_missing)
        f = int(np.argmax(split.gain))
        if split.gain[f] > 0:
            heapq.heappush(heap, (-float(split.gain[f]), node, f, split, hist))

    root = summed([0])[0]
    has_missing = (root[:, MISSING, 2] > 0).astype(np.uint8)
    sums = {0: root[0].sum(axis=0)}
    add_node(sums[0], 0)
    heap, n_leaves = [], 1
    consider(0, root, heap)
    while heap and n_leaves < max_leaf_nodes:
        _, node, f, split, hist = heapq.heappop(heap)
        left_sums = split.left[f]
        missing_left = bool(split.missing_left[f]) if has_missing[f] else \
            bool(left_sums[2] > fields["count"][node] - left_sums[2])
        depth = fields["depth"][node] + 1
        left = add_node(left_sums, depth)
        right = add_node(sums[node] - left_sums, depth)
        sums[left], sums[right] = left_sums, sums[node] - left_sums
        tb = int(split.threshold[f])
        for key, val in (("feature", f), ("threshold_bin", tb), ("missing_left", missing_left),
                         ("left", left), ("right", right), ("gain", float(split.gain[f])),
                         ("value", 0.0),
                         ("threshold", thresholds[f][tb] if tb < len(thresholds[f])
                          else np.inf)):
            fields[key][node] = val
        n_leaves += 1
        tree = kernels.Tree.from_nodes(**fields)
        positions = [kernels.leaf_positions_chunk(b, tree, start=p)
                     for (b, _), p in zip(chunks, positions)]
        if n_leaves < max_leaf_nodes and max(sums[left][2], sums[right][2]) >= \
                2 * min_samples_leaf:
            smaller = left if sums[left][2] <= sums[right][2] else right
            small_hist = summed([smaller])[0]
            sibling_hist = hist - small_hist
            hists = {smaller: small_hist, left + right - smaller: sibling_hist}
            for child in (left, right):
                consider(child, hists[child], heap)
    if n_leaves == 1:
        fields["value"][0] = 0.0
    return kernels.Tree.from_nodes(**fields), positions


@pytest.mark.parametrize("sizes", [(2000,), (700, 1, 1299), (500, 500, 500, 500)])
@pytest.mark.parametrize("params", [{}, {"max_leaf_nodes": 7, "min_samples_leaf": 50},
                                    {"max_leaf_nodes": 40, "min_samples_leaf": 3,
                                     "l2_regularization": 1.0}])
def test_tree_over_chunks_is_the_tree_in_memory(rng, sizes, params):
    n = sum(sizes)
    X = rng.normal(size=(n, 5))
    X[:, 3] = np.round(X[:, 3])
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 4] = np.abs(X[:, 4])               # no missing values in feature 4
    thresholds = kernels.bin_thresholds(X, 255)
    binned = kernels.bin_chunk(X, [np.nextafter(t, np.inf) for t in thresholds],
                               missing_bin=MISSING)
    g = np.nan_to_num(X[:, 0] + X[:, 4] ** 2 - np.abs(X[:, 3])) + rng.normal(size=n)
    scale = kernels.fixed_point_scale(float(np.abs(g).max()), n)
    fixed = kernels.to_fixed_point(g.astype(np.float32), scale)
    cuts = np.cumsum((0,) + sizes)
    chunks = [(binned[a:b], fixed[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    tree, positions = grow_over_chunks(chunks, thresholds, scale, **params)
    expected, leaves = kernels.TreeGrower(binned, thresholds, missing_bin=MISSING,
                                          **params).grow(fixed, gradient_scale=scale)
    for field in kernels.Tree._fields:
        assert_array_equal(getattr(tree, field), getattr(expected, field), err_msg=field)
    leaf_of_row = np.concatenate(positions)
    for node, rows in leaves:
        assert_array_equal(np.flatnonzero(leaf_of_row == node), rows)
    assert tree.value.size > 3


def test_leaf_positions_equal_the_partition(rng):
    """Rows walked down a grown tree land where the grower left them."""
    X = rng.normal(size=(3000, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    thresholds = kernels.bin_thresholds(X, 64)
    binned = kernels.bin_chunk(X, [np.nextafter(t, np.inf) for t in thresholds],
                               missing_bin=64)
    g = np.nan_to_num(X @ rng.normal(size=4))
    scale = kernels.fixed_point_scale(float(np.abs(g).max()), 3000)
    tree, leaves = kernels.TreeGrower(binned, thresholds, missing_bin=64).grow(
        kernels.to_fixed_point(g, scale), gradient_scale=scale)
    for threads in (1, 2):
        positions = kernels.leaf_positions_chunk(binned, tree, missing_bin=64, n_threads=threads)
        for node, rows in leaves:
            assert_array_equal(np.flatnonzero(positions == node), rows)
    internal = np.flatnonzero(tree.left >= 0)
    start = np.full(3000, internal[-1])   # from a node that is not the root
    below = kernels.leaf_positions_chunk(binned, tree, start=start, missing_bin=64)
    assert set(np.unique(below)) <= {int(tree.left[internal[-1]]), int(tree.right[internal[-1]])}


def test_node_histograms_equal_each_node_rows_histogram(rng):
    binned = rng.integers(0, 30, size=(500, 3), dtype=np.uint8)
    g = rng.integers(-1000, 1000, size=500)
    h = rng.integers(1, 100, size=500)
    histograms = kernels.GradientHistograms(binned, g, h)
    positions = rng.integers(3, 9, size=500)
    out = kernels.node_histograms_chunk(histograms, positions, [8, 3, 42, 5])
    for j, node in enumerate([8, 3, 42, 5]):
        rows = np.flatnonzero(positions == node)
        expected = (kernels.gradient_histograms_chunk(binned, g, h, samples=rows) if rows.size
                    else np.zeros_like(out[j]))
        assert_array_equal(out[j], expected)


@pytest.mark.parametrize("call, message", [
    (lambda h, b, t: kernels.node_histograms_chunk(h, np.zeros(3), [0]), "one integer node"),
    (lambda h, b, t: kernels.node_histograms_chunk(h, np.zeros(10, int), [[0]]), "1-D"),
    (lambda h, b, t: kernels.leaf_positions_chunk(b, t, start=np.full(10, 7)), r"\[0, 3\)"),
    (lambda h, b, t: kernels.leaf_positions_chunk(b, t, start=np.zeros(4, int)), "per row"),
    (lambda h, b, t: kernels.leaf_positions_chunk(b[:, :0], t), "features"),
])
def test_bad_positions_are_refused(call, message):
    binned = np.zeros((10, 2), np.uint8)
    tree = kernels.Tree.from_nodes(left=[1, -1, -1], right=[2, -1, -1], feature=[1, 0, 0])
    with pytest.raises(ValueError, match=message):
        call(kernels.GradientHistograms(binned, np.ones(10, np.int64)), binned, tree)
