"""Distances and nearest neighbours among sparse rows (``scipy.sparse``
CSR/CSC): a TF-IDF or hashed-feature matrix never densified.

A row of X meets every row of Y through Y's transpose: for each feature of
x, the rows of Y that hold it add ``x_f * y_f`` to their dot product (for
L1, the overlap ``|x_f| + |y_f| - |x_f - y_f|``), so the work is the number
of such (feature, row) pairs -- what the rows share -- not ``m * d``.  The
sums become distances through an identity (``|x|^2 + |y|^2 - 2 x.y``,
``1 - x.y / (|x| |y|)``, ``|x|_1 + |y|_1 - overlap``), and the pairs too
close for the identity's rounding are recomputed from differences.  Then
every distance is kept (``sparse_pairwise_distances_chunk``), or each row's
k best in a heap as for dense rows (``argkmin_sparse_chunk``), or those
within a radius (``radius_neighbors_sparse_chunk``).  One set of compiled
steps serves the three (``_kernels/_distances.pyx``).
"""
import numbers
import warnings

import numpy as np
from scipy import sparse

from fastml._kernels import _distances
from fastml._threads import threads_for
from fastml._validation import as_float_block, check_positive_int
from fastml._validation.metrics import SlowMetricWarning, is_distance_metric
from fastml.kernels._plan import (_GEMM_TARGET_ERROR, finish_heaps, new_heaps, offer_in_blocks,
                                  within_radius_in_blocks)
from fastml.kernels.sparse import as_sparse_block

__all__ = ["SparseIndex", "sparse_pairwise_distances_chunk", "argkmin_sparse_chunk",
           "radius_neighbors_sparse_chunk"]

# A feature held by at least this share of the rows of Y gets a dense column
# in the SparseIndex, for at most DENSE_BYTES in all: the common words of a
# text collection, whose posting lists are most of the work (1000 TF-IDF
# queries against 100 000 rows: 12 such words, 0.50 -> 0.42 s; a share of
# 1/4 or 1/8 streams more columns than it saves).
DENSE_SHARE = 1 / 2
DENSE_BYTES = 64 << 20

# metric -> what the compiled search ranks on
SPARSE_METRICS = {"euclidean": "sqeuclidean", "l2": "sqeuclidean", "sqeuclidean": "sqeuclidean",
                  "cosine": "cosine", "cityblock": "l1", "manhattan": "l1", "l1": "l1"}


