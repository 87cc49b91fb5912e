"""Nearest neighbours of blocks of rows, and merges of partial results.

``argkmin_chunk`` finds each query's k nearest rows of one block of the
index; ``merge_argkmin`` merges the results over two blocks, so a search
over a row-chunked index is a map followed by a tree reduction.
``radius_neighbors_chunk`` finds every row within a radius.  The last four
functions post-process k-nearest results block by block, for the in-memory
and the Dask paths of ``fastml.neighbors`` alike: removing each training
point from its own neighbours, neighbour weights, class votes and target
means.
"""
import numbers

import numpy as np

from fastml._validation import check_positive_int
from fastml.kernels.distances import check_blocks

__all__ = [
    "argkmin_chunk",
    "merge_argkmin",
    "radius_neighbors_chunk",
    "drop_self",
    "neighbor_weights",
    "class_votes",
    "target_means",
]


def argkmin_chunk(X, Y, k, metric="euclidean", *, n_threads=1, **params):
    """For each row of X, its k nearest rows of Y.

    Distances are computed tile by tile and offered at once to a per-row
    top-k heap: the (n, m) distance matrix never exists, and the extra
    memory is one tile per thread plus the (n, k) result.  Euclidean ranks
    on squared distances and returns the winners' distances recomputed from
    differences in float64.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Queries: float32 or float64 (other numeric dtypes become float64),
        any layout, finite.
    Y : ndarray of shape (m, d)
        The rows searched (an index, or one shard of it).
    k : int
        Neighbours per query, >= 1.  If Y has fewer than k rows, the
        missing neighbours are reported as distance ``inf``, index -1.
    metric : str or callable, default="euclidean"
        As in :func:`pairwise_distances_chunk`, except that the cosine
        distance of an all-zero row is 1, as in scikit-learn (``cdist``
        gives NaN).
    n_threads : int, default=1
        Threads for this call (over blocks of X rows).  Keep 1 inside Dask
        tasks.
    **params
        Metric parameters, as in :func:`pairwise_distances_chunk`.

    Returns
    -------
    distances : ndarray of shape (n, k)
        The dtype of X and Y, ascending along each row.
    indices : ndarray of shape (n, k), int64
        Rows of Y; among equal distances the smaller index comes first.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import argkmin_chunk
    >>> Y = np.array([[0.0], [1.0], [3.0], [4.0]])
    >>> argkmin_chunk(np.array([[2.9], [0.5]]), Y, k=2)
    (array([[0.1, 1.1],
           [0.5, 0.5]]), array([[2, 3],
           [0, 1]]))

    Over the shards of a Dask index: each shard's answer, its indices made
    global with the shard's offset, then merged (see :func:`merge_argkmin`).

    >>> import dask
    >>> import dask.array as da
    >>> from functools import reduce
    >>> from fastml.kernels import merge_argkmin
    >>> rng = np.random.default_rng(0)
    >>> index = da.from_array(rng.normal(size=(1000, 4)), chunks=(300, 4))
    >>> Q = rng.normal(size=(5, 4))
    >>> offsets = np.cumsum((0,) + index.chunks[0][:-1])
    >>> parts = [dask.delayed(argkmin_chunk)(Q, block, 3)
    ...          for block in index.to_delayed().ravel()]
    >>> parts = [(d, i + off) for (d, i), off in zip(dask.compute(*parts), offsets)]
    >>> d, i = reduce(merge_argkmin, parts)
    >>> np.array_equal(i, argkmin_chunk(Q, index.compute(), 3)[1])
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    k = check_positive_int(k, "k")
    X, Y, request = check_blocks(X, Y, metric, params, finite=True)
    return request.argkmin(X, Y, k, n_threads)


def merge_argkmin(a, b):
    """Merge two k-nearest results over different rows of the index.

    Parameters
    ----------
    a, b : tuple (distances, indices)
        Results of :func:`argkmin_chunk` for the same queries against two
        disjoint sets of index rows, with the indices already made global
        (shard offset added).  Shapes (n, ka) and (n, kb).

    Returns
    -------
    distances, indices : ndarrays of shape (n, max(ka, kb))
        The nearest of both, sorted by distance, ties by the smaller index;
        missing neighbours (index -1) last.  The merge is associative and
        commutative, so any tree of shards gives the unsharded answer.
    """
    (da_, ia), (db, ib) = a, b
    if da_.shape[0] != db.shape[0]:
        raise ValueError(
            f"merge_argkmin needs results for the same queries, got {da_.shape[0]} "
            f"and {db.shape[0]} rows."
        )
    k = max(da_.shape[1], db.shape[1])
    d = np.concatenate([da_, db], axis=1)
    i = np.concatenate([ia, ib], axis=1).astype(np.int64, copy=False)
    # missing neighbours (-1) sort after every real index of equal distance
    tie_key = np.where(i < 0, np.iinfo(np.int64).max, i)
    order = np.lexsort((tie_key, d), axis=-1)[:, :k]
    return (np.take_along_axis(d, order, axis=1).astype(np.result_type(da_, db), copy=False),
            np.take_along_axis(i, order, axis=1))


def radius_neighbors_chunk(X, Y, radius, metric="euclidean", *, n_threads=1,
                           sort_results=False, **params):
    """For each row of X, the rows of Y within ``radius`` (distance <= radius).

    Distances are computed in blocks of bounded size (about 32 MB at a
    time), never as the whole (n, m) matrix.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (m, d)
    radius : float
        >= 0.
    metric, n_threads, **params
        As in :func:`argkmin_chunk` (a zero row is at cosine distance 1).
    sort_results : bool, default=False
        Sort each row's neighbours by distance (ties by index); otherwise
        they come in increasing index order.

    Returns
    -------
    offsets : ndarray of shape (n + 1,), int64
        Row i's neighbours are ``indices[offsets[i]:offsets[i + 1]]``.
    indices : ndarray, int64
    distances : ndarray
        The dtype of X and Y.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import radius_neighbors_chunk
    >>> Y = np.array([[0.0], [1.0], [3.0]])
    >>> radius_neighbors_chunk(np.array([[0.9], [5.0]]), Y, radius=1.0)
    (array([0, 2, 2]), array([0, 1]), array([0.9, 0.1]))
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if not isinstance(radius, numbers.Real) or not radius >= 0:
        raise ValueError(f"radius must be a non-negative number, got {radius!r}.")
    X, Y, request = check_blocks(X, Y, metric, params, finite=True)
    n, m = X.shape[0], Y.shape[0]
    rows = max(1, min(n, (1 << 22) // max(m, 1)))
    counts, indices, distances = [np.zeros(0, np.int64)], [], []
    for x0 in range(0, n, rows):
        D = request.compute(X[x0:x0 + rows], Y, n_threads)
        r, c = np.nonzero(D <= radius)
        counts.append(np.bincount(r, minlength=D.shape[0]))
        indices.append(c.astype(np.int64))
        distances.append(D[r, c])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    distances = np.concatenate(distances) if distances else np.zeros(0, X.dtype)
    if sort_results:
        row = np.repeat(np.arange(n), np.diff(offsets))
        order = np.lexsort((indices, distances, row))
        indices, distances = indices[order], distances[order]
    return offsets, indices, distances.astype(X.dtype, copy=False)


def drop_self(distances, indices, start):
    """kneighbors(X=None): remove each query's own index from its k + 1
    neighbours (or, if duplicates pushed it out, the first one, a duplicate
    at distance 0, as scikit-learn does).

    Row r of the block is sample ``start + r`` of the index.
    """
    n, k1 = indices.shape
    own = indices == (start + np.arange(n))[:, None]
    # rows where the sample is not among its own neighbours lose the last one
    own[~own.any(axis=1), 0] = True
    keep = ~own
    return (distances[keep].reshape(n, k1 - 1), indices[keep].reshape(n, k1 - 1))


def neighbor_weights(distances, weights):
    """Neighbour weights of shape (n, k), or None for uniform weights.

    With ``weights="distance"`` a query at distance 0 from some neighbours
    gives those weight 1 and the others 0, as scikit-learn does.
    """
    if weights in (None, "uniform"):
        return None
    if weights == "distance":
        with np.errstate(divide="ignore"):
            w = 1.0 / np.asarray(distances, dtype=np.float64)
        exact = np.isinf(w)
        rows = exact.any(axis=1)
        w[rows] = exact[rows]
        return w
    return np.asarray(weights(distances), dtype=np.float64)


def class_votes(indices, y_codes, n_classes, weights):
    """Normalised (weighted) counts of each class among the neighbours.

    indices : (n, k) index rows; y_codes : (n_samples_fit,) class codes.
    """
    n = indices.shape[0]
    codes = y_codes[indices]
    rows = np.repeat(np.arange(n), indices.shape[1])
    if weights is not None and n and not np.all(weights.sum(axis=1) != 0):
        raise ValueError(
            "All neighbors of some sample is getting zero weights. Please modify "
            "'weights' to avoid this case if you are using a user-defined function."
        )
    counts = np.bincount(rows * n_classes + codes.ravel(),
                         weights=None if weights is None else weights.ravel(),
                         minlength=n * n_classes).reshape(n, n_classes).astype(np.float64)
    total = counts.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return counts / total


def target_means(distances, indices, y, weights):
    """(Weighted) mean of the neighbours' targets; y of shape (n_samples_fit, n_outputs)."""
    w = neighbor_weights(distances, weights)
    if w is None:
        return np.mean(y[indices], axis=1)
    return np.sum(y[indices] * w[:, :, None], axis=1) / np.sum(w, axis=1)[:, None]
