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
    """validate_data's ``accept_sparse`` for the metric: CSR (the graph
    formats for "precomputed"), or none."""
    if isinstance(effective_metric, str) and effective_metric == "precomputed":
        return list(GRAPH_FORMATS)
    if callable(effective_metric) or is_distance_metric(effective_metric):
        return "csr"
    return "csr" if isinstance(effective_metric, str) and effective_metric in SPARSE_INPUT_METRICS \
        else False


def check_sparse_metric(effective_metric, asks_for_tree):
    """scikit-learn's checks of a sparse training set: its ValueError for a
    metric brute force cannot take with sparse rows, its warning when a tree
    was asked for (a tree never is built: brute force then, as there)."""
    metric = effective_metric
    if metric == "precomputed" or callable(metric) or is_distance_metric(metric):
        return   # a graph; scikit-learn's own code for the others
    if metric not in SPARSE_INPUT_METRICS:
        raise ValueError(
            f"Metric '{metric}' not valid for sparse input. Use "
            "sorted(sklearn.neighbors.VALID_METRICS_SPARSE['brute']) to get valid options. "
            "Metric can also be a callable function.")
    if asks_for_tree:
        warnings.warn("cannot use tree with sparse input: using brute force", UserWarning,
                      stacklevel=6)


def training_rows(X, precomputed=False):
    """(the rows fit keeps, what the searches take of them): C-contiguous
    dense rows twice, or canonical CSR rows and their SparseIndex (the
    transpose and row statistics made once, not per query); a precomputed
    graph as it is, twice."""
    if precomputed and sparse.issparse(X):
        return X, X
    if not sparse.issparse(X):
        X = np.ascontiguousarray(X)
        return X, X
    X = as_sparse_block(X, formats=("csr",), canonical=True)
    return X, SparseIndex(X)


def query_rows(X):
    """A checked query: canonical CSR if sparse, else as it is."""
    return as_sparse_block(X, formats=("csr",), canonical=True) if sparse.issparse(X) else X


# ------------------------------------------------------------ precomputed graphs
# metric="precomputed" with a sparse matrix: a graph (as the transformers and
# kneighbors_graph make) whose stored entries are each row's candidate
# distances; the entries not stored are not neighbours.
GRAPH_FORMATS = ("csr", "csc", "coo", "lil")


def check_graph_format(X):
    """scikit-learn's TypeError for a sparse format whose explicit zeros
    (neighbours at distance 0) could be lost."""
    if sparse.issparse(X) and X.format not in GRAPH_FORMATS:
        raise TypeError(f"Sparse matrix in {X.format!r} format is not supported due to its "
                        "handling of explicit zeros")


def precomputed_graph(X, n_columns):
    """A precomputed sparse graph as the searches read it: CSR, non-negative,
    its rows' stored entries ordered by (distance, column); ``n_columns``
    (the training samples) checked."""
    X = as_sparse_block(X, "X", formats=("csr",), canonical=True)
    if X.shape[1] != n_columns:
        raise ValueError(f"With metric='precomputed', a graph holds distances to the "
                         f"{n_columns} training samples; got {X.shape[1]} columns.")
    if (X.data < 0).any():   # scikit-learn's words
        raise ValueError("Negative values in data passed to precomputed distance matrix.")
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    order = np.lexsort((X.indices, X.data, rows))
    return sparse.csr_matrix((X.data[order], X.indices[order], X.indptr), shape=X.shape)


def graph_argkmin(graph, k):
    """(distances, indices int64) of each row's k nearest stored entries;
    scikit-learn's ValueError when a row stores fewer."""
    counts = np.diff(graph.indptr)
    if counts.size and counts.min() < k:
        raise ValueError(
            f"{k} neighbors per samples are required, but some samples have only "
            f"{counts.min()} neighbors in precomputed graph matrix. Decrease number of "
            "neighbors used or recompute the graph with more neighbors.")
    take = graph.indptr[:-1, None] + np.arange(k)
    return graph.data[take], graph.indices[take].astype(np.int64)


def graph_radius(graph, radius, sort_results):
    """(offsets, indices int64, distances) of each row's stored entries
    within radius, by distance with sort_results, else by index."""
    rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
    keep = graph.data <= radius
    rows, indices, distances = rows[keep], graph.indices[keep].astype(np.int64), graph.data[keep]
    if not sort_results:
        order = np.lexsort((indices, rows))
        indices, distances = indices[order], distances[order]
    offsets = np.zeros(graph.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=graph.shape[0]), out=offsets[1:])
    return offsets, indices, distances
