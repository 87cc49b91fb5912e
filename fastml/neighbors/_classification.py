"""KNeighborsClassifier: the k-nearest-neighbour vote."""
import warnings

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

from fastml._validation import is_dask_collection
from fastml.neighbors._base import _KNeighborsSupervised
from fastml.neighbors._graph import _Absent


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
        As in :class:`NearestNeighbors`: the search is always exact brute
        force (a tree is never needed for exact results), so ``algorithm``
        and ``leaf_size``, validated as scikit-learn validates them, never
        change the result.

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

    # scikit-learn's class has no radius search
    radius_neighbors = _Absent()
    radius_neighbors_graph = _Absent()

    def _set_targets(self, y):
        """The classes of each output, and y as their indices."""
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning, stacklevel=3,  # the caller of fit
            )
            y = y[:, 0]
        self.outputs_2d_ = y.ndim == 2
        if is_dask_collection(y):
            from fastml import _dask

            self.classes_, self._y = _dask.encode_labels(y)
            return
        y = y if self.outputs_2d_ else y.reshape(-1, 1)
        check_classification_targets(y)
        classes, encoded = [], np.empty(y.shape, dtype=np.intp)
        for o in range(y.shape[1]):
            c, encoded[:, o] = np.unique(y[:, o], return_inverse=True)
            classes.append(c)
        self.classes_ = classes if self.outputs_2d_ else classes[0]
        self._y = encoded

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
            from fastml.kernels.neighbors import class_votes, neighbor_weights

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
        return tags

