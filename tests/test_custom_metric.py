"""Custom metrics: plain Python functions compiled with Numba into the tiled
kernel, checked against the same function called pair by pair."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from fastml import kernels
from fastml._numba import custom_metric
from fastml.metrics import pairwise_distances


def manhattan(a, b):
    return np.abs(a - b).sum()


def soft_l2(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        t = a[k] - b[k]
        s += t * t / (1.0 + abs(t))
    return np.sqrt(s)


def pair_by_pair(X, Y, func):
    return np.array([[func(x, y) for y in Y] for x in X], dtype=np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("func", [manhattan, soft_l2])
def test_custom_metric_equals_calling_the_function(rng, func, dtype):
    X = rng.normal(size=(130, 7)).astype(dtype)   # > 2 row tiles, ragged
    Y = rng.normal(size=(70, 7)).astype(dtype)
    got = pairwise_distances(X, Y, metric=func, n_jobs=2)
    assert got.dtype == dtype
    ref = pair_by_pair(X.astype(np.float64), Y.astype(np.float64), func)
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 2e-6)


def test_custom_metric_matches_the_built_in(rng):
    X = rng.normal(size=(90, 12))
    np.testing.assert_allclose(pairwise_distances(X, metric=manhattan),
                               cdist(X, X, "cityblock"), rtol=1e-12)


def test_y_none_is_symmetric_with_zero_diagonal(rng):
    X = rng.normal(size=(150, 5))
    D = pairwise_distances(X, metric=soft_l2, n_jobs=3)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0)
    np.testing.assert_allclose(D, pair_by_pair(X, X, soft_l2), rtol=1e-12, atol=1e-300)


def test_threads_do_not_change_the_result(rng):
    X = rng.normal(size=(300, 9))
    Y = rng.normal(size=(100, 9))
    one = kernels.pairwise_distances_chunk(X, Y, soft_l2, n_threads=1)
    for n_threads in (2, 4):
        np.testing.assert_array_equal(
            kernels.pairwise_distances_chunk(X, Y, soft_l2, n_threads=n_threads), one)


def weighted_l1(w):
    def metric(a, b):
        return (w * np.abs(a - b)).sum()
    return metric


def test_closures_with_different_values_get_their_own_kernel(rng):
    # Numba freezes closure variables at compile time: the kernel cache must
    # never hand one closure's kernel to another, even for large arrays whose
    # repr() looks the same.
    X = rng.normal(size=(20, 2000))
    w1 = np.ones(2000)
    w2 = w1.copy()
    w2[1000] = 5.0                     # in the part that repr() elides
    assert repr(w1) == repr(w2)
    d1 = pairwise_distances(X, metric=weighted_l1(w1))
    d2 = pairwise_distances(X, metric=weighted_l1(w2))
    np.testing.assert_allclose(d1, cdist(X, X, "cityblock"), rtol=1e-12)
    np.testing.assert_allclose(d2, cdist(X, X, "cityblock", w=w2), rtol=1e-12)


def test_kernel_is_compiled_once_per_function(rng):
    X = rng.normal(size=(10, 3))
    pairwise_distances(X, metric=soft_l2)
    kernel = custom_metric.get_kernel(soft_l2)
    pairwise_distances(X.astype(np.float32), metric=soft_l2)
    assert custom_metric.get_kernel(soft_l2) is kernel
    # one specialisation per dtype (the signatures of the tiled kernel)
    dtypes = {sig[0].dtype.name for sig in kernel.lanes.signatures}
    assert dtypes == {"float64", "float32"}
    assert kernel.uses_lanes(np.float64) and kernel.uses_lanes(np.float32)


def uses_a_dict(a, b):
    table = {"x": 1.0}
    return table[object()] * (a - b).sum()


@pytest.mark.parametrize("symmetric", [False, True])
def test_uncompilable_metric_runs_in_python_as_in_sklearn(rng, symmetric):
    from scipy.spatial.distance import euclidean
    from sklearn.metrics import pairwise_distances as sk_pairwise_distances

    from fastml.kernels.distances import SlowMetricWarning

    X = rng.normal(size=(9, 3))
    Y = None if symmetric else rng.normal(size=(5, 3))
    for func in (uses_a_dict_key, euclidean):
        with pytest.warns(SlowMetricWarning) as record:
            got = pairwise_distances(X, Y, metric=func)
        assert len(record) == 1                      # one warning per call
        message = str(record[0].message)
        assert f"'{func.__name__}' runs in plain Python" in message
        assert "Numba cannot compile it: Untyped global name" in message  # Numba's reason
        np.testing.assert_array_equal(got, sk_pairwise_distances(X, Y, metric=func))


def uses_a_dict_key(a, b):
    return {"o": 1.0}[object.__name__[:1]] * np.abs(a - b).sum()


def test_uncompilable_metric_error_in_python_is_raised(rng):
    with pytest.warns(UserWarning, match="plain Python"), pytest.raises(KeyError):
        pairwise_distances(rng.normal(size=(4, 3)), metric=uses_a_dict)


def test_the_compile_failure_is_remembered(rng):
    """Once per dtype: a second call does not try Numba again."""
    X = rng.normal(size=(4, 3))
    with pytest.warns(UserWarning, match="plain Python"):
        pairwise_distances(X, metric=uses_a_dict_key)
    kernel = custom_metric.get_kernel(uses_a_dict_key)
    assert kernel.failure[np.dtype(np.float64)] is not None
    with pytest.raises(custom_metric.NotCompilable, match="could not be compiled by Numba"):
        kernels.custom_distances(X, X, uses_a_dict_key)   # the kernel itself refuses


def scaled_manhattan(a, b, scale=1.0, offset=0.0):
    return scale * np.abs(a - b).sum() + offset


def test_keyword_parameters_of_a_callable_are_passed_as_in_sklearn(rng):
    from sklearn.metrics import pairwise_distances as sk_pairwise_distances

    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    for Y_ in (None, Y):
        with pytest.warns(UserWarning, match=r"keyword parameters \['offset', 'scale'\]"):
            got = pairwise_distances(X, Y_, metric=scaled_manhattan, scale=3.0, offset=1.0)
        ref = sk_pairwise_distances(X, Y_, metric=scaled_manhattan, scale=3.0, offset=1.0)
        np.testing.assert_allclose(got, ref, rtol=1e-15)
        assert got[0, 0] == (1.0 if Y_ is None else ref[0, 0])   # evaluated on the diagonal


# ---------------------------------------------------------------- lanes
# Metrics made of arithmetic on a[k] and b[k] run WIDTH pairs per call
# (fastml._numba.lanes); everything else runs pair by pair.  Both kernels
# must give what calling the function pair by pair gives.
import math  # noqa: E402

import numba  # noqa: E402


@numba.njit
def squared_difference(x, y):
    t = x - y
    return t * t


def manhattan_loop(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += abs(a[k] - b[k])
    return s


def manhattan_in_input_precision(a, b):
    s = a[0] * 0
    for k in range(len(a)):
        s += abs(a[k] - b[k])
    return s


def chebyshev_loop(a, b):
    s = 0.0
    for k in range(a.size):
        s = max(s, abs(a[k] - b[k]))
    return s


def smallest_difference(a, b):
    s = math.inf
    for k in range(a.shape[0]):
        s = min(abs(a[k] - b[k]), s)
    return s


def calls_a_helper(a, b):
    s = 0
    for k in range(a.shape[0]):
        s += squared_difference(a[k], b[k])
    return math.sqrt(s) / a.shape[0]


def powers_and_logs(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        t = a[k] - b[k]
        s += t ** 2 + abs(t) ** 3 - math.pow(abs(t), 0.5) + np.log(1.0 + np.exp(-t * t))
    s -= -a[-1] * b[-1] + (+b[0]) ** 0
    return s / 2.0


def divides(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += 1.0 / (1.0 + (a[k] - b[k]) ** 2)
    return 1.0 - s / len(a)


def constant(a, b):
    return 1.5


WEIGHTS = np.linspace(0.5, 2.0, 9)
INTEGER_WEIGHTS = np.arange(9)


def euclidean_expression(a, b):
    return np.sqrt(((a - b) ** 2).sum())


def squares_and_norms(a, b):
    return np.sqrt(np.sum(np.square(a - b))) + np.linalg.norm(a - b) - np.linalg.norm(b)


def chebyshev_expression(a, b):
    return np.max(np.abs(a - b)) + (a - b).max() - np.amin(-(b - a)) + b.min()


def weighted_expression(a, b):
    return (WEIGHTS * np.abs(a - b)).sum() + np.sum(INTEGER_WEIGHTS * (a - b) * 0.5)


def cosine_expression(a, b):
    return 1 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))


def minkowski_expression(a, b):
    return (np.abs(a - b) ** 3).sum() ** (1 / 3) + np.power(np.abs(b), 1.5).mean()


def canberra_expression(a, b):
    return (np.abs(a - b) / (np.abs(a) + np.abs(b))).sum() / len(a - b)


def exp_log_expression(a, b):
    d = np.subtract(a, b)
    return np.log(np.exp(-d * d) + 2).sum() / (a - b).shape[0] + np.fabs(2 * d).mean()


def allocates(a, b):
    w = np.ones(a.shape[0])
    return (w * np.abs(a - b)).sum() / w.size


def squares_in_a_loop(a, b):
    s = np.float32(0)
    for k in range(a.shape[0]):
        t = a[k] - b[k]
        s += np.square(t) + math.pow(abs(t), 2) + pow(t, 4) - math.pow(abs(t), 0.5)
    return s


ONE_WEIGHT = np.array([2.0])


def broadcasts_one_weight(a, b):
    return (ONE_WEIGHT * np.abs(a - b)).sum() + (np.abs(a - b) - np.mean(a - b)).max()


def integer_scalars(a, b):
    d = (a - b) * 10 ** 19       # stays in the rows' type, as in NumPy: overflows float32
    return np.sqrt((d ** 2).sum()) / 2 + (3 * np.abs(a - b) / 4).sum()


LANES_METRICS = [squares_in_a_loop, broadcasts_one_weight, manhattan_loop, manhattan_in_input_precision, chebyshev_loop,
                 smallest_difference, calls_a_helper, powers_and_logs, divides, soft_l2,
                 constant, manhattan, euclidean_expression, squares_and_norms,
                 chebyshev_expression, weighted_expression, cosine_expression,
                 minkowski_expression, canberra_expression, exp_log_expression, allocates]


def branches(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        if a[k] != b[k]:
            s += 1.0
    return s


def zips(a, b):
    s = 0.0
    for x, y in zip(a, b):
        s += abs(x - y)
    return s


def negative_power(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += (1.0 + abs(a[k] - b[k])) ** -1
    return s


def slices(a, b):
    return np.abs(a - b)[1:].sum()


def negative_power_expression(a, b):
    return ((1.0 + np.abs(a - b)) ** -1).sum()


def sorts(a, b):
    return np.sort(a - b)[0]


def negative_math_power(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += math.pow(1.0 + abs(a[k] - b[k]), -1)
    return s


def catches(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        try:
            s += 1.0 / (a[k] - b[k])
        except Exception:       # Numba matches no narrower class
            s += 1e6
    return s


PAIR_BY_PAIR_METRICS = [branches, zips, negative_power, slices, negative_power_expression,
                        sorts, negative_math_power, catches]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("func", LANES_METRICS + PAIR_BY_PAIR_METRICS,
                         ids=lambda f: f.__name__)
def test_lanes_and_pair_by_pair_kernels_equal_calling_the_function(rng, func, dtype):
    # ragged shapes: 3 row tiles of X, Y not a multiple of the lane width
    X = rng.normal(size=(150, 9)).astype(dtype)
    Y = rng.normal(size=(83, 9)).astype(dtype)
    got = pairwise_distances(X, Y, metric=func, n_jobs=2)
    assert got.dtype == dtype
    uses_lanes = custom_metric.get_kernel(func).uses_lanes(dtype)
    assert uses_lanes == (func in LANES_METRICS), custom_metric.get_kernel(func).lanes_failures
    ref = pair_by_pair(X.astype(np.float64), Y.astype(np.float64), func)
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 2e-5,
                               atol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("func", LANES_METRICS, ids=lambda f: f.__name__)
def test_lanes_kernel_equals_the_pair_by_pair_kernel(rng, func, dtype):
    # the two compiled kernels side by side, NaN and inf included, and
    # symmetric (each pair once: the lanes kernel goes pair by pair on the
    # diagonal's blocks)
    X = rng.normal(size=(100, 9)).astype(dtype)
    X[3, 5] = np.nan
    X[7, 2] = np.inf
    X[11, :] = X[12, :]
    kernel = custom_metric.get_kernel(func)
    for Y, symmetric in ((X[::-1].copy(), False), (X, True)):
        results = []
        for compiled in (kernel.lanes, kernel.pairs):
            out = np.zeros((100, 100), dtype)
            compiled(X, Y, out, np.arange(0, 100, custom_metric.TILE), symmetric)
            results.append(out)
        np.testing.assert_allclose(results[0], results[1], equal_nan=True,
                                   rtol=1e-12 if dtype == np.float64 else 1e-5,
                                   atol=1e-12 if dtype == np.float64 else 1e-5)
        if symmetric:
            assert not np.tril(results[0]).any()   # nothing written on or below the diagonal


def test_the_lanes_path_widens_as_the_scalar_path_does(rng):
    # s = 0.0 sums float32 rows in float64 (the result is float32 at the
    # end): more precise than summing in float32 over many features
    X = rng.normal(size=(20, 4000)).astype(np.float32)
    exact = cdist(X.astype(np.float64), X[:7].astype(np.float64), "cityblock")
    wide = pairwise_distances(X, X[:7], metric=manhattan_loop)
    assert custom_metric.get_kernel(manhattan_loop).uses_lanes(np.float32)
    np.testing.assert_allclose(wide, exact, rtol=1e-7)


def divides_by_the_distance(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += abs(a[k] - b[k])
    return 1.0 / s


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_division_by_zero_raises_as_the_scalar_code_does(rng, dtype):
    X = rng.normal(size=(40, 3)).astype(dtype)
    Y = np.concatenate([rng.normal(size=(30, 3)), X[17:18]]).astype(dtype)
    with pytest.raises(ZeroDivisionError):
        pairwise_distances(X, Y, metric=divides_by_the_distance)
    assert custom_metric.get_kernel(divides_by_the_distance).uses_lanes(dtype)
    # Y=None evaluates the diagonal as scikit-learn does, in Python: NumPy's 1/0 is inf
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        D = pairwise_distances(X, metric=divides_by_the_distance)
    with np.errstate(divide="ignore"):
        ref = 1.0 / cdist(X.astype(np.float64), X.astype(np.float64), "cityblock")
    np.testing.assert_allclose(D, ref, rtol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("layout", ["F", "strided", "readonly"])
def test_lanes_kernel_takes_any_layout(rng, layout):
    X = rng.normal(size=(70, 12))
    Y = rng.normal(size=(45, 12))
    ref = pair_by_pair(X, Y, chebyshev_loop)
    if layout == "F":
        X, Y = np.asfortranarray(X), np.asfortranarray(Y)
    elif layout == "strided":
        X, Y = np.repeat(X, 2, axis=1)[:, ::2], np.repeat(Y, 2, axis=1)[:, ::2]
    else:
        X.flags.writeable = Y.flags.writeable = False
    np.testing.assert_allclose(pairwise_distances(X, Y, metric=chebyshev_loop), ref,
                               rtol=1e-12)
    assert custom_metric.get_kernel(chebyshev_loop).uses_lanes(np.float64)


def divides_elementwise(a, b):
    return (np.abs(a - b) / np.abs(a + b)).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_array_expressions_divide_as_numpy_does(rng, dtype):
    # elementwise division by zero gives inf (NumPy's rule, and Numba's for
    # array expressions), it does not raise
    X = rng.normal(size=(20, 5)).astype(dtype)
    Y = -X[:6]
    got = pairwise_distances(X, Y, metric=divides_elementwise)
    assert custom_metric.get_kernel(divides_elementwise).uses_lanes(dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = pair_by_pair(X.astype(np.float64), Y.astype(np.float64), divides_elementwise)
    assert np.isinf(np.diag(got[:6])).all()
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 1e-5)


def mismatched_weights(a, b):
    return (WEIGHTS[:4] * np.abs(a - b)).sum()


def weighted_expression_only(a, b):
    return (WEIGHTS * np.abs(a - b)).sum()


def test_array_expressions_broadcast_as_numpy_does(rng):
    # lengths 9 and 4 do not broadcast: NumPy's ValueError
    X = rng.normal(size=(20, 9))
    with pytest.raises(ValueError):
        pairwise_distances(X, X[:3], metric=mismatched_weights)
    assert custom_metric.get_kernel(mismatched_weights).uses_lanes(np.float64)
    # rows of one feature stretch to the 9 weights (the array length-1 case
    # is broadcasts_one_weight)
    X1 = rng.normal(size=(20, 1))
    got = pairwise_distances(X1, X1[:17], metric=weighted_expression_only)
    assert custom_metric.get_kernel(weighted_expression_only).uses_lanes(np.float64)
    np.testing.assert_allclose(got, pair_by_pair(X1, X1[:17], weighted_expression_only),
                               rtol=1e-12)


LEAK_CHECK = """
import numpy as np
from numba.core.runtime import rtsys
from fastml._numba import custom_metric
from fastml.metrics import pairwise_distances

