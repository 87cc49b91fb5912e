"""Feature expansions of blocks of rows: polynomial terms and random
Fourier features (row-local, so ``map_blocks`` over row chunks)."""
import numbers

import numpy as np

from fastml._threads import threads_for
from fastml._validation import as_float_block, check_positive_int

__all__ = [
    "polynomial_features_chunk",
    "fourier_features_chunk",
    "polynomial_degree_range",
    "n_polynomial_terms",
    "polynomial_plan",
]


def polynomial_degree_range(degree):
    """(min_degree, max_degree) of a polynomial ``degree``: an int d >= 0
    means (0, d); a pair must satisfy 0 <= min_degree <= max_degree."""
    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if is_int(degree):
        if degree < 0:
            raise ValueError(f"degree must be a non-negative int, got {degree}.")
        return 0, int(degree)
    if isinstance(degree, (tuple, list)) and len(degree) == 2 and all(map(is_int, degree)):
        low, high = int(degree[0]), int(degree[1])
        if not 0 <= low <= high:
            raise ValueError(
                "degree=(min_degree, max_degree) must be non-negative integers that "
                f"fulfil min_degree <= max_degree, got {degree}."
            )
        return low, high
    raise ValueError(f"degree must be a non-negative int or tuple (min_degree, max_degree), "
                     f"got {degree!r}.")


def polynomial_plan(n_features, min_degree, max_degree, interaction_only, include_bias):
    """How each output column of polynomial features is built.

    Returns (parent, feature, keep): column c of the full expansion is
    ``column[parent[c]] * X[:, feature[c]]`` (parent -1: ``X[:, feature[c]]``;
    -2: the constant 1), in scikit-learn's column order: bias, degree 1,
    then for each degree the terms grouped by their first feature, each
    the previous degree's terms from that feature on times it.  ``keep``
    lists the columns of degree >= min_degree (and the bias).
    """
    parent, feature = [], []
    if include_bias:
        parent.append(-2)
        feature.append(0)
    first = len(parent)
    if max_degree >= 1:
        parent += [-1] * n_features
        feature += list(range(n_features))
    index = list(range(first, first + n_features)) + [first + n_features]
    for _ in range(2, max_degree + 1):
        new_index, end = [], index[-1]
        for j in range(n_features):
            start = index[j] + (index[j + 1] - index[j] if interaction_only else 0)
            new_index.append(len(parent))
            if end <= start:
                break
            parent += range(start, end)
            feature += [j] * (end - start)
        new_index.append(len(parent))
        index = new_index
    n_full = len(parent)
    if min_degree <= 1:
        keep = list(range(n_full))
    else:
        # drop the terms of degree 1 ... min_degree - 1, keep the bias
        n_low = first + n_polynomial_terms(n_features, 1, min_degree - 1, interaction_only)
        keep = list(range(first)) + list(range(n_low, n_full))
    as_index = lambda v: np.asarray(v, dtype=np.intp)  # noqa: E731
    return as_index(parent), as_index(feature), as_index(keep)


def n_polynomial_terms(n_features, low, high, interaction_only):
    """The number of monomials of degree low ... high in n_features variables."""
    from math import comb

    if interaction_only:
        return sum(comb(n_features, k) for k in range(low, min(high, n_features) + 1))
    return sum(comb(n_features + k - 1, k) for k in range(low, high + 1))


