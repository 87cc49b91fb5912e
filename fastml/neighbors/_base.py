"""The base of every nearest-neighbour estimator: parameters, fitting the
index, the k-nearest and radius searches, and their sparse graphs.

The search is always exact (brute force, by fastml's fused top-k kernels):
``algorithm`` and ``leaf_size`` are validated as scikit-learn validates them
(a metric its trees refuse is refused with that tree here too) and do not
change the answer.  On Dask input the graphs are built by
``fastml._dask.neighbors``.
"""
import numbers
import warnings

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml._validation.metrics import is_distance_metric
from fastml.neighbors._sparse import (accept_sparse, check_graph_format, check_sparse_metric,
                                      graph_argkmin, graph_radius, precomputed_graph,
                                      query_rows, training_rows)
from fastml._validation import (
    FLOAT_DTYPES,
    Interval,
    InvalidParameterError,
    Options,
    check_parameters,
    is_boolean_input,
    is_dask_collection,
    names_boolean_metric,
    unchanged_on_error,
    warn_boolean_conversion,
)

_ALGORITHMS = ("auto", "ball_tree", "kd_tree", "brute")
# The metrics (fastml's canonical names) scikit-learn's KDTree and BallTree
# take: scikit-learn refuses a tree asked for with any other metric, and so
# does fastml, although it never builds one.
_KD_TREE_METRICS = frozenset({"euclidean", "cityblock", "chebyshev", "minkowski"})
_TREE_METRICS = {
    "kd_tree": _KD_TREE_METRICS,
    "ball_tree": _KD_TREE_METRICS | {
        "braycurtis", "canberra", "dice", "hamming", "haversine", "jaccard", "mahalanobis",
        "rogerstanimoto", "russellrao", "seuclidean", "sokalsneath"},
}
_BRUTE_FORCE_HINT = (" fastml computes the exact neighbours by brute force whatever the "
                     "algorithm, so algorithm='brute' or 'auto' gives the same result.")
# minkowski's p -> the effective metric (scikit-learn's name, its canonical name)
_MINKOWSKI_SPECIAL_CASES = ((1, "manhattan", "cityblock"), (2, "euclidean", "euclidean"),
                            (np.inf, "chebyshev", "chebyshev"))


def _check_n_neighbors(n_neighbors, query_is_train, n_samples_fit, n_queries):
    """The number of neighbours to search for, with scikit-learn's checks
    and wording: n_neighbors, plus one when the queries are the training
    points (each finds itself first)."""
    if not isinstance(n_neighbors, numbers.Integral) or isinstance(n_neighbors, bool):
        raise TypeError(
            f"n_neighbors does not take {type(n_neighbors)} value, enter integer value"
        )
    if n_neighbors <= 0:
        raise ValueError(f"Expected n_neighbors > 0. Got {n_neighbors}")
    n_neighbors = int(n_neighbors) + bool(query_is_train)
    if n_neighbors > n_samples_fit:
        raise ValueError(
            "Expected n_neighbors <= n_samples_fit, but n_neighbors = "
            f"{n_neighbors}, n_samples_fit = {n_samples_fit}, n_samples = {n_queries}"
        )
    return n_neighbors


def _check_radius(radius):
    if not isinstance(radius, numbers.Real) or isinstance(radius, bool) or not radius >= 0:
        raise ValueError(f"radius must be a non-negative number, got {radius!r}.")
    return float(radius)


def _precomputed_argkmin(D, k):
    """The k smallest entries of each row of a distance matrix, sorted by
    (distance, column)."""
    columns = np.broadcast_to(np.arange(D.shape[1]), D.shape)
    order = np.lexsort((columns, D), axis=-1)[:, :k]
    return np.take_along_axis(D, order, axis=1), order.astype(np.int64)


def _rows_of(X):
    """X, or the rows of a fitted estimator or BallTree / KDTree given as X."""
    from sklearn.neighbors import BallTree, KDTree

    if isinstance(X, _NeighborsBase):
        check_is_fitted(X)
        return X._fit_X
    return np.asarray(X.data) if isinstance(X, (BallTree, KDTree)) else X


