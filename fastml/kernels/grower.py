"""Leaf-wise regression trees grown on one chunk of binned rows, every step
of a tree in compiled code (``TreeGrower``); and the histograms of several
nodes of a chunk (``node_histograms_chunk``), for a tree grown node by node
over many chunks.

The grower is the loop of the other boosting kernels (``GradientHistograms``,
``find_node_splits``, ``partition_chunk``) run without returning to Python
between nodes: on small data -- a user's first try, or a Dask block -- the
per-node work is a few microseconds, and a loop in Python would cost more
than the work.  A tree is the one those kernels give step by step (tested
bit for bit against such a loop).
"""
import numbers

import numpy as np

from fastml._threads import WORK_PER_THREAD
from fastml._validation import check_positive_int
from fastml.kernels.boosting import (
    HISTOGRAM_WORK,
    N_BINS,
    PART_ROWS,
    GradientHistograms,
    _check_binned,
    check_fixed_point,
    repeating_features,
)
from fastml.kernels.splits import CATEGORICAL_SMOOTHING
from fastml.kernels.trees import Tree

__all__ = ["TreeGrower", "node_histograms_chunk"]


class TreeGrower:
    """Grows leaf-wise regression trees on one set of binned rows, one tree
    per set of fixed-point gradients (``grow``).

    The leaves that may still split wait in a heap ordered by gain (ties to
    the older node), and the best one splits until ``max_leaf_nodes``
    leaves exist or none can split, as scikit-learn's and LightGBM's
    leaf-wise growth does.  Only the smaller child's histogram is built;
    its sibling's is the parent's minus it, exactly (fixed-point sums).
    Leaf values are Newton steps, ``-learning_rate * G / (H +
    l2_regularization)``.  Make one per fit: it keeps the codes and its
    scratch memory from tree to tree.

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
        Bin codes: feature ``f``'s codes are ``0 .. len(thresholds[f])``
        or ``missing_bin``.
    thresholds : list of d float64 arrays
        ``bin_thresholds``: bin ``b`` of feature ``f`` holds values
        ``<= thresholds[f][b]``; the last value bin has no threshold (a
        split there sends only missing values right: threshold ``inf``).
    missing_bin : int, default=N_BINS - 1
        The code of missing values, above every value bin.
    learning_rate : float, default=0.1
        Multiplies the leaf values.
    max_leaf_nodes : int or None, default=31
    max_depth : int or None, default=None
        Edges from the root to the deepest leaf.
    min_samples_leaf : int, default=20
    l2_regularization, min_hessian, min_gain_to_split : float
        As ``find_node_splits`` takes them; a node splits only on a gain
        above ``min_gain_to_split``.
    categorical : ndarray of shape (d,) of bool, default=None
        Categorical features: their bin codes are category codes.
    n_allowed_features : int, default=None
        Features drawn (without replacement, by ``rng``) as candidates at
        each node (``max_features``); None for all.
    rng : numpy.random.Generator, default=None
        Needed with ``n_allowed_features``.
    by_column : ndarray of shape (d,), bool, default=None
        As ``GradientHistograms`` takes it; found on a sample of rows if None.
    n_threads : int, default=1
        Threads for each node's histogram, split scores and partition, as
        their size pays for (``fastml._threads.threads_for``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import TreeGrower, to_fixed_point
    >>> x = np.arange(40.0)
    >>> thresholds = [np.array([9.5, 19.5, 29.5])]      # 4 bins of 10 rows
    >>> binned = (x[:, None] > thresholds[0]).sum(axis=1).astype(np.uint8)[:, None]
    >>> g = np.where(x < 20, 1.0, -1.0)                  # rows below 20 want lower values
    >>> tree, leaves = TreeGrower(binned, thresholds, min_samples_leaf=5,
    ...                           learning_rate=1.0).grow(to_fixed_point(g, 1.0),
    ...                                                   gradient_scale=1.0)
    >>> tree.threshold[0].item(), tree.value[1:].tolist()   # the root split, its two leaves
    (19.5, [-1.0, 1.0])
    >>> [(node, rows.size) for node, rows in leaves]
    [(1, 20), (2, 20)]

    On Dask, a grower per row block grows a tree of that block's rows (one
    model over every block sums the blocks' ``GradientHistograms`` instead):

    >>> import dask
    >>> import dask.array as da
    >>> B = da.from_array(np.tile(binned, (2, 1)), chunks=(40, 1))   # 2 blocks of 40 rows
    >>> G = da.from_array(np.tile(to_fixed_point(g, 1.0), 2), chunks=40)
    >>> grow = dask.delayed(lambda b, g: TreeGrower(b, thresholds, min_samples_leaf=5).grow(
    ...     g, gradient_scale=1.0)[0])
    >>> trees = dask.compute(*[grow(b, g) for b, g in zip(B.to_delayed().ravel(), G.to_delayed())])
    >>> [float(tree.threshold[0]) for tree in trees]
    [19.5, 19.5]
    """

    def __init__(self, binned, thresholds, *, missing_bin=N_BINS - 1, learning_rate=0.1,
                 max_leaf_nodes=31, max_depth=None, min_samples_leaf=20, l2_regularization=0.0,
                 min_hessian=1e-3, min_gain_to_split=0.0, categorical=None,
                 n_allowed_features=None, rng=None, by_column=None, n_threads=1):
        from fastml._kernels import _grower

        binned = np.ascontiguousarray(_check_binned(binned))
        n, d = binned.shape
        if n == 0 or d == 0:
            raise ValueError(f"binned must have rows and features, got shape {binned.shape}.")
        self.n_rows, self.n_features = n, d
        self.missing_bin = _check_missing_bin(missing_bin)
        self.n_values = _check_thresholds(thresholds, d, self.missing_bin)
        columns = np.asfortranarray(binned)  # a node's scattered rows read from one column
        _check_codes(columns, self.n_values, self.missing_bin)
        categorical = np.zeros(d, bool) if categorical is None else np.asarray(categorical, bool)
        if categorical.shape != (d,):
            raise ValueError(f"categorical must have shape ({d},), got {categorical.shape}.")
        if n_allowed_features is not None and n_allowed_features < d and rng is None:
            raise ValueError("n_allowed_features needs rng, a numpy.random.Generator.")
        self.n_allowed_features, self.rng = n_allowed_features, rng
        self.binned, self.n_threads = binned, check_positive_int(n_threads, "n_threads")
        self.by_column = (repeating_features(binned) if by_column is None
                          else np.asarray(by_column, dtype=bool))
        self._grower = _grower.Grower(
            binned, columns, self.n_values, self.missing_bin, categorical.astype(np.uint8),
            _threshold_table(thresholds), np.flatnonzero(~self.by_column).astype(np.int32),
            np.flatnonzero(self.by_column).astype(np.int32), float(learning_rate),
            _limit(max_leaf_nodes, "max_leaf_nodes", 2), _limit(max_depth, "max_depth", 1),
            check_positive_int(min_samples_leaf, "min_samples_leaf"), float(l2_regularization),
            float(min_hessian), float(min_gain_to_split), CATEGORICAL_SMOOTHING,
            self.n_threads, WORK_PER_THREAD, HISTOGRAM_WORK, PART_ROWS)

    def grow(self, gradients, hessians=None, *, gradient_scale, hessian_scale=None):
        """One tree fitted to these gradients and hessians.

        Parameters
        ----------
        gradients, hessians : ndarray of shape (n,), int64
            Fixed-point (``to_fixed_point``); hessians None for a constant
            hessian of 1 per row (leaf values then divide by row counts).
        gradient_scale, hessian_scale : float
            Their scales (``hessian_scale`` ignored without hessians).

        Returns
        -------
        tree : Tree
        leaf_rows : list of (node, ndarray of uint32)
            The training rows of each leaf, in node order: to update raw
            predictions without predicting.
        """
        n = self.n_rows
        gradients = check_fixed_point(gradients, n, "gradients")
        if hessians is not None:
            hessians = check_fixed_point(hessians, n, "hessians")
        histograms = GradientHistograms(self.binned, gradients, hessians,
                                        by_column=self.by_column,
                                        bins=(self.n_values, self.missing_bin),
                                        n_threads=self.n_threads, check_input=False)
        packed = histograms.packed   # None: the rows are summed unpacked
        fields, rows, (nodes, starts, stops) = self._grower.grow(
            gradients, np.empty(0, np.int64) if hessians is None else hessians,
            np.empty(0, np.uint64) if packed is None else packed, histograms.width,
            histograms.count_bits, float(gradient_scale),
            1.0 if hessian_scale is None else float(hessian_scale), self._feature_chooser())
        leaf_rows = [(int(node), rows[start:stop])
                     for node, start, stop in zip(nodes, starts, stops)]
        return Tree(**fields), leaf_rows

    def _feature_chooser(self):
        """None, or the callable drawing each node's allowed features."""
        d, k = self.n_features, self.n_allowed_features
        if k is None or k >= d:
            return None

        def choose():
            allowed = np.zeros(d, np.uint8)
            allowed[self.rng.choice(d, k, replace=False)] = 1
            return allowed
        return choose


