"""Precision of the direct tile kernels that avoid libm and the divide.

* canberra computes each quotient without a divide instruction (on
  AVX-512), from a reciprocal estimate, a Newton step and one FMA-residual
  correction; its results must stay within 2 ulp of SciPy's ``cdist`` on
  every pair, zeros, negative values, NaN, infinities and extreme
  magnitudes (which take the divide) included.  That is float64 input;
  float32 input is computed like the other float32 direct metrics (terms
  and partial sums in float32, 16 lanes per AVX-512 vector, float32
  reciprocal estimate and a Newton step), so its bound is the float32
  tolerance of those metrics, 1e-5 relative to each pair's SciPy distance
  (the terms are >= 0: the sum loses no digits to cancellation).  The
  special cases are SciPy's in both dtypes: |x| + |y| = 0 counts 0, NaN
  propagates, inf / inf is NaN.
* minkowski with a fractional p computes |x - y|**p with the vectorised
  exp/log of ``fastml/_kernels/vpow.h`` (p = 0.5, 1.5, 2.5: a vector square
  root); each term must be within 4 ulp of libm's ``pow``, and the
  distances within a few ulp of SciPy's and of a long-double reference.

float32 input is computed in float64 by SciPy; fastml's float32 result is
compared with SciPy's float64 result, in float32 ulps (minkowski) or
relatively (canberra, ``canberra_ok``).
"""
import numpy as np
import pytest
from scipy.spatial.distance import cdist

import naive
from fastml import kernels
from fastml._kernels import _distances

DTYPES = [np.float64, np.float32]
ISAS = [level for level in range(3)
        if level <= _distances.ISA_NAMES.index(_distances.best_isa())]


@pytest.fixture(params=ISAS, ids=lambda level: _distances.ISA_NAMES[level])
def isa(request):
    """Run the test at every instruction-set level this CPU supports."""
    _distances.select_isa(request.param)
    yield request.param
    _distances.select_isa(2)


