"""The two parts of a gradient-boosting fit on a Dask cluster that stay on
the workers for the whole fit: a ``Shard`` per worker, holding the rows of
its blocks, and one ``Leader``, which grows the trees from the shards'
histograms.  On a ``distributed`` cluster both are Dask actors: a call goes
straight to the worker that holds the actor over Dask's own connections
(no task, no scheduler), and a call from the leader to the shard on its
own worker is a plain function call.  Without a cluster they are plain
objects in the client.

What a tree costs in messages: the shards' gradient statistics (one round
trip per iteration), the roots' histograms, then one round trip per
expansion of the best leaves (``BlockTreeGrower``) -- about the depth of
the tree.  Only histograms and the splits travel; the bin codes, targets,
raw predictions and gradients never leave their worker.  The histograms
are summed up a binary tree of the shards (``Shard.summed``), the leader's
own shard at its root, so no link carries more than three shards' worth,
and travel packed (``pack_histograms``): two int64 words a bin, one
without hessians.
"""
import contextlib
import ctypes
import os
import threading

import numpy as np

from fastml import kernels
from fastml._dask.tree_growth import BlockTreeGrower, HistogramPool
from fastml.kernels.boosting import repeating_features

try:   # the proxy type of a Dask actor, to wait on its calls' results
    from distributed import Actor
except ImportError:   # pragma: no cover - distributed is a declared dependency
    Actor = ()

# Seconds between checks, while waiting on an actor, that its worker lives:
# a call to a worker that died may wait on its connection far longer.
LIVENESS_CHECK = 2.0


class _HeapBlocks:
    """While entered: malloc serves blocks up to 32 MiB from its heap
    instead of mapping fresh pages for each (glibc's mmap threshold), and
    keeps up to 256 MiB of freed heap instead of returning it to the
    system at once (its trim threshold).

    A Dask worker's nanny sets ``MALLOC_TRIM_THRESHOLD_`` (64 KiB), which
    also freezes glibc's mmap threshold at 128 KiB: every array of 128 KiB
    or more -- a few node histograms, a shard's gradients -- is then mapped
    and unmapped, and every freed one at the top of the heap given back,
    their pages faulted in again on each use (measured in
    benchmarks/HISTORY.md, stops 25 and 26).  Entered by the shards' and
    the leader's methods, counted across nested calls; on leaving, both
    thresholds go back (the trim threshold to the nanny's value).  A no-op
    without glibc, when no malloc variable is set (the thresholds then
    adapt by themselves), or when ``MALLOC_MMAP_THRESHOLD_`` is (the
    user's choice).
    """

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    DURING = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 256 << 20}

    def __init__(self):
        self.lock, self.depth, self.mallopt = threading.Lock(), 0, None
        tuned = any(name in os.environ for name in (
            "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"))
        if tuned and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            try:
                self.mallopt = ctypes.CDLL("libc.so.6").mallopt
            except (OSError, AttributeError):
                pass
        try:
            trim = int(os.environ.get("MALLOC_TRIM_THRESHOLD_", 128 << 10))
        except ValueError:
            trim = 128 << 10
        self.after = {self.M_MMAP_THRESHOLD: 128 << 10, self.M_TRIM_THRESHOLD: trim}

    def _set(self, step):
        with self.lock:
            self.depth += step
            if self.depth == (1 if step > 0 else 0):
                for option, value in (self.DURING if step > 0 else self.after).items():
                    self.mallopt(option, value)

    @contextlib.contextmanager
    def __call__(self):
        if self.mallopt is None:
            yield
            return
        self._set(1)
        try:
            yield
        finally:
            self._set(-1)


heap_blocks = _HeapBlocks()


