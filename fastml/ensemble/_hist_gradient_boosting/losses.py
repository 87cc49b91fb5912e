"""Losses of histogram gradient boosting.

Each loss gives, for raw predictions ``raw`` of shape (n, K) (K = 1 except
for multiclass log loss), the per-row gradients and hessians the trees are
fitted to, the initial raw prediction, the mean loss (the early-stopping
score) and the map from raw predictions to predictions.  The formulas are
the "half" losses scikit-learn's HistGradientBoosting minimises, with
gradients and hessians rounded to float32 as it does, so that the two fit
the same trees.  The baselines are weighted means computed exactly
(``_mean``), so that a weight of 2 gives the baseline of a repeated row.
"""
from fractions import Fraction

import numpy as np
from scipy.special import expit, logsumexp, softmax

from fastml import kernels


def _average(values, sample_weight):
    return float(np.average(values, weights=sample_weight))


def exact_sum(values, sample_weight=None):
    """The exact sum of values (times sample_weight) as a Fraction, or None
    if a term (a product) is not finite.  Every term, and with weights the
    rounding error of each product (fma), goes to an integer accumulator
    of its binary exponent (``_gbdt.exact_sums``), so nothing is rounded:
    the sum does not depend on the order of the terms, and a term of
    integer weight k adds exactly what k repetitions of it add."""
    from fastml._kernels import _gbdt

    values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    weights = np.empty(0) if sample_weight is None else \
        np.ascontiguousarray(sample_weight, dtype=np.float64).reshape(-1)
    high = np.zeros(2048, dtype=np.int64)  # per biased exponent: no overflow below 2**35 rows
    low = np.zeros(2048, dtype=np.int64)
    if _gbdt.exact_sums(values, weights, high, low):
        return None
    total = 0
    for e in np.flatnonzero(high | low):  # bin e counts multiples of 2**(max(e, 1) - 1075)
        total += ((int(high[e]) << 26) + int(low[e])) << int(e - 1)
    return Fraction(total, 1 << 1074)


def _mean(values, sample_weight):
    """The weighted mean rounded once from the exact sums: the same for a
    weight of 2 as for a repeated row, and for any row order (np.average
    rounds its partial sums, differently for the two)."""
    total = exact_sum(values, sample_weight)
    if total is None:  # products beyond float64: np.average's inf or NaN
        return _average(values, sample_weight)
    return float(total / (values.shape[0] if sample_weight is None
                          else exact_sum(sample_weight)))


def weighted_quantile(values, sample_weight, quantile):
    """The ``quantile`` (in [0, 1]) of values: linear interpolation without
    weights, the weighted inverted CDF with them (scikit-learn's rules for
    the baselines and leaves of the absolute-error and quantile losses)."""
    if sample_weight is None:
        return float(np.percentile(values, 100 * quantile))
    return float(kernels.weighted_quantiles(values.astype(np.float64), sample_weight.astype(np.float64),
                                     [100 * quantile], average=False)[0])


class Loss:
    """A built-in loss (see the module docstring).

    Attributes
    ----------
    name : str
    n_outputs : int
        Raw predictions per row (K).
    leaf_quantile : float or None
        If set, each new leaf's value is replaced by this quantile of the
        residuals ``y - raw`` of its training rows (times the learning
        rate), as scikit-learn does for the absolute-error and quantile
        losses.
    """

    n_outputs = 1
    leaf_quantile = None

    def __init__(self, name):
        self.name = name

    def check_target(self, y):
        """Raise ValueError for targets outside the loss's domain."""

    def baseline(self, y, sample_weight):
        """The constant raw prediction that minimises the loss: (K,) float64."""
        raise NotImplementedError

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        """Gradients (n, K) and hessians (n, K), float32, weighted as
        scikit-learn weights them (the product rounded to float32); hessians
        None when they are 1 for every row (the row counts then stand in).
        n_threads: for the losses with a compiled kernel."""
        raise NotImplementedError

    def loss(self, y, raw, sample_weight, n_threads=1):
        """The (weighted) mean loss, a float; n_threads as above."""
        raise NotImplementedError

    def predict(self, raw):
        """Predictions from raw predictions (n, K)."""
        return raw[:, 0]

    @staticmethod
    def _weighted(g, h, sample_weight):
        if sample_weight is not None:
            g = g * sample_weight[:, None]
            h = np.broadcast_to(1.0, g.shape) if h is None else h
            h = h * sample_weight[:, None]
        return (g.astype(np.float32),
                None if h is None else np.asarray(h, dtype=np.float32))


class SquaredError(Loss):
    def baseline(self, y, sample_weight):
        return np.array([_mean(y, sample_weight)])

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        return self._weighted(raw - y[:, None], None, sample_weight)

    def loss(self, y, raw, sample_weight, n_threads=1):
        return _average(0.5 * (y - raw[:, 0]) ** 2, sample_weight)


