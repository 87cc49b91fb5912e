"""``kernels.TreeGrower`` (every step of a tree in compiled code) against
the same leaf-wise loop written in Python over the step kernels
(reference_grower.py): the same trees, bit for bit, and the same rows in
each leaf, over the options that change how a tree grows."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastml import kernels
from reference_grower import grow_tree as reference_grow_tree


def make_data(n, d, rng, *, missing=0.05, few_values=(1,), max_bins=255):
    """Binned codes and thresholds of random data with missing values and
    features of few values (summed by columns)."""
    X = rng.normal(size=(n, d))
    for f in few_values:
        X[:, f] = np.round(X[:, f])
    X[rng.random(X.shape) < missing] = np.nan
    thresholds = kernels.bin_thresholds(X, max_bins)
    binned = kernels.bin_chunk(X, [np.nextafter(t, np.inf) for t in thresholds],
                               missing_bin=max_bins)
    return X, binned, thresholds


def fixed(values, n_threads=1):
    scale = kernels.fixed_point_scale(float(np.abs(values).max()), values.size)
    return kernels.to_fixed_point(values.astype(np.float32), scale), scale


def grow_both(binned, thresholds, g, h, g_scale, h_scale, *, seed=None, **params):
    """(compiled tree, leaves), (reference tree, leaves) and the two
    generators' states after the trees."""
    rngs = [None, None] if seed is None else [np.random.default_rng(seed) for _ in range(2)]
    compiled = kernels.TreeGrower(binned, thresholds, rng=rngs[0], **params).grow(
        g, h, gradient_scale=g_scale, hessian_scale=h_scale)
    reference = reference_grow_tree(binned, g, h, gradient_scale=g_scale, hessian_scale=h_scale,
                                    thresholds=thresholds, rng=rngs[1], **params)
    states = [None if r is None else r.bit_generator.state for r in rngs]
    return compiled, reference, states


def assert_same_trees(compiled, reference):
    (tree, leaves), (ref_tree, ref_leaves) = compiled, reference
    for field in kernels.Tree._fields:
        assert_array_equal(getattr(tree, field), getattr(ref_tree, field), err_msg=field)
    assert [node for node, _ in leaves] == [node for node, _ in ref_leaves]
    for (_, rows), (_, ref_rows) in zip(leaves, ref_leaves):
        assert_array_equal(rows, ref_rows)


CASES = [
    {},
    {"max_leaf_nodes": 7, "min_samples_leaf": 50, "l2_regularization": 3.0},
    {"max_leaf_nodes": None, "max_depth": 4},
    {"max_leaf_nodes": None, "min_samples_leaf": 1},
    {"max_leaf_nodes": 63, "min_samples_leaf": 2, "learning_rate": 0.5},
    {"min_gain_to_split": 50.0, "max_leaf_nodes": 40},
    {"min_hessian": 5.0, "min_samples_leaf": 3},
    {"max_leaf_nodes": 2},
]


