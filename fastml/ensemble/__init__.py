"""Drop-in replacements for scikit-learn's histogram gradient boosting,
on fastml's compiled histogram, split and partition kernels.

``HistGradientBoostingRegressor`` and ``HistGradientBoostingClassifier``
take scikit-learn's parameters and give its fitted attributes; ``NumbaLoss``
is a loss written in Python and compiled with Numba.  Models are saved to
and loaded from ``.npz`` files without pickles (``save`` / ``load``).
"""
from fastml.ensemble._hist_gradient_boosting.gradient_boosting import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from fastml.ensemble._hist_gradient_boosting.losses import NumbaLoss

__all__ = ["HistGradientBoostingRegressor", "HistGradientBoostingClassifier", "NumbaLoss"]