class Shard:
    """The training (and validation) rows of some blocks, and every
    per-row array of the fit over them.

    Parameters
    ----------
    binned : list of ndarray of shape (n_b, d), uint8
        The blocks' bin codes.
    y, w : ndarray of shape (sum of n_b,)
        Their rows' encoded targets and weights (w None for unit weights).
    X_val : list of ndarray of shape (m_b, d)
        Validation blocks (feature values), maybe none.
    config : dict
        ``loss``, ``baseline``, ``n_values``, ``missing_bin`` and
        ``n_threads``.
    trees : list of lists of Tree
        The iterations grown so far: a shard made to replace one lost with
        its worker starts from their raw predictions.
    val_targets : (ndarray, ndarray or None), optional
        The encoded targets and weights of X_val's rows, for ``scores``
        (a fit's one shard, which holds every row in row order).
    take : ndarray of int, optional
        The rows of the blocks' concatenation to train on, in the fit's
        order (y's); None: all of them, in order.
    """

    def __init__(self, binned, y, w, X_val, config, trees=(), val_targets=None, take=None):
        binned = np.concatenate(binned)
        self.binned = binned if take is None else binned[take]
        self.y, self.w, self.val_targets = y, w, val_targets
        self.X_val = np.concatenate(X_val) if X_val else None
        self.loss, self.n_threads = config["loss"], config["n_threads"]
        self.bins = (config["n_values"], config["missing_bin"])
        self.by_column = repeating_features(self.binned)   # for GradientHistograms
        baseline = config["baseline"]
        self.raw = np.tile(baseline[:, None], (1, len(self.y))).T   # columns contiguous
        self.raw_val = None if self.X_val is None else np.tile(baseline, (len(self.X_val), 1))
        self.gradients = self.hessians = self.histograms = None
        self.rows = {}
        # made by the first tree: the buffers of a shard among several
        # (``root``), or the compiled grower of a fit's one shard
        self.columns = self.order = self.tree_grower = None
        for iteration in trees:   # each tree added in turn, as the fit added it
            for k, tree in enumerate(iteration):
                self.raw[:, k] = kernels.predict_binned_chunk(
                    self.binned, tree, missing_bin=self.bins[1],
                    out=np.ascontiguousarray(self.raw[:, k]), n_threads=self.n_threads)
                self._predict_validation(k, tree)

    def _predict_validation(self, k, tree):
        if self.X_val is not None:
            self.raw_val[:, k] = kernels.predict_tree_chunk(
                self.X_val, tree, out=np.ascontiguousarray(self.raw_val[:, k]),
                n_threads=self.n_threads)

    def _finish(self, finished):
        """Add a grown tree's leaf values: finished is (k, tree, final),
        final the tree node of each of the shard's nodes, or None."""
        if finished is None:
            return
        k, tree, final = finished
        column = self.raw.T[k]
        nodes = list(self.rows)
        kernels.add_leaf_values(
            column, [self._rows_of(node) for node in nodes], tree.value[final[nodes]],
            n_threads=self.n_threads, check_input=False)
        self._predict_validation(k, tree)
        self.rows = {}

    def _rows_of(self, node):
        start, stop = self.rows[node]
        return self.order[start:stop]

    @heap_blocks()
    def gradient_statistics(self, finished=None):
        """Finish the last tree; the new gradients and hessians of every
        raw-prediction column, and for each column
        ``(abs_max_sum(g), abs_max_sum(h) or None)`` (weighted)."""
        self._finish(finished)
        self.gradients, self.hessians = self.loss.gradient_hessian(self.y, self.raw, self.w,
                                                                          self.n_threads)
        out = []
        for k in range(self.raw.shape[1]):
            g = np.ascontiguousarray(self.gradients[:, k])
            h = None if self.hessians is None else np.ascontiguousarray(self.hessians[:, k])
            out.append(tuple(None if v is None else kernels.abs_max_sum(
                v, sample_weight=self.w, n_threads=self.n_threads) for v in (g, h)))
        return out

    def _fixed_point(self, k, scales):
        """Column k's gradients and hessians (None without) in fixed point."""
        return [None if v is None else kernels.to_fixed_point(
            np.ascontiguousarray(v[:, k]), scale, sample_weight=self.w,
            n_threads=self.n_threads, check_input=False)
            for v, scale in zip((self.gradients, self.hessians), scales)]

    def root(self, k, gradient_scale, hessian_scale, finished=None):
        """Start the tree of column k: its fixed-point gradients, and the
        histogram of every row (d, N_BINS, 3), a buffer of the shard's,
        overwritten by the next call."""
        self._finish(finished)
        fixed = self._fixed_point(k, (gradient_scale, hessian_scale))
        self.histograms = kernels.GradientHistograms(
            self.binned, fixed[0], fixed[1], by_column=self.by_column, bins=self.bins,
            n_threads=self.n_threads, check_input=False)
        if self.order is None:
            # the rows of each node of the tree growing: order[start:stop] for
            # rows[node] = (start, stop), a split moving its rows in place, as
            # the in-memory grower does (buffers made once: a worker's malloc
            # returns large blocks to the system, and fresh ones cost page
            # faults); a split reads one feature's codes from columns
            self.columns = np.asfortranarray(self.binned)
            self.order, self.moved = (np.empty(len(self.y), np.uint32) for _ in range(2))
            self.root_histogram = np.zeros(self.binned.shape[1:] + (kernels.N_BINS, 3),
                                           np.int64)
            self.node_histograms = np.zeros((0,) + self.root_histogram.shape, np.int64)
        self.order[:] = np.arange(len(self.y), dtype=np.uint32)
        self.rows = {0: (0, len(self.y))}
        self.root_histogram[...] = 0   # the bins GradientHistograms does not write
        return self.histograms(out=self.root_histogram, check_input=False)

    def expand(self, splits, wanted):
        """Split nodes and return the histograms of some of the new ones.

        Parameters
        ----------
        splits : list of (node, feature, threshold_bin, missing_left, left, right, left_set)
            ``left_set``: the bins going left of a categorical split, else None.
        wanted : list of int
            New nodes whose histograms to return.

        Returns
        -------
        ndarray of shape (len(wanted), d, N_BINS, 3), int64
            A buffer of the shard's, overwritten by the next call.
        """
        for node, feature, threshold_bin, missing_left, left, right, left_set in splits:
            start, stop = self.rows.pop(node)
            n_left = len(kernels.partition_chunk(
                self.order[start:stop], self.columns[:, feature], threshold_bin,
                missing_left=missing_left, missing_bin=self.bins[1], left_set=left_set,
                out=self.moved[start:stop], n_threads=self.n_threads, check_input=False)[0])
            self.order[start:stop] = self.moved[start:stop]
            self.rows[left], self.rows[right] = (start, start + n_left), (start + n_left, stop)
        if len(self.node_histograms) < len(wanted):
            self.node_histograms = np.zeros((len(wanted),) + self.node_histograms.shape[1:],
                                            np.int64)
        out = self.node_histograms[:len(wanted)]
        out[...] = 0   # the bins GradientHistograms does not write
        for j, node in enumerate(wanted):
            self.histograms(self._rows_of(node), out=out[j], check_input=False)
        return out

    @heap_blocks()
    def summed(self, method, args, below, packed=True):
        """``getattr(self, method)(*args)`` -- histograms, ``root`` or
        ``expand`` -- plus those of the shards of the subtree below, packed
        for the wire (``pack_histograms``) or, for a caller in the same
        process, the shard's buffer.

        Parameters
        ----------
        method : str
        args : tuple
        below : list of (Shard actor, worker address, list as below)
            The children of this shard in the reduction tree, each with
            its own; they are called first, so that they work while this
            one does.
        packed : bool, default=True
        """
        calls = [child.summed(method, args, grandchildren) for child, _, grandchildren in below]
        total = getattr(self, method)(*args)
        for part in _results([child for child, _, _ in below], calls,
                             [addr for _, addr, _ in below]):
            add_histograms(total, part)
        return pack_histograms(total) if packed else total

    @heap_blocks()
    def grow_iteration(self, rng, config):
        """One iteration's trees, grown here by the compiled in-memory grower
        (``kernels.TreeGrower``), for a fit whose one shard holds every row
        in row order: no round trips, no Python between nodes.  Their leaf
        values are added to the raw predictions at once.

        Parameters
        ----------
        rng : numpy.random.Generator
            The feature draws (``max_features``), advanced in place.
        config : dict
            The leader's (``Leader``).

        Returns
        -------
        list of Tree
        """
        config = dict(config)
        n_rows, weighted_rows = config.pop("n_rows"), config.pop("weighted_rows")
        n_outputs, leaf_values = config.pop("n_outputs"), config.pop("leaf_values")
        if self.tree_grower is None:
            self.tree_grower = kernels.TreeGrower(self.binned, by_column=self.by_column, rng=rng,
                                                  n_threads=self.n_threads, **config)
        self.tree_grower.rng = rng
        statistics = [self.gradient_statistics()]
        trees = []
        for k in range(n_outputs):
            scales = fixed_point_scales(statistics, k, n_rows, weighted_rows)
            fixed = self._fixed_point(k, scales)
            tree, leaf_rows = self.tree_grower.grow(fixed[0], fixed[1], gradient_scale=scales[0],
                                                    hessian_scale=scales[1])
            if leaf_values is not None:
                leaf = np.empty(len(self.y), np.int64)
                for node, node_rows in leaf_rows:
                    leaf[node_rows] = node
                leaf_values(tree, leaf, self.y - self.raw[:, k])
            kernels.add_leaf_values(self.raw.T[k], [node_rows for _, node_rows in leaf_rows],
                                    tree.value[[node for node, _ in leaf_rows]],
                                    n_threads=self.n_threads, check_input=False)
            self._predict_validation(k, tree)
            trees.append(tree)
        return trees

    def residuals(self, k, final):
        """(tree node of each row, y - raw[:, k]), the shard's rows in the
        fit's order, before the tree's values are added (the leaf
        quantiles)."""
        leaf = np.empty(len(self.y), np.int64)
        for node in self.rows:
            leaf[self._rows_of(node)] = final[node]
        return leaf, self.y - self.raw[:, k]

    def scores(self):
        """(training score, validation score or None): minus the mean loss
        of the rows, computed as the in-memory fit computes it (the same
        rows in the same order and layout), for a fit's one shard."""
        train = -self.loss.loss(self.y, self.raw, self.w, self.n_threads)
        if self.X_val is None:
            return train, None
        y_val, w_val = self.val_targets
        return train, -self.loss.loss(y_val, self.raw_val, w_val, self.n_threads)

    def raw_predictions(self, finished=None):
        """The raw predictions of the training rows (in the fit's order) and
        of the validation rows (in their blocks' order; none without)."""
        self._finish(finished)
        return (np.asfortranarray(self.raw),
                np.empty((0, self.raw.shape[1])) if self.raw_val is None else self.raw_val)


