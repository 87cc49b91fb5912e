"""Sample weights of fastml.ensemble's gradient boosting: a weight of 2
(any power of two, and 0) fits exactly the model of the row repeated (or
removed): the same bins, baseline, splits, gains and leaf values, bit for
bit.  Other integer weights k (3, 5, ...) differ by the float32 rounding of
k times a gradient: fastml rounds weighted gradients as scikit-learn does,
to grow scikit-learn's trees.  scikit-learn's own test of the equivalence
passes at the default settings."""
import math
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

from fastml.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    NumbaLoss,
)
from fastml.ensemble._hist_gradient_boosting.losses import exact_sum

# Everything of a tree but what counts rows rather than weight, as in
# scikit-learn: "count", and "missing_left" at splits on features without
# missing values in training (missing values then join the child with more
# rows).  min_samples_leaf=1 so that row counts never decide a split.
TREE_FIELDS = ("feature", "threshold", "threshold_bin", "categorical", "left_categories",
               "left", "right", "value", "gain", "depth")
SETTINGS = dict(max_iter=25, min_samples_leaf=1, early_stopping=False, random_state=0)


def pseudo_huber(y, raw):
    r = raw - y
    s = math.sqrt(1.0 + r * r)
    return r / s, 1.0 / (s * s * s)


def data(kind, n, rng):
    """Features with NaN (column 1), few distinct values (column 2) and,
    for regression, a few targets far larger than the rest, so that the
    fixed-point scale is coarse next to most gradients and a scale that
    differed between the two fits would round them differently."""
    X = rng.normal(size=(n, 5))
    X[::11, 1] = np.nan
    X[:, 2] = np.round(X[:, 2] * 2)
    signal = X[:, 0] + np.sin(2 * X[:, 3]) + 0.5 * np.nan_to_num(X[:, 1])
    if kind == "binary":
        return X, (signal + rng.normal(size=n) > 0).astype(int)
    if kind == "multiclass":
        return X, np.digitize(signal + 0.5 * rng.normal(size=n), [-0.7, 0.7])
    if kind == "positive":
        y = np.exp(0.5 * signal + 0.3 * rng.normal(size=n))
        y[:3] *= 100
    else:
        y = signal + 0.3 * rng.normal(size=n)
        y[:3] *= 1e5
    return X, y


def weights_and_repeats(X, y, weights, rng):
    w = rng.choice(weights, size=y.size)
    return w, X.repeat(w, axis=0), y.repeat(w)


def assert_same_model(weighted, repeated, X):
    assert len(weighted._thresholds) == len(repeated._thresholds)
    for a, b in zip(weighted._thresholds, repeated._thresholds):
        assert_array_equal(a, b)
    assert_array_equal(weighted._baseline, repeated._baseline)
    assert weighted.n_iter_ == repeated.n_iter_
    has_missing = np.isnan(X).any(axis=0)
    for i, (trees_w, trees_r) in enumerate(zip(weighted._trees, repeated._trees)):
        for k, (a, b) in enumerate(zip(trees_w, trees_r)):
            for field in TREE_FIELDS:
                assert_array_equal(getattr(a, field), getattr(b, field),
                                   err_msg=f"iteration {i}, tree {k}: {field}")
            split = (a.left >= 0) & has_missing[np.maximum(a.feature, 0)]
            assert_array_equal(a.missing_left[split], b.missing_left[split],
                               err_msg=f"iteration {i}, tree {k}: missing_left")
    if hasattr(weighted, "predict_proba"):
        assert_array_equal(weighted.predict_proba(X), repeated.predict_proba(X))
    else:
        assert_array_equal(weighted.predict(X), repeated.predict(X))


CASES = [
    ("binary", HistGradientBoostingClassifier, {}),
    ("multiclass", HistGradientBoostingClassifier, {}),
    ("multiclass", HistGradientBoostingClassifier, dict(l2_regularization=0.5,
                                                       max_leaf_nodes=8)),
    ("regression", HistGradientBoostingRegressor, {}),
    ("regression", HistGradientBoostingRegressor, dict(l2_regularization=1.0)),
    ("positive", HistGradientBoostingRegressor, dict(loss="poisson")),
    ("positive", HistGradientBoostingRegressor, dict(loss="gamma")),
    ("regression", HistGradientBoostingRegressor, dict(loss=NumbaLoss(pseudo_huber))),
]


@pytest.mark.parametrize("kind, Estimator, params", CASES,
                         ids=[f"{c[0]}-{c[2].get('loss', '')}{sorted(c[2])}" for c in CASES])
