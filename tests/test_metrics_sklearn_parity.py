"""Behaviours of ``fastml.metrics`` that scikit-learn 1.9 defines beyond
the numbers (issue 18): warnings, precomputed matrices, what reduce_func may
return, dtypes of list input, a callable's diagonal; each compared with
scikit-learn itself."""
import warnings

import numpy as np
import pytest
import sklearn.metrics as sk
from scipy import sparse
from sklearn.exceptions import DataConversionWarning
from sklearn.kernel_approximation import RBFSampler as SkRBFSampler

import fastml.metrics as fm
from fastml.kernel_approximation import RBFSampler

RNG = np.random.RandomState(0)
X = RNG.uniform(-1, 1, size=(12, 4))
X[X < -0.3] = 0
Y = X[:5] * 2


def conversion_warnings(func):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func()
    return [str(w.message) for w in caught if issubclass(w.category, DataConversionWarning)]


BOOLEAN_METRICS = ["dice", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule"]
DATA = {"float": X, "float01": (X != 0).astype(float), "int01": (X != 0).astype(np.int64),
        "bool": X != 0, "float32": X.astype(np.float32)}


@pytest.mark.parametrize("metric", BOOLEAN_METRICS + ["hamming", "euclidean"])
@pytest.mark.parametrize("x", list(DATA))
@pytest.mark.parametrize("y", [None, "bool", "float"])
def test_boolean_metric_warns_as_sklearn(metric, x, y):
    A = DATA[x]
    B = None if y is None else DATA[y][:5]
    calls = {
        "pairwise_distances": lambda m: m.pairwise_distances(A, B, metric=metric),
        "chunked": lambda m: list(m.pairwise_distances_chunked(A, B, metric=metric,
                                                                working_memory=0.0002)),
    }
    for name, call in calls.items():
        ref = conversion_warnings(lambda: call(sk))
        ours = conversion_warnings(lambda: call(fm))
        if name == "chunked":   # scikit-learn warns once per block, fastml once
            assert bool(ours) == bool(ref)
        else:
            assert len(ours) == len(ref)
        for message in ours:
            assert message.startswith(f"Data was converted to boolean for metric {metric}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # (scikit-learn's blocks of russellrao, ... have d(x, x) != 0 on the
            # diagonal, its pairwise_distances 0: fastml's blocks stack to the latter)
            np.testing.assert_allclose(np.vstack(calls["chunked"](fm)),
                                       calls["pairwise_distances"](sk), rtol=1e-6, atol=1e-7)


def test_boolean_warning_points_at_the_caller():
    with pytest.warns(DataConversionWarning) as record:
        fm.pairwise_distances(X, metric="jaccard")
    assert record[0].filename == __file__


def test_boolean_metric_on_lists():
    # scikit-learn fails on lists here (AttributeError: list has no dtype);
    # fastml converts them and warns only when they are not boolean
    assert conversion_warnings(lambda: fm.pairwise_distances(X.tolist(), metric="jaccard"))
    assert not conversion_warnings(
        lambda: fm.pairwise_distances((X != 0).tolist(), metric="jaccard"))


@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "csc_matrix", "tuple"])
def test_reduce_func_may_return_sparse(kind):
    def reduce_func(D, start):
        if kind == "tuple":
            return sparse.csr_matrix(D), D.sum(axis=1)
        return getattr(sparse, kind)(D)

    ref = list(sk.pairwise_distances_chunked(X, reduce_func=reduce_func, working_memory=0.0002))
    ours = list(fm.pairwise_distances_chunked(X, reduce_func=reduce_func,
                                              working_memory=0.0002))
    assert len(ours) == len(ref) > 1
    for a, b in zip(ours, ref):
        assert type(a) is type(b)
        if kind == "tuple":
            a, b = a[0], b[0]
        np.testing.assert_allclose(a.toarray(), b.toarray(), rtol=1e-12)


@pytest.mark.parametrize("result, error", [
    (lambda D: sparse.csr_matrix(D[:-1]), ValueError),
    (lambda D: (sparse.csr_matrix(D), D[:-1]), ValueError),
    (lambda D: 5, TypeError),
    (lambda D: (D, (D, D)), TypeError),
])
def test_reduce_func_of_the_wrong_length_or_type(result, error):
    for module in (sk, fm):
        with pytest.raises(error, match="reduce_func returned"):
            next(module.pairwise_distances_chunked(X, reduce_func=lambda D, s: result(D)))


