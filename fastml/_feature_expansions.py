"""``PolynomialFeatures`` and ``RBFSampler``: transformers that widen X,
each from one compiled pass that writes its output once
(``polynomial_features_chunk``, ``fourier_features_chunk``)."""
import numbers
import os

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml import kernels
from fastml._set_output import LazyOutputMixin
from fastml._threads import effective_n_threads
from fastml._validation import FLOAT_DTYPES, is_dask_collection, unchanged_on_error


def _available_memory():
    """Bytes of memory this process could still get (Linux MemAvailable,
    else the physical total), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_output_fits(n_rows, n_columns, dtype, estimator):
    """Refuse, before allocating, an output larger than the free memory."""
    size = n_rows * n_columns * np.dtype(dtype).itemsize
    available = _available_memory()
    if available is not None and size > available:
        raise MemoryError(
            f"{type(estimator).__name__}.transform would return an array of {n_rows} x "
            f"{n_columns} {np.dtype(dtype).name} ({size / 2**30:.1f} GiB), more than the "
            f"{available / 2**30:.1f} GiB of memory available. Transform fewer rows at a time "
            "(or pass a Dask array), or lower the degree / number of features."
        )


def _dask_features(estimator, X, reset):
    from fastml import _dask

    return _dask.check_features(estimator, X, reset)


class PolynomialFeatures(LazyOutputMixin, TransformerMixin, BaseEstimator):
    """Polynomial and interaction features.

    Drop-in for :class:`sklearn.preprocessing.PolynomialFeatures` (dense
    input): the same columns in the same order, equal bit for bit, from
    one compiled pass (``fastml.kernels.polynomial_features_chunk``).

    Parameters
    ----------
    degree : int or (min_degree, max_degree), default=2
    interaction_only : bool, default=False
    include_bias : bool, default=True
    order : {"C", "F"}, default="C"
        Memory layout of the output ("F" is a copy of the C result).

    Attributes
    ----------
    n_output_features_ : int
    powers_ : ndarray of shape (n_output_features_, n_features_in_)
        The exponent of each input in each output.
    n_features_in_, feature_names_in_

    Notes
    -----
    ``transform`` refuses, with its size, an output larger than the free
    memory.  Dask input: ``transform`` is lazy, one output block per row
    block.  Sparse input is not supported.
    """

    def __init__(self, degree=2, *, interaction_only=False, include_bias=True, order="C"):
        self.degree = degree
        self.interaction_only = interaction_only
        self.include_bias = include_bias
        self.order = order

    def _degrees(self):
        low, high = kernels.polynomial_degree_range(self.degree)
        if high == 0 and not self.include_bias:
            raise ValueError("Setting degree to zero and include_bias to False would result "
                             "in an empty output array.")
        return low, high

    def fit(self, X, y=None):
        """Count the output features.  Returns self."""
        with unchanged_on_error(self):
            if self.order not in ("C", "F"):
                raise ValueError(f"order must be 'C' or 'F', got {self.order!r}.")
            low, high = self._degrees()
            if is_dask_collection(X):
                X = _dask_features(self, X, reset=True)
            else:
                X = validate_data(self, X)
            n_features = X.shape[1]
            n_out = kernels.n_polynomial_terms(n_features, max(1, low), high, self.interaction_only)
            self.n_output_features_ = n_out + int(self.include_bias)
            self._min_degree, self._max_degree = low, high
        return self

    @property
    def powers_(self):
        """The exponent of each input feature in each output column."""
        check_is_fitted(self)
        d = self.n_features_in_
        parent, feature, keep = kernels.polynomial_plan(
            d, self._min_degree, self._max_degree, self.interaction_only, self.include_bias)
        powers = np.zeros((parent.shape[0], d), dtype=np.int64)
        for c, (p, j) in enumerate(zip(parent, feature)):
            if p >= 0:
                powers[c] = powers[p]
            if p != -2:
                powers[c, j] += 1
        return powers[keep]

    def get_feature_names_out(self, input_features=None):
        """Names such as ``"x0^2"`` and ``"x0 x1"`` (``"1"`` for the bias)."""
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        out = []
        for row in self.powers_:
            terms = [name if power == 1 else f"{name}^{power}"
                     for name, power in zip(names, row) if power]
            out.append(" ".join(terms) if terms else "1")
        return np.asarray(out, dtype=object)

    def transform(self, X):
        """The polynomial features of X: (n_samples, n_output_features_), X's dtype."""
        check_is_fitted(self)
        if is_dask_collection(X):
            X = _dask_features(self, X, reset=False)
            return X.map_blocks(_polynomial_block, self, dtype=X.dtype,
                                chunks=(X.chunks[0], (self.n_output_features_,)),
                                meta=np.empty((0, 0), X.dtype))
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        _check_output_fits(X.shape[0], self.n_output_features_, X.dtype, self)
        out = _polynomial_block(X, self, n_threads=effective_n_threads(None))
        return np.asfortranarray(out) if self.order == "F" else out


def _polynomial_block(block, estimator, n_threads=1):
    return kernels.polynomial_features_chunk(
        block, (estimator._min_degree, estimator._max_degree),
        interaction_only=estimator.interaction_only, include_bias=estimator.include_bias,
        n_threads=n_threads)


class RBFSampler(LazyOutputMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                 BaseEstimator):
    """Approximate the RBF kernel's feature map with random Fourier features.

    Drop-in for :class:`sklearn.kernel_approximation.RBFSampler` (dense
    input): the same ``random_state`` draws the same ``random_weights_``
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
    variance).  Sparse input is not supported.
    """

    def __init__(self, *, gamma=1.0, n_components=100, random_state=None):
        self.gamma = gamma
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draw the random weights and offsets.  Returns self."""
        with unchanged_on_error(self):
            return self._fit(X)

    def _fit(self, X):
        if (not isinstance(self.n_components, numbers.Integral)
                or isinstance(self.n_components, bool) or self.n_components < 1):
            raise ValueError(f"n_components must be a positive int, got {self.n_components!r}.")
        if not (self.gamma == "scale" or (isinstance(self.gamma, numbers.Real)
                                          and not isinstance(self.gamma, bool)
                                          and self.gamma >= 0)):
            raise ValueError(f"gamma must be 'scale' or a float >= 0, got {self.gamma!r}.")
        if is_dask_collection(X):
            X = _dask_features(self, X, reset=True)
        else:
            X = validate_data(self, X)
        rng = check_random_state(self.random_state)
        n_features = X.shape[1]
        if self.gamma == "scale":
            variance = X.var()
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
            X = _dask_features(self, X, reset=False)
            return X.map_blocks(_fourier_block, self, dtype=X.dtype,
                                chunks=(X.chunks[0], (self.n_components,)),
                                meta=np.empty((0, 0), X.dtype))
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        _check_output_fits(X.shape[0], self.n_components, X.dtype, self)
        return _fourier_block(X, self, n_threads=effective_n_threads(None))


def _fourier_block(block, estimator, n_threads=1):
    return kernels.fourier_features_chunk(block, estimator.random_weights_,
                                          estimator.random_offset_, n_threads=n_threads)
