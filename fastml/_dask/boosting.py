"""Gradient boosting on Dask arrays: each row block's bin codes, targets,
raw predictions, fixed-point gradients and row positions stay where Dask
keeps the block (a worker's memory on a cluster); only node histograms
(summed over the blocks as Dask reduces them) and the small trees travel.

One tree grows leaf by leaf as ``kernels.TreeGrower`` grows it in memory --
the same heap order, split rule and leaf values -- but a node's histogram is
the sum of the blocks' ``node_histograms_chunk``, and rows move to their
children with ``leaf_positions_chunk``.  Fixed-point sums are exact, so the
trees are those of the in-memory fit on the same rows, bit for bit, however
the rows are split into blocks and workers.
"""
import heapq
import time

import dask
import dask.array as da
import numpy as np

from fastml import kernels


def _gradients(loss, y, raw, w):
    """(g, h) of a block, float32 (n, K); h None for unit hessians."""
    return loss.gradient_hessian(y, raw, w)


def _column(pair, k, which):
    values = pair[which]
    return None if values is None else np.ascontiguousarray(values[:, k])


def _histograms_of(binned, g, h, w, g_scale, h_scale, bins):
    """A block's GradientHistograms for one tree."""
    g = kernels.to_fixed_point(g, g_scale, sample_weight=w, check_input=False)
    if h is not None:
        h = kernels.to_fixed_point(h, h_scale, sample_weight=w, check_input=False)
    return kernels.GradientHistograms(binned, g, h, bins=bins, check_input=False)


def _add_leaves(raw, k, leaves, positions):
    """The block's raw predictions with column k plus its rows' leaf values
    (leaves: the tree, and its node for each of the positions' nodes)."""
    tree, final = leaves
    raw = raw.copy()
    raw[:, k] += tree.value[final[positions]]
    return raw


def _residuals(y, raw, k, final, positions):
    """(the tree node of each row, y - raw[:, k]) of a block."""
    return final[positions], y - raw[:, k]


def _add_predictions(raw, k, tree, X):
    """Validation raw predictions with column k plus the tree's predictions."""
    raw = raw.copy()
    raw[:, k] = kernels.predict_tree_chunk(X, tree, out=np.ascontiguousarray(raw[:, k]))
    return raw


def _abs_max_sums(pair, k, w):
    """abs_max_sum of column k of a block's gradients and of its hessians
    (None for unit hessians)."""
    return tuple(None if pair[which] is None else
                 kernels.abs_max_sum(_column(pair, k, which), sample_weight=w)
                 for which in (0, 1))


class BlockTreeSource:
    """The row blocks of one tree: where each row is, and the histograms of
    the nodes asked for, summed over the blocks.

    Parameters
    ----------
    binned : list of Delayed
        Each block's bin codes (persisted).
    histograms : list of Delayed
        Each block's ``GradientHistograms`` for this tree (persisted).
    missing_bin : int
    """

    def __init__(self, binned, histograms, missing_bin):
        self.binned, self.histograms, self.missing_bin = binned, histograms, missing_bin
        self.positions = [dask.delayed(np.zeros)(dask.delayed(len)(b), np.int64)
                          for b in binned]
        self.positions = list(dask.persist(*self.positions))

    def node_histograms(self, nodes, tree=None):
        """(len(nodes), d, N_BINS, 3) int64, summed over the blocks; with
        tree, every row first walks down it to its leaf (one call to the
        scheduler for both)."""
        previous = self.positions   # held until the new ones exist: on a cluster,
        if tree is not None:         # releasing them first would cancel their users
            tree = dask.delayed(tree, traverse=False)   # one key: sent once per worker
            self.positions = [
                dask.delayed(kernels.leaf_positions_chunk)(b, tree, start=p,
                                                            missing_bin=self.missing_bin)
                for b, p in zip(self.binned, self.positions)]
        nodes = np.asarray(nodes, np.int64)
        parts = [dask.delayed(kernels.node_histograms_chunk)(h, p, nodes)
                 for h, p in zip(self.histograms, self.positions)]
        *self.positions, total = dask.persist(*self.positions, _tree_sum(parts))
        total = total.compute()
        del previous
        return total


def _tree_sum(parts, fan_in=4):
    """The sum of delayed arrays, added in a tree on the workers."""
    while len(parts) > 1:
        parts = [dask.delayed(sum)(parts[i:i + fan_in]) for i in range(0, len(parts), fan_in)]
    return parts[0]