def fixed_point_scales(statistics, k, n_rows, weighted_rows):
    """(gradient scale, hessian scale or None) of column k, from every
    shard's ``gradient_statistics``: as the in-memory fit's scales of all
    the rows (the weighted row count, ``weighted_rows``, with weights)."""
    rows = n_rows if weighted_rows is None else weighted_rows
    scales = []
    for which in (0, 1):
        parts = [s[k][which] for s in statistics]
        scales.append(None if parts[0] is None else kernels.fixed_point_scale(
            max(p[0] for p in parts), rows, abs_sum=sum(p[1] for p in parts)))
    return scales


def pack_histograms(hist):
    """Histograms (..., N_BINS, 3) int64 in fewer words, for the wire:
    ``(words, hessian sums or None, bits)``, each word a bin's gradient sum
    shifted up by ``bits`` with its row count in the low bits, the hessian
    sums only when one is not zero; a copy of hist when a gradient sum is
    too large to shift."""
    counts, gradients = hist[..., 2], hist[..., 0]
    bits = max(1, int(counts.max(initial=0)).bit_length())
    if gradients.size and max(int(gradients.max()), -int(gradients.min())) >= 1 << (62 - bits):
        return hist.copy()
    words = gradients << bits
    words |= counts
    hessians = hist[..., 1]
    return words, hessians.copy() if hessians.any() else None, bits


