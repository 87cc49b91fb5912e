"""scikit-learn 1.9's HistGradientBoosting rules on unusual targets and
categories, with scikit-learn itself as the reference."""
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier as SkClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as SkRegressor

from fastml.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor


@pytest.mark.parametrize("labels", [np.zeros(300, dtype=int), np.array(["a"] * 300)])
@pytest.mark.parametrize("params", [dict(max_iter=5), dict(max_iter=5, early_stopping=True),
                                    dict(max_iter=3, class_weight="balanced")])
def test_a_single_class_is_fitted_as_in_sklearn(labels, params):
    """One class: a binary log loss whose baseline is the clipped log-odds;
    predict_proba has two columns, classes_ one entry."""
    X = np.random.default_rng(0).normal(size=(300, 3))
    ref = SkClassifier(**params).fit(X, labels)
    ours = HistGradientBoostingClassifier(**params).fit(X, labels)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.n_trees_per_iteration_ == ref.n_trees_per_iteration_ == 1
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.train_score_, ref.train_score_, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X[:5]), ref.predict(X[:5]))
    proba = ours.predict_proba(X[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba, ref.predict_proba(X[:5]), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(ours.decision_function(X[:5]), ref.decision_function(X[:5]),
                               rtol=1e-12)


def test_a_single_class_on_dask_matches_in_memory():
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(1).normal(size=(200, 3))
    y = np.full(200, 7)
    ours = HistGradientBoostingClassifier(max_iter=3).fit(da.from_array(X, chunks=50),
                                                          da.from_array(y, chunks=50))
    ref = SkClassifier(max_iter=3).fit(X, y)
    proba = ours.predict_proba(da.from_array(X, chunks=50)).compute()
    np.testing.assert_allclose(proba, ref.predict_proba(X), rtol=1e-12, atol=1e-18)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize("Sk, Ours", [(SkRegressor, HistGradientBoostingRegressor),
                                      (SkClassifier, HistGradientBoostingClassifier)])
def test_negative_categories_follow_sklearn_1_9(Sk, Ours):
    """scikit-learn 1.9 ordinal-encodes categorical columns before binning:
    a negative value seen in fit is a category of its own (its docstring's
    "negative values are treated as missing" is no longer what it does), and
    a value unseen in fit, negative or not, goes where missing values go."""
    rng = np.random.default_rng(0)
    c = rng.integers(0, 4, 400).astype(float)
    X = np.c_[np.select([c == 0, c == 2], [-1.0, -2.5], c), rng.normal(size=400)]
    y = c * 3 + rng.normal(size=400) * 0.1 if Sk is SkRegressor else c > 1
    Q = np.array([[-1.0, 0], [np.nan, 0], [-3.0, 0], [0.0, 0], [7.0, 0], [-2.5, 1]])
    ref = Sk(categorical_features=[0], max_iter=10, random_state=0).fit(X, y)
    ours = Ours(categorical_features=[0], max_iter=10, random_state=0).fit(X, y)
    method = "predict" if Sk is SkRegressor else "predict_proba"
    for A in (X, Q):
        np.testing.assert_allclose(getattr(ours, method)(A), getattr(ref, method)(A),
                                   rtol=1e-10)
    # -1 is a category, not a missing value: it predicts differently from NaN
    assert not np.allclose(getattr(ours, method)(Q[:1]), getattr(ours, method)(Q[1:2]))


@pytest.mark.parametrize("Sk, Ours", [(SkRegressor, HistGradientBoostingRegressor),
                                      (SkClassifier, HistGradientBoostingClassifier)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rare_categories_go_right_as_in_sklearn(Sk, Ours, seed):
    """scikit-learn ranks only the categories whose support (hessian in rows
    of the node's mean hessian) reaches 10 and sends the rarer ones right:
    a category seen in 4 rows of 1000, and missing values in as few, predict
    as scikit-learn predicts them (their own value would need ranking)."""
    rng = np.random.RandomState(seed)
    X = np.c_[rng.rand(1000), rng.randint(6, size=1000)].astype(float)
    y = (X[:, 1] % 2 == 0) * 1.0 + rng.rand(1000) * 0.1
    X[:4, 1] = 9          # a rare category: 4 rows
    X[4:10, 1] = np.nan   # rare missing values
    y[:10] = 5.0 if Sk is SkRegressor else 1.0
    y = y if Sk is SkRegressor else y > 0.5
    Q = np.array([[0.5, 9], [0.5, np.nan], [0.5, 30], [0.5, 1], [0.5, 2]])
    ref = Sk(categorical_features=[1], max_iter=20, random_state=0).fit(X, y)
    ours = Ours(categorical_features=[1], max_iter=20, random_state=0).fit(X, y)
    method = "predict" if Sk is SkRegressor else "predict_proba"
    for A in (X, Q):
        np.testing.assert_allclose(getattr(ours, method)(A), getattr(ref, method)(A),
                                   rtol=1e-9, atol=1e-12)
