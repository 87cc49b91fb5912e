"""Drop-in replacements for ``sklearn.metrics.pairwise_distances`` and
``pairwise_distances_chunked``, computed by fastml's compiled kernels, and
lazy on Dask arrays."""
import numpy as np

from fastml._threads import effective_n_threads
from fastml._validation import (
    FLOAT_DTYPES,
    check_float_array,
    check_has_features,
    check_same_n_features,
    float32_list_as_array,
    is_boolean_metric,
    is_dask_collection,
    warn_boolean_conversion,
)
from fastml.kernels import DistanceRequest

__all__ = ["pairwise_distances", "pairwise_distances_chunked"]


def _check_inputs(X, Y, metric, ensure_all_finite, kwds):
    """Validate X, Y and the metric as scikit-learn's pairwise functions do.

    Returns (X, Y or None, request).  Boolean metrics get 0/1 float64 data
    (with scikit-learn's DataConversionWarning unless X and Y are boolean),
    float32 is kept when X and Y are both float32 (lists of float32 numbers
    included, as in scikit-learn), anything else is float64.
    """
    X, Y = float32_list_as_array(X), float32_list_as_array(Y)
    if is_boolean_metric(metric):
        # scikit-learn computes boolean metrics on X.astype(bool).
        X = check_float_array(X, "X", None, ensure_all_finite)
        if Y is not None:
            Y = check_float_array(Y, "Y", None, ensure_all_finite)
        warn_boolean_conversion(metric, X, *([] if Y is None else [Y]), stacklevel=3)
        X = (X != 0).astype(np.float64)
        if Y is not None:
            Y = (Y != 0).astype(np.float64)
    else:
        X = check_float_array(X, "X", FLOAT_DTYPES, ensure_all_finite)
        if Y is not None:
            Y = check_float_array(Y, "Y", FLOAT_DTYPES, ensure_all_finite)
            if X.dtype != Y.dtype:
                X, Y = X.astype(np.float64), Y.astype(np.float64)
    if Y is not None:
        check_same_n_features(X, Y)
    check_has_features(X)
    # scikit-learn's cosine_distances gives 1 between a zero row and any row.
    request = DistanceRequest(metric, kwds, X.shape[1], X.dtype, cosine_zero=1.0)
    request.add_default_params(X, Y)
    return X, Y, request


def pairwise_distances(X, Y=None, metric="euclidean", *, n_jobs=None,
                       ensure_all_finite=True, **kwds):
    """Distance matrix between the rows of X and the rows of Y.

    Same signature and semantics as :func:`sklearn.metrics.pairwise_distances`,
    computed by compiled kernels on all usable cores; float32 input gives
    float32 output.

    Parameters
    ----------
    X : array-like or Dask array of shape (n_samples_X, n_features)
        NumPy, pandas, polars, lists, or a Dask array.
    Y : array-like or Dask array of shape (n_samples_Y, n_features), default=None
        ``None`` (or X itself) means ``Y = X``: the result is then exactly
        symmetric with an exactly zero diagonal, and each pair is computed
        once; a callable metric is evaluated on the diagonal too (in Python,
        one call per row), as scikit-learn does.  With
        ``metric="precomputed"`` X is returned (checked) and Y only fixes
        how many columns X must have, as in scikit-learn.
    metric : str or callable, default="euclidean"
        Any metric of ``scipy.spatial.distance.cdist`` (and its aliases),
        scikit-learn's aliases (``l1``, ``l2``, ``manhattan``, ``cityblock``,
        ``matching``), ``"haversine"``, ``"precomputed"``, or a Python function
        ``f(a, b) -> float`` of two 1-D arrays, compiled with Numba.
    n_jobs : int, default=None
        Threads.  ``None`` and ``-1`` use every usable core (CPU affinity,
        cgroup quota, ``OMP_NUM_THREADS`` and threadpoolctl limits are
        respected); ``-k`` all but ``k - 1``.  Ignored for Dask input, where
        the scheduler parallelises.
    ensure_all_finite : bool or "allow-nan", default=True
        As in scikit-learn: by default NaN and inf raise ``ValueError``.
    **kwds
        Metric parameters: ``p``, ``w``, ``V``, ``VI``, ``base``.

    Warns
    -----
    DataConversionWarning
        A boolean metric (dice, jaccard, ...) on X or Y that is not
        boolean, as in scikit-learn: nonzero values count as True.

    Returns
    -------
    D : ndarray or Dask array of shape (n_samples_X, n_samples_Y)
        A NumPy array for in-memory input.  If X or Y is a Dask array, a lazy
        Dask array chunked by X's row chunks times Y's row chunks, each block
        computed by :func:`fastml.kernels.pairwise_distances_chunk`.

    See Also
    --------
    fastml.kernels.pairwise_distances_chunk : the kernel, for your own graphs.
    pairwise_distances_chunked : the same, row block by row block.
    """
    if Y is X:
        Y = None  # as scikit-learn does: the symmetric path, zero diagonal
    if _any_sparse(X, Y):
        return _sparse_pairwise(X, Y, metric, n_jobs, ensure_all_finite, kwds)
    if isinstance(metric, str) and metric == "precomputed":
        return _precomputed(X, Y, ensure_all_finite)
    if isinstance(metric, str) and metric == "nan_euclidean":
        return _nan_euclidean(X, Y, n_jobs, ensure_all_finite, kwds)
    if is_dask_collection(X) or is_dask_collection(Y):
        from fastml import _dask

        return _dask.pairwise_distances(X, Y, metric, ensure_all_finite, kwds)
    X, Y, request = _check_inputs(X, Y, metric, ensure_all_finite, kwds)
    n_threads = effective_n_threads(n_jobs)
    symmetric = Y is None
    # a callable is evaluated on the diagonal too, as in scikit-learn
    return request.compute(X, X if symmetric else Y, n_threads, symmetric)


