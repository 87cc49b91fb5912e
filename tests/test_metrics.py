"""fastml.metrics against scikit-learn's pairwise_distances(_chunked).

Values are compared with ``rtol=1e-12`` in float64 and ``1e-5`` in float32
(relative to the largest distance), against SciPy's float64 ``cdist`` where
scikit-learn's own float32 result is less accurate than fastml's.
"""
import numpy as np
import pytest
import sklearn
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances as sk_pairwise_distances
from sklearn.metrics import pairwise_distances_chunked as sk_pairwise_distances_chunked

from fastml.metrics import pairwise_distances, pairwise_distances_chunked

SKLEARN_NAMES = ["euclidean", "l2", "sqeuclidean", "cosine", "manhattan", "l1", "cityblock",
                 "chebyshev", "minkowski", "canberra", "braycurtis", "correlation",
                 "hamming", "seuclidean", "mahalanobis"]
BOOLEAN_NAMES = ["dice", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule"]


def assert_close(got, ref, dtype):
    tol = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    scale = max(float(np.max(np.abs(ref))), 1.0) if ref.size else 1.0
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("metric", SKLEARN_NAMES)
def test_matches_scikit_learn(rng, metric, dtype):
    X = rng.normal(size=(90, 12)).astype(dtype)
    Y = rng.normal(size=(40, 12)).astype(dtype)
    # scikit-learn needs V / VI when Y is given; fastml would compute them
    # from X and Y stacked, as cdist does.
    params = {"seuclidean": {"V": rng.random(12) + 0.5},
              "mahalanobis": {"VI": np.diag(rng.random(12) + 0.5)}}.get(metric, {})
    got = pairwise_distances(X, Y, metric=metric, **params)
    expected = sk_pairwise_distances(X, Y, metric=metric, **params)
    assert type(got) is np.ndarray
    # Deliberate difference: float32 input keeps float32 for every metric
    # (scikit-learn returns float64 for SciPy's metrics).
    assert got.dtype == dtype
    ref = cdist(X.astype(np.float64), Y.astype(np.float64),
                {"l1": "cityblock", "manhattan": "cityblock", "l2": "euclidean"}.get(metric, metric),
                **params)
    assert_close(got, ref, dtype)
    assert_close(got, expected, np.float32)  # scikit-learn's float32 path is less exact


@pytest.mark.parametrize("metric", BOOLEAN_NAMES)
def test_boolean_metrics_match_scikit_learn(rng, metric):
    X = rng.random((30, 9)) < 0.5
    Y = rng.random((20, 9)) < 0.5
    got = pairwise_distances(X, Y, metric=metric)
    expected = sk_pairwise_distances(X, Y, metric=metric)
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-15, equal_nan=True)
    # scikit-learn converts numeric input to bool (nonzero is True) and so do we.
    with pytest.warns(sklearn.exceptions.DataConversionWarning):
        expected_numeric = sk_pairwise_distances(X * 3.0, Y * -2.0, metric=metric)
    np.testing.assert_allclose(pairwise_distances(X * 3.0, Y * -2.0, metric=metric),
                               expected_numeric, rtol=1e-15, equal_nan=True)


def test_haversine_and_precomputed(rng):
    X = rng.uniform(-1, 1, (25, 2))
    np.testing.assert_allclose(pairwise_distances(X, metric="haversine"),
                               sk_pairwise_distances(X, metric="haversine"), atol=1e-14)
    D = pairwise_distances(X)
    np.testing.assert_array_equal(pairwise_distances(D, metric="precomputed"), D)
    with pytest.raises(ValueError, match="negative"):
        pairwise_distances(-D, metric="precomputed")


def test_nan_euclidean_is_scikit_learn_with_a_slow_metric_warning(rng):
    from fastml._validation.metrics import SlowMetricWarning

    X = rng.normal(size=(20, 4))
    X[3, 1] = np.nan
    with pytest.warns(SlowMetricWarning, match="nan_euclidean_distances"):
        ours = pairwise_distances(X, metric="nan_euclidean", ensure_all_finite="allow-nan")
    np.testing.assert_array_equal(
        ours, sk_pairwise_distances(X, metric="nan_euclidean", ensure_all_finite="allow-nan"))


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock", "chebyshev", "jaccard"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_y_none_is_exactly_symmetric_with_zero_diagonal(rng, metric, dtype):
    X = rng.normal(size=(300, 20)).astype(dtype)
    D = pairwise_distances(X, metric=metric)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0)
    assert_close(D, pairwise_distances(X, X, metric=metric), D.dtype)


def test_pandas_and_polars_input(rng):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X = rng.normal(size=(30, 5))
    Y = rng.normal(size=(10, 5))
    expected = pairwise_distances(X, Y, metric="cityblock")
    columns = [f"f{i}" for i in range(5)]
    for Xf, Yf in [(pd.DataFrame(X, columns=columns), pd.DataFrame(Y, columns=columns)),
                   (pl.DataFrame(X, schema=columns), pl.DataFrame(Y, schema=columns))]:
        got = pairwise_distances(Xf, Yf, metric="cityblock")
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, expected)