def argkmin_sparse_chunk(X, Y, k, metric="euclidean", *, n_threads=1, **params):
    """The k nearest rows of sparse Y for each row of sparse X.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d)
        Queries, any sparse format (CSR is used as it is); float32 or
        float64 values (other numeric dtypes become float64), finite.  A
        dense array is taken too (made CSR).
    Y : scipy.sparse matrix or array of shape (m, d), or SparseIndex
        The rows searched (or a dense array); a :class:`SparseIndex` keeps
        what a search prepares of Y for the next one.
    k : int
        Neighbours per query, >= 1.  If Y has fewer than k rows, the
        missing neighbours are reported as distance ``inf``, index -1.
    metric : {"euclidean", "l2", "sqeuclidean", "cosine", "cityblock", "manhattan", \
"l1"} or callable, default="euclidean"
        The cosine distance of an all-zero row is 1, as in scikit-learn.  A
        callable (with ``**params``) runs as scikit-learn runs it on sparse
        rows, one Python call per pair, with a ``SlowMetricWarning``.
    n_threads : int, default=1
        Threads for this call (over rows of X).

    Returns
    -------
    distances : ndarray of shape (n, k)
        float32 when X and Y both are, else float64; ascending along each
        row, each computed from differences in float64.
    indices : ndarray of shape (n, k), int64
        Rows of Y; among equal distances the smaller index comes first.

    Notes
    -----
    Extra memory: Y's transpose (the size of Y) and two rows of m float64
    per thread.  Neighbours whose distances differ by less than the
    identity's rounding (about 1e-13 relative, for rows not recomputed) may
    be ranked either way, as with dense GEMM tiles.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import argkmin_sparse_chunk
    >>> Y = sparse.csr_array(np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]]))
    >>> X = sparse.csr_array(np.array([[1.9, 0.0, 0.0]]))
    >>> d, i = argkmin_sparse_chunk(X, Y, 2)
    >>> i
    array([[1, 0]])
    >>> np.round(d, 3)
    array([[0.1  , 2.147]])

    Over the shards of a sparse index held as a Dask array of
    ``scipy.sparse`` blocks: each shard's answer, its indices made global
    with the shard's offset, then merged (see :func:`merge_argkmin`):

    >>> import dask
    >>> import dask.array as da
    >>> from functools import reduce
    >>> from fastml.kernels import merge_argkmin
    >>> index = sparse.random(1000, 50, density=0.1, format="csr", random_state=0)
    >>> shards = da.from_array(index, chunks=(300, 50), asarray=False)
    >>> Q = index[:5]
    >>> offsets = np.cumsum((0,) + shards.chunks[0][:-1])
    >>> parts = dask.compute(*[dask.delayed(argkmin_sparse_chunk)(Q, block, 3)
    ...                        for block in shards.to_delayed().ravel()])
    >>> d, i = reduce(merge_argkmin, [(d, i + o) for (d, i), o in zip(parts, offsets)])
    >>> np.array_equal(i, argkmin_sparse_chunk(Q, index, 3)[1])
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    k = check_positive_int(k, "k")
    if callable(metric) or is_distance_metric(metric):
        X, Y = _python_metric_rows(X, Y, metric, params)
        heap_d, heap_i = new_heaps(X.shape[0], k)
        offer_in_blocks(lambda A, B: _python_distances(A, B, metric, params), X, Y, heap_d,
                        heap_i, n_threads)
        return finish_heaps(heap_d, heap_i, n_threads)
    _no_params(metric, params)
    search = _Search(X, Y, metric)
    heap_d, heap_i = new_heaps(search.X.shape[0], k)
    _distances.argkmin_sparse(*search.operands(), heap_d, heap_i, n_threads)
    distances, indices = finish_heaps(heap_d, heap_i, n_threads)
    # the winners from differences; a recomputed value can reorder near-ties
    found = indices >= 0
    rows = np.broadcast_to(np.arange(indices.shape[0])[:, None], indices.shape)
    distances[found] = search.exact(rows[found], indices[found], distances[found], n_threads)
    order = np.lexsort((heap_i, distances), axis=-1)
    distances = np.take_along_axis(distances, order, axis=1)
    indices = np.take_along_axis(indices, order, axis=1)
    return distances.astype(search.dtype, copy=False), indices


def radius_neighbors_sparse_chunk(X, Y, radius, metric="euclidean", *, n_threads=1,
                                  sort_results=False, **params):
    """For each row of sparse X, the rows of sparse Y within ``radius``
    (distance <= radius).

    Parameters and results are :func:`radius_neighbors_chunk`'s (X, Y,
    metric and n_threads as in :func:`argkmin_sparse_chunk`).  The
    distances are float32 when X and Y both are, else float64; each comes
    from differences in float64, and the test ``<= radius`` is made on it.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import radius_neighbors_sparse_chunk
    >>> Y = sparse.csr_array(np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]]))
    >>> radius_neighbors_sparse_chunk(sparse.csr_array(np.array([[0.0, 2.5]])), Y, 1.5)
    (array([0, 2]), array([0, 2]), array([1.5, 0.5]))

    Row blocks of Dask queries of ``scipy.sparse`` blocks, each against the
    whole Y; each block's neighbour counts are ``np.diff(offsets)``:

    >>> import dask
    >>> import dask.array as da
    >>> Y = sparse.random(300, 40, density=0.2, format="csr", random_state=0)
    >>> Q = da.from_array(Y[:90], chunks=(30, 40), asarray=False)
    >>> parts = [dask.delayed(radius_neighbors_sparse_chunk)(block, Y, 1.0)
    ...          for block in Q.to_delayed().ravel()]
    >>> counts = np.concatenate([np.diff(p[0]) for p in dask.compute(*parts)])
    >>> np.array_equal(counts, np.diff(radius_neighbors_sparse_chunk(Y[:90], Y, 1.0)[0]))
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    if not isinstance(radius, numbers.Real) or not radius >= 0:
        raise ValueError(f"radius must be a non-negative number, got {radius!r}.")
    if callable(metric) or is_distance_metric(metric):
        return _python_radius(X, Y, radius, metric, params, sort_results)
    _no_params(metric, params)
    search = _Search(X, Y, metric)
    # candidates by the identity with room for its rounding, then the test
    # made again on the distances from differences
    bound = radius * radius if search.squared else radius
    bound = bound * (1 + 1e-9) + 1e-300
    counts, indices, distances = _distances.radius_sparse(*search.operands(), bound, n_threads)
    rows = np.repeat(np.arange(search.X.shape[0]), counts)
    distances = search.exact(rows, indices, distances, n_threads)
    keep = distances <= radius
    rows, indices, distances = rows[keep], indices[keep], distances[keep]
    if sort_results:
        order = np.lexsort((indices, distances, rows))
        indices, distances = indices[order], distances[order]
    offsets = np.zeros(search.X.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=search.X.shape[0]), out=offsets[1:])
    return offsets, indices, distances.astype(search.dtype, copy=False)