def ulps(got, ref, dtype):
    """|got - ref| in ulps of ref rounded to dtype; NaN must match NaN, inf
    must match inf (then 0)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    nan = np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(got), nan)
    same = (got == ref) | nan
    with np.errstate(over="ignore", invalid="ignore"):
        spacing = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
        err = np.where(same, 0.0, np.abs(got - ref) / spacing)
    return np.nan_to_num(err, nan=np.inf)


def canberra_ok(got, ref, dtype):
    """float64: within 2 ulp of SciPy.  float32: within 1e-5 of SciPy,
    relative to each pair's distance; NaN and inf where SciPy has them."""
    if dtype == np.float64:
        return ulps(got, ref, dtype).max(initial=0) <= 2
    got = np.asarray(got, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    np.testing.assert_array_equal(got == 0, ref == 0)
    finite = np.isfinite(ref)
    return bool(np.all(np.abs(got[finite] - ref[finite]) <= 1e-5 * np.abs(ref[finite])))


def canberra_data(rng, n, d, dtype, special=False):
    X = rng.standard_normal((n, d))
    X[rng.random((n, d)) < 0.2] = 0.0          # x = y = 0 terms, and x = 0
    X[rng.random((n, d)) < 0.05] *= -1e3
    if special:
        X[rng.random((n, d)) < 0.01] = np.nan
        X[rng.random((n, d)) < 0.01] = np.inf
        X[rng.random((n, d)) < 0.01] = -np.inf
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("d", [1, 7, 64, 300])
def test_canberra_close_to_scipy(rng, isa, dtype, weighted, d):
    X = canberra_data(rng, 70, d, dtype)
    Y = canberra_data(rng, 45, d, dtype)
    Y[:5] = X[:5]                              # x == y: exact zeros
    w = rng.random(d) + 0.1 if weighted else None
    got = kernels.pairwise_distances_chunk(X, Y, "canberra", w=w)
    assert got.dtype == dtype
    # SciPy's weights are float64; the float32 kernel uses float32 weights
    w_ref = None if w is None else w.astype(dtype).astype(np.float64)
    ref = cdist(X.astype(np.float64), Y.astype(np.float64), "canberra", w=w_ref)
    assert canberra_ok(got, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_canberra_nan_inf_and_extreme_magnitudes(rng, isa, dtype):
    """NaN and infinities, subnormals, and values beyond the range the
    divide-free path accepts: the kernel must fall back, not mis-round."""
    X = canberra_data(rng, 40, 33, dtype, special=True)
    Y = canberra_data(rng, 30, 33, dtype, special=False)
    info = np.finfo(dtype)
    far = [1e-200, 1e200] if dtype == np.float64 else [1e-30, 1e30]
    extremes = np.array([info.tiny, info.tiny / 8, info.smallest_subnormal, info.max / 4,
                         3.0, *far], dtype=dtype)
    Y[10:20] = rng.choice(extremes, size=(10, 33)) * rng.choice([-1, 1], size=(10, 33))
    for A, B in ((X, Y), (Y, X), (Y, Y[::-1].copy())):
        got = kernels.pairwise_distances_chunk(A, B, "canberra")
        ref = cdist(A.astype(np.float64), B.astype(np.float64), "canberra")
        assert canberra_ok(got, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
def test_canberra_layouts(rng, dtype, layout):
    X = canberra_data(rng, 50, 20, dtype)
    Y = canberra_data(rng, 21, 20, dtype)
    ref = cdist(X.astype(np.float64), Y.astype(np.float64), "canberra")
    got = kernels.pairwise_distances_chunk(naive.layouts(X)[layout],
                                           naive.layouts(Y)[layout], "canberra")
    assert canberra_ok(got, ref, dtype)
    # the symmetric problem (Y is X) too
    A = naive.layouts(X)[layout]
    got = kernels.pairwise_distances_chunk(A, A, "canberra")
    ref = cdist(X.astype(np.float64), X.astype(np.float64), "canberra")
    assert canberra_ok(got, ref, dtype)


# ------------------------------------- canberra float64: one estimate per four terms
# On AVX-512, float64 input with every value 0 or of magnitude in
# [2^-160, 2^160] takes canberra_rcp4: the reciprocals of four rows'
# denominators from one estimate of their product (a cubic Newton step),
# each quotient corrected by its FMA residual.  Wider magnitudes take the
# per-term estimate (up to 2^+-500), NaN, infinities and the rest the divide.

def canberra_magnitudes(rng, n, d, scales=(1e-40, 1e-8, 1.0, 1e8, 1e40)):
    """Signed values over 80 decades, zeros, and equal entries in both
    signs (x = y, x = -y)."""
    X = rng.standard_normal((n, d)) * rng.choice(scales, size=(n, d))
    X[rng.random((n, d)) < 0.15] = 0.0
    return X


def near_bitwise(got, ref):
    """Within 2 ulp of SciPy on every pair, and equal to it on all but a
    rare pair (the estimate's error is about 2^-42, the quotient's about
    2^-84 before its rounding: in practice every term is SciPy's)."""
    err = ulps(got, ref, np.float64)
    return err.max(initial=0) <= 2 and np.mean(err > 0) <= 1e-4


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 9, 2), (7, 13, 3), (8, 5, 5), (5, 8, 6),
                                   (64, 40, 64), (130, 70, 65)], ids=str)
def test_canberra_float64_equals_scipy_over_magnitudes(rng, isa, weighted, shape):
    """Row counts that are and are not multiples of the 4-row block (the
    rest take the per-term path), d from 1 to 6 (the software pipeline's
    prologue and ends) and beyond, magnitudes from 1e-40 to 1e40 with
    zeros."""
    m, n, d = shape
    X = canberra_magnitudes(rng, m, d)
    Y = canberra_magnitudes(rng, n, d)
    k = min(m, n, 3)
    Y[:k] = X[:k]
    if n >= 2 * k:
        Y[k:2 * k] = -X[:k]
    w = rng.random(d) * rng.choice([1e-3, 1.0, 1e3], size=d) if weighted else None
    got = kernels.pairwise_distances_chunk(X, Y, "canberra", w=w)
    ref = cdist(X, Y, "canberra", w=w)
    assert near_bitwise(got, ref)