@pytest.mark.parametrize("working_memory", [None, 0.0001, 1])
def test_precomputed_is_yielded_whole(working_memory):
    D = sk.pairwise_distances(X)
    calls = []

    def reduce_func(chunk, start):
        calls.append((chunk.shape, start))
        return chunk.sum(axis=1)

    for module in (sk, fm):
        blocks = list(module.pairwise_distances_chunked(D, metric="precomputed",
                                                        working_memory=working_memory))
        assert len(blocks) == 1
        np.testing.assert_array_equal(blocks[0], D)
        reduced = list(module.pairwise_distances_chunked(
            D, metric="precomputed", reduce_func=reduce_func, working_memory=working_memory))
        np.testing.assert_allclose(reduced[0], D.sum(axis=1))
    assert calls == [(D.shape, 0), (D.shape, 0)]


@pytest.mark.parametrize("shapes", [((4, 12), None), ((12, 12), None), ((4, 5), (5, 2)),
                                    ((4, 5), (4, 5)), ((5, 5), (5, 3)), ((5, 4), None)])
def test_precomputed_shapes_as_sklearn(shapes):
    x_shape, y_shape = shapes
    D = np.abs(RNG.normal(size=x_shape))
    Yp = None if y_shape is None else RNG.normal(size=y_shape)
    for call in (lambda m: m.pairwise_distances(D, Yp, metric="precomputed"),
                 lambda m: next(m.pairwise_distances_chunked(D, Yp, metric="precomputed"))):
        try:
            ref = call(sk)
        except ValueError:
            with pytest.raises(ValueError, match="metric='precomputed' takes X of shape"):
                call(fm)
        else:
            np.testing.assert_array_equal(call(fm), ref)


F32 = [[np.float32(v) for v in row] for row in X[:6]]


@pytest.mark.parametrize("container", [list, tuple])
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "precomputed"])
def test_float32_numbers_in_lists_stay_float32(container, metric):
    A = container(container(row) for row in F32)
    if metric == "precomputed":
        A = container(container(np.float32(abs(v)) for v in row[:1]) * 6 for row in F32)
    for call in (lambda m: m.pairwise_distances(A, metric=metric),
                 lambda m: next(m.pairwise_distances_chunked(A, metric=metric))):
        ref, ours = call(sk), call(fm)
        assert ours.dtype == ref.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    if metric != "precomputed":
        ref = sk.pairwise_distances(A, A[:2], metric=metric)
        assert fm.pairwise_distances(A, A[:2], metric=metric).dtype == ref.dtype


def test_mixed_lists_are_float64_as_in_sklearn():
    mixed = [row[:3] + [1.5] for row in F32]   # a Python float among float32s
    assert sk.pairwise_distances(mixed).dtype == fm.pairwise_distances(mixed).dtype == np.float64


@pytest.mark.parametrize("container", [list, tuple])
def test_rbf_sampler_keeps_float32_lists(container):
    A = container(container(row) for row in F32)
    ref = SkRBFSampler(n_components=8, random_state=0).fit(A).transform(A)
    ours = RBFSampler(n_components=8, random_state=0).fit(A).transform(A)
    assert ours.dtype == ref.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def plus_one(a, b):
    return np.sqrt(((a - b) ** 2).sum()) + 1.0


def first_coordinate(a, b):   # not symmetric
    return float(a[0] - b[0]) ** 3


@pytest.mark.parametrize("metric", [plus_one, first_coordinate])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_callable_metric_is_evaluated_on_the_diagonal(metric, dtype):
    A = X.astype(dtype)
    for call in (lambda m: m.pairwise_distances(A, metric=metric),
                 lambda m: m.pairwise_distances(A, A, metric=metric),
                 lambda m: np.vstack(list(m.pairwise_distances_chunked(
                     A, metric=metric, working_memory=0.0002))),
                 lambda m: np.vstack(list(m.pairwise_distances_chunked(A, metric=metric)))):
        ref, ours = call(sk), call(fm)
        np.testing.assert_allclose(ours, ref, rtol=1e-12 if dtype == np.float64 else 1e-5)
    if metric is plus_one:
        np.testing.assert_allclose(np.diag(fm.pairwise_distances(A, metric=metric)), 1.0)


def test_callable_diagonal_on_dask():
    da = pytest.importorskip("dask.array")
    got = fm.pairwise_distances(da.from_array(X, chunks=(5, 4)), metric=plus_one).compute()
    np.testing.assert_allclose(got, sk.pairwise_distances(X, metric=plus_one), rtol=1e-12)