@pytest.mark.parametrize("weights", [(1, 2), (0, 1, 2, 4)], ids=["1-2", "0-1-2-4"])
def test_integer_weights_fit_the_model_of_repeated_rows(rng, kind, Estimator, params,
                                                        weights):
    X, y = data(kind, 600, rng)
    w, X_repeated, y_repeated = weights_and_repeats(X, y, weights, rng)
    weighted = Estimator(**SETTINGS, **params).fit(X, y, sample_weight=w)
    repeated = Estimator(**SETTINGS, **params).fit(X_repeated, y_repeated)
    assert any(t.left.size > 1 for trees in weighted._trees for t in trees)  # trees split
    assert_same_model(weighted, repeated, X)


def test_weights_of_two_fit_the_model_of_repeated_rows_on_many_rows(rng):
    """Enough rows, and a few large targets, that the fixed-point scale is
    coarser than most float32 gradients, and a total weight of another bit
    length than the row count: a scale that depended on the row count or
    on how the weights are expressed would round differently."""
    X, y = data("regression", 50_000, rng)
    w, X_repeated, y_repeated = weights_and_repeats(X, y, (1, 2), rng)
    assert int(w.sum()).bit_length() != y.size.bit_length()
    settings = dict(SETTINGS, max_iter=5)
    weighted = HistGradientBoostingRegressor(**settings).fit(X, y, sample_weight=w)
    repeated = HistGradientBoostingRegressor(**settings).fit(X_repeated, y_repeated)
    assert_same_model(weighted, repeated, X)


@pytest.mark.parametrize("kind, Estimator", [("multiclass", HistGradientBoostingClassifier),
                                             ("regression", HistGradientBoostingRegressor)])
def test_other_integer_weights_differ_by_float32_rounding(rng, kind, Estimator):
    """Weight 3: the gradient 3 g rounded to float32 (as scikit-learn
    rounds it) is not three times g rounded: the two models agree to about
    float32 precision, not bit for bit."""
    X, y = data(kind, 600, rng)
    w, X_repeated, y_repeated = weights_and_repeats(X, y, (1, 3), rng)
    weighted = Estimator(**SETTINGS).fit(X, y, sample_weight=w)
    repeated = Estimator(**SETTINGS).fit(X_repeated, y_repeated)
    method = "predict_proba" if kind == "multiclass" else "predict"
    got, expected = getattr(weighted, method)(X), getattr(repeated, method)(X)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9 * np.abs(expected).max())


@pytest.mark.parametrize("Estimator", [HistGradientBoostingClassifier,
                                       HistGradientBoostingRegressor])
def test_scikit_learn_weight_equivalence_check_at_default_settings(Estimator):
    """scikit-learn's check (15 rows, integer weights 0 to 4) at max_iter=100:
    every tree is one leaf (15 rows < 2 * min_samples_leaf) and predicts 0,
    as scikit-learn's; a Newton step there would add, 100 times, the float32
    rounding of gradients weighted by 3 (1e-7 relative)."""
    check_sample_weight_equivalence_on_dense_data(Estimator.__name__, Estimator())


# ---------------------------------------------------------------- exact sums


def fraction_sum(values, weights=None):
    weights = np.ones(len(values)) if weights is None else weights
    return sum((Fraction(float(v)) * Fraction(float(w)) for v, w in zip(values, weights)),
               Fraction(0))


@pytest.mark.parametrize("weighted", [False, True])
def test_exact_sums_equal_fractions(rng, weighted):
    x = rng.normal(size=3000) * np.exp(rng.normal(scale=30, size=3000))
    x[:4] = [1e308, -1e308, 5e-324, -2.5e-310]  # the extremes and subnormals
    w = rng.uniform(0, 3, size=x.size) if weighted else None
    if weighted:
        w[:4] = [1.5, 1.5, 1.0, 3.0]
    assert exact_sum(x, w) == fraction_sum(x, w)


def test_exact_sums_ignore_order_and_repetition(rng):
    x = rng.normal(size=300_000) * 1e3
    w = rng.integers(0, 4, size=x.size).astype(np.float64)
    whole = exact_sum(x, w)
    order = rng.permutation(x.size)
    assert exact_sum(x[order], w[order]) == whole
    assert exact_sum(x.repeat(w.astype(int))) == whole  # weights are repetitions
    assert exact_sum(np.empty(0)) == 0
    assert exact_sum(np.array([1.0, np.nan])) is None
    assert exact_sum(np.array([1e300]), np.array([1e10])) is None  # the product overflows


def test_baselines_are_exact_weighted_means(rng):
    """The regressors' baselines: the weighted mean rounded once."""
    X, y = data("regression", 500, rng)
    w = rng.uniform(0, 3, size=y.size)
    model = HistGradientBoostingRegressor(max_iter=1).fit(X, y, sample_weight=w)
    assert model._baseline[0] == float(fraction_sum(y, w) / fraction_sum(w))
