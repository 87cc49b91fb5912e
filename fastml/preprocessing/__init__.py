"""Drop-in replacements for scikit-learn's ``StandardScaler``,
``MinMaxScaler``, ``MaxAbsScaler``, ``RobustScaler``, ``KBinsDiscretizer``,
``QuantileTransformer`` and ``PolynomialFeatures``, from compiled
chunk-level kernels.  float32 stays float32, and float16 float16 (computed in
float64, rounded once), as in scikit-learn; NaN is skipped by ``fit`` and
kept by ``transform``, as in scikit-learn.  On Dask arrays ``fit`` runs one
``dask.compute`` of tree-merged block statistics (moments, or quantile
summaries within a stated rank error) and ``transform`` is lazy.

* ``_data``: the scalers;
* ``_discretization``: KBinsDiscretizer;
* ``_quantile``: QuantileTransformer;
* ``_polynomial``: PolynomialFeatures.
"""
from fastml.preprocessing._data import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from fastml.preprocessing._discretization import KBinsDiscretizer
from fastml.preprocessing._polynomial import PolynomialFeatures
from fastml.preprocessing._quantile import QuantileTransformer

__all__ = ["StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler",
           "KBinsDiscretizer", "QuantileTransformer", "PolynomialFeatures"]

# the examples of the classes, for doctest.testmod of this package (they are
# defined in the private modules)
__test__ = {name: globals()[name] for name in __all__}
