"""Lazy nearest neighbours: ``argkmin_chunk`` per (query block, index
shard), merged by ``merge_argkmin`` in a tree; votes and means per block."""
from functools import partial
from operator import getitem

import numpy as np
import dask.array as da
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from fastml.kernels.neighbors import class_votes, drop_self, neighbor_weights, target_means
from fastml._dask.arrays import as_dask_labels, as_float_dask_array, _as_single_chunk


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


def fit_index(X, y, metric, params, *, estimator, supervised):
    """The index of a nearest-neighbour estimator fitted on Dask input.

    Parameters
    ----------
    X, y : Dask arrays (or array-likes) of the training data and labels
    metric : str or None
        Canonical metric name; None for a callable metric.
    params : dict
        The metric's parameters; seuclidean's ``V`` and mahalanobis' ``VI``,
        when missing, are computed from X.
    estimator : str
        The estimator's class name, for error messages.
    supervised : bool
        Whether y is required.

    Returns
    -------
    X, y : Dask arrays persisted on the workers (X with one feature chunk)
    params : dict
        With ``V`` / ``VI`` computed (the only data brought back).
    """
    import dask
    from fastml._dask.distances import inverse_covariance
    from fastml._validation.metrics import check_enough_samples_for_covariance

    X = as_float_dask_array(X, "X")
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
            f"required by {estimator}."
        )
    params = dict(params)
    if metric == "seuclidean" and params.get("V") is None:
        params["V"] = X.var(axis=0, ddof=1, dtype=np.float64)
    if metric == "mahalanobis" and params.get("VI") is None:
        check_enough_samples_for_covariance(*X.shape)
        params["VI"] = inverse_covariance(X)
    if supervised:
        if y is None:
            raise ValueError(f"{estimator} requires y to be passed, but the target y is None.")
        y = as_dask_labels(y, X)
    X, y = dask.persist(X, y)
    (params,) = dask.compute(params)
    return X, y, params
