"""scikit-learn's estimator checks on the estimators of fastml.ensemble.

One check is expected to fail by design, for class_weight="balanced" only
(scikit-learn's own classifier fails it too).
"""
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastml.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor


def expected_failed_checks(estimator):
    if getattr(estimator, "class_weight", None) == "balanced":
        # "balanced" counts the classes without the sample weights, so weights
        # are not repetitions
        return {"check_sample_weight_equivalence_on_dense_data": (
            "class_weight='balanced' ignores sample_weight when counting classes "
            "(as scikit-learn does)")}
    return {}


@parametrize_with_checks([
    HistGradientBoostingRegressor(max_iter=10),
    HistGradientBoostingRegressor(loss="absolute_error", max_iter=10, max_leaf_nodes=7),
    HistGradientBoostingClassifier(max_iter=10),
    HistGradientBoostingClassifier(max_iter=10, class_weight="balanced", max_features=0.5,
                                   random_state=0),
], expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
