"""NumPy post-processing of k-nearest results, shared by the in-memory and
the Dask paths of ``fastml.neighbors``: removing each training point from
its own neighbours, neighbour weights, class votes and target means.
"""
import numpy as np


def drop_self(distances, indices, start):
    """kneighbors(X=None): remove each query's own index from its k + 1
    neighbours (or, if duplicates pushed it out, the first one, a duplicate
    at distance 0, as scikit-learn does).

    Row r of the block is sample ``start + r`` of the index.
    """
    n, k1 = indices.shape
    own = indices == (start + np.arange(n))[:, None]
    # rows where the sample is not among its own neighbours lose the last one
    own[~own.any(axis=1), 0] = True
    keep = ~own
    return (distances[keep].reshape(n, k1 - 1), indices[keep].reshape(n, k1 - 1))


def neighbor_weights(distances, weights):
    """Neighbour weights of shape (n, k), or None for uniform weights.

    With ``weights="distance"`` a query at distance 0 from some neighbours
    gives those weight 1 and the others 0, as scikit-learn does.
    """
    if weights in (None, "uniform"):
        return None
    if weights == "distance":
        with np.errstate(divide="ignore"):
            w = 1.0 / np.asarray(distances, dtype=np.float64)
        exact = np.isinf(w)
        rows = exact.any(axis=1)
        w[rows] = exact[rows]
        return w
    return np.asarray(weights(distances), dtype=np.float64)


def class_votes(indices, y_codes, n_classes, weights):
    """Normalised (weighted) counts of each class among the neighbours.

    indices : (n, k) index rows; y_codes : (n_samples_fit,) class codes.
    """
    n = indices.shape[0]
    codes = y_codes[indices]
    rows = np.repeat(np.arange(n), indices.shape[1])
    if weights is not None and n and not np.all(weights.sum(axis=1) != 0):
        raise ValueError(
            "All neighbors of some sample is getting zero weights. Please modify "
            "'weights' to avoid this case if you are using a user-defined function."
        )
    counts = np.bincount(rows * n_classes + codes.ravel(),
                         weights=None if weights is None else weights.ravel(),
                         minlength=n * n_classes).reshape(n, n_classes).astype(np.float64)
    total = counts.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    return counts / total


def target_means(distances, indices, y, weights):
    """(Weighted) mean of the neighbours' targets; y of shape (n_samples_fit, n_outputs)."""
    w = neighbor_weights(distances, weights)
    if w is None:
        return np.mean(y[indices], axis=1)
    return np.sum(y[indices] * w[:, :, None], axis=1) / np.sum(w, axis=1)[:, None]
