"""The boosting loop of one ``fit``: per iteration, gradients and hessians
from the loss, converted to fixed point, one tree per raw-prediction column
from ``kernels.TreeGrower``, the training raw predictions updated from the
leaves' rows, scores and the early-stopping test.

The weighted gradients and hessians (rounded to float32 as scikit-learn
rounds them) are converted to fixed point per unit of weight, with the scale
the rows repeated as their weights say would get (``_scale_of``): a row of
weight 2 (any power of two) then adds to every histogram exactly what the
row twice adds, so weight 2 fits the same trees as a repeated row.  (Other
integer weights k differ by the float32 rounding of k times a gradient,
as in scikit-learn.)
"""
import copy
import time

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import resample

from fastml import kernels
from fastml.ensemble._hist_gradient_boosting.losses import weighted_quantile

SCORING_SAMPLE = 10_000   # training rows a scorer sees for train_score_


def _scale_of(values, n_threads, sample_weight=None, n_rows=None):
    """The fixed-point scale of float32 gradients or hessians (bounded by
    the sum of their absolute values, so a few large ones cost little).
    With weights, the scale of the rows repeated as their weights say: the
    largest value of one unit of weight, the sum of magnitudes and
    ``n_rows`` (``_weighted_rows``) for the row count."""
    largest, abs_sum = kernels.abs_max_sum(values, sample_weight=sample_weight,
                                           n_threads=n_threads)
    return kernels.fixed_point_scale(largest, values.size if n_rows is None else n_rows,
                                     abs_sum=abs_sum)


def _weighted_rows(sample_weight):
    """The row count the fixed-point scale leaves room for with weights:
    the total weight (the row count of the repeated rows) rounded up, or
    the rows of positive weight if more (weights below 1)."""
    return max(int(np.count_nonzero(sample_weight)), int(np.ceil(sample_weight.sum())))


def should_stop(model, scores):
    """Early stopping: no score among the last n_iter_no_change beats the
    one before them by more than tol."""
    return stops(model.n_iter_no_change, model.tol, scores)


def stops(n_iter_no_change, tol, scores):
    """``should_stop`` of a model with these parameters (a picklable rule:
    ``functools.partial(stops, n_iter_no_change, tol)``)."""
    reference = n_iter_no_change + 1
    if len(scores) < reference:
        return False
    return not np.any(scores[-reference + 1:] > scores[-reference] + tol)


def score_rows(model, y):
    """The training rows a scorer sees (those scikit-learn scores), of the
    encoded training targets y."""
    rows = np.arange(y.shape[0])
    if y.shape[0] <= SCORING_SAMPLE:
        return rows
    stratify = y if isinstance(model, ClassifierMixin) else None
    return resample(rows, n_samples=SCORING_SAMPLE, replace=False, stratify=stratify,
                    random_state=model._random_seed)


def scorer_scores(model, scorer, train, validation):
    """(train score, validation score or None) of the model so far by
    ``scorer``, on training rows and validation rows given as fit has
    validated and encoded them: (X, y, sample_weight or None) each."""
    model._stacked = None
    model._scoring_encoded_rows = True
    try:
        return tuple(None if rows is None else _score(model, scorer, *rows)
                     for rows in (train, validation))
    finally:
        del model._scoring_encoded_rows


def _score(model, scorer, X, y, w):
    y = model._decode_y(y)
    if w is None:
        return float(scorer(model, X, y))
    return float(scorer(model, X, y, sample_weight=w))