def node_histograms_chunk(histograms, positions, nodes):
    """The histograms of several tree nodes over one chunk's rows: for each
    of ``nodes``, the sums of the rows whose position is that node.

    For a tree grown over row chunks (a Dask array on several workers):
    each chunk keeps its rows' positions (``leaf_positions_chunk``) and its
    ``GradientHistograms``, and the chunks' node histograms, added, are the
    nodes' histograms over every row -- exactly (fixed-point sums), so the
    splits are those of the same tree grown in memory.

    Parameters
    ----------
    histograms : GradientHistograms
        The chunk's rows and fixed-point gradients (and hessians).
    positions : ndarray of shape (n,), int
        The node each row of the chunk is at.
    nodes : array-like of shape (k,), int
        The nodes whose histograms are wanted.

    Returns
    -------
    ndarray of shape (k, d, N_BINS, 3), int64
        ``histograms(rows at nodes[j])`` for each j (zero for a node
        without rows in the chunk).

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import GradientHistograms, node_histograms_chunk
    >>> binned = np.array([[0], [1], [1], [2]], dtype=np.uint8)
    >>> hist = node_histograms_chunk(GradientHistograms(binned, np.array([5, 1, 2, 7])),
    ...                              positions=[1, 2, 1, 2], nodes=[1, 2])
    >>> hist[:, 0, :3, 0].tolist()   # gradient sums of bins 0-2 at node 1, at node 2
    [[5, 2, 0], [0, 1, 7]]

    On Dask, one call per row block, summed over the blocks:

    >>> import dask
    >>> import dask.array as da
    >>> B = da.from_array(np.tile(binned, (3, 1)), chunks=(6, 1))   # 12 rows, 2 blocks
    >>> G = da.from_array(np.tile([5, 1, 2, 7], 3), chunks=6)
    >>> P = da.from_array(np.tile([1, 2, 1, 2], 3), chunks=6)
    >>> part = dask.delayed(lambda b, g, p: node_histograms_chunk(GradientHistograms(b, g), p,
    ...                                                            [1, 2]))
    >>> total = dask.delayed(sum)([part(b, g, p) for b, g, p in zip(
    ...     B.to_delayed().ravel(), G.to_delayed(), P.to_delayed())]).compute()
    >>> np.array_equal(total, 3 * hist)
    True
    """
    n, d = histograms.binned.shape
    positions = np.asarray(positions)
    nodes = np.asarray(nodes)
    if positions.dtype.kind not in "iu" or positions.shape != (n,):
        raise ValueError(f"positions must hold one integer node per row ({n}), got "
                         f"{positions.dtype} {positions.shape}.")
    if nodes.dtype.kind not in "iu" or nodes.ndim != 1:
        raise ValueError(f"nodes must be a 1-D array of integer nodes, got {nodes.dtype} "
                         f"{nodes.shape}.")
    order = np.argsort(positions, kind="stable")   # each node's rows in increasing order
    at = positions[order]
    starts, stops = np.searchsorted(at, nodes, "left"), np.searchsorted(at, nodes, "right")
    out = np.zeros((nodes.size, d, N_BINS, 3), np.int64)
    for j, (start, stop) in enumerate(zip(starts, stops)):
        if stop > start:
            histograms(order[start:stop].astype(np.uint32), out=out[j], check_input=False)
    return out


