"""One tree grown over rows held in several places (the shards of a Dask
fit), by the rules of the in-memory ``kernels.TreeGrower``: the same tree,
bit for bit, from histograms summed over the places."""
import heapq

import numpy as np

from fastml import kernels
from fastml.kernels.boosting import N_BINS, SET_WORDS

# The share of the leaf budget expanded in one round trip: each expansion a
# tree never takes costs a partition and a histogram on every shard, and
# each round trip a message to the shards.  Measured on the benchmark's
# binary data (31 leaves; counts on 400 000 rows, times on 800 000 rows and
# 2 workers): all of the budget, 9.4 round trips and 50 expansions a tree;
# half, 11.5 and 36, and the fit about 10% faster.
EXPANDED_SHARE = 0.5

NO_CATEGORIES = np.zeros(SET_WORDS, np.uint64)   # a node's left_categories, not categorical


class HistogramPool:
    """Node histograms (d, N_BINS, 3) int64, recycled from node to node and
    tree to tree, as the compiled grower recycles its own: a Dask worker's
    malloc hands large freed blocks back to the system (Dask sets
    ``MALLOC_TRIM_THRESHOLD_``), so a fresh one costs page faults."""

    def __init__(self, n_features):
        self.shape, self.free = (n_features, N_BINS, 3), []

    def take(self, values):
        """A histogram holding a copy of values."""
        hist = self.free.pop() if self.free else np.empty(self.shape, np.int64)
        hist[...] = values
        return hist

    def give(self, hist):
        if hist is not None:
            self.free.append(hist)