def _any_sparse(X, Y):
    from fastml.preprocessing._sparse import is_sparse

    return is_sparse(X) or (Y is not None and is_sparse(Y))


def _sparse_supported(metric, kwds):
    from fastml._validation.metrics import SPARSE_INPUT_METRICS

    return not kwds and isinstance(metric, str) and metric in SPARSE_INPUT_METRICS


def _warn_slow_sparse(metric, stacklevel):
    """SlowMetricWarning for a callable metric on sparse input, which runs
    scikit-learn's Python loop."""
    if callable(metric):
        import warnings

        from fastml._validation.metrics import SPARSE_INPUT_METRICS, SlowMetricWarning

        warnings.warn(
            "A callable metric on sparse input runs as in scikit-learn, one Python call per "
            "pair of sparse rows (scikit-learn's speed); fastml's compiled sparse kernel "
            f"covers {', '.join(SPARSE_INPUT_METRICS)}.", SlowMetricWarning,
            stacklevel=stacklevel)


def _check_sparse_pair(X, Y, ensure_all_finite):
    """X and Y (None: X) checked as scikit-learn checks them: sparse as CSR."""
    from sklearn.metrics.pairwise import check_pairwise_arrays

    X, Yc = check_pairwise_arrays(X, Y, accept_sparse="csr",
                                  ensure_all_finite=ensure_all_finite)
    check_has_features(X)
    return X, (None if Y is None else Yc)


def _sparse_pairwise(X, Y, metric, n_jobs, ensure_all_finite, kwds):
    """Sparse X or Y: euclidean, cosine and manhattan from the compiled
    sparse kernel (never densified); anything else is scikit-learn's own
    handling -- its error for the SciPy metrics it refuses on sparse input,
    its Python loop for a callable metric, its checks for "precomputed"."""
    if not _sparse_supported(metric, kwds):
        from sklearn.metrics import pairwise_distances as sk_pairwise_distances

        _warn_slow_sparse(metric, 4)

        return sk_pairwise_distances(X, Y, metric=metric, n_jobs=n_jobs,
                                     ensure_all_finite=ensure_all_finite, **kwds)
    from fastml.kernels import sparse_pairwise_distances_chunk

    X, Y = _check_sparse_pair(X, Y, ensure_all_finite)
    return sparse_pairwise_distances_chunk(X, Y, metric, n_threads=effective_n_threads(n_jobs))


