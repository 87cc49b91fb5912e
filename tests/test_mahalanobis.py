"""Mahalanobis distances on ill-conditioned data (issue 17).

Float64 distances must be within 1e-11 relative of the exact value on every
pair, whatever the conditioning of VI.  SciPy's own float64 quadratic form
loses up to (d + 2) eps cond(VI) on collinear features, so the reference is
``naive.mahalanobis`` (the quadratic form exactly rounded, math.fsum of exact
products), and SciPy is compared with only up to its own a priori error
bound (``naive.scipy_mahalanobis_error_bound``).

Float32 input is computed in float32 from rows rounded to float32: its error
is about eps32 |R x| / |R (x - y)| (x centred), a few 1e-7 for pairs at the
data's typical distance; tested at 1e-4 on pairs not much nearer than that.
"""
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist

import naive
from fastml.kernels import pairwise_distances_chunk
from fastml.metrics import pairwise_distances
from fastml.neighbors import NearestNeighbors

TOL64 = 1e-11
CONDITIONS = [1e0, 1e3, 1e6, 1e9, 1e12]


def max_rel(got, ref):
    ok = ref > 0
    return float(np.max(np.abs(got - ref)[ok] / ref[ok])) if ok.any() else 0.0


def scaled_data(rng, cond, n, d):
    """Independent features whose scales span sqrt(cond): cov's condition
    number ~cond from scales alone (VI = inv(cov))."""
    scales = np.logspace(0, np.log10(cond) / 2, d)
    X = rng.standard_normal((n, d)) * scales + 3 * scales
    return X, np.linalg.inv(np.cov(X.T))


def collinear_data(rng, cond, n, d):
    """Features x_j = x_0 + delta z_j (j >= 1): near-collinear, cov's
    condition number ~cond (~d / delta^2) from the collinearity, one scale."""
    delta = np.sqrt(d / cond)
    base = rng.standard_normal((n, 1)) + 5.0
    X = base + delta * rng.standard_normal((n, d))
    X[:, 0] = base[:, 0]
    return X, np.linalg.inv(np.cov(X.T))


MAKERS = {"scales": scaled_data, "collinear": collinear_data}


@pytest.fixture
def rng():
    return np.random.default_rng(17)


@pytest.fixture(scope="module")
def breast_cancer():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X = sklearn_datasets.load_breast_cancer().data
    return X, np.linalg.inv(np.cov(X.T))


# ---------------------------------------------------------------- float64 accuracy
def test_breast_cancer_against_scipy_on_every_pair(breast_cancer):
    X, VI = breast_cancer
    got = pairwise_distances(X, metric="mahalanobis", VI=VI)
    ref = cdist(X, X, "mahalanobis", VI=VI)
    bound = naive.scipy_mahalanobis_error_bound(X, X, VI)
    off = ~np.eye(len(X), dtype=bool)
    # fastml within 1e-11 of the exact value, SciPy within its bound of it
    assert np.all(np.abs(got - ref)[off] <= (TOL64 + bound[off]) * ref[off])
    assert_array_equal(np.diag(got), 0)


def test_breast_cancer_against_exact_reference(breast_cancer):
    X, VI = breast_cancer
    D = cdist(X, X, "mahalanobis", VI=VI)
    np.fill_diagonal(D, np.inf)
    nearest = np.unravel_index(np.argmin(D), D.shape)   # the hardest pair
    rows = np.array([nearest[0], nearest[1], 7, 100, 400])
    got = pairwise_distances(X[rows], X, metric="mahalanobis", VI=VI)
    exact = naive.mahalanobis(X[rows], X, VI)
    assert max_rel(got, exact) <= TOL64


@pytest.mark.parametrize("cond", CONDITIONS)
@pytest.mark.parametrize("kind", list(MAKERS))
def test_ill_conditioned_against_exact_reference(rng, kind, cond):
    X, VI = MAKERS[kind](rng, cond, 60, 8)
    assert np.linalg.cond(np.linalg.inv(VI)) > cond / 100
    A, B = X[:14], X[40:]
    got = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    assert max_rel(got, naive.mahalanobis(A, B, VI)) <= TOL64
    got_sym = pairwise_distances(A, metric="mahalanobis", VI=VI)
    exact_sym = naive.mahalanobis(A, A, VI)
    assert max_rel(got_sym, exact_sym) <= TOL64
    assert_array_equal(np.diag(got_sym), 0)
    assert_array_equal(got_sym, got_sym.T)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_near_and_identical_rows(rng, kind):
    """Rows a few ulps apart (the exact per-pair path), rows 1e-6 apart (the
    lo-aware path) and identical rows (exactly 0), at cond 1e12."""
    X, VI = MAKERS[kind](rng, 1e12, 40, 6)
    A = X[:10]
    B = np.vstack([np.nextafter(A[:3], np.inf), A[3:6] * (1 + 1e-6), A[6:8], X[20:30]])
    got = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    exact = naive.mahalanobis(A, B, VI)
    assert max_rel(got, exact) <= TOL64
    assert_array_equal(got[[6, 7], [6, 7]], 0)
    assert_array_equal(exact == 0, got == 0)


def test_many_features_gemm_family(rng):
    """Above the direct kernels' feature threshold the GEMM identity runs."""
    X, VI = collinear_data(rng, 1e12, 400, 300)
    A, B = X[:4], X[200:210]
    got = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    exact = naive.mahalanobis(A, B, VI)
    assert max_rel(got, exact) <= TOL64


