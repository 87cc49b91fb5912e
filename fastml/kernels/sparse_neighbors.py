"""Nearest neighbours among sparse rows (``scipy.sparse`` CSR/CSC): a TF-IDF
or hashed-feature index searched without densifying it.

A row of X meets every row of Y through Y's transpose: for each feature of
x, the rows of Y that hold it add ``x_f * y_f`` to their dot product, so the
work is the number of such (feature, row) pairs -- what the rows share --
not ``m * d``.  The dot products become distances (the identity
``|x|^2 + |y|^2 - 2 x.y``, or ``1 - x.y / (|x| |y|)``), the pairs too close
for the identity's rounding are recomputed from differences, and each row's
k best are kept in a heap, as for dense rows.
"""
import numpy as np
from scipy import sparse

from fastml._kernels import _distances
from fastml._validation import check_positive_int
from fastml.kernels._plan import _GEMM_TARGET_ERROR, finish_heaps, new_heaps

__all__ = ["argkmin_sparse_chunk"]

# metric -> what the compiled search ranks on
SPARSE_METRICS = {"euclidean": "sqeuclidean", "sqeuclidean": "sqeuclidean", "cosine": "cosine",
                  "cityblock": "l1", "manhattan": "l1", "l1": "l1"}


def argkmin_sparse_chunk(X, Y, k, metric="euclidean", *, n_threads=1):
    """The k nearest rows of sparse Y for each row of sparse X.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d)
        Queries, any sparse format (CSR is used as it is); float32 or
        float64 values (other numeric dtypes become float64), finite.
    Y : scipy.sparse matrix or array of shape (m, d)
        The rows searched.
    k : int
        Neighbours per query, >= 1.  If Y has fewer than k rows, the
        missing neighbours are reported as distance ``inf``, index -1.
    metric : {"euclidean", "sqeuclidean", "cosine", "cityblock", "manhattan", "l1"}, \
default="euclidean"
        The cosine distance of an all-zero row is 1, as in scikit-learn.
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
    if metric not in SPARSE_METRICS:
        raise ValueError(f"metric={metric!r} is not available for sparse rows; use one of "
                         f"{sorted(SPARSE_METRICS)}, or densify X and Y (X.toarray()).")
    X, Y, index_dtype = _canonical_pair(X, Y)
    kind = _distances.SPARSE_KINDS[SPARSE_METRICS[metric]]
    x_stat, y_stat = (_row_stat(A, SPARSE_METRICS[metric]) for A in (X, Y))
    Yt = Y.T.tocsr()      # for each feature, the rows of Y holding it
    eps = np.finfo(np.float64).eps
    heap_d, heap_i = new_heaps(X.shape[0], k)
    x, y = _arrays(X, index_dtype), _arrays(Y, index_dtype)
    _distances.argkmin_sparse(*x, *y, *_arrays(Yt, index_dtype), kind, x_stat, y_stat,
                              eps / _GEMM_TARGET_ERROR[np.dtype(np.float64)], heap_d, heap_i,
                              n_threads)
    distances, indices = finish_heaps(heap_d, heap_i, n_threads)
    # the winners from differences; a recomputed value can reorder near-ties
    _distances.sparse_pair_distances(*x, *y, kind, heap_i, distances, n_threads)
    if metric == "euclidean":
        np.sqrt(distances, out=distances)
    order = np.lexsort((heap_i, distances), axis=-1)
    distances = np.take_along_axis(distances, order, axis=1)
    indices = np.take_along_axis(indices, order, axis=1)
    return distances.astype(X.dtype, copy=False), indices


def _canonical_pair(X, Y):
    """X and Y as CSR with sorted, unique indices and one value dtype, and
    the index dtype their arrays are passed in (the compiled kernel's
    contract); clear errors otherwise."""
    for A, name in ((X, "X"), (Y, "Y")):
        if not sparse.issparse(A):
            raise TypeError(f"{name} must be a scipy.sparse matrix or array, got "
                            f"{type(A).__name__}.")
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {A.shape}.")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but Y has {Y.shape[1]}; they must "
                         f"match.")
    both32 = X.dtype == np.float32 and Y.dtype == np.float32
    dtype = np.float32 if both32 else np.float64
    big = max(X.nnz, Y.nnz, X.shape[1], Y.shape[0] + 1, X.shape[0] + 1) >= 2 ** 31 - 1
    index_dtype = np.int64 if big else np.int32
    out = []
    for A, name in ((X, "X"), (Y, "Y")):
        if A.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {A.dtype}.")
        A = sparse.csr_matrix(A, dtype=dtype)   # no copy when it already is one
        if not A.has_canonical_format:
            A = A.copy()
            A.sum_duplicates()      # also sorts the indices
        if not np.isfinite(A.data).all():
            raise ValueError(f"{name} contains NaN or infinity; nearest neighbours need "
                             f"finite values.")
        out.append(A)
    return out + [index_dtype]


def _arrays(A, index_dtype):
    """(data, indices, indptr) of a CSR matrix, the indices as index_dtype
    (data and indices never empty: the kernel takes their first address)."""
    data, indices = A.data, A.indices.astype(index_dtype, copy=False)
    if data.size == 0:
        data, indices = np.zeros(1, data.dtype), np.zeros(1, index_dtype)
    return data, indices, A.indptr.astype(index_dtype, copy=False)


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