def _precomputed(X, Y, ensure_all_finite):
    """Check a precomputed distance matrix as scikit-learn does: with
    Y=None it is the square matrix between the samples of X; with Y its
    columns are Y's rows (Y itself is not used)."""
    if is_dask_collection(X):
        return X
    X = check_float_array(float32_list_as_array(X), "X", FLOAT_DTYPES, ensure_all_finite)
    n_indexed = X.shape[0] if Y is None else _num_rows(Y)
    if X.shape[1] != n_indexed:
        raise ValueError(
            f"metric='precomputed' takes X of shape (n_queries, n_indexed) holding the "
            f"distances to {'the samples of X' if Y is None else 'the rows of Y'}: "
            f"{n_indexed} columns were expected, X has shape {X.shape}."
            + (" With Y=None X must be square." if Y is None else "")
        )
    if np.any(X < 0):
        raise ValueError("Precomputed distance matrix contains negative values; distances "
                         "must be non-negative values.")
    return X


def _num_rows(A):
    """Rows of an array-like, a sparse matrix or a list."""
    shape = getattr(A, "shape", None)
    return shape[0] if shape is not None and len(shape) else len(A)


def _nan_euclidean(X, Y, n_jobs, ensure_all_finite, kwds):
    """No compiled kernel yet: scikit-learn's implementation, said plainly
    (the SlowMetricWarning the neighbours estimators give for it too)."""
    import warnings

    from sklearn.metrics import pairwise_distances as sk_pairwise_distances

    from fastml._validation.metrics import SlowMetricWarning

    if is_dask_collection(X) or is_dask_collection(Y):
        raise NotImplementedError(
            "metric='nan_euclidean' is not available on Dask arrays yet; compute "
            "the inputs (X.compute()) or impute the missing values first."
        )
    warnings.warn("metric='nan_euclidean' has no compiled kernel in fastml: it is computed "
                  "by scikit-learn's nan_euclidean_distances, at scikit-learn's speed.",
                  SlowMetricWarning, stacklevel=3)
    return sk_pairwise_distances(X, Y, metric="nan_euclidean", n_jobs=n_jobs,
                                 ensure_all_finite=ensure_all_finite, **kwds)


def pairwise_distances_chunked(X, Y=None, *, reduce_func=None, metric="euclidean",
                               n_jobs=None, working_memory=None, **kwds):
    """Generate the distance matrix one block of rows at a time.

    Same signature and semantics as
    :func:`sklearn.metrics.pairwise_distances_chunked`: each block holds as
    many rows as fit in ``working_memory`` MiB (default: scikit-learn's
    ``working_memory`` setting), and ``reduce_func(D_chunk, start)`` may
    reduce it before it is yielded (its result may be an array-like, a
    sparse matrix or a tuple of them, one row per row of the block).
    Stacked, the blocks equal ``pairwise_distances(X, Y)`` (with ``Y=None``
    the diagonal is exactly 0, except for a callable metric, which is
    evaluated there).  With ``metric="precomputed"`` X is yielded whole, in
    one block, as scikit-learn does.

    Yields
    ------
    D_chunk : ndarray of shape (n_rows, n_samples_Y), or what reduce_func returns
    """
    if is_dask_collection(X) or is_dask_collection(Y):
        raise TypeError(
            "pairwise_distances_chunked works on in-memory arrays; for Dask input "
            "call fastml.metrics.pairwise_distances(X, Y), which is already lazy and "
            "chunked, and reduce its blocks with Dask."
        )
    ensure_all_finite = kwds.pop("ensure_all_finite", True)
    if _any_sparse(X, Y):
        yield from _sparse_chunked(X, None if Y is X else Y, reduce_func, metric, n_jobs, working_memory,
                                   ensure_all_finite, kwds)
        return
    if isinstance(metric, str) and metric == "precomputed":
        # one block, the whole matrix, as scikit-learn yields it
        D = _precomputed(X, Y, ensure_all_finite)
        yield D if reduce_func is None else _reduced(reduce_func, D, 0)
        return
    X, Yc, request = _check_inputs(X, Y, metric, ensure_all_finite, kwds)
    n_cols = X.shape[0] if Yc is None else Yc.shape[0]
    n_threads = effective_n_threads(n_jobs)
    chunk_rows = _chunk_rows(working_memory, n_cols, X.dtype.itemsize, X.shape[0])
    for start in range(0, max(X.shape[0], 1), chunk_rows):
        stop = min(start + chunk_rows, X.shape[0])
        if Yc is None and stop - start == X.shape[0]:
            # one block: the symmetric path of pairwise_distances(X), as in
            # scikit-learn (each pair once; a callable's result mirrored)
            D_chunk = request.compute(X, X, n_threads, True)
        else:
            D_chunk = request.compute(X[start:stop], X if Yc is None else Yc, n_threads,
                                      False)
            if Yc is None and not request.custom:
                # a callable is evaluated on the diagonal, as in scikit-learn
                idx = np.arange(stop - start)
                D_chunk[idx, start + idx] = 0
        yield D_chunk if reduce_func is None else _reduced(reduce_func, D_chunk, start)