def test_asymmetric_vi_uses_its_symmetric_part(rng):
    X, VI = collinear_data(rng, 1e9, 30, 5)
    skew = rng.standard_normal(VI.shape)
    VI_asym = VI + (skew - skew.T)
    got = pairwise_distances(X[:8], X[10:], metric="mahalanobis", VI=VI_asym)
    assert max_rel(got, naive.mahalanobis(X[:8], X[10:], VI_asym)) <= TOL64


def test_singular_vi_falls_back_to_scipy_form(rng):
    """A positive semi-definite, singular VI has no Cholesky factor: fastml
    then evaluates SciPy's quadratic form."""
    B = rng.standard_normal((5, 3))
    VI = B @ B.T
    X = rng.standard_normal((9, 5))
    got = pairwise_distances(X, X[:4], metric="mahalanobis", VI=VI)
    assert_allclose(got, cdist(X, X[:4], "mahalanobis", VI=VI), rtol=1e-9, atol=1e-7)


# ---------------------------------------------------------------- float32
@pytest.mark.parametrize("cond", [1e0, 1e6, 1e12])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_float32(rng, kind, cond):
    X, VI = MAKERS[kind](rng, cond, 60, 8)
    X32 = X.astype(np.float32)
    A, B = X32[:14], X32[40:]
    got = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    assert got.dtype == np.float32
    exact = naive.mahalanobis(A, B, VI)       # of the float32 values
    assert max_rel(got, exact) <= 1e-4


def test_float32_breast_cancer(breast_cancer):
    X, VI = breast_cancer
    X32 = X.astype(np.float32)
    got = pairwise_distances(X32[:20], X32, metric="mahalanobis", VI=VI)
    ref = cdist(X32[:20], X32, "mahalanobis", VI=VI)
    ok = ref > 0.5      # the typical distance is ~7
    assert np.max(np.abs(got - ref)[ok] / ref[ok]) <= 1e-4


# ---------------------------------------------------------------- layouts, shapes
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_give_the_same_result(rng, layout, dtype):
    X, VI = collinear_data(rng, 1e12, 40, 7)
    X = X.astype(dtype)
    A, B = X[:9], X[20:]
    expected = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    got = pairwise_distances(naive.layouts(A)[layout], naive.layouts(B)[layout],
                             metric="mahalanobis", VI=naive.layouts(VI)[layout])
    assert_array_equal(got, expected)
    got_chunk = pairwise_distances_chunk(naive.layouts(A)[layout], naive.layouts(B)[layout],
                                         metric="mahalanobis", VI=VI)
    assert_array_equal(got_chunk, expected)
    if dtype == np.float64:
        assert max_rel(got, naive.mahalanobis(A, B, VI)) <= TOL64


@pytest.mark.parametrize("n_x, n_y", [(0, 5), (5, 0), (0, 0), (1, 5), (5, 1), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_and_one_rows(rng, n_x, n_y, dtype):
    X, VI = collinear_data(rng, 1e12, 20, 4)
    X = X.astype(dtype)
    A, B = X[:n_x], X[10:10 + n_y]
    got = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    assert got.shape == (n_x, n_y) and got.dtype == dtype
    if got.size:
        assert max_rel(got, naive.mahalanobis(A, B, VI)) <= (TOL64 if dtype == np.float64
                                                              else 1e-4)
    if n_x <= 1:
        assert_array_equal(pairwise_distances(A, metric="mahalanobis", VI=VI),
                           np.zeros((n_x, n_x), dtype))


def test_nan_row_stays_local(rng):
    X, VI = collinear_data(rng, 1e12, 20, 4)
    A = X[:6].copy()
    A[2, 1] = np.nan
    got = pairwise_distances(A, X[10:], metric="mahalanobis", VI=VI,
                             ensure_all_finite=False)
    assert np.isnan(got[2]).all()
    keep = [0, 1, 3, 4, 5]
    assert max_rel(got[keep], naive.mahalanobis(A[keep], X[10:], VI)) <= TOL64


# ---------------------------------------------------------------- Dask and neighbours
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("symmetric", [True, False])
def test_dask_equals_numpy(rng, dtype, symmetric):
    X, VI = collinear_data(rng, 1e12, 50, 6)
    X = X.astype(dtype)
    A, B = X[:30], X[30:]
    dA = da.from_array(A, chunks=(7, -1))
    dB = da.from_array(B, chunks=(6, -1))
    if symmetric:
        got = pairwise_distances(dA, metric="mahalanobis", VI=VI).compute()
        expected = pairwise_distances(A, metric="mahalanobis", VI=VI)
    else:
        got = pairwise_distances(dA, dB, metric="mahalanobis", VI=VI).compute()
        expected = pairwise_distances(A, B, metric="mahalanobis", VI=VI)
    assert got.dtype == expected.dtype
    if dtype == np.float64:
        assert_allclose(got, expected, rtol=2 * TOL64)
        exact = naive.mahalanobis(A, A if symmetric else B, VI)
        assert max_rel(got, exact) <= TOL64
    else:
        assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", list(MAKERS))
def test_nearest_neighbors(rng, kind, dtype):
    X, VI = MAKERS[kind](rng, 1e12, 80, 6)
    X = X.astype(dtype)
    index, queries = X[:60], X[60:]
    nn = NearestNeighbors(n_neighbors=5, metric="mahalanobis", metric_params={"VI": VI})
    dist, ind = nn.fit(index).kneighbors(queries)
    exact = naive.mahalanobis(queries, index, VI)
    expected = np.argsort(exact, axis=1, kind="stable")[:, :5]
    assert_array_equal(ind, expected)
    tol = TOL64 if dtype == np.float64 else 1e-4
    assert max_rel(dist, np.take_along_axis(exact, ind, axis=1)) <= tol