def sparse_pairwise_distances_chunk(X, Y=None, metric="euclidean", *, n_threads=1):
    """Distances between the rows of sparse X and the rows of Y (sparse or
    dense), never densifying a sparse block.

    The same compiled steps as :func:`argkmin_sparse_chunk` (see the
    module's docstring), every distance kept: accumulated in float64, a
    pair whose result is within rounding of the norms recomputed exactly
    from the differences of the two rows, as fastml's dense GEMM tiles do,
    so every distance is within about 1e-13 (float64) or 1e-5 (float32)
    relative error, and (x, y), (y, x) get the same bits.  Rows of X are
    spread over ``n_threads`` threads.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d), or ndarray
        Any sparse format (CSR is used as it is); float32 or float64.
    Y : scipy.sparse matrix or array, ndarray or SparseIndex, of shape (m, d), default=None
        None: Y = X, with an exactly zero diagonal.
    metric : {"euclidean", "l2", "sqeuclidean", "cosine", "manhattan", "cityblock", "l1"}
        The cosine distance of an all-zero row is 1, as in scikit-learn.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n, m)
        float32 when X and Y both are float32 (manhattan: always float64,
        as scikit-learn's sparse manhattan distances), else float64.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import sparse_pairwise_distances_chunk
    >>> X = sparse.csr_array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]])
    >>> sparse_pairwise_distances_chunk(X, metric="euclidean")
    array([[0., 5.],
           [5., 0.]])
    >>> sparse_pairwise_distances_chunk(X, np.array([[3.0, 1.0, 4.0]]), metric="manhattan")
    array([[1.],
           [8.]])

    On Dask, one delayed call per block of rows of X, stacked:

    >>> import dask
    >>> X = sparse.random(400, 50, density=0.05, format="csr", random_state=0)
    >>> parts = [dask.delayed(sparse_pairwise_distances_chunk)(X[i:i + 100], X, "euclidean")
    ...          for i in range(0, 400, 100)]
    >>> D = np.vstack(dask.compute(*parts))
    >>> from sklearn.metrics.pairwise import euclidean_distances
    >>> np.allclose(D, euclidean_distances(X))
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    manhattan = isinstance(metric, str) and SPARSE_METRICS.get(metric) == "l1"
    search = _Search(X, X if Y is None else Y, metric, float64=manhattan)
    n, m = search.X.shape[0], search.index.shape[0]
    out = np.empty((n, m), dtype=search.dtype)
    threads = threads_for(n * (m + search.X.nnz * max(1, search.index.rows.nnz)
                               // max(1, search.X.shape[1])), n_threads)
    _distances.sparse_distance_rows(*search.operands(target=search.dtype), search.squared, out,
                                    threads)
    if Y is None:
        np.fill_diagonal(out, 0)
    return out


def _no_params(metric, params):
    if params:
        raise ValueError(f"metric {metric!r} takes no parameters with sparse input; got "
                         f"{sorted(params)}.")


def _python_metric_rows(X, Y, metric, params):
    """X and Y (CSR) for a callable metric or a DistanceMetric object, which
    run as scikit-learn runs them on sparse rows (its own code), with a
    SlowMetricWarning."""
    if is_distance_metric(metric):
        how = (f"a DistanceMetric object ({type(metric).__name__}) on sparse input is "
               "computed by its own pairwise method (scikit-learn's code)")
    else:
        how = (f"the callable metric {getattr(metric, '__name__', repr(metric))!r} on sparse "
               "input is called in plain Python, one call per pair of sparse rows "
               "(scikit-learn's speed)")
    warnings.warn(f"{how}; fastml's compiled sparse kernels cover "
                  f"{', '.join(sorted(SPARSE_METRICS))}.", SlowMetricWarning, stacklevel=4)
    Y = Y.rows if isinstance(Y, SparseIndex) else Y
    return (A if sparse.issparse(A) and A.format == "csr" else sparse.csr_matrix(A)
            for A in (X, Y))


def _python_distances(A, B, metric, params):
    """A block of a callable metric's (or a DistanceMetric object's)
    distances between sparse rows, by scikit-learn's own code (C-contiguous
    float64)."""
    from sklearn.metrics import pairwise_distances

    D = metric.pairwise(A, B) if is_distance_metric(metric) else pairwise_distances(
        A, B, metric=metric, **params)
    return np.ascontiguousarray(D, dtype=np.float64)


def _python_radius(X, Y, radius, metric, params, sort_results):
    """radius_neighbors_sparse_chunk for a callable metric (or a
    DistanceMetric object): blocks of rows of X against Y."""
    X, Y = _python_metric_rows(X, Y, metric, params)
    return within_radius_in_blocks(lambda A, B: _python_distances(A, B, metric, params), X, Y,
                                   radius, sort_results)


class SparseIndex:
    """Sparse rows made ready to be searched again and again: canonical CSR
    (sorted, unique indices; finite), their transpose (for each feature,
    the rows holding it) and the rows' statistics, each made once, when
    first needed.  Pass it as ``Y`` to :func:`argkmin_sparse_chunk` or
    :func:`radius_neighbors_sparse_chunk` instead of the matrix: the
    neighbours estimators keep one for their sparse training set.

    Parameters
    ----------
    Y : scipy.sparse matrix or array of shape (m, d)

    Examples
    --------
    >>> from scipy import sparse
    >>> from fastml.kernels import SparseIndex, argkmin_sparse_chunk
    >>> Y = sparse.random(500, 30, density=0.2, format="csr", random_state=0)
    >>> index = SparseIndex(Y)
    >>> d, i = argkmin_sparse_chunk(Y[:3], index, 2)
    >>> i[:, 0]
    array([0, 1, 2])
    """

    def __init__(self, Y):
        self.rows = _canonical(Y, "Y")
        self.shape, self.dtype = self.rows.shape, self.rows.dtype
        self._transposed, self._dense, self._stats = None, None, {}

    def __getstate__(self):   # the caches are remade where the index is unpickled
        return {**self.__dict__, "_transposed": None, "_dense": None, "_stats": {}}

    def dense_columns(self):
        """(slot, columns): the features held by at least a share
        ``DENSE_SHARE`` of the rows, as dense float64 columns (F, m) --
        added in one vectorised pass instead of a scattered walk -- within
        ``DENSE_BYTES``, most common first; ``slot[f]`` is feature f's row
        of ``columns``, -1 for the others."""
        if self._dense is None:
            transposed, (m, d) = self.transposed(), self.shape
            lengths = np.diff(transposed.indptr)
            common = np.flatnonzero(lengths >= DENSE_SHARE * max(m, 1))
            common = common[np.argsort(-lengths[common], kind="stable")]
            common = common[:DENSE_BYTES // (8 * max(m, 1))]
            slot = np.full(d, -1, np.intc)
            slot[common] = np.arange(common.size, dtype=np.intc)
            columns = np.zeros((max(common.size, 1), max(m, 1)))
            for c, f in enumerate(common):
                a, b = transposed.indptr[f], transposed.indptr[f + 1]
                columns[c, transposed.indices[a:b]] = transposed.data[a:b]
            self._dense = slot, columns
        return self._dense

    def transposed(self):
        """For each feature, the rows holding it, in increasing order (CSR)."""
        if self._transposed is None:
            transposed = self.rows.T.tocsr()
            if not transposed.has_sorted_indices:
                transposed.sort_indices()
            self._transposed = transposed
        return self._transposed

    def stat(self, ranked):
        if ranked not in self._stats:
            self._stats[ranked] = _row_stat(self.rows, ranked)
        return self._stats[ranked]


class _Search:
    """X and Y made ready for the compiled sparse searches: canonical CSR
    of one dtype, one index dtype, Y's transpose, the rows' statistics."""

    def __init__(self, X, Y, metric, float64=False):
        if not isinstance(metric, str) or metric not in SPARSE_METRICS:
            raise ValueError(f"metric={metric!r} is not available for sparse rows; use one of "
                             f"{sorted(SPARSE_METRICS)}, or densify X and Y (X.toarray()).")
        index = Y if isinstance(Y, SparseIndex) else SparseIndex(Y)
        X = _canonical(X, "X")
        if X.shape[1] != index.shape[1]:
            raise ValueError(f"X and Y must have the same number of features, but X has "
                             f"{X.shape[1]} and Y has {index.shape[1]}.")
        both32 = X.dtype == index.dtype == np.float32 and not float64
        self.dtype = np.dtype(np.float32 if both32 else np.float64)
        self.X, self.index = X, index
        big = max(X.nnz, index.rows.nnz, X.shape[1] + 1, index.shape[0] + 1,
                  X.shape[0] + 1) >= 2 ** 31 - 1
        self.index_dtype = np.int64 if big else np.int32
        ranked = SPARSE_METRICS[metric]
        self.kind = _distances.SPARSE_KINDS[ranked]
        self.squared = metric in ("euclidean", "l2")   # ranked on squares
        self.x_stat, self.y_stat = _row_stat(X, ranked), index.stat(ranked)

    def operands(self, target=np.float64):
        """The arguments the compiled searches share; pairs are recomputed
        from differences where the identity's rounding may exceed the
        relative error ``_GEMM_TARGET_ERROR[target]`` (float64's for
        rankings: the neighbours must be the right ones)."""
        shared = min(np.diff(self.X.indptr).max(initial=0),
                     np.diff(self.index.rows.indptr).max(initial=0))
        tau = min(1.0, np.finfo(np.float64).eps * 4 * np.sqrt(max(shared, 1))
                  / _GEMM_TARGET_ERROR[np.dtype(target)])
        return (*self._arrays(self.X), *self._arrays(self.index.rows),
                *self._arrays(self.index.transposed()), *self.index.dense_columns(),
                self.kind, self.x_stat, self.y_stat, tau)

    def exact(self, x_rows, y_rows, values, n_threads):
        """The distances of the pairs (x_rows, y_rows) from differences
        (values: the identity's), float64, square roots taken."""
        out = np.array(values, dtype=np.float64)
        _distances.sparse_pair_distances(
            *self._arrays(self.X), *self._arrays(self.index.rows), self.kind,
            np.ascontiguousarray(x_rows, np.intp), np.ascontiguousarray(y_rows, np.intp), out,
            n_threads)
        return np.sqrt(out, out=out) if self.squared else out

    def _arrays(self, A):
        """(data, indices, indptr) of a CSR matrix in the search's dtypes
        (data and indices never empty: the kernel takes their first
        address)."""
        data = A.data.astype(self.dtype, copy=False)
        indices = A.indices.astype(self.index_dtype, copy=False)
        if data.size == 0:
            data, indices = np.zeros(1, self.dtype), np.zeros(1, self.index_dtype)
        return data, indices, A.indptr.astype(self.index_dtype, copy=False)


def _canonical(A, name):
    """A (sparse, or dense made CSR) as a finite CSR matrix with sorted,
    unique indices, float32 or float64 (copied only when needed)."""
    if not sparse.issparse(A):
        A = sparse.csr_matrix(as_float_block(A, name))
    A = as_sparse_block(A, name, formats=("csr",), canonical=True)
    if not np.isfinite(A.data).all():
        raise ValueError(f"{name} contains NaN or infinity; nearest neighbours need finite "
                         f"values.")
    return A


def _row_stat(A, kind):
    """The row statistic of a CSR matrix the search's identity needs, (n,)
    float64: |row|^2 (sqeuclidean), 1 / |row| with 0 for a zero row
    (cosine), |row|_1 (l1); sums in float64."""
    values = A.data.astype(np.float64)
    values = np.abs(values) if kind == "l1" else values * values
    out = np.zeros(A.shape[0])
    filled = np.diff(A.indptr) > 0   # reduceat would give an empty row its next value
    if filled.any():
        out[filled] = np.add.reduceat(values, A.indptr[:-1][filled])
    if kind == "cosine":
        out = np.divide(1.0, np.sqrt(out), out=np.zeros_like(out), where=out > 0)
    return out
