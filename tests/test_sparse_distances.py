"""Sparse pairwise distances: the compiled kernel against SciPy's cdist on
the densified rows (an independent exact reference), and
fastml.metrics.pairwise_distances(_chunked) against scikit-learn on
sparse input (values, dtypes, errors)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from scipy.spatial.distance import cdist
from sklearn import metrics as skm

from fastml.kernels import sparse_pairwise_distances_chunk
from fastml.metrics import pairwise_distances, pairwise_distances_chunked

CONSTRUCTORS = {
    ("csr", "matrix"): sparse.csr_matrix, ("csr", "array"): sparse.csr_array,
    ("csc", "matrix"): sparse.csc_matrix, ("csc", "array"): sparse.csc_array,
}
KERNEL_METRICS = {"euclidean": "euclidean", "l2": "euclidean", "sqeuclidean": "sqeuclidean",
                  "cosine": "cosine", "manhattan": "cityblock", "cityblock": "cityblock",
                  "l1": "cityblock"}
PUBLIC_METRICS = ["euclidean", "l2", "cosine", "manhattan", "cityblock", "l1"]


def make_pair(fmt="csr", kind="array", dtype=np.float64, n=60, m=45, d=80, seed=0):
    """Sparse X and Y with empty rows and columns, explicit zeros, unsorted
    indices, near-duplicate rows (the identity's worst case) and a row of
    Y equal to a row of X."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.1)
    B = rng.normal(size=(m, d)) * (rng.random((m, d)) < 0.1)
    A[3] = 0.0                                   # empty rows
    B[4] = 0.0
    A[:, 7] = B[:, 7] = 0.0                      # an empty column
    A[10] = 100.0 * (rng.random(d) < 0.2) + 1.0 * (rng.random(d) < 0.5)
    B[11] = A[10]
    B[11, np.flatnonzero(A[10])[0]] += 1e-7      # very close to A[10]
    B[12] = A[10]                                # equal to A[10]
    A, B = A.astype(dtype), B.astype(dtype)
    blocks = []
    for D in (A, B):
        S = CONSTRUCTORS[fmt, kind](D)
        coo = S.tocoo()
        # an explicit zero, then every segment's entries reversed (unsorted)
        S = CONSTRUCTORS[fmt, kind]((np.append(coo.data, dtype(0)),
                                     (np.append(coo.row, 0), np.append(coo.col, 7))),
                                    shape=D.shape)
        S.sum_duplicates()
        for s in range(S.indptr.shape[0] - 1):
            a, b = S.indptr[s], S.indptr[s + 1]
            S.indices[a:b] = S.indices[a:b][::-1].copy()
            S.data[a:b] = S.data[a:b][::-1].copy()
        S.has_sorted_indices = False
        blocks.append(S)
    return blocks[0], blocks[1], A, B


def reference(A, B, metric):
    R = cdist(A.astype(np.float64), B.astype(np.float64), KERNEL_METRICS[metric])
    return np.where(np.isnan(R), 1.0, R)   # cosine of a zero row: 1, as scikit-learn


def precise(a, b, metric):
    """One pair's distance from its differences (cdist's cosine is
    1 - cos, which rounds a near-duplicate pair to 0)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    if KERNEL_METRICS[metric] == "cosine":
        return 0.5 * np.sum((a / np.linalg.norm(a) - b / np.linalg.norm(b)) ** 2)
    return reference(a[None], b[None], metric)[0, 0]


def int32_indices(S):
    """S with int32 indices: scikit-learn's sparse manhattan refuses int64."""
    if not sparse.issparse(S):
        return S
    S = S.copy()
    S.indices, S.indptr = S.indices.astype(np.int32), S.indptr.astype(np.int32)
    return S


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("fmt,kind", list(CONSTRUCTORS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", list(KERNEL_METRICS))
def test_kernel_matches_cdist(fmt, kind, dtype, metric):
    X, Y, A, B = make_pair(fmt, kind, dtype)
    D = sparse_pairwise_distances_chunk(X, Y, metric, n_threads=2)
    manhattan = KERNEL_METRICS[metric] == "cityblock"
    assert D.dtype == (np.float64 if manhattan else dtype)
    R = reference(A, B, metric)
    assert_allclose(D, R, **tolerance(dtype))
    # the near-duplicate and the equal pair: exact, not the identity's rounding
    assert D[10, 12] == 0
    assert_allclose(D[10, 11], precise(A[10], B[11], metric),
                    rtol=1e-4 if dtype == np.float32 else (1e-6 if metric == "cosine" else 1e-9))
    # sparse x dense and dense x sparse give the same numbers
    assert_allclose(sparse_pairwise_distances_chunk(X, B, metric), D, **tolerance(dtype))
    assert_allclose(sparse_pairwise_distances_chunk(A, Y, metric), D, **tolerance(dtype))


@pytest.mark.parametrize("metric", list(KERNEL_METRICS))
def test_kernel_symmetric_and_thread_independent(metric):
    X, _, A, _ = make_pair("csr", "matrix", np.float64, n=150)
    D1 = sparse_pairwise_distances_chunk(X, metric=metric, n_threads=1)
    D4 = sparse_pairwise_distances_chunk(X, metric=metric, n_threads=4)
    assert_array_equal(D1, D4)
    assert_array_equal(D1, D1.T)
    assert_array_equal(np.diag(D1), 0)
    R = reference(A, A, metric)
    np.fill_diagonal(R, 0)
    assert_allclose(D1, R, rtol=1e-12, atol=1e-13)


def test_kernel_duplicates_empty_and_errors():
    X = sparse.csr_array((np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2, 2])),
                         shape=(2, 2))   # duplicate entries: row 0 is (3, 0)
    assert_allclose(sparse_pairwise_distances_chunk(X, metric="euclidean"), [[0, 3], [3, 0]])
    assert sparse_pairwise_distances_chunk(sparse.csr_array((0, 4)),
                                           sparse.csr_array((3, 4))).shape == (0, 3)
    with pytest.raises(ValueError, match="not available for sparse rows"):
        sparse_pairwise_distances_chunk(X, metric="minkowski")
    with pytest.raises(ValueError, match="same number of features"):
        sparse_pairwise_distances_chunk(X, sparse.csr_array((1, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        sparse_pairwise_distances_chunk(sparse.csr_array(np.eye(2, dtype=complex)))


# ------------------------------------------------------------------ public API

@pytest.mark.parametrize("fmt,kind", list(CONSTRUCTORS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", PUBLIC_METRICS)
def test_pairwise_distances_sparse_as_scikit_learn(fmt, kind, dtype, metric):
    X, Y, A, B = make_pair(fmt, kind, dtype)
    for args in ((X, Y), (X, None), (X, B), (A, Y)):
        ours = pairwise_distances(*args, metric=metric)
        theirs = skm.pairwise_distances(*map(int32_indices, args), metric=metric)
        assert type(ours) is np.ndarray and ours.dtype == theirs.dtype
        # scikit-learn's identity is not recomputed for close pairs (its
        # [10, 11] is off by 5e-6): compare loosely, and exactly to cdist
        close = np.zeros(ours.shape, dtype=bool)
        if args[1] is not None:
            close[10, 11] = True
        assert_allclose(ours[~close], theirs[~close], rtol=1e-4 if dtype == np.float32
                        else 1e-7, atol=1e-3 if dtype == np.float32 else 1e-6)
        a = args[0].toarray() if sparse.issparse(args[0]) else args[0]
        b = a if args[1] is None else (args[1].toarray() if sparse.issparse(args[1])
                                       else args[1])
        R = reference(a, b, metric)
        if args[1] is None:
            np.fill_diagonal(R, 0)   # as scikit-learn: a zero row's cosine too
        assert_allclose(ours[~close], R[~close], **tolerance(dtype))
    assert_array_equal(np.diag(pairwise_distances(X, X, metric=metric)), 0)


@pytest.mark.parametrize("metric", ["sqeuclidean", "minkowski", "jaccard", "correlation"])
def test_pairwise_distances_sparse_refused_as_scikit_learn(metric):
    X, Y, _, _ = make_pair()
    with pytest.raises(TypeError, match="scipy distance metrics do not support sparse"):
        pairwise_distances(X, Y, metric=metric)
    with pytest.raises(TypeError, match="scipy distance metrics do not support sparse"):
        next(pairwise_distances_chunked(X, Y, metric=metric))


def test_pairwise_distances_sparse_deferred_cases():
    X, Y, _, _ = make_pair(n=20, m=15)
    # keyword parameters and callables: scikit-learn's own results
    assert_allclose(pairwise_distances(X, Y, metric="euclidean", squared=True),
                    skm.pairwise_distances(X, Y, metric="euclidean", squared=True))

    def first(a, b):
        return abs(a[0, 0] - b[0, 0])

    from fastml._validation.metrics import SlowMetricWarning

    with pytest.warns(SlowMetricWarning, match="callable metric on sparse input"):
        ours = pairwise_distances(X, Y, metric=first)
    assert_allclose(ours, skm.pairwise_distances(X, Y, metric=first))
    with pytest.warns(SlowMetricWarning, match="callable metric on sparse input"):
        blocks = list(pairwise_distances_chunked(X, Y, metric=first))
    assert_allclose(np.vstack(blocks), ours)
    with pytest.raises(ValueError):
        pairwise_distances(X, Y, metric="no-such-metric")
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pairwise_distances(bad, Y)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
@pytest.mark.parametrize("with_y", [False, True])
def test_pairwise_distances_chunked_sparse(metric, with_y):
    X, Y, _, _ = make_pair("csr", "array", np.float64, n=200)
    Y = Y if with_y else None
    whole = pairwise_distances(X, Y, metric=metric)
    # 0.05 MiB: several blocks of rows
    blocks = list(pairwise_distances_chunked(X, Y, metric=metric, working_memory=0.05))
    assert len(blocks) > 1
    assert_array_equal(np.vstack(blocks), whole)
    reduced = list(pairwise_distances_chunked(
        X, Y, metric=metric, working_memory=0.05,
        reduce_func=lambda D, start: D.argmin(axis=1)))
    assert_array_equal(np.concatenate(reduced), whole.argmin(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dask_arrays_of_sparse_blocks_give_the_in_memory_matrix(client, dtype):
    """Dask arrays whose blocks are scipy.sparse rows, computed on the
    test's LocalCluster: the same bits as in memory, for Y and for Y=None
    (whose diagonal is 0, a zero row's cosine distance to itself too)."""
    import dask.array as da

    X, Y, _, _ = make_pair("csr", "matrix", dtype, n=150)
    X = X.tolil()
    X[4] = 0                                      # a zero row
    X = X.tocsr()
    Xd = da.from_array(X, chunks=(40, X.shape[1]), asarray=False)
    Yd = da.from_array(Y, chunks=(70, Y.shape[1]), asarray=False)
    for metric in ("euclidean", "cosine", "manhattan"):
        for lazy, expected in ((pairwise_distances(Xd, Yd, metric=metric),
                                pairwise_distances(X, Y, metric=metric)),
                               (pairwise_distances(Xd, metric=metric),
                                pairwise_distances(X, metric=metric))):
            assert isinstance(lazy, da.Array) and lazy.dtype == expected.dtype
            assert_array_equal(client.compute(lazy, sync=True), expected)
    with pytest.raises(NotImplementedError, match="sparse blocks"):
        pairwise_distances(Xd, Yd, metric="chebyshev")
