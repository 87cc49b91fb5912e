"""fastml.kernels.pairwise_distances_chunk against scipy.spatial.distance.cdist.

Tolerances (relative to the largest distance of the matrix, so that pairs
near zero are judged on the scale of the problem):

* float64 input: 1e-12 (cdist computes in float64 too; the kernels only
  sum in a different order, and GEMM metrics recompute risky pairs exactly);
* float32 input: 2e-6 for element-wise metrics (float32 partial sums over
  at most 128 features folded into float64) and 1e-5 for GEMM metrics.
  cdist computes float32 input in float64, so the float32 result is
  compared with cdist on the same float32 values cast to float64.

Pairwise accuracy (every pair, relative to itself) is tested separately
against the extended-precision references of ``tests/naive.py``.
"""
import numpy as np
import pytest
from scipy.spatial.distance import cdist, jensenshannon
from sklearn.metrics.pairwise import haversine_distances

import naive
from fastml import kernels
from fastml._validation.metrics import ALIASES, BOOLEAN_METRICS, METRICS

NUMERIC_METRICS = sorted(set(METRICS) - BOOLEAN_METRICS - {"haversine"})
GEMM_METRICS = {"euclidean", "sqeuclidean", "cosine", "correlation", "seuclidean",
                "mahalanobis"}
SCIPY_WEIGHTED = ["braycurtis", "canberra", "chebyshev", "cityblock", "correlation",
                  "cosine", "euclidean", "hamming", "minkowski", "sqeuclidean"]
DTYPES = [np.float64, np.float32]


def tolerance(metric, dtype):
    if dtype == np.float64:
        return 1e-12
    return 1e-5 if metric in GEMM_METRICS else 2e-6


def make_data(rng, metric, n, m, d, dtype):
    """X (n, d), Y (m, d) suited to the metric, in dtype."""
    if metric in BOOLEAN_METRICS:
        X, Y = rng.random((n, d)) < 0.4, rng.random((m, d)) < 0.4
    elif metric == "jensenshannon":
        X, Y = rng.random((n, d)), rng.random((m, d))
    else:
        X, Y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    return X.astype(dtype), Y.astype(dtype)


def reference(X, Y, metric, **params):
    """cdist in float64, on the same values the kernel receives."""
    if metric in BOOLEAN_METRICS:
        return cdist(X.astype(bool), Y.astype(bool), metric, **params)
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    ref = cdist(X, Y, metric, **params)
    if metric == "jensenshannon":
        # cdist's C loop can take the square root of a rounding-negative
        # divergence (NaN) where SciPy's own jensenshannon() gives 0.
        for i, j in zip(*np.nonzero(np.isnan(ref))):
            ref[i, j] = jensenshannon(X[i], Y[j], **params)
    return ref


def assert_close(got, ref, metric, dtype):
    assert got.shape == ref.shape
    scale = np.nanmax(np.abs(ref)) if ref.size and not np.all(np.isnan(ref)) else 1.0
    np.testing.assert_allclose(
        got.astype(np.float64), ref, rtol=0, atol=tolerance(metric, dtype) * max(scale, 1e-300),
        equal_nan=True, err_msg=f"metric={metric} dtype={np.dtype(dtype).name}",
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", NUMERIC_METRICS + sorted(BOOLEAN_METRICS))
@pytest.mark.parametrize("d", [3, 37, 300])
def test_every_metric_matches_cdist(rng, metric, dtype, d):
    # d = 300 spans several feature chunks of the direct kernels and
    # more than one GEMM tile depth; n, m are not multiples of any tile.
    X, Y = make_data(rng, metric, 131 if d < 300 else 400, 70, d, dtype)
    got = kernels.pairwise_distances_chunk(X, Y, metric)
    assert got.dtype == dtype
    assert_close(got, reference(X, Y, metric), metric, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.5, 1, 1.5, 2, 3, 4, 7.25, np.inf])
