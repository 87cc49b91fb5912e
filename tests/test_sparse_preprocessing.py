"""The scalers and the sparse statistics kernels on scipy.sparse input,
against scikit-learn (the estimators) and NumPy on the densified block (the
kernels): CSR and CSC, matrix and array classes, float32 and float64, with
empty rows and columns, explicit zeros, NaN and unsorted indices."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import preprocessing as skp

from fastml import preprocessing as fp
from fastml.kernels import (
    combine_moments,
    moments_chunk,
    quantiles_chunk,
    sparse_moments_chunk,
    sparse_quantiles_chunk,
    sparse_scale_columns_chunk,
)

CONSTRUCTORS = {
    ("csr", "matrix"): sparse.csr_matrix, ("csr", "array"): sparse.csr_array,
    ("csc", "matrix"): sparse.csc_matrix, ("csc", "array"): sparse.csc_array,
}
CASES = [(f, c, dt) for (f, c) in CONSTRUCTORS for dt in (np.float32, np.float64)]


def make_sparse(fmt="csr", kind="array", dtype=np.float64, n=120, d=9, seed=0, nan=True):
    """A sparse block with an empty row, an empty column, a constant
    column, explicit zeros, NaN (optional) and unsorted indices."""
    rng = np.random.default_rng(seed)
    D = rng.normal(3.0, 2.0, size=(n, d)) * (rng.random((n, d)) < 0.3)
    D[5] = 0.0                       # an empty row
    D[:, 2] = 0.0                    # an empty column
    D[:, 4] = 7.5                    # a constant column, no zeros
    if nan:
        D[rng.random((n, d)) < 0.03] = np.nan
    X = CONSTRUCTORS[fmt, kind](D.astype(dtype))
    # explicit zeros: store a zero in a few places of the empty column's row 0
    X = X.tocoo()
    rows = np.concatenate([X.row, [0, 1]])
    cols = np.concatenate([X.col, [2, 3]])
    data = np.concatenate([X.data, np.zeros(2, dtype=dtype)])
    dense_with = D.astype(dtype)
    X = CONSTRUCTORS[fmt, kind]((data, (rows, cols)), shape=(n, d))
    X.sum_duplicates()
    return unsort_indices(X), dense_with


def unsort_indices(X):
    """X (CSR or CSC) with every row's (column's) entries in reverse order:
    the unsorted indices the kernels must take."""
    for s in range(X.indptr.shape[0] - 1):
        a, b = X.indptr[s], X.indptr[s + 1]
        X.indices[a:b] = X.indices[a:b][::-1].copy()
        X.data[a:b] = X.data[a:b][::-1].copy()
    X.has_sorted_indices = False
    return X


def assert_same_sparse(ours, theirs, rtol):
    assert type(ours) is type(theirs)
    assert ours.format == theirs.format
    assert ours.dtype == theirs.dtype
    assert_allclose(ours.toarray(), theirs.toarray(), rtol=rtol, atol=0)


def stat_rtol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-10


def rtol_of(dtype):
    return 1e-6 if dtype == np.float32 else 1e-12


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("fmt,kind,dtype", CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_moments_match_dense(fmt, kind, dtype, weighted):
    X, D = make_sparse(fmt, kind, dtype)
    w = np.random.default_rng(1).random(X.shape[0]) if weighted else None
    if weighted:
        w[::7] = 0
    ours, ref = sparse_moments_chunk(X, sample_weight=w), moments_chunk(D, sample_weight=w)
    for name in ref._fields:
        assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-10, atol=1e-12,
                        err_msg=name)


def test_sparse_moments_blocks_combine_and_thread_independent():
    X, D = make_sparse("csr", "array", np.float64, n=3000, d=40)
    whole = sparse_moments_chunk(X)
    parts = [sparse_moments_chunk(X[i:i + 700]) for i in range(0, 3000, 700)]
    merged = parts[0]
    for p in parts[1:]:
        merged = combine_moments(merged, p)
    for name in whole._fields:
        assert_allclose(getattr(merged, name), getattr(whole, name), rtol=1e-10, err_msg=name)
    C = X.tocsc()
    one, four = sparse_moments_chunk(C, n_threads=1), sparse_moments_chunk(C, n_threads=4)
    for name in one._fields:
        assert_array_equal(getattr(one, name), getattr(four, name))


def test_sparse_moments_duplicates_and_empty():
    X = sparse.csr_array((np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2, 2])),
                         shape=(2, 1))   # duplicate entries: the value is 3
    m = sparse_moments_chunk(X)
    assert_allclose(m.mean, [1.5])
    assert_allclose(m.var(), [2.25])
    empty = sparse_moments_chunk(sparse.csr_array((0, 3)))
    assert_array_equal(empty.count, np.zeros(3))
    assert np.all(np.isnan(empty.mean))


@pytest.mark.parametrize("fmt,kind,dtype", CASES)
def test_sparse_quantiles_are_numpys(fmt, kind, dtype):
    X, D = make_sparse(fmt, kind, dtype)
    levels = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    ours = sparse_quantiles_chunk(X, levels, n_threads=2)
    assert_array_equal(ours, np.nanquantile(D, levels, axis=0).astype(np.float64))
    assert_array_equal(ours, quantiles_chunk(D, levels))


@pytest.mark.parametrize("fmt,kind,dtype", CASES)
@pytest.mark.parametrize("clip", [False, True])
def test_sparse_scale_columns(fmt, kind, dtype, clip):
    X, D = make_sparse(fmt, kind, dtype)
    factor = np.linspace(-0.5, 0.5, X.shape[1])
    Y = sparse_scale_columns_chunk(X, factor, clip=clip, n_threads=2)
    assert type(Y) is type(X) and Y.format == X.format and Y.dtype == X.dtype
    expected = (D.astype(np.float64) * factor)
    if clip:
        expected = np.clip(expected, -1, 1)
    assert_array_equal(Y.toarray(), expected.astype(dtype))
    assert Y.indices is not X.indices
    Z = sparse_scale_columns_chunk(X, factor, copy=False)
    assert Z is X


def test_sparse_kernel_errors():
    with pytest.raises(TypeError, match="scipy.sparse"):
        sparse_moments_chunk(np.ones((2, 2)))
    X = sparse.csr_array(np.eye(3))
    with pytest.raises(ValueError, match="factor must have shape"):
        sparse_scale_columns_chunk(X, [1.0, 2.0])
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        sparse_moments_chunk(X, sample_weight=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        sparse_moments_chunk(X, sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="quantiles"):
        sparse_quantiles_chunk(X, [1.5])
    with pytest.raises(TypeError, match="real numbers"):
        sparse_moments_chunk(sparse.csr_array(np.eye(2, dtype=complex)))


# ------------------------------------------------------------------ StandardScaler

def fitted_attributes_match(ours, theirs, rtol, names):
    for name in names:
        a, b = getattr(ours, name), getattr(theirs, name)
        if b is None:
            assert a is None, name
        else:
            # a constant feature's var_ is exactly 0 in fastml, ~1e-45 in scikit-learn
            assert_allclose(a, b, rtol=rtol, atol=1e-30, err_msg=name)


@pytest.mark.parametrize("fmt,kind,dtype", CASES)
@pytest.mark.parametrize("with_std", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_standard_scaler_sparse(fmt, kind, dtype, with_std, weighted):
    X, _ = make_sparse(fmt, kind, dtype)
    w = np.random.default_rng(2).random(X.shape[0]) + 0.1 if weighted else None
    ours = fp.StandardScaler(with_mean=False, with_std=with_std).fit(X, sample_weight=w)
    ref = skp.StandardScaler(with_mean=False, with_std=with_std).fit(X, sample_weight=w)
    # scikit-learn sums float32 data in float32, fastml in float64
    fitted_attributes_match(ours, ref, stat_rtol(dtype),
                            ["mean_", "var_", "scale_", "n_samples_seen_"])
    assert_same_sparse(ours.transform(X), ref.transform(X), rtol_of(dtype))
    assert_same_sparse(ours.fit_transform(X, sample_weight=w),
                       ref.fit_transform(X, sample_weight=w), rtol_of(dtype))
    Xt = ref.transform(X)
    assert_same_sparse(ours.inverse_transform(Xt), ref.inverse_transform(Xt), rtol_of(dtype))


@pytest.mark.parametrize("fmt,kind,dtype", CASES[::3])
def test_standard_scaler_sparse_partial_fit(fmt, kind, dtype):
    X, _ = make_sparse(fmt, kind, dtype, n=150)
    X = X.tocsr()
    ours, ref = fp.StandardScaler(with_mean=False), skp.StandardScaler(with_mean=False)
    for i in range(0, 150, 50):
        batch = CONSTRUCTORS[fmt, kind](X[i:i + 50])
        ours.partial_fit(batch)
        ref.partial_fit(batch)
    fitted_attributes_match(ours, ref, stat_rtol(dtype),
                            ["mean_", "var_", "scale_", "n_samples_seen_"])
    # a dense batch after sparse ones, as scikit-learn allows
    ours.partial_fit(np.ones((3, X.shape[1]), dtype=dtype))
    ref.partial_fit(np.ones((3, X.shape[1]), dtype=dtype))
    fitted_attributes_match(ours, ref, stat_rtol(dtype), ["mean_", "var_", "scale_"])


def test_standard_scaler_sparse_refuses_centering():
    X, D = make_sparse("csr", "matrix", nan=False)
    with pytest.raises(ValueError, match="Cannot center sparse matrices: pass `with_mean"):
        fp.StandardScaler().fit(X)
    dense_fit = fp.StandardScaler().fit(D)
    with pytest.raises(ValueError, match="Cannot center sparse matrices"):
        dense_fit.transform(X)
    with pytest.raises(ValueError, match="Cannot uncenter sparse matrices"):
        dense_fit.inverse_transform(X)
    refused = fp.StandardScaler()
    with pytest.raises(ValueError):
        refused.partial_fit(X)
    assert not hasattr(refused, "n_samples_seen_")   # left as it was


def test_standard_scaler_sparse_copy_false_in_place_and_csc_to_csr():
    X, _ = make_sparse("csr", "array", nan=False)
    scaler = fp.StandardScaler(with_mean=False).fit(X)
    before = X.toarray()
    out = scaler.transform(X, copy=False)
    assert out is X
    assert_allclose(X.toarray(), before / scaler.scale_)
    C = sparse.csc_matrix(before)
    out = scaler.transform(C)
    assert out.format == "csr" and isinstance(out, sparse.csr_matrix)   # as scikit-learn
    assert_allclose(C.toarray(), before)                                 # C untouched


# ------------------------------------------------------------------ MaxAbsScaler

@pytest.mark.parametrize("fmt,kind,dtype", CASES)
@pytest.mark.parametrize("clip", [False, True])
def test_max_abs_scaler_sparse(fmt, kind, dtype, clip):
    X, _ = make_sparse(fmt, kind, dtype)
    ours, ref = fp.MaxAbsScaler(clip=clip).fit(X), skp.MaxAbsScaler(clip=clip).fit(X)
    assert ours.max_abs_.dtype == ref.max_abs_.dtype
    assert_array_equal(ours.max_abs_, ref.max_abs_)
    assert_array_equal(ours.scale_, ref.scale_)
    unseen = X * 3   # values beyond the fitted range, clipped with clip=True
    for data in (X, unseen):
        a, b = ours.transform(data), ref.transform(data)
        assert_same_sparse(a, b, 0)
        assert_array_equal(a.toarray(), b.toarray())   # the same bits
    Xt = ref.transform(X)
    assert_same_sparse(ours.inverse_transform(Xt), ref.inverse_transform(Xt), 0)


def test_max_abs_scaler_sparse_partial_fit():
    X, _ = make_sparse("csr", "matrix", n=90)
    ours, ref = fp.MaxAbsScaler(), skp.MaxAbsScaler()
    for i in range(0, 90, 30):
        ours.partial_fit(X[i:i + 30])
        ref.partial_fit(X[i:i + 30])
    assert_array_equal(ours.max_abs_, ref.max_abs_)
    assert ours.n_samples_seen_ == ref.n_samples_seen_


# ------------------------------------------------------------------ RobustScaler

@pytest.mark.parametrize("fmt,kind,dtype", CASES)
@pytest.mark.parametrize("q_range,unit", [((25.0, 75.0), False), ((10.0, 95.0), True)])
def test_robust_scaler_sparse(fmt, kind, dtype, q_range, unit):
    X, _ = make_sparse(fmt, kind, dtype)
    kw = dict(with_centering=False, quantile_range=q_range, unit_variance=unit)
    ours, ref = fp.RobustScaler(**kw).fit(X), skp.RobustScaler(**kw).fit(X)
    assert ours.center_ is None
    # fastml keeps scale_ in float64 (documented): equal within float32 rounding
    assert_allclose(ours.scale_, ref.scale_, rtol=rtol_of(dtype))
    assert_same_sparse(ours.transform(X), ref.transform(X), 2 * rtol_of(dtype))
    Xt = ref.transform(X)
    assert_same_sparse(ours.inverse_transform(Xt), ref.inverse_transform(Xt),
                       2 * rtol_of(dtype))


def test_robust_scaler_sparse_refuses_centering():
    X, _ = make_sparse("csc", "array")
    with pytest.raises(ValueError, match="use `with_centering=False`"):
        fp.RobustScaler().fit(X)


def test_min_max_scaler_refuses_sparse_as_scikit_learn():
    X, _ = make_sparse("csr", "array")
    with pytest.raises(TypeError, match="MinMaxScaler does not support sparse input"):
        fp.MinMaxScaler().fit(X)


def test_kbins_discretizer_refuses_sparse_as_scikit_learn():
    X, _ = make_sparse("csr", "array", nan=False)
    with pytest.raises(TypeError, match="Sparse data was passed for X, but dense data is "
                                        "required"):
        fp.KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf").fit(X)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        skp.KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf").fit(X)


def test_scalers_sparse_tags():
    assert fp.StandardScaler(with_mean=False).__sklearn_tags__().input_tags.sparse
    assert not fp.StandardScaler().__sklearn_tags__().input_tags.sparse
    assert fp.MaxAbsScaler().__sklearn_tags__().input_tags.sparse
    assert fp.RobustScaler(with_centering=False).__sklearn_tags__().input_tags.sparse
    assert not fp.RobustScaler().__sklearn_tags__().input_tags.sparse
    assert not fp.MinMaxScaler().__sklearn_tags__().input_tags.sparse


def test_sparse_infinity_refused():
    X = sparse.csr_array(np.array([[np.inf, 0.0], [1.0, 2.0]]))
    for est in (fp.StandardScaler(with_mean=False), fp.MaxAbsScaler(),
                fp.RobustScaler(with_centering=False)):
        with pytest.raises(ValueError, match="infinity"):
            est.fit(X)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_int32_and_int64_indices_give_the_same_bits(fmt):
    X, _ = make_sparse(fmt, "array", np.float64)
    wide, narrow = X.copy(), X.copy()
    wide.indices, wide.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    narrow.indices, narrow.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    a, b = sparse_moments_chunk(wide), sparse_moments_chunk(narrow)
    for name in a._fields:
        assert_array_equal(getattr(a, name), getattr(b, name))
    factor = np.linspace(1, 2, X.shape[1])
    assert_array_equal(sparse_scale_columns_chunk(wide, factor).toarray(),
                       sparse_scale_columns_chunk(narrow, factor).toarray())
    assert_array_equal(fp.StandardScaler(with_mean=False).fit(wide).scale_,
                       fp.StandardScaler(with_mean=False).fit(narrow).scale_)
