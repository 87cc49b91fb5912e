"""Thread safety: the kernels keep no shared state and release the GIL, so
concurrent calls from Python threads give exactly the single-call results."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastml import kernels
from fastml._kernels._openmp_info import openmp_enabled
from fastml._threads import effective_n_threads
from fastml.metrics import pairwise_distances


def manhattan(a, b):
    return np.abs(a - b).sum()


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock", "chebyshev",
                                    "jaccard", "mahalanobis", manhattan])
def test_four_python_threads_at_once(rng, metric):
    X = rng.normal(size=(400, 24))
    Y = rng.normal(size=(300, 24))
    expected = pairwise_distances(X, Y, metric=metric, n_jobs=1)
    expected_sym = pairwise_distances(X, metric=metric, n_jobs=1)

    def call(i):
        if i % 2:
            return pairwise_distances(X, metric=metric, n_jobs=2)
        return kernels.pairwise_distances_chunk(X, Y, metric, n_threads=2)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, range(8)))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, expected_sym if i % 2 else expected)


def test_effective_n_threads():
    n = effective_n_threads(None)
    assert n >= 1
    assert effective_n_threads(-1) == n
    assert effective_n_threads(1) == 1
    assert effective_n_threads(-n - 5) == 1
    # a serial build (no OpenMP) runs every kernel on one thread
    assert effective_n_threads(3) == (3 if openmp_enabled() else 1)


def test_threads_for_gives_small_work_one_thread():
    from fastml._threads import WORK_PER_THREAD, threads_for

    assert threads_for(0, 8) == 1
    assert threads_for(WORK_PER_THREAD - 1, 8) == 1
    assert threads_for(2 * WORK_PER_THREAD, 8) == 2
    assert threads_for(100 * WORK_PER_THREAD, 8) == 8
    assert threads_for(100 * WORK_PER_THREAD, 1) == 1
    assert isinstance(threads_for(np.int64(3 * WORK_PER_THREAD), 4), int)