def add_histograms(total, part):
    """Add histograms, packed (``pack_histograms``) or not, to total
    (..., N_BINS, 3) int64, in place."""
    if isinstance(part, np.ndarray):
        total += part
        return
    words, hessians, bits = part
    for j in range(len(words)):   # a slice at a time: small temporaries
        total[j, ..., 0] += words[j] >> bits
        total[j, ..., 2] += words[j] & ((1 << bits) - 1)
        if hessians is not None:
            total[j, ..., 1] += hessians[j]


def reduction_tree(shards, workers):
    """The shards as a binary tree, the last one (the leader's own) at the
    root: (root shard, its worker, its children as ``Shard.summed`` takes
    them)."""
    order = [len(shards) - 1] + list(range(len(shards) - 1))

    def subtree(i):
        return [(shards[order[c]], workers[order[c]], subtree(c))
                for c in (2 * i + 1, 2 * i + 2) if c < len(order)]

    return shards[order[0]], workers[order[0]], subtree(0)


def _results(shards, calls, workers):
    """The results of calls made to shards (an actor's call returns a
    future); OSError if the worker of one is gone."""
    out = []
    for shard, call, worker in zip(shards, calls, workers):
        while isinstance(shard, Actor):
            try:
                out.append(call.result(timeout=LIVENESS_CHECK))
                break
            except TimeoutError:
                from distributed import get_client

                if worker not in get_client().scheduler_info()["workers"]:
                    raise OSError(f"The Dask worker {worker} holding a shard is gone.") \
                        from None
        else:
            out.append(call)
    return out


