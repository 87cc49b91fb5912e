"""Histogram gradient boosting: drop-in ``HistGradientBoostingRegressor``
and ``HistGradientBoostingClassifier`` on fastml's compiled kernels.

One way through ``fit``: validate, encode categorical columns, split off
validation rows, bin (``kernels.bin_thresholds`` + ``bin_chunk``), then
boost (``boosting.Booster``: one tree per raw-prediction column per
iteration, from ``kernels.TreeGrower``).  Predictions sum the trees
(``prediction.PredictionMixin``).
"""
import inspect
import numbers
from functools import partial

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml import kernels
from fastml._threads import effective_n_threads
from fastml._validation import (FLOAT_DTYPES, Interval, InvalidParameterError, Options,
                                check_parameters, is_dask_collection, unchanged_on_error)
from fastml.ensemble._hist_gradient_boosting import categories as _categories
from fastml.ensemble._hist_gradient_boosting.boosting import Booster
from fastml.ensemble._hist_gradient_boosting.losses import Loss, builtin_loss
from fastml.ensemble._hist_gradient_boosting.prediction import PredictionMixin

BINNING_SAMPLE = 200_000  # rows drawn to place the bin thresholds, as scikit-learn
AUTO_EARLY_STOPPING = 10_000  # early_stopping="auto" turns it on above this many rows


def _target_column(y):
    """y as a 1-D ndarray (a column vector is raveled with a warning)."""
    return column_or_1d(y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y), warn=True)


class _RealNotInt(Interval):
    """Floats in a range; integers, even of a value inside it, refused."""

    def accepts(self, value):
        return not isinstance(value, numbers.Integral) and super().accepts(value)


def _keep_parameters(estimator, values):
    """Store each ``__init__`` parameter of ``estimator`` from ``values``
    (the ``locals()`` of its ``__init__``) verbatim, unvalidated."""
    for name in inspect.signature(type(estimator).__init__).parameters:
        if name != "self":
            setattr(estimator, name, values[name])


