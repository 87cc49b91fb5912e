"""The histogram kernels of gradient boosting: fixed-point gradients and
per-node gradient histograms.

Gradients and hessians are summed as 64-bit fixed-point integers (see
``fixed_point_scale``): integer sums are exact and associative, so the
histograms of a node do not depend on the thread count, on the order of the
rows or on how they are split into blocks -- histograms of row blocks added
together equal the histogram of all rows, which is what lets the same
training run on threads or on Dask workers.
"""
import threading

import numpy as np

from fastml._threads import WORK_PER_THREAD, threads_for
from fastml._validation import check_positive_int

__all__ = [
    "N_BINS",
    "fixed_point_scale",
    "abs_max_sum",
    "to_fixed_point",
    "check_fixed_point",
    "repeating_features",
    "SMALL_HISTOGRAM",
    "GradientHistograms",
    "gradient_histograms_chunk",
]


N_BINS = 256  # uint8 bin codes: up to 255 value bins and a missing-value bin;
              # FASTML_N_BINS of _kernels/common.h (a test checks they agree)
SET_WORDS = N_BINS // 64  # 64-bit words of a bitset of bin codes (FASTML_SET_WORDS)


# Steps below the largest value the packed fast path must leave, at least: up
# to ~2M rows of equal-sized gradients (sums err by ~2**-23, as float32 ones).
FIXED_POINT_LEVELS = 2**20


def fixed_point_scale(max_abs, n_rows, *, abs_sum=None):
    """The power of two ``s`` for fixed-point gradients or hessians.

    Values up to ``max_abs`` become the int64 integers ``round(v / s)``
    (``to_fixed_point``), and any sum of them stays below ``2**62``, so
    histogram sums are exact integers: the same for any thread count, row
    order or split into chunks, and subtraction (sibling = parent - child)
    is exact.  Sums are bounded by ``abs_sum`` (the sum of the absolute
    values) if given, else by ``max_abs * n_rows``.  When that leaves
    ``FIXED_POINT_LEVELS`` steps below ``max_abs`` or more, the scale also
    keeps the bit length of ``n_rows`` free, so that the histogram kernel
    can pack the row count beside the sums (its fast path); otherwise the
    full range goes to precision and the kernel sums unpacked.  Use one
    scale for every chunk of the same gradients.

    Parameters
    ----------
    max_abs : float
        The largest absolute value, finite.
    n_rows : int
        The most rows a sum will add.
    abs_sum : float, default=None
        The sum of the absolute values (a tighter bound than
        ``max_abs * n_rows`` when a few values are large).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import fixed_point_scale
    >>> fixed_point_scale(1.0, 1000) == 2.0 ** -42
    True

    The inputs of a Dask array of gradients: :func:`abs_max_sum` per block,
    reduced with ``max`` and ``sum``:

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import abs_max_sum
    >>> g = da.random.default_rng(0).normal(size=10_000, chunks=2500)
    >>> parts = dask.compute(*[dask.delayed(abs_max_sum)(block) for block in g.to_delayed()])
    >>> largest, total = max(p[0] for p in parts), sum(p[1] for p in parts)
    >>> scale = fixed_point_scale(largest, g.shape[0], abs_sum=total)
    >>> whole = abs_max_sum(g.compute())
    >>> scale == fixed_point_scale(whole[0], g.shape[0], abs_sum=whole[1])
    True
    """
    if not np.isfinite(max_abs) or max_abs < 0:
        raise ValueError(f"max_abs must be finite and non-negative, got {max_abs!r}.")
    n_rows = max(int(n_rows), 1)
    if max_abs == 0:
        return 1.0
    bound = max_abs * n_rows if abs_sum is None else max(float(abs_sum), max_abs)
    if not np.isfinite(bound):
        raise ValueError(f"abs_sum must be finite, got {abs_sum!r}.")
    top = np.ceil(np.log2(bound * (1 + 2.0**-40)))  # sums < 2**top, rounding included
    packed = float(2.0 ** (top - 62 + n_rows.bit_length()))
    if max_abs / packed >= FIXED_POINT_LEVELS:
        return packed
    return float(2.0 ** (top - 62))


