"""Chunk-level kernels for ``scipy.sparse`` CSR and CSC blocks.

Everything is computed from the ``data`` / ``indices`` / ``indptr`` arrays
by compiled loops; nothing is densified.  Both the matrix classes
(``csr_matrix``) and the array classes (``csr_array``) are accepted, and
sparse results keep the class and format of the input.  Implicit zeros are
values (a column's count includes them), stored NaN values are skipped, as
in scikit-learn's sparse statistics.

``sparse_moments_chunk`` returns the same :class:`Moments` as
``moments_chunk``, so ``combine_moments`` merges sparse and dense row
blocks alike.
"""
import numpy as np

from fastml._threads import threads_for
from fastml._validation import FLOAT_DTYPES, check_positive_int
from fastml.kernels.moments import Moments

__all__ = [
    "sparse_moments_chunk",
    "sparse_scale_columns_chunk",
    "sparse_quantiles_chunk",
    "sparse_polynomial_features_chunk",
]

def _is_sparse(X):
    """A scipy.sparse matrix or array, without importing SciPy for others."""
    return hasattr(X, "format") and hasattr(X, "tocsr") and hasattr(X, "nnz")


def as_sparse_block(X, name="X", formats=("csr", "csc"), canonical=False):
    """X checked as a CSR / CSC block of float32 or float64 (other numeric
    dtypes become float64, other sparse formats the first of ``formats``).
    ``canonical`` sums duplicate entries and sorts the indices (on a copy)."""
    if not _is_sparse(X):
        raise TypeError(f"{name} must be a scipy.sparse matrix or array, got "
                        f"{type(X).__name__}.")
    if len(X.shape) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {X.shape}.")
    if X.format not in formats:
        X = X.asformat(formats[0])
    if X.dtype not in FLOAT_DTYPES:
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) \
                or np.issubdtype(X.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}.")
        X = X.astype(np.float64)
    if canonical and not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def _parts(X, native=False):
    """(data, indices, indptr) as the compiled kernels take them: indices as
    np.intp, or (``native``, for the kernels that read int32 and int64)
    int32 indices as they are."""
    indices = X.indices
    if not native or indices.dtype not in (np.int32, np.int64):
        indices = indices.astype(np.intp)
    return (np.ascontiguousarray(X.data), np.ascontiguousarray(indices),
            np.ascontiguousarray(X.indptr, dtype=np.intp))


def _check_weights(sample_weight, n):
    if sample_weight is None:
        return np.empty(0)
    w = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) to match X, got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    return w


def sparse_moments_chunk(X, *, sample_weight=None, deviations=True, n_threads=1):
    """Per-column count, mean, M2, min and max of a sparse block of rows.

    The sparse counterpart of :func:`moments_chunk`: implicit zeros are
    values, stored NaN values are skipped.  Two exact passes (sum, then
    squared deviations of the stored values plus ``mean**2`` for each
    implicit zero), in float64, each column's values in row order: a CSR
    block in one serial pass over its rows, a CSC block a column at a time
    on ``n_threads`` threads.  The result does not depend on ``n_threads``.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d)
        CSR or CSC (other formats become CSR), float32 or float64 (other
        dtypes become float64).  Duplicate entries are summed first.
    sample_weight : ndarray of shape (n,), default=None
        Non-negative weights, read as repetitions: a row of weight 0 counts
        nowhere.
    deviations : bool, default=True
        False skips the second pass (``m2`` is then 0).
    n_threads : int, default=1

    Returns
    -------
    Moments
        ``(count, mean, m2, min, max)``, each float64 of shape (d,).  Merge
        with :func:`combine_moments` (sparse or dense partial results).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import sparse_moments_chunk
    >>> m = sparse_moments_chunk(sparse.csr_array([[1.0, 0.0], [3.0, 4.0]]))
    >>> m.count, m.mean, m.var(), m.min
    (array([2., 2.]), array([2., 2.]), array([1., 4.]), array([1., 0.]))

    On Dask, one partial result per block of rows (here delayed slices of a
    CSR matrix), tree-merged with ``combine_moments``:

    >>> import dask
    >>> from functools import reduce
    >>> from fastml.kernels import combine_moments
    >>> X = sparse.random(1000, 5, density=0.1, format="csr", random_state=0)
    >>> parts = [dask.delayed(sparse_moments_chunk)(X[i:i + 250]) for i in range(0, 1000, 250)]
    >>> total = reduce(combine_moments, dask.compute(*parts))
    >>> np.allclose(total.var(), X.toarray().var(axis=0))
    True
    """
    from fastml._kernels import _sparse

    n_threads = check_positive_int(n_threads, "n_threads")
    X = as_sparse_block(X, canonical=True)
    n, d = X.shape
    w = _check_weights(sample_weight, n)
    total = float(n if sample_weight is None else w.sum())
    data, indices, indptr = _parts(X, native=True)
    stored, nan, sums, m2, entries = (np.zeros(d) for _ in range(5))
    low, high = np.full(d, np.inf), np.full(d, -np.inf)
    if X.format == "csr":
        _sparse.csr_column_sums(data, indices, indptr, w, stored, nan, sums, low, high,
                                entries)
    else:
        _sparse.csc_column_moments(data, indices, indptr, w, total, bool(deviations), stored,
                                   nan, sums, low, high, m2, entries,
                                   threads_for(X.nnz * 4, n_threads))
    count = total - nan
    # implicit zeros: rows (of weight > 0) without a stored value; their
    # weight, 0 where there are none (not the rounding of total - stored)
    zeros = (n if sample_weight is None else np.count_nonzero(w)) - entries > 0
    implicit = np.where(zeros, total - stored, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, sums / count, np.nan)
    if deviations and X.format == "csr":
        _sparse.csr_column_m2(data, indices, indptr, w, np.nan_to_num(mean), m2)
    m2 = np.where(count > 0, m2 + implicit * mean * mean, 0.0) if deviations else np.zeros(d)
    low = np.where(zeros, np.fmin(low, 0.0), low)
    high = np.where(zeros, np.fmax(high, 0.0), high)
    empty = count <= 0
    low[empty] = high[empty] = np.nan
    return Moments(count, mean, m2, low, high)


