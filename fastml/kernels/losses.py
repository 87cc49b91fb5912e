"""The log loss of gradient boosting, row by row: its gradients and
hessians (rounded to float32, as scikit-learn rounds them) and its values
(the early-stopping score), compiled and spread over threads.

Each row's values depend on that row only, so any split of the rows into
blocks or threads gives the same arrays.
"""
import numpy as np

from fastml._threads import threads_for
from fastml._validation import check_positive_int

__all__ = ["logistic_gradients_chunk", "logistic_loss_chunk"]


def logistic_gradients_chunk(raw, y, *, sample_weight=None, n_threads=1):
    """Gradients and hessians of the half binomial (log) loss.

    ``p = expit(raw)``; gradient ``(p - y) w``, hessian ``p (1 - p) w``,
    computed in float64 and rounded to float32 (scikit-learn's gradient
    precision).

    Parameters
    ----------
    raw : ndarray of shape (n,)
        Raw predictions (log-odds).
    y : ndarray of shape (n,)
        Targets in {0, 1}.
    sample_weight : ndarray of shape (n,), default=None
    n_threads : int, default=1

    Returns
    -------
    gradients, hessians : ndarray of shape (n,), float32

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import logistic_gradients_chunk
    >>> logistic_gradients_chunk(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    (array([ 0.5, -0.5], dtype=float32), array([0.25, 0.25], dtype=float32))

    Elementwise, so ``map_blocks`` over aligned Dask blocks (both outputs
    stacked into one array):

    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> raw = da.from_array(rng.normal(size=1000), chunks=250)
    >>> y = da.from_array(rng.integers(0, 2, size=1000).astype(np.float64), chunks=250)
    >>> both = da.map_blocks(lambda r, t: np.stack(logistic_gradients_chunk(r, t)), raw, y,
    ...                      new_axis=0, chunks=((2,), raw.chunks[0]), dtype=np.float32)
    >>> g, h = both.compute()
    >>> p = 1 / (1 + np.exp(-raw.compute()))
    >>> np.allclose(g, p - y.compute()), np.allclose(h, p * (1 - p))
    (True, True)
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    raw, y = _raw_and_targets(raw, y)
    weights = np.empty(0) if sample_weight is None else \
        np.ascontiguousarray(sample_weight, dtype=np.float64)
    if weights.size and weights.shape != raw.shape:
        raise ValueError(f"sample_weight must have shape {raw.shape}, got {weights.shape}.")
    gradients = np.empty(raw.shape, dtype=np.float32)
    hessians = np.empty(raw.shape, dtype=np.float32)
    _gbdt.logistic_gradients(raw, y, weights, gradients, hessians,
                             threads_for(32 * raw.size, n_threads))   # an exp per row
    return gradients, hessians


def logistic_loss_chunk(raw, y, *, n_threads=1):
    """The half binomial (log) loss of each row: ``log(1 + exp(raw)) - y
    raw``, computed as ``numpy.logaddexp(0, raw) - y * raw`` computes it.

    Parameters
    ----------
    raw : ndarray of shape (n,)
        Raw predictions (log-odds).
    y : ndarray of shape (n,)
        Targets in {0, 1}.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import logistic_loss_chunk
    >>> logistic_loss_chunk(np.array([0.0, 2.0]), np.array([1.0, 1.0]))
    array([0.69314718, 0.12692801])

    Elementwise, so ``map_blocks`` over aligned Dask blocks, then the mean:

    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> raw = da.from_array(rng.normal(size=1000), chunks=250)
    >>> y = da.from_array(rng.integers(0, 2, size=1000).astype(np.float64), chunks=250)
    >>> mean = da.map_blocks(logistic_loss_chunk, raw, y, dtype=np.float64).mean()
    >>> r, t = raw.compute(), y.compute()
    >>> bool(np.isclose(mean.compute(), np.mean(np.logaddexp(0, r) - t * r)))
    True
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    raw, y = _raw_and_targets(raw, y)
    out = np.empty(raw.shape, dtype=np.float64)
    _gbdt.logistic_losses(raw, y, out, threads_for(32 * raw.size, n_threads))   # an exp per row
    return out


def _raw_and_targets(raw, y):
    """raw and y as C-contiguous float64; ValueError unless both are 1-D
    of the same length."""
    raw = np.ascontiguousarray(raw, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if raw.ndim != 1 or y.shape != raw.shape:
        raise ValueError(f"raw and y must be 1-D of the same length, got {raw.shape} and "
                         f"{y.shape}.")
    return raw, y
