"""Hypothesis property tests of the distance kernels: symmetry, zero
diagonal, non-negativity, the triangle inequality for true metrics, and
that computing by blocks gives the whole matrix."""
from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fastml import kernels
from fastml.metrics import pairwise_distances, pairwise_distances_chunked

# Metrics that satisfy the triangle inequality (jensenshannon: the square
# root of the divergence, as SciPy returns it, is a metric).
TRUE_METRICS = ["euclidean", "cityblock", "chebyshev", "minkowski", "canberra", "hamming",
                "jaccard", "jensenshannon", "seuclidean", "mahalanobis"]
ALL_METRICS = TRUE_METRICS + ["sqeuclidean", "cosine", "correlation", "braycurtis", "dice",
                              "yule", "rogerstanimoto", "russellrao", "sokalsneath"]
SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def matrices(draw, min_rows=1, max_rows=40):
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    elements = st.floats(-1e3, 1e3, allow_nan=False, width=32)
    X = draw(arrays(dtype, (n, d), elements=elements))
    if draw(st.booleans()):            # duplicated rows are the hard case
        X[n // 2:] = X[: n - n // 2]
    return X


def prepare(X, metric):
    """Data valid for the metric, and its parameters."""
    params = {}
    if metric == "jensenshannon":
        X = np.abs(X) + 1
    if metric in ("seuclidean", "mahalanobis"):
        d = X.shape[1]
        params = {"V": np.linspace(0.5, 2, d)} if metric == "seuclidean" else {
            "VI": np.eye(d) + 0.1 * np.ones((d, d))}
    if metric == "minkowski":
        params = {"p": 3}
    return X, params


@SETTINGS
@given(X=matrices(), metric=st.sampled_from(ALL_METRICS))
def test_symmetric_nonnegative_zero_diagonal(X, metric):
    X, params = prepare(X, metric)
    D = pairwise_distances(X, metric=metric, **params)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0)
    assert np.all(np.nan_to_num(D) >= 0)
    # The kernel computes every pair independently, with cdist's semantics
    # (NaN where a pair is undefined, e.g. cosine of a zero row, which
    # scikit-learn's semantics make 1): off the diagonal, where both are
    # defined, they agree.
    D2 = kernels.pairwise_distances_chunk(X, X, metric, **params)
    mask = ~np.eye(len(X), dtype=bool) & np.isfinite(D2)
    scale = max(np.max(np.abs(D2[mask]), initial=0), 1)
    tol = 1e-5 if X.dtype == np.float32 else 1e-12
    if metric == "jensenshannon":
        # the distance is the square root of a divergence summed from
        # cancelling terms: near-identical rows leave a divergence ~1e-12
        # whose rounding (~1e-16 either way) the root magnifies to ~1e-11,
        # so compare divergences (the two paths order the terms differently)
        np.testing.assert_allclose(D[mask] ** 2, D2[mask] ** 2, rtol=0, atol=tol * scale**2)
        return
    np.testing.assert_allclose(D[mask], D2[mask], rtol=0, atol=tol * scale)


@SETTINGS
@given(X=matrices(min_rows=3, max_rows=15), metric=st.sampled_from(TRUE_METRICS))
def test_triangle_inequality(X, metric):
    X, params = prepare(X.astype(np.float64), metric)
    D = kernels.pairwise_distances_chunk(X, X, metric, **params)
    D = np.nan_to_num(D)                 # jaccard of two all-zero rows
    # d(i, k) <= d(i, j) + d(j, k) for all i, j, k, up to rounding
    lhs = D[:, None, :]
    rhs = D[:, :, None] + D[None, :, :]
    assert np.all(lhs <= rhs + 1e-9 * (1 + rhs))


@SETTINGS
@given(X=matrices(min_rows=2), data=st.data(),
       metric=st.sampled_from(["euclidean", "cityblock", "cosine", "chebyshev", "hamming"]))
def test_blocks_give_the_whole_matrix(X, data, metric):
    Y = X[::-1].copy()
    whole = kernels.pairwise_distances_chunk(X, Y, metric)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(X)), max_size=4)))
    bounds = [0] + cuts + [len(X)]
    blocks = [kernels.pairwise_distances_chunk(X[a:b], Y, metric)
              for a, b in zip(bounds[:-1], bounds[1:])]
    # Each pair is computed from its own two rows: block boundaries do not
    # change any value.
    np.testing.assert_array_equal(np.vstack(blocks), whole)


@SETTINGS
@given(X=matrices(min_rows=2), wm=st.floats(1e-4, 0.01))
def test_chunked_equals_whole(X, wm):
    whole = pairwise_distances(X, metric="cityblock")
    too_small = wm * 2**20 < X.shape[0] * X.itemsize  # not even one row fits
    with pytest.warns(UserWarning, match="working_memory") if too_small else nullcontext():
        chunks = list(pairwise_distances_chunked(X, metric="cityblock", working_memory=wm))
    np.testing.assert_array_equal(np.vstack(chunks), whole)