def test_minkowski_every_p(rng, p, dtype):
    X, Y = make_data(rng, "minkowski", 50, 40, 21, dtype)
    got = kernels.pairwise_distances_chunk(X, Y, "minkowski", p=p)
    tol = tolerance("minkowski", dtype) * (10 if p < 1 else 1)
    np.testing.assert_allclose(got, reference(X, Y, "minkowski", p=p), rtol=tol, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", SCIPY_WEIGHTED + sorted(BOOLEAN_METRICS))
def test_weights_match_cdist(rng, metric, dtype):
    X, Y = make_data(rng, metric, 40, 30, 11, dtype)
    w = rng.random(11) * 2
    w[3] = 0.0  # a zero weight drops the feature (chebyshev included)
    params = {"w": w, "p": 3} if metric == "minkowski" else {"w": w}
    got = kernels.pairwise_distances_chunk(X, Y, metric, **params)
    assert_close(got, reference(X, Y, metric, **params), metric, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_seuclidean_and_mahalanobis_parameters(rng, dtype):
    X, Y = make_data(rng, "seuclidean", 60, 30, 5, dtype)
    V = rng.random(5) + 0.1
    A = rng.normal(size=(5, 5))
    VI = A @ A.T + np.eye(5)
    for metric, params in [("seuclidean", {"V": V}), ("mahalanobis", {"VI": VI})]:
        got = kernels.pairwise_distances_chunk(X, Y, metric, **params)
        assert_close(got, reference(X, Y, metric, **params), metric, dtype)


@pytest.mark.parametrize("base", [None, 2, np.e, 10])
def test_jensenshannon_base(rng, base):
    # cdist takes no base, so the reference is SciPy's function pair by pair.
    X, Y = make_data(rng, "jensenshannon", 20, 15, 9, np.float64)
    got = kernels.pairwise_distances_chunk(X, Y, "jensenshannon", base=base)
    ref = np.array([[jensenshannon(x, y, base=base) for y in Y] for x in X])
    assert_close(got, ref, "jensenshannon", np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_haversine_matches_scikit_learn(rng, dtype):
    X = np.column_stack([rng.uniform(-1.5, 1.5, 80), rng.uniform(-3, 3, 80)]).astype(dtype)
    Y = X[::-1][:50] + dtype(1e-3)
    got = kernels.pairwise_distances_chunk(X, Y, "haversine")
    assert got.dtype == dtype
    assert_close(got, haversine_distances(X.astype(np.float64), Y.astype(np.float64)),
                 "haversine", dtype)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_give_the_canonical_metric(rng, alias):
    canonical = ALIASES[alias]
    if canonical == "haversine":
        X = rng.uniform(-1, 1, (6, 2))
        Y = X[:4]
    else:
        X, Y = make_data(rng, canonical, 12, 9, 4, np.float64)
    np.testing.assert_array_equal(
        kernels.pairwise_distances_chunk(X, Y, alias),
        kernels.pairwise_distances_chunk(X, Y, canonical),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock", "chebyshev",
                                    "canberra", "minkowski", "jaccard", "mahalanobis"])
def test_every_layout_gives_the_same_result(rng, metric, dtype):
    X, Y = make_data(rng, metric, 45, 33, 19, dtype)
    expected = kernels.pairwise_distances_chunk(X, Y, metric)
    ref = reference(X, Y, metric)
    for xname, Xl in naive.layouts(X).items():
        for yname, Yl in naive.layouts(Y).items():
            got = kernels.pairwise_distances_chunk(Xl, Yl, metric)
            # Packing copies the values, so the kernel sees identical tiles.
            np.testing.assert_array_equal(got, expected, err_msg=f"X {xname}, Y {yname}")
    assert_close(expected, ref, metric, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("metric", NUMERIC_METRICS + sorted(BOOLEAN_METRICS))
@pytest.mark.parametrize("shape", [(0, 5, 4), (5, 0, 4), (0, 0, 4), (1, 1, 4), (1, 7, 4),
                                   (7, 1, 4), (9, 6, 1)])
def test_edge_shapes(rng, metric, dtype, shape):
    n, m, d = shape
    X, Y = make_data(rng, metric, n, m, d, dtype)
    params = {}
    if metric == "seuclidean":
        params["V"] = rng.random(d) + 0.5          # no variance from < 2 rows
    if metric == "mahalanobis":
        params["VI"] = np.eye(d) * 2.0             # no covariance from so few rows
    got = kernels.pairwise_distances_chunk(X, Y, metric, **params)
    assert got.shape == (n, m)
    if n and m:
        assert_close(got, reference(X, Y, metric, **params), metric, dtype)


def test_input_dtypes_are_converted(rng):
    X = rng.integers(-5, 5, size=(10, 3))
    Y = rng.integers(-5, 5, size=(4, 3))
    got = kernels.pairwise_distances_chunk(X, Y, "cityblock")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, cdist(X, Y, "cityblock"))
    mixed = kernels.pairwise_distances_chunk(X.astype(np.float32), Y.astype(np.float64))
    assert mixed.dtype == np.float64


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock", "chebyshev",
                                    "braycurtis", "dice", "minkowski"])