class QuantileLoss(Loss):
    """Pinball loss at ``quantile``; ``absolute_error`` is quantile 0.5 with
    gradients -1 / +1 (twice the pinball loss)."""

    def __init__(self, name, quantile):
        super().__init__(name)
        self.quantile = self.leaf_quantile = quantile

    def baseline(self, y, sample_weight):
        return np.array([weighted_quantile(y, sample_weight, self.quantile)])

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        if self.name == "absolute_error":  # ties as scikit-learn: -1 where raw == y
            g = np.where(raw > y[:, None], 1.0, -1.0)
        else:
            g = np.where(y[:, None] >= raw, -self.quantile, 1.0 - self.quantile)
        return self._weighted(g, None, sample_weight)

    def loss(self, y, raw, sample_weight, n_threads=1):
        diff = y - raw[:, 0]
        if self.name == "absolute_error":
            return _average(np.abs(diff), sample_weight)
        return _average(np.where(diff >= 0, self.quantile * diff, (self.quantile - 1) * diff),
                        sample_weight)


class PoissonLoss(Loss):
    def check_target(self, y):
        if np.any(y < 0) or not np.sum(y) > 0:
            raise ValueError("loss='poisson' requires non-negative targets with a positive "
                             f"sum; got values in [{y.min()}, {y.max()}].")

    def baseline(self, y, sample_weight):  # the mean clipped away from 0, as scikit-learn
        return np.array([np.log(max(_mean(y, sample_weight), 10 * np.finfo(float).eps))])

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        mu = np.exp(raw)
        return self._weighted(mu - y[:, None], mu, sample_weight)

    def loss(self, y, raw, sample_weight, n_threads=1):
        return _average(np.exp(raw[:, 0]) - y * raw[:, 0], sample_weight)

    def predict(self, raw):
        return np.exp(raw[:, 0])


class GammaLoss(PoissonLoss):
    def check_target(self, y):
        if np.any(y <= 0):
            raise ValueError("loss='gamma' requires strictly positive targets; got values in "
                             f"[{y.min()}, {y.max()}].")

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        ratio = y[:, None] * np.exp(-raw)
        return self._weighted(1.0 - ratio, ratio, sample_weight)

    def loss(self, y, raw, sample_weight, n_threads=1):
        return _average(raw[:, 0] + y * np.exp(-raw[:, 0]), sample_weight)


class BinaryLogLoss(Loss):
    """y in {0, 1}; raw is the log-odds of class 1."""

    def baseline(self, y, sample_weight):
        eps = 10 * np.finfo(np.float64).eps     # scikit-learn's clip (one class in y)
        p = np.clip(_mean(y, sample_weight), eps, 1 - eps)
        return np.array([np.log(p / (1 - p))])

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        g, h = kernels.logistic_gradients_chunk(raw[:, 0], y, sample_weight=sample_weight,
                                                n_threads=n_threads)
        return g[:, None], h[:, None]

    def loss(self, y, raw, sample_weight, n_threads=1):
        return _average(kernels.logistic_loss_chunk(raw[:, 0], y, n_threads=n_threads),
                        sample_weight)

    def predict(self, raw):
        p = expit(raw[:, 0])
        return np.column_stack((1 - p, p))


class MulticlassLogLoss(Loss):
    """y in {0 .. K-1}; raw holds one score per class (softmax)."""

    def __init__(self, name, n_classes):
        super().__init__(name)
        self.n_outputs = n_classes

    def baseline(self, y, sample_weight):
        eps = np.finfo(np.float64).eps
        p = np.array([_mean(y == k, sample_weight) for k in range(self.n_outputs)])
        log_p = np.log(np.clip(p, eps, 1 - eps))
        return log_p - log_p.mean()

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        p = softmax(raw, axis=1)
        g = p.copy()
        g[np.arange(y.size), y.astype(np.intp)] -= 1.0
        return self._weighted(g, p * (1 - p), sample_weight)

    def loss(self, y, raw, sample_weight, n_threads=1):
        picked = raw[np.arange(y.size), y.astype(np.intp)]
        return _average(logsumexp(raw, axis=1) - picked, sample_weight)

    def predict(self, raw):
        return softmax(raw, axis=1)


def builtin_loss(name, *, quantile=None, n_classes=2):
    """The loss object for a loss name."""
    if name == "squared_error":
        return SquaredError(name)
    if name == "absolute_error":
        return QuantileLoss(name, 0.5)
    if name == "quantile":
        return QuantileLoss(name, quantile)
    if name == "poisson":
        return PoissonLoss(name)
    if name == "gamma":
        return GammaLoss(name)
    if name == "log_loss":
        return BinaryLogLoss(name) if n_classes <= 2 else MulticlassLogLoss(name, n_classes)
    raise ValueError(f"unknown loss {name!r}")


