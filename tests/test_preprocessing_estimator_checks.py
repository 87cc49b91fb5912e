"""scikit-learn's estimator checks on every estimator of fastml.preprocessing."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastml.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler


@parametrize_with_checks([
    StandardScaler(),
    StandardScaler(with_mean=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-1, 2), clip=True),
    MaxAbsScaler(),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)
