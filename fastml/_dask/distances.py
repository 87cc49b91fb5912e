"""Lazy distance matrices: ``pairwise_distances_chunk`` over pairs of row
blocks, and the symmetric graph that computes each pair of blocks once."""
from functools import partial

import numpy as np
import dask.array as da
from scipy import sparse
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from fastml._validation import (
    FLOAT_DTYPES,
    check_has_features,
    check_same_n_features,
    is_boolean_metric,
)
from fastml._validation.metrics import check_enough_samples_for_covariance
from fastml.kernels import DistanceRequest
from fastml._dask.arrays import as_dask_array, has_sparse_blocks


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
    computed once per pair and mirrored, with an exactly zero diagonal (a
    custom metric's is evaluated, as scikit-learn does).
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


def inverse_covariance(X):
    """mahalanobis' default VI of the rows of X, lazy (one chunk)."""
    cov = da.cov(X.T.astype(np.float64)).rechunk(-1)
    return cov.map_blocks(_inverse_covariance, dtype=np.float64)


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
    symmetric = Y is None
    X = as_dask_array(X, "X")
    Y = X if symmetric else as_dask_array(Y, "Y")
    check_same_n_features(X, Y)
    check_has_features(X)
    if has_sparse_blocks(X) or has_sparse_blocks(Y):
        return _sparse_pairwise_distances(X, Y, metric, ensure_all_finite, kwds)
    if is_boolean_metric(metric):
        dtype = np.dtype(np.float64)
        X, Y = (X != 0).astype(dtype), (Y != 0).astype(dtype)
    else:
        dtype = np.result_type(X.dtype, Y.dtype)
        if dtype not in FLOAT_DTYPES:
            dtype = np.dtype(np.float64)
        X, Y = X.astype(dtype), Y.astype(dtype)
        if symmetric:
            Y = X
    request = DistanceRequest(metric, kwds, X.shape[1], dtype, cosine_zero=1.0)

    # SciPy's data-dependent defaults, as lazy arrays (one chunk each).
    lazy_names, lazy_arrays = [], []
    if not request.custom:
        data = X if symmetric else da.concatenate([X, Y], axis=0)
        if request.name == "seuclidean" and "V" not in request.params:
            lazy_names.append("V")
            lazy_arrays.append(data.var(axis=0, ddof=1, dtype=np.float64).rechunk(-1))
        if request.name == "mahalanobis" and "VI" not in request.params:
            check_enough_samples_for_covariance(*data.shape)
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


def _sparse_block(x, y, metric, ensure_all_finite):
    """One block of the distance matrix between blocks of sparse rows."""
    from fastml.kernels import sparse_pairwise_distances_chunk

    for block, name in ((x, "X"), (y, "Y")):
        _check_block_finite(block.data if sparse.issparse(block) else block, name,
                            ensure_all_finite)
    return sparse_pairwise_distances_chunk(x, y, metric)


def _sparse_pairwise_distances(X, Y, metric, ensure_all_finite, kwds):
    """Lazy distances of Dask arrays of scipy.sparse blocks: the compiled
    sparse kernel per pair of row blocks (the metrics it takes)."""
    from fastml._validation.metrics import SPARSE_INPUT_METRICS

    if kwds or not isinstance(metric, str) or metric not in SPARSE_INPUT_METRICS:
        raise NotImplementedError(
            f"Dask arrays of sparse blocks take the metrics {', '.join(SPARSE_INPUT_METRICS)} "
            f"without parameters; got metric={metric!r}"
            f"{' with ' + str(sorted(kwds)) if kwds else ''}. Densify the blocks "
            "(X.map_blocks(lambda b: b.toarray())) for the others.")
    both32 = X.dtype == Y.dtype == np.float32 and metric not in ("manhattan", "cityblock", "l1")
    dtype = np.dtype(np.float32 if both32 else np.float64)
    block = partial(_sparse_block, metric=metric, ensure_all_finite=ensure_all_finite)
    D = da.blockwise(block, "ij", X, "ik", Y, "jk", dtype=dtype, concatenate=True,
                     meta=np.empty((0, 0), dtype=dtype))
    # Y is X: an exactly zero diagonal (a zero row's cosine distance to itself too)
    return D.map_blocks(_zero_diagonal, dtype=dtype) if Y is X else D


def _zero_diagonal(block, block_info=None):
    """The block with the entries on the whole matrix's diagonal set to 0."""
    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    rows = np.arange(max(r0, c0), min(r1, c1))
    if rows.size:
        block = block.copy()
        block[rows - r0, rows - c0] = 0
    return block
