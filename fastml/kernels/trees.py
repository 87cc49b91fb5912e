"""Trees as arrays: partitioning a node's rows, leaf values, and prediction.

``partition_chunk`` splits a node's rows at a chosen split; ``Tree`` holds
one or several stacked regression trees; ``predict_tree_chunk`` and
``predict_binned_chunk`` walk them for a block of rows (row-local, so
``map_blocks`` over row chunks).
"""
from typing import NamedTuple

import numpy as np

from fastml._threads import threads_for
from fastml._validation import as_float_block, check_positive_int
from fastml.kernels.boosting import N_BINS, SET_WORDS, _check_binned, _check_rows

__all__ = [
    "partition_chunk",
    "add_leaf_values",
    "Tree",
    "stack_trees",
    "check_tree",
    "predict_tree_chunk",
    "predict_binned_chunk",
    "leaf_positions_chunk",
]


def _check_left_set(left_set):
    left_set = np.asarray(left_set)
    if left_set.dtype != np.uint64 or left_set.shape != (SET_WORDS,):
        raise ValueError(f"left_set must be {SET_WORDS} uint64 words ({N_BINS} bits), got "
                         f"{left_set.dtype} {left_set.shape}.")
    return np.ascontiguousarray(left_set)


def partition_chunk(samples, codes, threshold, *, missing_left=False, missing_bin=N_BINS - 1,
                    left_set=None, out=None, n_threads=1, check_input=True):
    """Split a node's rows into the left and right child, each in input
    order (stable), in parallel.

    Parameters
    ----------
    samples : ndarray of shape (m,)
        The node's rows.
    codes : ndarray of shape (n,), uint8
        The split feature's bin codes for every row.
    threshold : int
        Rows with a code <= threshold go left.
    missing_left : bool, default=False
        Where rows in ``missing_bin`` go.
    missing_bin : int, default=N_BINS - 1
    left_set : ndarray of shape (SET_WORDS,) = (4,), uint64, default=None
        For a categorical split: bit ``b`` set sends bin ``b`` left
        (``threshold`` and ``missing_left`` are then ignored).
    out : ndarray of shape (m,), uint32, default=None
        Where to write the rows (left then right): a buffer a caller
        reuses from node to node, not one of ``samples``' rows.  None
        allocates one.
    n_threads : int, default=1
    check_input : bool, default=True
        False skips the checks, for callers that pass contiguous uint32
        samples known to be valid rows, and uint8 codes.

    Returns
    -------
    left, right : ndarray of uint32
        Views of ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import partition_chunk
    >>> codes = np.array([3, 0, 7, 1, 9, 2], dtype=np.uint8)
    >>> partition_chunk(np.arange(6), codes, 2)
    (array([1, 3, 5], dtype=uint32), array([0, 2, 4], dtype=uint32))

    On Dask, each row block splits its own rows (local indices, made global
    with the block's offset); the blocks' children, in order, are the whole's:

    >>> import dask
    >>> import dask.array as da
    >>> codes = da.from_array(np.random.default_rng(0).integers(0, 10, 1000, np.uint8), chunks=250)
    >>> parts = [dask.delayed(partition_chunk)(np.arange(250), c, 4) for c in codes.to_delayed()]
    >>> left = np.concatenate([l + offset for (l, r), offset in
    ...                        zip(dask.compute(*parts), range(0, 1000, 250))])
    >>> np.array_equal(left, partition_chunk(np.arange(1000), codes.compute(), 4)[0])
    True
    """
    from fastml._kernels import _gbdt

    if check_input:
        n_threads = check_positive_int(n_threads, "n_threads")
        codes = np.asarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 1:
            raise ValueError(f"codes must be a 1-D uint8 array, got {codes.dtype} "
                             f"{codes.shape}.")
        samples = _check_rows(samples, codes.shape[0])
        if out is not None and (out.dtype != np.uint32 or out.shape != samples.shape
                                or not out.flags.c_contiguous or np.shares_memory(out, samples)):
            raise ValueError(f"out must be a C-contiguous uint32 array of shape {samples.shape}, "
                             "apart from samples.")
    parts = threads_for(8 * samples.size, n_threads)
    out = np.empty_like(samples) if out is None else out
    categorical = left_set is not None
    left_set = np.zeros(SET_WORDS, np.uint64) if left_set is None else _check_left_set(left_set)
    n_left = _gbdt.partition(samples, codes, int(threshold), bool(missing_left), int(missing_bin),
                             categorical, left_set, np.empty(parts, dtype=np.int64),
                             np.empty(samples.size, dtype=np.uint8), out)
    return out[:n_left], out[n_left:]