class NumbaLoss(Loss):
    """A loss written by the user as plain Python, compiled with Numba.

    Pass it as ``loss`` to ``fastml.ensemble.HistGradientBoostingRegressor``.
    The booster calls the compiled function on every row at every
    iteration, without the GIL.

    Parameters
    ----------
    gradient_hessian : callable
        ``gradient_hessian(y_true, raw_prediction) -> (gradient, hessian)``
        on two floats: the first and second derivative of the loss with
        respect to the raw prediction.  Hessians must be positive.  It must
        be compilable by ``numba.njit`` (plain arithmetic and ``math``
        functions).
    initial_prediction : callable, default=None
        ``initial_prediction(y, sample_weight) -> float``, plain Python on
        arrays (``sample_weight`` may be None): the first raw prediction.
        None takes one Newton step from 0: ``-sum(w g) / sum(w h)`` at
        raw prediction 0.
    loss : callable, default=None
        ``loss(y_true, raw_prediction) -> float`` on two floats, compiled
        likewise; needed for ``scoring="loss"`` (early stopping and
        ``train_score_``), else score with a scorer or turn
        early stopping off.
    name : str, default="custom"

    Notes
    -----
    Predictions are the raw predictions (identity link).

    Examples
    --------
    A pseudo-Huber loss with delta 1 (suited to targets of order 1: scale y
    first, or its hessian vanishes for large residuals):

    >>> import math
    >>> from fastml.ensemble import NumbaLoss
    >>> def pseudo_huber(y, raw):
    ...     r = raw - y
    ...     s = math.sqrt(1.0 + r * r)
    ...     return r / s, 1.0 / (s * s * s)
    >>> loss = NumbaLoss(pseudo_huber)
    """

    def __init__(self, gradient_hessian, *, initial_prediction=None, loss=None, name="custom"):
        super().__init__(name)
        if not callable(gradient_hessian):
            raise TypeError("gradient_hessian must be a function (y_true, raw_prediction) -> "
                            f"(gradient, hessian), got {gradient_hessian!r}.")
        for arg, value in (("initial_prediction", initial_prediction), ("loss", loss)):
            if value is not None and not callable(value):
                raise TypeError(f"{arg} must be a function or None, got {value!r}.")
        self.gradient_hessian_function = gradient_hessian
        self.initial_prediction = initial_prediction
        self.loss_function = loss

    def __repr__(self):
        return (f"NumbaLoss({getattr(self.gradient_hessian_function, '__name__', '?')}, "
                f"name={self.name!r})")

    def _derivatives(self, y, raw):
        from fastml._numba import custom_loss

        return custom_loss.gradient_hessian(self.gradient_hessian_function, y, raw)

    def baseline(self, y, sample_weight):
        if self.initial_prediction is not None:
            value = float(self.initial_prediction(y, sample_weight))
        else:
            g, h = self._derivatives(y, np.zeros_like(y))
            curvature = _mean(h, sample_weight)  # exact means: a weight of 2 = a repeated row
            if not curvature > 0:
                raise ValueError(f"Loss {self.name!r} has zero hessians at raw prediction 0, "
                                 "so no Newton step gives its initial prediction: pass "
                                 "initial_prediction=... to NumbaLoss.")
            value = -_mean(g, sample_weight) / curvature
        if not np.isfinite(value):
            raise ValueError(f"The initial prediction of loss {self.name!r} is {value}; it "
                             "must be finite.")
        return np.array([value])

    def gradient_hessian(self, y, raw, sample_weight, n_threads=1):
        g, h = self._derivatives(y, np.ascontiguousarray(raw[:, 0]))
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
            raise ValueError(f"Loss {self.name!r} returned non-finite gradients or hessians.")
        if np.any(h < 0) or not np.any(h > 0):
            raise ValueError(f"Loss {self.name!r} returned negative or all-zero hessians; a "
                             "loss must be convex in the raw prediction, with a positive "
                             "second derivative somewhere.")
        return self._weighted(g[:, None], h[:, None], sample_weight)

    def loss(self, y, raw, sample_weight, n_threads=1):
        if self.loss_function is None:
            raise ValueError(f"Loss {self.name!r} has no loss function, so scoring='loss' "
                             "cannot score it: pass loss=... to NumbaLoss, set scoring to a "
                             "scorer, or set early_stopping=False.")
        from fastml._numba import custom_loss

        return _average(custom_loss.values(self.loss_function, y,
                                           np.ascontiguousarray(raw[:, 0])), sample_weight)
