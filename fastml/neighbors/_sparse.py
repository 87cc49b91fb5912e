"""Sparse rows in the neighbours estimators: the metrics that take them
(those of scikit-learn's brute force), its error and warning for the rest,
and the rows as fit keeps them."""
import warnings

import numpy as np
from scipy import sparse

from fastml._validation.metrics import SPARSE_INPUT_METRICS, is_distance_metric
from fastml.kernels.sparse import as_sparse_block
from fastml.kernels.sparse_distances import SparseIndex

def accept_sparse(effective_metric):
    """validate_data's ``accept_sparse`` for the metric: CSR, or none."""
    return "csr" if isinstance(effective_metric, str) and effective_metric in SPARSE_INPUT_METRICS \
        else False


def check_sparse_metric(effective_metric, asks_for_tree):
    """scikit-learn's checks of a sparse training set: its ValueError for a
    metric brute force cannot take with sparse rows, its warning when a tree
    was asked for (a tree never is built: brute force then, as there)."""
    metric = effective_metric
    if callable(metric) or is_distance_metric(metric) or metric == "precomputed":
        raise NotImplementedError(
            f"fastml does not take sparse input with metric={metric!r} yet; densify X "
            "(X.toarray()) or use one of " + ", ".join(sorted(SPARSE_INPUT_METRICS)) + ".")
    if metric not in SPARSE_INPUT_METRICS:
        raise ValueError(
            f"Metric '{metric}' not valid for sparse input. Use "
            "sorted(sklearn.neighbors.VALID_METRICS_SPARSE['brute']) to get valid options. "
            "Metric can also be a callable function.")
    if asks_for_tree:
        warnings.warn("cannot use tree with sparse input: using brute force", UserWarning,
                      stacklevel=6)


def training_rows(X):
    """(the rows fit keeps, what the searches take of them): C-contiguous
    dense rows twice, or canonical CSR rows and their SparseIndex (the
    transpose and row statistics made once, not per query)."""
    if not sparse.issparse(X):
        X = np.ascontiguousarray(X)
        return X, X
    X = as_sparse_block(X, formats=("csr",), canonical=True)
    return X, SparseIndex(X)


def query_rows(X):
    """A checked query: canonical CSR if sparse, else as it is."""
    return as_sparse_block(X, formats=("csr",), canonical=True) if sparse.issparse(X) else X
