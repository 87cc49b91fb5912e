"""The only module that builds Dask graphs.

Each graph maps a function of ``fastml.kernels`` over blocks; nothing here
computes the user's data.  Dask is imported lazily, by the callers.
"""
import warnings
from functools import partial
from operator import getitem

import numpy as np
import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from fastml import _distance_metrics
from fastml._knn_results import class_votes, drop_self, neighbor_weights, target_means
from fastml._validation import FLOAT_DTYPES, check_input_dtype, check_2d


def as_dask_array(X, name, allow_unknown_rows=False):
    """A 2-D Dask array with a single chunk along the feature axis.

    NumPy (or pandas, polars) input becomes a single-block Dask array.
    Feature-chunked arrays are rechunked, since every distance needs all of
    a row's features.  A Dask DataFrame's partition lengths are computed
    (one pass) unless ``allow_unknown_rows`` (row-wise maps need none).
    """
    check_input_dtype(X, name)
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=None if allow_unknown_rows else True)
    if not isinstance(X, da.Array):
        X = da.from_array(np.asarray(X), chunks=(-1, -1))
    check_2d(X, name)
    if not allow_unknown_rows and any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes (often from a Dask DataFrame); call "
            f"{name}.compute_chunk_sizes() or use df.to_dask_array(lengths=True)."
        )
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _check_block_finite(x, name, ensure_all_finite):
    if ensure_all_finite is False or x.size == 0:
        return
    if ensure_all_finite == "allow-nan":
        if np.isinf(x).any():
            raise ValueError(f"Input {name} contains infinity.")
    elif not np.isfinite(x).all():
        raise ValueError(
            f"Input {name} contains NaN or infinity; clean it or pass "
            "ensure_all_finite=False / 'allow-nan'."
        )


def _distance_block(x, y, *lazy_params, request, lazy_names, ensure_all_finite,
                    symmetric=False, y_name="Y"):
    """One block of the distance matrix (runs on a worker).

    With ``symmetric=True`` the block is a diagonal block: x against itself,
    computed once per pair and mirrored, with an exactly zero diagonal.
    ``y_name`` is how errors refer to y ("X" when Y is None).
    """
    _check_block_finite(x, "X", ensure_all_finite)
    x = np.ascontiguousarray(x, dtype=request.dtype)
    if symmetric:
        y = x
    else:
        _check_block_finite(y, y_name, ensure_all_finite)
        y = np.ascontiguousarray(y, dtype=request.dtype)
    if request.custom:
        return request.compute(x, y, 1, symmetric)
    params = dict(request.params)
    params.update(zip(lazy_names, lazy_params))
    return request.plan(params).compute(x, y, 1, symmetric=symmetric)


def _inverse_covariance(cov):
    return np.linalg.inv(np.atleast_2d(cov)).T


def _transposed(block):
    return np.ascontiguousarray(block.T)


def _symmetric_graph(X, block_func, lazy_arrays, dtype):
    """D = distances(X, X) computing only the blocks on and above the
    diagonal; each block below is the transpose of its mirror block."""
    name = "fastml-pairwise-symmetric-" + tokenize(X, block_func, *lazy_arrays)
    x_keys = [row[0] for row in X.__dask_keys__()]
    lazy_keys = [a.__dask_keys__() for a in lazy_arrays]
    lazy_keys = [k if isinstance(k, tuple) else _first_key(k) for k in lazy_keys]
    diagonal = partial(block_func, symmetric=True)
    off_diagonal = partial(block_func, y_name="X")
    dsk = {}
    for i, xi in enumerate(x_keys):
        dsk[(name, i, i)] = (diagonal, xi, None, *lazy_keys)
        for j in range(i + 1, len(x_keys)):
            dsk[(name, i, j)] = (off_diagonal, xi, x_keys[j], *lazy_keys)
            dsk[(name, j, i)] = (_transposed, (name, i, j))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[X, *lazy_arrays])
    return da.Array(graph, name, chunks=(X.chunks[0], X.chunks[0]),
                    meta=np.empty((0, 0), dtype=dtype))


