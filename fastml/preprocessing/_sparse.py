"""The scalers on ``scipy.sparse`` input (CSR / CSC, matrix and array
classes): validation, and the sparse statistics and column scaling kernels
of ``fastml.kernels.sparse``.  Never densified.  As scikit-learn, the
scalers take sparse input only where no centering is asked for: implicit
zeros stay zeros, and every stored value is multiplied by its column's
factor (``1 / scale_`` in ``transform``, ``scale_`` in
``inverse_transform``).  Dask arrays of scipy.sparse blocks take the same
kernels block by block (``fastml._dask``), lazily.
"""
import numpy as np
from sklearn.utils.validation import validate_data

from fastml._validation import FLOAT_DTYPES, is_dask_collection

CENTER_MESSAGE = ("Cannot center sparse matrices: pass `with_mean=False` instead. See "
                  "docstring for motivation and alternatives.")
UNCENTER_MESSAGE = ("Cannot uncenter sparse matrices: pass `with_mean=False` instead See "
                    "docstring for motivation and alternatives.")
ROBUST_CENTER_MESSAGE = ("Cannot center sparse matrices: use `with_centering=False` instead. "
                         "See docstring for motivation and alternatives.")


def is_sparse(X):
    """A scipy.sparse matrix or array (SciPy imported only if X is one)."""
    if not (hasattr(X, "tocsr") and hasattr(X, "nnz")):
        return False
    from scipy import sparse

    return sparse.issparse(X)


def has_sparse_values(X):
    """X is scipy.sparse, or a Dask array of scipy.sparse blocks."""
    if is_dask_collection(X):
        from fastml._dask.arrays import has_sparse_blocks

        return has_sparse_blocks(X)
    return is_sparse(X)


def check_sparse(estimator, X, reset, formats, validate=True):
    """X validated as scikit-learn's scalers do for sparse input: CSR or
    CSC (``formats[0]`` for any other format), float32 / float64, NaN
    allowed, infinity refused.  ``validate=False``: checked with
    ``check_array`` only (``inverse_transform`` does not count features)."""
    kw = dict(accept_sparse=formats, dtype=FLOAT_DTYPES, copy=False,
              ensure_all_finite="allow-nan", ensure_min_samples=1 if reset else 0)
    if validate:
        return validate_data(estimator, X, reset=reset, **kw)
    from sklearn.utils import check_array

    return check_array(X, **kw)


def moments(X, sample_weight, deviations, n_threads):
    from fastml.kernels import sparse_moments_chunk

    return sparse_moments_chunk(X, sample_weight=sample_weight, deviations=deviations,
                                n_threads=n_threads)


def quantiles(X, wanted, n_threads):
    from fastml.kernels import sparse_quantiles_chunk

    return sparse_quantiles_chunk(X, wanted, n_threads=n_threads)


def scale(X, factor, copy, n_threads, clip=False, formats=("csr", "csc")):
    """Every stored value of column j times ``factor[j]`` (float64, rounded
    once to X's dtype), as scikit-learn's ``inplace_column_scale``; a new
    matrix of X's class and format unless ``copy`` is False.  A Dask array
    of sparse blocks: lazily, block by block, each block in ``formats``."""
    from fastml.kernels import sparse_scale_columns_chunk

    if is_dask_collection(X):
        from fastml._dask.reductions import scale_sparse_columns

        return scale_sparse_columns(X, factor, formats, clip=clip)

    return sparse_scale_columns_chunk(X, np.asarray(factor, dtype=np.float64), clip=clip,
                                      copy=copy, n_threads=n_threads)
