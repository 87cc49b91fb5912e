"""PolynomialFeatures and RBFSampler, and their kernels, against
scikit-learn and NumPy.

Polynomial features are compared bit for bit (same products, same order).
Random Fourier features share scikit-learn's random weights bit for bit;
the features themselves agree to rounding: fastml accumulates X @ W in
float64 and uses its own vectorised cosine (checked here against np.cos).
"""
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import kernel_approximation as ska
from sklearn import preprocessing as skp

from fastml import kernel_approximation as fka
from fastml import preprocessing as fp
from naive import layouts
from fastml._kernels import _features
from fastml.kernels import fourier_features_chunk, polynomial_features_chunk

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def layout(X, kind):
    return layouts(np.ascontiguousarray(X))[kind]


# ------------------------------------------------------------ polynomial

DEGREES = [0, 1, 2, 3, 4, (2, 3), (0, 2), (1, 3), (3, 3)]


@DTYPES
@pytest.mark.parametrize("degree", DEGREES, ids=str)
@pytest.mark.parametrize("interaction_only", [False, True])
@pytest.mark.parametrize("include_bias", [True, False])
def test_polynomial_equals_sklearn(rng, dtype, degree, interaction_only, include_bias):
    X = rng.normal(size=(300, 4)).astype(dtype)
    kw = dict(degree=degree, interaction_only=interaction_only, include_bias=include_bias)
    if degree == 0 and not include_bias:
        with pytest.raises(ValueError, match="empty output"):
            fp.PolynomialFeatures(**kw).fit(X)
        return
    ref = skp.PolynomialFeatures(**kw).fit(X)
    ours = fp.PolynomialFeatures(**kw).fit(X)
    assert ours.n_output_features_ == ref.n_output_features_
    assert_array_equal(ours.powers_, ref.powers_)
    assert_array_equal(ours.get_feature_names_out(["a", "b", "c", "d"]),
                       ref.get_feature_names_out(["a", "b", "c", "d"]))
    out = ours.transform(X)
    expected = ref.transform(X)
    assert out.dtype == expected.dtype == dtype
    assert_array_equal(out, expected)


@pytest.mark.parametrize("kind", ["F", "readonly", "strided"])
def test_polynomial_kernel_layouts_and_threads(rng, kind):
    X = rng.normal(size=(1001, 6))
    expected = skp.PolynomialFeatures(3).fit_transform(X)
    for threads in (1, 2):
        assert_array_equal(polynomial_features_chunk(layout(X, kind), 3, n_threads=threads),
                           expected)


def test_polynomial_edge_shapes_order_and_names(rng):
    assert polynomial_features_chunk(np.empty((0, 3)), 2).shape == (0, 10)
    X = rng.normal(size=(20, 1))
    assert_array_equal(polynomial_features_chunk(X, (2, 2), interaction_only=True,
                                                 include_bias=False), np.empty((20, 0)))
    out = fp.PolynomialFeatures(2, order="F").fit_transform(X)
    assert out.flags.f_contiguous
    assert_array_equal(out, skp.PolynomialFeatures(2, order="F").fit_transform(X))
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rng.normal(size=(10, 2)), columns=["u", "v"])
    ours = fp.PolynomialFeatures(2).set_output(transform="pandas").fit_transform(frame)
    ref = skp.PolynomialFeatures(2).set_output(transform="pandas").fit_transform(frame)
    pd.testing.assert_frame_equal(ours, ref)


def test_polynomial_errors(rng):
    X = rng.normal(size=(10, 3))
    for degree in (2.5, (1, 2, 3), True, -2, (2, 1)):
        with pytest.raises(ValueError, match="degree"):
            polynomial_features_chunk(X, degree)
    for degree, match in [(-1, "non-negative"), ((3, 2), "min_degree <= max_degree"),
                          ((-1, 2), "min_degree <= max_degree"), (2.5, "degree must be"),
                          ((1, 2, 3), "degree must be")]:
        with pytest.raises(ValueError, match=match):
            fp.PolynomialFeatures(degree).fit(X)
    with pytest.raises(ValueError, match="order"):
        fp.PolynomialFeatures(order="K").fit(X)
    est = fp.PolynomialFeatures(2).fit(X)
    with pytest.raises(ValueError, match="degree must be"):
        est.set_params(degree=-3).fit(X)
    assert est.n_output_features_ == 10       # unchanged by the failed fit
    est.set_params(degree=2)
    with pytest.raises(ValueError, match="X has 4 features"):
        est.transform(rng.normal(size=(5, 4)))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.transform(bad)
    # 2000 features, degree 3: 1.3e9 columns; 100 rows would need ~1 TiB
    wide = fp.PolynomialFeatures(3).fit(rng.normal(size=(2, 2000)))
    with pytest.raises(MemoryError, match=r"100 x 1337337001 float64 \(996\.4 GiB\)"):
        wide.transform(rng.normal(size=(100, 2000)))