class BlockTreeGrower:
    """Grows one tree from a ``BlockTreeSource`` by ``kernels.TreeGrower``'s
    rules (numerical features; see that class for the parameters), a tree
    level or so per round trip to the blocks.

    Best-first growth splits, one at a time, the leaf of largest gain; with
    room for B more leaves, only the B best leaves of the heap can still be
    split (each split pops the best leaf, and a leaf below B others would
    need fewer than B pops before it).  So each round expands the best B
    leaves not yet expanded -- their rows move to the children and the
    smaller children's histograms come back, all in one round trip -- and
    the splits are then taken in best-first order, as in memory, until a
    leaf not yet expanded comes up.  Expansions the budget never reaches
    are dropped at the end (their rows go back to the leaf).  Nodes are
    numbered as they are taken, and features drawn (``max_features``) as
    leaves are scored, in the in-memory order: the same tree, bit for bit.
    """

    def __init__(self, source, thresholds, *, gradient_scale, hessian_scale, missing_bin,
                 learning_rate, max_leaf_nodes, max_depth, min_samples_leaf,
                 l2_regularization, n_allowed_features, rng, min_hessian=1e-3):
        self.source, self.thresholds = source, thresholds
        self.n_values = np.array([len(t) + 1 for t in thresholds], np.uint16)
        self.gradient_scale, self.hessian_scale = gradient_scale, hessian_scale
        self.missing_bin, self.learning_rate = missing_bin, float(learning_rate)
        self.max_leaf_nodes, self.max_depth = max_leaf_nodes, max_depth
        self.min_samples_leaf, self.l2 = min_samples_leaf, l2_regularization
        self.n_allowed_features, self.rng, self.min_hessian = n_allowed_features, rng, min_hessian
        # nodes as the blocks know them (expansions included), and the tree's
        self.nodes, self.final, self.fields = [], {}, {
            k: [] for k in kernels.Tree._fields if k != "left_categories"}
        self.heap, self.n_leaves, self.round_trips = [], 0, 0

    def grow(self):
        """(tree, final): the tree (kernels.Tree), and the node of the tree
        each node the blocks' positions hold stands for (an int64 array)."""
        root = self.source.node_histograms([0])[0]
        self.round_trips = 1
        self.has_missing = (root[:, self.missing_bin, 2] > 0).astype(np.uint8)
        self._new_node(root[0].sum(axis=0), 0, parent=None)
        self.nodes[0]["hist"] = root
        self._take(0)
        self.n_leaves = 1
        self._consider(0)
        while self.heap and self._may_add_leaf():
            if "children" not in self.nodes[self.heap[0][2]]:
                self._expand()
            _, _, node = heapq.heappop(self.heap)
            self._split(node)
        if self.n_leaves == 1:   # a tree that did not split predicts 0, as scikit-learn's
            self.fields["value"][0] = 0.0
        final = np.array([self._final_of(node) for node in range(len(self.nodes))], np.int64)
        return kernels.Tree.from_nodes(**self.fields), final

    def _final_of(self, node):
        """A node of the tree, or for a dropped expansion's child, its leaf."""
        while node not in self.final:
            node = self.nodes[node]["parent"]
        return self.final[node]

    def _may_add_leaf(self):
        return self.max_leaf_nodes is None or self.n_leaves < self.max_leaf_nodes

    def _may_split(self, count, depth):
        return ((self.max_depth is None or depth < self.max_depth)
                and count >= 2 * self.min_samples_leaf)

    def _new_node(self, sums, depth, parent):
        sums = np.asarray(sums, np.int64)
        g, h, count = (int(v) for v in sums)
        hess = h * self.hessian_scale if self.hessian_scale is not None else float(count)
        value = self.learning_rate * (-(g * self.gradient_scale) / (hess + self.l2 + 1e-15))
        self.nodes.append({"sums": sums, "depth": depth, "count": count, "value": value,
                           "parent": parent, "hist": None})
        return len(self.nodes) - 1

    def _take(self, node):
        """Give a node its number in the tree (the in-memory order)."""
        x = self.nodes[node]
        self.final[node] = len(self.fields["value"])
        for key, val in (("feature", -1), ("threshold", np.nan), ("threshold_bin", -1),
                         ("missing_left", False), ("categorical", False), ("left", -1),
                         ("right", -1), ("value", x["value"]), ("count", x["count"]),
                         ("gain", 0.0), ("depth", x["depth"])):
            self.fields[key].append(val)

    def _allowed(self):
        d, k = self.n_values.size, self.n_allowed_features
        if k is None or k >= d:
            return None
        allowed = np.zeros(d, np.uint8)
        allowed[self.rng.choice(d, k, replace=False)] = 1
        return allowed

    def _consider(self, node):
        """Score a taken leaf's splits; queue it if it may split."""
        x = self.nodes[node]
        if not self._may_split(x["count"], x["depth"]):
            return
        split = kernels.find_node_splits(
            x["hist"], self.n_values, gradient_scale=self.gradient_scale,
            hessian_scale=self.hessian_scale, missing_bin=self.missing_bin,
            l2_regularization=self.l2, min_samples_leaf=self.min_samples_leaf,
            min_hessian=self.min_hessian, allowed=self._allowed(), has_missing=self.has_missing)
        f = int(np.argmax(split.gain))   # ties to the first feature
        if split.gain[f] > 0.0:
            left_sums = split.left[f]
            missing_left = (bool(split.missing_left[f]) if self.has_missing[f]
                            else bool(left_sums[2] > x["count"] - left_sums[2]))
            x["split"] = (f, int(split.threshold[f]), missing_left, float(split.gain[f]),
                          left_sums)
            heapq.heappush(self.heap, (-x["split"][3], self.final[node], node))

    def _expand(self):
        """One round trip: the best leaves the budget can reach, not yet
        expanded, split on the blocks, and their smaller children's
        histograms back."""
        budget = len(self.heap) if self.max_leaf_nodes is None else \
            self.max_leaf_nodes - self.n_leaves
        smaller = []
        for _, _, node in heapq.nsmallest(budget, self.heap):
            x = self.nodes[node]
            if "children" in x:
                continue
            f, tb, missing_left, gain, left_sums = x["split"]
            children = (self._new_node(left_sums, x["depth"] + 1, node),
                        self._new_node(x["sums"] - left_sums, x["depth"] + 1, node))
            x["children"] = children
            counts = [self.nodes[c]["count"] for c in children]
            if self._may_split(max(counts), x["depth"] + 1):
                smaller.append(children[0] if counts[0] <= counts[1] else children[1])
        hists = self.source.node_histograms(smaller, self._expanded_tree())
        if smaller:
            for child, hist in zip(smaller, hists):
                parent = self.nodes[self.nodes[child]["parent"]]
                sibling = sum(parent["children"]) - child
                self.nodes[child]["hist"] = hist
                self.nodes[sibling]["hist"] = parent["hist"] - hist
        self.round_trips += 1

    def _expanded_tree(self):
        """Every expansion so far as a tree, in the blocks' node numbers."""
        n = len(self.nodes)
        left, right = np.full(n, -1), np.full(n, -1)
        feature, threshold_bin = np.zeros(n, np.int64), np.zeros(n, np.int64)
        missing_left = np.zeros(n, bool)
        for node, x in enumerate(self.nodes):
            if "children" in x:
                left[node], right[node] = x["children"]
                feature[node], threshold_bin[node], missing_left[node] = x["split"][:3]
        return kernels.Tree.from_nodes(left=left, right=right, feature=feature,
                                       threshold_bin=threshold_bin, missing_left=missing_left)

    def _split(self, node):
        """Take an expanded leaf's split into the tree; score its children."""
        x, fields = self.nodes[node], self.fields
        f, tb, missing_left, gain, _ = x["split"]
        parent = self.final[node]
        left, right = x["children"]
        self._take(left)
        self._take(right)
        thresholds = self.thresholds[f]
        for key, val in (("feature", f), ("threshold_bin", tb), ("missing_left", missing_left),
                         ("left", self.final[left]), ("right", self.final[right]),
                         ("gain", gain), ("value", 0.0),
                         ("threshold", thresholds[tb] if tb < len(thresholds) else np.inf)):
            fields[key][parent] = val
        self.n_leaves += 1
        counts = (self.nodes[left]["count"], self.nodes[right]["count"])
        if self._may_add_leaf() and self._may_split(max(counts), x["depth"] + 1):
            for child in (left, right):
                self._consider(child)
        x["hist"] = None


