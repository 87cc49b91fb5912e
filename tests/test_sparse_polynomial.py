"""PolynomialFeatures on scipy.sparse input against scikit-learn: the same
columns, the same bits, the same output format and class; the kernel's
column ranks against an independent enumeration."""
import itertools

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import preprocessing as skp

from fastml import preprocessing as fp
from fastml.kernels import sparse_polynomial_features_chunk
from test_sparse_preprocessing import unsort_indices

CONSTRUCTORS = {
    ("csr", "matrix"): sparse.csr_matrix, ("csr", "array"): sparse.csr_array,
    ("csc", "matrix"): sparse.csc_matrix, ("csc", "array"): sparse.csc_array,
}
DEGREES = [0, 1, 2, 3, (2, 3), (0, 2), 4, (3, 5)]


def make_sparse(fmt, kind, dtype, n=40, d=6, seed=0):
    """Empty row and column, an explicit zero, unsorted indices."""
    rng = np.random.default_rng(seed)
    D = (rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.4)).astype(dtype)
    D[2] = 0
    D[:, 1] = 0
    X = CONSTRUCTORS[fmt, kind](D)
    coo = X.tocoo()
    X = CONSTRUCTORS[fmt, kind]((np.append(coo.data, dtype(0)),
                                 (np.append(coo.row, 0), np.append(coo.col, 1))), shape=(n, d))
    X.sum_duplicates()
    return unsort_indices(X)