def allocates(a, b):
    w = np.ones(a.shape[0])
    return (w * np.abs(a - b)).sum() / w.size

X = np.random.default_rng(0).normal(size=(200, 9))
pairwise_distances(X, X[:50], metric=allocates)          # compile first
assert custom_metric.get_kernel(allocates).uses_lanes(np.float64)
before = rtsys.get_allocation_stats()
pairwise_distances(X, X[:50], metric=allocates)
after = rtsys.get_allocation_stats()
print(*(getattr(after, f) - getattr(before, f) for f in after._fields))
"""


def test_array_expressions_leak_nothing(tmp_path):
    # rows, expressions and the arrays in them are reference-counted by
    # Numba's runtime: every allocation made during a call is freed
    # (Numba counts them only when NUMBA_NRT_STATS is set at start-up).
    # Run outside the source tree, so the installed fastml is imported.
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    result = subprocess.run([sys.executable, "-c", LEAK_CHECK], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    alloc, free, mi_alloc, mi_free = map(int, result.stdout.split())
    assert alloc >= 200 * 50 // 16                      # one array per call at least
    assert (alloc, mi_alloc) == (free, mi_free)


catches_compiled = numba.njit(catches)


def catches_in_a_helper(a, b):
    return catches_compiled(a, b) / 2


@pytest.mark.parametrize("func", [catches, catches_in_a_helper])
def test_a_try_block_runs_pair_by_pair(rng, func):
    # a division by zero in one lane raises for the whole call: with a
    # handler in the metric, it would have run for all 16 pairs
    X = rng.normal(size=(40, 3))
    X[5, 1] = X[34, 1]              # X[5] - Y[5] has a zero below (Y = X reversed)
    Y = X[::-1].copy()
    got = pairwise_distances(X, Y, metric=func)
    kernel = custom_metric.get_kernel(func)
    assert kernel.uses_lanes(np.float64) is False
    assert kernel.lanes_failures[np.dtype(np.float64)] == "the metric has a try block"
    ref = np.empty_like(got)
    kernel.pairs(X, Y, ref, np.arange(0, 40, custom_metric.TILE), False)
    np.testing.assert_array_equal(got, ref)
    assert (got > 1e5).sum() >= 1 and (got < 1e5).sum() > 1000


@pytest.mark.parametrize("func, dtype, scale", [
    (func, dtype, scale)
    for func in (cosine_expression, squares_and_norms, integer_scalars)
    for dtype, scale in ((np.float64, 1e200), (np.float64, 1e-200),
                         (np.float32, 1e25), (np.float32, 1e-25))
    # the product of two norms underflows to 0: both kernels raise
    if not (func is cosine_expression and scale < 1)],
    ids=lambda v: getattr(v, "__name__", str(v)))
def test_lanes_kernel_equals_the_pair_by_pair_kernel_at_extremes(rng, func, dtype, scale):
    # np.linalg.norm does not overflow or underflow (Numba's is BLAS nrm2),
    # and integers keep float32 expressions in float32, as in Numba
    X = (rng.normal(size=(40, 6)) * scale).astype(dtype)
    Y = X[::-1].copy() * 3
    kernel = custom_metric.get_kernel(func)
    results = []
    for compiled in (kernel.lanes, kernel.pairs):
        out = np.zeros((40, 40), dtype)
        with np.errstate(all="ignore"):
            compiled(X, Y, out, np.arange(0, 40, custom_metric.TILE), False)
        results.append(out)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5     # squares_and_norms cancels
    np.testing.assert_allclose(results[0], results[1], rtol=tolerance, atol=tolerance * scale)
    if func is integer_scalars and dtype == np.float32 and scale > 1:
        assert np.isinf(results[0]).all()       # (a - b) * 10**19 overflows float32
    got = pairwise_distances(X, Y, metric=func)
    assert custom_metric.get_kernel(func).uses_lanes(dtype)
    np.testing.assert_array_equal(got, results[0])


def test_a_metric_that_falls_back_keeps_no_reference_to_the_data(rng):
    import gc
    import weakref

    def metric(a, b):       # a new function: its kernels are built for this call
        s = 0.0
        for k in range(a.shape[0]):
            if a[k] > b[k]:
                s += 1.0
        return s

    X = rng.normal(size=(30, 4))
    alive = weakref.ref(X)
    pairwise_distances(X, metric=metric)
    assert isinstance(custom_metric.get_kernel(metric).lanes_failures[X.dtype], str)
    del X
    gc.collect()
    assert alive() is None


BOUNDS_CHECK = """
import numpy as np
from fastml._numba import custom_metric
from fastml.metrics import pairwise_distances