def test_result_does_not_depend_on_n_threads(rng, metric):
    X, Y = make_data(rng, metric, 700, 300, 40, np.float64)
    one = kernels.pairwise_distances_chunk(X, Y, metric, n_threads=1)
    for n_threads in (2, 3, 8):
        np.testing.assert_array_equal(
            kernels.pairwise_distances_chunk(X, Y, metric, n_threads=n_threads), one)



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("metric", ["cityblock", "canberra"])
def test_threads_switching_between_y_blocks(rng, metric, dtype):
    """Several blocks of Y rows (512 float64 / 1024 float32 rows at d = 64)
    and of X rows (128): each thread packs a Y block once and reuses it for
    its following jobs on the same block, then repacks on the next one."""
    X, Y = make_data(rng, metric, 300, 2100, 64, dtype)
    ref = cdist(X.astype(np.float64), Y.astype(np.float64), metric)
    one = kernels.pairwise_distances_chunk(X, Y, metric, n_threads=1)
    np.testing.assert_allclose(one, ref, rtol=1e-5 if dtype == np.float32 else 1e-13)
    for n_threads in (2, 3):
        np.testing.assert_array_equal(
            kernels.pairwise_distances_chunk(X, Y, metric, n_threads=n_threads), one)
    # the symmetric problem: blocks below the diagonal are skipped
    Z = Y[:1100]
    sym = kernels.pairwise_distances_chunk(Z, Z, metric, n_threads=2)
    np.testing.assert_array_equal(sym, sym.T)
    ref = cdist(Z.astype(np.float64), Z.astype(np.float64), metric)
    np.testing.assert_allclose(sym, ref, rtol=1e-5 if dtype == np.float32 else 1e-13)

# ---------------------------------------------------------------- accuracy
def near_duplicates(rng, n, d, dtype, offset, spread):
    """Rows far from the origin (|x| ~ offset) and copies of them moved by a
    relative amount ``spread``: the worst case of |x|^2 + |y|^2 - 2 x.y."""
    X = (offset + rng.normal(size=(n, d))).astype(dtype)
    Y = (X.astype(np.float64) * (1 + spread * rng.normal(size=(n, d)))).astype(dtype)
    Y[::5] = X[::5]                     # some exact duplicates
    return X, Y