def test_polynomial_dask(client, rng):
    X = rng.normal(size=(1000, 5)).astype(np.float32)
    Xd = da.from_array(X, chunks=(300, 5))
    ours = fp.PolynomialFeatures(3, interaction_only=True).fit(Xd)
    out = ours.transform(Xd)
    assert isinstance(out, da.Array) and out.dtype == np.float32
    assert out.chunks == (Xd.chunks[0], (ours.n_output_features_,))
    expected = skp.PolynomialFeatures(3, interaction_only=True).fit_transform(X)
    assert_array_equal(client.compute(out).result(), expected)


# ------------------------------------------------------------ Fourier features

@pytest.mark.parametrize("limit", [1.0, 100.0, 1e5, 1e9])
def test_vectorised_cosine_within_two_ulp(rng, limit):
    v = rng.uniform(-limit, limit, size=200_000)
    v[:8] = [0.0, -0.0, np.pi / 4, np.pi / 2, np.pi, 1e5, -1e5, 3 * np.pi / 4]
    got = v.copy()
    _features.cos_inplace(got)
    expected = np.cos(v)
    # ulps of the result, with the ulp of 1 as the floor near zeros of cos
    ulp = np.spacing(np.maximum(np.abs(expected), np.spacing(1.0)))
    assert np.max(np.abs(got - expected) / ulp) <= 2.0
    special = np.array([np.inf, -np.inf, np.nan])
    _features.cos_inplace(special)
    assert np.isnan(special).all()


@pytest.mark.parametrize("limit", [1.0, 100.0, 8192.0, 1e6])
def test_float32_cosine_within_one_ulp_of_one(rng, limit):
    """The float32 cosine (float arithmetic up to |x| = 8192, float64 and
    libm beyond): absolute error below one float32 ulp of 1, as NumPy's."""
    v = rng.uniform(-limit, limit, size=200_000).astype(np.float32)
    v[:6] = [0.0, -0.0, np.pi / 4, np.pi / 2, 8192.0, -8193.0]
    got = v.copy()
    _features.cos_inplace(got)
    assert got.dtype == np.float32
    expected = np.cos(v.astype(np.float64))
    assert np.max(np.abs(got - expected)) <= np.spacing(np.float32(1))
    special = np.array([np.inf, -np.inf, np.nan], dtype=np.float32)
    _features.cos_inplace(special)
    assert np.isnan(special).all()


@DTYPES
@pytest.mark.parametrize("gamma", [1.0, 0.05, "scale"])
def test_rbf_sampler_matches_sklearn(rng, dtype, gamma):
    X = rng.normal(size=(500, 7)).astype(dtype)
    ref = ska.RBFSampler(gamma=gamma, n_components=300, random_state=11).fit(X)
    ours = fka.RBFSampler(gamma=gamma, n_components=300, random_state=11).fit(X)
    for name in ("random_weights_", "random_offset_"):
        got, expected = getattr(ours, name), getattr(ref, name)
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)
    Q = rng.normal(size=(200, 7)).astype(dtype)
    out, expected = ours.transform(Q), ref.transform(Q)
    assert out.dtype == expected.dtype == dtype
    scale = np.sqrt(2 / 300)
    # both use the same BLAS projection in X's dtype; the cosines differ by
    # rounding (fastml's own, NumPy's for scikit-learn)
    atol = scale * (1e-13 if dtype == np.float64 else 3e-6)
    assert_allclose(out, expected, rtol=0, atol=atol)
    assert_array_equal(ours.get_feature_names_out(), ref.get_feature_names_out())


@pytest.mark.parametrize("kind", ["F", "readonly", "strided"])
def test_fourier_kernel_layouts_threads_and_shapes(rng, kind):
    X = rng.normal(size=(203, 5))
    W, b = rng.normal(size=(5, 65)), rng.uniform(0, 2 * np.pi, 65)
    expected = np.sqrt(2 / 65) * np.cos(X @ W + b)
    for threads in (1, 2):
        got = fourier_features_chunk(layout(X, kind), W, b, n_threads=threads)
        assert_allclose(got, expected, rtol=0, atol=1e-14)
    assert fourier_features_chunk(np.empty((0, 5)), W, b).shape == (0, 65)
    with pytest.raises(ValueError, match="weights must have shape"):
        fourier_features_chunk(X, W[:4], b)


def test_rbf_sampler_errors_and_dask(client, rng):
    X = rng.normal(size=(400, 3))
    with pytest.raises(ValueError, match="n_components"):
        fka.RBFSampler(n_components=0).fit(X)
    with pytest.raises(ValueError, match="gamma"):
        fka.RBFSampler(gamma=-1.0).fit(X)
    est = fka.RBFSampler(gamma="scale", n_components=40, random_state=0)
    ours = est.fit(da.from_array(X, chunks=(100, 3)))
    ref = ska.RBFSampler(gamma="scale", n_components=40, random_state=0).fit(X)
    assert_allclose(ours.random_weights_, ref.random_weights_, rtol=1e-12)
    out = ours.transform(da.from_array(X, chunks=(100, 3)))
    assert isinstance(out, da.Array) and out.chunks == ((100,) * 4, (40,))
    assert_allclose(client.compute(out).result(), ref.transform(X), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="X has 4 features"):
        ours.transform(rng.normal(size=(5, 4)))
