"""Drop-in replacement for scikit-learn's ``RBFSampler``: random Fourier
features from a BLAS product and one compiled cosine pass
(``fastml.kernels.fourier_features_chunk``)."""
import numbers

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml._set_output import LazyOutputMixin
from fastml._validation import (FLOAT_DTYPES, Interval, Options, check_parameters,
                                float32_list_as_array, is_dask_collection,
                                unchanged_on_error)
from fastml.preprocessing._polynomial import check_output_fits

__all__ = ["RBFSampler"]


def has_sparse_blocks(X):
    """A Dask array of scipy.sparse blocks (Dask imported only for one)."""
    from fastml._dask.arrays import has_sparse_blocks as sparse_blocks

    return sparse_blocks(X)


def sparse_fourier_features(X, weights, offset, n_threads):
    """Random Fourier features of sparse rows (CSR / CSC, matrix or array):
    SciPy's sparse x dense product in X's dtype (as scikit-learn's
    ``safe_sparse_dot``), then the compiled pass of
    ``fourier_features_chunk``, in place; dense (n_samples, n_components).
    One function for in-memory input and every block of a Dask array of
    sparse blocks."""
    from fastml._kernels import _features

    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    out = np.ascontiguousarray(X @ weights.astype(X.dtype, copy=False), dtype=X.dtype)
    m = out.shape[1]
    if out.size:
        _features.cos_rows(out, offset.astype(X.dtype), float(np.sqrt(2.0 / m)),
                           np.empty((n_threads, m), dtype=X.dtype), n_threads)
    return out


def _sparse_blocks_variance(X):
    """The variance of every value of a Dask array of sparse blocks (as
    ``X.var()``, implicit zeros included), from the column moments of one
    tree reduction: ``mean(var_j + mean_j**2) - mean(mean_j)**2``."""
    from fastml._dask.reductions import column_moments

    moments = column_moments(X)
    mean = moments.mean
    with np.errstate(invalid="ignore", divide="ignore"):
        var = moments.m2 / moments.count
    return float(np.mean(var + mean ** 2) - np.mean(mean) ** 2)


class RBFSampler(LazyOutputMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                 BaseEstimator):
    """Approximate the RBF kernel's feature map with random Fourier features.

    Drop-in for :class:`sklearn.kernel_approximation.RBFSampler`: the same ``random_state`` draws the same ``random_weights_``
    and ``random_offset_``, bit for bit, and so the same features (to
    rounding: the projection is the same BLAS product in X's dtype, the
    cosine fastml's own, vectorised, in X's dtype).  ``transform`` is that
    product and one compiled pass of offset, cosine and scale
    (``fastml.kernels.fourier_features_chunk``).

    Parameters
    ----------
    gamma : "scale" or float, default=1.0
        ``exp(-gamma ||x - y||^2)``; "scale" uses ``1 / (n_features * X.var())``.
    n_components : int, default=100
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    random_weights_ : ndarray of shape (n_features, n_components)
    random_offset_ : ndarray of shape (n_components,)
        float32 when fitted on float32, else float64.
    n_features_in_, feature_names_in_

    Notes
    -----
    Dask input: ``transform`` is lazy; ``fit`` needs only the number of
    features (and, for ``gamma="scale"``, one ``dask.compute`` of the
    variance).  Sparse input (CSR / CSC, matrix or array classes): fit
    takes its variance as scikit-learn does (``E[X**2] - E[X]**2``),
    transform is SciPy's sparse x dense product, never densifying X,
    then the same compiled offset, cosine and scale pass; the output is
    dense, as in scikit-learn.  Dask arrays of sparse blocks: ``gamma="scale"``
    takes the variance from one tree reduction of the column moments,
    implicit zeros included (equal to the in-memory one to rounding);
    ``transform`` is lazy, each block mapped as in memory into a dense
    block.
    """

    def __init__(self, *, gamma=1.0, n_components=100, random_state=None):
        self.gamma = gamma
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draw the random weights and offsets.  Returns self."""
        with unchanged_on_error(self):
            return self._fit(X)

    _parameter_constraints = {
        "gamma": [Options("scale"), Interval(numbers.Real, 0, None, closed="left")],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def _fit(self, X):
        check_parameters(self)
        if is_dask_collection(X):
            from fastml import _dask

            X = _dask.check_features(self, X, reset=True)
        else:
            X = validate_data(self, X, accept_sparse="csr")
        rng = check_random_state(self.random_state)
        n_features = X.shape[1]
        if self.gamma == "scale":
            if is_dask_collection(X) and has_sparse_blocks(X):
                variance = _sparse_blocks_variance(X)
            else:
                variance = (X.multiply(X).mean() - X.mean() ** 2 if sparse.issparse(X)
                            else X.var())
            if is_dask_collection(variance):
                variance = variance.compute()
            self._gamma = 1.0 / (n_features * variance) if variance != 0 else 1.0
        else:
            self._gamma = self.gamma
        # drawn in scikit-learn's order, so a random_state gives its numbers
        self.random_weights_ = (2.0 * self._gamma) ** 0.5 * rng.normal(
            size=(n_features, self.n_components))
        self.random_offset_ = rng.uniform(0, 2 * np.pi, size=self.n_components)
        if X.dtype == np.float32:
            self.random_weights_ = self.random_weights_.astype(np.float32)
            self.random_offset_ = self.random_offset_.astype(np.float32)
        self._n_features_out = self.n_components
        return self

    def transform(self, X):
        """Random Fourier features of X: (n_samples, n_components); float32
        X gives float32, anything else float64."""
        check_is_fitted(self)
        if is_dask_collection(X):
            from fastml import _dask

            X = _dask.check_features(self, X, reset=False)
            if has_sparse_blocks(X):
                from fastml._dask.transforms import map_sparse_blocks

                return map_sparse_blocks(
                    X, sparse_fourier_features, np.empty((0, 0), X.dtype),
                    n_columns=self.n_components, weights=self.random_weights_,
                    offset=self.random_offset_)
            return _dask.fourier_features(X, self.random_weights_, self.random_offset_)
        from fastml.kernels import fourier_features_chunk
        from fastml._threads import effective_n_threads

        # a list of float32 numbers stays float32, as in scikit-learn
        X = validate_data(self, float32_list_as_array(X), reset=False, dtype=FLOAT_DTYPES,
                          accept_sparse="csr")
        check_output_fits(X.shape[0], self.n_components, X.dtype, self)
        if sparse.issparse(X):
            return self._sparse_features(X, effective_n_threads(None))
        return fourier_features_chunk(X, self.random_weights_, self.random_offset_,
                                      n_threads=effective_n_threads(None))

    def _sparse_features(self, X, n_threads):
        return sparse_fourier_features(X, self.random_weights_, self.random_offset_,
                                       n_threads)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