class Leader:
    """Grows each iteration's trees from the shards' histograms, summed:
    the split finding and the tree of every node, in one place.

    Parameters
    ----------
    shards : list of Shard or of actors of Shard
        The shard on the leader's own worker last (its work then runs
        while the others' messages travel).
    positions : list of ndarray of int, or None
        The positions of each shard's rows in the fit's order (for leaf
        values from every row's residual); None for a fit's one shard.
    config : dict
        The keyword arguments of ``BlockTreeGrower`` but ``source``,
        ``gradient_scale``, ``hessian_scale`` and ``rng``; and ``n_rows``,
        ``weighted_rows``, ``n_outputs``, ``leaf_values`` (None, or a
        callable ``(tree, leaf_of_row, residuals)`` setting the leaf values
        from the rows', as the absolute-error and quantile losses do).
    workers : list, default=None
        The address of each shard's worker (actors), to notice one lost.
    """

    def __init__(self, shards, positions, config, workers=None):
        self.shards, self.positions, self.config = shards, positions, dict(config)
        self.workers = [None] * len(shards) if workers is None else workers
        self.tree = reduction_tree(self.shards, self.workers)
        self.pool = HistogramPool(len(config["thresholds"]))
        self.finished = None   # the last tree's (k, tree, final), not yet added

    def call(self, method, *args, **kwargs):
        """Call a method of every shard; their results, in order."""
        return _results(self.shards, [getattr(s, method)(*args, **kwargs)
                                      for s in self.shards], self.workers)

    @heap_blocks()
    def iterations(self, rng, count, with_scores=False, stop=None):
        """Grow up to count iterations' trees.

        Parameters
        ----------
        rng : numpy.random.Generator
        count : int
        with_scores : bool, default=False
            Return ``scores()`` after each iteration.
        stop : (callable, ndarray) or None, default=None
            Early stopping on the loss: the rule (``stops``) and the scores
            recorded so far (the validation scores, or the training scores
            without validation rows).  The call ends after the iteration
            where the rule stops the fit, or after the first when the
            shards' scores are for the client to compute (several shards).

        Returns
        -------
        grown : list of (trees, round trips to the shards, scores() or None)
        rng : numpy.random.Generator
            Advanced.
        """
        grown = []
        for _ in range(count):
            trees, round_trips = self.iteration(rng)
            scored = self.scores() if with_scores else None
            grown.append((trees, round_trips, scored))
            if stop is not None:
                rule, history = stop
                if scored[0] is None:
                    break
                train, val = scored[0]
                stop = (rule, np.append(history, train if val is None else val))
                if rule(stop[1]):
                    break
        return grown, rng

    def iteration(self, rng):
        """Grow one iteration's trees, its feature draws from rng (advanced
        in place); returns (trees, round trips to the shards)."""
        if len(self.shards) == 1:   # every row in one place, in row order: the in-memory grower
            shard = self.shards[0]
            (trees,) = _results([shard], [shard.grow_iteration(rng, self.config)], self.workers)
            return trees, 0
        config = dict(self.config)
        n_rows, weighted_rows = config.pop("n_rows"), config.pop("weighted_rows")
        n_outputs, leaf_values = config.pop("n_outputs"), config.pop("leaf_values")
        statistics = self.call("gradient_statistics", finished=self._take_finished())
        trees, round_trips = [], 1
        for k in range(n_outputs):
            scales = fixed_point_scales(statistics, k, n_rows, weighted_rows)
            source = _ShardSource(self, k, *scales)
            grower = BlockTreeGrower(source, gradient_scale=scales[0], hessian_scale=scales[1],
                                     rng=rng, pool=self.pool, **config)
            tree, final = grower.grow()
            round_trips += grower.round_trips
            if leaf_values is not None:
                parts = self.call("residuals", k, final)
                round_trips += 1
                leaf_values(tree, *(in_fit_order([p[j] for p in parts], self.positions)
                                    for j in (0, 1)))
            self.finished = (k, tree, final)
            trees.append(tree)
        return trees, round_trips

    def summed(self, method, *args):
        """The histograms of every shard's ``method(*args)``, summed (up
        the reduction tree): a buffer of the leader's own shard."""
        root, worker, below = self.tree
        return _results([root], [root.summed(method, args, below, packed=False)], [worker])[0]

    def _take_finished(self):
        finished, self.finished = self.finished, None
        return finished

    def scores(self):
        """(the scores of the trees so far, None) from a fit's one shard
        (``Shard.scores``); else (None, ``raw_predictions()``), for the
        client to score."""
        if len(self.shards) > 1:
            return None, self.raw_predictions()
        (shard,) = self.shards
        return _results([shard], [shard.scores()], self.workers)[0], None

    def raw_predictions(self):
        """Every shard's ``raw_predictions`` (training rows, validation rows)."""
        return self.call("raw_predictions", finished=self._take_finished())


class _ShardSource:
    """The histograms of one tree's nodes, summed over the shards
    (``BlockTreeGrower``'s source)."""

    def __init__(self, leader, k, gradient_scale, hessian_scale):
        self.leader, self.k = leader, k
        self.scales = (gradient_scale, hessian_scale)

    def root(self):
        return self.leader.summed("root", self.k, *self.scales, self.leader._take_finished())

    def node_histograms(self, nodes, splits):
        return self.leader.summed("expand", splits, list(nodes))


def in_fit_order(parts, positions):
    """One array of the shards' arrays (rows first), each row at its
    position in the fit's order."""
    out = np.empty((sum(len(p) for p in positions),) + parts[0].shape[1:], parts[0].dtype)
    for part, rows in zip(parts, positions):
        out[rows] = part
    return out