def _first_key(keys):
    while isinstance(keys, list):
        keys = keys[0]
    return keys


def pairwise_distances(X, Y, metric, ensure_all_finite, kwds):
    """Lazy ``fastml.metrics.pairwise_distances`` for Dask input."""
    from fastml.metrics import _Request

    symmetric = Y is None
    X = as_dask_array(X, "X")
    Y = X if symmetric else as_dask_array(Y, "Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of features, but X has "
            f"{X.shape[1]} and Y has {Y.shape[1]}."
        )
    if X.shape[1] == 0:
        raise ValueError("X has 0 features; distances need at least one feature.")
    if not callable(metric) and (
        _distance_metrics.resolve_metric(metric) in _distance_metrics.BOOLEAN_METRICS
    ):
        dtype = np.dtype(np.float64)
        X, Y = (X != 0).astype(dtype), (Y != 0).astype(dtype)
    else:
        dtype = np.result_type(X.dtype, Y.dtype)
        if dtype not in FLOAT_DTYPES:
            dtype = np.dtype(np.float64)
        X, Y = X.astype(dtype), Y.astype(dtype)
        if symmetric:
            Y = X
    request = _Request(metric, kwds, X.shape[1], dtype)

    # SciPy's data-dependent defaults, as lazy arrays (one chunk each).
    lazy_names, lazy_arrays = [], []
    if not request.custom:
        data = X if symmetric else da.concatenate([X, Y], axis=0)
        if request.name == "seuclidean" and "V" not in request.params:
            lazy_names.append("V")
            lazy_arrays.append(data.var(axis=0, ddof=1, dtype=np.float64).rechunk(-1))
        if request.name == "mahalanobis" and "VI" not in request.params:
            _distance_metrics.check_enough_samples_for_covariance(*data.shape)
            cov = da.cov(data.T.astype(np.float64)).rechunk(-1)
            lazy_names.append("VI")
            lazy_arrays.append(cov.map_blocks(_inverse_covariance, dtype=np.float64))
    block_func = partial(_distance_block, request=request, lazy_names=tuple(lazy_names),
                         ensure_all_finite=ensure_all_finite)
    if symmetric:
        return _symmetric_graph(X, block_func, lazy_arrays, dtype)
    lazy_args = []
    for array in lazy_arrays:
        lazy_args += [array, "k" if array.ndim == 1 else "kl"]
    return da.blockwise(
        block_func, "ij", X, "ik", Y, "jk", *lazy_args,
        dtype=dtype, concatenate=True, meta=np.empty((0, 0), dtype=dtype),
    )


# ------------------------------------------------------------ nearest neighbours

def as_float_dask_array(X, name, allow_unknown_rows=False):
    """A float32 / float64 Dask array with one chunk along features."""
    X = as_dask_array(X, name, allow_unknown_rows)
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X


def check_features(estimator, X, reset):
    """X as a float Dask array (one feature chunk); ``reset`` records its
    feature count (and a Dask DataFrame's column names) on the estimator,
    else they must match the fitted ones."""
    names = _column_names(X)
    # fit needs the row count (a Dask DataFrame's lengths are computed);
    # transform maps rows and stays lazy
    X = as_float_dask_array(X, "X", allow_unknown_rows=not reset)
    if reset:
        estimator.__dict__.pop("feature_names_in_", None)
        if names is not None:
            estimator.feature_names_in_ = names
        estimator.n_features_in_ = X.shape[1]
        return X
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    fitted = getattr(estimator, "feature_names_in_", None)
    cls = type(estimator).__name__
    if fitted is not None and names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with "
                      "feature names", UserWarning)
    elif fitted is None and names is not None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names",
                      UserWarning)
    elif fitted is not None and not np.array_equal(fitted, names):
        raise ValueError(
            f"The feature names should match those that were passed during fit: fitted with "
            f"{list(fitted)}, got {list(names)}."
        )
    return X


