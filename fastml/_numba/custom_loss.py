"""Custom gradient-boosting losses: a user's scalar functions compiled by
Numba into loops over rows.

``gradient_hessian(y_true, raw_prediction) -> (gradient, hessian)`` and
``loss(y_true, raw_prediction) -> float`` are compiled with ``nogil=True``
and inlined into a loop over the rows; the loops are memoised per process
with the key the custom metrics use (a copy unpickled on a Dask worker
reuses the compiled loop).  Nothing is cached on disk and no Numba
threading layer is involved.
"""
import threading

import numba
from numba.extending import is_jitted
import numpy as np

from fastml._numba.memo import function_key
from fastml._numba.numba_internals import NumbaError

_lock = threading.Lock()
_loops = {}


def _build(func, kind):
    scalar = func if is_jitted(func) else \
        numba.njit(nogil=True)(func)
    if kind == "gradient_hessian":
        @numba.njit(nogil=True)
        def loop(y, raw, gradients, hessians):
            for i in range(y.shape[0]):
                gradients[i], hessians[i] = scalar(y[i], raw[i])
    else:
        @numba.njit(nogil=True)
        def loop(y, raw, values):
            for i in range(y.shape[0]):
                values[i] = scalar(y[i], raw[i])
    return loop


def _loop(func, kind):
    key = (kind, function_key(func))
    loop = _loops.get(key)
    if loop is None:
        with _lock:
            loop = _loops.get(key)
            if loop is None:
                loop = _loops[key] = _build(func, kind)
    return loop


def _run(func, kind, *arrays):
    try:
        _loop(func, kind)(*arrays)
    except (NumbaError, TypeError, ValueError) as err:
        name = getattr(func, "__name__", repr(func))
        reason = "\n    ".join(str(err).strip().splitlines()[:12])
        shape = "(gradient, hessian)" if kind == "gradient_hessian" else "a float"
        raise TypeError(
            f"the custom loss function {name!r} could not be compiled or run by Numba:\n"
            f"    {reason}\nIt must be a plain function f(y_true, raw_prediction) of two "
            f"floats returning {shape}, using only arithmetic and math functions Numba "
            "supports."
        ) from None


def gradient_hessian(func, y, raw):
    """Per-row gradients and hessians of a user loss.

    Parameters
    ----------
    func : callable
        ``func(y_true, raw_prediction) -> (gradient, hessian)``.
    y, raw : ndarray of shape (n,), float64, C-contiguous

    Returns
    -------
    gradients, hessians : ndarray of shape (n,), float64
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    raw = np.ascontiguousarray(raw, dtype=np.float64)
    gradients, hessians = np.empty_like(y), np.empty_like(y)
    _run(func, "gradient_hessian", y, raw, gradients, hessians)
    return gradients, hessians


def values(func, y, raw):
    """Per-row values ``func(y[i], raw[i])``, float64 of shape (n,)."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    raw = np.ascontiguousarray(raw, dtype=np.float64)
    out = np.empty_like(y)
    _run(func, "loss", y, raw, out)
    return out
