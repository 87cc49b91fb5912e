"""Custom metrics: plain Python functions compiled with Numba into the tiled
kernel, checked against the same function called pair by pair."""
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
    dtypes = {sig[0].dtype.name for sig in kernel.signatures}
    assert dtypes == {"float64", "float32"}


def uses_a_dict(a, b):
    table = {"x": 1.0}
    return table[object()] * (a - b).sum()


def test_uncompilable_metric_gets_a_clear_error(rng):
    X = rng.normal(size=(4, 3))
    with pytest.raises(TypeError) as info:
        pairwise_distances(X, metric=uses_a_dict)
    message = str(info.value)
    assert "'uses_a_dict' could not be compiled by Numba" in message
    assert "object" in message            # Numba's own reason is shown
    assert "Rewrite it" in message        # and what to change


def test_custom_metric_takes_no_parameters(rng):
    with pytest.raises(TypeError, match="closure or functools.partial"):
        pairwise_distances(rng.normal(size=(3, 2)), metric=manhattan, p=3)
