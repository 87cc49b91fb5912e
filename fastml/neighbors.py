"""Drop-in replacements for scikit-learn's brute-force nearest-neighbour
estimators, computed by fastml's fused top-k kernels, and lazy on Dask arrays.

Same class names, parameters, fitted attributes and methods as
``sklearn.neighbors``.  The search is always exact: ``algorithm`` and
``leaf_size`` are accepted for compatibility and do not change the answer.
"""
import numbers
import warnings

import numpy as np
from scipy import sparse
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    TransformerMixin,
)
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fastml import kernels
from fastml._validation import metrics as _distance_metrics
from fastml.kernels.neighbors import class_votes, drop_self, neighbor_weights, target_means
from fastml._threads import effective_n_threads
from fastml._validation import (
    FLOAT_DTYPES,
    Interval,
    Options,
    check_parameters,
    is_dask_collection,
    unchanged_on_error,
)

__all__ = [
    "NearestNeighbors",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "KNeighborsTransformer",
    "RadiusNeighborsTransformer",
]

_ALGORITHMS = ("auto", "ball_tree", "kd_tree", "brute")


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
        check_parameters(self, _NeighborsBase._parameter_constraints)
        effective_n_threads(self.n_jobs)  # validates n_jobs

    def _resolve_metric(self, n_features):
        """effective_metric_ and effective_metric_params_, as scikit-learn
        derives them (minkowski with p = 1, 2, inf becomes manhattan,
        euclidean, chebyshev)."""
        params = dict(self.metric_params or {})
        metric = self.metric
        if callable(metric):
            if params:
                raise TypeError(
                    "a custom metric takes no metric_params with fastml; bind them with a "
                    "closure before passing the function."
                )
            return metric, params
        if metric == "precomputed":
            return metric, params
        name = _distance_metrics.resolve_metric(metric)
        if name == "minkowski":
            p = params.pop("p", self.p)
            if not isinstance(p, numbers.Real) or isinstance(p, bool) or not p > 0:
                raise ValueError(f"p must be a positive number for minkowski, got {p!r}.")
            if params.get("w") is None:
                params.pop("w", None)
                if p == 1:
                    return "manhattan", params
                if p == 2:
                    return "euclidean", params
                if np.isinf(p):
                    return "chebyshev", params
            params["p"] = p
            params.setdefault("w", None)
        _distance_metrics.check_params(name, params, n_features)
        return metric, params

    def _fit(self, X, y=None, supervised=False):
        """Validate the parameters and X (and y, which a supervised estimator
        requires), store the index; return the checked y.  On error the
        estimator is left as it was."""
        with unchanged_on_error(self):
            return self._fit_index(X, y, supervised)

    def _fit_index(self, X, y, supervised):
        self._check_params()
        if is_dask_collection(X) or is_dask_collection(y):
            return self._fit_dask(X, y, supervised)
        if supervised:
            X, y = validate_data(self, X, y, dtype=FLOAT_DTYPES, ensure_min_samples=1,
                                 multi_output=True)
        else:
            X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=1)
        if self.metric == "precomputed":
            if X.shape[0] != X.shape[1]:
                raise ValueError(
                    "With metric='precomputed', fit takes the square matrix of distances "
                    f"between the training samples; got shape {X.shape}."
                )
            if np.any(X < 0):
                raise ValueError("Precomputed distance matrix contains negative values.")
        metric, params = self._resolve_metric(X.shape[1])
        if not callable(metric) and metric != "precomputed":
            name = _distance_metrics.resolve_metric(metric)
            # seuclidean's V and mahalanobis' VI are fixed from the training
            # data, not recomputed per query
            params.update(_distance_metrics.default_params(name, params, X, None))
            _distance_metrics.check_params(name, params, X.shape[1])  # e.g. V = 0
        self.effective_metric_, self.effective_metric_params_ = metric, params
        self._fit_X = np.ascontiguousarray(X)  # not copied again per query
        self.n_samples_fit_ = X.shape[0]
        return y

    def _fit_dask(self, X, y, supervised):
        import dask
        from fastml import _dask

        if self.metric == "precomputed":
            raise NotImplementedError(
                "metric='precomputed' takes an in-memory distance matrix; compute it "
                "first (X.compute())."
            )
        X = _dask.as_float_dask_array(X, "X")
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                f"required by {type(self).__name__}."
            )
        metric, params = self._resolve_metric(X.shape[1])
        if not callable(metric):
            name = _distance_metrics.resolve_metric(metric)
            if name == "seuclidean" and params.get("V") is None:
                params["V"] = X.var(axis=0, ddof=1, dtype=np.float64)
            if name == "mahalanobis" and params.get("VI") is None:
                _distance_metrics.check_enough_samples_for_covariance(*X.shape)
                params["VI"] = _dask.inverse_covariance(X)
        if supervised:
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
            y = _dask.as_dask_labels(y, X)
        # the index (and labels) stay on the workers; only V / VI come back
        X, y = dask.persist(X, y)
        (params,) = dask.compute(params)
        if not callable(metric):
            _distance_metrics.check_params(_distance_metrics.resolve_metric(metric), params,
                                           X.shape[1])
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
        return validate_data(self, X, dtype=FLOAT_DTYPES, reset=False, ensure_min_samples=0)

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
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False, ensure_min_samples=0)
        if np.any(X < 0):
            raise ValueError("Precomputed distance matrix contains negative values.")
        return X

    def _kernel_params(self):
        return self.effective_metric_, self.effective_metric_params_

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
            distances, indices = self._argkmin(X, k)
            if query_is_train:
                distances, indices = drop_self(distances, indices, 0)
        return (distances, indices) if return_distance else indices

    def _argkmin(self, X, k):
        if self.effective_metric_ == "precomputed":
            return _precomputed_argkmin(X, k)
        metric, params = self._kernel_params()
        return kernels.argkmin_chunk(X, self._fit_X, k, metric,
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
        X = self._fit_X if query_is_train else self._validate_query(X)
        if self.effective_metric_ == "precomputed":
            rows, cols = np.nonzero(X <= radius)
            offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X.shape[0]))])
            indices, distances = cols.astype(np.int64), X[rows, cols]
            if sort_results:
                order = np.lexsort((indices, distances, rows))
                indices, distances = indices[order], distances[order]
        else:
            metric, params = self._kernel_params()
            offsets, indices, distances = kernels.radius_neighbors_chunk(
                X, self._fit_X, radius, metric, n_threads=effective_n_threads(self.n_jobs),
                sort_results=sort_results, **params,
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
        tags.input_tags.allow_nan = False
        return tags


class NearestNeighbors(_NeighborsBase):
    """Unsupervised nearest-neighbour search, exact, on all cores.

    Drop-in for :class:`sklearn.neighbors.NearestNeighbors`.  Any metric of
    :func:`fastml.metrics.pairwise_distances` works, including a Python
    function ``f(a, b) -> float`` compiled with Numba; ``algorithm`` and
    ``leaf_size`` are accepted and ignored (the search is always exact).
    ``fit`` on a Dask array keeps the index on the workers, and
    ``kneighbors`` then returns lazy Dask arrays.

    Parameters
    ----------
    n_neighbors : int, default=5
    radius : float, default=1.0
    algorithm : {"auto", "ball_tree", "kd_tree", "brute"}, default="auto"
    leaf_size : int, default=30
    metric : str or callable, default="minkowski"
    p : float, default=2
        Power of the minkowski metric (1 is manhattan, 2 euclidean).
    metric_params : dict, default=None
        ``w``, ``V``, ``VI``, ``p``, ``base``.  For seuclidean and
        mahalanobis without ``V`` / ``VI`` they are computed from the
        training data at fit time.
    n_jobs : int, default=None
        Threads; ``None`` and -1 mean every usable core.

    Attributes
    ----------
    effective_metric_ : str or callable
    effective_metric_params_ : dict
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    n_samples_fit_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.neighbors import NearestNeighbors
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    >>> nn = NearestNeighbors(n_neighbors=2).fit(X)
    >>> nn.kneighbors([[0.9, 0.0]])
    (array([[0.1, 0.9]]), array([[1, 0]]))
    """

    def __init__(self, *, n_neighbors=5, radius=1.0, algorithm="auto", leaf_size=30,
                 metric="minkowski", p=2, metric_params=None, n_jobs=None):
        super().__init__(n_neighbors=n_neighbors, radius=radius, algorithm=algorithm,
                         leaf_size=leaf_size, metric=metric, p=p,
                         metric_params=metric_params, n_jobs=n_jobs)

    def fit(self, X, y=None):
        """Index the training data.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X)
        return self


class _KNeighborsSupervised(_NeighborsBase):
    """kneighbors-based prediction for the classifier and the regressor."""

    def __init__(self, n_neighbors=5, *, weights="uniform", algorithm="auto", leaf_size=30,
                 p=2, metric="minkowski", metric_params=None, n_jobs=None):
        super().__init__(n_neighbors=n_neighbors, algorithm=algorithm, leaf_size=leaf_size,
                         metric=metric, p=p, metric_params=metric_params, n_jobs=n_jobs)
        self.weights = weights

    def _check_weights(self):
        if self.weights not in (None, "uniform", "distance") and not callable(self.weights):
            raise ValueError(
                f"The 'weights' parameter of {type(self).__name__} must be 'uniform', "
                f"'distance', a callable or None. Got {self.weights!r} instead."
            )


class KNeighborsClassifier(ClassifierMixin, _KNeighborsSupervised):
    """k-nearest-neighbour vote, exact, on all cores.

    Drop-in for :class:`sklearn.neighbors.KNeighborsClassifier`: uniform,
    ``"distance"`` or callable weights, string labels, multi-output
    targets.  On Dask input ``predict`` and ``predict_proba`` are lazy.

    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "distance"}, callable or None, default="uniform"
    algorithm, leaf_size, p, metric, metric_params, n_jobs
        As in :class:`NearestNeighbors`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,) or list of such arrays
    outputs_2d_ : bool
    effective_metric_, effective_metric_params_, n_features_in_,
    feature_names_in_, n_samples_fit_
        As in :class:`NearestNeighbors`.

    Examples
    --------
    >>> from fastml.neighbors import KNeighborsClassifier
    >>> clf = KNeighborsClassifier(n_neighbors=3).fit([[0], [1], [2], [3]], [0, 0, 1, 1])
    >>> clf.predict([[1.1]])
    array([0])
    >>> clf.predict_proba([[0.9]])
    array([[0.66666667, 0.33333333]])
    """

    def fit(self, X, y):
        """Index X and remember the labels y.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : array-like or Dask array of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        with unchanged_on_error(self):
            self._check_weights()
            y = self._fit(X, y, supervised=True)
            if is_dask_collection(y):
                from fastml import _dask

                if y.ndim == 2 and y.shape[1] == 1:
                    self._column_vector_warning()
                    y = y[:, 0]
                self.outputs_2d_ = y.ndim == 2
                self.classes_, self._y = _dask.encode_labels(y)
                return self
            y, self.outputs_2d_ = self._targets_2d(y)
            check_classification_targets(y)
            classes, encoded = [], np.empty(y.shape, dtype=np.intp)
            for o in range(y.shape[1]):
                c, encoded[:, o] = np.unique(y[:, o], return_inverse=True)
                classes.append(c)
            self.classes_ = classes if self.outputs_2d_ else classes[0]
            self._y = encoded
            return self

    @staticmethod
    def _column_vector_warning():
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning, stacklevel=4,
        )

    @staticmethod
    def _targets_2d(y):
        """y as (n, n_outputs), and whether the caller gave a 2-D y."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            KNeighborsClassifier._column_vector_warning()
            y = y.ravel()
        outputs_2d = y.ndim == 2
        return (y if outputs_2d else y.reshape(-1, 1)), outputs_2d

    def predict_proba(self, X):
        """Class probabilities: weighted neighbour votes.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_queries, n_features)

        Returns
        -------
        p : ndarray of shape (n_queries, n_classes), or a list of n_outputs
            such arrays; columns in the order of ``classes_``.
        """
        distances, indices = self.kneighbors(X)
        classes = self.classes_ if self.outputs_2d_ else [self.classes_]
        if is_dask_collection(indices):
            from fastml import _dask

            probas = [_dask.neighbor_votes(distances, indices, self._y, o, len(c), self.weights)
                      for o, c in enumerate(classes)]
        else:
            weights = neighbor_weights(distances, self.weights)
            probas = [class_votes(indices, self._y[:, o], len(c), weights)
                      for o, c in enumerate(classes)]
        return probas if self.outputs_2d_ else probas[0]

    def predict(self, X):
        """The most probable class of each query (ties: the first class).

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs)
        """
        probas = self.predict_proba(X)
        classes = self.classes_ if self.outputs_2d_ else [self.classes_]
        probas = probas if self.outputs_2d_ else [probas]
        if is_dask_collection(probas[0]):
            from fastml import _dask

            labels = _dask.predict_classes(probas, classes)
            return labels if self.outputs_2d_ else labels[:, 0]
        columns = [c[p.argmax(axis=1)] for p, c in zip(probas, classes)]
        return np.stack(columns, axis=1) if self.outputs_2d_ else columns[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags


class KNeighborsRegressor(RegressorMixin, _KNeighborsSupervised):
    """Regression by the (weighted) mean of the k nearest neighbours' targets.

    Drop-in for :class:`sklearn.neighbors.KNeighborsRegressor`; lazy on Dask.

    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "distance"}, callable or None, default="uniform"
    algorithm, leaf_size, p, metric, metric_params, n_jobs
        As in :class:`NearestNeighbors`.

    Examples
    --------
    >>> from fastml.neighbors import KNeighborsRegressor
    >>> reg = KNeighborsRegressor(n_neighbors=2).fit([[0], [1], [2], [3]], [0, 0, 1, 1])
    >>> reg.predict([[1.5]])
    array([0.5])
    """

    def fit(self, X, y):
        """Index X and remember the targets y.

        Parameters
        ----------
        X : array-like or Dask array of shape (n_samples, n_features)
        y : array-like or Dask array of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        self._check_weights()
        y = self._fit(X, y, supervised=True)
        # a (n, 1) target stays 2-D in the predictions, as in scikit-learn
        self._outputs_2d = y.ndim == 2
        self._y = y if self._outputs_2d else y[:, None]
        return self

    def predict(self, X):
        """Predicted targets.

        Returns
        -------
        y : ndarray of shape (n_queries,) or (n_queries, n_outputs), float
        """
        distances, indices = self.kneighbors(X)
        if is_dask_collection(indices):
            from fastml import _dask

            pred = _dask.neighbor_means(distances, indices, self._y, self.weights)
        else:
            pred = target_means(distances, indices, self._y, self.weights)
        return pred if self._outputs_2d else pred[:, 0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class _GraphTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _NeighborsBase):
    """fit and fit_transform of the two graph transformers; each subclass
    has a ``mode`` and its own ``transform``."""

    def fit(self, X, y=None):
        """Index X.  Returns self."""
        if self.mode not in ("distance", "connectivity"):
            raise ValueError(
                f"The 'mode' parameter of {type(self).__name__} must be 'distance' or "
                f"'connectivity'. Got {self.mode!r} instead."
            )
        self._no_dask("fit", X)
        self._fit(X)
        self._n_features_out = self.n_samples_fit_
        return self

    def fit_transform(self, X, y=None):
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)