def _column_names(X):
    """A Dask DataFrame's column names as an object array when they are all
    strings, None when none is (scikit-learn's rule); mixed types raise."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    is_str = [isinstance(c, str) for c in columns]
    if all(is_str):
        return np.asarray(list(columns), dtype=object)
    if any(is_str):
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {sorted({type(c).__name__ for c in columns})} as feature "
            "name / column name types. Convert them all to strings, e.g. "
            "X.columns = X.columns.astype(str)."
        )
    return None


def inverse_covariance(X):
    """mahalanobis' default VI of the rows of X, lazy (one chunk)."""
    cov = da.cov(X.T.astype(np.float64)).rechunk(-1)
    return cov.map_blocks(_inverse_covariance, dtype=np.float64)


def as_dask_labels(y, X):
    """Targets as a Dask array in one chunk (they are n values, small beside
    the n x d index), checked against X's row count."""
    if not isinstance(y, da.Array):
        y = np.asarray(y)
        y = da.from_array(y, chunks=y.shape)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
    if any(np.isnan(c) for c in y.chunks[0]):
        y = y.compute_chunk_sizes()
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: "
            f"[{X.shape[0]}, {y.shape[0]}]"
        )
    return y.rechunk(-1)


def _encode(y, classes):
    y = y.reshape(y.shape[0], -1)
    return np.stack([np.searchsorted(c, y[:, o]) for o, c in enumerate(classes)], axis=1)


def encode_labels(y):
    """classes_ (computed: one ``dask.compute`` of per-output uniques) and
    the lazy (n, n_outputs) class codes."""
    import dask

    from sklearn.utils.multiclass import check_classification_targets

    y2 = y if y.ndim == 2 else y[:, None]
    classes = list(dask.compute(*[da.unique(y2[:, o]) for o in range(y2.shape[1])]))
    for c in classes:  # continuous targets are refused, as on NumPy input
        check_classification_targets(c)
    codes = y.map_blocks(_encode, classes, dtype=np.intp,
                         chunks=(y.chunks[0], (len(classes),)), new_axis=[1] if y.ndim == 1 else None)
    codes = codes.persist()
    return (classes if y.ndim == 2 else classes[0]), codes


def _argkmin_block(x, y, offset, k, metric, params):
    """One (query block, index shard) task: the shard's k nearest, with
    indices made global."""
    from fastml.kernels import argkmin_chunk

    if y.shape[0] == 0:  # an empty shard (e.g. after boolean indexing)
        return (np.full((x.shape[0], k), np.inf, dtype=np.result_type(x, y)),
                np.full((x.shape[0], k), -1, dtype=np.int64))
    d, i = argkmin_chunk(x, y, min(k, y.shape[0]), metric, n_threads=1, **params)
    if d.shape[1] < k:  # a shard smaller than k: pad with "no neighbour"
        pad = k - d.shape[1]
        d = np.pad(d, ((0, 0), (0, pad)), constant_values=np.inf)
        i = np.pad(i, ((0, 0), (0, pad)), constant_values=-1)
    return d, np.where(i >= 0, i + offset, -1)


def _merge_all(parts):
    from functools import reduce
    from fastml.kernels import merge_argkmin

    return reduce(merge_argkmin, parts)


def _finish_argkmin(result, start, query_is_train, dtype):
    d, i = result
    if query_is_train:
        d, i = drop_self(d, i, start)
    return d.astype(dtype, copy=False), i


