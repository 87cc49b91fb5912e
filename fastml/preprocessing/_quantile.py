"""``QuantileTransformer``: map each feature to a uniform or a normal
distribution through its quantiles.

The quantiles are exact per column (``quantiles_chunk``: a bucketed
selection per column, columns over threads), or on Dask from a mergeable
quantile summary of every block; the transform is one compiled pass
(``quantile_transform_chunk``).  Fitted attributes and outputs equal
scikit-learn's bit for bit on NumPy input.  scipy.sparse input (made CSC)
is fitted by ``sparse_quantiles_chunk`` on the columns with their zeros, or
by ``quantiles_chunk`` on the stored values alone (``ignore_implicit_zeros``),
from scikit-learn's subsample of each long column; its transform maps the
stored values only.
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state, resample
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml._set_output import LazyOutputMixin
from fastml._validation import (FLOAT_DTYPES, Interval, Options, check_parameters,
                                is_dask_collection, is_float16, unchanged_on_error)
from fastml.preprocessing import _sparse

SPARSE_NEGATIVE_MESSAGE = "QuantileTransformer only accepts non-negative sparse matrices."

# at most this many values in one padded block of ignore_implicit_zeros columns
_PADDED_BLOCK = 1 << 23


def _check_non_negative(X):
    with np.errstate(invalid="ignore"):
        if np.any(X.data < 0):
            raise ValueError(SPARSE_NEGATIVE_MESSAGE)


def map_sparse_columns(X, quantiles, references, inverse, output_distribution, n_threads,
                       copy=True, check_negative=False):
    """The stored values of each column of the sparse X mapped through its
    quantiles (``quantile_transform_chunk`` per column); implicit zeros
    stay implicit.  X (any format; made CSC, a new matrix of X's class, or
    X itself mapped in place if CSC and not ``copy``).  One function for
    in-memory input and for every block of a Dask array of sparse blocks.
    ``check_negative``: refuse a negative stored value first."""
    from fastml.kernels import quantile_transform_chunk

    if X.format != "csc":
        X = X.asformat("csc")
    elif copy:
        X = X.copy()
    if check_negative:
        _check_non_negative(X)
    indptr = X.indptr
    for j in np.flatnonzero(np.diff(indptr)):
        column = X.data[indptr[j]:indptr[j + 1]].reshape(-1, 1)
        quantile_transform_chunk(
            column, quantiles[:, j:j + 1], references, inverse=inverse,
            output_distribution=output_distribution, out=column, n_threads=n_threads)
    return X


class QuantileTransformer(LazyOutputMixin, OneToOneFeatureMixin, TransformerMixin,
                          BaseEstimator):
    """Map each feature to a uniform or a normal distribution through its
    quantiles.

    Drop-in for :class:`sklearn.preprocessing.QuantileTransformer`: the same ``quantiles_`` (the same subsample for a given
    ``random_state``; exact quantiles, NaN skipped) and the same outputs,
    bit for bit, from one compiled pass
    (``fastml.kernels.quantile_transform_chunk``).

    Parameters
    ----------
    n_quantiles : int, default=1000
        Number of quantiles (at most the number of samples is used).
    output_distribution : {"uniform", "normal"}, default="uniform"
    ignore_implicit_zeros : bool, default=False
        Sparse input: fit on the stored values only (negative values are
        then allowed).  With dense input it warns and has no effect.
    subsample : int or None, default=10_000
        Fit on this many rows drawn without replacement (None: all rows).
    random_state : int, RandomState instance or None, default=None
    copy : bool, default=True
        False transforms a writeable C-contiguous float array in place.

    Attributes
    ----------
    n_quantiles_ : int
    quantiles_ : ndarray of shape (n_quantiles_, n_features)
    references_ : ndarray of shape (n_quantiles_,)
        The levels, ``np.linspace(0, 1, n_quantiles_)``.
    quantile_rank_error_ : ndarray of shape (n_features,), int
        Only after a Dask fit: see Notes.
    n_features_in_, feature_names_in_

    Notes
    -----
    Dask input: ``fit`` reads the array once (one ``dask.compute`` of merged
    quantile summaries of the blocks): exact when ``quantile_rank_error_`` is 0
    (no block over 4096 values in a column, at most 32768 distinct values),
    else each quantile within that many positions of the sorted column.
    ``subsample`` does not apply to Dask input (every row is summarised).
    ``transform`` and ``inverse_transform`` of a Dask array are lazy.
    scipy.sparse input (any format; made CSC, non-negative unless
    ``ignore_implicit_zeros``): implicit zeros are values of their column;
    a column with more than ``subsample`` stored values is fitted, as in
    scikit-learn, on ``subsample`` values, ``subsample * nnz // n_samples``
    of them drawn from the stored ones (the same draws) and the rest zeros.
    ``transform`` and ``inverse_transform`` map the stored values and
    return a CSC of the input's class (zeros stay implicit).

    Dask arrays of scipy.sparse blocks: ``fit`` takes the same merged
    summaries, a block's summary from its stored values and its implicit
    zeros counted (only the stored values with ``ignore_implicit_zeros``),
    with the same ``quantile_rank_error_`` as dense blocks (exact under
    the same conditions); a negative value is refused after that one
    pass.  ``subsample`` does not apply.  ``transform`` and
    ``inverse_transform`` are lazy: each block mapped as in memory
    (``map_sparse_columns``: stored values only) into a CSC block of the
    input's class; a negative value (without ``ignore_implicit_zeros``)
    raises ValueError when its block is computed.  With
    ``ignore_implicit_zeros``, a column whose stored values are all NaN
    gets zero quantiles (in memory: NaN).
    """

    def __init__(self, *, n_quantiles=1000, output_distribution="uniform",
                 ignore_implicit_zeros=False, subsample=10_000, random_state=None, copy=True):
        self.n_quantiles = n_quantiles
        self.output_distribution = output_distribution
        self.ignore_implicit_zeros = ignore_implicit_zeros
        self.subsample = subsample
        self.random_state = random_state
        self.copy = copy

    def fit(self, X, y=None):
        """Compute the quantiles of every feature.  Returns self."""
        with unchanged_on_error(self):
            return self._fit(X)

    _parameter_constraints = {
        "n_quantiles": [Interval(numbers.Integral, 1, None, closed="left")],
        "output_distribution": [Options("uniform", "normal")],
        "subsample": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def _fit(self, X):
        from fastml._threads import effective_n_threads

        check_parameters(self)
        if self.subsample is not None and self.n_quantiles > self.subsample:
            raise ValueError(
                "The number of quantiles cannot be greater than the number of samples used. "
                f"Got {self.n_quantiles} quantiles and {self.subsample} samples."
            )
        dask_input = is_dask_collection(X)
        dask_sparse = dask_input and _sparse.has_sparse_values(X)
        sparse_input = not dask_input and _sparse.is_sparse(X)
        if sparse_input:
            X = _sparse.check_sparse(self, X, reset=True, formats=("csc",))
            if not self.ignore_implicit_zeros:
                _check_non_negative(X)
        elif dask_input:
            from fastml import _dask

            X = _dask.check_features(self, X, reset=True)
        else:
            X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")
        n_samples = X.shape[0]
        if self.n_quantiles > n_samples:
            warnings.warn(
                f"n_quantiles ({self.n_quantiles}) is greater than the total number of "
                f"samples ({n_samples}). n_quantiles is set to n_samples."
            )
        if self.ignore_implicit_zeros and not (sparse_input or dask_sparse):
            warnings.warn("'ignore_implicit_zeros' takes effect only with sparse matrix. "
                          "This parameter has no effect.")
        self.n_quantiles_ = max(1, min(self.n_quantiles, n_samples))
        self.references_ = np.linspace(0, 1, self.n_quantiles_, endpoint=True)
        # the levels exactly as np.nanpercentile(X, references_ * 100) has them
        levels = np.true_divide(self.references_ * 100, 100)
        if dask_input:  # every row summarised; subsample does not apply
            implicit = not (dask_sparse and self.ignore_implicit_zeros)
            quantiles, low, _, self.quantile_rank_error_ = _dask.column_quantiles(
                X, levels, "linear", allow_nan=True, implicit_zeros=implicit)
            if dask_sparse and implicit and np.any(low < 0):
                raise ValueError(SPARSE_NEGATIVE_MESSAGE)
            if not implicit:  # a column without stored values: scikit-learn's zeros
                quantiles[:, np.isnan(quantiles[0])] = 0.0
        elif sparse_input:
            quantiles = self._sparse_quantiles(X, check_random_state(self.random_state),
                                               levels, effective_n_threads(None))
            self.__dict__.pop("quantile_rank_error_", None)
        else:
            rng = check_random_state(self.random_state)
            if self.subsample is not None and self.subsample < n_samples:
                X = resample(X, replace=False, n_samples=self.subsample, random_state=rng)
            from fastml.kernels import quantiles_chunk

            quantiles = quantiles_chunk(X, levels, n_threads=effective_n_threads(None))
            self.__dict__.pop("quantile_rank_error_", None)
        empty = np.flatnonzero(np.isnan(quantiles[0]))
        if empty.size:
            warnings.warn(f"Feature {int(empty[0])} has no values (all NaN); it is "
                          "transformed to NaN.", RuntimeWarning)
        self.quantiles_ = quantiles
        return self

    def _sparse_quantiles(self, X, rng, levels, n_threads):
        """Quantiles of each column of the CSC X as scikit-learn's sparse fit
        takes them: a column with more than ``subsample`` stored values is
        replaced by ``subsample`` values (random draws from the stored ones,
        in column order, then zeros); the other columns keep all their
        values.  Implicit zeros count unless ``ignore_implicit_zeros``."""
        from fastml.kernels import quantiles_chunk, sparse_quantiles_chunk
        from scipy import sparse

        n, d = X.shape
        indptr, ignore, sub = X.indptr, self.ignore_implicit_zeros, self.subsample
        nnz = np.diff(indptr).astype(np.int64)  # int32 indptr: sub * nnz would overflow
        drawn = np.zeros(d, dtype=bool) if sub is None else nnz > sub
        # the subsample of every drawn column: positions among its stored values
        picks = [rng.choice(nnz[j], size=sub if ignore else sub * nnz[j] // n,
                            replace=False) + indptr[j] for j in np.flatnonzero(drawn)]
        quantiles = np.empty((levels.shape[0], d))
        if not ignore:
            kept = np.flatnonzero(~drawn)
            if kept.size:
                quantiles[:, kept] = sparse_quantiles_chunk(
                    X if kept.size == d else X[:, kept], levels, n_threads=n_threads)
            if picks:  # drawn values at rows 0 .. k-1 of `sub` rows, the rest zeros
                sizes = np.array([p.size for p in picks])
                values = X.data[np.concatenate(picks)]
                rows = np.arange(values.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
                S = sparse.csc_matrix((values, rows, np.r_[0, np.cumsum(sizes)]),
                                      shape=(sub, len(picks)))
                quantiles[:, drawn] = sparse_quantiles_chunk(S, levels, n_threads=n_threads)
            return quantiles
        # stored values only: columns padded with NaN (skipped), in blocks
        positions = [np.arange(indptr[j], indptr[j + 1]) for j in range(d)]
        for j, p in zip(np.flatnonzero(drawn), picks):
            positions[j] = p
        lengths = np.array([p.size for p in positions])
        length = max(int(lengths.max(initial=0)), 1)
        step = max(1, _PADDED_BLOCK // length)
        for start in range(0, d, step):
            block = positions[start:start + step]
            padded = np.full((length, len(block)), np.nan, dtype=X.dtype)
            for c, p in enumerate(block):
                padded[:p.size, c] = X.data[p]
            quantiles[:, start:start + len(block)] = quantiles_chunk(
                padded, levels, n_threads=n_threads)
        quantiles[:, lengths == 0] = 0.0  # no values: scikit-learn's zeros
        return quantiles

    def _map_sparse(self, X, inverse):
        """The CSC X with each column's stored values mapped (in place on a
        copy unless ``copy`` is False)."""
        from fastml._threads import effective_n_threads

        return map_sparse_columns(
            X, self.quantiles_, self.references_, inverse, self.output_distribution,
            copy=self.copy or not X.data.flags.writeable, n_threads=effective_n_threads(None))

    def _map_dask_sparse(self, X, inverse):
        """Lazy :func:`map_sparse_columns` of every sparse block (CSC blocks
        of the input's class; a negative value refused when its block is
        computed, as ``fit`` and in-memory ``transform`` refuse it)."""
        from fastml import _dask
        from fastml._dask.transforms import map_sparse_blocks
        from dask.array.utils import meta_from_array

        X = _dask.check_features(self, X, reset=False)
        meta = meta_from_array(X)
        meta = (meta if meta.format == "csc" else meta.asformat("csc")).astype(X.dtype)
        return map_sparse_blocks(
            X, map_sparse_columns, meta, quantiles=self.quantiles_,
            references=self.references_, inverse=inverse,
            output_distribution=self.output_distribution,
            check_negative=not inverse and not self.ignore_implicit_zeros)

    def _map(self, X, inverse, copy):
        if is_dask_collection(X):
            if _sparse.has_sparse_values(X):
                return self._map_dask_sparse(X, inverse)
            from fastml import _dask

            X = _dask.check_features(self, X, reset=False)
            return _dask.quantile_transform(X, self.quantiles_, self.references_, inverse,
                                            self.output_distribution)
        from fastml.kernels import quantile_transform_chunk
        from fastml._threads import effective_n_threads

        out = None if copy else (X if X.flags.c_contiguous and X.flags.writeable else None)
        return quantile_transform_chunk(
            X, self.quantiles_, self.references_, inverse=inverse,
            output_distribution=self.output_distribution, out=out,
            n_threads=effective_n_threads(None))

    def transform(self, X):
        """Map X onto the output distribution; same shape and dtype (float16
        too, as in scikit-learn: computed in float64, rounded once)."""
        check_is_fitted(self)
        if _sparse.is_sparse(X):
            X = _sparse.check_sparse(self, X, reset=False, formats=("csc",))
            if not self.ignore_implicit_zeros:
                _check_non_negative(X)
            return self._map_sparse(X, inverse=False)
        half = is_float16(X)
        if not is_dask_collection(X):
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, copy=False,
                              ensure_all_finite="allow-nan")
        Xt = self._map(X, inverse=False, copy=self.copy)
        return Xt.astype(np.float16) if half else Xt

    def inverse_transform(self, X):
        """Map values of the output distribution back to the feature scale."""
        check_is_fitted(self)
        if _sparse.is_sparse(X):
            X = _sparse.check_sparse(self, X, reset=False, formats=("csc",),
                                     validate=False)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but QuantileTransformer is expecting "
                    f"{self.n_features_in_} features as input."
                )
            return self._map_sparse(X, inverse=True)
        if is_float16(X):
            return self.inverse_transform(np.asarray(X, dtype=np.float64)).astype(np.float16)
        if not is_dask_collection(X):
            X = check_array(X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but QuantileTransformer is expecting "
                    f"{self.n_features_in_} features as input."
                )
        return self._map(X, inverse=True, copy=self.copy)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags
