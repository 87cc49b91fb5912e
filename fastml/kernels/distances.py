"""Distance matrices between blocks of rows.

``pairwise_distances_chunk`` computes every distance between the rows of two
blocks; ``DistanceRequest`` is a checked metric with its parameters, shared
by the kernels, the Dask graphs and the public functions, so a metric is
validated once wherever it comes from.
"""
import contextvars
import functools
import threading
import warnings
from concurrent.futures import wait

import numpy as np

from fastml._validation import (
    as_float_block,
    check_has_features,
    check_metric,
    check_positive_int,
    check_same_n_features,
)
from fastml._validation.metrics import (
    BOOLEAN_METRICS,
    FALLBACK_METRICS,
    SlowMetricWarning,
    default_params,
    is_distance_metric,
)
from fastml.kernels._plan import (
    Plan,
    finish_heaps,
    new_heaps,
    not_a_distribution,
    offer_in_blocks,
)

# SlowMetricWarning is importable from here too (it is no kernel: not listed)
__all__ = ["pairwise_distances_chunk", "custom_distances", "DistanceRequest"]


class DistanceRequest:
    """A checked distance computation: metric, parameters, dtype.

    Small and picklable: Dask graphs ship it to the workers.

    Parameters
    ----------
    metric : str, callable or sklearn.metrics.DistanceMetric
    params : dict
        The metric's keyword parameters, checked here (a callable's are
        passed to it, as scikit-learn does).
    n_features : int
    dtype : float32 or float64
        The dtype the distances are computed in.
    cosine_zero : float, default=nan
        Metric "cosine" only: its distance between an all-zero row and any
        row, NaN as in SciPy's ``cdist``, 1 as in scikit-learn (and in
        neighbour searches, where NaN would rank nowhere).  Correlation
        keeps NaN for a constant row, as both do.

    Warns
    -----
    SlowMetricWarning
        Once, when the metric runs outside fastml's compiled kernels, at
        scikit-learn's speed: a callable Numba cannot compile, or given
        keyword parameters (both called in plain Python, one call per pair
        of rows), a ``sklearn.metrics.DistanceMetric`` object (its own
        ``pairwise``), ``"nan_euclidean"`` (scikit-learn's function).

    Notes
    -----
    The plain-Python fallbacks (a callable, a DistanceMetric's
    ``pairwise``) run on ``n_threads`` threads, blocks of rows of X each, as
    scikit-learn's ``n_jobs`` runs callables on joblib's threads: the
    callable must be thread-safe, as scikit-learn requires.  Each pair is
    the same call whatever ``n_threads``, so the distances are identical;
    the GIL serialises pure-Python work, so the gain is what the callable
    releases (NumPy on long rows).  ``nan_euclidean`` is one call of
    scikit-learn's vectorised function (its BLAS has its own threads).

    Attributes
    ----------
    slow : str or None
        Why the metric runs outside fastml's kernels; None when it does not.
    """

    def __init__(self, metric, params, n_features, dtype, *, cosine_zero=np.nan):
        self.name, self.params = check_metric(metric, params, n_features)
        self.func = metric if self.name is None else None
        self.dtype = np.dtype(dtype)
        self.n_features = n_features
        self.cosine_zero = float(cosine_zero) if self.name == "cosine" else np.nan
        self._blocks = None
        self.slow = self._why_slow(metric)
        if self.slow is not None:
            warnings.warn(self.slow, SlowMetricWarning, stacklevel=3)

    def _why_slow(self, metric):
        """None, or why the metric runs outside the compiled kernels (then
        ``self.func`` is what ``compute`` calls)."""
        if self.name in FALLBACK_METRICS:
            return (f"metric={self.name!r} has no compiled kernel in fastml: it is computed "
                    f"by scikit-learn's {self.name}_distances, at scikit-learn's speed.")
        if is_distance_metric(metric):
            self._blocks = metric.pairwise
            return (f"a DistanceMetric object ({type(metric).__name__}) is computed by its "
                    "own pairwise method (scikit-learn's code), not by fastml's kernels; "
                    "pass the metric's name (and metric_params) to use fastml's.")
        if self.name is not None:
            return None
        label = getattr(metric, "__name__", repr(metric))
        if self.params:
            self.func = functools.partial(metric, **self.params)
            return (f"the callable metric {label!r} gets keyword parameters "
                    f"{sorted(self.params)}: it is called in plain Python, one call per "
                    "pair of rows (scikit-learn's speed), as fastml compiles only f(a, b); "
                    "bind the parameters in a closure to get the compiled kernel.")
        failure = _compile_failure(metric, self.dtype)
        return None if failure is None else _not_compiled(metric, failure)

    @property
    def custom(self):
        """True for a user-written metric (a callable or a DistanceMetric)."""
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

    def _slow_compute(self, X, Y, symmetric, n_threads):
        """Distances outside the compiled kernels (``self.slow`` says why),
        on ``n_threads`` threads (see Notes)."""
        if self.name == "nan_euclidean":
            from sklearn.metrics.pairwise import nan_euclidean_distances

            D = nan_euclidean_distances(X, None if symmetric else Y, **self.params)
        elif self._blocks is not None:      # a DistanceMetric's pairwise
            D = np.empty((X.shape[0], Y.shape[0]))

            def rows(i0, i1):
                D[i0:i1] = self._blocks(X[i0:i1], Y)

            in_row_blocks(rows, X.shape[0], n_threads)
        else:
            D = _python_distances(self.func, X, Y, symmetric, n_threads)
        return np.asarray(D).astype(self.dtype, copy=False)

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
        if self.slow is not None:
            return self._slow_compute(X, Y, symmetric, n_threads)
        if self.custom:
            from fastml._numba.custom_metric import NotCompilable

            try:
                D = custom_distances(X, Y, self.func, n_threads=n_threads,
                                     symmetric=symmetric)
            except NotCompilable as err:   # a layout the first compile did not see
                self.slow = _not_compiled(self.func, err.reason)
                warnings.warn(self.slow, SlowMetricWarning, stacklevel=2)
                return self._slow_compute(X, Y, symmetric, n_threads)
            if symmetric:
                for i in range(X.shape[0]):
                    D[i, i] = self.func(X[i], X[i])
            return D
        return self.plan().compute(X, Y, n_threads, symmetric=symmetric)

    def argkmin(self, X, Y, k, n_threads):
        """The k nearest rows of Y for each row of X (checked arrays of
        ``self.dtype``): distances (n, k) of ``self.dtype`` and indices
        (n, k) int64, sorted by distance, ties by index, (inf, -1) where Y
        has fewer than k rows.  A NaN distance (nan_euclidean between rows
        with no coordinate both have) ranks after every number."""
        if not self.custom and self.slow is None:
            return self.plan().argkmin(X, Y, k, n_threads)
        heap_d, heap_i = new_heaps(X.shape[0], k)
        X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
        nan_rank = np.finfo(np.float64).max

        def distances(A, B):
            D = self.compute(A, B, n_threads)
            return np.where(np.isnan(D), nan_rank, D) if self.slow is not None else D

        offer_in_blocks(distances, X, Y, heap_d, heap_i, n_threads)
        distances, indices = finish_heaps(heap_d, heap_i, n_threads)
        distances[distances == nan_rank] = np.nan
        return distances.astype(X.dtype, copy=False), indices