def abs_max_sum(values, *, sample_weight=None, n_threads=1):
    """The largest absolute value of ``values`` (any shape) and the sum of
    the absolute values (inf if it overflows float64), in one pass;
    ValueError for NaN or inf.  With ``sample_weight``, for weighted values:
    the largest ``|values| / sample_weight`` over rows of positive weight
    (a unit of weight's) and the sum of ``|values|`` (``to_fixed_point``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import abs_max_sum
    >>> abs_max_sum(np.array([1.0, -3.0, 0.5]))
    (3.0, 4.5)

    Over the blocks of a Dask array, reduced with ``max`` and ``sum``:

    >>> import dask
    >>> import dask.array as da
    >>> g = da.random.default_rng(0).normal(size=10_000, chunks=2500)
    >>> parts = dask.compute(*[dask.delayed(abs_max_sum)(block) for block in g.to_delayed()])
    >>> largest, total = max(p[0] for p in parts), sum(p[1] for p in parts)
    >>> np.allclose([largest, total], dask.compute(abs(g).max(), abs(g).sum()))
    True
    """
    from fastml._kernels import _gbdt

    values = np.asarray(values)
    values = np.ascontiguousarray(values, dtype=np.float32 if values.dtype == np.float32
                                  else np.float64).reshape(-1)
    weights = np.empty(0) if sample_weight is None else \
        np.ascontiguousarray(sample_weight, dtype=np.float64).reshape(-1)
    if weights.size != values.size and sample_weight is not None:
        raise ValueError(f"sample_weight must have {values.size} values, got {weights.size}.")
    largest, total = _gbdt.abs_max_sum(values, weights, threads_for(values.size, n_threads))
    if np.isnan(total) or not np.isfinite(largest):  # NaN leaves the max, not the sum
        raise ValueError("Gradients and hessians must be finite.")
    return largest, total