class Booster:
    """Boosts ``model`` (a fitted-so-far estimator: its loss, bins and,
    on a warm start, trees) on binned training rows.

    Parameters
    ----------
    model : BaseHistGradientBoosting
    binned : ndarray of shape (n, d), uint8
        The training rows' bin codes.
    train : (X, y, sample_weight)
        The training rows (X validated and encoded, y encoded).
    validation : (X, y, sample_weight) or None
    n_threads : int
    """

    def __init__(self, model, binned, train, validation, n_threads):
        self.model, self.loss = model, model._loss
        self.binned, self.n_threads = binned, n_threads
        self.X, self.y, self.w = train
        self.weighted_rows = None if self.w is None else _weighted_rows(self.w)
        self.validation = validation
        self.raw, self.raw_val = self._initial_predictions()
        self.scorer = model._scorer() if model.do_early_stopping_ else None
        self.score_rows = None if self.scorer is None else score_rows(model, self.y)

    def _initial_predictions(self):
        """Raw predictions of the training and validation rows: the
        baseline plus the trees of a warm start."""
        model, binned, n_threads = self.model, self.binned, self.n_threads
        # (n, K) view of a (K, n) array: each column contiguous for the leaf updates
        raw = np.tile(model._baseline[:, None], (1, binned.shape[0])).T
        raw_val = None if self.validation is None else \
            np.tile(model._baseline, (self.validation[0].shape[0], 1))
        for k, (tree, roots) in enumerate(model._forest()):
            if roots.size:
                raw[:, k] = kernels.predict_binned_chunk(
                    binned, tree, missing_bin=model.max_bins, roots=roots,
                    out=np.ascontiguousarray(raw[:, k]), n_threads=n_threads)
                if raw_val is not None:
                    raw_val[:, k] = kernels.predict_tree_chunk(
                        self.validation[0], tree, roots=roots,
                        out=np.ascontiguousarray(raw_val[:, k]), n_threads=n_threads)
        return raw, raw_val

    def scores(self):
        """(train score, validation score or None) of the model so far."""
        model, validation = self.model, self.validation
        if self.scorer is None:
            train = -self.loss.loss(self.y, self.raw, self.w, self.n_threads)
            val = None if validation is None else -self.loss.loss(
                validation[1], self.raw_val, validation[2], self.n_threads)
            return train, val
        rows = self.score_rows
        return scorer_scores(model, self.scorer, (self.X[rows], self.y[rows],
                                                  None if self.w is None else self.w[rows]),
                             validation)


    def _start(self, warm):
        """Reset (or, warm, copy) the model's trees and scores; the feature
        generator to draw from."""
        model = self.model
        if warm:  # a new list: a fit that fails leaves the old one as it was
            model._trees = list(model._trees)
        else:
            model._trees = []
            model.n_iter_ = 0
            model.train_score_ = np.array([])
            model.validation_score_ = np.array([])
        if model.do_early_stopping_ and not warm:
            train, val = self.scores()
            model.train_score_ = np.array([train])
            model.validation_score_ = np.array([] if val is None else [val])
        if not warm or not hasattr(model, "_feature_rng"):
            model._feature_rng = np.random.default_rng(model._random_seed)
        # a copy, advanced and kept only if the fit succeeds, so that warm fits
        # continue the draws where the last one stopped (5 + 5 = 10 iterations)
        return copy.deepcopy(model._feature_rng)

    def _tree_grower(self, feature_rng):
        """The grower of every tree of the fit."""
        model, binned = self.model, self.binned
        return kernels.TreeGrower(
            binned, model._thresholds, missing_bin=model.max_bins,
            learning_rate=float(model.learning_rate), max_leaf_nodes=model.max_leaf_nodes,
            max_depth=model.max_depth, min_samples_leaf=model.min_samples_leaf,
            l2_regularization=model.l2_regularization,
            categorical=model._categorical_mask(binned.shape[1]),
            n_allowed_features=max(1, int(np.ceil(model.max_features * binned.shape[1]))),
            rng=feature_rng, n_threads=self.n_threads)

    def run(self, warm):
        """Add iterations until max_iter or early stopping."""
        model = self.model
        feature_rng = self._start(warm)
        grower = self._tree_grower(feature_rng)
        started = time.perf_counter()
        if model.verbose and model.n_iter_ < model.max_iter:
            stopping = "early stopping on" if model.do_early_stopping_ else "no early stopping"
            print(f"Binned {self.binned.shape[0]} training rows x {self.binned.shape[1]} "
                  f"features; {stopping}")
        while model.n_iter_ < model.max_iter:
            tic = time.perf_counter()
            gradients, hessians = self.loss.gradient_hessian(self.y, self.raw, self.w,
                                                                self.n_threads)
            trees = [self._grow(k, gradients, hessians, grower)
                     for k in range(self.loss.n_outputs)]
            model._trees.append(trees)
            model._stacked = None
            model.n_iter_ += 1
            if self._record_and_stop(trees, tic):
                break
        model._feature_rng = feature_rng
        if model.verbose:
            print(f"Fit {len(model._trees)} iterations in {time.perf_counter() - started:.3f}s")

    def _grow(self, k, gradients, hessians, grower):
        """The tree of raw-prediction column k, its leaf values added to the
        training (and validation) raw predictions."""
        n_threads, w = self.n_threads, self.w
        g = np.ascontiguousarray(gradients[:, k])
        h = None if hessians is None else np.ascontiguousarray(hessians[:, k])
        g_scale = _scale_of(g, n_threads, w, self.weighted_rows)
        h_scale = None if h is None else _scale_of(h, n_threads, w, self.weighted_rows)
        tree, leaf_rows = grower.grow(  # the scales come from g and h: no second check
            kernels.to_fixed_point(g, g_scale, sample_weight=w, n_threads=n_threads,
                                   check_input=False),
            None if h is None else kernels.to_fixed_point(h, h_scale, sample_weight=w,
                                                          n_threads=n_threads,
                                                          check_input=False),
            gradient_scale=g_scale, hessian_scale=h_scale)
        column = self.raw.T[k]  # contiguous: raw is an (n, K) view of a (K, n) array
        if self.loss.leaf_quantile is not None:
            for node, rows in leaf_rows:
                residuals = self.y[rows] - column[rows]
                w = None if self.w is None else self.w[rows]
                tree.value[node] = float(self.model.learning_rate) * weighted_quantile(
                    residuals, w, self.loss.leaf_quantile)
        kernels.add_leaf_values(column, [rows for _, rows in leaf_rows],
                                tree.value[[node for node, _ in leaf_rows]],
                                n_threads=n_threads, check_input=False)
        if self.raw_val is not None:
            self.raw_val[:, k] = kernels.predict_tree_chunk(
                self.validation[0], tree, out=np.ascontiguousarray(self.raw_val[:, k]),
                n_threads=n_threads)
        return tree

    def _record_and_stop(self, trees, tic):
        """Record the iteration's scores, report it when verbose; whether
        early stopping ends the fit."""
        model = self.model
        record = model.do_early_stopping_  # scikit-learn keeps scores only then
        if record:
            train, val = self.scores()
            model.train_score_ = np.append(model.train_score_, train)
            if val is not None:
                model.validation_score_ = np.append(model.validation_score_, val)
        if model.verbose:
            K = len(trees)
            leaves = sum(int((t.left < 0).sum()) for t in trees)
            if record:
                shown = f"train score {train:.5f}" + (
                    "" if val is None else f", val score {val:.5f}")
            else:
                loss = self.loss.loss(self.y, self.raw, self.w, self.n_threads)
                shown = f"train loss {loss:.5f}"
            print(f"[{model.n_iter_}/{model.max_iter}] {K} tree{'s' * (K > 1)}, {leaves} "
                  f"leaves, {shown}, in {time.perf_counter() - tic:.3f}s")
        return model.do_early_stopping_ and should_stop(
            model, model.validation_score_ if self.validation is not None else model.train_score_)
