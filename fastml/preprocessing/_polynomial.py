"""``PolynomialFeatures``: polynomial and interaction features, from one
compiled pass that writes its output once (``polynomial_features_chunk``).

``check_output_fits`` refuses an output larger than the free memory; the
RBFSampler of ``fastml.kernel_approximation`` uses it too."""
import os

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml._set_output import LazyOutputMixin
from fastml.preprocessing._sparse import is_sparse
from fastml._validation import (FLOAT_DTYPES, Options, check_parameters, is_dask_collection,
                                is_float16, unchanged_on_error)


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


def check_output_fits(n_rows, n_columns, dtype, estimator):
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


def _sparse_output_class(X):
    """The sparse class of the output for sparse X (in memory, or the meta
    of a Dask array's blocks): X's format (CSR / CSC; others become CSR),
    the class scikit-learn's ``sparse_interface`` setting asks for.  None
    for dense X."""
    from scipy import sparse
    from sklearn import get_config

    if is_dask_collection(X):
        from dask.array.utils import meta_from_array

        X = meta_from_array(X)
    if not is_sparse(X):
        return None
    kind = "_array" if get_config().get("sparse_interface") == "sparray" else "_matrix"
    return getattr(sparse, (X.format if X.format in ("csr", "csc") else "csr") + kind)


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
    block.  SciPy sparse input (CSR / CSC, matrix or array classes) gives
    sparse output in X's format, as in scikit-learn, computed without
    densifying (``fastml.kernels.sparse_polynomial_features_chunk``): only
    the monomials of stored values are stored, the same bits as
    scikit-learn's; the output class follows scikit-learn's
    ``sparse_interface`` setting.  A Dask array of sparse blocks gives a
    lazy Dask array of such sparse blocks, the same bits.
    """

    def __init__(self, degree=2, *, interaction_only=False, include_bias=True, order="C"):
        self.degree = degree
        self.interaction_only = interaction_only
        self.include_bias = include_bias
        self.order = order

    _parameter_constraints = {
        "order": [Options("C", "F")],
    }

    def _degrees(self):
        """(min_degree, max_degree), refused with scikit-learn's messages."""
        from fastml.kernels import polynomial_degree_range

        degree = self.degree
        pair = isinstance(degree, (tuple, list)) and len(degree) == 2
        try:
            low, high = polynomial_degree_range(degree)
        except ValueError:
            if not pair:
                raise
            raise ValueError("degree=(min_degree, max_degree) must be non-negative integers "
                             f"that fulfil min_degree <= max_degree, got {degree}.") from None
        if high == 0 and not self.include_bias:
            raise ValueError(("Setting both min_degree and max_degree" if pair else
                              "Setting degree") + " to zero and include_bias to False would "
                             "result in an empty output array.")
        return low, high

    def fit(self, X, y=None):
        """Count the output features.  Returns self."""
        from fastml.kernels import n_polynomial_terms

        with unchanged_on_error(self):
            check_parameters(self)
            low, high = self._degrees()
            if is_dask_collection(X):
                from fastml import _dask

                X = _dask.check_features(self, X, reset=True)
            else:
                X = validate_data(self, X, accept_sparse=True)
            n_features = X.shape[1]
            n_out = n_polynomial_terms(n_features, max(1, low), high, self.interaction_only)
            n_out += int(self.include_bias)
            if n_out > np.iinfo(np.intp).max:   # scikit-learn's check and words
                raise ValueError(
                    "The output that would result from the current configuration would have "
                    f"{n_out} features which is too large to be indexed by "
                    f"{np.dtype(np.intp).name}. Please change some or all of the following:\n"
                    f"- The number of features in the input, currently {n_features=}\n- The "
                    f"range of degrees to calculate, currently [{low}, {high}]\n- Whether to "
                    f"include only interaction terms, currently {self.interaction_only}\n- "
                    f"Whether to include a bias term, currently {self.include_bias}.")
            self.n_output_features_ = n_out
            self._min_degree, self._max_degree = low, high
        return self

    @property
    def powers_(self):
        """The exponent of each input feature in each output column."""
        from fastml.kernels import polynomial_plan

        check_is_fitted(self)
        d = self.n_features_in_
        parent, feature, keep = polynomial_plan(
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
        degrees = (self._min_degree, self._max_degree)
        if is_dask_collection(X):
            from fastml import _dask

            X = _dask.check_features(self, X, reset=False)
            return _dask.polynomial_features(X, degrees, self.interaction_only,
                                             self.include_bias, self.n_output_features_,
                                             sparse_class=_sparse_output_class(X))
        from fastml.kernels import polynomial_features_chunk
        from fastml._threads import effective_n_threads

        if is_sparse(X):
            return self._sparse_transform(X)
        half = is_float16(X)   # float16 stays float16, as in scikit-learn
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        check_output_fits(X.shape[0], self.n_output_features_, X.dtype, self)
        out = polynomial_features_chunk(X, degrees, interaction_only=self.interaction_only,
                                        include_bias=self.include_bias,
                                        n_threads=effective_n_threads(None))
        if half:
            out = out.astype(np.float16)
        return np.asfortranarray(out) if self.order == "F" else out

    def _sparse_transform(self, X):
        from fastml._threads import effective_n_threads
        from fastml.kernels import sparse_polynomial_features_chunk

        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES,
                          accept_sparse=("csr", "csc"))
        out = sparse_polynomial_features_chunk(
            X, (self._min_degree, self._max_degree), interaction_only=self.interaction_only,
            include_bias=self.include_bias, n_threads=effective_n_threads(None))
        return _sparse_output_class(out)(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
