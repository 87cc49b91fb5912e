"""fastml.kernels.argkmin_sparse_chunk against a brute-force reference on
the densified rows: SciPy's cdist in float64, then a stable sort by
(distance, index)."""
import numpy as np
import pytest
from scipy import sparse
from scipy.spatial.distance import cdist

from fastml.kernels import argkmin_sparse_chunk, radius_neighbors_sparse_chunk
from test_sparse_preprocessing import unsort_indices

METRICS = ["euclidean", "sqeuclidean", "cosine", "cityblock", "manhattan", "l1"]
CDIST_NAMES = {"manhattan": "cityblock", "l1": "cityblock"}


def brute_force(X, Y, k, metric):
    Xd, Yd = X.toarray().astype(np.float64), Y.toarray().astype(np.float64)
    D = cdist(Xd, Yd, CDIST_NAMES.get(metric, metric))
    if metric == "cosine":   # a zero row is at distance 1, as in scikit-learn
        D[np.nan_to_num(D, nan=-1) < 0] = 1.0
        D[(Xd == 0).all(axis=1), :] = 1.0
        D[:, (Yd == 0).all(axis=1)] = 1.0
    order = np.lexsort((np.broadcast_to(np.arange(Y.shape[0]), D.shape), D), axis=-1)[:, :k]
    return np.take_along_axis(D, order, axis=1), order


def text_like(rng, n, d, density, dtype=np.float64, fmt="csr"):
    """Sparse rows with some empty rows, and a few rows repeated (exact ties)."""
    A = sparse.random(n, d, density=density, format="csr", dtype=np.float64, random_state=rng)
    A = A.tolil()
    A[3] = 0                    # an empty row
    if n > 10:
        A[7] = A[5]             # a repeated row: ties, and a pair at distance 0
    return A.asformat(fmt).astype(dtype)


def with_row(A, r, row):
    """A copy of A with row r replaced."""
    A = A.tolil()
    A[r] = row
    return A.tocsr()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", METRICS)
def test_matches_brute_force(rng, metric, dtype):
    X = text_like(rng, 40, 500, 0.05, dtype)
    Y = text_like(rng, 900, 500, 0.05, dtype)
    Y = with_row(Y, 20, X[0])   # an exact neighbour, recomputed from differences
    for n_threads in (1, 2):
        d, i = argkmin_sparse_chunk(X, Y, 6, metric, n_threads=n_threads)
        ref_d, ref_i = brute_force(X, Y, 6, metric)
        assert d.dtype == dtype and i.dtype == np.int64 and d.shape == (40, 6)
        np.testing.assert_array_equal(i, ref_i)
        if metric == "cosine":
            np.testing.assert_allclose(d, ref_d, rtol=1e-6 if dtype == np.float32 else 1e-13,
                                       atol=1e-7 if dtype == np.float32 else 1e-15)
        else:   # the winners from differences, summed in feature order: as cdist
            np.testing.assert_array_equal(d, ref_d.astype(dtype))
    assert d[0, 0] == 0 and i[0, 0] == 20


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("array_class", [False, True])
def test_any_sparse_format_and_class(rng, fmt, array_class):
    X = text_like(rng, 15, 60, 0.2, fmt=fmt)
    Y = text_like(rng, 70, 60, 0.2, fmt=fmt)
    if array_class:
        X, Y = sparse.csr_array(X).asformat(fmt), sparse.csr_array(Y).asformat(fmt)
    d, i = argkmin_sparse_chunk(X, Y, 4, "euclidean")
    ref_d, ref_i = brute_force(X, Y, 4, "euclidean")
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(d, ref_d, rtol=1e-13)