class KNeighborsTransformer(_GraphTransformer):
    """The k-nearest-neighbour graph of X as a sparse matrix, for estimators
    that take ``metric="precomputed"`` (Isomap, TSNE, DBSCAN, ...).

    Drop-in for :class:`sklearn.neighbors.KNeighborsTransformer`.

    Parameters
    ----------
    mode : {"distance", "connectivity"}, default="distance"
        With "distance", each sample also gets itself as a neighbour (at
        distance 0), so a row holds ``n_neighbors + 1`` entries, as in
        scikit-learn.
    n_neighbors : int, default=5
    algorithm, leaf_size, metric, p, metric_params, n_jobs
        As in :class:`NearestNeighbors`.

    Examples
    --------
    >>> from fastml.neighbors import KNeighborsTransformer
    >>> KNeighborsTransformer(n_neighbors=1).fit_transform([[0.0], [1.0], [3.0]]).toarray()
    array([[0., 1., 0.],
           [1., 0., 0.],
           [0., 2., 0.]])
    """

    def __init__(self, *, mode="distance", n_neighbors=5, algorithm="auto", leaf_size=30,
                 metric="minkowski", p=2, metric_params=None, n_jobs=None):
        super().__init__(n_neighbors=n_neighbors, algorithm=algorithm, leaf_size=leaf_size,
                         metric=metric, p=p, metric_params=metric_params, n_jobs=n_jobs)
        self.mode = mode

    def transform(self, X):
        """Sparse graph of shape (n_queries, n_samples_fit), CSR."""
        check_is_fitted(self)
        return self.kneighbors_graph(X, mode=self.mode,
                                     n_neighbors=self.n_neighbors + (self.mode == "distance"))


class RadiusNeighborsTransformer(_GraphTransformer):
    """The graph of neighbours within ``radius`` as a sparse matrix, for
    estimators that take ``metric="precomputed"``.

    Drop-in for :class:`sklearn.neighbors.RadiusNeighborsTransformer`; each
    row's entries are sorted by distance, each sample is its own neighbour.

    Parameters
    ----------
    mode : {"distance", "connectivity"}, default="distance"
    radius : float, default=1.0
    algorithm, leaf_size, metric, p, metric_params, n_jobs
        As in :class:`NearestNeighbors`.
    """

    def __init__(self, *, mode="distance", radius=1.0, algorithm="auto", leaf_size=30,
                 metric="minkowski", p=2, metric_params=None, n_jobs=None):
        super().__init__(radius=radius, algorithm=algorithm, leaf_size=leaf_size,
                         metric=metric, p=p, metric_params=metric_params, n_jobs=n_jobs)
        self.mode = mode

    def transform(self, X):
        """Sparse graph of shape (n_queries, n_samples_fit), CSR."""
        check_is_fitted(self)
        return self.radius_neighbors_graph(X, mode=self.mode, sort_results=True)
