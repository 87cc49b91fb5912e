"""The scalers: ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler`` and
``RobustScaler``.  Statistics from one pass of the ``moments_chunk`` kernel
(merged with ``combine_moments``), or exact quantiles
(``quantiles_chunk``); transforms from one compiled pass
(``center_scale_chunk``, ``affine_chunk``).  float32 stays
float32; NaN is skipped by ``fit`` and kept by ``transform``, as in
scikit-learn.  On Dask arrays ``fit`` runs one ``dask.compute`` of
tree-merged block statistics (moments, or quantile summaries within a
stated rank error) and ``transform`` is lazy.  Dask arrays of scipy.sparse
blocks (where the in-memory scalers take sparse input) use the same sparse
kernels per block: max-abs equal bit for bit, moments within rounding of
the tree merge (bit for bit from one block); transforms give sparse blocks
of the in-memory output's format and class.
"""
import numbers

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml._set_output import LazyOutputMixin
from fastml._validation import FLOAT_DTYPES, check_parameters, is_dask_collection
from fastml._validation import is_float16 as is_half
from fastml._validation import unchanged_on_error
from fastml.preprocessing import _sparse
from fastml.preprocessing._sparse import has_sparse_values, is_sparse

try:   # scikit-learn >= 1.9: StandardScaler.set_callbacks
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:   # pragma: no cover - older scikit-learn has no callbacks
    CallbackSupportMixin, with_callbacks = None, None


def _kernels():
    """fastml.kernels, imported on first use (not by importing this module)."""
    from fastml import kernels

    return kernels


def _n_threads():
    from fastml._threads import effective_n_threads

    return effective_n_threads(None)


def _nonzero_scale(scale, constant=None):
    """Scales of constant features become 1, so those features are left as
    they are rather than divided by zero.  Constant means ``constant``
    when given, else a scale below ten machine epsilons (scikit-learn's
    rules); a scale of NaN (a feature without values) becomes 1 too."""
    scale = np.array(scale, dtype=np.float64)
    if constant is None:
        constant = scale < 10 * np.finfo(np.float64).eps
    scale[constant | np.isnan(scale)] = 1.0
    return scale


def _constant_features(var, mean, n_samples):
    """Features whose variance is within rounding of 0 (the bound of
    scikit-learn's StandardScaler: n eps var + (n eps mean)^2)."""
    eps = np.finfo(np.float64).eps
    return var <= n_samples * eps * var + (n_samples * mean * eps) ** 2


def _as_half(result, half):
    """float16 input gives float16 output, as in scikit-learn: computed in
    float64 (fastml's kernels take float32 and float64) and rounded once."""
    return result.astype(np.float16) if half else result


def _refuse_infinity(*statistics):
    """ValueError naming the first feature whose statistic is infinite."""
    infinite = np.flatnonzero(np.any(np.isinf(statistics), axis=0))
    if infinite.size:
        raise ValueError(
            f"Input X contains infinity (feature {int(infinite[0])}); the scalers skip "
            "NaN but cannot scale infinite values. Replace them first."
        )