def add_leaf_values(raw, leaf_rows, values, *, n_threads=1, check_input=True):
    """``raw[rows] += value`` in place for each leaf, without temporaries:
    a new tree's leaf values added to the raw predictions of their training
    rows.

    Parameters
    ----------
    raw : ndarray of shape (n,), float64, C-contiguous
    leaf_rows : list of ndarray of uint32
        The rows of each leaf (from the grower); no row in two leaves.
    values : array-like of shape (len(leaf_rows),), float64
    n_threads : int, default=1
        Each thread updates a range of rows.
    check_input : bool, default=True
        False skips the checks (contiguous uint32 rows below n, each row
        in one leaf).

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import add_leaf_values
    >>> raw = np.zeros(5)
    >>> add_leaf_values(raw, [np.array([0, 3]), np.array([1])], [0.5, -2.0])
    >>> raw
    array([ 0.5, -2. ,  0. ,  0.5,  0. ])

    On Dask, each block of raw predictions takes its rows' leaves (here
    from each row's leaf number), on a copy:

    >>> import dask.array as da
    >>> def add(raw, leaf):
    ...     raw = raw.copy()
    ...     add_leaf_values(raw, [np.flatnonzero(leaf == k) for k in (0, 1)], [0.5, -1.0])
    ...     return raw
    >>> leaf = da.from_array(np.arange(8) % 2, chunks=4)
    >>> da.map_blocks(add, da.zeros(8, chunks=4), leaf, dtype=np.float64).compute()
    array([ 0.5, -1. ,  0.5, -1. ,  0.5, -1. ,  0.5, -1. ])
    """
    from fastml._kernels import _gbdt

    values = np.ascontiguousarray(values, dtype=np.float64)
    leaf_rows = list(leaf_rows)
    if check_input:
        n_threads = check_positive_int(n_threads, "n_threads")
        if raw.dtype != np.float64 or raw.ndim != 1 or not raw.flags.c_contiguous:
            raise ValueError("raw must be a contiguous 1-D float64 array.")
        leaf_rows = [_check_rows(rows, raw.shape[0], "rows") for rows in leaf_rows]
        if values.shape != (len(leaf_rows),):
            raise ValueError(f"values has shape {values.shape}; one value per leaf "
                             f"({len(leaf_rows)}) is needed.")
        every = np.concatenate(leaf_rows) if leaf_rows else np.empty(0, np.uint32)
        if np.unique(every).size != every.size:
            raise ValueError("A row appears in two leaves (or twice in one).")
    _gbdt.add_to_leaf_rows(raw, leaf_rows, values, n_threads if raw.size >= 50_000 else 1)


_FIELD_DTYPES = {"feature": np.int64, "threshold": np.float64, "threshold_bin": np.int64,
                 "missing_left": bool, "categorical": bool, "left_categories": np.uint64,
                 "left": np.int64, "right": np.int64, "value": np.float64, "count": np.int64,
                 "gain": np.float64, "depth": np.int64}  # of the fields of Tree