class BlockTreeGrower:
    """Grows one tree by ``kernels.TreeGrower``'s rules (see that class for
    the parameters) from a source of summed histograms, a tree level or so
    per round trip to the rows.

    The source has ``root()``, the histogram of every row (d, N_BINS, 3),
    and ``node_histograms(nodes, splits)``: split nodes -- each split a
    tuple ``(node, feature, threshold_bin, missing_left, left, right,
    left_set)``, ``left_set`` the (4,) uint64 bins going left of a
    categorical split (``kernels.partition_chunk``), else None -- then
    return the histograms of new nodes (len(nodes), d, N_BINS, 3).  The
    grower copies what the source returns (to histograms of ``pool``, a
    ``HistogramPool`` kept from tree to tree; None for one of its own), so
    the source may reuse its arrays.

    Best-first growth splits, one at a time, the leaf of largest gain; with
    room for B more leaves, only the B best leaves can still be split.  A
    leaf must be expanded -- its rows moved to its children on the shards,
    the smaller child's histogram summed -- before it splits, and each
    expansion round costs a round trip.  So when the next leaf to split is
    not expanded yet, one round expands it together with the best of the
    others (``EXPANDED_SHARE`` of B): the leaves of the heap and, when no
    features are drawn, the children of expanded nodes, scored as soon as
    their histograms arrive (a tree then takes about its depth in rounds).
    The splits are then taken in best-first order, as in memory.
    Expansions the tree never takes are dropped at the end (their rows go
    back to the leaf).  Nodes are numbered as they are taken, and features
    drawn (``max_features``) as leaves are taken and scored, in the
    in-memory order: the same tree, bit for bit.
    """

    def __init__(self, source, thresholds, *, gradient_scale, hessian_scale, missing_bin,
                 learning_rate, max_leaf_nodes, max_depth, min_samples_leaf,
                 l2_regularization, n_allowed_features, rng, categorical=None,
                 min_hessian=1e-3, pool=None):
        self.source, self.thresholds = source, thresholds
        self.n_values = np.array([len(t) + 1 for t in thresholds], np.uint16)
        self.gradient_scale, self.hessian_scale = gradient_scale, hessian_scale
        self.missing_bin, self.learning_rate = missing_bin, float(learning_rate)
        self.max_leaf_nodes, self.max_depth = max_leaf_nodes, max_depth
        self.min_samples_leaf, self.l2 = min_samples_leaf, l2_regularization
        self.n_allowed_features, self.rng, self.min_hessian = n_allowed_features, rng, min_hessian
        self.categorical = (np.zeros(self.n_values.size, np.uint8) if categorical is None
                            else np.asarray(categorical, np.uint8))
        self.pool = HistogramPool(self.n_values.size) if pool is None else pool
        # nodes as the source knows them (expansions included), and the tree's
        self.nodes, self.final, self.fields = [], {}, {k: [] for k in kernels.Tree._fields}
        self.heap, self.n_leaves, self.round_trips = [], 0, 0
        self.untaken = set()   # children of expanded nodes not yet in the tree

    def grow(self):
        """(tree, final): the tree (kernels.Tree), and the node of the tree
        each node the source was told of stands for (an int64 array)."""
        root = self.source.root()
        self.round_trips = 1
        self.has_missing = (root[:, self.missing_bin, 2] > 0).astype(np.uint8)
        # each feature's bins without a row (unseen categories), as bit sets
        self.unseen = np.packbits(root[:, :, 2] == 0, axis=1,
                                  bitorder="little").view("<u8").astype(np.uint64)
        self.all_features = np.ones(self.n_values.size, np.uint8)
        self._new_node(root[0].sum(axis=0), 0, parent=None)
        self.nodes[0]["hist"] = self.pool.take(root)
        self._take(0)
        self.n_leaves = 1
        self._consider(0)
        while self.heap and self._may_add_leaf():
            if "children" not in self.nodes[self.heap[0][2]]:
                self._expand()
            _, _, node = heapq.heappop(self.heap)
            self._split(node)
        for x in self.nodes:
            self.pool.give(x.pop("hist"))
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
        self.untaken.discard(node)
        self.final[node] = len(self.fields["value"])
        for key, val in (("feature", -1), ("threshold", np.nan), ("threshold_bin", -1),
                         ("missing_left", False), ("categorical", False),
                         ("left_categories", NO_CATEGORIES), ("left", -1), ("right", -1),
                         ("value", x["value"]), ("count", x["count"]), ("gain", 0.0),
                         ("depth", x["depth"])):
            self.fields[key].append(val)

    def _allowed(self):
        d, k = self.n_values.size, self.n_allowed_features
        if k is None or k >= d:
            return self.all_features
        allowed = np.zeros(d, np.uint8)
        allowed[self.rng.choice(d, k, replace=False)] = 1
        return allowed

    def _scores_early(self):
        """Whether nodes may be scored before they are taken: when no
        features are drawn, the order of scoring does not matter."""
        return self.n_allowed_features is None or self.n_allowed_features >= self.n_values.size

    def _consider(self, node):
        """Score a taken leaf's splits (unless scored early); queue it if it
        may split."""
        x = self.nodes[node]
        if "split" not in x:
            self._score(node)
        if x["split"] is not None:
            heapq.heappush(self.heap, (-x["split"][3], self.final[node], node))

    def _score(self, node):
        """Set a node's best split: (feature, threshold bin, missing_left,
        gain, left child's sums, bins going left of a categorical split or
        None), or None."""
        x = self.nodes[node]
        x["split"] = None
        if not self._may_split(x["count"], x["depth"]):
            return
        split = kernels.find_node_splits(
            x["hist"], self.n_values, gradient_scale=self.gradient_scale,
            hessian_scale=self.hessian_scale, missing_bin=self.missing_bin,
            l2_regularization=self.l2, min_samples_leaf=self.min_samples_leaf,
            min_hessian=self.min_hessian, allowed=self._allowed(),
            categorical=self.categorical, has_missing=self.has_missing, check_input=False)
        f = int(np.argmax(split.gain))   # ties to the first feature
        if split.gain[f] > 0.0:
            left_sums = split.left[f]
            missing_left = (bool(split.missing_left[f]) if self.has_missing[f]
                            else bool(left_sums[2] > x["count"] - left_sums[2]))
            left_set = None
            if self.categorical[f]:   # unseen categories follow missing values
                left_set = split.left_set[f] | (self.unseen[f] if missing_left else 0)
            x["split"] = (f, int(split.threshold[f]), missing_left, float(split.gain[f]),
                          left_sums, left_set)

    def _expand(self):
        """One round trip: the next leaf to split and the best others not yet
        expanded, split on the shards, and their smaller children's
        histograms back."""
        budget = len(self.heap) if self.max_leaf_nodes is None else \
            self.max_leaf_nodes - self.n_leaves
        pool = list(self.heap)
        if self._scores_early():   # and the untaken children of expanded nodes
            for node in self.untaken:
                if "split" not in self.nodes[node]:
                    self._score(node)
                split = self.nodes[node]["split"]
                if split is not None:
                    pool.append((-split[3], len(self.nodes) + node, node))
        smaller, splits = [], []
        chosen = heapq.nsmallest(max(1, int(np.ceil(budget * EXPANDED_SHARE))), pool)
        if self.heap[0] not in chosen:   # the next leaf to split, whatever its rank
            chosen.append(self.heap[0])
        for _, _, node in chosen:
            x = self.nodes[node]
            if "children" in x:
                continue
            f, tb, missing_left, gain, left_sums, left_set = x["split"]
            children = (self._new_node(left_sums, x["depth"] + 1, node),
                        self._new_node(x["sums"] - left_sums, x["depth"] + 1, node))
            x["children"] = children
            splits.append((node, f, tb, missing_left) + children + (left_set,))
            counts = [self.nodes[c]["count"] for c in children]
            if self._may_split(max(counts), x["depth"] + 1):
                smaller.append(children[0] if counts[0] <= counts[1] else children[1])
        hists = self.source.node_histograms(smaller, splits)
        for child, hist in zip(smaller, hists):   # the parent's becomes the sibling's
            parent = self.nodes[self.nodes[child]["parent"]]
            sibling = sum(parent["children"]) - child
            self.nodes[child]["hist"] = self.pool.take(hist)
            parent["hist"] -= hist
            self.nodes[sibling]["hist"], parent["hist"] = parent["hist"], None
        for node, *_ in splits:   # the histograms of splits with no child to split
            self.pool.give(self.nodes[node]["hist"])
            self.nodes[node]["hist"] = None
        self.untaken.update(node for split in splits for node in split[4:6])
        self.round_trips += 1

    def _split(self, node):
        """Take an expanded leaf's split into the tree; score its children."""
        x, fields = self.nodes[node], self.fields
        f, tb, missing_left, gain, _, left_set = x["split"]
        parent = self.final[node]
        left, right = x["children"]
        self._take(left)
        self._take(right)
        thresholds = self.thresholds[f]
        for key, val in (("feature", f), ("threshold_bin", tb), ("missing_left", missing_left),
                         ("left", self.final[left]), ("right", self.final[right]),
                         ("gain", gain), ("value", 0.0)):
            fields[key][parent] = val
        if left_set is None:
            fields["threshold"][parent] = thresholds[tb] if tb < len(thresholds) else np.inf
        else:
            fields["categorical"][parent], fields["left_categories"][parent] = True, left_set
        self.n_leaves += 1
        counts = (self.nodes[left]["count"], self.nodes[right]["count"])
        if self._may_add_leaf() and self._may_split(max(counts), x["depth"] + 1):
            for child in (left, right):
                self._consider(child)
        self.pool.give(x["hist"])
        x["hist"] = None