@pytest.mark.parametrize("fmt,kind", list(CONSTRUCTORS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("degree", DEGREES)
@pytest.mark.parametrize("interaction_only", [False, True])
@pytest.mark.parametrize("include_bias", [True, False])
def test_polynomial_features_sparse_as_scikit_learn(fmt, kind, dtype, degree,
                                                    interaction_only, include_bias):
    X = make_sparse(fmt, kind, dtype)
    kw = dict(degree=degree, interaction_only=interaction_only, include_bias=include_bias)
    # scikit-learn's interaction_only expansion of CSR input needs sorted
    # indices (unsorted ones give it wrong columns); fastml sorts a copy
    X_sorted = X.copy()
    X_sorted.sort_indices()
    try:
        theirs = skp.PolynomialFeatures(**kw).fit_transform(X_sorted)
    except ValueError:   # degree 0 without bias: refused by both
        with pytest.raises(ValueError):
            fp.PolynomialFeatures(**kw).fit_transform(X)
        return
    est = fp.PolynomialFeatures(**kw).fit(X)
    ours = est.transform(X)
    assert type(ours) is type(theirs)
    assert ours.format == theirs.format and ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape == (X.shape[0], est.n_output_features_)
    assert_array_equal(ours.toarray(), theirs.toarray())   # the same bits
    # dense scikit-learn multiplies in another order: equal up to rounding
    assert_allclose(ours.toarray(), skp.PolynomialFeatures(**kw).fit_transform(X.toarray()),
                    rtol=1e-6 if dtype == np.float32 else 1e-14)
    # dense input to a sparse-fitted estimator: the same numbers
    assert_allclose(est.transform(X.toarray()), theirs.toarray(),
                    rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_polynomial_features_sparse_interface_setting():
    X = make_sparse("csr", "matrix", np.float64)
    with sklearn.config_context(sparse_interface="sparray"):
        out = fp.PolynomialFeatures(2).fit_transform(X)
        assert type(out) is type(skp.PolynomialFeatures(2).fit_transform(X))
    assert isinstance(out, sparse.csr_array)


def naive_columns(d, degrees, interaction_only, include_bias):
    combos = [()] if include_bias else []
    for k in degrees:
        pick = itertools.combinations if interaction_only else \
            itertools.combinations_with_replacement
        combos += list(pick(range(d), k))
    return {c: i for i, c in enumerate(combos)}


@pytest.mark.parametrize("interaction_only", [False, True])
def test_kernel_columns_against_enumeration(interaction_only):
    # every monomial's column where an independent enumeration puts it
    d = 9
    rng = np.random.default_rng(3)
    X = sparse.csr_array(rng.integers(2, 5, size=(5, d)) * (rng.random((5, d)) < 0.7),
                         dtype=np.float64)
    P = sparse_polynomial_features_chunk(X, (1, 4), interaction_only=interaction_only)
    columns = naive_columns(d, range(1, 5), interaction_only, True)
    expected = np.zeros((5, len(columns)))
    for i in range(5):
        row = X[[i]].toarray()[0]
        for combo, c in columns.items():
            expected[i, c] = np.prod(row[list(combo)]) if combo else 1.0
    assert_array_equal(P.toarray(), expected)
    assert P.has_sorted_indices


def test_polynomial_sparse_thread_independent_and_errors():
    X = sparse.random(500, 30, density=0.2, format="csr", random_state=0)
    one = sparse_polynomial_features_chunk(X, 3, n_threads=1)
    four = sparse_polynomial_features_chunk(X, 3, n_threads=4)
    assert_array_equal(one.indptr, four.indptr)
    assert_array_equal(one.indices, four.indices)
    assert_array_equal(one.data, four.data)
    with pytest.raises(ValueError, match="at most 32"):
        sparse_polynomial_features_chunk(X, 33)
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fp.PolynomialFeatures().fit(X).transform(bad)
    with pytest.raises(ValueError, match="features"):
        fp.PolynomialFeatures().fit(X).transform(X[:, :5])
    assert fp.PolynomialFeatures().__sklearn_tags__().input_tags.sparse


@pytest.mark.parametrize("n_features", [65535, 3_037_000_499])
@pytest.mark.parametrize("interaction_only", [False, True])
def test_polynomial_sparse_huge_feature_counts(n_features, interaction_only):
    # one stored value in the last of billions of columns: the rank tables
    # cover the features present only, and the columns are exact integers
    X = sparse.csr_matrix(([2.0, 3.0], ([0, 0], [n_features - 2, n_features - 1])),
                          shape=(1, n_features))
    est = fp.PolynomialFeatures(2, interaction_only=interaction_only).fit(X)
    out = est.transform(X)
    n = n_features
    a, b = n - 2, n - 1
    if interaction_only:
        pair = 1 + n + (a * (2 * n - a - 1)) // 2 + (b - a - 1)
        expected = {0: 1.0, 1 + a: 2.0, 1 + b: 3.0, pair: 6.0}
    else:
        def rank(i, j):   # (i, j), i <= j, among combinations with repetition
            return i * n - i * (i - 1) // 2 + (j - i)
        expected = {0: 1.0, 1 + a: 2.0, 1 + b: 3.0, 1 + n + rank(a, a): 4.0,
                    1 + n + rank(a, b): 6.0, 1 + n + rank(b, b): 9.0}
    assert dict(zip(out.indices.tolist(), out.data.tolist())) == expected
    assert out.shape == (1, est.n_output_features_)
    assert out.indices.dtype == (np.int32 if est.n_output_features_ < 2**31 else np.int64)


def test_polynomial_scikit_learn_messages():
    X = sparse.csr_matrix(([1.0], ([0], [2**62])), shape=(1, 2**62 + 1))
    with pytest.raises(ValueError, match="too large to be indexed"):
        fp.PolynomialFeatures((2, 2)).fit(X)
    with pytest.raises(ValueError, match=r"degree=\(min_degree, max_degree\) must"):
        fp.PolynomialFeatures((0, 1.5)).fit(np.ones((2, 2)))
    with pytest.raises(ValueError, match="Setting both min_degree and max_degree to zero"):
        fp.PolynomialFeatures((0, 0), include_bias=False).fit(np.ones((2, 2)))
    with pytest.raises(ValueError, match="Setting degree to zero"):
        fp.PolynomialFeatures(0, include_bias=False).fit(np.ones((2, 2)))
