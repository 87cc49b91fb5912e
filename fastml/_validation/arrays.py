"""Checks of array input: dtypes, shapes, layouts.

All of them run in Python, before any compiled code, and say what was
received and how to fix it.
"""
import numbers
from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_array

FLOAT_DTYPES = (np.float64, np.float32)


def is_dask_collection(x):
    """True for a Dask array or DataFrame (checked without importing Dask);
    Dask releases of 2024 define their DataFrames in ``dask_expr``."""
    return (type(x).__module__.split(".")[0] in ("dask", "dask_expr")
            and hasattr(x, "__dask_graph__"))


def check_input_dtype(X, name):
    """Reject object, string and complex data with a message that says why."""
    dtype = getattr(X, "dtype", None)
    if dtype is None:
        return
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(
            f"{name} has complex dtype {dtype}; distances need real numbers. "
            f"Pass {name}.real or np.abs({name}) explicitly."
        )
    if dtype.kind in "USO" and not hasattr(X, "columns"):
        raise TypeError(
            f"{name} has dtype {dtype} ({'strings' if dtype.kind in 'US' else 'Python objects'}); "
            f"a numeric array is expected. Convert it with {name}.astype(np.float64) "
            "or encode the values first (e.g. sklearn.preprocessing.OrdinalEncoder)."
        )


def check_2d(X, name):
    ndim = getattr(X, "ndim", None)
    if ndim is not None and ndim != 2:
        hint = (
            f" Reshape it with {name}.reshape(-1, 1) for one feature or "
            f"{name}.reshape(1, -1) for one sample."
            if ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), "
            f"got a {ndim}-D array of shape {X.shape}.{hint}"
        )


def check_float_array(X, name, dtype, ensure_all_finite=True, allow_empty=True):
    """Convert NumPy, pandas, polars or list input to a 2-D float array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        How error messages refer to the argument.
    dtype : numpy dtype or tuple of dtypes
        Target dtype; with a tuple, float input in it is kept as it is and
        anything else becomes the first entry.
    ensure_all_finite : bool or "allow-nan"
    """
    check_input_dtype(X, name)
    check_2d(X, name)
    return check_array(
        X,
        dtype=dtype,
        ensure_all_finite=ensure_all_finite,
        ensure_min_samples=0 if allow_empty else 1,
        input_name=name,
    )


def is_float16(X):
    """True for float16 input (a NumPy or Dask array, or a DataFrame of
    float16 columns), which scikit-learn's transformers keep float16."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):
        return len(X.dtypes) > 0 and all(str(d) == "float16" for d in X.dtypes)
    return dtype == np.float16


def float32_list_as_array(X):
    """A list or tuple whose numbers are all float32 as the float32 array
    ``np.asarray`` makes of it (scikit-learn's pairwise functions and
    RBFSampler keep that float32); any other input unchanged, for
    ``check_array`` to convert and check."""
    if not isinstance(X, (list, tuple)):
        return X
    try:
        array = np.asarray(X)
    except (ValueError, TypeError):   # ragged: check_array says why
        return X
    return array if array.dtype == np.float32 else X


def as_float_block(X, name):
    """A 2-D NumPy block of float32 or float64 (other numeric dtypes become
    float64), in any memory layout: the input contract of ``fastml.kernels``."""
    check_input_dtype(X, name)
    X = np.asarray(X)
    check_2d(X, name)
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X


def check_has_features(X, name="X"):
    """Distances and neighbours need at least one feature."""
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features; distances need at least one feature.")


def check_same_n_features(X, Y):
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of features, but X has "
            f"{X.shape[1]} and Y has {Y.shape[1]}."
        )


def check_positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_no_custom_metric_params(params):
    """A custom metric takes its parameters through a closure, not kwargs."""
    if params:
        raise TypeError(
            f"a custom metric takes no extra parameters, got {sorted(params)}; "
            "bind them with a closure or functools.partial before passing it."
        )


@contextmanager
def unchanged_on_error(estimator, keep=()):
    """Restore the estimator's attributes if the block raises: a failed
    ``fit`` never leaves a half-fitted estimator.  The attributes named in
    ``keep`` keep the value the block gave them (scikit-learn's callback
    context, which its teardown reads after the error)."""
    state = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        kept = {name: estimator.__dict__[name] for name in keep if name in estimator.__dict__}
        estimator.__dict__.clear()
        estimator.__dict__.update(state)
        estimator.__dict__.update(kept)
        raise
