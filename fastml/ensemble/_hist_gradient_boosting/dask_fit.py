"""``fit`` on a Dask array or DataFrame X: the estimator's side of
``fastml._dask.boosting`` (which keeps the blocks where they are).

The same steps as the in-memory fit, on the same rows, so the model is the
same bit for bit: the labels and weights are gathered once (n values: to
encode labels, draw the validation split and place the baseline), the bin
thresholds come from the same rows (all of X up to BINNING_SAMPLE rows,
gathered, else the same drawn rows), the validation rows are X_val or
the same split of X's rows (taken by Dask, in the same order), categorical
columns are coded block by block with the categories of the whole column
(found in one pass over those columns), and early
stopping compares the same scores: the loss of every training and
validation row, from raw predictions gathered in row order after each
iteration.
"""
import functools

import dask
import dask.array as da
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from fastml._threads import effective_n_threads
from fastml._validation import is_dask_collection
from fastml.ensemble._hist_gradient_boosting import categories as _categories
from fastml.ensemble._hist_gradient_boosting.boosting import (
    _weighted_rows,
    score_rows,
    scorer_scores,
    stops,
)
from fastml.ensemble._hist_gradient_boosting.losses import weighted_quantile


def _find_categorical(model, X):
    """Set ``is_categorical_`` and the categories of each categorical
    column from a Dask array or DataFrame X, as the in-memory fit sets them
    (the distinct values of the whole column: one pass over those
    columns)."""
    from fastml._dask.arrays import column_names

    names = column_names(X)
    n_features = len(X.columns) if hasattr(X, "columns") else (
        X.shape[1] if X.ndim == 2 else None)
    model.is_categorical_ = None if n_features is None else \
        _categories.categorical_mask(X, model.categorical_features, n_features, names)
    if model.is_categorical_ is None:
        return
    columns = np.flatnonzero(model.is_categorical_)
    if hasattr(X, "columns"):
        distinct = dask.compute(*[X.iloc[:, j].unique() for j in columns])
        distinct = [values.to_numpy() for values in distinct]
    else:
        distinct = dask.compute(*[da.unique(X[:, j]) for j in columns])
    model._categories = {
        j: _categories.find_categories(values, _categories.feature_name(names, j),
                                       model.max_bins)
        for j, values in zip(columns, distinct)}


def categorical_codes(model, X):
    """X, lazily, with the model's categorical columns as category codes
    (float64): a Dask DataFrame stays one, with float columns; X as it is
    for a model without categorical features."""
    mask = getattr(model, "is_categorical_", None)
    if mask is None or getattr(X, "ndim", 2) != 2:
        return X
    from fastml._dask.arrays import column_names

    names = column_names(X)
    if hasattr(X, "columns"):   # a Dask DataFrame: pandas is there
        import pandas as pd

        meta = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in X.columns})
        return X.map_partitions(_coded_frame, mask, model._categories, names, meta=meta)
    return X.rechunk({1: -1}).map_blocks(_categories.encode_columns, mask, model._categories,
                                         names, dtype=np.float64)


def _coded_frame(frame, mask, categories, names):
    import pandas as pd

    return pd.DataFrame(_categories.encode_columns(frame, mask, categories, names),
                        index=frame.index, columns=frame.columns)


def fit_dask(model, X, y, sample_weight, X_val=None, y_val=None, sample_weight_val=None):
    """Fit ``model`` on Dask input; returns it."""
    from fastml._dask import boosting as dask_boosting
    from fastml._dask.arrays import as_dask_labels

    if (X_val is None) != (y_val is None):
        raise ValueError("Pass both X_val and y_val, or neither.")
    if X_val is None and sample_weight_val is not None:
        raise ValueError("sample_weight_val needs X_val and y_val.")
    if X_val is not None and model.early_stopping is False:
        raise ValueError("X_val and y_val are passed to fit while early_stopping is False; set "
                         "early_stopping to 'auto' or True to use them.")
    warm = model._begin_fit()
    if warm:
        model._check_same_categorical(X)
    else:
        _find_categorical(model, X)
    X = _features(model, X, reset=not warm)
    n = X.shape[0]
    y = model._encode_y(as_dask_labels(y, X).compute(), fitting=not warm)
    if is_dask_collection(sample_weight):
        sample_weight = sample_weight.compute()
    w = model._apply_class_weight(model._validate_sample_weight(sample_weight, n), y)
    if not warm:
        model._random_seed = int(check_random_state(model.random_state).randint(
            np.iinfo(np.uint32).max, dtype="u8"))
        model.do_early_stopping_ = model._early_stopping(n, X_val is not None)
    model._loss = model._make_loss()
    model._loss.check_target(y)
    train_rows = None   # the training rows of X, in the fit's order (None: all, in order)
    if X_val is None:
        (y, w), validation, train_rows = _split(model, X, y, w)
    else:
        validation = _validation_rows(model, X_val, y_val, sample_weight_val)
    rows = model._binning_rows(len(y), w)
    if warm:   # the bins of the first fit: only the check of X's values
        sample, has_inf = None, da.isinf(X).any().compute()
    else:   # the split's rows are read from X's blocks: no shuffle of them
        sample, has_inf = dask_boosting.gather_rows(X, _rows_of_x(train_rows, rows))
    if has_inf:
        raise ValueError("Input X contains infinity. NaN is taken as a missing value; "
                         "replace infinite values.")
    if not warm:   # a warm start keeps the bins and the baseline of the first fit
        model._fit_bins(sample, w if rows is None else None, effective_n_threads(None))
        model._baseline = model._loss.baseline(y, w)
        model.train_score_, model.validation_score_ = np.array([]), np.array([])
    model.n_trees_per_iteration_ = model._loss.n_outputs
    stop = functools.partial(stops, model.n_iter_no_change, model.tol) \
        if model.do_early_stopping_ else None
    refit = None if model._loss.leaf_quantile is None else _leaf_quantiles(model, w)
    score = _scorer_scores(model, X, train_rows, y, w, validation)
    dask_boosting.boost(model, X, y, w, None if w is None else _weighted_rows(w), warm=warm,
                        rows=train_rows, validation=validation, stop=stop, refit_leaves=refit,
                        score=score)
    model._stacked = None
    model._forest()
    return model