class Tree(NamedTuple):
    """Regression trees as arrays (``TreeGrower`` grows them): one tree with
    node 0 its root, or several stacked by ``stack_trees``.

    A numerical node splits on ``feature``: values ``<= threshold`` (bins
    ``<= threshold_bin``) go to ``left``, larger ones to ``right``, NaN to
    the side ``missing_left`` says.  A ``categorical`` node sends the
    categories (= bins) whose bit is set in ``left_categories`` left; NaN,
    values that are not a category code and categories unseen in training
    go the missing side.  Leaves have ``left == right == -1``; their
    ``value`` is what they add to a row's raw prediction.  ``from_nodes``
    builds one from lists.
    """

    feature: np.ndarray          # (nodes,) int64
    threshold: np.ndarray        # (nodes,) float64, +inf when only NaN goes right
    threshold_bin: np.ndarray    # (nodes,) int64
    missing_left: np.ndarray     # (nodes,) bool
    categorical: np.ndarray      # (nodes,) bool
    left_categories: np.ndarray  # (nodes, 4) uint64 bit set of 256 categories
    left: np.ndarray             # (nodes,) int64
    right: np.ndarray            # (nodes,) int64
    value: np.ndarray            # (nodes,) float64
    count: np.ndarray            # (nodes,) int64 training rows
    gain: np.ndarray             # (nodes,) float64 of the node's split, 0 for leaves
    depth: np.ndarray            # (nodes,) int64

    @classmethod
    def from_nodes(cls, **fields):
        """A tree from its nodes' fields as lists or arrays (``left`` at
        least), each cast to its field's dtype.  A field not given is 0 (or
        False) at every node, except ``depth``: then derived from ``left``
        and ``right`` (children after their parent, as ``check_tree``
        wants).

        >>> import numpy as np
        >>> from fastml.kernels import Tree
        >>> stump = Tree.from_nodes(left=[1, -1, -1], right=[2, -1, -1], threshold=[0.5, 0, 0],
        ...                         value=[0, -1, 1])  # x0 <= 0.5 ? -1 : 1
        >>> stump.depth, stump.left_categories.shape, stump.missing_left
        (array([0, 1, 1]), (3, 4), array([False, False, False]))
        """
        unknown = set(fields) - set(cls._fields)
        if unknown or "left" not in fields:
            raise TypeError(f"Tree.from_nodes takes the fields {cls._fields}, left at least; "
                            f"got {sorted(fields)}.")
        n = len(fields["left"])
        arrays = {}
        for name in cls._fields:
            dtype = _FIELD_DTYPES[name]
            shape = (n, SET_WORDS) if name == "left_categories" else (n,)
            arrays[name] = (np.asarray(fields[name], dtype=dtype) if name in fields
                            else np.zeros(shape, dtype=dtype))
        if "depth" not in fields:
            for node in range(n):
                for child in (arrays["left"][node], arrays["right"][node]):
                    if child > node:
                        arrays["depth"][child] = arrays["depth"][node] + 1
        return cls(**arrays)


def stack_trees(trees):
    """Several trees as one ``Tree`` of their nodes, and the root of each.

    Parameters
    ----------
    trees : sequence of Tree

    Returns
    -------
    stacked : Tree
    roots : ndarray of shape (len(trees),), int64

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import Tree, predict_tree_chunk, stack_trees
    >>> tree = Tree.from_nodes(left=[1, -1, -1], right=[2, -1, -1], threshold=[0.5, 0, 0],
    ...                        value=[0, -1, 1])  # a stump: x0 <= 0.5 ? -1 : 1
    >>> other = tree._replace(feature=np.array([1, 0, 0]))  # the same on x1
    >>> stacked, roots = stack_trees([tree, other])
    >>> roots, stacked.left
    (array([0, 3]), array([ 1, -1, -1,  4, -1, -1]))

    The stacked trees predict a Dask array's row blocks in one pass each:

    >>> import dask.array as da
    >>> X = da.from_array(np.random.default_rng(0).random((100, 2)), chunks=(25, 2))
    >>> P = X.map_blocks(predict_tree_chunk, stacked, roots=roots, drop_axis=1, dtype=np.float64)
    >>> np.array_equal(P.compute(), np.where(X.compute() <= 0.5, -1.0, 1.0).sum(axis=1))
    True
    """
    sizes = np.array([t.value.size for t in trees], dtype=np.int64)
    roots = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    fields = {}
    for name in Tree._fields:
        parts = [getattr(t, name) for t in trees]
        if name in ("left", "right"):
            parts = [np.where(p >= 0, p + r, -1) for p, r in zip(parts, roots)]
        empty = np.empty((0, 4), np.uint64) if name == "left_categories" else np.empty(0)
        fields[name] = np.concatenate(parts) if parts else empty
    return Tree(**fields), roots


def check_tree(tree, n_features):
    """Refuse node arrays that would send the compiled walk out of bounds
    or round in circles: every field one entry per node, children after
    their parent and inside the tree, split features below n_features, and
    depths one more than the parent's (the block predictor relies on it)."""
    n = tree.value.size
    for name in Tree._fields:
        field = np.asarray(getattr(tree, name))
        expected = (n, 4) if name == "left_categories" else (n,)
        if field.shape != expected:
            raise ValueError(f"tree.{name} has shape {field.shape}, expected {expected}.")
    index = np.arange(n)
    split = tree.left >= 0
    left, right = tree.left[split], tree.right[split]
    if np.any(left <= index[split]) or np.any(right <= index[split]) \
            or np.any(left >= n) or np.any(right >= n):
        raise ValueError("tree nodes must have their children after them and inside the tree.")
    used = tree.feature[split]
    if used.size and (used.min() < 0 or used.max() >= n_features):
        raise ValueError(f"X has {n_features} features, but the tree splits on feature "
                         f"{int(used.max()) if used.max() >= n_features else int(used.min())}.")
    if np.any(tree.depth[left] != tree.depth[split] + 1) or \
            np.any(tree.depth[right] != tree.depth[split] + 1):
        raise ValueError("tree.depth must be each node's parent depth plus one.")