def _compile_failure(func, dtype):
    """None if Numba compiles ``func`` for rows of ``dtype``, else why not."""
    try:
        from fastml._numba import custom_metric
    except ImportError as err:
        return f"Numba is not installed ({err})"
    failure = custom_metric.compile_failure(func, dtype)
    return None if failure is None else failure.reason


def _not_compiled(func, reason):
    label = getattr(func, "__name__", repr(func))
    # Numba's first informative line ("Untyped global name 'minkowski': ...")
    lines = [line.strip() for line in reason.splitlines()]
    useful = [line for line in lines if line and "Failed in nopython mode" not in line]
    reason = useful[0] if useful else lines[0]
    return (f"the callable metric {label!r} runs in plain Python, one call per pair of "
            f"rows (scikit-learn's speed; its threads share the GIL), because Numba cannot compile "
            f"it: {reason}")


def _python_distances(func, X, Y, symmetric, n_threads=1):
    """``func(X[i], Y[j])`` for every pair, in plain Python, float64 as
    scikit-learn's loop, on ``n_threads`` threads (blocks of rows); with
    ``symmetric`` (Y is X) each pair once and the diagonal ``func(x, x)``."""
    n, m = X.shape[0], Y.shape[0]
    D = np.empty((n, m), dtype=np.float64)

    def rows(i0, i1):       # row i owns D[i, i:] and, symmetric, D[i:, i]
        for i in range(i0, i1):
            x = X[i]
            if symmetric:
                for j in range(i + 1, n):
                    D[i, j] = D[j, i] = func(x, X[j])
                D[i, i] = func(x, x)
            else:
                for j in range(m):
                    D[i, j] = func(x, Y[j])

    in_row_blocks(rows, n, n_threads)
    return D


def in_row_blocks(work, n, n_threads):
    """Call ``work(i0, i1)`` on blocks of ``range(n)`` on ``n_threads``
    threads: the calling thread and ``n_threads - 1`` of the custom metrics'
    kept pool, taking blocks in order (the heavy first rows of a triangle
    first), 8 per thread for balance.  ``work`` must write disjoint slices.

    Each task runs in a copy of the caller's context (NumPy's ``errstate``).
    An exception stops the blocks not yet taken and is raised here.
    """
    n_blocks = min(n, 8 * n_threads)
    if n_threads <= 1 or n_blocks <= 1:
        if n:
            work(0, n)
        return
    from fastml._numba.custom_metric import _thread_pool

    bounds = np.linspace(0, n, n_blocks + 1).astype(np.int64).tolist()
    blocks = iter(zip(bounds[:-1], bounds[1:]))
    lock, failures = threading.Lock(), []

    def take_blocks():
        while True:
            with lock:
                block = None if failures else next(blocks, None)
            if block is None:
                return
            try:
                work(*block)
            except BaseException as err:     # raised again below, by the caller
                with lock:
                    failures.append((block[0], err))
                return

    pool = _thread_pool(n_threads - 1)
    futures = [pool.submit(contextvars.copy_context().run, take_blocks)
               for _ in range(n_threads - 1)]
    take_blocks()
    for future in futures:      # not started (a busy pool): nothing left to take
        future.cancel()
    wait(futures)
    if failures:
        raise min(failures, key=lambda f: f[0])[1]


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
    request = DistanceRequest(metric, params, X.shape[1], X.dtype,
                              cosine_zero=1.0 if finite else np.nan)
    if finite:
        # nan_euclidean takes NaN as missing, as in scikit-learn; never inf
        allowed = np.isnan if request.name == "nan_euclidean" else (lambda A: False)
        for A, name in ((X, "X"), (Y, "Y")):
            if not (np.isfinite(A) | allowed(A)).all():
                raise ValueError(
                    f"{name} contains NaN or infinity; nearest neighbours need finite "
                    f"values (NaN is allowed with metric='nan_euclidean'). Impute them "
                    f"first (e.g. sklearn.impute.SimpleImputer)."
                )
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