def test_canberra_float64_many_pairs_near_bitwise(rng):
    """300 x 500 pairs of 64 standard-normal features (the benchmark's data):
    at most 1 pair in 10^4 may differ from SciPy, by at most 2 ulp (before
    this path 3.5 pairs in 10^4 did)."""
    X = rng.standard_normal((300, 64))
    Y = rng.standard_normal((500, 64))
    got = kernels.pairwise_distances_chunk(X, Y, "canberra")
    assert near_bitwise(got, cdist(X, Y, "canberra"))


@pytest.mark.parametrize("outside", [None, 2.0**-161, 2.0**161, 1e-100, 1e100, 5e-324],
                         ids=["edges", "below", "above", "1e-100", "1e100", "subnormal"])
def test_canberra_float64_range_edges(rng, isa, outside):
    """The products of four denominators at both ends of the range
    (blocks of zero rows against zeros: den = 2^-240 each; of 2^160 against
    2^160: den = 2^161 each), and one value just outside it, which must
    send the tile to another path with the same results."""
    edges = np.array([0.0, 2.0**-160, -2.0**-160, 2.0**160, -2.0**160, 3.0, -0.75])
    X = rng.choice(edges, size=(24, 16))
    Y = rng.choice(edges, size=(19, 16))
    X[:4] = 0.0
    X[4:8] = 2.0**-160
    X[8:12] = 2.0**160
    X[12:16] = -(2.0**160)
    Y[:3] = 0.0
    Y[3:6] = 2.0**160
    Y[6:9] = 2.0**-160
    if outside is not None:
        X[20, 5] = outside
    for A, B in ((X, Y), (Y, X), (X, X)):
        got = kernels.pairwise_distances_chunk(A, B, "canberra")
        ref = cdist(A, B, "canberra")
        assert np.all(np.isfinite(got))
        assert near_bitwise(got, ref)


# ---------------------------------------------------------------- minkowski, fractional p
FRACTIONAL_P = [0.5, 1.5, 2.5, 0.3, 7.25]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", FRACTIONAL_P)
@pytest.mark.parametrize("d", [1, 5, 64, 300])
def test_minkowski_fractional_p_vs_scipy(rng, isa, dtype, p, d):
    X = rng.standard_normal((40, d)) * np.exp(rng.uniform(-3, 3, (40, 1)))
    Y = rng.standard_normal((33, d))
    Y[:4] = X[:4]                              # zero differences
    X, Y = X.astype(dtype), Y.astype(dtype)
    got = kernels.pairwise_distances_chunk(X, Y, "minkowski", p=p)
    ref = cdist(X.astype(np.float64), Y.astype(np.float64), "minkowski", p=p)
    # float64: each term within 1 ulp of pow, summed in SciPy's order; the
    # root s**(1/p) multiplies the relative error of the sum by 1/p.
    # float32: SciPy's float64 result rounded once.
    assert ulps(got, ref, dtype).max() <= (2 + 3 / p if dtype == np.float64 else 1)


@pytest.mark.parametrize("p", FRACTIONAL_P)
def test_minkowski_fractional_p_vs_long_double(rng, p):
    X = rng.standard_normal((30, 64)) * np.exp(rng.uniform(-20, 20, (30, 1)))
    Y = rng.standard_normal((20, 64)) * np.exp(rng.uniform(-20, 20, (20, 1)))
    got = kernels.pairwise_distances_chunk(X, Y, "minkowski", p=p)
    ref = naive.minkowski(X, Y, p)
    spacing = np.spacing(ref.astype(np.float64))
    err = np.abs(got - ref) / spacing
    err_scipy = np.abs(cdist(X, Y, "minkowski", p=p) - ref) / spacing
    # as close to the truth as SciPy (whose error is that of its sum times
    # 1/p), give or take the terms' rounding (p = k + 1/2: |d|^k sqrt(|d|),
    # two or three roundings) and the root's
    assert float(err.max()) <= float(err_scipy.max()) + 2 + 2 / p
    assert naive.max_relative_error(got, ref) < (2 + 66 / p) * np.finfo(np.float64).eps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