def _checked_roots(tree, roots, n_features):
    """The tree checked against n_features, and its roots as int64 (None:
    one tree, root 0)."""
    check_tree(tree, n_features)
    n = tree.value.size
    roots = np.zeros(1, np.int64) if roots is None else np.ascontiguousarray(roots, np.int64)
    if roots.ndim != 1 or (roots.size and (roots.min() < 0 or roots.max() >= n)):
        raise ValueError(f"roots must be node indices in [0, {n}).")
    return roots


def _prediction_out(out, n):
    if out is None:
        return np.zeros(n)
    if out.dtype != np.float64 or out.shape != (n,) or not out.flags.c_contiguous:
        raise ValueError(f"out must be a contiguous float64 array of shape ({n},).")
    return out


NODE_RECORD = np.dtype([("threshold", "<f8"), ("value", "<f8"), ("feature", "<i4"),
                        ("left", "<i4"), ("right", "<i4"), ("missing_left", "u1"),
                        ("categorical", "u1"), ("pad", "u1", (2,))])  # forest.h's fastml_node


def _packed_nodes(tree):
    """The nodes as ``NODE_RECORD`` bytes for the block predictor (leaves
    point to themselves on both sides)."""
    if tree.value.size >= 2**31:
        raise ValueError(f"{tree.value.size} nodes exceed the predictor's int32 indices.")
    split = tree.left >= 0
    itself = np.arange(tree.value.size)
    nodes = np.zeros(tree.value.size, dtype=NODE_RECORD)
    nodes["threshold"] = tree.threshold
    nodes["value"] = tree.value
    nodes["feature"] = np.where(split, tree.feature, 0)
    nodes["left"] = np.where(split, tree.left, itself)
    nodes["right"] = np.where(split, tree.right, itself)
    nodes["missing_left"] = tree.missing_left
    nodes["categorical"] = tree.categorical & split
    return nodes.view(np.uint8)


def predict_tree_chunk(X, tree, *, roots=None, out=None, n_threads=1):
    """Raw predictions of a tree (or of stacked trees, summed) for rows of
    feature values.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        NaN follows each split's ``missing_left``.
    tree : Tree
    roots : ndarray of shape (trees,), default=None
        The roots of stacked trees (``stack_trees``); None: one tree, root 0.
        Each row's trees are added in this order.
    out : ndarray of shape (n,), float64, default=None
        Added to in place (the sum over a forest's trees); None starts from 0.
    n_threads : int, default=1
        Rows are split over threads.

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import Tree, predict_tree_chunk
    >>> tree = Tree.from_nodes(left=[1, -1, -1], right=[2, -1, -1], threshold=[0.5, 0, 0],
    ...                        value=[0, -1, 1])  # a stump: x0 <= 0.5 ? -1 : 1
    >>> predict_tree_chunk(np.array([[0.0], [1.0], [np.nan]]), tree)  # NaN goes right
    array([-1.,  1.,  1.])

    Row-local, so ``map_blocks`` over the row blocks of a Dask array:

    >>> import dask.array as da
    >>> X = da.from_array(np.linspace(0, 1, 20)[:, None], chunks=(5, 1))
    >>> P = X.map_blocks(predict_tree_chunk, tree, drop_axis=1, dtype=np.float64)
    >>> np.array_equal(P.compute(), np.where(X.compute()[:, 0] <= 0.5, -1.0, 1.0))
    True
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    X = np.ascontiguousarray(as_float_block(X, "X"))
    roots = _checked_roots(tree, roots, X.shape[1])
    out = _prediction_out(out, X.shape[0])
    if X.shape[0] and roots.size:
        ends = np.append(roots[1:], tree.value.size)
        depths = np.array([tree.depth[a:b].max() - tree.depth[a] for a, b in zip(roots, ends)],
                          dtype=np.int64)
        _gbdt.predict_packed(X, _packed_nodes(tree), np.ascontiguousarray(tree.left_categories),
                             roots, depths, out, n_threads)
    return out


def predict_binned_chunk(binned, tree, *, missing_bin=N_BINS - 1, roots=None, out=None,
                         n_threads=1):
    """``predict_tree_chunk`` for binned rows: the bin codes the trees were
    grown on (``threshold_bin`` decides).

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
    tree : Tree
    missing_bin : int, default=N_BINS - 1
    roots, out, n_threads
        As in ``predict_tree_chunk``, and so is the result.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import Tree, predict_binned_chunk
    >>> tree = Tree.from_nodes(left=[1, -1, -1], right=[2, -1, -1], threshold_bin=[3, 0, 0],
    ...                        value=[0, -1, 1])  # a stump: bin <= 3 ? -1 : 1
    >>> predict_binned_chunk(np.array([[2], [4], [255]], dtype=np.uint8), tree)
    array([-1.,  1.,  1.])

    Row-local, so ``map_blocks`` over the row blocks of Dask bin codes:

    >>> import dask.array as da
    >>> codes = np.random.default_rng(0).integers(0, 8, size=(40, 1), dtype=np.uint8)
    >>> B = da.from_array(codes, chunks=(10, 1))
    >>> P = B.map_blocks(predict_binned_chunk, tree, drop_axis=1, dtype=np.float64)
    >>> np.array_equal(P.compute(), np.where(B.compute()[:, 0] <= 3, -1.0, 1.0))
    True
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    binned = np.ascontiguousarray(_check_binned(binned))
    roots = _checked_roots(tree, roots, binned.shape[1])
    out = _prediction_out(out, binned.shape[0])
    if binned.shape[0]:
        _gbdt.predict_forest_binned(binned, int(missing_bin), roots, tree.feature,
                                    tree.threshold_bin, tree.missing_left.view(np.uint8),
                                    tree.categorical.view(np.uint8),
                                    np.ascontiguousarray(tree.left_categories), tree.left,
                                    tree.right, tree.value, out, n_threads)
    return out