class BaseHistGradientBoosting(PredictionMixin, BaseEstimator):
    """What the regressor and the classifier share: parameters, input
    checks and ``fit``.  Subclasses' ``__init__`` store their parameters
    with ``_keep_parameters``."""

    _parameter_constraints = {
        "learning_rate": [Interval(numbers.Real, 0, np.inf, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_leaf_nodes": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "max_depth": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "min_samples_leaf": [Interval(numbers.Integral, 1, None, closed="left")],
        "l2_regularization": [Interval(numbers.Real, 0, np.inf, closed="left")],
        "max_features": [_RealNotInt(numbers.Real, 0, 1, closed="right")],
        "max_bins": [Interval(numbers.Integral, 2, 255, closed="both")],
        "warm_start": ["boolean"],
        "early_stopping": [Options("auto"), "boolean"],
        "scoring": [str, callable, None],
        "validation_fraction": [_RealNotInt(numbers.Real, 0, 1, closed="neither"),
                                Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": [Interval(numbers.Integral, 0, None, closed="left"), "boolean"],
    }

    # ------------------------------------------------------------ checks

    def _check_params(self):
        for name in ("monotonic_cst", "interaction_cst"):
            if getattr(self, name) is not None:
                raise NotImplementedError(
                    f"{name} is not implemented in fastml yet; leave it None, or use "
                    f"sklearn.ensemble.{type(self).__name__} for constrained trees.")
        check_parameters(self)

    def _validate_X(self, X, reset):
        """X as a float array (n, n_features_in_), categorical columns as
        category codes; float32 kept when there are no categorical ones."""
        if is_dask_collection(X):
            raise NotImplementedError(
                f"{type(self).__name__}: fit, predict, predict_proba and decision_function "
                "take Dask input; this method does not yet: call .compute() first.")
        if not (hasattr(X, "columns") or isinstance(X, np.ndarray) or sparse.issparse(X)):
            X = np.asarray(X)  # lists and other array-likes
        if sparse.issparse(X):
            raise TypeError(f"{type(self).__name__} takes dense data; a sparse matrix was "
                            "passed. Use X.toarray() to convert it.")
        if reset:
            columns = getattr(X, "columns", None)
            names = (np.asarray([str(c) for c in columns], dtype=object)
                     if columns is not None else None)
            n_features = np.shape(X)[1] if np.ndim(X) == 2 else None
            self.is_categorical_ = None if n_features is None else \
                _categories.categorical_mask(X, self.categorical_features, n_features, names)
        mask = getattr(self, "is_categorical_", None)
        if mask is None:
            return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES,
                                 ensure_all_finite="allow-nan", ensure_min_samples=1)
        validate_data(self, X, reset=reset, skip_check_array=True)
        names = getattr(self, "feature_names_in_", None)
        if reset:
            self._categories = {
                j: _categories.find_categories(_categories.column(X, j),
                                               _categories.feature_name(names, j), self.max_bins)
                for j in np.flatnonzero(mask)}
        out = _categories.encode_columns(X, mask, self._categories, names)
        if np.isinf(out).any():
            raise ValueError("Input X contains infinity. NaN is taken as a missing value; "
                             "replace infinite values.")
        if out.shape[0] < 1:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        return out

    @staticmethod
    def _validate_sample_weight(sample_weight, n):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == 0:
            w = np.full(n, float(w))
        if w.shape != (n,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n},)!")
        if not np.all(np.isfinite(w)):
            raise ValueError("sample_weight contains NaN or infinity.")
        if np.any(w < 0):
            raise ValueError("Negative values in data passed to sample_weight: give "
                             "non-negative weights.")
        if not w.sum() > 0:
            raise ValueError("sample_weight sums to zero: at least one weight must be positive.")
        return w

    # ------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):
        """Fit the boosted trees.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            NaN is a missing value; infinite values are refused.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        X_val, y_val, sample_weight_val : default=None
            Validation data for early stopping instead of a split of X.

        Returns
        -------
        self
        """
        with unchanged_on_error(self):
            return self._fit(X, y, sample_weight, X_val, y_val, sample_weight_val)

    def _fit(self, X, y, sample_weight, X_val, y_val, sample_weight_val):
        self._check_params()
        if is_dask_collection(X):
            return self._fit_dask(X, y, sample_weight, X_val, y_val, sample_weight_val)
        warm = self._begin_fit()
        X = self._validate_X(X, reset=not warm)
        if warm:
            self._check_same_categorical(X)
        y = self._encode_y(y, fitting=not warm)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}.")
        sample_weight = self._apply_class_weight(
            self._validate_sample_weight(sample_weight, X.shape[0]), y)
        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val, or neither.")
        if X_val is not None:
            X_val = self._validate_X(X_val, reset=False)
            y_val = self._encode_y(y_val, fitting=False)
            sample_weight_val = self._validate_sample_weight(sample_weight_val, X_val.shape[0])
            if self.early_stopping is False:
                raise ValueError("X_val and y_val are passed to fit while early_stopping is "
                                 "False; set early_stopping to 'auto' or True to use them.")
        elif sample_weight_val is not None:
            raise ValueError("sample_weight_val needs X_val and y_val.")
        n_threads = effective_n_threads(None)
        if not warm:
            rng = check_random_state(self.random_state)
            self._random_seed = int(rng.randint(np.iinfo(np.uint32).max, dtype="u8"))
            self.do_early_stopping_ = self._early_stopping(X.shape[0], X_val is not None)
        self._loss = self._make_loss()
        self._loss.check_target(y)
        split = self._train_validation(X, y, sample_weight, X_val, y_val, sample_weight_val)
        (X_train, y_train, w_train), validation = split
        if not warm:
            rows = self._binning_rows(X_train.shape[0], w_train)
            if rows is None:
                self._fit_bins(X_train, w_train, n_threads)
            else:
                self._fit_bins(X_train[rows], None, n_threads)
            self._baseline = self._loss.baseline(y_train, w_train)
        binned = self._bin(X_train, n_threads)
        self.n_trees_per_iteration_ = self._loss.n_outputs
        booster = Booster(self, binned, (X_train, y_train, w_train), validation, n_threads)
        booster.run(warm)
        self._stacked = None
        self._forest()  # stacked once here: predict changes nothing in the estimator
        return self

    def _begin_fit(self):
        """Whether this fit adds iterations to the last one's (a warm
        start); if not, the last fit is forgotten.  ValueError for a warm
        start that cannot go on."""
        warm = self.warm_start and hasattr(self, "_trees")
        if warm and self.max_iter < self.n_iter_:
            raise ValueError(f"max_iter={self.max_iter} must be larger than or equal to "
                             f"n_iter_={self.n_iter_} when warm_start==True")
        if not warm:
            self._forget_fit()
        elif self.max_bins != self._thresholds_max_bins:
            raise ValueError(f"max_bins changed from {self._thresholds_max_bins} to "
                             f"{self.max_bins} between warm-start fits; the bins are fixed by "
                             "the first fit. Set warm_start=False to refit.")
        return warm

    def _early_stopping(self, n_rows, validation_given):
        return self.early_stopping is True or (
            self.early_stopping == "auto" and (n_rows > AUTO_EARLY_STOPPING or validation_given))

    def _fit_dask(self, X, y, sample_weight, X_val, y_val, sample_weight_val):
        from fastml.ensemble._hist_gradient_boosting.dask_fit import fit_dask

        return fit_dask(self, X, y, sample_weight, X_val, y_val, sample_weight_val)

    def _forget_fit(self):
        for name in ("_trees", "_stacked", "n_iter_", "train_score_", "validation_score_",
                     "_baseline", "_thresholds", "_thresholds_max_bins", "_categories",
                     "is_categorical_", "_feature_rng"):
            self.__dict__.pop(name, None)

    def _train_validation(self, X, y, w, X_val, y_val, w_val):
        """((X, y, w) to train on, (X, y, w) to validate on or None)."""
        if not self.do_early_stopping_ or X_val is not None or self.validation_fraction is None:
            if X_val is not None and self.do_early_stopping_:
                return (X, y, w), (X_val, y_val, w_val)
            return (X, y, w), None
        stratify = y if isinstance(self, ClassifierMixin) else None
        arrays = (X, y) if w is None else (X, y, w)
        parts = train_test_split(*arrays, test_size=self.validation_fraction,
                                 stratify=stratify, random_state=self._random_seed)
        if w is None:
            X_tr, X_va, y_tr, y_va = parts
            return (X_tr, y_tr, None), (X_va, y_va, None)
        X_tr, X_va, y_tr, y_va, w_tr, w_va = parts
        return (X_tr, y_tr, w_tr), (X_va, y_va, w_va)

    def _binning_rows(self, n, sample_weight):
        """The rows the bin thresholds are placed on: None for all n, else
        BINNING_SAMPLE of them drawn with replacement (with probabilities
        from the weights, which the drawn rows then lose), as scikit-learn
        does."""
        if n <= BINNING_SAMPLE:
            return None
        rng = np.random.RandomState(self._random_seed)
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        return rng.choice(n, BINNING_SAMPLE, p=p, replace=True)

    def _fit_bins(self, rows, sample_weight, n_threads):
        """Bin thresholds per feature from these rows (``_binning_rows``):
        (weighted) quantiles for numerical features, one bin per category
        for categorical ones."""
        X = rows
        categorical = self._categorical_mask(X.shape[1])
        numerical = np.flatnonzero(~categorical)
        thresholds = [None] * X.shape[1]
        if numerical.size:
            for j, t in zip(numerical, kernels.bin_thresholds(
                    rows[:, numerical], self.max_bins, sample_weight=sample_weight,
                    n_threads=n_threads)):
                thresholds[j] = t
        for j in np.flatnonzero(categorical):
            thresholds[j] = np.arange(self._categories[j].size - 1) + 0.5
        self._thresholds = thresholds
        self._thresholds_max_bins = self.max_bins

    def _check_same_categorical(self, X):
        """A warm fit keeps the first fit's categorical features: refuse a
        changed categorical_features instead of ignoring it."""
        spec = self.categorical_features
        if isinstance(spec, str) and spec == "from_dtype":
            return  # the dtypes were read at the first fit; X is encoded by now
        names = getattr(self, "feature_names_in_", None)
        mask = _categories.categorical_mask(X, self.categorical_features, X.shape[1], names)
        if not np.array_equal(self._categorical_mask(X.shape[1]),
                              np.zeros(X.shape[1], bool) if mask is None else mask):
            raise ValueError("categorical_features changed between warm-start fits; the "
                             "categorical features are fixed by the first fit. Set "
                             "warm_start=False to refit.")

    def _categorical_mask(self, n_features):
        mask = getattr(self, "is_categorical_", None)
        return np.zeros(n_features, dtype=bool) if mask is None else mask

    def _bin(self, X, n_threads):
        """Bin codes (n, d) uint8, C order, missing values in bin max_bins."""
        edges = [np.nextafter(t, np.inf) for t in self._thresholds]
        return kernels.bin_chunk(X, edges, missing_bin=self.max_bins, n_threads=n_threads)

    def _scorer(self):
        if self.scoring == "loss":
            return None
        return check_scoring(self, scoring=self.scoring)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

