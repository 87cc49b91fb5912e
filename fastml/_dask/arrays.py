"""Dask input: arrays with one feature chunk, labels, feature checks, and
the tree reduction every ``fit`` statistic goes through."""
import warnings

import numpy as np
import dask.array as da

from fastml._validation import (
    FLOAT_DTYPES,
    check_2d,
    check_input_dtype,
)


def as_dask_array(X, name, allow_unknown_rows=False):
    """A 2-D Dask array with a single chunk along the feature axis.

    NumPy (or pandas, polars) input becomes a single-block Dask array.
    Feature-chunked arrays are rechunked, since every distance needs all of
    a row's features.  A Dask DataFrame's partition lengths are computed
    (one pass) unless ``allow_unknown_rows`` (row-wise maps need none).
    """
    check_input_dtype(X, name)
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=None if allow_unknown_rows else True)
    if not isinstance(X, da.Array):
        X = da.from_array(np.asarray(X), chunks=(-1, -1))
    check_2d(X, name)
    if not allow_unknown_rows and any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes (often from a Dask DataFrame); call "
            f"{name}.compute_chunk_sizes() or use df.to_dask_array(lengths=True)."
        )
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def as_float_dask_array(X, name, allow_unknown_rows=False):
    """A float32 / float64 Dask array with one chunk along features."""
    X = as_dask_array(X, name, allow_unknown_rows)
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X


def has_sparse_blocks(X):
    """True for a Dask array whose blocks are scipy.sparse matrices or
    arrays (its meta is one)."""
    from dask.array.utils import meta_from_array
    from scipy import sparse

    return isinstance(X, da.Array) and sparse.issparse(meta_from_array(X))


def check_features(estimator, X, reset):
    """X as a float Dask array (one feature chunk); ``reset`` records its
    feature count (and a Dask DataFrame's column names) on the estimator,
    else they must match the fitted ones."""
    names = column_names(X)
    # fit needs the row count (a Dask DataFrame's lengths are computed);
    # transform maps rows and stays lazy
    X = as_float_dask_array(X, "X", allow_unknown_rows=not reset)
    if reset:
        estimator.__dict__.pop("feature_names_in_", None)
        if names is not None:
            estimator.feature_names_in_ = names
        estimator.n_features_in_ = X.shape[1]
        return X
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    fitted = getattr(estimator, "feature_names_in_", None)
    cls = type(estimator).__name__
    if fitted is not None and names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with "
                      "feature names", UserWarning)
    elif fitted is None and names is not None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names",
                      UserWarning)
    elif fitted is not None and not np.array_equal(fitted, names):
        raise ValueError(
            f"The feature names should match those that were passed during fit: fitted with "
            f"{list(fitted)}, got {list(names)}."
        )
    return X


def column_names(X):
    """A Dask DataFrame's column names as an object array when they are all
    strings, None when none is (scikit-learn's rule); mixed types raise."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    is_str = [isinstance(c, str) for c in columns]
    if all(is_str):
        return np.asarray(list(columns), dtype=object)
    if any(is_str):
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {sorted({type(c).__name__ for c in columns})} as feature "
            "name / column name types. Convert them all to strings, e.g. "
            "X.columns = X.columns.astype(str)."
        )
    return None


def as_dask_labels(y, X):
    """Targets as a Dask array in one chunk (they are n values, small beside
    the n x d index), checked against X's row count."""
    if not isinstance(y, da.Array):
        y = np.asarray(y)
        y = da.from_array(y, chunks=y.shape)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
    if any(np.isnan(c) for c in y.chunks[0]):
        y = y.compute_chunk_sizes()
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: "
            f"[{X.shape[0]}, {y.shape[0]}]"
        )
    return y.rechunk(-1)


def _encode(y, classes):
    y = y.reshape(y.shape[0], -1)
    return np.stack([np.searchsorted(c, y[:, o]) for o, c in enumerate(classes)], axis=1)


def encode_labels(y):
    """classes_ (computed: one ``dask.compute`` of per-output uniques) and
    the lazy (n, n_outputs) class codes."""
    import dask

    from sklearn.utils.multiclass import check_classification_targets

    y2 = y if y.ndim == 2 else y[:, None]
    classes = list(dask.compute(*[da.unique(y2[:, o]) for o in range(y2.shape[1])]))
    for c in classes:  # continuous targets are refused, as on NumPy input
        check_classification_targets(c)
    codes = y.map_blocks(_encode, classes, dtype=np.intp,
                         chunks=(y.chunks[0], (len(classes),)), new_axis=[1] if y.ndim == 1 else None)
    codes = codes.persist()
    return (classes if y.ndim == 2 else classes[0]), codes


def _as_single_chunk(y):
    if not isinstance(y, da.Array):
        return da.from_array(y, chunks=y.shape)
    return y.rechunk(-1)


def tree_reduce(X, chunk_func, combine_all, fan_in):
    """``chunk_func`` of every block of X, merged by ``combine_all`` (a list
    of results in, one out) in a tree of fan-in ``fan_in``; one
    ``dask.compute``."""
    import dask

    parts = [dask.delayed(chunk_func)(block) for block in X.to_delayed().ravel()]
    while len(parts) > 1:
        parts = [dask.delayed(combine_all)(parts[g:g + fan_in])
                 for g in range(0, len(parts), fan_in)]
    (result,) = dask.compute(parts[0])
    return result
