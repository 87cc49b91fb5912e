"""Dask behaviour of ``fastml.metrics.pairwise_distances`` on a real cluster.

Every graph that is computed here runs on the session ``client`` fixture (two
single-threaded worker processes), so metrics, plans and custom metric
functions really are pickled and run in other interpreters.  Results are
compared with fastml's own NumPy path and with SciPy (``cdist``, or
``pdist`` for ``Y=None``: SciPy derives the default ``V`` / ``VI`` of
seuclidean / mahalanobis from X alone there, as fastml does).

Tolerances: ``rtol=1e-12`` for float64 and ``1e-5`` for float32.  Exact
equality is only required where the same kernel runs on the same block, or
where fastml promises it (the symmetric result and its zero diagonal).
"""
import sys

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.spatial.distance import cdist, pdist, squareform

from fastml.kernels import pairwise_distances_chunk
from fastml.metrics import pairwise_distances

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
# SciPy's cosine diagonal is 1 - x.x/|x|^2, a few ulps from 0; fastml's is 0.
SCIPY_ATOL = 1e-12

N_X, N_Y, N_FEATURES = 250, 130, 6
X_ROWS, Y_ROWS = 100, 60           # uneven chunks: (100, 100, 50) and (60, 60, 10)

METRICS = [
    pytest.param("euclidean", {}, id="euclidean"),
    pytest.param("cityblock", {}, id="cityblock"),
    pytest.param("cosine", {}, id="cosine"),
    pytest.param("chebyshev", {}, id="chebyshev"),
    pytest.param("minkowski", {"p": 3}, id="minkowski-p3"),
    pytest.param("seuclidean", {}, id="seuclidean-lazy-V"),
    pytest.param("mahalanobis", {}, id="mahalanobis-lazy-VI"),
]


# --------------------------------------------------------------------------- helpers

def make_data(rng, dtype=np.float64):
    """X (250 x 6) and Y (130 x 6), both of `dtype`."""
    X = rng.standard_normal((N_X, N_FEATURES)).astype(dtype)
    Y = rng.standard_normal((N_Y, N_FEATURES)).astype(dtype)
    return X, Y


def as_dask(A, rows, features=-1):
    return da.from_array(A, chunks=(rows, features))


def run(client, D):
    """Compute D on the cluster (never on a local scheduler)."""
    assert isinstance(D, da.Array), type(D)
    return client.compute(D).result()


def scipy_distances(X, Y, metric, kwds):
    """SciPy's answer in float64: cdist(X, Y), or squareform(pdist(X))."""
    X = np.asarray(X, dtype=np.float64)
    if Y is None:
        return squareform(pdist(X, metric, **kwds))
    return cdist(X, np.asarray(Y, dtype=np.float64), metric, **kwds)


def assert_symmetric_zero_diagonal(D):
    assert np.array_equal(D, D.T), "Y=None must give an exactly symmetric matrix"
    assert np.all(np.diag(D) == 0), "Y=None must give an exactly zero diagonal"


def block_slices(chunks):
    """The row slices of a chunks tuple, e.g. (2, 3) -> [0:2, 2:5]."""
    bounds = np.cumsum((0,) + tuple(chunks))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


class BlockComputed(RuntimeError):
    pass


def _refuse(block):
    raise BlockComputed("a block of the input was computed")


