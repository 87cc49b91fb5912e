"""NearestNeighbors: the unsupervised search."""
from fastml.neighbors._base import _NeighborsBase


class NearestNeighbors(_NeighborsBase):
    """Unsupervised nearest-neighbour search, exact, on all cores.

    Drop-in for :class:`sklearn.neighbors.NearestNeighbors`.  Any metric of
    :func:`fastml.metrics.pairwise_distances` works, including a Python
    function ``f(a, b) -> float`` compiled with Numba.  The search is
    always exact brute force: ``algorithm`` and ``leaf_size`` are validated
    as scikit-learn validates them and never change the result.
    ``fit`` on a Dask array keeps the index on the workers, and
    ``kneighbors`` then returns lazy Dask arrays.

    Parameters
    ----------
    n_neighbors : int, default=5
    radius : float, default=1.0
    algorithm : {"auto", "ball_tree", "kd_tree", "brute"}, default="auto"
        fastml always computes the exact neighbours by brute force (a tree
        is never needed for exact results), so the value does not change
        the result.  It is checked as scikit-learn checks it, at ``fit``:
        another value raises ``InvalidParameterError`` (a ``ValueError``),
        and so does a tree scikit-learn cannot build for the metric
        ("kd_tree" with cosine or a callable, a tree with minkowski
        ``p < 1``, "ball_tree" with mahalanobis without ``VI``...).  "auto"
        never fails: it is brute force, where scikit-learn's "auto" may
        pick a tree.  With a boolean metric (jaccard, dice...) on data that
        is not boolean, queries warn ``DataConversionWarning`` as
        scikit-learn's brute force does (not with "ball_tree", as there).
    leaf_size : int, default=30
        Checked as scikit-learn checks it (an int >= 1; fastml also refuses
        ``True``, which scikit-learn takes as 1) and otherwise unused:
        there is no tree.
    metric : str or callable, default="minkowski"
    p : float, default=2
        Power of the minkowski metric (1 is manhattan, 2 euclidean).
    metric_params : dict, default=None
        ``w``, ``V``, ``VI``, ``p``, ``base``.  For seuclidean and
        mahalanobis without ``V`` / ``VI`` they are computed from the
        training data at fit time.  A ``p`` here overrides the ``p``
        parameter, with a ``SyntaxWarning`` unless ``p=None`` (as in
        scikit-learn).
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

