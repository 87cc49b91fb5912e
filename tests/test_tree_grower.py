"""Leaf-wise trees from ``kernels.TreeGrower`` against scikit-learn's first
trees of HistGradientBoostingRegressor (the same binning, gradients and
split rule), and the tree predictor against a naive traversal.
(test_compiled_grower.py checks the grower against the same loop in Python.)"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_regression
from sklearn.ensemble import HistGradientBoostingRegressor

from fastml import kernels
from naive import naive_predict


def grow_tree(binned, gradients, hessians, *, gradient_scale, hessian_scale, thresholds,
              missing_bin, **params):
    """One tree from a new grower."""
    grower = kernels.TreeGrower(binned, thresholds, missing_bin=missing_bin, **params)
    return grower.grow(gradients, hessians, gradient_scale=gradient_scale,
                       hessian_scale=hessian_scale)


def binned_data(X, max_bins=255):
    thresholds = kernels.bin_thresholds(X, max_bins)
    binned = kernels.bin_chunk(X, [np.nextafter(t, np.inf) for t in thresholds],
                               missing_bin=max_bins)
    return thresholds, binned


def boost(X, y, n_trees, max_bins=255, n_threads=1, **params):
    """Squared-error boosting as scikit-learn does it, one grow_tree per
    iteration (gradients in float32, constant hessian)."""
    thresholds, binned = binned_data(X, max_bins)
    raw = np.full(y.shape, y.mean())
    trees = []
    for _ in range(n_trees):
        g = (raw - y).astype(np.float32)
        scale = kernels.fixed_point_scale(float(np.abs(g).max()), len(g))
        tree, leaves = grow_tree(binned, kernels.to_fixed_point(g, scale), None,
                                 gradient_scale=scale, hessian_scale=None,
                                 thresholds=thresholds, missing_bin=max_bins,
                                 n_threads=n_threads, **params)
        for node, rows in leaves:
            raw[rows] += tree.value[node]
        trees.append(tree)
    return trees, raw, y.mean()


def predict(X, trees, baseline):
    out = np.full(X.shape[0], baseline)
    for tree in trees:
        kernels.predict_tree_chunk(X, tree, out=out)
    return out


@pytest.mark.parametrize("params", [
    {},
    {"max_leaf_nodes": 7, "min_samples_leaf": 50, "l2_regularization": 3.0},
    {"max_leaf_nodes": None, "max_depth": 3},
    {"max_leaf_nodes": 63, "min_samples_leaf": 1, "learning_rate": 0.5},
])
@pytest.mark.parametrize("max_bins", [255, 32])
def test_trees_equal_scikit_learn(params, max_bins):
    X, y = make_regression(n_samples=6000, n_features=6, noise=10, random_state=0)
    X[::7, 1] = np.nan                       # missing values
    X[:, 4] = np.round(X[:, 4])              # few distinct values
    trees, raw, baseline = boost(X, y, 3, max_bins=max_bins, **params)
    ref = HistGradientBoostingRegressor(
        max_iter=3, early_stopping=False, max_bins=max_bins, random_state=0,
        **{"learning_rate": 0.1, **params}).fit(X, y)
    assert_allclose(predict(X, trees, baseline), ref.predict(X), rtol=1e-9, atol=1e-9)
    assert_allclose(raw, ref.predict(X), rtol=1e-9, atol=1e-9)
    for tree, predictors in zip(trees, ref._predictors):
        assert (tree.left < 0).sum() == predictors[0].get_n_leaf_nodes()
        if params.get("max_depth") is not None:
            assert tree.depth.max() <= params["max_depth"]


def test_tree_does_not_depend_on_threads():
    X, y = make_regression(n_samples=5000, n_features=5, noise=5, random_state=1)
    X[::5, 0] = np.nan
    one, _, _ = boost(X, y, 2, n_threads=1)
    three, _, _ = boost(X, y, 2, n_threads=3)
    for a, b in zip(one, three):
        for field in kernels.Tree._fields:
            assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)




@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictor_equals_naive_traversal(rng, dtype):
    X, y = make_regression(n_samples=3000, n_features=4, noise=5, random_state=2)
    X[rng.random(X.shape) < 0.1] = np.nan
    (tree,), _, _ = boost(X, y, 1, max_leaf_nodes=20, min_samples_leaf=5)
    Q = rng.normal(size=(500, 4)).astype(dtype) * 2
    Q[rng.random(Q.shape) < 0.2] = np.nan
    Q[0] = np.inf
    for threads in (1, 2):
        assert_array_equal(kernels.predict_tree_chunk(Q, tree, n_threads=threads),
                           naive_predict(Q.astype(np.float64), tree))
    with pytest.raises(ValueError, match="features"):
        kernels.predict_tree_chunk(Q[:, :2], tree)
    with pytest.raises(ValueError, match="out must be"):
        kernels.predict_tree_chunk(Q, tree, out=np.zeros(3))


def test_leaf_rows_cover_every_row_once():
    X, y = make_regression(n_samples=4000, n_features=3, random_state=3)
    thresholds, binned = binned_data(X)
    g = (y.mean() - y).astype(np.float32)
    scale = kernels.fixed_point_scale(float(np.abs(g).max()), len(g))
    tree, leaves = grow_tree(binned, kernels.to_fixed_point(g, scale), None,
                             gradient_scale=scale, hessian_scale=None, thresholds=thresholds,
                             missing_bin=255)
    rows = np.sort(np.concatenate([r for _, r in leaves]))
    assert_array_equal(rows, np.arange(4000))
    for node, r in leaves:
        assert tree.left[node] == -1 and tree.count[node] == r.size
    assert tree.count[0] == 4000
    internal = tree.left >= 0
    assert_array_equal(tree.count[internal],
                       tree.count[tree.left[internal]] + tree.count[tree.right[internal]])


def test_predictor_takes_trees_with_children_in_any_order(rng):
    """A tree numbered otherwise than the grower numbers it (here every
    pair of siblings swapped: right == left - 1) predicts the same."""
    X, y = make_regression(n_samples=2000, n_features=4, noise=5, random_state=4)
    X[::6, 2] = np.nan
    (tree,), _, _ = boost(X, y, 1, max_leaf_nodes=15, min_samples_leaf=5)
    n = tree.value.size
    order = np.arange(n)  # new position -> old node: every pair of siblings swapped
    for node in np.flatnonzero(tree.left >= 0):
        first = tree.left[node]
        order[first], order[first + 1] = first + 1, first
    new_index = np.empty(n, dtype=np.int64)
    new_index[order] = np.arange(n)
    fields = {name: getattr(tree, name)[order] for name in kernels.Tree._fields}
    for side in ("left", "right"):
        fields[side] = np.where(fields[side] >= 0, new_index[fields[side]], -1)
    shuffled = kernels.Tree(**fields)
    assert np.all(shuffled.right[shuffled.left >= 0] == shuffled.left[shuffled.left >= 0] - 1)
    assert_array_equal(kernels.predict_tree_chunk(X, shuffled),
                       kernels.predict_tree_chunk(X, tree))
    assert_array_equal(kernels.predict_tree_chunk(X, tree), naive_predict(X, tree))


@pytest.mark.parametrize("max_leaf_nodes, draws", [(2, 1), (3, 3)])
def test_features_are_drawn_only_for_nodes_that_may_split(max_leaf_nodes, draws):
    """As in scikit-learn, a node draws its candidate features
    (max_features) only when it may still split: the children of the split
    that reaches max_leaf_nodes draw none, so the shared generator advances
    once per considered node and the next tree's draws follow from that."""
    X, y = make_regression(n_samples=3000, n_features=6, random_state=4)
    thresholds, binned = binned_data(X)
    g = (y.mean() - y).astype(np.float32)
    scale = kernels.fixed_point_scale(float(np.abs(g).max()), len(g))
    rng = np.random.default_rng(0)
    grow_tree(binned, kernels.to_fixed_point(g, scale), None, gradient_scale=scale,
              hessian_scale=None, thresholds=thresholds, missing_bin=255,
              max_leaf_nodes=max_leaf_nodes, n_allowed_features=3, rng=rng)
    expected = np.random.default_rng(0)
    for _ in range(draws):
        expected.choice(6, 3, replace=False)
    assert rng.bit_generator.state == expected.bit_generator.state


def test_one_grower_for_many_trees_gives_the_same_trees():
    """Trees grown by one grower, its histograms recycled from tree to tree
    (as the estimator grows them), equal trees from a new grower each."""
    X, y = make_regression(n_samples=3000, n_features=5, random_state=5)
    X[:, 2] = np.round(X[:, 2])  # a feature of few values: summed by columns
    thresholds, binned = binned_data(X)
    grower = kernels.TreeGrower(binned, thresholds, missing_bin=255, n_threads=2)
    raw = np.full(y.shape, y.mean())
    for _ in range(3):
        g = (raw - y).astype(np.float32)
        scale = kernels.fixed_point_scale(float(np.abs(g).max()), len(g))
        fixed = kernels.to_fixed_point(g, scale)
        trees = [grower.grow(fixed, gradient_scale=scale)[0],
                 grow_tree(binned, fixed, None, gradient_scale=scale, hessian_scale=None,
                           thresholds=thresholds, missing_bin=255, n_threads=2)[0]]
        for field in kernels.Tree._fields:
            assert_array_equal(getattr(trees[0], field), getattr(trees[1], field))
        raw += kernels.predict_binned_chunk(binned, trees[0])
