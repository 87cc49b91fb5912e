"""scikit-learn's estimator checks on every estimator of fastml.preprocessing."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastml.kernel_approximation import RBFSampler

from fastml.preprocessing import (
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)


@parametrize_with_checks([
    StandardScaler(),
    StandardScaler(with_mean=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-1, 2), clip=True),
    MaxAbsScaler(),
    RobustScaler(),
    RobustScaler(with_centering=False, quantile_range=(10.0, 90.0), unit_variance=True),
    KBinsDiscretizer(),
    KBinsDiscretizer(n_bins=3, encode="ordinal", strategy="uniform"),
    KBinsDiscretizer(n_bins=4, encode="onehot-dense", quantile_method="inverted_cdf", subsample=None),
    QuantileTransformer(n_quantiles=20),
    QuantileTransformer(n_quantiles=10, output_distribution="normal", subsample=None),
    PolynomialFeatures(),
    PolynomialFeatures(degree=(2, 3), interaction_only=True, include_bias=False),
    RBFSampler(random_state=0),
    RBFSampler(gamma="scale", n_components=20, random_state=0),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)