def polynomial_features_chunk(X, degree=2, *, interaction_only=False, include_bias=True,
                              n_threads=1):
    """All monomials of the features up to ``degree``, in one pass.

    scikit-learn's ``PolynomialFeatures`` output, bit for bit: the same
    columns in the same order (bias, degree 1, then each degree's terms
    grouped by their first feature), each computed in X's dtype as the
    product of a lower-degree term and one feature, as scikit-learn
    multiplies.  Each row's terms are built in a small per-thread buffer,
    so the output is written once.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    degree : int or (min_degree, max_degree), default=2
    interaction_only : bool, default=False
        Only products of distinct features.
    include_bias : bool, default=True
        A first column of ones.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n, n_output), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import polynomial_features_chunk
    >>> polynomial_features_chunk(np.array([[2.0, 3.0]]))
    array([[1., 2., 3., 4., 6., 9.]])

    Row-local, so ``map_blocks`` over row blocks (all columns in one block):

    >>> import dask.array as da
    >>> from fastml.kernels import n_polynomial_terms
    >>> X = da.from_array(np.arange(12.0).reshape(4, 3), chunks=(2, 3))
    >>> width = n_polynomial_terms(3, 0, 2, False)
    >>> P = X.map_blocks(polynomial_features_chunk, chunks=(X.chunks[0], (width,)), dtype=X.dtype)
    >>> P.shape, np.array_equal(P.compute(), polynomial_features_chunk(X.compute()))
    ((4, 10), True)
    """
    from fastml._kernels import _features

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(as_float_block(X, "X"))
    low, high = polynomial_degree_range(degree)
    parent, feature, keep = polynomial_plan(X.shape[1], low, high, interaction_only,
                                             include_bias)
    out = np.empty((X.shape[0], keep.shape[0]), dtype=X.dtype)
    if out.size:
        n_threads = threads_for(out.size, n_threads)
        scratch = np.empty((n_threads, parent.shape[0]), dtype=X.dtype)
        _features.polynomial_rows(X, parent, feature, keep, scratch, out, n_threads)
    return out


def fourier_features_chunk(X, weights, offset, *, n_threads=1):
    """Random Fourier features ``sqrt(2 / m) * cos(X @ weights + offset)``.

    The projection is one BLAS product in X's dtype (on BLAS's own
    threads), written into the output; one compiled pass then adds the
    offset, takes a vectorised cosine and scales, in place, rows over
    ``n_threads`` threads.  NumPy's ``np.cos``, most of scikit-learn's time,
    is not used.  Everything runs in X's dtype, as in scikit-learn: float64
    within 2 ulp of libm's cosine, float32 within one float32 ulp of 1
    (absolute) of the exact cosine of the float32 argument.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (d, m)
        ``RBFSampler.random_weights_``.
    offset : ndarray of shape (m,)
        ``RBFSampler.random_offset_``.
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n, m), X's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import fourier_features_chunk
    >>> Z = fourier_features_chunk(np.array([[0.0], [np.pi]]), np.ones((1, 2)), [0.0, np.pi])
    >>> Z  # sqrt(2 / 2) * cos([[0, pi], [pi, 2 pi]])
    array([[ 1., -1.],
           [-1.,  1.]])

    Row-local, so ``map_blocks`` over the row blocks of a Dask array:

    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> weights, offset = rng.normal(size=(3, 5)), rng.uniform(0, 2 * np.pi, 5)
    >>> X = da.from_array(rng.normal(size=(8, 3)), chunks=(4, 3))
    >>> Z = X.map_blocks(fourier_features_chunk, weights, offset, chunks=(X.chunks[0], (5,)),
    ...                  dtype=X.dtype)
    >>> np.allclose(Z.compute(), np.sqrt(2 / 5) * np.cos(X.compute() @ weights + offset))
    True
    """
    from fastml._kernels import _features

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(as_float_block(X, "X"))
    weights = np.asarray(weights)
    offset = np.ascontiguousarray(offset, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != X.shape[1] or offset.shape != (weights.shape[1],):
        raise ValueError(
            f"weights must have shape ({X.shape[1]}, m) and offset shape (m,), got "
            f"{weights.shape} and {offset.shape}."
        )
    m = weights.shape[1]
    out = np.empty((X.shape[0], m), dtype=X.dtype)
    if out.size:
        # BLAS's own threads: limiting them would change a setting of the whole
        # process while other threads (Dask's) may be calling BLAS too
        np.matmul(X, weights.astype(X.dtype, copy=False), out=out)
        _features.cos_rows(out, offset.astype(X.dtype), float(np.sqrt(2.0 / m)),
                           np.empty((n_threads, m), dtype=X.dtype), n_threads)
    return out