def to_fixed_point(values, scale, *, sample_weight=None, n_threads=1, check_input=True):
    """``round(values / scale)`` as int64 (see ``fixed_point_scale``); with
    ``sample_weight``, values weighted by a power of two w (2, 4, 0.5, ...)
    are rounded per unit of weight, ``round(w * round(values / w / scale))``:
    a float32 value times w is exactly w times the unit value, so weight 2
    gives twice its integer, the sums of the row repeated (other weights:
    no exact unit value, rounded as they are).  The repeated rows' scale is
    ``fixed_point_scale(largest, total weight, abs_sum=total)`` with
    ``largest, total = abs_max_sum(values, sample_weight=w)``.

    Parameters
    ----------
    values : array-like of shape (n,)
        Finite.
    scale : float
        A power of two from ``fixed_point_scale``.
    sample_weight : array-like of shape (n,), default=None
        Non-negative weights the values are weighted by.
    n_threads : int, default=1
        For float32 values, the conversion runs on this many threads.
    check_input : bool, default=True
        False skips the check that the values are finite and fit the scale,
        for callers that took the scale from these values' largest and
        summed magnitudes (``fixed_point_scale``).

    Returns
    -------
    ndarray of shape (n,), int64

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import to_fixed_point
    >>> to_fixed_point(np.array([0.5, -1.25]), 0.25)
    array([ 2, -5])

    One scale for every block (see :func:`fixed_point_scale`), then
    ``map_blocks``; integer sums are then exact in any order:

    >>> import dask.array as da
    >>> from fastml.kernels import abs_max_sum, fixed_point_scale
    >>> g = da.random.default_rng(0).normal(size=10_000, chunks=2500)
    >>> largest, total = abs_max_sum(g.compute())
    >>> scale = fixed_point_scale(largest, g.shape[0], abs_sum=total)
    >>> G = g.map_blocks(to_fixed_point, scale, dtype=np.int64)
    >>> int(G.sum().compute()) == int(to_fixed_point(g.compute(), scale).sum())
    True
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}.")
    from fastml._kernels import _gbdt

    n_threads = check_positive_int(n_threads, "n_threads")
    values = np.asarray(values)
    w = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    if check_input:
        if w is not None and w.shape != values.shape:
            raise ValueError(f"sample_weight must have shape {values.shape}, got {w.shape}.")
        largest, _ = abs_max_sum(values, n_threads=n_threads)
        largest += 0.0 if w is None else scale * float(w.max(initial=0))  # w / 2 steps more
        if np.rint(largest / scale) >= 2.0 ** 62:
            raise ValueError(f"Values up to {largest} do not fit the fixed-point scale "
                             f"{scale}; take the scale from fixed_point_scale.")
    if values.dtype == np.float32 and float(np.log2(scale)).is_integer():
        out = np.empty(values.shape, dtype=np.int64)
        threads = threads_for(values.size, n_threads)
        if w is None:
            _gbdt.to_fixed(np.ascontiguousarray(values), float(scale), out, threads)
        else:
            _gbdt.weighted_to_fixed(np.ascontiguousarray(values), w, float(scale), out, threads)
        return out
    if w is None:
        return np.rint(values / scale).astype(np.int64)
    bits = w.view(np.uint64)  # powers of two: positive, normal, no significand bits
    two = (w > 0) & (bits >> np.uint64(52) != 0) & (bits & np.uint64(2**52 - 1) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(two, np.rint(w * np.rint(values / scale / w)),
                        np.rint(values / scale)).astype(np.int64)


def _check_binned(binned):
    binned = np.asarray(binned)
    if binned.dtype != np.uint8 or binned.ndim != 2:
        raise ValueError(f"binned must be a 2-D uint8 array of bin codes, got {binned.dtype} "
                         f"with shape {binned.shape}.")
    return binned


def _check_rows(samples, n, name="samples"):
    """Row indices as contiguous uint32, each below n (checked before the
    cast, so no index wraps around)."""
    samples = np.asarray(samples)
    if samples.dtype.kind not in "iu" or (samples.size and int(samples.min()) < 0):
        raise ValueError(f"{name} must be non-negative integer row indices.")
    if samples.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of row indices.")
    if samples.size and int(samples.max()) >= n:
        raise ValueError(f"{name} holds row {int(samples.max())}, but there are {n} rows.")
    return np.ascontiguousarray(samples, dtype=np.uint32)


def check_fixed_point(values, n, name):
    values = np.asarray(values)
    if values.dtype != np.int64 or values.shape != (n,):
        raise ValueError(f"{name} must be int64 fixed-point values of shape ({n},) "
                         f"(see to_fixed_point), got {values.dtype} {values.shape}.")
    return np.ascontiguousarray(values)


# A histogram update is ~HISTOGRAM_WORK element operations: from SMALL_HISTOGRAM
# (rows x features) on, a node's rows are summed by two threads or more.
HISTOGRAM_WORK = 4
SMALL_HISTOGRAM = 2 * WORK_PER_THREAD // HISTOGRAM_WORK
PART_ROWS = 512  # rows per thread, at least, for a thread's own histograms to pay off
REPEAT_SAMPLE = 4096  # rows sampled to find the features whose codes repeat


def repeating_features(binned):
    """(d,) bool: the features whose codes repeat from row to row, judged
    on up to REPEAT_SAMPLE evenly spaced rows: two rows share a bin with
    probability above 1/32 (fewer than about 32 equally common values, or
    one dominant value).  The histogram kernel sums them feature by feature:
    row by row, each update would wait for the store of the row before."""
    n, d = binned.shape
    if n == 0 or d == 0:
        return np.zeros(d, dtype=bool)
    sample = binned[np.linspace(0, n - 1, min(n, REPEAT_SAMPLE)).astype(np.intp)]
    counts = np.bincount((sample + np.arange(d) * N_BINS).ravel(),
                         minlength=d * N_BINS).reshape(d, N_BINS)
    shares = counts / sample.shape[0]
    return (shares * shares).sum(axis=1) > 1 / 32


def _check_histogram_inputs(binned, gradients, hessians, n_threads):
    """The checked arguments shared by the histogram kernels."""
    binned = _check_binned(binned)
    gradients = check_fixed_point(gradients, binned.shape[0], "gradients")
    if hessians is not None:
        hessians = check_fixed_point(hessians, binned.shape[0], "hessians")
    return binned, gradients, hessians, check_positive_int(n_threads, "n_threads")


class GradientHistograms:
    """Histograms of a chunk's rows, node after node, for one set of
    fixed-point gradients: ``GradientHistograms(binned, g, h)(rows)`` is
    ``gradient_histograms_chunk(binned, g, h, samples=rows)``.

    Every row's gradient, hessian and a row count are packed once, when it
    is made (the kernel's fast path, see ``fixed_point_scale``), so each
    call reads one packed entry per row; a tree grower makes one per tree.
    The gradients and hessians must not change while it is in use.  Each
    call's rows must be distinct (a tree node's); for a sample with
    repeated rows, use ``gradient_histograms_chunk``.

    Parameters
    ----------
    binned, gradients, hessians
        As in :func:`gradient_histograms_chunk`.
    by_column : ndarray of shape (d,), bool, default=None
        Features to sum feature by feature over blocks of rows rather than
        row by row: those whose codes repeat from row to row, where the
        row-by-row kernel stalls (about 10x slower for two-valued
        features).  None: found on a sample of rows.  Only speed depends
        on it.
    bins : tuple (n_values, missing_bin), default=None
        The bins that hold codes: 0 .. n_values[f] - 1 and missing_bin for
        feature f (as `find_node_splits` takes them; every code of binned
        must be among them).  Each call then writes those bins only, and
        the others of ``out`` must be zero already: a histogram that this
        object returned before is, and so is a new one.  A feature with
        few values then costs its bins, not 256 (small data).  None: every
        bin is written.
    n_threads : int, default=1
        Threads for each call: they take ranges of the node's rows.
    check_input : bool, default=True
        False skips the checks, for callers that pass C-contiguous uint8
        binned and contiguous int64 gradients (and hessians), checked once
        already.

    Attributes
    ----------
    packed, width, count_bits : ndarray of shape (n * width,) or None, int, int
        The rows packed for summing (histogram.c): width 2 words per row with
        hessians, 1 without, rows counted in count_bits low bits; packed None
        when a sum could overflow them (the rows are then summed unpacked).

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import GradientHistograms
    >>> binned = np.array([[0, 1], [0, 0], [1, 1]], dtype=np.uint8)
    >>> histograms = GradientHistograms(binned, np.array([3, -1, 2]))
    >>> histograms(np.array([0, 2]))[0, :2].tolist()  # feature 0, bins 0 and 1
    [[3, 0, 1], [2, 0, 1]]

    On Dask, one per row block, called with the block's rows of the node
    (local indices); the blocks' histograms add up to the node's:

    >>> import dask
    >>> import dask.array as da
    >>> from fastml.kernels import gradient_histograms_chunk
    >>> B = da.from_array(np.tile(binned, (4, 1)), chunks=(3, 2))  # 12 rows, 4 blocks of 3
    >>> G = da.from_array(np.tile([3, -1, 2], 4), chunks=3)
    >>> node = dask.delayed(lambda b, g: GradientHistograms(b, g)(np.array([0, 2])))
    >>> hist = dask.delayed(sum)([node(b, g) for b, g in zip(B.to_delayed().ravel(),
    ...                                                      G.to_delayed())]).compute()
    >>> rows = np.array([0, 2, 3, 5, 6, 8, 9, 11])  # rows 0 and 2 of each block
    >>> np.array_equal(hist, gradient_histograms_chunk(B.compute(), G.compute(), samples=rows))
    True
    """

    def __init__(self, binned, gradients, hessians=None, *, by_column=None, bins=None,
                 n_threads=1, check_input=True):
        from fastml._kernels import _gbdt

        if check_input:
            binned, gradients, hessians, n_threads = _check_histogram_inputs(
                binned, gradients, hessians, n_threads)
        self.binned = np.ascontiguousarray(binned)
        self.n_threads = n_threads
        n, d = self.binned.shape
        self._n_values, self._missing_bin = np.empty(0, np.uint16), 0
        if bins is not None:
            n_values, missing_bin = bins
            self._n_values = np.ascontiguousarray(n_values, dtype=np.uint16)
            self._missing_bin = int(missing_bin)
            if self._n_values.shape != (d,) or not 0 <= self._missing_bin < N_BINS \
                    or np.any(self._n_values > self._missing_bin):
                raise ValueError(f"bins must be (n_values of shape ({d},) at most missing_bin, "
                                 f"missing_bin in [0, {N_BINS - 1}]), got {bins!r}.")
        by_column = (repeating_features(self.binned) if by_column is None
                     else np.asarray(by_column, dtype=bool))
        if by_column.shape != (d,):
            raise ValueError(f"by_column must have shape ({d},), got {by_column.shape}.")
        self._row_features = np.flatnonzero(~by_column).astype(np.int32)
        self._column_features = np.flatnonzero(by_column).astype(np.int32)
        self._gradients = gradients
        self._hessians = np.empty(0, dtype=np.int64) if hessians is None else hessians
        self.width = 1 if hessians is None else 2
        self.count_bits = max(1, n.bit_length())
        self.packed = np.empty(n * self.width, dtype=np.uint64)
        total = _gbdt.pack_rows(gradients, self._hessians, self.count_bits, self.packed,
                                threads_for(HISTOGRAM_WORK * n, n_threads))
        if total >= 2.0 ** (62 - self.count_bits) - n:  # margin for the rounding of the total
            self.packed = None  # a packed sum could overflow: sum unpacked
        # per-thread histograms, zeroed, reused from call to call (by one call
        # at a time): the kernels clear them as they read them out
        self._scratch = np.zeros((0, 0), dtype=np.uint64)
        self._scratch_lock = threading.Lock()

    def __getstate__(self):   # Dask may move it between workers: no lock, no scratch
        return {**self.__dict__, "_scratch": np.zeros((0, 0), np.uint64), "_scratch_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _scratch_lock=threading.Lock())

    def __call__(self, samples=None, *, out=None, check_input=True):
        """The histograms of rows ``samples`` (all rows if None).

        Parameters
        ----------
        samples : ndarray of shape (m,), default=None
            The rows to sum (a tree node's); None for every row.
        out : ndarray of shape (d, N_BINS, 3), int64, default=None
            C-contiguous array to write them to (a grower recycles the
            histograms of split nodes: fresh large arrays cost page faults).
        check_input : bool, default=True
            False skips the checks of ``samples`` (contiguous uint32
            distinct rows below n) and ``out``.

        Returns
        -------
        ndarray of shape (d, N_BINS, 3), int64
            As :func:`gradient_histograms_chunk` returns.
        """
        from fastml._kernels import _gbdt

        n, d = self.binned.shape
        if check_input:
            if samples is not None:
                samples = _check_rows(samples, n)
                if samples.size > 1 and np.unique(samples).size < samples.size:
                    raise ValueError("samples repeats rows; GradientHistograms sums distinct "
                                     "rows (a tree node's). Use gradient_histograms_chunk for "
                                     "a sample with repeated rows.")
            if out is not None and (out.dtype != np.int64 or out.shape != (d, N_BINS, 3)
                                    or not out.flags.c_contiguous):
                raise ValueError(f"out must be a C-contiguous int64 array of shape "
                                 f"({d}, {N_BINS}, 3).")
        if out is not None:
            hist = out
        elif self._n_values.size:
            hist = np.zeros((d, N_BINS, 3), dtype=np.int64)   # the bins not written
        else:
            hist = np.empty((d, N_BINS, 3), dtype=np.int64)
        m = n if samples is None else samples.size
        if not (d and m):
            hist[...] = 0
            return hist
        rows = np.empty(0, np.uint32) if samples is None else samples
        # Each thread zeroes, fills and adds its own (d, 256) histograms: worth
        # it for enough rows per feature and bin, and enough work overall.
        parts = min(threads_for(HISTOGRAM_WORK * m * d, self.n_threads),
                    max(1, m // PART_ROWS))
        words = d * N_BINS * (self.width if self.packed is not None else 3)
        owned = self._scratch_lock.acquire(blocking=False)  # else another thread has it
        try:
            if owned and self._scratch.shape[0] >= parts:
                scratch = self._scratch[:parts]  # the kernels leave it zeroed
            else:
                scratch = np.zeros((parts, words), dtype=np.uint64)
                if owned:
                    self._scratch = scratch
            if self.packed is not None:
                _gbdt.build_packed_histograms(self.binned, rows, self.packed, self.width,
                                              self.count_bits, self._row_features,
                                              self._column_features, scratch, self._n_values,
                                              self._missing_bin, hist)
            else:
                _gbdt.build_wide_histograms(self.binned, rows, self._gradients,
                                            self._hessians, self._row_features,
                                            self._column_features,
                                            scratch.view(np.int64).reshape(parts, d, N_BINS, 3),
                                            self._n_values, self._missing_bin, hist)
        finally:
            if owned:
                self._scratch_lock.release()
        return hist


def gradient_histograms_chunk(binned, gradients, hessians=None, *, samples=None, n_threads=1,
                              check_input=True):
    """Per (feature, bin) sums of gradients, hessians and rows.

    Sums are exact integers (fixed point, see ``fixed_point_scale``), so
    chunks' histograms added (``+``) equal the histogram of all the rows, and
    a sibling's is its parent's minus its own.  For many nodes of the same
    gradients, ``GradientHistograms`` prepares the rows once.

    Parameters
    ----------
    binned : ndarray of shape (n, d), uint8
        Bin codes (``bin_chunk``); C order avoids a copy.
    gradients : ndarray of shape (n,), int64
        Fixed-point gradients (``to_fixed_point``).
    hessians : ndarray of shape (n,), int64, default=None
        Fixed-point hessians; None for a constant hessian (the row counts
        stand in).
    samples : ndarray of shape (m,), default=None
        The rows to sum (a tree node's, or a sample with repeats); None for
        every row.
    n_threads : int, default=1
        Rows are split over threads.
    check_input : bool, default=True
        False skips the checks (C-contiguous uint8 binned, contiguous int64
        gradients and hessians, contiguous uint32 samples).

    Returns
    -------
    ndarray of shape (d, N_BINS, 3), int64
        Gradient sums, hessian sums (0 without hessians), row counts.

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.kernels import gradient_histograms_chunk
    >>> binned = np.array([[0, 1], [0, 0], [1, 1]], dtype=np.uint8)
    >>> hist = gradient_histograms_chunk(binned, np.array([3, -1, 2]))
    >>> hist.shape, hist[0, :2].tolist()  # feature 0, bins 0 and 1
    ((2, 256, 3), [[2, 0, 2], [2, 0, 1]])

    One histogram per row block of Dask arrays, summed: exactly the whole's.

    >>> import dask
    >>> import dask.array as da
    >>> rng = np.random.default_rng(0)
    >>> B = da.from_array(rng.integers(0, 16, size=(4000, 3), dtype=np.uint8), chunks=(1000, 3))
    >>> G = da.from_array(rng.integers(-1000, 1000, size=4000), chunks=1000)
    >>> parts = [dask.delayed(gradient_histograms_chunk)(b, g)
    ...          for b, g in zip(B.to_delayed().ravel(), G.to_delayed())]
    >>> hist = dask.delayed(sum)(parts).compute()
    >>> np.array_equal(hist, gradient_histograms_chunk(B.compute(), G.compute()))
    True
    """
    if check_input:
        binned, gradients, hessians, n_threads = _check_histogram_inputs(
            binned, gradients, hessians, n_threads)
        if samples is not None:
            samples = _check_rows(samples, binned.shape[0])
    if samples is not None:  # pack only these rows (repeats included) as a chunk
        binned, gradients = binned[samples], gradients[samples]
        hessians = None if hessians is None else hessians[samples]
    histograms = GradientHistograms(binned, gradients, hessians, n_threads=n_threads,
                                    check_input=False)
    return histograms(None)
