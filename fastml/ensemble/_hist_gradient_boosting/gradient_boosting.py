"""Histogram gradient boosting: drop-in ``HistGradientBoostingRegressor``
and ``HistGradientBoostingClassifier`` on fastml's compiled kernels.

One way through ``fit``: validate, encode categorical columns, split off
validation rows, bin (``kernels.bin_thresholds`` + ``bin_chunk``), then per
iteration: gradients and hessians from the loss, converted to fixed point,
one tree per raw-prediction column from ``_tree_grower.grow_tree``, the
training raw predictions updated from the leaves' rows, scores and the
early-stopping test.  Predictions sum the trees with
``kernels.predict_tree_chunk``.
"""
import copy
import numbers
import time

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, column_or_1d, resample
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml import kernels
from fastml._threads import effective_n_threads
from fastml._tree_grower import grow_tree
from fastml._validation import FLOAT_DTYPES, is_dask_collection, unchanged_on_error
from fastml.ensemble import _categories
from fastml.ensemble._losses import Loss, builtin_loss, weighted_quantile

BINNING_SAMPLE = 200_000  # rows drawn to place the bin thresholds, as scikit-learn
SCORING_SAMPLE = 10_000   # training rows a scorer sees for train_score_
AUTO_EARLY_STOPPING = 10_000  # early_stopping="auto" turns it on above this many rows


def _is_int(value, low=None):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and (low is None or value >= low))


def _scale_of(values, n_threads):
    """The fixed-point scale of float32 gradients or hessians (bounded by
    the sum of their absolute values, so a few large ones cost little)."""
    largest, abs_sum = kernels.abs_max_sum(values, n_threads=n_threads)
    return kernels.fixed_point_scale(largest, values.size, abs_sum=abs_sum)