class DaskBooster:
    """The boosting loop of a fit on Dask blocks; the counterpart of
    ``boosting.Booster`` (no warm start; early stopping on the loss).

    Parameters
    ----------
    model : BaseHistGradientBoosting
        With its loss, bins and baseline set.
    binned, y, w : lists of Delayed
        Each block's bin codes, encoded targets and weights (or None).
    n_rows : int
    weighted_rows : int or None
        ``boosting._weighted_rows`` of the weights.
    y_all, w_all : ndarray
        The targets and weights of every training row (the train score).
    validation : (Dask array, ndarray, ndarray or None) or None
        The validation rows, their targets and weights.
    stop : callable or None
        Early stopping: ``stop(scores)`` after each iteration, on the
        validation scores (train scores without validation); None for no
        early stopping (no scores recorded, as scikit-learn).
    refit_leaves : callable or None
        ``refit_leaves(tree, leaf_of_row, residuals)`` sets the leaf values
        from every training row's leaf and residual, in row order (the
        absolute-error and quantile losses); None keeps the Newton steps.
    """

    def __init__(self, model, binned, y, w, n_rows, weighted_rows, y_all, w_all,
                 validation=None, stop=None, refit_leaves=None):
        self.model, self.loss = model, model._loss
        self.binned, self.y, self.w = binned, y, w
        self.n_rows, self.weighted_rows = n_rows, weighted_rows
        self.y_all, self.w_all, self.stop = y_all, w_all, stop
        self.refit_leaves = refit_leaves
        self.round_trips = 0   # histogram requests to the blocks, for verbose
        baseline = model._baseline
        self.raw = list(dask.persist(*[
            dask.delayed(np.tile)(baseline, (dask.delayed(len)(b), 1)) for b in binned]))
        self.validation = validation
        if validation is not None:
            self.X_val = list(validation[0].to_delayed().ravel())
            self.raw_val = list(dask.persist(*[
                dask.delayed(np.tile)(baseline, (dask.delayed(len)(b), 1))
                for b in self.X_val]))

    def scores(self):
        """(train score, validation score or None): minus the loss of every
        row, from the raw predictions gathered in row order, laid out as
        the in-memory fit lays them out (reductions round the same way)."""
        raw, *raw_val = dask.compute(self.raw, *([] if self.validation is None
                                                 else [self.raw_val]))
        train = -self.loss.loss(self.y_all, np.asfortranarray(np.concatenate(raw)), self.w_all)
        if self.validation is None:
            return train, None
        _, y_val, w_val = self.validation
        return train, -self.loss.loss(y_val, np.concatenate(raw_val[0]), w_val)

    def _record(self):
        """Append the scores; whether early stopping ends the fit."""
        model = self.model
        train, val = self.scores()
        model.train_score_ = np.append(model.train_score_, train)
        if val is not None:
            model.validation_score_ = np.append(model.validation_score_, val)
        return self.stop(model.validation_score_ if val is not None else model.train_score_)

    def run(self):
        model = self.model
        model._trees, model.n_iter_ = [], 0
        feature_rng = np.random.default_rng(model._random_seed)
        started = time.perf_counter()
        if self.stop is not None:
            self._record()
        while model.n_iter_ < model.max_iter:
            tic = time.perf_counter()
            pairs = list(dask.persist(*[dask.delayed(_gradients)(self.loss, y, raw, w)
                                        for y, raw, w in zip(self.y, self.raw, self.w)]))
            trees = [self._grow(k, pairs, feature_rng) for k in range(self.loss.n_outputs)]
            model._trees.append(trees)
            model.n_iter_ += 1
            stopping = self.stop is not None and self._record()
            if model.verbose:
                leaves = sum(int((t.left < 0).sum()) for t in trees)
                scores = "" if self.stop is None else f", train loss {-model.train_score_[-1]:.5f}"
                print(f"[{model.n_iter_}/{model.max_iter}] {len(trees)} tree"
                      f"{'s' * (len(trees) > 1)}, {leaves} leaves{scores}, {self.round_trips} "
                      f"histogram round trips so far, in {time.perf_counter() - tic:.3f}s")
            if stopping:
                break
        model._feature_rng = feature_rng
        if model.verbose:
            print(f"Fit {model.n_iter_} iterations in {time.perf_counter() - started:.3f}s")

    def _scales(self, pairs, k):
        """The fixed-point scales of column k of the gradients and of the
        hessians (None without), from the blocks' largest and summed
        magnitudes, in one round trip."""
        parts = dask.compute(*[dask.delayed(_abs_max_sums)(p, k, w)
                               for p, w in zip(pairs, self.w)])
        rows = self.n_rows if self.weighted_rows is None else self.weighted_rows
        scales = []
        for which in (0, 1):
            if parts[0][which] is None:
                scales.append(None)
                continue
            largest = max(p[which][0] for p in parts)
            total = sum(p[which][1] for p in parts)
            scales.append(kernels.fixed_point_scale(largest, rows, abs_sum=total))
        return scales

    def _grow(self, k, pairs, feature_rng):
        model = self.model
        g_scale, h_scale = self._scales(pairs, k)
        n_values = np.array([len(t) + 1 for t in model._thresholds], np.uint16)
        histograms = list(dask.persist(*[
            dask.delayed(_histograms_of)(b, dask.delayed(_column)(p, k, 0),
                                         dask.delayed(_column)(p, k, 1), w, g_scale, h_scale,
                                         (n_values, model.max_bins))
            for b, p, w in zip(self.binned, pairs, self.w)]))
        source = BlockTreeSource(self.binned, histograms, model.max_bins)
        d = len(model._thresholds)
        grower = BlockTreeGrower(
            source, model._thresholds, gradient_scale=g_scale, hessian_scale=h_scale,
            missing_bin=model.max_bins, learning_rate=model.learning_rate,
            max_leaf_nodes=model.max_leaf_nodes, max_depth=model.max_depth,
            min_samples_leaf=model.min_samples_leaf,
            l2_regularization=model.l2_regularization,
            n_allowed_features=max(1, int(np.ceil(model.max_features * d))),
            rng=feature_rng)
        tree, final = grower.grow()
        self.round_trips += grower.round_trips
        if self.refit_leaves is not None:   # leaf values from the rows' residuals
            parts = dask.compute(*[dask.delayed(_residuals)(y, raw, k, final, p)
                                   for y, raw, p in zip(self.y, self.raw, source.positions)])
            self.refit_leaves(tree, np.concatenate([leaf for leaf, _ in parts]),
                              np.concatenate([r for _, r in parts]))
        leaves = dask.delayed((tree, final), traverse=False)
        self.raw = list(dask.persist(*[dask.delayed(_add_leaves)(raw, k, leaves, p)
                                       for raw, p in zip(self.raw, source.positions)]))
        if self.validation is not None:
            tree_key = dask.delayed(tree, traverse=False)
            self.raw_val = list(dask.persist(*[
                dask.delayed(_add_predictions)(raw, k, tree_key, x)
                for raw, x in zip(self.raw_val, self.X_val)]))
        return tree