def test_minkowski_fractional_p_layouts(rng, dtype, layout):
    X = rng.standard_normal((31, 12)).astype(dtype)
    Y = rng.standard_normal((17, 12)).astype(dtype)
    ref = cdist(X.astype(np.float64), Y.astype(np.float64), "minkowski", p=1.5)
    got = kernels.pairwise_distances_chunk(naive.layouts(X)[layout],
                                           naive.layouts(Y)[layout], "minkowski", p=1.5)
    assert ulps(got, ref, dtype).max() <= 4


# ---------------------------------------------------------------- the vector power itself
def pow_inputs(rng, dtype):
    """Magnitudes over the whole range, subnormals, values near 1, signs,
    and the special values."""
    info = np.finfo(dtype)
    lo, hi = np.log2(info.smallest_subnormal), np.log2(info.max)
    n = 40000
    x = np.exp2(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)
    near_one = 1 + rng.standard_normal(n // 4) * 1e-3
    subnormal = rng.uniform(0, 1, n // 8) * info.tiny
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5,
               info.tiny, info.smallest_subnormal, -info.smallest_subnormal, info.max,
               -info.max, info.eps, 1 - info.epsneg, 1 + info.eps]
    with np.errstate(over="ignore"):
        return np.concatenate([x, near_one, subnormal, special]).astype(dtype)


def libm_pow(x, p):
    """C's pow, element by element (NumPy's power takes shortcuts, e.g. a
    square root for p = 0.5, whose special values differ from pow's)."""
    import ctypes
    import ctypes.util
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.pow.restype = ctypes.c_double
    libm.pow.argtypes = [ctypes.c_double, ctypes.c_double]
    return np.array([libm.pow(float(v), float(p)) for v in x])


POWERS = FRACTIONAL_P + [-1.5, -0.5, 1 / 3, 1e-3, 123.456, 3.0, -2.0, 5.0, 0.0, 1.0, 2.0,
                         np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("p", POWERS)
def test_pow_array_float64_within_4_ulp(rng, isa, p):
    x = pow_inputs(rng, np.float64)
    out = np.empty_like(x)
    _distances.pow_array(x, p, out)
    with np.errstate(all="ignore"):
        ref = np.power(x, p)
    finite = np.isfinite(ref) & (x > 0)
    assert ulps(out[finite], ref[finite], np.float64).max() <= 4
    # every value, the special cases included, against libm's pow
    pick = np.concatenate([np.flatnonzero(~finite), rng.choice(x.size, 2000)])
    ref_c = libm_pow(x[pick], p)
    assert ulps(out[pick], ref_c, np.float64).max() <= 4
    numbers = ~np.isnan(ref_c)              # zeros and infinities: the sign too
    np.testing.assert_array_equal(np.signbit(out[pick][numbers]), np.signbit(ref_c[numbers]))


@pytest.mark.parametrize("p", POWERS)
def test_pow_array_float32_within_4_ulp(rng, isa, p):
    x = pow_inputs(rng, np.float32)
    p32 = np.float32(p)
    out = np.empty_like(x)
    _distances.pow_array(x, float(p32), out)
    with np.errstate(all="ignore"):
        ref = np.power(x, p32)
    finite = np.isfinite(ref) & (x > 0)
    assert ulps(out[finite], ref[finite], np.float32).max() <= 4
    pick = np.concatenate([np.flatnonzero(~finite), rng.choice(x.size, 2000)])
    with np.errstate(over="ignore"):
        ref_c = libm_pow(x[pick].astype(np.float64), float(p32)).astype(np.float32)
    assert ulps(out[pick], ref_c, np.float32).max() <= 1
    numbers = ~np.isnan(ref_c)
    np.testing.assert_array_equal(np.signbit(out[pick][numbers]), np.signbit(ref_c[numbers]))


def test_pow_array_in_place_and_short(rng):
    for n in range(0, 20):
        x = rng.uniform(0, 10, n)
        ref = np.power(x, 2.5)
        _distances.pow_array(x, 2.5, x)
        assert ulps(x, ref, np.float64).max(initial=0) <= 4
    with pytest.raises(ValueError):
        _distances.pow_array(np.ones(3), 1.5, np.ones(4))
