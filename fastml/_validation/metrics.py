"""Names and parameters of the built-in distance metrics, checked once.

Every public function, estimator and kernel that takes ``metric=`` and its
keyword parameters calls :func:`check_metric`; nothing else resolves a
metric name.  How each metric maps onto a compiled kernel is
``fastml.kernels._plan``.
"""
import numbers
import warnings

import numpy as np

from fastml._validation.parameters import did_you_mean

# alias -> canonical name (SciPy's names and aliases, plus scikit-learn's).
ALIASES = {
    "braycurtis": "braycurtis",
    "canberra": "canberra",
    "chebyshev": "chebyshev", "chebychev": "chebyshev", "cheby": "chebyshev",
    "cheb": "chebyshev", "ch": "chebyshev", "infinity": "chebyshev",
    "cityblock": "cityblock", "cblock": "cityblock", "cb": "cityblock",
    "c": "cityblock", "manhattan": "cityblock", "l1": "cityblock",
    "correlation": "correlation", "co": "correlation",
    "cosine": "cosine", "cos": "cosine",
    "dice": "dice",
    "euclidean": "euclidean", "euclid": "euclidean", "eu": "euclidean",
    "e": "euclidean", "l2": "euclidean",
    "hamming": "hamming", "matching": "hamming", "hamm": "hamming",
    "ha": "hamming", "h": "hamming",
    "jaccard": "jaccard", "jacc": "jaccard", "ja": "jaccard", "j": "jaccard",
    "jensenshannon": "jensenshannon", "js": "jensenshannon",
    "mahalanobis": "mahalanobis", "mahal": "mahalanobis", "mah": "mahalanobis",
    "minkowski": "minkowski", "mi": "minkowski", "m": "minkowski",
    "pnorm": "minkowski",
    "rogerstanimoto": "rogerstanimoto",
    "russellrao": "russellrao",
    "seuclidean": "seuclidean", "se": "seuclidean", "s": "seuclidean",
    "sokalsneath": "sokalsneath",
    "sqeuclidean": "sqeuclidean", "sqeuclid": "sqeuclidean",
    "sqe": "sqeuclidean",
    "yule": "yule",
    "haversine": "haversine",
}

METRICS = tuple(sorted(set(ALIASES.values())))

