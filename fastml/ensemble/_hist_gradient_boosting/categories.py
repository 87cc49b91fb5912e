"""Categorical features of gradient boosting: which columns they are, and
their values as category codes 0 .. k-1 (the bin codes the trees split).

Categories are the distinct non-missing values of a column seen in
``fit``, sorted, as scikit-learn's ``OrdinalEncoder`` finds them; at
prediction time a value not among them is treated as missing.
"""
import numbers

import numpy as np


def _dtype_names(X):
    """The dtype name of each column of a pandas or polars frame, or None."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return None
    return [str(dt) for dt in dtypes]


def categorical_mask(X, categorical_features, n_features, feature_names):
    """``is_categorical_``: a (n_features,) bool array, or None for none.

    Parameters
    ----------
    X : array-like or DataFrame
        The training data, read for ``"from_dtype"``.
    categorical_features : None, "from_dtype", or array-like
        A boolean mask, integer indices or feature names.
    n_features : int
    feature_names : ndarray of str or None
    """
    spec = categorical_features
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec != "from_dtype":
            raise ValueError("categorical_features must be None, 'from_dtype' or an array-like "
                             f"of bool, int or str, got {spec!r}.")
        names = _dtype_names(X)
        if names is None:
            return None
        mask = np.array([n == "category" or n.startswith(("Categorical", "Enum"))
                         for n in names], dtype=bool)
        return mask if mask.any() else None
    spec = np.asarray(spec)
    if spec.size == 0:
        return None
    if spec.ndim != 1:
        raise ValueError(f"categorical_features must be 1-D, got shape {spec.shape}.")
    if spec.dtype.kind == "b":
        if spec.size != n_features:
            raise ValueError(f"categorical_features is a mask of {spec.size} values, but X has "
                             f"{n_features} features; give one bool per feature.")
        return spec.astype(bool) if spec.any() else None
    mask = np.zeros(n_features, dtype=bool)
    if spec.dtype.kind in "iu":
        if spec.min() < 0 or spec.max() >= n_features:
            raise ValueError(f"categorical_features holds indices {spec.tolist()}, but X has "
                             f"{n_features} features (indices 0 .. {n_features - 1}).")
        mask[spec] = True
        return mask
    if spec.dtype.kind in "UO":
        if feature_names is None:
            raise ValueError("categorical_features names features, but X has no feature "
                             "names; pass a DataFrame or give indices or a boolean mask.")
        index = {name: j for j, name in enumerate(feature_names)}
        missing = [str(name) for name in spec if name not in index]  # not np.str_(...)
        if missing:
            raise ValueError(f"categorical_features names {missing}, which are not features "
                             f"of X; its features are {list(feature_names)}.")
        mask[[index[name] for name in spec]] = True
        return mask
    raise ValueError("categorical_features must be a boolean mask, integer indices or "
                     f"feature names, got an array of dtype {spec.dtype}.")


def column(X, j, numeric=False):
    """Column ``j`` of a NumPy array, pandas or polars frame, as an ndarray
    (``numeric``: float64 with NaN for missing values, so that pandas'
    nullable Int64 / boolean columns with pd.NA convert)."""
    if hasattr(X, "iloc"):
        values = X.iloc[:, j]
        if numeric:
            try:
                return values.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                pass  # non-numeric: the caller reports it
        return values.to_numpy()
    if hasattr(X, "get_column"):
        return X.get_column(X.columns[j]).to_numpy()
    return np.asarray(X)[:, j]


def missing(values):
    """Boolean mask of the missing entries (NaN, None, pandas NA) of a column."""
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind != "O":
        return np.zeros(values.shape, dtype=bool)
    return np.array([v is None or (isinstance(v, numbers.Real) and v != v)
                     or type(v).__name__ in ("NAType", "NaTType") for v in values], dtype=bool)


def find_categories(values, name, max_bins):
    """The sorted distinct non-missing values of a categorical column."""
    present = values[~missing(values)]
    try:
        categories = np.unique(present)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in present})
        raise TypeError(f"Categorical feature {name} mixes values of types {kinds}, which "
                        "cannot be sorted; use one type per column.") from None
    if categories.size > max_bins:
        raise ValueError(f"Categorical feature {name} is expected to have a cardinality <= "
                         f"{max_bins} but actually has a cardinality of {categories.size}: "
                         "raise max_bins (at most 255), or merge rare categories.")
    return categories


def encode(values, categories):
    """Category codes of a column as float64: the index in ``categories``,
    NaN for missing values and values not among them."""
    codes = np.full(values.shape, np.nan)
    present = ~missing(values)
    if categories.size == 0 or not present.any():
        return codes
    known = values[present]
    try:
        at = np.searchsorted(categories, known).clip(0, categories.size - 1)
        hit = categories[at] == known
    except TypeError:
        at = np.zeros(known.shape, dtype=np.intp)
        hit = np.array([any(v == c for c in categories) for v in known])
        at[hit] = [next(k for k, c in enumerate(categories) if v == c) for v in known[hit]]
    codes[np.flatnonzero(present)[hit]] = at[hit]
    return codes


def feature_name(names, j):
    """How messages name feature j: its quoted name, or its index."""
    return repr(names[j]) if names is not None else f"at index {j}"


def encode_columns(X, mask, categories, names=None):
    """X as a float64 ndarray (n, d), the categorical columns as category
    codes (``encode``).

    Parameters
    ----------
    X : ndarray, pandas or polars frame of shape (n, d)
    mask : ndarray of shape (d,) of bool
        The categorical columns.
    categories : dict of int to ndarray
        Each categorical column's categories (``find_categories``).
    names : ndarray of str, default=None
        The feature names, for messages.
    """
    out = np.empty((np.shape(X)[0], mask.size))
    for j in range(mask.size):
        values = column(X, j, numeric=not mask[j])
        if mask[j]:
            out[:, j] = encode(values, categories[j])
            continue
        try:
            out[:, j] = values
        except (TypeError, ValueError):
            raise ValueError(f"Feature {feature_name(names, j)} holds non-numeric values; mark "
                             "it as categorical (categorical_features) or encode it.") from None
    return out
