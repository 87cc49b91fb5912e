"""fastml.kernels.argkmin_chunk, merge_argkmin and radius_neighbors_chunk
against a brute-force reference: SciPy's cdist in float64, then a stable
sort by (distance, index).

Ranking is judged on distances, not on index lists alone: where two
candidates are closer than the dtype's rounding, either may be the k-th
neighbour.  So each test checks that (a) the returned distances are the
reference's k smallest, to the tolerance of test_kernels.py, and (b) each
returned index really lies at the distance returned for it.
"""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.distance import cdist
from sklearn.metrics.pairwise import haversine_distances

from fastml import kernels
from test_kernels import DTYPES, make_data, reference, tolerance

METRICS = ["euclidean", "sqeuclidean", "cityblock", "chebyshev", "minkowski", "cosine",
           "correlation", "canberra", "braycurtis", "hamming", "jensenshannon", "seuclidean",
           "mahalanobis", "jaccard", "dice", "haversine"]


def manhattan(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += abs(a[i] - b[i])
    return s


def brute_force(X, Y, k, metric, **params):
    """(distances, indices) of the k nearest rows by (distance, index)."""
    if metric == "haversine":
        D = haversine_distances(X.astype(np.float64), Y.astype(np.float64))
    elif callable(metric):
        D = cdist(X.astype(np.float64), Y.astype(np.float64), "cityblock")
    else:
        D = reference(X, Y, metric, **params)
    order = np.lexsort((np.broadcast_to(np.arange(Y.shape[0]), D.shape), D), axis=-1)[:, :k]
    return np.take_along_axis(D, order, axis=1), order, D


def assert_knn(got, X, Y, k, metric, dtype, **params):
    dist, idx = got
    ref_d, ref_i, D = brute_force(X, Y, k, metric, **params)
    kk = min(k, Y.shape[0])
    assert dist.shape == idx.shape == (X.shape[0], k)
    assert dist.dtype == dtype and idx.dtype == np.int64
    name = metric if isinstance(metric, str) else "cityblock"
    atol = tolerance(name, dtype) * max(np.nanmax(np.abs(D)), 1e-300)
    np.testing.assert_allclose(dist[:, :kk], ref_d, rtol=0, atol=atol)
    rows = np.arange(X.shape[0])[:, None]
    np.testing.assert_allclose(D[rows, idx[:, :kk]], dist[:, :kk], rtol=0, atol=atol)
    finite = dist[:, :kk]
    assert np.all(np.diff(finite, axis=1)[~np.isnan(np.diff(finite, axis=1))] >= 0)
    for row in idx[:, :kk]:
        assert len(set(row)) == kk
    assert np.all(idx[:, kk:] == -1) and np.all(np.isinf(dist[:, kk:]))


def data_for(rng, metric, n, m, d, dtype):
    if metric == "haversine":
        X = np.column_stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-3, 3, n)])
        Y = np.column_stack([rng.uniform(-1.5, 1.5, m), rng.uniform(-3, 3, m)])
        return X.astype(dtype), Y.astype(dtype)
    return make_data(rng, metric, n, m, d, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", METRICS)
def test_argkmin_matches_brute_force(rng, metric, dtype):
    # m spans several Y blocks of the tile loop; d = 300 takes GEMM tiles.
    for n, m, d, k in [(70, 1500, 5, 7), (33, 700, 300, 4)]:
        X, Y = data_for(rng, metric, n, m, d, dtype)
        assert_knn(kernels.argkmin_chunk(X, Y, k, metric, n_threads=2), X, Y, k, metric, dtype)


@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "canberra"])
def test_argkmin_on_a_small_packed_y_any_thread_count(rng, metric, n_threads):
    """A Y packed whole (several Y blocks, under SMALL_Y_BYTES: the digits
    case) is searched in one parallel loop; the neighbours do not depend on
    the thread count."""
    X, Y = data_for(rng, metric, 450, 1347, 64, np.float64)
    got = kernels.argkmin_chunk(X, Y, 5, metric, n_threads=n_threads)
    assert_knn(got, X, Y, 5, metric, np.float64)
    one = kernels.argkmin_chunk(X, Y, 5, metric, n_threads=1)
    np.testing.assert_array_equal(got[1], one[1])
    np.testing.assert_array_equal(got[0], one[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_argkmin_custom_metric(rng, dtype):
    X, Y = make_data(rng, "cityblock", 40, 300, 6, dtype)
    assert_knn(kernels.argkmin_chunk(X, Y, 5, manhattan), X, Y, 5, manhattan, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_argkmin_k_edges(rng, dtype):
    X, Y = make_data(rng, "euclidean", 9, 12, 3, dtype)
    for k in (1, 12, 15):                    # k = 1, k = m, k > m (padded)
        assert_knn(kernels.argkmin_chunk(X, Y, k), X, Y, k, "euclidean", dtype)
    d, i = kernels.argkmin_chunk(X[:0], Y, 3)
    assert d.shape == i.shape == (0, 3) and d.dtype == dtype


@pytest.mark.parametrize("layout", ["F", "strided", "readonly"])
def test_argkmin_any_layout(rng, layout):
    X, Y = make_data(rng, "cityblock", 30, 200, 9, np.float64)
    expected = kernels.argkmin_chunk(X, Y, 4, "cityblock")
    if layout == "F":
        X2, Y2 = np.asfortranarray(X), np.asfortranarray(Y)
    elif layout == "strided":
        X2 = np.repeat(X, 2, axis=1)[:, ::2]
        Y2 = np.repeat(Y, 2, axis=0)[::2]
    else:
        X2, Y2 = X.copy(), Y.copy()
        X2.flags.writeable = Y2.flags.writeable = False
    got = kernels.argkmin_chunk(X2, Y2, 4, "cityblock")
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "chebyshev"])
def test_exact_ties_go_to_the_smaller_index(rng, metric):
    base = rng.normal(size=(50, 4))
    Y = np.vstack([base, base, base])          # every point three times
    X = base[:20] + 0.01
    d, i = kernels.argkmin_chunk(X, Y, 6, metric)
    np.testing.assert_array_equal(d[:, 0], d[:, 1])
    np.testing.assert_array_equal(d[:, 1], d[:, 2])
    assert np.all(i[:, 0] < i[:, 1]) and np.all(i[:, 1] < i[:, 2])
    assert np.all(i[:, 0] < 50)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", ["sqeuclidean", "cityblock"])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_candidates_tied_with_the_kth_keep_the_smaller_index(rng, metric, dtype, k):
    """Small integer points: many distances equal the k-th exactly, spread
    over the vector scan's blocks and its scalar tail (m = 1347, not a
    multiple of any vector width).  The result is the reference's
    (distance, index) order, exactly."""
    X = rng.integers(0, 3, size=(60, 8)).astype(dtype)
    Y = rng.integers(0, 3, size=(1347, 8)).astype(dtype)
    ref_d, ref_i, _ = brute_force(X, Y, k, metric)
    for n_threads in (1, 2):
        d, i = kernels.argkmin_chunk(X, Y, k, metric, n_threads=n_threads)
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_array_equal(d, ref_d.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_float32_euclidean_distances_are_recomputed_exactly(rng, dtype):
    X = (100 + rng.normal(size=(30, 20))).astype(dtype)
    Y = (X.astype(np.float64) * (1 + 1e-4 * rng.normal(size=X.shape))).astype(dtype)
    d, i = kernels.argkmin_chunk(X, Y, 1)
    np.testing.assert_array_equal(i[:, 0], np.arange(30))
    exact = np.sqrt(((X.astype(np.float64) - Y.astype(np.float64)) ** 2).sum(axis=1))
    np.testing.assert_allclose(d[:, 0], exact, rtol=1e-6 if dtype == np.float32 else 1e-14)


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 120), max_size=6), k=st.integers(1, 15),
       order_seed=st.integers(0, 10**6))