def reads_past_the_row(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += abs(a[k] - b[k + 1])
    return s

X = np.random.default_rng(0).normal(size=(20, 3))
try:   # Y is not X: no pair goes pair by pair (as the symmetric diagonal does)
    pairwise_distances(X, X[::-1].copy(), metric=reads_past_the_row)
except IndexError:
    # raised by the lanes kernel, not by a fall-back to pair by pair
    print(custom_metric.get_kernel(reads_past_the_row).uses_lanes(np.float64))
"""


def test_numba_boundscheck_applies_to_the_rows(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1")
    result = subprocess.run([sys.executable, "-c", BOUNDS_CHECK], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def fractional_power_loop(a, b):
    s = 0.0
    for k in range(a.shape[0]):
        s += abs(a[k] - b[k]) ** 1.5
    return s ** (1 / 1.5)


def fractional_power_expression(a, b):
    return np.sum(np.power(np.abs(a - b), 1.5)) ** (1 / 1.5)


@pytest.mark.parametrize("func", [fractional_power_loop, fractional_power_expression])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fractional_powers_run_in_the_vector_power(func, dtype, rng):
    """``x ** 1.5`` on lanes calls fastml's vectorised pow once for 16 pairs
    (no per-lane ``llvm.pow``), and gives minkowski p=1.5 as SciPy does."""
    X, Y = rng.normal(size=(40, 19)).astype(dtype), rng.normal(size=(37, 19)).astype(dtype)
    X[3, :4] = Y[5, :4]                              # zero differences
    got = pairwise_distances(X, Y, metric=func)
    reference = cdist(X.astype(np.float64), Y.astype(np.float64), "minkowski", p=1.5)
    np.testing.assert_allclose(got, reference, rtol=1e-13 if dtype == np.float64 else 2e-6)
    kernel = custom_metric.get_kernel(func)
    assert kernel.uses_lanes(dtype), kernel.lanes_failures
    ir = "\n".join(kernel.lanes.inspect_llvm().values())
    assert "llvm.pow.v16" not in ir and "inttoptr" in ir


def _l1(a, b):
    return np.abs(a - b).sum()


def _child_distances(X, queue):
    from fastml.kernels import pairwise_distances_chunk

    queue.put(pairwise_distances_chunk(X, X, _l1, n_threads=2))


def test_the_kept_thread_pool_works_in_a_forked_child(rng):
    """The threads of a custom metric are kept from call to call; a child
    forked after they started has none of them, and must not hang."""
    import multiprocessing

    from fastml.kernels import pairwise_distances_chunk

    X = rng.normal(size=(300, 8))
    expected = pairwise_distances_chunk(X, X, _l1, n_threads=2)   # the pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_distances, args=(X, queue))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, expected)