def sparse_scale_columns_chunk(X, factor, *, clip=False, copy=True, n_threads=1):
    """``X * factor`` column by column, for a sparse block: a new sparse
    block with the same sparsity structure.

    Each stored value is multiplied in float64 and rounded once to X's
    dtype (scikit-learn's ``inplace_column_scale`` gives the same bits);
    NaN stays NaN.  The scalers' sparse ``transform`` (``factor = 1 /
    scale_``) and ``inverse_transform`` (``factor = scale_``).

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d)
        CSR or CSC, float32 or float64.
    factor : array-like of shape (d,)
    clip : bool, default=False
        Clip the results to [-1, 1] (``MaxAbsScaler(clip=True)``).
    copy : bool, default=True
        False writes into ``X.data`` when X is CSR / CSC of a float dtype
        with writeable data, and returns X.
    n_threads : int, default=1

    Returns
    -------
    scipy.sparse matrix or array of shape (n, d)
        X's class, format and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import sparse_scale_columns_chunk
    >>> X = sparse.csr_matrix([[1.0, 0.0], [3.0, 4.0]])
    >>> sparse_scale_columns_chunk(X, [0.5, 2.0]).toarray()
    array([[0.5, 0. ],
           [1.5, 8. ]])

    Row-local, so map it over delayed row blocks on Dask:

    >>> import dask
    >>> X = sparse.random(100, 4, density=0.2, format="csr", random_state=0)
    >>> parts = [dask.delayed(sparse_scale_columns_chunk)(X[i:i + 25], [1.0, 2.0, 3.0, 4.0])
    ...          for i in range(0, 100, 25)]
    >>> Y = sparse.vstack(dask.compute(*parts))
    >>> np.allclose(Y.toarray(), X.toarray() * [1.0, 2.0, 3.0, 4.0])
    True
    """
    from fastml._kernels import _sparse

    n_threads = check_positive_int(n_threads, "n_threads")
    original = X
    X = as_sparse_block(X)
    factor = np.ascontiguousarray(factor, dtype=np.float64)
    if factor.shape != (X.shape[1],):
        raise ValueError(f"factor must have shape ({X.shape[1]},) to match X, got "
                         f"{factor.shape}.")
    data, indices, indptr = _parts(X, native=True)
    in_place = not copy and X is original and X.data.flags.writeable \
        and X.data.flags.c_contiguous
    out = X.data if in_place else np.empty_like(data)
    threads = threads_for(X.nnz, n_threads)   # one product per value: memory-bound
    if X.format == "csr":
        _sparse.scale_by_index(data, indices, factor, bool(clip), out, threads)
    else:
        _sparse.scale_by_segment(data, indptr, factor, bool(clip), out, threads)
    if in_place:
        return X
    return type(X)((out, X.indices.copy(), X.indptr.copy()), shape=X.shape)