def kneighbors(Q, index, k, metric, params, query_is_train=False, fan_in=4):
    """Lazy k nearest neighbours of the rows of Q among the rows of index.

    Each (query chunk, index shard) pair runs ``argkmin_chunk`` with the
    shard's global offset; ``merge_argkmin`` tree-reduces the shards,
    ``fan_in`` results per merge.  With ``query_is_train`` Q is the index itself,
    searched for k neighbours, each query's own index then removed.

    Returns
    -------
    distances, indices : Dask arrays of shape (n_queries, k - query_is_train)
        Chunked as Q's rows.
    """
    Q = as_float_dask_array(Q, "X")
    index = as_float_dask_array(index, "index")
    dtype = np.result_type(Q.dtype, index.dtype)
    name = tokenize(Q, index, k, metric, params, query_is_train)
    work = "fastml-argkmin-" + name  # the per-pair searches and their merges
    dist_name, ind_name = "fastml-kneighbors-dist-" + name, "fastml-kneighbors-ind-" + name
    block = partial(_argkmin_block, k=k, metric=metric, params=params)
    y_keys = [row[0] for row in index.__dask_keys__()]
    offsets = np.cumsum((0,) + index.chunks[0][:-1]).tolist()
    starts = np.cumsum((0,) + Q.chunks[0][:-1]).tolist()
    dsk, dsk_dist, dsk_ind = {}, {}, {}
    for i, q_key in enumerate(row[0] for row in Q.__dask_keys__()):
        keys = []
        for j, (y_key, offset) in enumerate(zip(y_keys, offsets)):
            dsk[(work, "part", i, j)] = (block, q_key, y_key, offset)
            keys.append((work, "part", i, j))
        level = 0
        while len(keys) > 1:
            groups = [keys[g:g + fan_in] for g in range(0, len(keys), fan_in)]
            keys = []
            for g, group in enumerate(groups):
                dsk[(work, "merge", i, level, g)] = (_merge_all, group)
                keys.append((work, "merge", i, level, g))
            level += 1
        dsk[(work, "final", i)] = (_finish_argkmin, keys[0], starts[i], query_is_train, dtype)
        dsk_dist[(dist_name, i, 0)] = (getitem, (work, "final", i), 0)
        dsk_ind[(ind_name, i, 0)] = (getitem, (work, "final", i), 1)
    graph = HighLevelGraph.from_collections(work, dsk, dependencies=[Q, index])
    chunks = (Q.chunks[0], (k - query_is_train,))
    arrays = []
    for out_name, out_dsk, out_dtype in ((dist_name, dsk_dist, dtype),
                                         (ind_name, dsk_ind, np.int64)):
        out_graph = HighLevelGraph(
            {**graph.layers, out_name: out_dsk},
            {**graph.dependencies, out_name: {work}},
        )
        arrays.append(da.Array(out_graph, out_name, chunks=chunks,
                               meta=np.empty((0, 0), out_dtype)))
    distances, indices = arrays
    return distances, indices


def _as_single_chunk(y):
    if not isinstance(y, da.Array):
        return da.from_array(y, chunks=y.shape)
    return y.rechunk(-1)


def _votes_block(distances, indices, codes, output, n_classes, weights):
    return class_votes(indices, codes[:, output], n_classes, neighbor_weights(distances, weights))


def neighbor_votes(distances, indices, codes, output, n_classes, weights):
    """Lazy class probabilities (n_queries, n_classes) of one output from
    lazy kneighbors results and the (n_samples_fit, n_outputs) class codes."""
    func = partial(_votes_block, output=output, n_classes=n_classes, weights=weights)
    return da.blockwise(func, "ic", distances, "ij", indices, "ij", _as_single_chunk(codes), "mo",
                        new_axes={"c": n_classes}, concatenate=True, dtype=np.float64,
                        meta=np.empty((0, 0), np.float64))


def _means_block(distances, indices, y, weights):
    return target_means(distances, indices, y, weights)


def neighbor_means(distances, indices, y, weights):
    """Lazy (weighted) mean targets (n_queries, n_outputs)."""
    y = _as_single_chunk(y)
    out_dtype = np.result_type(y.dtype, np.float64) if weights not in (None, "uniform") else (
        np.mean(np.zeros((1, 1, 1), y.dtype), axis=1).dtype)
    return da.blockwise(partial(_means_block, weights=weights), "io", distances, "ij",
                        indices, "ij", y, "mo", concatenate=True, dtype=out_dtype,
                        meta=np.empty((0, 0), out_dtype))


