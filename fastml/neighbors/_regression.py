"""KNeighborsRegressor: the (weighted) mean of the k nearest targets."""
from sklearn.base import RegressorMixin

from fastml._validation import is_dask_collection
from fastml.neighbors._base import _KNeighborsSupervised
from fastml.neighbors._graph import _Absent


class KNeighborsRegressor(RegressorMixin, _KNeighborsSupervised):
    """Regression by the (weighted) mean of the k nearest neighbours' targets.

    Drop-in for :class:`sklearn.neighbors.KNeighborsRegressor`; lazy on Dask.

    Parameters
    ----------
    n_neighbors, weights, algorithm, leaf_size, p, metric, metric_params, n_jobs
        As in :class:`NearestNeighbors`: the search is always exact brute
        force (a tree is never needed for exact results), so ``algorithm``
        and ``leaf_size``, validated as scikit-learn validates them, never
        change the result.

    Examples
    --------
    >>> from fastml.neighbors import KNeighborsRegressor
    >>> reg = KNeighborsRegressor(n_neighbors=2).fit([[0], [1], [2], [3]], [0, 0, 1, 1])
    >>> reg.predict([[1.5]])
    array([0.5])
    """

    # scikit-learn's class has no radius search
    radius_neighbors = _Absent()
    radius_neighbors_graph = _Absent()

    def _set_targets(self, y):
        # a (n, 1) target stays 2-D in the predictions, as in scikit-learn
        self._outputs_2d = y.ndim == 2
        self._y = y if self._outputs_2d else y[:, None]

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
            from fastml.kernels.neighbors import target_means

            pred = target_means(distances, indices, self._y, self.weights)
        return pred if self._outputs_2d else pred[:, 0]