def _check_mode(mode):
    if mode not in ("connectivity", "distance"):
        raise ValueError(
            f'Unsupported mode, must be one of "connectivity", or "distance" but got '
            f'"{mode}" instead'
        )


def _csr_graph(offsets, indices, distances, n_columns, mode):
    _check_mode(mode)
    data = np.ones(indices.shape[0], dtype=np.float64) if mode == "connectivity" else distances
    return sparse.csr_matrix((data, indices, offsets), shape=(offsets.shape[0] - 1, n_columns))


class _NeighborsBase(BaseEstimator):
    """Parameters, fitting and the two searches shared by every estimator.

    After ``fit``: ``_fit_X`` is the index (a NumPy array, or a persisted
    Dask array with one chunk along features), ``effective_metric_`` /
    ``effective_metric_params_`` what the kernels are called with.
    """

    def __init__(self, n_neighbors=None, radius=None, algorithm="auto", leaf_size=30,
                 metric="minkowski", p=2, metric_params=None, n_jobs=None):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs

    # ------------------------------------------------------------ fitting

    _parameter_constraints = {
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "radius": [Interval(numbers.Real, 0, None, closed="left"), None],
        # fastml always searches exactly (brute force), whatever the value
        "algorithm": [Options(*_ALGORITHMS)],
        "leaf_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "metric_params": [dict, None],
    }

    def _check_params(self):
        """The table of the estimator's class (its own parameters included)."""
        from fastml._threads import effective_n_threads

        check_parameters(self)
        effective_n_threads(self.n_jobs)  # validates n_jobs

    def _effective_metric(self):
        """(name, effective_metric_, effective_metric_params_) as
        scikit-learn derives them (minkowski with p = 1, 2, inf becomes
        manhattan, euclidean, chebyshev); name is the canonical metric
        name, None for a callable or "precomputed"."""
        from fastml._validation.metrics import resolve_metric

        params = dict(self.metric_params or {})
        metric = self.metric
        if callable(metric) or is_distance_metric(metric) or metric == "precomputed":
            return None, metric, params
        name = resolve_metric(metric)
        if name == "minkowski":
            p = params.pop("p", self.p)
            if not isinstance(p, numbers.Real) or isinstance(p, bool) or not p > 0:
                raise ValueError(f"p must be a positive number for minkowski, got {p!r}.")
            if params.get("w") is None:
                params.pop("w", None)
                for value, effective, canonical in _MINKOWSKI_SPECIAL_CASES:
                    if p == value:
                        return canonical, effective, params
            params["p"] = p
            params.setdefault("w", None)
        return name, metric, params

    def _check_algorithm(self, name, params):
        """The checks scikit-learn makes of ``algorithm`` against the metric
        (``name``, ``params``: from :meth:`_effective_metric`, before any
        default computed from the data), with its kinds of error and warning.

        A tree scikit-learn cannot build for the metric is an error, as
        there; ``"auto"`` never fails, as fastml's ``"auto"`` is brute force.
        """
        if self.metric_params is not None and "p" in self.metric_params and self.p is not None:
            warnings.warn(
                f"Parameter p is found in metric_params (p={self.metric_params['p']!r}). "
                f"The corresponding parameter from __init__ (p={self.p!r}) is ignored. "
                "Set p=None to silence this warning.",
                SyntaxWarning, stacklevel=5,
            )
        algorithm, fractional = self.algorithm, name == "minkowski" and params["p"] < 1
        if fractional and algorithm in ("auto", "brute"):
            warnings.warn(
                "Mind that for 0 < p < 1, Minkowski metrics are not distance metrics. "
                "Continuing the execution with `algorithm='brute'`. (fastml: p="
                f"{params['p']}; the neighbours are exact, by brute force.)",
                UserWarning, stacklevel=5,
            )
        if algorithm not in _TREE_METRICS:
            return
        if callable(self.metric) or is_distance_metric(self.metric):   # any tree
            if callable(self.metric) and algorithm == "kd_tree":
                raise InvalidParameterError(
                    "algorithm='kd_tree' does not take a callable metric (scikit-learn's "
                    "KDTree refuses it)." + _BRUTE_FORCE_HINT)
            return
        if name not in _TREE_METRICS[algorithm]:
            raise InvalidParameterError(
                f"metric {self.metric!r} is not valid with algorithm={algorithm!r}; "
                f"scikit-learn's tree takes {', '.join(sorted(_TREE_METRICS[algorithm]))} "
                "or a callable (ball_tree)." + _BRUTE_FORCE_HINT)
        if fractional:
            raise InvalidParameterError(
                f'algorithm="{algorithm}" does not support 0 < p < 1 for the Minkowski '
                "metric. To resolve this problem either set p >= 1 or algorithm=\"brute\" "
                f"(got p={params['p']}, not a distance metric)." + _BRUTE_FORCE_HINT)
        if name == "minkowski" and algorithm == "kd_tree" and params.get("w") is not None:
            raise InvalidParameterError(
                "algorithm='kd_tree' does not take minkowski weights w, as in "
                "scikit-learn; use algorithm='ball_tree' or 'brute'." + _BRUTE_FORCE_HINT)
        missing = {"mahalanobis": "VI", "seuclidean": "V"}.get(name)
        if missing is not None and params.get(missing) is None:
            raise InvalidParameterError(
                f"algorithm='ball_tree' with metric {self.metric!r} needs {missing} in "
                "metric_params, as in scikit-learn (brute force computes it from the "
                "training data)." + _BRUTE_FORCE_HINT)

    def _warn_boolean(self, X, stacklevel):
        """scikit-learn's DataConversionWarning of a query X (or whether it
        is boolean) by a boolean metric when the query or the index is not
        boolean; not for algorithm='ball_tree', whose tree takes any data
        as it is."""
        if self.algorithm != "ball_tree":
            warn_boolean_conversion(self.metric, X, getattr(self, "_fit_X_boolean", False),
                                    stacklevel=stacklevel + 1)

    def _check_metric(self, metric, params, n_features):
        """The one check of the metric and its complete parameters (the
        defaults computed from the training data included)."""
        from fastml._validation import check_metric

        if isinstance(metric, str) and metric == "precomputed":
            return
        if self.algorithm in _TREE_METRICS and metric in ("euclidean", "sqeuclidean") \
                and "p" in params:
            raise TypeError(
                f"metric {metric!r} takes no parameter p with algorithm="
                f"{self.algorithm!r} (scikit-learn's tree refuses it); use algorithm='brute', "
                "where p is ignored with a warning as in scikit-learn, or drop p.")
        check_metric(metric, self._without_ignored_p(metric, params, warn=False), n_features)

    def _without_ignored_p(self, metric, params, warn=True):
        """params without a ``p`` that scikit-learn's brute force ignores:
        metric_params={'p': ...} with euclidean or sqeuclidean, where its
        ArgKmin warns that the parameter is ignored (any other metric but
        minkowski refuses p, as there)."""
        if not (isinstance(metric, str) and metric in ("euclidean", "sqeuclidean")
                and "p" in params):
            return params
        if warn:
            warnings.warn(
                f"Some metric_kwargs have been passed ({params}) but aren't usable for "
                f"metric={metric!r} and will be ignored.", UserWarning, stacklevel=4)
        return {key: value for key, value in params.items() if key != "p"}

    def _fit(self, X, y=None, supervised=False):
        """Validate the parameters and X (and y, which a supervised estimator
        requires), store the index; return the checked y.  On error the
        estimator is left as it was."""
        with unchanged_on_error(self):
            self._check_params()
            X = _rows_of(X)
            if is_dask_collection(X) or is_dask_collection(y):
                return self._fit_dask(X, y, supervised)
            return self._fit_index(X, y, supervised)

    def _fit_index(self, X, y, supervised):
        from fastml._validation.metrics import default_params

        if sparse.issparse(X):
            check_graph_format(X) if self.metric == "precomputed" else check_sparse_metric(
                self._effective_metric()[1], self.algorithm in _TREE_METRICS)
        self._fit_X_boolean = names_boolean_metric(self.metric) and is_boolean_input(X)
        finite, accept = self._ensure_all_finite(), accept_sparse(self._effective_metric()[1])
        if supervised:
            X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES, ensure_min_samples=1,
                                 multi_output=True, ensure_all_finite=finite,
                                 accept_sparse=accept)
        else:
            X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=1,
                              ensure_all_finite=finite, accept_sparse=accept)
        if self.metric == "precomputed":
            if X.shape[0] != X.shape[1]:
                raise ValueError(
                    "With metric='precomputed', fit takes the square matrix of distances "
                    f"between the training samples; got shape {X.shape}."
                )
            if sparse.issparse(X):
                X = precomputed_graph(X, X.shape[0])
            elif np.any(X < 0):
                raise ValueError("Precomputed distance matrix contains negative values.")
        name, metric, params = self._effective_metric()
        self._check_algorithm(name, params)
        if name is not None:
            # seuclidean's V and mahalanobis' VI are fixed from the training
            # data, not recomputed per query
            params.update(default_params(name, params, X, None))
        self._check_metric(metric, params, X.shape[1])
        self.effective_metric_, self.effective_metric_params_ = metric, params
        self._fit_X, self._search_rows = training_rows(X, self.metric == "precomputed")
        self.n_samples_fit_ = X.shape[0]
        return y

    def _fit_dask(self, X, y, supervised):
        from fastml import _dask

        if self.metric == "precomputed":
            raise NotImplementedError(
                "metric='precomputed' takes an in-memory distance matrix; compute it "
                "first (X.compute())."
            )
        if self.metric == "nan_euclidean":
            raise NotImplementedError(
                "metric='nan_euclidean' is not available on Dask arrays yet; compute X "
                "first (X.compute()) or impute the missing values."
            )
        if _dask.has_sparse_blocks(X):
            check_sparse_metric(self._effective_metric()[1], self.algorithm in _TREE_METRICS)
        name, metric, params = self._effective_metric()
        self._check_algorithm(name, params)
        self._fit_X_boolean = names_boolean_metric(self.metric) and is_boolean_input(X)
        # the index (and labels) stay on the workers; only V / VI come back
        X, y, params = _dask.fit_index(X, y if supervised else None, name, params,
                                       estimator=type(self).__name__, supervised=supervised)
        self._check_metric(metric, params, X.shape[1])
        self.effective_metric_, self.effective_metric_params_ = metric, params
        self._fit_X = X
        self.__dict__.pop("feature_names_in_", None)  # from an earlier fit
        self.n_features_in_ = X.shape[1]
        self.n_samples_fit_ = X.shape[0]
        return y

    # ------------------------------------------------------------ queries

    def _validate_query(self, X):
        """Checked query array (NumPy, or a Dask array with one feature chunk)."""
        if self.effective_metric_ == "precomputed":
            return self._validate_precomputed_query(X)
        if is_dask_collection(X):
            from fastml import _dask

            X = _dask.as_float_dask_array(X, "X")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            return X
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False, ensure_min_samples=0,
                          ensure_all_finite=self._ensure_all_finite(),
                          accept_sparse=accept_sparse(self._effective_metric()[1]))
        if sparse.issparse(X) and not sparse.issparse(self._fit_X) \
                and self.algorithm in _TREE_METRICS:   # as scikit-learn's tree
            raise ValueError(f"{self.algorithm} does not work with sparse matrices. Densify the "
                             "data, or set algorithm='brute'")
        return query_rows(X)

    def _ensure_all_finite(self):
        """NaN marks missing values with metric='nan_euclidean', as in scikit-learn."""
        return "allow-nan" if self.metric == "nan_euclidean" else True

    def _validate_precomputed_query(self, X):
        if is_dask_collection(X):
            raise NotImplementedError(
                "metric='precomputed' takes in-memory distance matrices; compute the "
                "query's distances first (X.compute())."
            )
        shape = np.shape(X)
        if len(shape) == 2 and shape[1] != self.n_samples_fit_:
            raise ValueError(
                f"With metric='precomputed', queries are distances to the "
                f"{self.n_samples_fit_} training samples; got {shape[1]} columns."
            )
        check_graph_format(X)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False, ensure_min_samples=0,
                          accept_sparse=accept_sparse("precomputed"))
        if sparse.issparse(X):
            return precomputed_graph(X, self.n_samples_fit_)
        if np.any(X < 0):
            raise ValueError("Precomputed distance matrix contains negative values.")
        return X

    def _kernel_params(self):
        metric = self.effective_metric_
        return metric, self._without_ignored_p(metric, self.effective_metric_params_)

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the k nearest neighbours of each query point.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_queries, n_features), default=None
            The query points.  ``None`` means the training points, each of
            which is then not counted as its own neighbour.
        n_neighbors : int, default=None
            Defaults to the ``n_neighbors`` given to the constructor.
        return_distance : bool, default=True

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Ascending; float32 when the query and the index are float32.
        neigh_ind : ndarray of shape (n_queries, n_neighbors), int64
            Rows of the index; among equal distances the smaller index
            comes first.  Dask arrays (lazy) when X or the index is one.
        """
        check_is_fitted(self)
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        query_is_train = X is None
        self._warn_boolean(getattr(self, "_fit_X_boolean", False) if query_is_train else X,
                           stacklevel=2)
        if query_is_train:
            X = self._fit_X
        else:
            X = self._validate_query(X)
        # the training points are asked for one more neighbour: themselves
        k = _check_n_neighbors(n_neighbors, query_is_train, self.n_samples_fit_, X.shape[0])
        if is_dask_collection(X) or is_dask_collection(self._fit_X):
            from fastml import _dask

            metric, params = self._kernel_params()
            distances, indices = _dask.kneighbors(X, self._fit_X, k, metric, params,
                                                  query_is_train=query_is_train)
        else:
            from fastml.kernels.neighbors import drop_self

            distances, indices = self._argkmin(X, k)
            if query_is_train:
                distances, indices = drop_self(distances, indices, 0)
        return (distances, indices) if return_distance else indices

    def _argkmin(self, X, k):
        from fastml import kernels
        from fastml._threads import effective_n_threads

        if self.effective_metric_ == "precomputed":
            return graph_argkmin(X, k) if sparse.issparse(X) else _precomputed_argkmin(X, k)
        metric, params = self._kernel_params()
        return kernels.argkmin_chunk(X, self._search_rows, k, metric,
                                     n_threads=effective_n_threads(self.n_jobs), **params)

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Sparse graph of the k nearest neighbours of each query point.

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
            ``mode="connectivity"``: ones; ``mode="distance"``: the
            distances (explicit zeros kept).
        """
        self._no_dask("kneighbors_graph", X)
        _check_mode(mode)
        distances, indices = self.kneighbors(X, n_neighbors, return_distance=True)
        n, k = indices.shape
        offsets = np.arange(0, n * k + 1, k, dtype=np.int64)
        return _csr_graph(offsets, indices.ravel(), distances.ravel(), self.n_samples_fit_, mode)

    def _radius_csr(self, X, radius, sort_results):
        """offsets, indices, distances of every index point within radius."""
        check_is_fitted(self)
        radius = _check_radius(self.radius if radius is None else radius)
        query_is_train = X is None
        self._warn_boolean(getattr(self, "_fit_X_boolean", False) if query_is_train else X,
                           stacklevel=3)
        X = self._fit_X if query_is_train else self._validate_query(X)
        if self.effective_metric_ == "precomputed" and sparse.issparse(X):
            offsets, indices, distances = graph_radius(X, radius, sort_results)
        elif self.effective_metric_ == "precomputed":
            rows, cols = np.nonzero(X <= radius)
            offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X.shape[0]))])
            indices, distances = cols.astype(np.int64), X[rows, cols]
            if sort_results:
                order = np.lexsort((indices, distances, rows))
                indices, distances = indices[order], distances[order]
        else:
            from fastml import kernels
            from fastml._threads import effective_n_threads

            metric, params = self._kernel_params()
            offsets, indices, distances = kernels.radius_neighbors_chunk(
                X, self._search_rows, radius, metric, sort_results=sort_results,
                n_threads=effective_n_threads(self.n_jobs), **params,
            )
        offsets = offsets.astype(np.int64)
        if query_is_train:
            rows = np.repeat(np.arange(X.shape[0]), np.diff(offsets))
            keep = indices != rows
            indices, distances = indices[keep], distances[keep]
            offsets = np.concatenate([[0], np.cumsum(np.bincount(rows[keep],
                                                                  minlength=X.shape[0]))])
        return offsets.astype(np.int64), indices, distances

    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """Every index point within ``radius`` of each query point.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            ``None`` means the training points, each not its own neighbour.
        radius : float, default=None
            Defaults to the constructor's ``radius``.  Distance <= radius counts.
        return_distance : bool, default=True
        sort_results : bool, default=False
            Sort each query's neighbours by distance (needs return_distance).

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries,), dtype=object
            One array of distances per query.
        neigh_ind : ndarray of shape (n_queries,), dtype=object
            One int64 array of index rows per query.
        """
        self._no_dask("radius_neighbors", X)
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        offsets, indices, distances = self._radius_csr(X, radius, sort_results)
        n = offsets.shape[0] - 1
        neigh_ind = np.empty(n, dtype=object)
        neigh_ind[:] = np.split(indices, offsets[1:-1])
        if not return_distance:
            return neigh_ind
        neigh_dist = np.empty(n, dtype=object)
        neigh_dist[:] = np.split(distances, offsets[1:-1])
        return neigh_dist, neigh_ind

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity",
                               sort_results=False):
        """Sparse graph of the index points within ``radius`` of each query.

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
        """
        self._no_dask("radius_neighbors_graph", X)
        _check_mode(mode)
        offsets, indices, distances = self._radius_csr(X, radius, sort_results)
        return _csr_graph(offsets, indices, distances, self.n_samples_fit_, mode)

    def _no_dask(self, method, X):
        if is_dask_collection(X) or is_dask_collection(getattr(self, "_fit_X", None)):
            raise NotImplementedError(
                f"{type(self).__name__}.{method} returns ragged or sparse results, which "
                "Dask arrays cannot hold; it works on in-memory arrays. Use kneighbors "
                "(lazy on Dask), or compute the arrays first."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.metric == "precomputed"
        tags.input_tags.allow_nan = self.metric == "nan_euclidean"
        tags.input_tags.sparse = True   # as scikit-learn's (metrics: SPARSE_INPUT_METRICS)
        return tags


class _KNeighborsSupervised(_NeighborsBase):
    """kneighbors-based prediction for the classifier and the regressor."""

    _parameter_constraints = {
        **_NeighborsBase._parameter_constraints,
        "weights": [Options("uniform", "distance"), callable, None],
    }

    def __init__(self, n_neighbors=5, *, weights="uniform", algorithm="auto", leaf_size=30,
                 p=2, metric="minkowski", metric_params=None, n_jobs=None):
        super().__init__(n_neighbors=n_neighbors, algorithm=algorithm, leaf_size=leaf_size,
                         metric=metric, p=p, metric_params=metric_params, n_jobs=n_jobs)
        self.weights = weights

    def fit(self, X, y):
        """Index X and remember the targets y (the labels, for the classifier).

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : array-like or Dask array of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        with unchanged_on_error(self):
            self._set_targets(self._fit(X, y, supervised=True))
        return self

    def _set_targets(self, y):
        """Store the checked y (NumPy, or Dask after a Dask fit) as each
        subclass predicts from it."""
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