def _take_classes(codes, classes):
    return classes[codes]


def predict_classes(probas, classes):
    """Lazy labels of the most probable class, one column per output.

    probas : list of lazy (n_queries, n_classes_o) arrays; classes : list of
    the matching classes_ arrays.  Returns (n_queries, n_outputs).
    """
    columns = [p.argmax(axis=1).map_blocks(_take_classes, c, dtype=c.dtype)
               for p, c in zip(probas, classes)]
    return da.stack(columns, axis=1)


# ------------------------------------------------------------ column statistics

def _tree_reduce(X, chunk_func, combine_all, fan_in):
    """``chunk_func`` of every block of X, merged by ``combine_all`` (a list
    of results in, one out) in a tree of fan-in ``fan_in``; one
    ``dask.compute``."""
    import dask

    parts = [dask.delayed(chunk_func)(block) for block in X.to_delayed().ravel()]
    while len(parts) > 1:
        parts = [dask.delayed(combine_all)(parts[g:g + fan_in])
                 for g in range(0, len(parts), fan_in)]
    (result,) = dask.compute(parts[0])
    return result


def column_moments(X, deviations=True, fan_in=8):
    """``kernels.Moments`` of a Dask array's columns: ``moments_chunk`` per
    block, merged by ``combine_moments`` in a tree; one ``dask.compute``."""
    from fastml.kernels import moments_chunk

    X = as_float_dask_array(X, "X")
    return _tree_reduce(X, partial(moments_chunk, deviations=deviations), _combine_all,
                        fan_in)


def column_max_abs(X, fan_in=8):
    """``max_abs_chunk`` of a Dask array's columns, merged with ``np.fmax``
    in a tree; one ``dask.compute``."""
    from fastml.kernels import max_abs_chunk

    X = as_float_dask_array(X, "X")
    return _tree_reduce(X, max_abs_chunk, _fmax_all, fan_in)


def _fmax_all(parts):
    return np.fmax.reduce(np.stack(parts))


def _combine_all(parts):
    from functools import reduce
    from fastml.kernels import combine_moments

    return reduce(combine_moments, parts)


def column_quantile_summary(X, size=None, fan_in=8):
    """``kernels.QuantileSummary`` of a Dask array's columns:
    ``quantile_summary_chunk`` per block, combined in a tree; a combined
    summary over ``8 * size`` entries in a column is compressed to
    ``4 * size`` (each compression adds at most ``n / (8 (size - 1)) + 1``
    to its stated ``rank_error()``).  One ``dask.compute``."""
    from fastml.kernels import SUMMARY_SIZE, quantile_summary_chunk

    size = SUMMARY_SIZE if size is None else size
    X = as_float_dask_array(X, "X")
    return _tree_reduce(X, partial(quantile_summary_chunk, size=size),
                        partial(_combine_summaries, size=size), fan_in)


def _combine_summaries(parts, size):
    from fastml.kernels import combine_quantile_summaries, compress_quantile_summary

    summary = combine_quantile_summaries(*parts) if len(parts) > 1 else parts[0]
    if np.diff(summary.offsets).max(initial=0) > 8 * size:
        summary = compress_quantile_summary(summary, 4 * size)
    return summary


def apply_columns(X, kernel, a, b, **kw):
    """Lazy ``kernel(block, a, b, **kw)`` over the row blocks of X (one
    feature chunk); same dtype and chunks."""
    X = as_float_dask_array(X, "X", allow_unknown_rows=True)
    return X.map_blocks(_apply_block, kernel=kernel, a=np.asarray(a), b=np.asarray(b), kw=kw,
                        dtype=X.dtype, meta=np.empty((0, 0), X.dtype))


def _apply_block(block, kernel, a, b, kw):
    return kernel(block, a, b, n_threads=1, **kw)