def _check_missing_bin(missing_bin):
    if not isinstance(missing_bin, numbers.Integral) or not 0 < missing_bin < N_BINS:
        raise ValueError(f"missing_bin must be an int in [1, {N_BINS - 1}], got "
                         f"{missing_bin!r}.")
    return int(missing_bin)


def _check_thresholds(thresholds, d, missing_bin):
    """The number of value bins of each feature, (d,) uint16."""
    if len(thresholds) != d:
        raise ValueError(f"thresholds must hold one array per feature ({d}), got "
                         f"{len(thresholds)}.")
    n_values = np.array([np.size(t) + 1 for t in thresholds], dtype=np.uint16)
    if np.any(n_values > missing_bin):
        raise ValueError(f"a feature has {int(n_values.max())} value bins, more than the "
                         f"{missing_bin} below missing_bin={missing_bin}.")
    return n_values


def _check_codes(columns, n_values, missing_bin):
    """Every code a value bin of its feature or the missing bin."""
    for f in range(columns.shape[1]):
        codes = columns[:, f]
        bad = (codes >= n_values[f]) & (codes != missing_bin)
        if bad.any():
            raise ValueError(f"feature {f} has code {int(codes[bad][0])}: its thresholds make "
                             f"{int(n_values[f])} value bins (codes 0 .. "
                             f"{int(n_values[f]) - 1}), and missing_bin is {missing_bin}.")


def _threshold_table(thresholds):
    """(d, N_BINS) float64: thresholds[f][b], +inf past the last threshold."""
    table = np.full((len(thresholds), N_BINS), np.inf)
    for f, t in enumerate(thresholds):
        table[f, :np.size(t)] = t
    return table


def _limit(value, name, smallest):
    """A node-count or depth limit for the compiled grower: -1 for None."""
    if value is None:
        return -1
    if not isinstance(value, numbers.Integral) or value < smallest:
        raise ValueError(f"{name} must be None or an int >= {smallest}, got {value!r}.")
    return int(value)