def _split(model, X, y, w):
    """((y, w) to train on, (X, y, w) to validate on or None, the training
    rows' numbers in X or None): the rows of the in-memory fit's
    train_test_split, in its order (the validation rows' X by Dask; the
    training rows stay in X's blocks, where the shards take them)."""
    if not model.do_early_stopping_ or model.validation_fraction is None:
        return (y, w), None, None
    stratify = y if isinstance(model, ClassifierMixin) else None
    train, val = train_test_split(np.arange(X.shape[0]), test_size=model.validation_fraction,
                                  stratify=stratify, random_state=model._random_seed)
    pick = [(y[rows], None if w is None else w[rows]) for rows in (train, val)]
    return pick[0], (X[val],) + pick[1], train


def _rows_of_x(train_rows, rows):
    """X's row numbers of the fit's training rows ``rows`` (positions in
    the fit's order; None: all), with train_rows as ``_split`` gives them."""
    if train_rows is None:
        return rows
    return train_rows if rows is None else train_rows[rows]


def _features(model, X, reset):
    """X as the fit reads it: a float Dask array of known row blocks, its
    categorical columns as codes, checked against (or, reset, recorded on)
    the model's features."""
    from fastml._dask.arrays import check_features

    X = check_features(model, categorical_codes(model, X), reset=reset)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    return X


def _validation_rows(model, X, y, sample_weight):
    """(X as a Dask array, y encoded, weights) of the validation rows given
    to fit; ValueError for infinite values, as in memory."""
    from fastml._dask.arrays import as_dask_labels

    X = _features(model, X, reset=False)
    y, has_inf = dask.compute(as_dask_labels(y, X), da.isinf(X).any())
    if has_inf:
        raise ValueError("X_val contains infinity. NaN is taken as a missing value; replace "
                         "infinite values.")
    if is_dask_collection(sample_weight):
        sample_weight = sample_weight.compute()
    return (X, model._encode_y(y, fitting=False),
            model._validate_sample_weight(sample_weight, X.shape[0]))


def _scorer_scores(model, X, train_rows, y, w, validation):
    """None when early stopping scores the loss (or does not stop), else
    the callable of ``(train score, validation score or None)`` by the
    scorer: on the same training rows as in memory (at most SCORING_SAMPLE,
    gathered once from X's blocks; train_rows as ``_split`` gives them) and
    on the validation rows (gathered once)."""
    from fastml._dask.boosting import gather_rows

    scorer = model._scorer() if model.do_early_stopping_ else None
    if scorer is None:
        return None
    rows = score_rows(model, y)
    train = gather_rows(X, _rows_of_x(train_rows, None if rows.size == len(y) else rows))[0]
    val = None if validation is None else (validation[0].compute(),) + tuple(validation[1:])
    train = (train, y[rows], None if w is None else w[rows])
    return lambda: scorer_scores(model, scorer, train, val)


def _leaf_quantiles(model, w):
    """The leaf values of the absolute-error and quantile losses, as the
    in-memory fit sets them: learning_rate times the (weighted) quantile of
    each leaf's residuals, its rows in row order."""
    q, rate = model._loss.leaf_quantile, float(model.learning_rate)

    def refit(tree, leaf_of_row, residuals):
        order = np.argsort(leaf_of_row, kind="stable")
        leaf_of_row = leaf_of_row[order]
        for node in np.flatnonzero(tree.left < 0):
            a, b = np.searchsorted(leaf_of_row, [node, node + 1])
            rows = order[a:b]
            tree.value[node] = rate * weighted_quantile(residuals[rows],
                                                        None if w is None else w[rows], q)
    return refit
