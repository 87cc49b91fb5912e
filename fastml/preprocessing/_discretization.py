"""``KBinsDiscretizer``: bin continuous features into intervals.

Edges come from exact per-column quantiles (``quantiles_chunk``: a
bucketed selection per column, columns over threads), or on Dask from a
mergeable quantile summary of every block; codes from one compiled pass
(``bin_chunk``).  Fitted attributes and outputs equal scikit-learn's bit
for bit on NumPy input.
"""
import numbers
import warnings

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import check_array, resample
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml._set_output import LazyOutputMixin
from fastml._validation import (FLOAT_DTYPES, Interval, Options, check_parameters,
                                is_dask_collection, unchanged_on_error)

MAX_BINS = 65536  # codes must fit in uint16


class KBinsDiscretizer(LazyOutputMixin, TransformerMixin, BaseEstimator):
    """Bin continuous features into intervals.

    Drop-in for :class:`sklearn.preprocessing.KBinsDiscretizer` with
    strategies ``"quantile"`` and ``"uniform"``: the same bin edges (exact
    quantiles, any ``quantile_method``, ``sample_weight``, the same
    ``subsample`` draw for a given ``random_state``), the same codes and
    encodings.  Edges come from a selection per column; codes from one
    compiled pass (``fastml.kernels.bin_chunk``).

    Parameters
    ----------
    n_bins : int or array-like of shape (n_features,), default=5
        Between 2 and 65536.
    encode : {"onehot", "onehot-dense", "ordinal"}, default="onehot"
        ``"onehot"`` gives a SciPy CSR matrix, ``"onehot-dense"`` an array,
        ``"ordinal"`` the bin numbers as floats.
    strategy : {"quantile", "uniform"}, default="quantile"
        ``"kmeans"`` is not implemented (NotImplementedError).
    quantile_method : str, default="averaged_inverted_cdf"
        One of NumPy's quantile methods; with ``sample_weight`` only
        ``"inverted_cdf"`` and ``"averaged_inverted_cdf"``.
    dtype : {np.float32, np.float64}, default=None
        Output dtype; None keeps X's.
    subsample : int or None, default=200_000
        Fit on this many rows drawn with replacement (None: all rows, and
        exact edges).
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    bin_edges_ : ndarray of ndarray of shape (n_features,)
        Each the ``n_bins_[j] + 1`` ascending edges of feature j.
    n_bins_ : ndarray of shape (n_features,), int
    quantile_rank_error_ : ndarray of shape (n_features,), int
        Only after a Dask fit with strategy "quantile", as in
        :class:`QuantileTransformer`.
    n_features_in_, feature_names_in_

    Notes
    -----
    Dask input: ``fit`` reads the array once, its quantiles exact or within
    ``quantile_rank_error_`` positions as :class:`QuantileTransformer`'s
    Notes say (strategy "uniform" is exact).  ``subsample`` does not apply
    (every row is summarised) and ``sample_weight`` is not supported.
    ``transform`` is lazy (``"ordinal"`` and ``"onehot-dense"``).
    """

    def __init__(self, n_bins=5, *, encode="onehot", strategy="quantile",
                 quantile_method="averaged_inverted_cdf", dtype=None, subsample=200_000,
                 random_state=None):
        self.n_bins = n_bins
        self.encode = encode
        self.strategy = strategy
        self.quantile_method = quantile_method
        self.dtype = dtype
        self.subsample = subsample
        self.random_state = random_state

    _parameter_constraints = {
        "encode": [Options("onehot", "onehot-dense", "ordinal")],
        "strategy": [Options("quantile", "uniform")],
        "subsample": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def _check_params(self):
        from fastml.kernels import QUANTILE_METHODS

        if self.strategy == "kmeans":
            raise NotImplementedError(
                "strategy='kmeans' is not implemented in fastml; use 'quantile' or "
                "'uniform', or sklearn.preprocessing.KBinsDiscretizer for k-means bins."
            )
        check_parameters(self)
        if self.quantile_method not in QUANTILE_METHODS:
            raise ValueError(f"quantile_method must be one of {QUANTILE_METHODS}, "
                             f"got {self.quantile_method!r}.")
        if self.dtype not in (None, np.float32, np.float64):
            raise ValueError(f"dtype must be None, np.float32 or np.float64, got {self.dtype!r}.")

    def _validate_n_bins(self, n_features):
        """(n_features,) int array of requested bins, each in [2, 65536]."""
        n_bins = self.n_bins
        if isinstance(n_bins, numbers.Integral) and not isinstance(n_bins, bool):
            n_bins = np.full(n_features, n_bins, dtype=np.int64)
        else:
            n_bins = np.asarray(n_bins)
            if n_bins.shape != (n_features,) or n_bins.dtype.kind not in "iu":
                raise ValueError(
                    "n_bins must be an int or an array of ints of shape (n_features,) = "
                    f"({n_features},), got {self.n_bins!r}."
                )
            n_bins = n_bins.astype(np.int64)
        bad = np.flatnonzero((n_bins < 2) | (n_bins > MAX_BINS))
        if bad.size:
            raise ValueError(
                f"n_bins must lie in [2, {MAX_BINS}] (codes are stored in uint16); feature "
                f"{int(bad[0])} asks for {int(n_bins[bad[0]])} bins."
            )
        return n_bins

    def fit(self, X, y=None, sample_weight=None):
        """Compute the bin edges of every feature.  Returns self."""
        with unchanged_on_error(self):
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        from fastml import kernels
        from fastml._threads import effective_n_threads

        self._check_params()
        if is_dask_collection(X):
            return self._fit_edges(*self._dask_statistics(X, sample_weight))
        X = validate_data(self, X, dtype=FLOAT_DTYPES)
        n_samples, n_features = X.shape
        n_threads = effective_n_threads(None)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=X.dtype)
            if sample_weight.shape != (n_samples,):
                raise ValueError(f"sample_weight must have shape ({n_samples},), "
                                 f"got {sample_weight.shape}.")
            if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be finite and non-negative.")
            if not np.any(sample_weight):
                raise ValueError("Sample weights must contain at least one non-zero number.")
            if self.strategy == "quantile" and self.quantile_method not in (
                    "inverted_cdf", "averaged_inverted_cdf"):
                raise ValueError(
                    "When fitting with strategy='quantile' and sample weights, "
                    "quantile_method should either be set to 'averaged_inverted_cdf' or "
                    f"'inverted_cdf', got quantile_method='{self.quantile_method}' instead."
                )
        if self.subsample is not None and n_samples > self.subsample:
            # the same draw as scikit-learn's (with replacement, weighted)
            X = resample(X, replace=True, n_samples=self.subsample,
                         random_state=self.random_state, sample_weight=sample_weight)
            sample_weight = None
        n_bins = self._validate_n_bins(n_features)

        moments = kernels.moments_chunk(X, deviations=False, n_threads=n_threads,
                                        sample_weight=None if self.strategy == "quantile"
                                        else sample_weight)
        low = moments.min.astype(X.dtype)
        high = moments.max.astype(X.dtype)
        quantiles = None
        if self.strategy == "quantile" and sample_weight is None:
            levels = self._levels(n_bins)
            table = kernels.quantiles_chunk(X, levels, method=self.quantile_method,
                                            n_threads=n_threads)
            quantiles = self._edges_by_n_bins(n_bins, levels, table)
        self.__dict__.pop("quantile_rank_error_", None)
        return self._fit_edges(X, n_bins, low, high, quantiles, sample_weight)

    @staticmethod
    def _levels(n_bins):
        """Every quantile level the edges of ``n_bins`` need, ascending."""
        return np.unique(np.concatenate([np.true_divide(np.linspace(0, 100, b + 1), 100)
                                         for b in np.unique(n_bins)]))

    @staticmethod
    def _edges_by_n_bins(n_bins, levels, table):
        """{number of bins: (b + 1, n_features) quantiles} from a table of
        ``levels``."""
        return {b: table[np.searchsorted(levels, np.true_divide(np.linspace(0, 100, b + 1),
                                                                100))]
                for b in np.unique(n_bins)}

    def _dask_statistics(self, X, sample_weight):
        """``_fit_edges`` arguments for a Dask array: one ``dask.compute`` of
        a quantile summary (strategy "quantile", within its stated
        ``quantile_rank_error_``) or of the moments ("uniform", exact).
        ``subsample`` does not apply: every row is summarised."""
        if sample_weight is not None:
            raise NotImplementedError(
                "sample_weight with Dask input is not supported yet; fit on X.compute() "
                "with the weights, or without weights."
            )
        from fastml import _dask

        X = _dask.check_features(self, X, reset=True)
        n_bins = self._validate_n_bins(X.shape[1])
        if self.strategy == "uniform":
            moments = _dask.column_moments(X, deviations=False)
            nan = np.flatnonzero(moments.count < X.shape[0])
            if nan.size:
                raise ValueError(f"Input X contains NaN (feature {int(nan[0])}).")
            if np.isinf(moments.min).any() or np.isinf(moments.max).any():
                raise ValueError("Input X contains infinity; replace infinite values first.")
            self.__dict__.pop("quantile_rank_error_", None)
            return X, n_bins, moments.min.astype(X.dtype), moments.max.astype(X.dtype), None, None
        levels = self._levels(n_bins)
        table, low, high, self.quantile_rank_error_ = _dask.column_quantiles(
            X, levels, self.quantile_method, allow_nan=False)
        return (X, n_bins, low.astype(X.dtype), high.astype(X.dtype),
                self._edges_by_n_bins(n_bins, levels, table), None)

    def _fit_edges(self, X, n_bins, low, high, quantiles, sample_weight):
        """Bin edges from each feature's range (``low``, ``high``) and, for
        strategy "quantile", the quantile table of each number of bins (or,
        with ``sample_weight``, X itself); sets the fitted attributes."""
        n_features = len(n_bins)
        bin_edges = np.zeros(n_features, dtype=object)
        for j in range(n_features):
            if low[j] == high[j]:
                warnings.warn(f"Feature {j} is constant and will be replaced with 0.")
                n_bins[j] = 1
                bin_edges[j] = np.array([-np.inf, np.inf])
                continue
            if self.strategy == "uniform":
                bin_edges[j] = np.linspace(low[j], high[j], n_bins[j] + 1)
                continue
            if sample_weight is None:
                edges = quantiles[n_bins[j]][:, j]
            else:
                from fastml.kernels import weighted_quantiles

                edges = weighted_quantiles(X[:, j], sample_weight,
                                           np.linspace(0, 100, n_bins[j] + 1),
                                           self.quantile_method == "averaged_inverted_cdf")
            # bins narrower than 1e-8 are dropped, as in scikit-learn
            edges = edges[np.ediff1d(edges, to_begin=np.inf) > 1e-8]
            if len(edges) - 1 != n_bins[j]:
                warnings.warn(
                    f"Bins whose width are too small (i.e., <= 1e-8) in feature {j} are "
                    "removed. Consider decreasing the number of bins."
                )
                n_bins[j] = len(edges) - 1
            bin_edges[j] = edges

        self.bin_edges_ = bin_edges
        self.n_bins_ = n_bins
        if "onehot" in self.encode:
            # used by inverse_transform and get_feature_names_out; transform
            # builds the one-hot output itself
            self._encoder = OneHotEncoder(
                categories=[np.arange(b) for b in n_bins],
                sparse_output=self.encode == "onehot",
                dtype=self.dtype or X.dtype,
            ).fit(np.zeros((1, n_features)))
        else:
            self.__dict__.pop("_encoder", None)
        return self

    def _inner_edges(self):
        return [np.asarray(e[1:-1], dtype=np.float64) for e in self.bin_edges_]

    def transform(self, X):
        """Bin X.

        Returns
        -------
        ndarray of shape (n_samples, n_features) for ``"ordinal"`` (bin
        numbers as floats), else the one-hot encoding of shape
        (n_samples, sum(n_bins_)): a CSR matrix (``"onehot"``) or an array.
        The dtype is ``dtype``, or X's.
        """
        from fastml.kernels import bin_chunk
        from fastml._threads import effective_n_threads

        check_is_fitted(self)
        if is_dask_collection(X):
            return self._transform_dask(X)
        dtype = FLOAT_DTYPES if self.dtype is None else self.dtype
        X = validate_data(self, X, dtype=dtype, reset=False, copy=False)
        n_threads = effective_n_threads(None)
        if self.encode == "ordinal":
            return bin_chunk(X, self._inner_edges(), dtype=X.dtype, n_threads=n_threads)
        codes = bin_chunk(X, self._inner_edges(), n_threads=n_threads)
        return self._one_hot(codes, X.dtype)

    def _one_hot(self, codes, dtype):
        """The one-hot encoding of bin codes, as OneHotEncoder writes it."""
        n, d = codes.shape
        starts = np.concatenate([[0], np.cumsum(self.n_bins_)[:-1]])
        columns = (codes + starts).ravel()   # row by row: sorted within each row
        width = int(self.n_bins_.sum())
        if self.encode == "onehot-dense":
            out = np.zeros((n, width), dtype=dtype)
            out[np.repeat(np.arange(n), d), columns] = 1
            return out
        return sparse.csr_matrix(
            (np.ones(n * d, dtype=dtype), columns, np.arange(0, n * d + 1, d)),
            shape=(n, width))

    def _transform_dask(self, X):
        if self.encode == "onehot":
            raise ValueError(
                "encode='onehot' gives a SciPy sparse matrix, which Dask arrays cannot hold; "
                "use encode='onehot-dense' or 'ordinal' with Dask input."
            )
        from fastml import _dask

        X = _dask.check_features(self, X, reset=False)
        return _dask.bin_codes(X, self._inner_edges(), self.n_bins_,
                               one_hot=self.encode == "onehot-dense",
                               dtype=self.dtype or X.dtype)

    def inverse_transform(self, X):
        """The centre of each sample's bin, per feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or the one-hot
            encoding of shape (n_samples, sum(n_bins_))
        """
        check_is_fitted(self)
        if "onehot" in self.encode:
            X = self._encoder.inverse_transform(X)
        Xinv = check_array(X, copy=True, dtype=FLOAT_DTYPES)
        n_features = self.n_bins_.shape[0]
        if Xinv.shape[1] != n_features:
            raise ValueError(
                f"Incorrect number of features. Expecting {n_features}, received "
                f"{Xinv.shape[1]}."
            )
        for j, edges in enumerate(self.bin_edges_):
            centres = (edges[1:] + edges[:-1]) * 0.5
            Xinv[:, j] = centres[Xinv[:, j].astype(np.int64)]
        return Xinv

    def get_feature_names_out(self, input_features=None):
        """Input feature names for ``"ordinal"``, one per bin otherwise."""
        check_is_fitted(self, "n_features_in_")
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        if hasattr(self, "_encoder"):
            return self._encoder.get_feature_names_out(names)
        return names
