"""What a fitted gradient-boosting model does: raw and staged predictions
from its stacked trees (``kernels.predict_tree_chunk``), save and load."""
import numpy as np
from sklearn.utils.validation import check_is_fitted

from fastml import kernels
from fastml._threads import effective_n_threads
from fastml._validation import is_dask_collection


class PredictionMixin:
    """Raw predictions, staged predictions, ``save`` and ``load`` of the
    boosting estimators; they give ``_validate_X``, ``_baseline`` and
    ``_trees``."""

    def _forest(self):
        """Per raw-prediction column: (stacked trees, roots)."""
        stacked = getattr(self, "_stacked", None)
        if stacked is None:
            K = getattr(self, "n_trees_per_iteration_", 1)
            columns = [[trees[k] for trees in getattr(self, "_trees", [])] for k in range(K)]
            stacked = self._stacked = [
                kernels.stack_trees(c) if c else (None, np.zeros(0, np.int64))
                for c in columns]
        return stacked

    def _prediction_X(self, X):
        """X validated against the fitted features.  Mid-fit, scorers get
        the rows fit has already validated and encoded: they pass as they
        are."""
        if getattr(self, "_scoring_encoded_rows", False):
            return X
        return self._validate_X(X, reset=False)

    def _on_dask(self, method, X, n_columns, dtype):
        """``method`` over the row blocks of a Dask X, lazily."""
        from fastml._dask.boosting import map_prediction

        return map_prediction(self, method, X, n_columns, dtype)

    def _raw_predict(self, X):
        """Raw predictions (n, K) float64."""
        X = self._prediction_X(X)
        n_threads = effective_n_threads(None)
        raw = np.tile(self._baseline, (X.shape[0], 1))
        for k, (tree, roots) in enumerate(self._forest()):
            if roots.size:
                raw[:, k] = kernels.predict_tree_chunk(X, tree, roots=roots,
                                                       out=np.ascontiguousarray(raw[:, k]),
                                                       n_threads=n_threads)
        return raw

    def _staged(self, X, from_raw, n_columns, dtype):
        """``from_raw(raw)`` of the raw predictions after each iteration: a
        generator of arrays, or of lazy Dask arrays (n_columns columns, 1-D
        for None) for Dask X.  The estimator's staged methods check that it
        is fitted before they read its attributes."""
        if is_dask_collection(X):
            from fastml._dask.boosting import staged_predictions
            from fastml.ensemble._hist_gradient_boosting.dask_fit import categorical_codes

            yield from staged_predictions(self, categorical_codes(self, X), from_raw,
                                          n_columns, dtype)
            return
        for raw in self._staged_raw_predict(X):
            yield from_raw(raw)

    def _staged_raw_predict(self, X):
        X = self._prediction_X(X)
        n_threads = effective_n_threads(None)
        raw = np.tile(self._baseline, (X.shape[0], 1))
        for trees in self._trees:
            for k, tree in enumerate(trees):
                raw[:, k] = kernels.predict_tree_chunk(X, tree,
                                                       out=np.ascontiguousarray(raw[:, k]),
                                                       n_threads=n_threads)
            yield raw.copy()

    def save(self, path):
        """Write the fitted model to ``path`` as an ``.npz`` file of plain
        arrays and JSON text (no pickled objects); read it with ``load``."""
        from fastml.ensemble._hist_gradient_boosting.model_files import save

        check_is_fitted(self, "_trees")
        save(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by ``save``; loading never runs code from the
        file (``numpy.load`` with ``allow_pickle=False``)."""
        from fastml.ensemble._hist_gradient_boosting.model_files import load

        return load(path, cls)