def _target_column(y):
    """y as a 1-D ndarray (a column vector is raveled with a warning)."""
    return column_or_1d(y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y), warn=True)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class _HistGradientBoosting(BaseEstimator):
    """What the regressor and the classifier share."""

    _loss_names = ()

    def __init__(self, loss, *, learning_rate, max_iter, max_leaf_nodes, max_depth,
                 min_samples_leaf, l2_regularization, max_features, max_bins,
                 categorical_features, monotonic_cst, interaction_cst, warm_start,
                 early_stopping, scoring, validation_fraction, n_iter_no_change, tol, verbose,
                 random_state):
        self.loss = loss
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.max_bins = max_bins
        self.categorical_features = categorical_features
        self.monotonic_cst = monotonic_cst
        self.interaction_cst = interaction_cst
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------ checks

    def _param_error(self, name, expected):
        return ValueError(f"The '{name}' parameter of {type(self).__name__} must be "
                          f"{expected}. Got {getattr(self, name)!r} instead.")

    def _check_params(self):
        for name in ("monotonic_cst", "interaction_cst"):
            if getattr(self, name) is not None:
                raise NotImplementedError(
                    f"{name} is not implemented in fastml yet; leave it None, or use "
                    f"sklearn.ensemble.{type(self).__name__} for constrained trees.")
        if not (isinstance(self.loss, Loss) or self.loss in self._loss_names):
            raise self._param_error("loss", f"one of {self._loss_names} or a "
                                    "fastml.ensemble.NumbaLoss")
        if not _is_real(self.learning_rate) or not np.isfinite(self.learning_rate) \
                or self.learning_rate <= 0:
            raise self._param_error("learning_rate", "a finite float > 0")
        for name, low, none_ok in (("max_iter", 1, False), ("max_leaf_nodes", 2, True),
                                   ("max_depth", 1, True), ("min_samples_leaf", 1, False),
                                   ("n_iter_no_change", 1, False)):
            value = getattr(self, name)
            if not (_is_int(value, low) or (none_ok and value is None)):
                raise self._param_error(name, f"an int in the range [{low}, inf)"
                                        + (" or None" if none_ok else ""))
        if not _is_real(self.l2_regularization) or not self.l2_regularization >= 0 \
                or not np.isfinite(self.l2_regularization):
            raise self._param_error("l2_regularization", "a finite float >= 0")
        if not _is_real(self.max_features) or isinstance(self.max_features, numbers.Integral) \
                or not 0 < self.max_features <= 1:
            raise self._param_error("max_features", "a float in the range (0.0, 1.0]")
        if not _is_int(self.max_bins) or not 2 <= self.max_bins <= 255:
            raise self._param_error("max_bins", "an int in the range [2, 255]")
        if not (self.early_stopping == "auto" or isinstance(self.early_stopping, bool)):
            raise self._param_error("early_stopping", "'auto' or a bool")
        vf = self.validation_fraction
        if not (vf is None or _is_int(vf, 1)
                or (_is_real(vf) and not isinstance(vf, numbers.Integral) and 0 < vf < 1)):
            raise self._param_error("validation_fraction",
                                    "a float in (0, 1), an int >= 1, or None")
        if not _is_real(self.tol) or not self.tol >= 0:
            raise self._param_error("tol", "a float >= 0")
        if not (self.scoring is None or isinstance(self.scoring, str) or callable(self.scoring)):
            raise self._param_error("scoring", "a str, a callable or None")
        if not (_is_int(self.verbose, 0) or isinstance(self.verbose, bool)):
            raise self._param_error("verbose", "an int >= 0")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise self._param_error("warm_start", "a bool")

    def _validate_X(self, X, reset):
        """X as a float array (n, n_features_in_), categorical columns as
        category codes; float32 kept when there are no categorical ones."""
        if is_dask_collection(X):
            raise NotImplementedError(
                f"{type(self).__name__} does not take Dask collections yet; call "
                ".compute() first (training on a Dask cluster is planned).")
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
            self._categories = {}
        out = np.empty((np.shape(X)[0], mask.size))
        for j in range(mask.size):
            values = _categories.column(X, j, numeric=not mask[j])
            name = repr(names[j]) if names is not None else f"at index {j}"
            if mask[j]:
                if reset:
                    self._categories[j] = _categories.find_categories(values, name,
                                                                      self.max_bins)
                out[:, j] = _categories.encode(values, self._categories[j])
                continue
            try:
                out[:, j] = values
            except (TypeError, ValueError):
                raise ValueError(f"Feature {name} holds non-numeric values; mark it as "
                                 "categorical (categorical_features) or encode it.") from None
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
            self.do_early_stopping_ = (self.early_stopping is True
                                       or (self.early_stopping == "auto"
                                           and (X.shape[0] > AUTO_EARLY_STOPPING
                                                or X_val is not None)))
        self._loss = self._make_loss()
        self._loss.check_target(y)
        split = self._train_validation(X, y, sample_weight, X_val, y_val, sample_weight_val)
        (X_train, y_train, w_train), validation = split
        if not warm:
            self._fit_bins(X_train, w_train, n_threads)
            self._baseline = self._loss.baseline(y_train, w_train)
        binned = self._bin(X_train, n_threads)
        K = self._loss.n_outputs
        self.n_trees_per_iteration_ = K
        # (n, K) view of a (K, n) array: each column contiguous for the leaf updates
        raw = np.tile(self._baseline[:, None], (1, X_train.shape[0])).T
        raw_val = None if validation is None else \
            np.tile(self._baseline, (validation[0].shape[0], 1))
        for k, (tree, roots) in enumerate(self._forest()):  # trees of a warm start
            if roots.size:
                raw[:, k] = kernels.predict_binned_chunk(
                    binned, tree, missing_bin=self.max_bins, roots=roots,
                    out=np.ascontiguousarray(raw[:, k]), n_threads=n_threads)
                if raw_val is not None:
                    raw_val[:, k] = kernels.predict_tree_chunk(
                        validation[0], tree, roots=roots,
                        out=np.ascontiguousarray(raw_val[:, k]), n_threads=n_threads)
        self._boost(binned, X_train, y_train, w_train, raw, validation, raw_val, n_threads,
                    warm)
        self._stacked = None
        self._forest()  # stacked once here: predict changes nothing in the estimator
        return self

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

    def _fit_bins(self, X, sample_weight, n_threads):
        """Bin thresholds per feature: (weighted) quantiles for numerical
        features, one bin per category for categorical ones.  Above
        BINNING_SAMPLE rows, that many are drawn with replacement (with
        probabilities from the weights), as scikit-learn does."""
        rows = X
        if X.shape[0] > BINNING_SAMPLE:
            rng = np.random.RandomState(self._random_seed)
            p = None if sample_weight is None else sample_weight / sample_weight.sum()
            rows = X[rng.choice(X.shape[0], BINNING_SAMPLE, p=p, replace=True)]
            sample_weight = None
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

    def _boost(self, binned, X_train, y_train, w_train, raw, validation, raw_val, n_threads,
               warm):
        loss, K = self._loss, self._loss.n_outputs
        raw_columns = raw.T  # (K, n), C order
        scorer = self._scorer() if self.do_early_stopping_ else None
        score_rows = None
        if scorer is not None:
            score_rows = np.arange(X_train.shape[0])
            if X_train.shape[0] > SCORING_SAMPLE:  # the rows scikit-learn scores
                stratify = y_train if isinstance(self, ClassifierMixin) else None
                score_rows = resample(score_rows, n_samples=SCORING_SAMPLE, replace=False,
                                      stratify=stratify, random_state=self._random_seed)

        def scores():
            if scorer is None:
                train = -loss.loss(y_train, raw, w_train)
                val = None if validation is None else -loss.loss(validation[1], raw_val,
                                                                 validation[2])
                return train, val
            self._stacked = None
            w = None if w_train is None else w_train[score_rows]
            self._scoring_encoded_rows = True
            try:
                train = self._score(scorer, X_train[score_rows], y_train[score_rows], w)
                val = None if validation is None else self._score(scorer, *validation)
            finally:
                del self._scoring_encoded_rows
            return train, val

        if warm:  # a new list: a fit that fails leaves the old one as it was
            self._trees = list(self._trees)
        else:
            self._trees = []
            self.n_iter_ = 0
            self.train_score_ = np.array([])
            self.validation_score_ = np.array([])
        record = self.do_early_stopping_  # scikit-learn keeps scores only then
        if record and not warm:
            train, val = scores()
            self.train_score_ = np.array([train])
            self.validation_score_ = np.array([] if val is None else [val])
        if not warm or not hasattr(self, "_feature_rng"):
            self._feature_rng = np.random.default_rng(self._random_seed)
        # a copy, advanced and kept only if the fit succeeds, so that warm fits
        # continue the draws where the last one stopped (5 + 5 = 10 iterations)
        feature_rng = copy.deepcopy(self._feature_rng)
        n_allowed = max(1, int(np.ceil(self.max_features * binned.shape[1])))
        categorical = self._categorical_mask(binned.shape[1])
        binned_columns = np.asfortranarray(binned)  # for the partitions (see grow_tree)
        by_column = kernels.repeating_features(binned)  # for the histograms (see grow_tree)
        histogram_pool = []  # arrays the trees' histograms are recycled through
        started = time.perf_counter()
        if self.verbose and self.n_iter_ < self.max_iter:
            print(f"Binned {binned.shape[0]} training rows x {binned.shape[1]} features; "
                  f"{'early stopping on' if self.do_early_stopping_ else 'no early stopping'}")
        while self.n_iter_ < self.max_iter:
            tic = time.perf_counter()
            gradients, hessians = loss.gradient_hessian(y_train, raw, w_train)
            trees = []
            for k in range(K):
                g = np.ascontiguousarray(gradients[:, k])
                h = None if hessians is None else np.ascontiguousarray(hessians[:, k])
                g_scale = _scale_of(g, n_threads)
                h_scale = None if h is None else _scale_of(h, n_threads)
                tree, leaf_rows = grow_tree(  # the scales come from g and h: no second check
                    binned, kernels.to_fixed_point(g, g_scale, n_threads=n_threads,
                                                   check_input=False),
                    None if h is None else kernels.to_fixed_point(h, h_scale,
                                                                  n_threads=n_threads,
                                                                  check_input=False),
                    gradient_scale=g_scale, hessian_scale=h_scale, thresholds=self._thresholds,
                    missing_bin=self.max_bins, learning_rate=float(self.learning_rate),
                    max_leaf_nodes=self.max_leaf_nodes, max_depth=self.max_depth,
                    min_samples_leaf=self.min_samples_leaf,
                    l2_regularization=self.l2_regularization, categorical=categorical,
                    n_allowed_features=n_allowed, rng=feature_rng,
                    binned_columns=binned_columns, by_column=by_column,
                    histogram_pool=histogram_pool, n_threads=n_threads)
                column = raw_columns[k]
                if loss.leaf_quantile is not None:
                    for node, rows in leaf_rows:
                        residuals = y_train[rows] - column[rows]
                        w = None if w_train is None else w_train[rows]
                        tree.value[node] = float(self.learning_rate) * weighted_quantile(
                            residuals, w, loss.leaf_quantile)
                kernels.add_leaf_values(column, [rows for _, rows in leaf_rows],
                                        tree.value[[node for node, _ in leaf_rows]],
                                        n_threads=n_threads, check_input=False)
                if raw_val is not None:
                    raw_val[:, k] = kernels.predict_tree_chunk(
                        validation[0], tree, out=np.ascontiguousarray(raw_val[:, k]),
                        n_threads=n_threads)
                trees.append(tree)
            self._trees.append(trees)
            self._stacked = None
            self.n_iter_ += 1
            if record:
                train, val = scores()
                self.train_score_ = np.append(self.train_score_, train)
                if val is not None:
                    self.validation_score_ = np.append(self.validation_score_, val)
            if self.verbose:
                leaves = sum(int((t.left < 0).sum()) for t in trees)
                if record:
                    shown = f"train score {train:.5f}" + (
                        "" if val is None else f", val score {val:.5f}")
                else:
                    shown = f"train loss {loss.loss(y_train, raw, w_train):.5f}"
                print(f"[{self.n_iter_}/{self.max_iter}] {K} tree{'s' * (K > 1)}, {leaves} "
                      f"leaves, {shown}, in {time.perf_counter() - tic:.3f}s")
            if self.do_early_stopping_ and self._should_stop(
                    self.validation_score_ if validation is not None else self.train_score_):
                break
        self._feature_rng = feature_rng
        if self.verbose:
            print(f"Fit {len(self._trees)} iterations in {time.perf_counter() - started:.3f}s")

    def _score(self, scorer, X, y, w):
        y = self._decode_y(y)
        if w is None:
            return float(scorer(self, X, y))
        return float(scorer(self, X, y, sample_weight=w))

    def _should_stop(self, scores):
        """No score among the last n_iter_no_change beats the one before
        them by more than tol."""
        reference = self.n_iter_no_change + 1
        if len(scores) < reference:
            return False
        return not np.any(scores[-reference + 1:] > scores[-reference] + self.tol)

    # ------------------------------------------------------------ predict

    def _forest(self):
        """Per raw-prediction column: (stacked trees, roots)."""
        stacked = getattr(self, "_stacked", None)
        if stacked is None:
            K = getattr(self, "n_trees_per_iteration_", 1)
            columns = [[trees[k] for trees in getattr(self, "_trees", [])] for k in range(K)]
            stacked = self._stacked = [
                kernels.stack_trees(c) if c else (None, np.zeros(0, np.int64))
                for c in columns]
        return stacked

    def _prediction_X(self, X):
        """X validated against the fitted features.  Mid-fit, scorers get
        the rows fit has already validated and encoded: they pass as they
        are."""
        if getattr(self, "_scoring_encoded_rows", False):
            return X
        return self._validate_X(X, reset=False)

    def _raw_predict(self, X):
        """Raw predictions (n, K) float64."""
        X = self._prediction_X(X)
        n_threads = effective_n_threads(None)
        raw = np.tile(self._baseline, (X.shape[0], 1))
        for k, (tree, roots) in enumerate(self._forest()):
            if roots.size:
                raw[:, k] = kernels.predict_tree_chunk(X, tree, roots=roots,
                                                       out=np.ascontiguousarray(raw[:, k]),
                                                       n_threads=n_threads)
        return raw

    def _staged_raw_predict(self, X):
        check_is_fitted(self, "_trees")
        X = self._prediction_X(X)
        n_threads = effective_n_threads(None)
        raw = np.tile(self._baseline, (X.shape[0], 1))
        for trees in self._trees:
            for k, tree in enumerate(trees):
                raw[:, k] = kernels.predict_tree_chunk(X, tree,
                                                       out=np.ascontiguousarray(raw[:, k]),
                                                       n_threads=n_threads)
            yield raw.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------ save / load

    def save(self, path):
        """Write the fitted model to ``path`` as an ``.npz`` file of plain
        arrays and JSON text (no pickled objects); read it with ``load``."""
        from fastml.ensemble._model_files import save

        check_is_fitted(self, "_trees")
        save(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by ``save``; loading never runs code from the
        file (``numpy.load`` with ``allow_pickle=False``)."""
        from fastml.ensemble._model_files import load

        return load(path, cls)


class HistGradientBoostingRegressor(RegressorMixin, _HistGradientBoosting):
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
        super().__init__(
            loss, learning_rate=learning_rate, max_iter=max_iter,
            max_leaf_nodes=max_leaf_nodes, max_depth=max_depth,
            min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_features=max_features, max_bins=max_bins,
            categorical_features=categorical_features, monotonic_cst=monotonic_cst,
            interaction_cst=interaction_cst, warm_start=warm_start,
            early_stopping=early_stopping, scoring=scoring,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, verbose=verbose, random_state=random_state)
        self.quantile = quantile

    def _check_params(self):
        super()._check_params()
        if self.loss == "quantile" and not (_is_real(self.quantile) and 0 < self.quantile < 1):
            raise self._param_error("quantile", "a float in (0, 1) when loss='quantile'")

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
        """Predicted values, ndarray of shape (n_samples,) float64."""
        check_is_fitted(self, "_trees")
        return self._loss.predict(self._raw_predict(X))

    def staged_predict(self, X):
        """Predictions after each iteration, a generator of (n_samples,) arrays."""
        for raw in self._staged_raw_predict(X):
            yield self._loss.predict(raw)


class HistGradientBoostingClassifier(ClassifierMixin, _HistGradientBoosting):
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
    learning_rate, max_iter, max_leaf_nodes, max_depth, min_samples_leaf, \
    l2_regularization, max_features, max_bins, categorical_features, \
    monotonic_cst, interaction_cst, warm_start, early_stopping, scoring, \
    validation_fraction, n_iter_no_change, tol, verbose, random_state
        As in scikit-learn.

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
        super().__init__(
            loss, learning_rate=learning_rate, max_iter=max_iter,
            max_leaf_nodes=max_leaf_nodes, max_depth=max_depth,
            min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
            max_features=max_features, max_bins=max_bins,
            categorical_features=categorical_features, monotonic_cst=monotonic_cst,
            interaction_cst=interaction_cst, warm_start=warm_start,
            early_stopping=early_stopping, scoring=scoring,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, verbose=verbose, random_state=random_state)
        self.class_weight = class_weight

    def _check_params(self):
        super()._check_params()
        if isinstance(self.loss, Loss):
            raise self._param_error("loss", "'log_loss' (custom losses are for the regressor)")
        cw = self.class_weight
        if not (cw is None or cw == "balanced" or isinstance(cw, dict)):
            raise self._param_error("class_weight", "a dict, 'balanced' or None")

    def _make_loss(self):
        return builtin_loss("log_loss", n_classes=self.classes_.size)

    def _encode_y(self, y, fitting):
        y = _target_column(y)
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise ValueError("Input y contains NaN; drop those rows or impute the labels.")
        check_classification_targets(y)
        if fitting:
            encoder = LabelEncoder().fit(y)
            self.classes_ = encoder.classes_
            if self.classes_.size < 2:
                raise ValueError(f"y has 1 class ({self.classes_.tolist()[0]!r}); a classifier "
                                 "needs at least 2 classes.")
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
        raw = self._raw_predict(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict_proba(self, X):
        """Class probabilities, ndarray of shape (n_samples, n_classes)."""
        check_is_fitted(self, "_trees")
        return self._loss.predict(self._raw_predict(X))

    def predict(self, X):
        """Predicted classes, ndarray of shape (n_samples,)."""
        check_is_fitted(self, "_trees")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def staged_decision_function(self, X):
        for raw in self._staged_raw_predict(X):
            yield raw[:, 0] if raw.shape[1] == 1 else raw

    def staged_predict_proba(self, X):
        for raw in self._staged_raw_predict(X):
            yield self._loss.predict(raw)

    def staged_predict(self, X):
        for proba in self.staged_predict_proba(X):
            yield self.classes_[np.argmax(proba, axis=1)]