def test_integer_and_boolean_input_become_float64(rng):
    X = rng.integers(0, 10, size=(15, 3))
    for data in (X, X > 4, X.tolist()):
        got = pairwise_distances(data, metric="euclidean")
        expected = sk_pairwise_distances(data, metric="euclidean")
        assert got.dtype == expected.dtype == np.float64
        np.testing.assert_allclose(got, expected, atol=1e-12)
    # float32 and float64 together are computed in float64, as scikit-learn does
    assert pairwise_distances(X.astype(np.float32), X.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "hamming"])
def test_n_jobs_does_not_change_the_result(rng, metric):
    X = rng.normal(size=(600, 30))
    Y = rng.normal(size=(500, 30))
    one = pairwise_distances(X, Y, metric=metric, n_jobs=1)
    for n_jobs in (2, -1, None, 5):
        np.testing.assert_array_equal(pairwise_distances(X, Y, metric=metric, n_jobs=n_jobs), one)


def test_empty_inputs_give_empty_results(rng):
    X = rng.normal(size=(5, 3))
    for dtype in (np.float32, np.float64):
        empty = np.empty((0, 3), dtype)
        assert pairwise_distances(empty, X.astype(dtype)).shape == (0, 5)
        assert pairwise_distances(X.astype(dtype), empty).shape == (5, 0)
        assert pairwise_distances(empty).shape == (0, 0)
        assert pairwise_distances(empty, metric="cityblock").dtype == dtype


@pytest.mark.parametrize("metric", ["cityblock", "chebyshev", "euclidean", "cosine", "canberra",
                                    "braycurtis", "jensenshannon", "minkowski"])
@pytest.mark.parametrize("nan_at", [0, 1, 3])
def test_allow_nan_propagates_nan(rng, metric, nan_at):
    X = np.abs(rng.normal(size=(8, 4)))
    X[2, nan_at] = np.nan            # first, middle or last feature
    D = pairwise_distances(X, metric=metric, ensure_all_finite="allow-nan")
    off = np.ones(len(X), dtype=bool)
    off[2] = False
    assert np.isnan(D[2, off]).all() and np.isnan(D[off, 2]).all()
    np.testing.assert_allclose(D[np.ix_(off, off)], pairwise_distances(X[off], metric=metric),
                               rtol=1e-14)


# ---------------------------------------------------------------- chunked
@pytest.mark.parametrize("Y_is_none", [True, False])
def test_chunked_stacks_to_the_full_matrix(rng, Y_is_none):
    X = rng.normal(size=(500, 10))
    Y = None if Y_is_none else rng.normal(size=(300, 10))
    n_cols = 500 if Y_is_none else 300
    working_memory = 0.25  # MiB: 32768 float64 values, so 65 or 109 rows a chunk
    chunks = list(pairwise_distances_chunked(X, Y, metric="cityblock",
                                             working_memory=working_memory))
    assert len(chunks) > 1
    assert all(c.nbytes <= working_memory * 2**20 for c in chunks)
    full = pairwise_distances(X, Y, metric="cityblock")
    np.testing.assert_array_equal(np.vstack(chunks), full)
    expected = np.vstack(list(sk_pairwise_distances_chunked(
        X, Y, metric="cityblock", working_memory=working_memory)))
    np.testing.assert_allclose(np.vstack(chunks), expected, rtol=1e-13)
    assert expected.shape == (500, n_cols)


def test_chunked_reduce_func_like_scikit_learn(rng):
    X = rng.normal(size=(200, 6))

    def nearest_other(D_chunk, start):
        D_chunk = D_chunk.copy()
        D_chunk[np.arange(len(D_chunk)), start + np.arange(len(D_chunk))] = np.inf
        return D_chunk.argmin(axis=1), D_chunk.min(axis=1)

    got = list(pairwise_distances_chunked(X, reduce_func=nearest_other, working_memory=0.05))
    expected = list(sk_pairwise_distances_chunked(X, reduce_func=nearest_other,
                                                  working_memory=0.05))
    assert len(got) == len(expected) > 1
    np.testing.assert_array_equal(np.concatenate([g[0] for g in got]),
                                  np.concatenate([e[0] for e in expected]))
    np.testing.assert_allclose(np.concatenate([g[1] for g in got]),
                               np.concatenate([e[1] for e in expected]), rtol=1e-12)


def test_chunked_checks_what_reduce_func_returns(rng):
    X = rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match="Expected same length"):
        next(pairwise_distances_chunked(X, reduce_func=lambda D, start: D[:1]))
    with pytest.raises(TypeError, match="reduce_func returned"):
        next(pairwise_distances_chunked(X, reduce_func=lambda D, start: 3))


def test_constant_rows_give_nan_correlation_as_scipy_and_cosine_one_as_sklearn():
    """scikit-learn's cosine distance of a zero row is 1; correlation of a
    constant row stays NaN (scipy's cdist, which scikit-learn calls)."""
    X = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0], [0.0, 0.0, 0.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = cdist(X, X, "correlation")
    got = pairwise_distances(X, X.copy(), metric="correlation")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[1, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(pairwise_distances(X, metric="cosine"),
                               sk_pairwise_distances(X, metric="cosine"), atol=1e-12)