class _Scaler(LazyOutputMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Input handling shared by the three scalers: NumPy / pandas / polars
    through ``validate_data``, Dask through ``fastml._dask``, SciPy sparse
    CSR / CSC through ``_sparse`` (in the formats scikit-learn converts
    them to: ``_sparse_fit`` for fit, ``_sparse_transform`` otherwise)."""

    _sparse_fit = _sparse_transform = ("csr", "csc")

    def _check_X(self, X, reset, fitting=False, fit=False):
        if is_dask_collection(X):
            from fastml import _dask

            return _dask.check_features(self, X, reset)
        formats = self._sparse_fit if fit else self._sparse_transform
        if formats is not None and is_sparse(X):
            return _sparse.check_sparse(self, X, reset, formats)
        # never copied here: the kernels write a new array unless told
        # otherwise.  fit finds infinity in its statistics (_moments), so
        # only transform scans for it.
        return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, copy=False,
                             ensure_all_finite=False if fitting else "allow-nan",
                             ensure_min_samples=1 if reset else 0)

    def _fit_batch(self, X, refit, **params):
        """``_partial_fit`` of one batch; ``refit`` starts from nothing (every
        fitted attribute is rewritten by it).  On error the estimator is
        left as it was."""
        with unchanged_on_error(self, keep=self._kept_on_error):
            if refit:
                self.__dict__.pop("n_samples_seen_", None)
            return self._partial_fit(X, **params)

    _kept_on_error = ()

    def _moments(self, X, sample_weight=None, deviations=True):
        """Moments of X (one ``dask.compute`` for Dask input); refuses
        infinity.  ``deviations=False`` skips M2 (min / max scalers)."""
        if is_dask_collection(X):
            from fastml import _dask

            if sample_weight is not None:
                raise NotImplementedError(
                    "sample_weight with Dask input is not supported yet; compute the "
                    "weights' effect in NumPy or fit without weights."
                )
            moments = _dask.column_moments(X, deviations=deviations)
        elif is_sparse(X):
            moments = _sparse.moments(X, sample_weight, deviations, _n_threads())
        else:
            moments = _kernels().moments_chunk(X, sample_weight=sample_weight,
                                            deviations=deviations,
                                            n_threads=_n_threads())
        _refuse_infinity(moments.min, moments.max)
        return moments

    def _apply(self, X, kernel, a, b, copy, **kw):
        """``kernel(X, a, b)`` on NumPy (in place unless copy) or lazily on Dask."""
        if has_sparse_values(X):   # no centering on sparse input: only the factor
            factor = 1 / np.asarray(b) if kernel is _kernels().center_scale_chunk else a
            return _sparse.scale(X, factor, copy, _n_threads(),
                                 formats=self._sparse_transform)
        if is_dask_collection(X):
            from fastml import _dask

            return _dask.apply_columns(X, kernel, a, b, **kw)
        out = None if copy else (X if X.flags.c_contiguous and X.flags.writeable else None)
        return kernel(X, a, b, out=out, n_threads=_n_threads(), **kw)

    def transform(self, X, copy=None):
        """Scale X: NumPy in, NumPy out (X's dtype); Dask in, lazy Dask out.

        ``copy=False`` (or the constructor's ``copy=False``) writes into X
        when it is a writeable C-contiguous float array.
        """
        check_is_fitted(self)
        return _as_half(self._transform(self._check_X(X, reset=False),
                                        self.copy if copy is None else copy), is_half(X))

    def fit_transform(self, X, y=None, **fit_params):
        """fit(X), then transform(X), checking X once."""
        self.fit(X, y, **fit_params)
        if is_dask_collection(X):
            return self.transform(X)
        # fit already refused infinity in this X
        return _as_half(self._transform(self._check_X(X, reset=False, fitting=True), self.copy),
                        is_half(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # sparse input where scikit-learn takes it: never with centering
        tags.input_tags.sparse = self._sparse_fit is not None and not (
            getattr(self, "with_mean", False) or getattr(self, "with_centering", False))
        return tags


class _CenterScaler(_Scaler):
    """``(X - center) / scale`` scalers (standard, robust): each subclass
    says what its center and scale are."""

    def _center_and_scale(self, d):
        """(center, scale) vectors of length d, used by both directions."""
        raise NotImplementedError

    def _transform(self, X, copy):
        if has_sparse_values(X):
            self._refuse_sparse_centering(inverse=False)
        center, scale = self._center_and_scale(X.shape[1])
        return self._apply(X, _kernels().center_scale_chunk, center, scale, copy)

    def _refuse_sparse_centering(self, inverse):
        """ValueError where scikit-learn refuses to (un)center sparse input."""

    def inverse_transform(self, X, copy=None):
        """Undo transform: ``X * scale + center`` (sparse: ``X * scale``)."""
        check_is_fitted(self)
        half, X = is_half(X), self._check_X(X, reset=False)
        if has_sparse_values(X):
            self._refuse_sparse_centering(inverse=True)
        center, scale = self._center_and_scale(X.shape[1])
        return _as_half(self._apply(X, _kernels().affine_chunk, scale, center,
                                    self.copy if copy is None else copy), half)


def _managed_callbacks(method):
    """scikit-learn's ``with_callbacks`` (callbacks torn down after the
    method, whether it succeeds or fails) where it exists."""
    return method if with_callbacks is None else with_callbacks(method)


class StandardScaler(*([CallbackSupportMixin] if CallbackSupportMixin else []), _CenterScaler):
    """Standardise features: ``(X - mean_) / scale_``.

    Drop-in for :class:`sklearn.preprocessing.StandardScaler` (dense input):
    ``partial_fit``, ``sample_weight``, NaN skipped in ``fit`` and kept in
    ``transform``, constant features left unscaled (scale 1).

    With scikit-learn >= 1.9, ``set_callbacks`` as in scikit-learn: each
    ``fit`` or ``partial_fit`` is one task (``on_fit_task_begin`` /
    ``on_fit_task_end`` once, then ``teardown``).  float16 input gives
    float16 output (statistics float64), as in scikit-learn.

    Parameters
    ----------
    copy : bool, default=True
        False transforms C-contiguous float input in place.
    with_mean, with_std : bool, default=True

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,) or None
        A constant feature's mean is its value, exactly.
    var_ : ndarray of shape (n_features,) or None
        Exactly 0 for a constant feature, as in scikit-learn.
    scale_ : ndarray of shape (n_features,) or None
    n_samples_seen_ : float or ndarray of shape (n_features,)
        Per feature when the counts differ (NaN); the sum of the weights
        with ``sample_weight``; an int when neither mean nor std is used.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.preprocessing import StandardScaler
    >>> StandardScaler().fit_transform(np.array([[0.0, 1.0], [2.0, 1.0]]))
    array([[-1.,  0.],
           [ 1.,  0.]])
    """

    def __init__(self, *, copy=True, with_mean=True, with_std=True):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std

    @_managed_callbacks
    def fit(self, X, y=None, sample_weight=None):
        """Compute the mean and standard deviation of each feature.  Returns self."""
        return self._fit_batch(X, True, sample_weight=sample_weight)

    @_managed_callbacks
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the statistics with a batch of rows.  Returns self."""
        return self._fit_batch(X, False, sample_weight=sample_weight)

    # a failed fit restores the estimator but keeps the callback context,
    # which scikit-learn's teardown (after the error) reads
    _kept_on_error = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")

    def _partial_fit(self, X, sample_weight):
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight is not None and not np.any(sample_weight):
            raise ValueError("Sample weights must contain at least one non-zero number; "
                             "all weights are zero.")
        first = not hasattr(self, "n_samples_seen_")
        X = self._check_X(X, reset=first, fitting=True, fit=True)
        if has_sparse_values(X):   # before any work, Dask blocks included
            self._refuse_sparse_centering(inverse=False)
        # one task per fit or partial_fit, begun once X is valid, as in scikit-learn
        context = self._init_callback_context() if CallbackSupportMixin else None
        if context is not None:
            context.call_on_fit_task_begin(estimator=self, X=X, y=None,
                                           metadata={"sample_weight": sample_weight})
        batch = self._moments(X, sample_weight)
        # features constant so far: min == max in this batch, and (after an
        # earlier batch) no variance before and the same value
        constant = batch.min == batch.max
        if first:
            total = batch
        else:
            seen = np.broadcast_to(np.asarray(self.n_samples_seen_, dtype=np.float64),
                                   batch.count.shape)
            mean = self.mean_ if self.mean_ is not None else np.zeros_like(batch.mean)
            var = self.var_ if self.var_ is not None else np.zeros_like(batch.mean)
            previous = _kernels().Moments(seen.copy(), np.where(seen > 0, mean, np.nan),
                                       var * seen, batch.min, batch.max)
            total = _kernels().combine_moments(previous, batch)
            constant &= (seen == 0) | ((self.var_ == 0) & (mean == batch.min)
                                       if self.var_ is not None else False)
        # weighted sparse counts stay X's float dtype, as in scikit-learn
        self._store_moments(total, constant, X.dtype if is_sparse(X) and sample_weight
                            is not None else np.int64)
        if context is not None:
            context.call_on_fit_task_end(estimator=self, X=X, y=None,
                                         metadata={"sample_weight": sample_weight},
                                         reconstruction_attributes={})
        return self

    def _store_moments(self, total, constant, count_dtype=np.int64):
        """mean_, var_, scale_, n_samples_seen_ from the merged moments; a
        constant feature gets its value as mean and a variance of exactly 0
        (the one-pass formula leaves ~1e-30), as in scikit-learn."""
        counts = total.count
        # as scikit-learn: float counts, integers when nothing is estimated
        n_seen = counts if self.with_mean or self.with_std else counts.astype(count_dtype)
        if np.ptp(n_seen) == 0:
            n_seen = n_seen[0]
        if not self.with_mean and not self.with_std:
            self.mean_ = self.var_ = None
        else:
            self.mean_ = np.where(constant, total.min, total.mean)
            self.var_ = np.where(constant, 0.0, total.var()) if self.with_std else None
        if self.with_std:
            constant = _constant_features(self.var_, self.mean_, counts)
            self.scale_ = _nonzero_scale(np.sqrt(self.var_), constant)
        else:
            self.scale_ = None
        self.n_samples_seen_ = n_seen

    _sparse_transform = ("csr",)   # CSC becomes CSR, as in scikit-learn

    def _refuse_sparse_centering(self, inverse):
        if self.with_mean:
            raise ValueError(_sparse.UNCENTER_MESSAGE if inverse else _sparse.CENTER_MESSAGE)

    def _center_and_scale(self, d):
        return (self.mean_ if self.with_mean else np.zeros(d),
                self.scale_ if self.with_std else np.ones(d))


class MinMaxScaler(_Scaler):
    """Scale each feature to ``feature_range``: ``X * scale_ + min_``.

    Drop-in for :class:`sklearn.preprocessing.MinMaxScaler` (dense input),
    with ``partial_fit`` and ``clip``.

    Parameters
    ----------
    feature_range : tuple (min, max), default=(0, 1)
    copy : bool, default=True
    clip : bool, default=False
        Clip transformed values of unseen data to ``feature_range``.

    Attributes
    ----------
    min_, scale_, data_min_, data_max_, data_range_ : ndarray of shape (n_features,)
    n_samples_seen_ : int
    n_features_in_, feature_names_in_
    """

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def fit(self, X, y=None):
        """Compute each feature's minimum and maximum.  Returns self."""
        return self._fit_batch(X, True)

    def partial_fit(self, X, y=None):
        """Update the minimum and maximum with a batch of rows.  Returns self."""
        return self._fit_batch(X, False)

    def _partial_fit(self, X):
        low, high = self._check_range()
        if has_sparse_values(X):
            raise TypeError("MinMaxScaler does not support sparse input. Consider using "
                            "MaxAbsScaler instead.")
        first = not hasattr(self, "n_samples_seen_")
        half, X = is_half(X), self._check_X(X, reset=first, fitting=True)
        batch = self._moments(X, deviations=False)
        data_min = batch.min if first else np.fmin(self.data_min_, batch.min)
        data_max = batch.max if first else np.fmax(self.data_max_, batch.max)
        self.n_samples_seen_ = X.shape[0] + (0 if first else self.n_samples_seen_)
        # fitted attributes in X's dtype (float16 included), as scikit-learn keeps them
        dtype = np.float16 if half else X.dtype
        self.data_min_, self.data_max_ = data_min.astype(dtype), data_max.astype(dtype)
        self.data_range_ = self.data_max_ - self.data_min_
        scale = (high - low) / _nonzero_scale(self.data_range_)
        self.scale_ = scale.astype(dtype)
        self.min_ = (low - self.data_min_ * scale).astype(dtype)
        return self

    _parameter_constraints = {"feature_range": [tuple, list]}
    _sparse_fit = _sparse_transform = None   # dense only, as in scikit-learn

    def _check_range(self):
        check_parameters(self)
        fr = self.feature_range
        if len(fr) != 2 or not all(isinstance(v, numbers.Real) for v in fr):
            raise ValueError(
                f"feature_range must be a tuple (min, max) of two numbers, got {fr!r}."
            )
        if fr[0] >= fr[1]:
            raise ValueError(
                "Minimum of desired feature range must be smaller than maximum. "
                f"Got {tuple(fr)}."
            )
        return float(fr[0]), float(fr[1])

    def _transform(self, X, copy):
        clip = tuple(self.feature_range) if self.clip else None
        return self._apply(X, _kernels().affine_chunk, self.scale_, self.min_, copy, clip=clip)

    def inverse_transform(self, X):
        """Undo transform: ``(X - min_) / scale_``."""
        check_is_fitted(self)
        half, X = is_half(X), self._check_X(X, reset=False)
        return _as_half(self._apply(X, _kernels().center_scale_chunk, self.min_, self.scale_,
                                    self.copy), half)


class MaxAbsScaler(_Scaler):
    """Scale each feature by its maximum absolute value: ``X / scale_``.

    Drop-in for :class:`sklearn.preprocessing.MaxAbsScaler` (dense input).

    Parameters
    ----------
    copy : bool, default=True
    clip : bool, default=False
        Clip transformed values to [-1, 1] (only values of data unseen at
        ``fit`` can fall outside), as scikit-learn >= 1.9 does; NaN stays
        NaN.  ``inverse_transform`` cannot undo the clipping.

    Attributes
    ----------
    max_abs_, scale_ : ndarray of shape (n_features,)
        X's dtype (float16 included), as in scikit-learn.
    n_samples_seen_ : int
    n_features_in_, feature_names_in_
    """

    _parameter_constraints = {"clip": ["boolean"]}

    def __init__(self, *, copy=True, clip=False):
        self.copy = copy
        self.clip = clip

    def fit(self, X, y=None):
        """Compute each feature's maximum absolute value.  Returns self."""
        return self._fit_batch(X, True)

    def partial_fit(self, X, y=None):
        """Update the maximum absolute values with a batch.  Returns self."""
        return self._fit_batch(X, False)

    def _partial_fit(self, X):
        check_parameters(self)
        first = not hasattr(self, "n_samples_seen_")
        half, X = is_half(X), self._check_X(X, reset=first, fitting=True, fit=True)
        if is_dask_collection(X):
            from fastml import _dask

            batch = _dask.column_max_abs(X)
        elif is_sparse(X):   # implicit zeros included
            batch = _sparse.moments(X, None, False, _n_threads()).max_abs
        else:
            batch = _kernels().max_abs_chunk(X, n_threads=_n_threads())
        _refuse_infinity(batch)
        dtype = np.float16 if half else X.dtype
        batch = batch.astype(dtype)  # X's dtype, as scikit-learn
        self.max_abs_ = batch if first else np.fmax(self.max_abs_, batch)
        self.n_samples_seen_ = X.shape[0] + (0 if first else self.n_samples_seen_)
        self.scale_ = _nonzero_scale(self.max_abs_).astype(dtype)
        return self

    def _transform(self, X, copy):
        if has_sparse_values(X):   # 1 / scale_ in scale_'s dtype, as in scikit-learn
            return _sparse.scale(X, 1 / self.scale_, copy, _n_threads(), clip=self.clip)
        Xt = self._apply(X, _kernels().center_scale_chunk, np.zeros(X.shape[1]), self.scale_,
                         copy)
        if self.clip:
            # lazy on Dask; in place on the new (or the allowed) NumPy array
            Xt = Xt.clip(-1, 1) if is_dask_collection(Xt) else np.clip(Xt, -1, 1, out=Xt)
        return Xt

    def inverse_transform(self, X):
        """Undo transform: ``X * scale_``."""
        check_is_fitted(self)
        half, X = is_half(X), self._check_X(X, reset=False)
        return _as_half(self._apply(X, _kernels().affine_chunk, self.scale_,
                                    np.zeros(X.shape[1]), self.copy), half)


class RobustScaler(_CenterScaler):
    """Scale features by statistics robust to outliers: ``(X - center_) / scale_``
    with the median and an interquantile range.

    Drop-in for :class:`sklearn.preprocessing.RobustScaler` (dense input):
    the same quantiles bit for bit (linear interpolation, NaN skipped), from
    a selection per column (``quantiles_chunk``).

    Parameters
    ----------
    with_centering, with_scaling : bool, default=True
    quantile_range : tuple (q_min, q_max), default=(25.0, 75.0)
        Percentiles, 0 <= q_min <= q_max <= 100.
    copy : bool, default=True
    unit_variance : bool, default=False
        Scale so that normally distributed features get variance 1.

    Attributes
    ----------
    center_ : ndarray of shape (n_features,) or None
        X's dtype, as in scikit-learn.
    scale_ : ndarray of shape (n_features,) or None
        float64.
    quantile_rank_error_ : ndarray of shape (n_features,), int
        Only after a Dask fit, as in :class:`QuantileTransformer`.
    n_features_in_, feature_names_in_

    Notes
    -----
    Dask input: ``fit`` reads the array once, its quantiles exact or within
    ``quantile_rank_error_`` positions as :class:`QuantileTransformer`'s
    Notes say; ``transform`` is lazy.
    """

    def __init__(self, *, with_centering=True, with_scaling=True,
                 quantile_range=(25.0, 75.0), copy=True, unit_variance=False):
        self.with_centering = with_centering
        self.with_scaling = with_scaling
        self.quantile_range = quantile_range
        self.copy = copy
        self.unit_variance = unit_variance

    def fit(self, X, y=None):
        """Compute the median and the interquantile range.  Returns self."""
        with unchanged_on_error(self):
            return self._fit(X)

    _parameter_constraints = {"quantile_range": [tuple, list]}

    def _fit(self, X):
        check_parameters(self)
        q_range = self.quantile_range
        if (len(q_range) != 2
                or not all(isinstance(v, numbers.Real) for v in q_range)
                or not 0 <= q_range[0] <= q_range[1] <= 100):
            raise ValueError(f"Invalid quantile range: {q_range!r}; expected "
                             "(q_min, q_max) with 0 <= q_min <= q_max <= 100.")
        half, X = is_half(X), self._check_X(X, reset=True, fit=True)
        if has_sparse_values(X) and self.with_centering:
            raise ValueError(_sparse.ROBUST_CENTER_MESSAGE)
        wanted = ([0.5] if self.with_centering else []) + (
            list(np.true_divide(q_range, 100)) if self.with_scaling else [])
        if is_dask_collection(X):
            from fastml import _dask

            q, _, _, self.quantile_rank_error_ = _dask.column_quantiles(X, wanted, "linear",
                                                                        allow_nan=True)
        elif is_sparse(X):   # implicit zeros included, as scikit-learn
            q = _sparse.quantiles(X, wanted, _n_threads())
            self.__dict__.pop("quantile_rank_error_", None)
        else:
            self._moments(X, deviations=False)  # refuses infinity, as scikit-learn
            q = _kernels().quantiles_chunk(X, wanted, n_threads=_n_threads())
            self.__dict__.pop("quantile_rank_error_", None)
        self.center_ = (q[0].astype(np.float16 if half else X.dtype) if self.with_centering
                        else None)
        if self.with_scaling:
            low, high = q[-2], q[-1]
            self.scale_ = _nonzero_scale(high - low)
            if self.unit_variance:
                from scipy.stats import norm

                self.scale_ = self.scale_ / (norm.ppf(q_range[1] / 100.0)
                                             - norm.ppf(q_range[0] / 100.0))
        else:
            self.scale_ = None
        return self

    _sparse_fit = ("csc",)

    def _center_and_scale(self, d):
        return (self.center_ if self.with_centering else np.zeros(d),
                self.scale_ if self.with_scaling else np.ones(d))
