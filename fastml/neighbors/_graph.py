"""The neighbour graphs as sparse matrices: KNeighborsTransformer and
RadiusNeighborsTransformer, for estimators that take metric="precomputed"."""
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from fastml._validation import Options
from fastml.neighbors._base import _NeighborsBase


class _Absent:
    """A search method the scikit-learn class does not have (its
    KNeighborsTransformer has no ``radius_neighbors``, its
    RadiusNeighborsTransformer no ``kneighbors``, ...): the attribute is
    absent here too, so ``hasattr`` answers as with scikit-learn, and code
    that looks methods up by duck typing takes the same branch."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        cls = owner if obj is None else type(obj)
        raise AttributeError(f"{cls.__name__!r} object has no attribute {self.name!r}")


class _GraphTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _NeighborsBase):
    """fit, transform and fit_transform of the two graph transformers; each
    subclass has a ``mode`` and its own ``_graph``."""

    _parameter_constraints = {
        **_NeighborsBase._parameter_constraints,
        "mode": [Options("distance", "connectivity")],
    }

    def fit(self, X, y=None):
        """Index X.  Returns self."""
        self._no_dask("fit", X)
        self._fit(X)
        self._n_features_out = self.n_samples_fit_
        return self

    def fit_transform(self, X, y=None):
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)

    def transform(self, X):
        """Sparse graph of shape (n_queries, n_samples_fit), CSR."""
        check_is_fitted(self)
        return self._graph(X)


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
        As in :class:`NearestNeighbors`: the search is always exact brute
        force (a tree is never needed for exact results), so ``algorithm``
        and ``leaf_size``, validated as scikit-learn validates them, never
        change the result.

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

    radius_neighbors = _Absent()
    radius_neighbors_graph = _Absent()

    def _graph(self, X):
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
        As in :class:`NearestNeighbors`: the search is always exact brute
        force (a tree is never needed for exact results), so ``algorithm``
        and ``leaf_size``, validated as scikit-learn validates them, never
        change the result.
    """

    def __init__(self, *, mode="distance", radius=1.0, algorithm="auto", leaf_size=30,
                 metric="minkowski", p=2, metric_params=None, n_jobs=None):
        super().__init__(radius=radius, algorithm=algorithm, leaf_size=leaf_size,
                         metric=metric, p=p, metric_params=metric_params, n_jobs=n_jobs)
        self.mode = mode

    kneighbors = _Absent()
    kneighbors_graph = _Absent()

    def _graph(self, X):
        return self.radius_neighbors_graph(X, mode=self.mode, sort_results=True)