def leaf_positions_chunk(binned, tree, *, start=None, missing_bin=N_BINS - 1, n_threads=1):
    """The leaf of ``tree`` each binned row reaches, walking down from its
    ``start`` node: where a tree grown node by node over row chunks has
    sent each row (rows kept at their leaf as the tree grows below it).

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
        The codes the tree was grown on.
    tree : Tree
        One tree (root 0).
    start : ndarray of shape (n,), int, default=None
        Each row's node to walk down from: its leaf before the tree grew
        further (a node of ``tree``); None for the root.
    missing_bin : int, default=N_BINS - 1
    n_threads : int, default=1

    Returns
    -------
    ndarray of shape (n,), int64
        Node indices of leaves.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import Tree, leaf_positions_chunk
    >>> stump = Tree.from_nodes(left=[1, -1, -1], right=[2, -1, -1], threshold_bin=[3, 0, 0])
    >>> binned = np.array([[2], [4], [255]], dtype=np.uint8)
    >>> leaf_positions_chunk(binned, stump)
    array([1, 2, 2])

    The tree grows under node 1; rows walk on from where they were:

    >>> grown = Tree.from_nodes(left=[1, 3, -1, -1, -1], right=[2, 4, -1, -1, -1],
    ...                         threshold_bin=[3, 1, 0, 0, 0])
    >>> leaf_positions_chunk(binned, grown, start=[1, 2, 2])
    array([4, 2, 2])

    Row-local, so ``map_blocks`` over the row blocks of Dask bin codes (and
    their positions):

    >>> import dask.array as da
    >>> codes = np.random.default_rng(0).integers(0, 8, size=(40, 1), dtype=np.uint8)
    >>> B = da.from_array(codes, chunks=(10, 1))
    >>> L = B.map_blocks(leaf_positions_chunk, stump, drop_axis=1, dtype=np.int64)
    >>> np.array_equal(L.compute(), np.where(codes[:, 0] <= 3, 1, 2))
    True
    """
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    binned = np.ascontiguousarray(_check_binned(binned))
    check_tree(tree, binned.shape[1])
    n, n_nodes = binned.shape[0], tree.value.size
    if start is None:
        start = np.zeros(n, np.int64)
    start = np.ascontiguousarray(start)
    if start.dtype.kind not in "iu" or start.shape != (n,) or (
            n and (int(start.min()) < 0 or int(start.max()) >= n_nodes)):
        raise ValueError(f"start must hold one node index in [0, {n_nodes}) per row "
                         f"({n}), got {start.dtype} {start.shape}.")
    out = np.empty(n, np.int64)
    if n:
        _gbdt.descend_binned(binned, int(missing_bin), start.astype(np.int64, copy=False),
                             tree.feature, tree.threshold_bin, tree.missing_left.view(np.uint8),
                             tree.categorical.view(np.uint8),
                             np.ascontiguousarray(tree.left_categories), tree.left, tree.right,
                             out, threads_for(4 * n, n_threads))
    return out
