"""Drop-in replacement for scikit-learn's ``RBFSampler``: random Fourier
features from a BLAS product and one compiled cosine pass
(``fastml.kernels.fourier_features_chunk``)."""
from fastml._feature_expansions import RBFSampler

__all__ = ["RBFSampler"]