class HistGradientBoostingRegressor(RegressorMixin, BaseHistGradientBoosting):
    """Histogram-based gradient-boosted regression trees on fastml's compiled
    kernels.

    Drop-in for :class:`sklearn.ensemble.HistGradientBoostingRegressor`: the
    same parameters, fitted attributes and methods.  With the same settings
    it grows the same trees as scikit-learn (same binning, split rule and
    leaf values; gradient sums are exact fixed-point integers, so the model
    is bitwise the same whatever the thread count).  ``loss`` also takes a
    :class:`fastml.ensemble.NumbaLoss`, a loss written in Python and
    compiled with Numba.  ``monotonic_cst`` and ``interaction_cst`` raise
    NotImplementedError when set.

    Parameters
    ----------
    loss : {"squared_error", "absolute_error", "poisson", "gamma", "quantile"} \
            or NumbaLoss, default="squared_error"
    quantile : float, default=None
        The quantile for ``loss="quantile"``, in (0, 1).
    learning_rate, max_iter, max_leaf_nodes, max_depth, min_samples_leaf, \
    l2_regularization, max_features, max_bins, categorical_features, \
    monotonic_cst, interaction_cst, warm_start, early_stopping, scoring, \
    validation_fraction, n_iter_no_change, tol, verbose, random_state
        As in scikit-learn.

    Attributes
    ----------
    n_iter_ : int
    n_trees_per_iteration_ : int
        1.
    train_score_ : ndarray of shape (n_iter_ + 1,)
        Scores on the training data, the first for the initial prediction
        (higher is better: the negative loss with ``scoring="loss"``).
    validation_score_ : ndarray of shape (n_iter_ + 1,) or (0,)
    is_categorical_ : ndarray of bool of shape (n_features,) or None
    do_early_stopping_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    _loss_names = ("squared_error", "absolute_error", "poisson", "gamma", "quantile")

    def __init__(self, loss="squared_error", *, quantile=None, learning_rate=0.1,
                 max_iter=100, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20,
                 l2_regularization=0.0, max_features=1.0, max_bins=255,
                 categorical_features="from_dtype", monotonic_cst=None, interaction_cst=None,
                 warm_start=False, early_stopping="auto", scoring="loss",
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-7, verbose=0,
                 random_state=None):
        _keep_parameters(self, locals())

    _parameter_constraints = {
        **BaseHistGradientBoosting._parameter_constraints,
        "loss": [Options(*_loss_names), Loss],
        "quantile": [Interval(numbers.Real, 0, 1, closed="neither"), None],
    }

    def _check_params(self):
        super()._check_params()
        if self.loss == "quantile" and self.quantile is None:
            raise InvalidParameterError(
                "The 'quantile' parameter of HistGradientBoostingRegressor must be a float "
                "in the range (0, 1) when loss='quantile'. Got None instead.")

    def _make_loss(self):
        if isinstance(self.loss, Loss):
            return self.loss
        return builtin_loss(self.loss, quantile=self.quantile)

    def _encode_y(self, y, fitting):
        y = _target_column(y)
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"y must be numeric for a regressor, got dtype {y.dtype}."
                                 ) from None
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity; drop those rows or impute "
                             "the target.")
        return y

    def _decode_y(self, y):
        return y

    def _apply_class_weight(self, sample_weight, y):
        return sample_weight

    def predict(self, X):
        """Predicted values, ndarray of shape (n_samples,) float64 (a lazy
        Dask array for Dask input)."""
        check_is_fitted(self, "_trees")
        if is_dask_collection(X):
            return self._on_dask("predict", X, None, np.float64)
        return self._loss.predict(self._raw_predict(X))

    def staged_predict(self, X):
        """Predictions after each iteration, a generator of (n_samples,)
        arrays (lazy Dask arrays for Dask input)."""
        check_is_fitted(self, "_trees")
        return self._staged(X, self._loss.predict, None, np.float64)


class HistGradientBoostingClassifier(ClassifierMixin, BaseHistGradientBoosting):
    """Histogram-based gradient-boosted classification trees on fastml's
    compiled kernels.

    Drop-in for :class:`sklearn.ensemble.HistGradientBoostingClassifier`
    (``log_loss``, binary and multiclass; ``class_weight``): the same
    parameters, fitted attributes and methods, the same trees with the same
    settings, bitwise the same model whatever the thread count.
    ``monotonic_cst`` and ``interaction_cst`` raise NotImplementedError
    when set.

    Parameters
    ----------
    loss : {"log_loss"}, default="log_loss"
    class_weight : dict or "balanced", default=None
    **other parameters**
        As in :class:`HistGradientBoostingRegressor` and scikit-learn.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
    n_trees_per_iteration_ : int
        1 for two classes, else the number of classes.
    train_score_, validation_score_, is_categorical_, do_early_stopping_, \
    n_features_in_, feature_names_in_
        As in the regressor.
    """

    _loss_names = ("log_loss",)

    def __init__(self, loss="log_loss", *, learning_rate=0.1, max_iter=100, max_leaf_nodes=31,
                 max_depth=None, min_samples_leaf=20, l2_regularization=0.0, max_features=1.0,
                 max_bins=255, categorical_features="from_dtype", monotonic_cst=None,
                 interaction_cst=None, warm_start=False, early_stopping="auto",
                 scoring="loss", validation_fraction=0.1, n_iter_no_change=10, tol=1e-7,
                 verbose=0, random_state=None, class_weight=None):
        _keep_parameters(self, locals())

    _parameter_constraints = {
        **BaseHistGradientBoosting._parameter_constraints,
        "loss": [Options(*_loss_names)],  # custom losses are for the regressor
        "class_weight": [dict, Options("balanced"), None],
    }

    def _make_loss(self):
        # a single class is fitted as two, as scikit-learn does: its
        # probability is then 1 - 1e-14 and predict_proba has two columns
        return builtin_loss("log_loss", n_classes=max(2, self.classes_.size))

    def _encode_y(self, y, fitting):
        y = _target_column(y)
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise ValueError("Input y contains NaN; drop those rows or impute the labels.")
        check_classification_targets(y)
        if fitting:
            encoder = LabelEncoder().fit(y)
            self.classes_ = encoder.classes_
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, self.classes_.size - 1)
        if not np.all(self.classes_[codes] == y):
            unknown = np.unique(y[self.classes_[codes] != y])
            raise ValueError(f"y holds labels {unknown.tolist()} not seen in the first fit; "
                             f"the classes are {self.classes_.tolist()}.")
        return codes.astype(np.float64)

    def _decode_y(self, y):
        return self.classes_[y.astype(np.intp)]

    def _apply_class_weight(self, sample_weight, y):
        if self.class_weight is None:
            return sample_weight
        weights = compute_sample_weight(self.class_weight, self._decode_y(y))
        return weights if sample_weight is None else weights * sample_weight

    def decision_function(self, X):
        """Raw scores: (n_samples,) log-odds for two classes, else
        (n_samples, n_classes)."""
        check_is_fitted(self, "_trees")
        if is_dask_collection(X):
            K = self.n_trees_per_iteration_
            return self._on_dask("decision_function", X, None if K == 1 else K, np.float64)
        raw = self._raw_predict(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict_proba(self, X):
        """Class probabilities, ndarray of shape (n_samples, n_classes)."""
        check_is_fitted(self, "_trees")
        if is_dask_collection(X):
            return self._on_dask("predict_proba", X, max(2, self.classes_.size), np.float64)
        return self._loss.predict(self._raw_predict(X))

    def predict(self, X):
        """Predicted classes, ndarray of shape (n_samples,)."""
        check_is_fitted(self, "_trees")
        if is_dask_collection(X):
            return self._on_dask("predict", X, None, self.classes_.dtype)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def staged_decision_function(self, X):
        """decision_function after each iteration (a generator; lazy Dask
        arrays for Dask input)."""
        check_is_fitted(self, "_trees")
        K = self.n_trees_per_iteration_
        return self._staged(X, _decision_of_raw, None if K == 1 else K, np.float64)

    def staged_predict_proba(self, X):
        """predict_proba after each iteration (a generator; lazy Dask
        arrays for Dask input)."""
        check_is_fitted(self, "_trees")
        return self._staged(X, self._loss.predict, max(2, self.classes_.size), np.float64)

    def staged_predict(self, X):
        """predict after each iteration (a generator; lazy Dask arrays for
        Dask input)."""
        check_is_fitted(self, "_trees")
        return self._staged(X, partial(_classes_of_raw, self.classes_, self._loss.predict),
                            None, self.classes_.dtype)


def _decision_of_raw(raw):
    return raw[:, 0] if raw.shape[1] == 1 else raw


def _classes_of_raw(classes, probabilities_of, raw):
    return classes[np.argmax(probabilities_of(raw), axis=1)]