def sparse_quantiles_chunk(X, quantiles, *, n_threads=1):
    """Exact per-column quantiles of a sparse block, implicit zeros
    included, NaN skipped (NumPy's ``"linear"`` definition).

    The numbers of ``np.nanpercentile`` on each densified column (what
    scikit-learn's ``RobustScaler`` computes on sparse input), and the same
    bits as :func:`quantiles_chunk` on the dense block: the stored non-NaN
    values of each column are sorted (compiled, columns on ``n_threads``
    threads) and each order statistic is read from them or is one of the
    zeros.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d)
        CSR or CSC (CSR is converted to CSC first).
    quantiles : array-like of shape (q,)
        In [0, 1].
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (q, d), float64
        NaN for a column without values.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import sparse_quantiles_chunk
    >>> sparse_quantiles_chunk(sparse.csc_array([[1.0, 5.0], [0.0, 0.0], [4.0, 7.0]]),
    ...                        [0.5, 1.0])
    array([[1., 5.],
           [4., 7.]])

    Exact quantiles need every row of a column: delay over column blocks.

    >>> import dask
    >>> X = sparse.random(200, 6, density=0.3, format="csc", random_state=0)
    >>> parts = [dask.delayed(sparse_quantiles_chunk)(X[:, j:j + 3], [0.25, 0.75])
    ...          for j in (0, 3)]
    >>> Q = np.hstack(dask.compute(*parts))
    >>> np.array_equal(Q, np.quantile(X.toarray(), [0.25, 0.75], axis=0))
    True
    """
    from fastml._kernels import _sparse

    n_threads = check_positive_int(n_threads, "n_threads")
    q = np.asarray(quantiles, dtype=np.float64).reshape(-1)
    if np.any(~(q >= 0) | ~(q <= 1)):
        raise ValueError(f"quantiles must be in [0, 1], got {quantiles!r}.")
    X = as_sparse_block(X, formats=("csc",), canonical=True)
    n, d = X.shape
    data, _, indptr = _parts(X)
    values = np.empty(data.shape[0])
    count, negative = np.empty(d, dtype=np.intp), np.empty(d, dtype=np.intp)
    _sparse.sorted_segments(data, indptr, values, count, negative,
                            threads_for(X.nnz * 16, n_threads))
    stored = np.diff(indptr)
    zeros = n - stored                     # implicit zeros of each column
    m = count + zeros                      # non-NaN values of each column
    index = (m - 1) * q[:, None]           # NumPy's "linear" positions, (q, d)
    below = np.floor(index)
    weight = index - below
    below = below.astype(np.intp)
    above = np.minimum(below + 1, m - 1)
    below = np.minimum(below, m - 1)

    def values_at(p):
        # sorted stored negatives, then the zeros, then the rest
        start, neg = indptr[:-1], negative
        past = p - zeros
        k = np.where(p < neg, start + p, start + past)
        k = np.clip(k, 0, max(values.shape[0] - 1, 0))
        v = values[k] if values.shape[0] else np.zeros(p.shape)
        return np.where((p >= neg) & (p < neg + zeros), 0.0, v).astype(X.dtype)

    low, high = values_at(below), values_at(above)
    step = high - low  # NumPy's lerp, exact at both ends (as quantiles_chunk)
    result = low + step * weight
    np.subtract(high, step * (1 - weight), out=result, where=weight >= 0.5)
    result[:, m == 0] = np.nan
    return result


def _comb(a, b):
    """C(a, b) elementwise for an integer array a (int64 or Python ints), exactly."""
    c = np.ones_like(a)
    for i in range(b):
        c = c * np.maximum(a - i, 0) // (i + 1)
    return c


def _rank_tables(features, n, max_degree, interaction_only):
    """T[r, v] at v = each feature and each feature + gap (gap 1 without
    repetition): the combinations whose value at a position with r more
    after it is below v.  With repetition T[r, v] = sum_{u<v} C(n - u + r
    - 1, r) = C(n + r, r + 1) - C(n - v + r, r + 1); without, sum_{u<v}
    C(n - 1 - u, r) = C(n, r + 1) - C(n - v, r + 1).  Exact (Python
    integers where int64 could overflow)."""
    from math import comb

    gap = int(bool(interaction_only))
    safe = max_degree == 0 or comb(n + max_degree, max_degree) * (n + max_degree) < 2**62
    v = features.astype(np.int64 if safe else object)
    tables = []
    for at in (v, v + gap):
        rows = []
        for r in range(max_degree):
            top = n if interaction_only else n + r
            rows.append(comb(top, r + 1) - _comb(top - at, r + 1))
        tables.append(np.ascontiguousarray(
            np.array(rows, dtype=object if not safe else np.int64)
            .reshape(max_degree, len(features)).astype(np.int64)))
    return tables


