"""Distance matrices between blocks of rows.

``pairwise_distances_chunk`` computes every distance between the rows of two
blocks; ``DistanceRequest`` is a checked metric with its parameters, shared
by the kernels, the Dask graphs and the public functions, so a metric is
validated once wherever it comes from.
"""
import numpy as np

from fastml._validation import (
    as_float_block,
    check_has_features,
    check_metric,
    check_positive_int,
    check_same_n_features,
)
from fastml._validation.metrics import BOOLEAN_METRICS, default_params
from fastml.kernels._plan import (
    Plan,
    finish_heaps,
    new_heaps,
    not_a_distribution,
    offer_in_blocks,
)

__all__ = ["pairwise_distances_chunk", "custom_distances", "DistanceRequest"]


class DistanceRequest:
    """A checked distance computation: metric, parameters, dtype.

    Small and picklable: Dask graphs ship it to the workers.

    Parameters
    ----------
    metric : str or callable
    params : dict
        The metric's keyword parameters, checked here.
    n_features : int
    dtype : float32 or float64
        The dtype the distances are computed in.
    cosine_zero : float, default=nan
        Metric "cosine" only: its distance between an all-zero row and any
        row, NaN as in SciPy's ``cdist``, 1 as in scikit-learn (and in
        neighbour searches, where NaN would rank nowhere).  Correlation
        keeps NaN for a constant row, as both do.
    """

    def __init__(self, metric, params, n_features, dtype, *, cosine_zero=np.nan):
        self.name, self.params = check_metric(metric, params, n_features)
        self.func = metric if self.name is None else None
        self.dtype = np.dtype(dtype)
        self.n_features = n_features
        self.cosine_zero = float(cosine_zero) if self.name == "cosine" else np.nan

    @property
    def custom(self):
        """True for a user-written metric."""
        return self.name is None

    @property
    def boolean(self):
        """True for the metrics of 0/1 indicators (nonzero is True)."""
        return self.name in BOOLEAN_METRICS

    def add_default_params(self, X, Y):
        """Fill in the parameters SciPy computes from the data (``V``,
        ``VI``) from X and Y (None: X alone)."""
        if not self.custom:
            for key, value in default_params(self.name, self.params, X, Y).items():
                self.params.setdefault(key, value)

    def plan(self, params=None):
        """The kernel plan for these (or the given, completed) parameters."""
        return Plan(self.name, self.params if params is None else params, self.dtype,
                    self.n_features, cosine_zero=self.cosine_zero)

    def compute(self, X, Y, n_threads, symmetric=False):
        """Distances between checked arrays X, Y of ``self.dtype``.

        With ``symmetric=True`` a custom metric is also evaluated on the
        diagonal, ``func(x, x)``, as scikit-learn does: in plain Python, one
        call per row, so the values (and NumPy's warnings) are those of
        scikit-learn's own loop.
        """
        if self.custom:
            D = custom_distances(X, Y, self.func, n_threads=n_threads, symmetric=symmetric)
            if symmetric:
                for i in range(X.shape[0]):
                    D[i, i] = self.func(X[i], X[i])
            return D
        return self.plan().compute(X, Y, n_threads, symmetric=symmetric)

    def argkmin(self, X, Y, k, n_threads):
        """The k nearest rows of Y for each row of X (checked arrays of
        ``self.dtype``): distances (n, k) of ``self.dtype`` and indices
        (n, k) int64, sorted by distance, ties by index, (inf, -1) where Y
        has fewer than k rows."""
        if not self.custom:
            return self.plan().argkmin(X, Y, k, n_threads)
        heap_d, heap_i = new_heaps(X.shape[0], k)
        X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
        offer_in_blocks(lambda A, B: self.compute(A, B, n_threads), X, Y,
                        heap_d, heap_i, n_threads)
        distances, indices = finish_heaps(heap_d, heap_i, n_threads)
        return distances.astype(X.dtype, copy=False), indices


def check_blocks(X, Y, metric, params, *, finite):
    """Checked float blocks X, Y of one dtype and their DistanceRequest,
    with SciPy's data-dependent defaults filled in.

    ``finite=True`` is the neighbour searches' contract: no NaN or inf, rows
    of jensenshannon are distributions, and the cosine distance of an
    all-zero row is 1.
    """
    X = as_float_block(X, "X")
    Y = as_float_block(Y, "Y")
    check_same_n_features(X, Y)
    if X.dtype != Y.dtype:
        X, Y = X.astype(np.float64), Y.astype(np.float64)
    check_has_features(X, "X and Y")
    if finite:
        for A, name in ((X, "X"), (Y, "Y")):
            if not np.isfinite(A).all():
                raise ValueError(
                    f"{name} contains NaN or infinity; nearest neighbours need finite "
                    f"values. Impute them first (e.g. sklearn.impute.SimpleImputer)."
                )
    request = DistanceRequest(metric, params, X.shape[1], X.dtype,
                              cosine_zero=1.0 if finite else np.nan)
    request.add_default_params(X, Y)
    if finite and request.name == "jensenshannon":
        for A, label in ((X, "X"), (Y, "Y")):
            bad = not_a_distribution(A)
            if bad.any():
                raise ValueError(
                    f"jensenshannon needs rows of non-negative values with a positive sum; "
                    f"row {int(np.flatnonzero(bad)[0])} of {label} is not one."
                )
    return X, Y, request


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
    1e-13 (float64) on every pair.  Mahalanobis distances in float64 are
    within 1e-11 of the exact value on every pair however ill-conditioned
    ``VI`` is (SciPy's own evaluation loses up to ~d eps cond(VI)); float32
    ones are computed in float32 from rows rounded to float32.

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
    X, Y, request = check_blocks(X, Y, metric, params, finite=False)
    return request.compute(X, Y, n_threads)


def custom_distances(X, Y, metric, *, n_threads=1, symmetric=False):
    """Distances from a user-written ``metric(a, b) -> float``, compiled with
    Numba into a tiled kernel run on ``n_threads`` threads.

    With ``symmetric=True`` (Y is X) each pair is computed once, the result
    mirrored, and the diagonal set to 0.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import custom_distances
    >>> def chebyshev(a, b):
    ...     return np.abs(a - b).max()
    >>> Y = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> custom_distances(Y, Y, chebyshev)
    array([[0., 4.],
           [4., 0.]])

    Row blocks of a Dask array against an in-memory Y:

    >>> import dask.array as da
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(2, 2))
    >>> D = X.map_blocks(custom_distances, Y, chebyshev, chunks=(X.chunks[0], (2,)),
    ...                  dtype=X.dtype)
    >>> np.allclose(D.compute(), custom_distances(X.compute(), Y, chebyshev))
    True
    """
    from fastml._kernels import _distances
    from fastml._numba import custom_metric

    X = np.ascontiguousarray(X)
    Y = X if symmetric else np.ascontiguousarray(Y)
    out = np.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)   # every entry is written
    custom_metric.pairwise(X, Y, metric, out, n_threads=n_threads, symmetric=symmetric)
    if symmetric:
        _distances.mirror_upper(out, n_threads)
    return out
