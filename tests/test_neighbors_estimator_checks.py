"""scikit-learn's estimator checks on every estimator of fastml.neighbors."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastml.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    KNeighborsTransformer,
    NearestNeighbors,
    RadiusNeighborsTransformer,
)


@parametrize_with_checks([
    NearestNeighbors(),
    KNeighborsClassifier(),
    KNeighborsClassifier(weights="distance", metric="manhattan"),
    KNeighborsRegressor(),
    KNeighborsRegressor(weights="distance", metric="cosine"),
    KNeighborsTransformer(),
    RadiusNeighborsTransformer(),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)