def test_unsorted_duplicate_and_explicit_zero_entries(rng):
    """A non-canonical CSR (unsorted indices, duplicates summed, stored
    zeros) gives the neighbours of its canonical form; the input is not
    changed."""
    Y = text_like(rng, 50, 30, 0.3)
    reversed_rows = unsort_indices(Y.copy())
    data, indices, indptr = reversed_rows.data, reversed_rows.indices, reversed_rows.indptr
    messy = sparse.csr_matrix((np.append(data, [0.0, 0.5, 0.25]),
                               np.append(indices, [0, 4, 4]),
                               np.append(indptr[:-1], [indptr[-1] + 3])), shape=Y.shape)
    before = messy.data.copy()
    X = text_like(rng, 10, 30, 0.3)
    got = argkmin_sparse_chunk(X, messy, 5, "cosine")
    clean = messy.copy()
    clean.sum_duplicates()
    ref_d, ref_i = brute_force(X, clean, 5, "cosine")
    np.testing.assert_array_equal(got[1], ref_i)
    np.testing.assert_allclose(got[0], ref_d, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(messy.data, before)


def test_all_zero_x_and_empty_y_rows(rng):
    """No stored value at all in X (and empty rows of Y): every distance
    comes from the row statistics alone."""
    X = sparse.csr_matrix((4, 30))
    Y = text_like(rng, 40, 30, 0.2)
    for metric in METRICS:
        d, i = argkmin_sparse_chunk(X, Y, 3, metric)
        ref_d, ref_i = brute_force(X, Y, 3, metric)
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_allclose(d, ref_d, rtol=1e-14)


def test_int64_indices_and_mixed_dtypes(rng):
    X = text_like(rng, 12, 40, 0.2, np.float32)
    Y = text_like(rng, 80, 40, 0.2)
    Y64 = sparse.csr_matrix((Y.data, Y.indices.astype(np.int64), Y.indptr.astype(np.int64)),
                            shape=Y.shape)
    d, i = argkmin_sparse_chunk(X, Y64, 3, "sqeuclidean")
    ref_d, ref_i = brute_force(X, Y, 3, "sqeuclidean")
    assert d.dtype == np.float64          # float32 with float64: float64
    np.testing.assert_array_equal(i, ref_i)


def test_a_dense_side_is_taken_as_csr(rng):
    X, Y = text_like(rng, 8, 25, 0.3), text_like(rng, 60, 25, 0.3)
    expected = argkmin_sparse_chunk(X, Y, 3, "cosine")
    for got in (argkmin_sparse_chunk(X.toarray(), Y, 3, "cosine"),
                argkmin_sparse_chunk(X, Y.toarray(), 3, "cosine")):
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_array_equal(got[0], expected[0])


def test_k_larger_than_y_and_empty_inputs(rng):
    X, Y = text_like(rng, 5, 20, 0.3), text_like(rng, 4, 20, 0.5)
    d, i = argkmin_sparse_chunk(X, Y, 6)
    assert np.all(i[:, 4:] == -1) and np.all(np.isinf(d[:, 4:]))
    np.testing.assert_array_equal(i[:, :4], brute_force(X, Y, 4, "euclidean")[1])
    d, i = argkmin_sparse_chunk(X[:0], Y, 2)
    assert d.shape == i.shape == (0, 2)


def test_nearly_parallel_rows_keep_their_digits():
    """1 - cos of nearly parallel rows, and |x - y|^2 of nearly equal rows,
    lose every digit in the identity; they are recomputed."""
    base = np.zeros((1, 1000))
    base[0, ::7] = np.linspace(1, 2, base[0, ::7].size)
    near = base.copy()
    near[0, 14] += 1e-7
    Y = sparse.csr_matrix(np.vstack([near, 2 * base]))
    X = sparse.csr_matrix(base)
    d, i = argkmin_sparse_chunk(X, Y, 2, "sqeuclidean")
    assert i[0, 0] == 0 and d[0, 0] == pytest.approx(1e-14, rel=1e-6)
    d, i = argkmin_sparse_chunk(X, Y, 2, "cosine")
    assert i[0, 0] == 1 and d[0, 0] == 0.0   # 2 * base is parallel: exactly 0
    d, i = argkmin_sparse_chunk(X, Y, 2, "cityblock")
    assert i[0, 0] == 0 and d[0, 0] == pytest.approx(1e-7, rel=1e-8)


@pytest.mark.parametrize("call, match", [
    (lambda X, Y: argkmin_sparse_chunk(X.toarray()[0], Y, 2), "2-D|2D|dimension"),
    (lambda X, Y: argkmin_sparse_chunk(X, Y[:, :5], 2), "features"),
    (lambda X, Y: argkmin_sparse_chunk(X, Y, 2, "chebyshev"), "not available for sparse"),
    (lambda X, Y: argkmin_sparse_chunk(X, Y, 0), "k"),
    (lambda X, Y: argkmin_sparse_chunk(X * np.nan, Y, 2), "NaN or infinity"),
])
def test_bad_input_gets_a_clear_error(rng, call, match):
    X, Y = text_like(rng, 5, 20, 0.3), text_like(rng, 30, 20, 0.3)
    with pytest.raises((ValueError, TypeError), match=match):
        call(X, Y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("sort_results", [False, True])
def test_radius_matches_brute_force(rng, metric, dtype, sort_results):
    X = text_like(rng, 30, 200, 0.05, dtype)
    Y = text_like(rng, 500, 200, 0.05, dtype)
    Y = with_row(Y, 9, X[2])
    full = cdist(X.toarray().astype(np.float64), Y.toarray().astype(np.float64),
                 CDIST_NAMES.get(metric, metric))
    if metric == "cosine":
        full = np.nan_to_num(full, nan=1.0)
    near = np.sort(full[0])
    if dtype == np.float64 and metric != "cosine":
        radius = float(near[5])   # equal to a distance: the same sums as cdist's decide
    else:   # other roundings than cdist's: a radius between two distances
        radius = float((near[5] + near[6]) / 2)
    for n_threads in (1, 2):
        offsets, indices, distances = radius_neighbors_sparse_chunk(
            X, Y, radius, metric, n_threads=n_threads, sort_results=sort_results)
        assert distances.dtype == dtype and indices.dtype == offsets.dtype == np.int64
        for r in range(X.shape[0]):
            got_i = indices[offsets[r]:offsets[r + 1]]
            got_d = distances[offsets[r]:offsets[r + 1]]
            expected = np.flatnonzero(full[r] <= radius)
            if sort_results:
                expected = expected[np.lexsort((expected, full[r, expected]))]
            np.testing.assert_array_equal(got_i, expected)
            np.testing.assert_allclose(got_d, full[r, expected], atol=1e-15,
                                       rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert offsets[1] - offsets[0] == 6


def test_radius_zero_keeps_exact_duplicates_only(rng):
    Y = text_like(rng, 40, 30, 0.3)
    offsets, indices, distances = radius_neighbors_sparse_chunk(Y, Y, 0.0)
    dense = Y.toarray()
    for r in range(Y.shape[0]):
        same = np.flatnonzero((dense == dense[r]).all(axis=1))
        np.testing.assert_array_equal(indices[offsets[r]:offsets[r + 1]], same)
    assert np.all(distances == 0)


def test_a_sparse_index_gives_the_matrix_results_and_pickles(rng):
    import pickle

    from fastml.kernels import SparseIndex

    X, Y = text_like(rng, 10, 50, 0.2), text_like(rng, 120, 50, 0.2, np.float32)
    index = SparseIndex(Y)
    for metric in ("euclidean", "cosine", "l1"):
        expected = argkmin_sparse_chunk(X, Y, 4, metric)
        for Y_as in (index, pickle.loads(pickle.dumps(index))):
            got = argkmin_sparse_chunk(X, Y_as, 4, metric)
            np.testing.assert_array_equal(got[1], expected[1])
            np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(radius_neighbors_sparse_chunk(X, index, 1.0, metric)[1],
                                      radius_neighbors_sparse_chunk(X, Y, 1.0, metric)[1])
    assert index._transposed is not None and pickle.loads(pickle.dumps(index))._stats == {}


def test_common_features_as_dense_columns_give_the_same_bits(rng, monkeypatch):
    """Features most rows hold are added from dense columns; the sums, and
    so every result, are the same bits as from their posting lists."""
    import fastml.kernels.sparse_distances as sd
    from fastml.kernels import SparseIndex, sparse_pairwise_distances_chunk

    X, Y = text_like(rng, 25, 60, 0.1), text_like(rng, 3000, 60, 0.1)
    Y = Y.tolil()
    Y[:, 0] = rng.uniform(0.5, 1, (3000, 1))                 # in every row
    Y[rng.random(3000) < 0.6, 7] = 2.0                       # in most rows
    Y = Y.tocsr()
    index = SparseIndex(Y)
    slot, columns = index.dense_columns()
    assert slot[0] >= 0 and slot[7] >= 0 and columns.shape[0] == 2
    monkeypatch.setattr(sd, "DENSE_SHARE", 2.0)            # no dense column at all
    plain = SparseIndex(Y)
    assert plain.dense_columns()[1].shape[0] == 1 and (plain.dense_columns()[0] < 0).all()
    for metric in ("euclidean", "cosine", "manhattan"):
        for a, b in zip(argkmin_sparse_chunk(X, index, 5, metric),
                        argkmin_sparse_chunk(X, plain, 5, metric)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sparse_pairwise_distances_chunk(X, index, metric),
                                      sparse_pairwise_distances_chunk(X, plain, metric))
    ref_d, ref_i = brute_force(X, Y, 5, "euclidean")
    d, i = argkmin_sparse_chunk(X, index, 5, "euclidean")
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