def gather_rows(X, rows):
    """(X's rows as NumPy -- all of them when rows is None --, whether X
    holds an infinite value), in one pass over X."""
    has_inf = da.isinf(X).any()
    if rows is None:
        return dask.compute(X, has_inf)
    unique, inverse = np.unique(rows, return_inverse=True)
    sample, has_inf = dask.compute(X[unique], has_inf)
    return sample[inverse], has_inf


def boost(model, X, y, w, weighted_rows, *, validation=None, stop=None, refit_leaves=None):
    """Bin X's blocks where they are and boost ``model`` on them (its loss,
    thresholds and baseline set); y and w (NumPy, or w None) go to the
    blocks of X's rows.  validation, stop, refit_leaves: as ``DaskBooster``
    takes them."""
    edges = [np.nextafter(t, np.inf) for t in model._thresholds]
    binned = X.map_blocks(kernels.bin_chunk, edges, missing_bin=model.max_bins,
                          dtype=np.uint8).persist()
    offsets = np.cumsum((0,) + X.chunks[0])
    y_blocks = [dask.delayed(y[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    w_blocks = [None if w is None else dask.delayed(w[a:b])
                for a, b in zip(offsets[:-1], offsets[1:])]
    y_blocks = list(dask.persist(*y_blocks))   # sent once, kept beside the blocks
    w_blocks = w_blocks if w is None else list(dask.persist(*w_blocks))
    DaskBooster(model, list(binned.to_delayed().ravel()), y_blocks, w_blocks, X.shape[0],
                weighted_rows, y, w, validation=validation, stop=stop,
                refit_leaves=refit_leaves).run()


def _predict_block(block, model, method):
    return getattr(model, method)(block)


def map_prediction(model, method, X, n_columns, dtype):
    """``model.<method>`` over the row blocks of a Dask array, lazily: the
    model is one key of the graph, sent once to each worker that needs it.
    The result has n_columns columns, or is 1-D for None."""
    from fastml._dask.arrays import check_features

    X = check_features(model, X, reset=False)
    shipped = dask.delayed(model, traverse=False)
    if n_columns is None:
        return X.map_blocks(_predict_block, shipped, method, drop_axis=1, dtype=dtype,
                            meta=np.empty(0, dtype))
    return X.map_blocks(_predict_block, shipped, method, chunks=(X.chunks[0], (n_columns,)),
                        dtype=dtype, meta=np.empty((0, 0), dtype))