def test_sharded_and_merged_equals_unsharded(cuts, k, order_seed):
    rng = np.random.default_rng(0)
    Y = np.round(rng.normal(size=(120, 3)), 1)     # rounded: plenty of exact ties
    X = np.round(rng.normal(size=(15, 3)), 1)
    expected = kernels.argkmin_chunk(X, Y, k)
    bounds = [0] + sorted(cuts) + [120]
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        d, i = kernels.argkmin_chunk(X, Y[a:b], k)
        parts.append((d, np.where(i >= 0, i + a, -1)))
    # merge in a random tree order
    order_rng = np.random.default_rng(order_seed)
    while len(parts) > 1:
        j = int(order_rng.integers(len(parts) - 1))
        parts[j:j + 2] = [kernels.merge_argkmin(parts[j], parts[j + 1])]
    np.testing.assert_array_equal(parts[0][0], expected[0])
    np.testing.assert_array_equal(parts[0][1], expected[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", manhattan])
@pytest.mark.parametrize("sort_results", [False, True])
def test_radius_neighbors_match_brute_force(rng, metric, dtype, sort_results):
    X, Y = make_data(rng, "cityblock", 25, 400, 3, dtype)
    D = brute_force(X, Y, 1, metric)[2]
    radius = float(np.quantile(D, 0.05))
    offsets, idx, dist = kernels.radius_neighbors_chunk(X, Y, radius, metric,
                                                        sort_results=sort_results)
    assert offsets.shape == (26,) and offsets[0] == 0 and offsets[-1] == idx.size
    assert dist.dtype == dtype and idx.dtype == np.int64
    atol = tolerance("cityblock", dtype) * D.max()
    for r in range(25):
        got_i, got_d = idx[offsets[r]:offsets[r + 1]], dist[offsets[r]:offsets[r + 1]]
        inside = np.flatnonzero(D[r] <= radius - atol)
        near = np.flatnonzero(D[r] <= radius + atol)
        assert set(inside) <= set(got_i) <= set(near)
        np.testing.assert_allclose(got_d, D[r, got_i], rtol=0, atol=atol)
        if sort_results:
            assert np.all(np.diff(got_d) >= 0)
        else:
            assert np.all(np.diff(got_i) > 0)


def test_radius_zero_rows_and_zero_radius(rng):
    X, Y = make_data(rng, "euclidean", 4, 10, 2, np.float64)
    offsets, idx, dist = kernels.radius_neighbors_chunk(X[:0], Y, 1.0)
    assert offsets.tolist() == [0] and idx.size == dist.size == 0
    offsets, idx, dist = kernels.radius_neighbors_chunk(Y[:3], Y, 0.0)
    assert offsets.tolist() == [0, 1, 2, 3] and idx.tolist() == [0, 1, 2]


@pytest.mark.parametrize("call, match", [
    (lambda X: kernels.argkmin_chunk(X, X, 0), "k must be a positive integer"),
    (lambda X: kernels.argkmin_chunk(X, X, 2.5), "k must be a positive integer"),
    (lambda X: kernels.argkmin_chunk(np.where(X > 1, np.nan, X), X, 2), "NaN or infinity"),
    (lambda X: kernels.argkmin_chunk(X, X[:, :2], 2), "same number of features"),
    (lambda X: kernels.argkmin_chunk(X, X, 2, "nope"), "nope"),
    (lambda X: kernels.argkmin_chunk(X, X, 2, "jensenshannon"), "non-negative"),
    (lambda X: kernels.radius_neighbors_chunk(X, X, -1.0), "radius must be"),
])
def test_bad_input_gets_a_clear_error(rng, call, match):
    X = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match=match):
        call(X)


def test_argkmin_memory_stays_far_below_the_distance_matrix(rng):
    # 50 000 x 50 000 float32 distances would take 10 GB.
    X = rng.normal(size=(50_000, 8)).astype(np.float32)
    tracemalloc.start()
    try:
        d, i = kernels.argkmin_chunk(X, X, 5, n_threads=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    np.testing.assert_array_equal(i[:, 0], np.arange(50_000))
