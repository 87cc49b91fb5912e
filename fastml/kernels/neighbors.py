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
from scipy import sparse

from fastml._validation import check_positive_int
from fastml.kernels._plan import within_radius_in_blocks
from fastml.kernels.distances import check_blocks
from fastml.kernels.sparse_distances import (SparseIndex, argkmin_sparse_chunk,
                                             radius_neighbors_sparse_chunk)

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
        any layout, finite.  With X or Y a ``scipy.sparse`` matrix, the
        search is :func:`argkmin_sparse_chunk`'s (a few metrics, no
        parameters).
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
    if _sparse_search(X, Y):
        return argkmin_sparse_chunk(X, Y, k, metric, n_threads=n_threads, **params)
    n_threads = check_positive_int(n_threads, "n_threads")
    k = check_positive_int(k, "k")
    X, Y, request = check_blocks(X, Y, metric, params, finite=True)
    return request.argkmin(X, Y, k, n_threads)


def _sparse_search(X, Y):
    """Whether the search is among sparse rows (either side sparse)."""
    return sparse.issparse(X) or sparse.issparse(Y) or isinstance(Y, SparseIndex)


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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import merge_argkmin
    >>> a = (np.array([[0.1, 0.5]]), np.array([[2, 0]]))
    >>> b = (np.array([[0.3, 0.9]]), np.array([[7, 5]]))
    >>> merge_argkmin(a, b)
    (array([[0.1, 0.3]]), array([[2, 7]]))

    A lazy tree reduction over the shards of a Dask index (indices made
    global with each shard's offset):

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import argkmin_chunk
    >>> rng = np.random.default_rng(0)
    >>> index = da.from_array(rng.normal(size=(400, 3)), chunks=(100, 3))
    >>> Q = rng.normal(size=(4, 3))
    >>> parts = [dask.delayed(argkmin_chunk)(Q, block, 2) for block in index.to_delayed().ravel()]
    >>> parts = [(p[0], p[1] + offset) for p, offset in zip(parts, range(0, 400, 100))]
    >>> while len(parts) > 1:
    ...     parts = [dask.delayed(merge_argkmin)(a, b) for a, b in zip(parts[::2], parts[1::2])]
    >>> d, i = parts[0].compute()
    >>> np.array_equal(i, argkmin_chunk(Q, index.compute(), 2)[1])
    True
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
        As in :func:`argkmin_chunk` (a zero row is at cosine distance 1;
        sparse X or Y: :func:`radius_neighbors_sparse_chunk`).
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

    Row blocks of Dask queries, each against the whole (in-memory) Y; each
    block's neighbour counts are ``np.diff(offsets)``:

    >>> import dask
    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.normal(size=(200, 2))
    >>> Q = da.from_array(rng.normal(size=(60, 2)), chunks=(20, 2))
    >>> parts = [dask.delayed(radius_neighbors_chunk)(block, Y, 0.5)
    ...          for block in Q.to_delayed().ravel()]
    >>> counts = np.concatenate([np.diff(p[0]) for p in dask.compute(*parts)])
    >>> np.array_equal(counts, np.diff(radius_neighbors_chunk(Q.compute(), Y, 0.5)[0]))
    True
    """
    if _sparse_search(X, Y):
        return radius_neighbors_sparse_chunk(X, Y, radius, metric, n_threads=n_threads,
                                             sort_results=sort_results, **params)
    n_threads = check_positive_int(n_threads, "n_threads")
    if not isinstance(radius, numbers.Real) or not radius >= 0:
        raise ValueError(f"radius must be a non-negative number, got {radius!r}.")
    X, Y, request = check_blocks(X, Y, metric, params, finite=True)
    offsets, indices, distances = within_radius_in_blocks(
        lambda A, B: request.compute(A, B, n_threads), X, Y, radius, sort_results)
    return offsets, indices, distances.astype(X.dtype, copy=False)


def drop_self(distances, indices, start):
    """kneighbors(X=None): remove each query's own index from its k + 1
    neighbours (or, if duplicates pushed it out, the first one, a duplicate
    at distance 0, as scikit-learn does).

    Row r of the block is sample ``start + r`` of the index.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import argkmin_chunk, drop_self
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> drop_self(*argkmin_chunk(X, X, k=2), start=0)
    (array([[1.],
           [1.],
           [2.]]), array([[1],
           [0],
           [1]]))

    On the row blocks of a Dask array, each block's ``start`` is its offset:

    >>> import dask
    >>> import dask.array as da
    >>> full = np.random.default_rng(0).normal(size=(300, 2))
    >>> Xd = da.from_array(full, chunks=(100, 2))
    >>> search = dask.delayed(lambda b, start: drop_self(*argkmin_chunk(b, full, 4), start))
    >>> parts = [search(b, start) for b, start in zip(Xd.to_delayed().ravel(), (0, 100, 200))]
    >>> i = np.concatenate([p[1] for p in dask.compute(*parts)])
    >>> np.array_equal(i, drop_self(*argkmin_chunk(full, full, 4), 0)[1])
    True
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import neighbor_weights
    >>> neighbor_weights(np.array([[0.5, 2.0], [0.0, 1.0]]), "distance")
    array([[2. , 0.5],
           [1. , 0. ]])

    Row-local, so ``map_blocks`` over row blocks of Dask distances:

    >>> import dask.array as da
    >>> D = da.from_array(np.arange(1.0, 13.0).reshape(6, 2), chunks=(2, 2))
    >>> W = D.map_blocks(neighbor_weights, "distance", dtype=np.float64)
    >>> np.allclose(W.compute(), neighbor_weights(D.compute(), "distance"))
    True
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import class_votes
    >>> y_codes = np.array([0, 1, 1, 0])
    >>> class_votes(np.array([[0, 1], [1, 2]]), y_codes, 2, None)
    array([[0.5, 0.5],
           [0. , 1. ]])

    Row-local, so ``map_blocks`` over row blocks of Dask neighbour indices:

    >>> import dask.array as da
    >>> I = da.from_array(np.random.default_rng(0).integers(0, 4, size=(6, 3)), chunks=(2, 3))
    >>> P = I.map_blocks(class_votes, y_codes, 2, None, chunks=(I.chunks[0], (2,)),
    ...                  dtype=np.float64)
    >>> np.allclose(P.compute(), class_votes(I.compute(), y_codes, 2, None))
    True
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
    """(Weighted) mean of the neighbours' targets; y of shape (n_samples_fit, n_outputs).

    ``weights`` is as in :func:`neighbor_weights`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import target_means
    >>> y = np.array([[1.0], [3.0], [5.0]])
    >>> target_means(np.array([[1.0, 3.0]]), np.array([[0, 2]]), y, "distance")
    array([[2.]])

    Distances and indices row-chunked alike, mapped together:

    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> D = da.from_array(rng.random((6, 2)), chunks=(3, 2))
    >>> I = da.from_array(rng.integers(0, 3, size=(6, 2)), chunks=(3, 2))
    >>> M = da.map_blocks(target_means, D, I, y, "distance", dtype=np.float64)
    >>> np.allclose(M.compute(), target_means(D.compute(), I.compute(), y, "distance"))
    True
    """
    w = neighbor_weights(distances, weights)
    if w is None:
        return np.mean(y[indices], axis=1)
    return np.sum(y[indices] * w[:, :, None], axis=1) / np.sum(w, axis=1)[:, None]
