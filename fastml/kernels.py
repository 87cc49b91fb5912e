"""The chunk-level kernels of fastml.

Each function here takes NumPy blocks (float32 or float64, any memory layout,
read-only included) and returns new NumPy arrays.  They release the GIL, keep
no state, give the same result whatever ``n_threads`` is, and default to one
thread because under Dask the scheduler supplies the parallelism.  Use them
inside ``dask.array.map_blocks`` / ``blockwise`` to build your own graphs;
the public API (``fastml.metrics``) uses them the same way.
"""
import numpy as np

from fastml import _distance_metrics
from fastml._validation import check_2d, check_input_dtype, check_positive_int, check_same_n_features

__all__ = ["pairwise_distances_chunk"]


def _as_block(X, name):
    check_input_dtype(X, name)
    X = np.asarray(X)
    check_2d(X, name)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def pairwise_distances_chunk(X, Y, metric="euclidean", *, n_threads=1, **params):
    """Distances between every row of X and every row of Y.

    The chunk kernel behind :func:`fastml.metrics.pairwise_distances`, with
    SciPy's :func:`~scipy.spatial.distance.cdist` semantics.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        float32 or float64 (other numeric dtypes become float64); any layout.
    Y : ndarray of shape (m, d)
        If the dtypes of X and Y differ, both are computed in float64.
    metric : str or callable, default="euclidean"
        A name from ``scipy.spatial.distance.cdist`` or its aliases,
        scikit-learn's aliases (``l1``, ``l2``, ``manhattan``, ...) or
        ``"haversine"``; or a Python function ``f(a, b) -> float`` of two 1-D
        arrays, compiled with Numba (once per process and dtype).
    n_threads : int, default=1
        Threads for this call.  Keep 1 inside Dask tasks.
    **params
        Metric parameters: ``p`` and ``w`` (minkowski), ``w`` (weights, for
        every metric SciPy weights), ``V`` (seuclidean), ``VI``
        (mahalanobis), ``base`` (jensenshannon).  Without ``V`` / ``VI`` they
        are computed from X and Y, as SciPy does.

    Returns
    -------
    D : ndarray of shape (n, m)
        The dtype of X and Y (float32 stays float32).

    Notes
    -----
    Boolean metrics (dice, jaccard, rogerstanimoto, russellrao, sokalsneath,
    yule) treat nonzero as True, as ``cdist`` does for jaccard.  Cosine, and
    euclidean with many features, come from BLAS dot products; every pair for
    which that identity could lose accuracy is recomputed exactly: identical
    rows give exactly 0, and the relative error stays near 1e-5 (float32) /
    1e-13 (float64) on every pair.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import pairwise_distances_chunk
    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> pairwise_distances_chunk(X, X)
    array([[0., 5.],
           [5., 0.]])

    The same kernel on every pair of row blocks of two Dask arrays:

    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> A = da.from_array(rng.normal(size=(1000, 8)), chunks=(250, 8))
    >>> B = da.from_array(rng.normal(size=(600, 8)), chunks=(300, 8))
    >>> D = da.blockwise(pairwise_distances_chunk, "ij", A, "ik", B, "jk",
    ...                  metric="cityblock", dtype=A.dtype, concatenate=True)
    >>> D.chunks
    ((250, 250, 250, 250), (300, 300))
    >>> np.allclose(D.compute(), pairwise_distances_chunk(A.compute(), B.compute(),
    ...                                                   metric="cityblock"))
    True
    """
    n_threads = check_positive_int(n_threads, "n_threads")
    X = _as_block(X, "X")
    Y = _as_block(Y, "Y")
    check_same_n_features(X, Y)
    if X.dtype != Y.dtype:
        X, Y = X.astype(np.float64), Y.astype(np.float64)
    if X.shape[1] == 0:
        raise ValueError("X and Y have 0 features; distances need at least one feature.")
    if callable(metric):
        return custom_distances(X, Y, metric, n_threads=n_threads)
    name = _distance_metrics.resolve_metric(metric)
    params = _distance_metrics.check_params(name, params, X.shape[1])
    for key, value in _distance_metrics.default_params(name, params, X, Y).items():
        params.setdefault(key, value)
    plan = _distance_metrics.Plan(name, params, X.dtype, X.shape[1])
    return plan.compute(X, Y, n_threads)


def custom_distances(X, Y, metric, *, n_threads=1, symmetric=False):
    """Distances from a user-written ``metric(a, b) -> float``, compiled with
    Numba into a tiled kernel run on ``n_threads`` threads.

    With ``symmetric=True`` (Y is X) each pair is computed once, the result
    mirrored, and the diagonal set to 0.
    """
    from fastml._kernels import _distances
    from fastml._numba import custom_metric

    X = np.ascontiguousarray(X)
    Y = X if symmetric else np.ascontiguousarray(Y)
    out = np.zeros((X.shape[0], Y.shape[0]), dtype=X.dtype)
    custom_metric.pairwise(X, Y, metric, out, n_threads=n_threads, symmetric=symmetric)
    if symmetric:
        _distances.mirror_upper(out, n_threads)
    return out