@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize("with_hessians", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_compiled_grower_equals_the_python_loop(rng, params, with_hessians, n_threads):
    X, binned, thresholds = make_data(3000, 6, rng)
    signal = np.nan_to_num(X[:, 0]) - 2 * (np.nan_to_num(X[:, 2]) > 0.5) + X[:, 1] ** 2
    g, g_scale = fixed(np.nan_to_num(signal - 1) + rng.normal(size=3000))
    h, h_scale = (None, None)
    if with_hessians:
        h, h_scale = fixed(rng.uniform(0.05, 0.25, size=3000))
    compiled, reference, _ = grow_both(binned, thresholds, g, h, g_scale, h_scale,
                                       missing_bin=255, n_threads=n_threads, **params)
    assert_same_trees(compiled, reference)
    assert (compiled[0].left >= 0).any()  # the case splits


def test_large_nodes_split_on_several_threads(rng):
    """Nodes of 40 000 rows and more are partitioned (and their rows put
    back in place) by two threads, each taking a range: same trees."""
    n = 90_000
    X, binned, thresholds = make_data(n, 5, rng)
    g, g_scale = fixed(np.nan_to_num(X[:, 0] - X[:, 3] ** 2) + rng.normal(size=n))
    h, h_scale = fixed(rng.uniform(0.05, 0.25, size=n))
    compiled, reference, _ = grow_both(binned, thresholds, g, h, g_scale, h_scale,
                                       missing_bin=255, n_threads=2, max_leaf_nodes=15)
    assert_same_trees(compiled, reference)
    assert max(len(rows) for _, rows in compiled[1]) < n // 2   # the big nodes split


@pytest.mark.parametrize("max_bins", [32, 255])
def test_categorical_features_and_unseen_categories(rng, max_bins):
    n = 4000
    X, binned, thresholds = make_data(n, 4, rng, max_bins=max_bins)
    categories = rng.integers(0, 12, size=n)                      # feature 0: 12 categories
    binned[:, 0] = np.where(rng.random(n) < 0.05, max_bins, categories)  # some missing
    binned[binned[:, 0] == 7, 0] = 3                               # category 7 unseen
    thresholds[0] = np.arange(11.0)                                # 12 value bins
    effect = np.array([3, -1, 0, 2, -2, 1, 0, 0, 4, -3, 1, -1])[categories]
    g, g_scale = fixed(effect + rng.normal(size=n))
    categorical = np.array([True, False, False, False])
    compiled, reference, _ = grow_both(binned, thresholds, g, None, g_scale, None,
                                       missing_bin=max_bins, categorical=categorical,
                                       min_samples_leaf=10)
    assert_same_trees(compiled, reference)
    assert compiled[0].categorical.any()


@pytest.mark.parametrize("max_leaf_nodes", [2, 3, 31])
def test_max_features_draws_the_same_features(rng, max_leaf_nodes):
    """Each considered node draws its features from the generator, in the
    same order as the Python loop: same trees, same generator state."""
    X, binned, thresholds = make_data(2000, 8, rng)
    g, g_scale = fixed(np.nan_to_num(X @ rng.normal(size=8)))
    compiled, reference, (state, ref_state) = grow_both(
        binned, thresholds, g, None, g_scale, None, seed=0, missing_bin=255,
        n_allowed_features=3, max_leaf_nodes=max_leaf_nodes)
    assert_same_trees(compiled, reference)
    assert state == ref_state


def test_unpacked_sums_when_packed_ones_could_overflow(rng):
    """Fixed-point values too large to share a word with a row count are
    summed unpacked (GradientHistograms.packed is None): same trees."""
    X, binned, thresholds = make_data(3000, 5, rng)
    g = (np.nan_to_num(X[:, 0]) * 2.0**49).astype(np.int64)
    assert kernels.GradientHistograms(binned, g).packed is None
    compiled, reference, _ = grow_both(binned, thresholds, g, None, 2.0**-49, None,
                                       missing_bin=255, n_threads=2)
    assert_same_trees(compiled, reference)


def test_ties_go_to_the_first_feature_and_the_older_node():
    """Two identical features, and children whose best splits gain the
    same: the root splits on the first of the two, and with room for one
    more leaf, the older child splits."""
    codes = np.tile(np.arange(8, dtype=np.uint8), 100)
    binned = np.ascontiguousarray(np.column_stack([codes, codes, np.repeat([0, 1], 400)]),
                                  dtype=np.uint8)
    g = 2 * np.where(codes < 4, 2, -2) + np.where(binned[:, 2] == 0, 1, -1)
    thresholds = [np.arange(7.0), np.arange(7.0), np.array([0.5])]
    compiled, reference, _ = grow_both(binned, thresholds, g.astype(np.int64), None, 1.0,
                                       None, missing_bin=255, min_samples_leaf=5,
                                       max_leaf_nodes=3)
    assert_same_trees(compiled, reference)
    tree = compiled[0]
    assert tree.feature.tolist()[:3] == [0, 2, -1]   # node 1 (older) split, node 2 not
    assert tree.gain[1] > 0 and tree.left[2] == -1


def test_one_row_per_leaf_and_one_feature(rng):
    binned = rng.permutation(200).astype(np.uint8)[:, None] % 200
    thresholds = [np.arange(199.0)]
    g, g_scale = fixed(rng.normal(size=200))
    compiled, reference, _ = grow_both(binned, thresholds, g, None, g_scale, None,
                                       missing_bin=255, min_samples_leaf=1,
                                       max_leaf_nodes=None)
    assert_same_trees(compiled, reference)
    assert compiled[0].count[compiled[0].left < 0].max() == 1


def test_a_tree_that_cannot_split_is_one_leaf_predicting_zero(rng):
    X, binned, thresholds = make_data(30, 3, rng)
    g, g_scale = fixed(rng.normal(size=30))
    (tree, leaves), reference, _ = grow_both(binned, thresholds, g, None, g_scale, None,
                                             missing_bin=255, min_samples_leaf=20)
    assert_same_trees((tree, leaves), reference)
    assert tree.value.tolist() == [0.0] and leaves[0][1].size == 30


@pytest.mark.parametrize("kwargs, message", [
    (dict(binned=np.zeros((5, 2), np.float64)), "uint8"),
    (dict(binned=np.zeros((0, 2), np.uint8)), "rows and features"),
    (dict(thresholds=[np.arange(3.0)]), "one array per feature"),
    (dict(missing_bin=300), "missing_bin"),
    (dict(binned=np.full((5, 2), 9, np.uint8)), "feature 0 has code 9"),
    (dict(thresholds=[np.arange(300.0), np.arange(3.0)]), "value bins"),
    (dict(categorical=[True]), "categorical must have shape"),
    (dict(n_allowed_features=1), "needs rng"),
    (dict(max_leaf_nodes=1), "max_leaf_nodes"),
    (dict(max_depth=0), "max_depth"),
    (dict(min_samples_leaf=0), "min_samples_leaf"),
])
def test_bad_grower_arguments_are_refused_before_compiled_code(kwargs, message):
    args = dict(binned=np.zeros((5, 2), np.uint8), thresholds=[np.arange(3.0)] * 2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        kernels.TreeGrower(args.pop("binned"), args.pop("thresholds"), **args)


def test_bad_gradients_are_refused():
    grower = kernels.TreeGrower(np.zeros((5, 2), np.uint8), [np.arange(3.0)] * 2)
    with pytest.raises(ValueError, match="gradients must be int64"):
        grower.grow(np.zeros(5), gradient_scale=1.0)
    with pytest.raises(ValueError, match=r"hessians must be int64 .* \(5,\)"):
        grower.grow(np.zeros(5, np.int64), np.zeros(4, np.int64), gradient_scale=1.0,
                    hessian_scale=1.0)


def test_an_error_in_the_feature_draw_reaches_the_caller():
    class BrokenGenerator:
        def choice(self, *args, **kwargs):
            raise RuntimeError("no draws today")
    binned = np.repeat(np.arange(5, dtype=np.uint8), 40)[:, None].repeat(2, axis=1)
    grower = kernels.TreeGrower(binned, [np.arange(4.0)] * 2, n_allowed_features=1,
                                rng=BrokenGenerator(), min_samples_leaf=5)
    with pytest.raises(RuntimeError, match="no draws today"):
        grower.grow(np.arange(200, dtype=np.int64), gradient_scale=1.0)
    tree, _ = kernels.TreeGrower(np.zeros((50, 2), np.uint8), [np.arange(3.0)] * 2).grow(
        np.zeros(50, np.int64), gradient_scale=1.0)   # a new grower still works
    assert tree.value.size == 1