def sparse_polynomial_features_chunk(X, degree=2, *, interaction_only=False,
                                     include_bias=True, n_threads=1):
    """Polynomial features of a sparse block, as a sparse block.

    scikit-learn's ``PolynomialFeatures`` on sparse input: the same columns
    in the same order (bias, degree 1, then each degree's monomials in
    lexicographic order), each product computed left to right in X's dtype
    as scikit-learn does.  Only the monomials of stored values are stored
    (plus the bias column): the work and the output are
    ``sum_k C(nnz_row + k - 1, k)`` per row, whatever the number of columns.
    Rows on ``n_threads`` threads.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n, d)
        CSR or CSC, float32 or float64; duplicates are summed first.
    degree : int or (min_degree, max_degree), default=2
        Degrees up to 32.
    interaction_only : bool, default=False
    include_bias : bool, default=True
    n_threads : int, default=1

    Returns
    -------
    scipy.sparse matrix or array of shape (n, n_output)
        X's format and class, X's dtype, sorted indices.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from fastml.kernels import sparse_polynomial_features_chunk
    >>> X = sparse.csr_array([[2.0, 0.0, 3.0]])
    >>> sparse_polynomial_features_chunk(X).toarray()
    array([[1., 2., 0., 3., 4., 0., 6., 0., 0., 9.]])

    Row-local: one delayed call per block of rows on Dask, stacked:

    >>> import dask
    >>> X = sparse.random(100, 6, density=0.3, format="csr", random_state=0)
    >>> parts = [dask.delayed(sparse_polynomial_features_chunk)(X[i:i + 50], 3)
    ...          for i in range(0, 100, 50)]
    >>> from sklearn.preprocessing import PolynomialFeatures
    >>> P = sparse.vstack(dask.compute(*parts))
    >>> np.allclose(P.toarray(), PolynomialFeatures(3).fit_transform(X.toarray()))
    True
    """
    from fastml._kernels import _sparse
    from fastml.kernels.features import n_polynomial_terms, polynomial_degree_range

    n_threads = check_positive_int(n_threads, "n_threads")
    low, high = polynomial_degree_range(degree)
    if high > 32:
        raise ValueError(f"degree {high} is too large for sparse input (at most 32).")
    original = X
    X = as_sparse_block(X, canonical=True)
    fmt = X.format
    X = X.tocsr() if fmt == "csc" else X
    n, d = X.shape
    degrees = np.arange(max(1, low), high + 1, dtype=np.intp)
    if interaction_only:
        degrees = degrees[degrees <= d]
    sizes = [n_polynomial_terms(d, int(k), int(k), interaction_only) for k in degrees]
    offsets = np.cumsum([int(include_bias)] + sizes[:-1]).astype(np.int64)[:len(sizes)]
    n_out = int(include_bias) + sum(sizes)
    # stored monomials of each row: sum_k C(s + k - 1, k) (C(s, k) without repetition)
    s = np.diff(X.indptr).astype(np.int64)
    if s.size and (int(s.max()) + high) ** max(high, 1) >= 2**62:   # exact Python integers
        s = s.astype(object)
    per_row = np.full(n, int(include_bias), dtype=s.dtype)
    for k in degrees:
        per_row = per_row + (_comb(s, int(k)) if interaction_only
                             else _comb(s + int(k) - 1, int(k)))
    out_ptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(per_row.astype(np.intp), out=out_ptr[1:])
    data, indices, indptr = _parts(X)
    # the rank tables cover every feature when that is cheap, else only the
    # features present (the indices become codes of those)
    if d <= max(1 << 16, X.nnz):
        features, codes = np.arange(d), indices
    else:
        features, codes = np.unique(indices, return_inverse=True)
    ta, tb = _rank_tables(features, d, high, interaction_only)
    out_data = np.empty(out_ptr[-1], dtype=X.dtype)
    small = max(n_out, out_ptr[-1]) <= np.iinfo(np.int32).max   # int32, as scikit-learn's
    out_indices = np.empty(out_ptr[-1], dtype=np.int32 if small else np.int64)
    _sparse.csr_polynomial(data, codes.astype(np.intp).reshape(-1), indptr, degrees, offsets,
                           ta, tb, bool(interaction_only), bool(include_bias), out_ptr,
                           out_data, out_indices, threads_for(out_ptr[-1] * 4, n_threads))
    from scipy import sparse

    out_ptr = out_ptr.astype(out_indices.dtype)
    csr = sparse.csr_array if isinstance(original, sparse.sparray) else sparse.csr_matrix
    out = csr((out_data, out_indices, out_ptr), shape=(n, n_out))
    out.has_sorted_indices = True
    return out.tocsc() if fmt == "csc" else out
