"""fastml's gradient boosting against LightGBM (in the test extra) with the
same settings: leaf-wise trees of 31 leaves, 255 bins, at least 20 rows per
leaf, no L2, learning rate 0.1.  The two bin and break ties differently, so
the models are not equal: their test scores and predictions must agree
closely."""
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from fastml.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

lightgbm = pytest.importorskip("lightgbm")

SETTINGS = dict(n_estimators=50, num_leaves=31, learning_rate=0.1, max_bin=255,
                min_child_samples=20, reg_lambda=0.0, min_child_weight=1e-3, subsample=1.0,
                colsample_bytree=1.0, n_jobs=2, verbose=-1, random_state=0)
OURS = dict(max_iter=50, max_leaf_nodes=31, learning_rate=0.1, max_bins=255,
            min_samples_leaf=20, l2_regularization=0.0, early_stopping=False)


def split(X, y):
    return train_test_split(X.astype(np.float32), y, test_size=0.25, random_state=0)


def test_regression_agrees_with_lightgbm():
    X, y = make_regression(n_samples=20_000, n_features=10, n_informative=6, noise=10,
                           random_state=0)
    X[::9, 2] = np.nan
    X_train, X_test, y_train, y_test = split(X, y)
    ours = HistGradientBoostingRegressor(**OURS).fit(X_train, y_train).predict(X_test)
    ref = lightgbm.LGBMRegressor(**SETTINGS).fit(X_train, y_train).predict(X_test)
    assert abs(r2_score(y_test, ours) - r2_score(y_test, ref)) < 0.005
    assert np.corrcoef(ours, ref)[0, 1] > 0.995


def test_binary_classification_agrees_with_lightgbm():
    X, y = make_classification(n_samples=20_000, n_features=10, n_informative=6,
                               random_state=0)
    X[::9, 2] = np.nan
    X_train, X_test, y_train, y_test = split(X, y)
    ours = HistGradientBoostingClassifier(**OURS).fit(X_train, y_train)
    ref = lightgbm.LGBMClassifier(**SETTINGS).fit(X_train, y_train)
    p_ours, p_ref = ours.predict_proba(X_test)[:, 1], ref.predict_proba(X_test)[:, 1]
    assert abs(roc_auc_score(y_test, p_ours) - roc_auc_score(y_test, p_ref)) < 0.005
    assert np.mean(np.abs(p_ours - p_ref)) < 0.02
    assert np.mean((p_ours > 0.5) == (p_ref > 0.5)) > 0.98


def test_multiclass_agrees_with_lightgbm():
    X, y = make_classification(n_samples=15_000, n_features=10, n_informative=6,
                               n_classes=3, random_state=1)
    X_train, X_test, y_train, y_test = split(X, y)
    ours = HistGradientBoostingClassifier(**OURS).fit(X_train, y_train)
    ref = lightgbm.LGBMClassifier(**SETTINGS).fit(X_train, y_train)
    assert abs(ours.score(X_test, y_test) - ref.score(X_test, y_test)) < 0.01
    assert np.mean(np.abs(ours.predict_proba(X_test) - ref.predict_proba(X_test))) < 0.02