def unrunnable(shape, rows, dtype):
    """A Dask array that raises BlockComputed if any of its blocks is computed."""
    zeros = da.zeros(shape, chunks=(rows, -1), dtype=dtype)
    return zeros.map_blocks(_refuse, dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


# --------------------------------------------------------------------------- laziness

@pytest.mark.parametrize("metric", ["euclidean", "seuclidean", "mahalanobis"])
@pytest.mark.parametrize(
    "x_dtype, y_dtype, expected",
    [
        (np.float32, np.float32, np.float32),
        (np.float64, np.float64, np.float64),
        (np.float32, np.float64, np.float64),
        (np.int64, np.int64, np.float64),
        (np.float32, None, np.float32),
        (np.int64, None, np.float64),
    ],
    ids=["f32", "f64", "f32+f64", "int64", "f32-Y=None", "int64-Y=None"],
)
def test_result_is_lazy_with_row_chunks(metric, x_dtype, y_dtype, expected):
    # The inputs cannot be computed, so building the graph -- including the
    # data-dependent V / VI defaults -- must not compute anything.
    X = unrunnable((N_X, N_FEATURES), X_ROWS, x_dtype)
    Y = None if y_dtype is None else unrunnable((N_Y, N_FEATURES), Y_ROWS, y_dtype)
    D = pairwise_distances(X, Y, metric=metric)

    assert isinstance(D, da.Array)
    assert D.chunks == (X.chunks[0], (X if Y is None else Y).chunks[0])
    assert D.dtype == expected
    # The sentinel works: computing the graph does reach the input blocks.
    with pytest.raises(BlockComputed):
        D.compute(scheduler="sync")


# --------------------------------------------------------------------------- values

@pytest.mark.parametrize("metric, kwds", METRICS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["X-Y", "Y=None"])
def test_equals_numpy_and_scipy_float64(client, rng, metric, kwds, symmetric):
    X, Y = make_data(rng)
    Y = None if symmetric else Y
    dY = None if symmetric else as_dask(Y, Y_ROWS)

    got = run(client, pairwise_distances(as_dask(X, X_ROWS), dY, metric=metric, **kwds))

    assert got.dtype == np.float64
    assert got.shape == (N_X, N_X if symmetric else N_Y)
    assert_allclose(got, pairwise_distances(X, Y, metric=metric, **kwds), rtol=1e-12)
    assert_allclose(got, scipy_distances(X, Y, metric, kwds), rtol=1e-12, atol=SCIPY_ATOL)
    if symmetric:
        assert_symmetric_zero_diagonal(got)


@pytest.mark.parametrize("metric, kwds", METRICS)
@pytest.mark.parametrize("symmetric", [False, True], ids=["X-Y", "Y=None"])
def test_float32_stays_float32(client, rng, metric, kwds, symmetric):
    X, Y = make_data(rng, np.float32)
    Y = None if symmetric else Y
    dY = None if symmetric else as_dask(Y, Y_ROWS)

    D = pairwise_distances(as_dask(X, X_ROWS), dY, metric=metric, **kwds)
    assert D.dtype == np.float32
    got = run(client, D)

    assert got.dtype == np.float32
    assert_allclose(got, pairwise_distances(X, Y, metric=metric, **kwds), rtol=1e-5)
    if symmetric:
        assert_symmetric_zero_diagonal(got)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock"])
def test_y_is_x_equals_numpy(client, rng, metric):
    X, _ = make_data(rng)
    dX = as_dask(X, X_ROWS)
    got = run(client, pairwise_distances(dX, dX, metric=metric))
    assert_allclose(got, pairwise_distances(X, X, metric=metric), rtol=1e-12)


@pytest.mark.parametrize("metric", ["seuclidean", "mahalanobis"])
def test_y_is_x_data_dependent_defaults_equal_numpy(client, rng, metric):
    X, _ = make_data(rng)
    dX = as_dask(X, X_ROWS)
    got = run(client, pairwise_distances(dX, dX, metric=metric))
    assert_allclose(got, pairwise_distances(X, X, metric=metric), rtol=1e-12)


@pytest.mark.parametrize("metric, kwds", [
    pytest.param("cityblock", {}, id="cityblock"),
    pytest.param("seuclidean", {}, id="seuclidean-lazy-V"),
    pytest.param("mahalanobis", {}, id="mahalanobis-lazy-VI"),
])
@pytest.mark.parametrize("dask_side", ["X", "Y"])
def test_mixed_numpy_and_dask_inputs(client, rng, metric, kwds, dask_side):
    X, Y = make_data(rng)
    dX = as_dask(X, X_ROWS) if dask_side == "X" else X
    dY = as_dask(Y, Y_ROWS) if dask_side == "Y" else Y

    D = pairwise_distances(dX, dY, metric=metric, **kwds)

    # The NumPy side becomes a single block.
    expected_chunks = (((N_X,), as_dask(Y, Y_ROWS).chunks[0]) if dask_side == "Y"
                       else (as_dask(X, X_ROWS).chunks[0], (N_Y,)))
    assert D.chunks == expected_chunks
    got = run(client, D)
    assert_allclose(got, pairwise_distances(X, Y, metric=metric, **kwds), rtol=1e-12)
    assert_allclose(got, cdist(X, Y, metric, **kwds), rtol=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "seuclidean"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["X-Y", "Y=None"])
def test_feature_chunked_input_is_rechunked(client, rng, metric, symmetric):
    X, Y = make_data(rng)
    dX = as_dask(X, 50, features=3)
    dY = None if symmetric else as_dask(Y, Y_ROWS, features=2)
    assert len(dX.chunks[1]) == 2

    D = pairwise_distances(dX, dY, metric=metric)

    assert D.chunks == ((50,) * 5, (50,) * 5 if symmetric else dY.chunks[0])
    Y = None if symmetric else Y
    assert_allclose(run(client, D), pairwise_distances(X, Y, metric=metric), rtol=1e-12)


@pytest.mark.parametrize("symmetric", [False, True], ids=["X-Y", "Y=None"])
def test_custom_closure_metric_runs_on_workers(client, rng, symmetric):
    from fastml._numba.memo import function_key

    X, Y = make_data(rng)
    Y = None if symmetric else Y
    dY = None if symmetric else as_dask(Y, Y_ROWS)
    w = rng.uniform(0.5, 2.0, size=N_FEATURES)

    def weighted_l1(a, b):         # a closure: pickled by value, compiled on the workers
        return np.sum(w * np.abs(a - b))

    got = run(client, pairwise_distances(as_dask(X, X_ROWS), dY, metric=weighted_l1))

    assert_allclose(got, pairwise_distances(X, Y, metric=weighted_l1), rtol=1e-12)
    assert_allclose(got, scipy_distances(X, Y, "cityblock", {"w": w}), rtol=1e-12)
    if symmetric:
        assert_symmetric_zero_diagonal(got)

    # The kernel was compiled in (at least one of) the worker processes.
    key = function_key(weighted_l1)
    compiled = client.run(
        lambda: key in getattr(sys.modules.get("fastml._numba.custom_metric"), "_kernels", {})
    )
    assert any(compiled.values()), compiled


def test_different_metrics_on_one_array_do_not_share_graph_keys(client, rng):
    X, _ = make_data(rng)
    dX = as_dask(X, X_ROWS)
    w = rng.uniform(0.5, 2.0, size=N_FEATURES)

    def scaled_l1(a, b):
        return np.sum(w * np.abs(a - b))

    cases = [("euclidean", {}), ("cityblock", {}), ("minkowski", {"p": 3}),
             ("minkowski", {"p": 4}), (scaled_l1, {})]
    graphs = [pairwise_distances(dX, metric=m, **kw) for m, kw in cases]
    assert len({D.name for D in graphs}) == len(cases)

    results = client.gather(client.compute(graphs))    # one graph, all metrics
    for (metric, kw), got in zip(cases, results):
        assert_allclose(got, pairwise_distances(X, metric=metric, **kw), rtol=1e-12)


# --------------------------------------------------------------------------- non-finite input

def with_bad_value(A, value, row):
    A = A.copy()
    A[row, 1] = value
    return A


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("where, row", [("X", 230), ("Y", 70), ("Y=None", 30)])
def test_non_finite_block_raises_at_compute_time(client, rng, bad, where, row):
    # One bad value in one block: the last block of X, the second of Y, or
    # (Y=None) the first block of X, which every task reads as its x block.
    X, Y = make_data(rng)
    if where == "Y":
        Y = with_bad_value(Y, bad, row)
    else:
        X = with_bad_value(X, bad, row)
    dY = None if where == "Y=None" else as_dask(Y, Y_ROWS)

    D = pairwise_distances(as_dask(X, X_ROWS), dY)    # lazy: no error yet

    name = "Y" if where == "Y" else "X"
    with pytest.raises(ValueError, match=f"Input {name} contains NaN or infinity"):
        run(client, D)


def test_non_finite_error_with_y_none_names_x(client, rng):
    X = with_bad_value(make_data(rng)[0], np.nan, row=230)     # last block of X
    D = pairwise_distances(as_dask(X, X_ROWS))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        run(client, D.blocks[0, 2])      # this block reads X's last block as y


@pytest.mark.parametrize("symmetric", [False, True], ids=["X-Y", "Y=None"])
def test_allow_nan_lets_nan_through_but_not_inf(client, rng, symmetric):
    X, Y = make_data(rng)
    X = with_bad_value(X, np.nan, row=120)
    Yn = None if symmetric else Y
    dY = None if symmetric else as_dask(Y, Y_ROWS)

    got = run(client, pairwise_distances(as_dask(X, X_ROWS), dY, metric="cityblock",
                                         ensure_all_finite="allow-nan"))
    expected = pairwise_distances(X, Yn, metric="cityblock", ensure_all_finite="allow-nan")
    assert np.isnan(got[120]).any()
    assert_allclose(got, expected, rtol=1e-12)          # NaN in the same places

    X_inf = with_bad_value(X, np.inf, row=10)
    D = pairwise_distances(as_dask(X_inf, X_ROWS), dY, metric="cityblock",
                           ensure_all_finite="allow-nan")
    with pytest.raises(ValueError, match="Input X contains infinity"):
        run(client, D)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_ensure_all_finite_false_skips_the_check(client, rng, bad):
    X, Y = make_data(rng)
    X = with_bad_value(X, bad, row=120)

    got = run(client, pairwise_distances(as_dask(X, X_ROWS), as_dask(Y, Y_ROWS),
                                         metric="cityblock", ensure_all_finite=False))
    expected = pairwise_distances(X, Y, metric="cityblock", ensure_all_finite=False)
    assert not np.isfinite(got[120]).all()
    assert_allclose(got, expected, rtol=1e-12)


# --------------------------------------------------------------------------- the chunk kernel in user graphs

@pytest.mark.parametrize("metric, kwds", [
    pytest.param("cityblock", {}, id="cityblock"),
    pytest.param("euclidean", {}, id="euclidean"),
    pytest.param("minkowski", {"p": 3}, id="minkowski-p3"),
])
def test_chunk_kernel_in_blockwise(client, rng, metric, kwds):
    X, Y = make_data(rng)
    A, B = as_dask(X, X_ROWS), as_dask(Y, Y_ROWS)

    D = da.blockwise(pairwise_distances_chunk, "ij", A, "ik", B, "jk",
                     metric=metric, dtype=A.dtype, concatenate=True, **kwds)
    assert D.chunks == (A.chunks[0], B.chunks[0])
    got = run(client, D)

    assert_allclose(got, pairwise_distances_chunk(X, Y, metric=metric, **kwds), rtol=1e-12)
    # Each block is the same kernel on the same two blocks, so it is bit-identical.
    for rows in block_slices(A.chunks[0]):
        for cols in block_slices(B.chunks[0]):
            expected = pairwise_distances_chunk(X[rows], Y[cols], metric=metric, **kwds)
            assert np.array_equal(got[rows, cols], expected)


@pytest.mark.parametrize("metric", ["cityblock", "euclidean"])
def test_chunk_kernel_in_map_blocks_with_numpy_y(client, rng, metric):
    X, Y = make_data(rng)
    A = as_dask(X, X_ROWS)

    D = A.map_blocks(pairwise_distances_chunk, Y=Y, metric=metric,
                     chunks=(A.chunks[0], (N_Y,)), dtype=A.dtype)
    got = run(client, D)

    assert got.shape == (N_X, N_Y)
    assert_allclose(got, pairwise_distances_chunk(X, Y, metric=metric), rtol=1e-12)
    # Same kernel on the same row block against the same Y: bit-identical.
    expected = np.vstack([pairwise_distances_chunk(X[rows], Y, metric=metric)
                          for rows in block_slices(A.chunks[0])])
    assert np.array_equal(got, expected)


# --------------------------------------------------------------------------- shapes and errors

@pytest.mark.parametrize("x_rows, y_rows", [(0, None), (0, N_Y), (N_X, 0)],
                         ids=["empty-X-Y=None", "empty-X", "empty-Y"])
def test_empty_inputs_give_empty_results(client, rng, x_rows, y_rows):
    X = rng.standard_normal((x_rows, N_FEATURES))
    Y = None if y_rows is None else rng.standard_normal((y_rows, N_FEATURES))
    dY = None if Y is None else as_dask(Y, Y_ROWS)

    got = run(client, pairwise_distances(as_dask(X, X_ROWS), dY))

    expected = pairwise_distances(X, Y)
    assert got.shape == expected.shape == (x_rows, x_rows if Y is None else y_rows)
    assert got.dtype == np.float64


def _unknown_row_chunks(X):
    dX = as_dask(X, X_ROWS)
    return dX[dX[:, 0] > 0]


@pytest.mark.parametrize("make_args, error, match", [
    pytest.param(lambda X, Y: (_unknown_row_chunks(X), None, "euclidean"),
                 ValueError, "unknown chunk sizes.*compute_chunk_sizes", id="unknown-chunks"),
    pytest.param(lambda X, Y: (as_dask(X, X_ROWS), as_dask(Y[:, :4], Y_ROWS), "euclidean"),
                 ValueError, "same number of features", id="feature-mismatch"),
    pytest.param(lambda X, Y: (as_dask(X, X_ROWS), None, "nan_euclidean"),
                 NotImplementedError, "not available on Dask arrays", id="nan_euclidean"),
    pytest.param(lambda X, Y: (as_dask(X, X_ROWS), None, "no-such-metric"),
                 ValueError, "not supported", id="unknown-metric"),
])
def test_invalid_dask_input_fails_when_building_the_graph(rng, make_args, error, match):
    X, Y = make_data(rng)
    dX, dY, metric = make_args(X, Y)
    with pytest.raises(error, match=match):     # raised by the call, not at compute time
        pairwise_distances(dX, dY, metric=metric)


def test_mahalanobis_without_enough_samples_fails_when_the_graph_is_built():
    X = np.random.default_rng(0).normal(size=(4, 6))
    with pytest.raises(ValueError, match="more samples"):
        pairwise_distances(as_dask(X, 2), metric="mahalanobis")


def test_custom_metric_with_an_inner_function_is_compiled_once_per_process(client):
    # A lambda inside the metric is a nested code object: the kernel cache
    # must key it by content, so unpickled copies on a worker share a kernel.
    from fastml._numba import custom_metric

    def metric(a, b):
        square = lambda t: t * t  # noqa: E731
        return np.sqrt(square(a - b).sum())

    def n_kernels():
        return len(custom_metric._kernels)

    X = np.random.default_rng(1).normal(size=(40, 3))
    D = pairwise_distances(as_dask(X, 10), metric=metric)
    assert_allclose(run(client, D), pairwise_distances(X, metric="euclidean"), rtol=1e-12)
    before = client.run(n_kernels)
    run(client, pairwise_distances(as_dask(X, 10), metric=metric))
    assert client.run(n_kernels) == before