def _chunk_rows(working_memory, n_cols, itemsize, n_rows):
    """Rows per block: as many as fit in ``working_memory`` MiB (default:
    scikit-learn's setting), at least 1 (with scikit-learn's warning)."""
    from sklearn import get_config

    if working_memory is None:
        working_memory = get_config()["working_memory"]
    row_bytes = max(1, n_cols) * itemsize
    chunk_rows = int(working_memory * 2**20 // row_bytes)
    if chunk_rows < 1:
        import warnings

        warnings.warn(
            f"Could not adhere to working_memory config. Currently {working_memory:.0f}MiB, "
            f"{row_bytes / 2**20:.0f}MiB required.",
            stacklevel=3,
        )
        chunk_rows = 1
    return min(chunk_rows, max(n_rows, 1))


def _sparse_chunked(X, Y, reduce_func, metric, n_jobs, working_memory, ensure_all_finite,
                    kwds):
    """pairwise_distances_chunked on sparse X or Y: blocks of rows of X
    from the sparse kernel, or scikit-learn's generator where
    :func:`_sparse_pairwise` defers to scikit-learn."""
    if not _sparse_supported(metric, kwds):
        from sklearn.metrics import pairwise_distances_chunked as sk_chunked

        _warn_slow_sparse(metric, 4)

        yield from sk_chunked(X, Y, reduce_func=reduce_func, metric=metric, n_jobs=n_jobs,
                              working_memory=working_memory,
                              ensure_all_finite=ensure_all_finite, **kwds)
        return
    from fastml.kernels import sparse_pairwise_distances_chunk

    X, Yc = _check_sparse_pair(X, Y, ensure_all_finite)
    n_threads = effective_n_threads(n_jobs)
    itemsize = 8 if metric in ("manhattan", "cityblock", "l1") else X.dtype.itemsize
    chunk_rows = _chunk_rows(working_memory, X.shape[0] if Yc is None else Yc.shape[0],
                             itemsize, X.shape[0])
    for start in range(0, max(X.shape[0], 1), chunk_rows):
        stop = min(start + chunk_rows, X.shape[0])
        D_chunk = sparse_pairwise_distances_chunk(X[start:stop], X if Yc is None else Yc,
                                                  metric, n_threads=n_threads)
        if Yc is None:   # the zero diagonal of pairwise_distances(X)
            idx = np.arange(stop - start)
            D_chunk[idx, start + idx] = 0
        yield D_chunk if reduce_func is None else _reduced(reduce_func, D_chunk, start)


def _reduced(reduce_func, D_chunk, start):
    """reduce_func(D_chunk, start), checked as scikit-learn checks it: an
    array-like, a sparse matrix or a tuple of them, one row per row of
    D_chunk (or None)."""
    chunk_size = D_chunk.shape[0]
    reduced = reduce_func(D_chunk, start)
    if reduced is None:
        return reduced
    parts = reduced if isinstance(reduced, tuple) else (reduced,)
    if any(isinstance(r, tuple) or not hasattr(r, "__iter__") for r in parts):
        raise TypeError(
            f"reduce_func returned {reduced!r}. Expected sequence(s) of length "
            f"{chunk_size}. (One entry per row of the distance block.)"
        )
    lengths = tuple(_num_rows(r) for r in parts)
    if any(n != chunk_size for n in lengths):
        raise ValueError(
            f"reduce_func returned object of length "
            f"{lengths if isinstance(reduced, tuple) else lengths[0]}. Expected same "
            f"length as input: {chunk_size}. (The rows of the distance block.)"
        )
    return reduced