# Metrics defined on boolean vectors (nonzero counts as True).
BOOLEAN_METRICS = frozenset(
    {"dice", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule"}
)

_WEIGHTED = frozenset({
    "braycurtis", "canberra", "chebyshev", "cityblock", "correlation", "cosine",
    "dice", "euclidean", "hamming", "jaccard", "minkowski", "rogerstanimoto",
    "russellrao", "sokalsneath", "sqeuclidean", "yule",
})

# Accepted keyword parameters of each metric.
PARAMETERS = {name: ({"w"} if name in _WEIGHTED else set()) for name in METRICS}
PARAMETERS["minkowski"] = {"p", "w"}
PARAMETERS["seuclidean"] = {"V"}
PARAMETERS["mahalanobis"] = {"VI"}
PARAMETERS["jensenshannon"] = {"base"}

# Metrics with no compiled kernel, computed by scikit-learn's public
# functions (with a SlowMetricWarning).  Not aliases: SciPy has none of them.
FALLBACK_METRICS = frozenset({"nan_euclidean"})
# The metrics scikit-learn computes on sparse input (pairwise distances, and
# its neighbours' brute force: VALID_METRICS_SPARSE["brute"]); fastml's
# compiled sparse kernels take the same ones.
SPARSE_INPUT_METRICS = ("euclidean", "l2", "cosine", "manhattan", "cityblock", "l1")
PARAMETERS["nan_euclidean"] = {"missing_values"}


class SlowMetricWarning(UserWarning):
    """A metric runs outside fastml's compiled kernels (plain Python calls,
    or scikit-learn's own code), at scikit-learn's speed; the message says
    why.  Silence it with ``warnings.filterwarnings("ignore",
    category=SlowMetricWarning)``."""


def is_distance_metric(metric):
    """True for a ``sklearn.metrics.DistanceMetric`` object."""
    from sklearn.metrics import DistanceMetric

    return isinstance(metric, DistanceMetric)

def resolve_metric(metric):
    """Canonical name of a metric string, or a clear error.

    Raises
    ------
    ValueError
        Unknown name, with the closest supported names.
    """
    if not isinstance(metric, str):
        raise TypeError(
            f"metric must be a string or a callable, got {type(metric).__name__} {metric!r}."
        )
    if metric in FALLBACK_METRICS:
        return metric
    name = ALIASES.get(metric.lower() if metric.lower() in ALIASES else metric)
    if name is not None:
        return name
    if metric == "wminkowski":
        raise ValueError(
            "metric 'wminkowski' was removed from SciPy; use metric='minkowski' "
            "with weights w=... (w is applied as w**p)."
        )
    hint = did_you_mean(metric, list(ALIASES), same=ALIASES.get)
    raise ValueError(
        f"metric {metric!r} is not supported.{hint} Supported metrics: "
        f"{', '.join(METRICS)}; or pass a Python function f(a, b) -> float."
    )


def _check_vector(value, name, n_features, metric):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n_features:
        raise ValueError(
            f"{name} for metric {metric!r} must be a 1-D array of length n_features="
            f"{n_features}, got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} for metric {metric!r} must be finite, got {arr}.")
    return arr


def check_params(metric, params, n_features):
    """Validate the keyword parameters of a canonical metric.

    Returns a dict with NumPy float64 arrays and floats, ready for
    :func:`prepare`.
    """
    unknown = set(params) - PARAMETERS[metric]
    if unknown:
        allowed = ", ".join(sorted(PARAMETERS[metric])) or "none"
        raise TypeError(
            f"metric {metric!r} got unexpected parameter(s) {', '.join(sorted(unknown))}; "
            f"it accepts: {allowed}."
        )
    out = {}
    if params.get("w") is not None:
        w = _check_vector(params["w"], "w", n_features, metric)
        if np.any(w < 0):
            raise ValueError(f"weights w for metric {metric!r} must be non-negative, got {w}.")
        out["w"] = w
    if metric == "minkowski":
        p = params.get("p", 2)
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or np.isnan(p) or p <= 0:
            raise ValueError(f"minkowski requires p > 0 (p=inf for chebyshev), got p={p!r}.")
        out["p"] = float(p)
    if metric == "seuclidean" and params.get("V") is not None:
        V = _check_vector(params["V"], "V", n_features, metric)
        if np.any(V <= 0):
            raise ValueError(
                f"variances V for metric 'seuclidean' must be positive, got {V}; a zero "
                "variance means a constant feature: drop it or add a small value."
            )
        out["V"] = V
    if metric == "mahalanobis" and params.get("VI") is not None:
        VI = np.asarray(params["VI"], dtype=np.float64)
        if VI.ndim != 2 or VI.shape[0] != VI.shape[1]:
            raise ValueError(
                f"VI for metric 'mahalanobis' must be a square 2-D array, got shape {VI.shape}."
            )
        if VI.shape[0] != n_features:
            raise ValueError(
                f"VI for metric 'mahalanobis' must have shape ({n_features}, {n_features}) "
                f"to match n_features, got {VI.shape}."
            )
        if not np.all(np.isfinite(VI)):
            raise ValueError("VI for metric 'mahalanobis' must be finite.")
        out["VI"] = VI
    if metric == "jensenshannon":
        base = params.get("base")
        if base is not None and (not isinstance(base, numbers.Real) or base <= 0 or base == 1):
            raise ValueError(f"jensenshannon requires base > 0 and base != 1, got base={base!r}.")
        out["base"] = base
    if metric == "nan_euclidean" and "missing_values" in params:
        out["missing_values"] = params["missing_values"]
    if metric == "haversine" and n_features != 2:
        raise ValueError(
            f"haversine needs exactly 2 features (latitude, longitude in radians), "
            f"got {n_features}."
        )
    return out


def default_params(metric, params, X, Y):
    """The parameters missing from ``params`` that SciPy computes from the
    data: ``V`` (seuclidean) is the variance of each feature over X and Y
    stacked (ddof=1); ``VI`` (mahalanobis) is the inverse of their
    covariance matrix."""
    if metric == "seuclidean" and params.get("V") is None:
        data = np.ascontiguousarray(X if Y is None else np.vstack([X, Y]))
        return {"V": np.var(data, axis=0, ddof=1, dtype=np.float64)}
    if metric == "mahalanobis" and params.get("VI") is None:
        data = np.ascontiguousarray(X if Y is None else np.vstack([X, Y]))
        check_enough_samples_for_covariance(*data.shape)
        cov = np.atleast_2d(np.cov(data.T.astype(np.float64)))
        return {"VI": np.linalg.inv(cov).T}
    return {}


def check_enough_samples_for_covariance(n_samples, n_features):
    """mahalanobis without VI inverts the covariance of X and Y stacked."""
    if n_samples <= n_features:
        raise ValueError(
            f"mahalanobis without VI needs more samples ({n_samples}) than "
            f"features ({n_features}) to invert the covariance matrix; pass VI=..."
        )



def check_metric(metric, params, n_features):
    """Check a metric and its keyword parameters.

    Parameters
    ----------
    metric : str or callable
    params : dict
        The keyword parameters given with the metric.
    n_features : int

    Returns
    -------
    name : str or None
        The canonical name; None for a callable (custom) metric or a
        ``sklearn.metrics.DistanceMetric`` object.
    params : dict
        Checked parameters (float64 arrays and floats); for a callable, its
        keyword arguments as given (scikit-learn passes them to it).
    """
    if callable(metric):
        return None, dict(params)
    if is_distance_metric(metric):
        if params:
            raise TypeError(
                f"a DistanceMetric object carries its own parameters; got extra "
                f"parameter(s) {sorted(params)}. Pass them to DistanceMetric.get_metric."
            )
        return None, {}
    name = resolve_metric(metric)
    return name, check_params(name, params, n_features)


def is_boolean_metric(metric):
    """True for the metrics computed on 0/1 indicators (nonzero is True)."""
    return isinstance(metric, str) and resolve_metric(metric) in BOOLEAN_METRICS


def names_boolean_metric(metric):
    """True for a name of a boolean metric; False for anything else (a
    callable, "precomputed", an unknown name: no error)."""
    return isinstance(metric, str) and ALIASES.get(metric.lower()) in BOOLEAN_METRICS


def is_boolean_input(X):
    """True when X holds booleans: a boolean array (NumPy, Dask), a
    DataFrame of boolean columns, or a list of booleans."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):
        return all(str(d).lower() in ("bool", "boolean") for d in X.dtypes)
    if dtype is None:
        try:
            dtype = np.asarray(X).dtype
        except (ValueError, TypeError):
            return False
    return dtype == np.bool_


def warn_boolean_conversion(metric, *inputs, stacklevel=1):
    """scikit-learn's DataConversionWarning when a boolean metric (dice,
    jaccard, ...) gets data that is not boolean: nonzero is then True.

    Parameters
    ----------
    metric : str or callable
        As the user gave it.
    *inputs : array-like or bool
        The inputs (a bool says whether that input is boolean); one that is
        not boolean warns.
    stacklevel : int, default=1
        As ``warnings.warn``'s, counted from the caller of this function.
    """
    if not names_boolean_metric(metric):
        return
    if all(i if isinstance(i, bool) else is_boolean_input(i) for i in inputs):
        return
    from sklearn.exceptions import DataConversionWarning

    warnings.warn(
        f"Data was converted to boolean for metric {metric}: nonzero values count as "
        "True. Pass boolean arrays (X != 0) to silence this warning.",
        DataConversionWarning, stacklevel=stacklevel + 1,
    )