@pytest.mark.parametrize("dtype, target", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("spread", [1e-3, 1e-5, 1e-7])
@pytest.mark.parametrize("d", [50, 300, 600])
def test_gemm_metrics_are_accurate_on_every_pair(rng, metric, dtype, target, spread, d):
    # d = 50 takes the direct kernels where they are faster (AVX-512),
    # d = 300 GEMM tiles for euclidean, d = 600 for cosine too
    # (fastml.kernels._plan.DIRECT_MAX_FEATURES).
    if dtype == np.float32 and spread < 1e-5:
        spread *= 1e3                   # below float32 resolution rows just coincide
    X, Y = near_duplicates(rng, 60, d, dtype, offset=100.0, spread=spread)
    got = kernels.pairwise_distances_chunk(X, Y, metric)
    ref = naive.REFERENCES[metric](X, Y)
    assert np.all(got >= 0), "a distance came out negative"
    identical = np.all(X[:, None, :] == Y[None, :, :], axis=2)
    assert identical.any()
    np.testing.assert_array_equal(got[identical], 0, err_msg="identical rows must give 0")
    assert naive.max_relative_error(got[~identical], ref[~identical]) <= target


@pytest.mark.parametrize("dtype, target", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("d", [50, 600])
def test_symmetric_path_is_accurate(rng, dtype, target, metric, d):
    # Y=None in the public API uses the symmetric (upper-triangle) path;
    # d = 50 runs the direct kernels (AVX-512), d = 600 GEMM tiles.
    from fastml.metrics import pairwise_distances

    X, Y = near_duplicates(rng, 40, d, dtype, offset=50.0, spread=1e-4)
    Z = np.vstack([X, Y])
    got = pairwise_distances(Z, metric=metric)
    ref = naive.REFERENCES[metric](Z, Z)
    off_diag = ~np.eye(len(Z), dtype=bool) & (ref != 0)
    assert naive.max_relative_error(got[off_diag], ref[off_diag]) <= target
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_array_equal(np.diag(got), 0)


@pytest.fixture
def every_isa_level():
    """Each instruction-set level this CPU supports, then the best again."""
    from fastml._kernels import _distances

    best = _distances.ISA_NAMES.index(_distances.best_isa())
    try:
        yield range(best + 1)
    finally:
        _distances.select_isa(best)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_instruction_set_level_matches_cdist(rng, dtype, every_isa_level):
    from fastml._kernels import _distances

    metrics = ["cityblock", "chebyshev", "euclidean", "sqeuclidean", "cosine", "canberra",
               "braycurtis", "minkowski", "hamming", "jensenshannon"]
    for level in every_isa_level:
        assert _distances.select_isa(level) == level
        for d in (5, 70, 300):
            for metric in metrics:
                X, Y = make_data(rng, metric, 37, 29, d, dtype)
                got = kernels.pairwise_distances_chunk(X, Y, metric)
                assert_close(got, reference(X, Y, metric), metric, dtype)


# ------------------------------------------------------------ jensenshannon
@pytest.mark.parametrize("dtype", DTYPES)
def test_jensenshannon_lopsided_pairs_match_cdist(rng, dtype, every_isa_level):
    # Entries spanning 30 orders of magnitude put u = 2x / (x + y) of the
    # vector logarithm near 0 and near 2, not only near 1.
    from fastml._kernels import _distances

    X = (10.0 ** rng.uniform(-30, 0, (23, 41))).astype(dtype)
    Y = (10.0 ** rng.uniform(-30, 0, (19, 41))).astype(dtype)
    ref = reference(X, Y, "jensenshannon")
    for level in every_isa_level:
        _distances.select_isa(level)
        got = kernels.pairwise_distances_chunk(X, Y, "jensenshannon")
        np.testing.assert_allclose(got, ref, rtol=tolerance("jensenshannon", dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_jensenshannon_identical_rows_give_exact_zero(rng, dtype, every_isa_level):
    from fastml._kernels import _distances

    X = rng.random((40, 70)).astype(dtype)
    X[3, 5:9] = 0                        # zero entries too
    Y = X[::-1].copy()
    for level in every_isa_level:
        _distances.select_isa(level)
        got = kernels.pairwise_distances_chunk(X, Y, "jensenshannon")
        np.testing.assert_array_equal(got[np.arange(40), np.arange(40)[::-1]], 0)
        assert np.all(got[~np.eye(40, dtype=bool)[::-1]] > 0)


def test_jensenshannon_of_non_distributions_is_inf_as_in_cdist(rng):
    X = rng.random((6, 5))
    X[1, 2] = -0.5                       # a negative entry
    X[4] = 0                             # a zero row
    Y = rng.random((3, 5))
    ref = reference(X, Y, "jensenshannon")
    assert np.isinf(ref[[1, 4]]).all()
    np.testing.assert_allclose(kernels.pairwise_distances_chunk(X, Y, "jensenshannon"),
                               ref, rtol=1e-12)
    from fastml.metrics import pairwise_distances

    got = pairwise_distances(X, metric="jensenshannon")
    np.testing.assert_array_equal(np.diag(got), 0)
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(got[off], reference(X, X, "jensenshannon")[off], rtol=1e-12)
