"""Custom distance metrics: a user's ``f(a, b) -> float`` compiled by Numba
into a tiled pairwise kernel.

The metric is compiled with ``nogil=True`` and fast-math limited to
``reassoc``/``contract``/``arcp``/``nsz`` (so NaN and inf keep their meaning
while reductions still vectorise), inlined into a tiled loop over row pairs,
and run on ``n_threads`` Python threads, each on its own rows; the GIL is
released inside the kernel, so the threads run in parallel.  No Numba
threading layer is involved, so calls from Dask's threads are safe.

Two tiled kernels exist per metric.  The lanes kernel calls the metric on
one row of X and ``lanes.WIDTH`` rows of Y at once (see `fastml._numba.lanes`
and `fastml._numba.array_expressions`): a metric made of arithmetic on
``a[k]`` and ``b[k]``, or of array expressions on ``a`` and ``b``, then runs
as vector operations over the pairs.  A metric that does not type that way
(a branch on a value, slicing, ...) or that has a try block runs in the
pair-by-pair kernel, ``out[i, j] = metric(X[i], Y[j])``.  Which one a dtype
uses is decided once, when the lanes kernel first compiles or fails to.

Compiled kernels are memoised per process, keyed by the metric's code and
closure (so a copy unpickled on a Dask worker reuses the same kernel), and
Numba specialises them per dtype.  Nothing is cached on disk.
"""
import dis
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
from numba.extending import is_jitted
import numpy as np

from fastml._numba import array_expressions, lanes  # noqa: F401 (registers typing)
from fastml._numba.lanes import WIDTH
from fastml._numba.memo import function_key, global_names
from fastml._numba.numba_internals import NumbaError

FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz"})
TILE = 64

_lock = threading.Lock()
_kernels = {}


class MetricKernels:
    """The two tiled kernels of one metric, both called as
    ``kernel(X, Y, out, row_blocks, symmetric)``.

    Attributes
    ----------
    pairs : numba dispatcher
        Pair by pair: ``out[i, j] = metric(X[i], Y[j])``.
    lanes : numba dispatcher
        ``lanes.WIDTH`` pairs per call of the metric.
    """

    def __init__(self, pairs, lanes_kernel, catches_exceptions):
        self.pairs = pairs
        self.lanes = lanes_kernel
        self._catches_exceptions = catches_exceptions
        self._lanes_failure = {}   # dtype -> None (lanes used) or why not
        self.failure = {}          # dtype -> NotCompilable: neither kernel compiles

    @property
    def lanes_failures(self):
        """dtype -> why the lanes kernel is not used for it (a message)."""
        return {dtype: why for dtype, why in self._lanes_failure.items() if why is not None}

    def for_arrays(self, X, Y, out, symmetric):
        """The kernel for these arrays' dtype, compiled (in this thread)."""
        dtype = X.dtype
        if dtype not in self._lanes_failure:
            if self._catches_exceptions:
                # A division by zero in one lane raises for all 16 pairs: a
                # handler in the metric would then run for all of them.
                self._lanes_failure[dtype] = "the metric has a try block"
            else:   # a message if it does not type with rows and lanes
                self._lanes_failure[dtype] = _compile_elsewhere(self.lanes, X, Y, out, symmetric)
        kernel = self.pairs if self._lanes_failure[dtype] else self.lanes
        kernel(X, Y, out, np.zeros(0, np.int64), symmetric)
        return kernel

    def uses_lanes(self, dtype):
        """Whether rows of `dtype` run in the lanes kernel (None: not
        compiled for `dtype` yet)."""
        dtype = np.dtype(dtype)
        return None if dtype not in self._lanes_failure else self._lanes_failure[dtype] is None


def _compile_elsewhere(kernel, X, Y, out, symmetric):
    """Compile `kernel` for these arguments' types; None, or Numba's message.

    The compile runs in a thread of its own, from types only: Numba keeps
    failed compiles' errors, whose tracebacks reach every frame above the
    failure, and from this thread's frames those would keep X, Y and out
    alive for the life of the process.
    """
    signature = tuple(numba.typeof(v) for v in (X, Y, out, np.zeros(0, np.int64), symmetric))
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(kernel.compile, signature).result()
        except NumbaError as err:
            err.__traceback__ = None     # the part of it raised in this thread
            return f"{type(err).__name__}: {err}"
    return None


def _build(func):
    if is_jitted(func):
        metric = func
    else:
        metric = numba.njit(nogil=True, fastmath=set(FASTMATH))(func)

    @numba.njit(nogil=True)
    def pairs(X, Y, out, row_blocks, symmetric):
        m = Y.shape[0]
        for b in range(row_blocks.shape[0]):
            i0 = row_blocks[b]
            i1 = min(i0 + TILE, X.shape[0])
            j_first = i0 if symmetric else 0
            for j0 in range(j_first, m, TILE):
                j1 = min(j0 + TILE, m)
                for i in range(i0, i1):
                    start = max(j0, i + 1) if symmetric else j0
                    for j in range(start, j1):
                        out[i, j] = metric(X[i], Y[j])

    @numba.njit(nogil=True)
    def lanes_kernel(X, Y, out, row_blocks, symmetric):
        d = X.shape[1]
        m = Y.shape[0]
        block_size = d * WIDTH
        columns = _aligned_empty(TILE // WIDTH * block_size, Y.dtype)
        for b in range(row_blocks.shape[0]):
            i0 = row_blocks[b]
            i1 = min(i0 + TILE, X.shape[0])
            j_first = i0 if symmetric else 0
            for j0 in range(j_first, m, TILE):
                j1 = min(j0 + TILE, m)
                n_blocks = (j1 - j0 + WIDTH - 1) // WIDTH
                _feature_major(Y, j0, j1, columns, n_blocks)
                for i in range(i0, i1):
                    a = lanes.row_of_x(X, i)
                    for block in range(n_blocks):
                        js = j0 + block * WIDTH
                        je = min(js + WIDTH, j1)
                        if symmetric and js <= i:
                            # The block reaches the diagonal: only j > i, one
                            # by one (the metric never sees the pair (i, i)).
                            for j in range(i + 1, je):
                                out[i, j] = metric(X[i], Y[j])
                        else:
                            b_rows = lanes.rows_of_y(columns, block * block_size, d, WIDTH)
                            lanes.store(out, i, js, metric(a, b_rows), je - js)

    return MetricKernels(pairs, lanes_kernel, _catches_exceptions(func))


# Opcodes of try and with blocks (SETUP_FINALLY up to Python 3.10, an
# exception handler's PUSH_EXC_INFO from 3.11).
_EXCEPTION_OPCODES = frozenset(
    {"SETUP_FINALLY", "PUSH_EXC_INFO", "SETUP_WITH", "BEFORE_WITH", "SETUP_ASYNC_WITH"})


def _code_catches_exceptions(code):
    return any(i.opname in _EXCEPTION_OPCODES for i in dis.get_instructions(code)) or any(
        _code_catches_exceptions(c) for c in code.co_consts if hasattr(c, "co_code"))


def _catches_exceptions(func, seen=None):
    """Whether `func`, or a function it reaches through its globals or
    closure, has a try (or with) block."""
    py_func = getattr(func, "py_func", func)
    code = getattr(py_func, "__code__", None)
    seen = set() if seen is None else seen
    if code is None or id(py_func) in seen:
        return False
    seen.add(id(py_func))
    if _code_catches_exceptions(code):
        return True
    namespace = getattr(py_func, "__globals__", {})
    reached = [namespace[name] for name in global_names(code) if name in namespace]
    for cell in py_func.__closure__ or ():
        try:
            reached.append(cell.cell_contents)
        except ValueError:      # an empty cell
            pass
    return any(_catches_exceptions(value, seen) for value in reached)


ALIGNMENT = 64   # bytes: a vector of lanes then never straddles two cache lines


@numba.njit(nogil=True)
def _aligned_empty(size, dtype):
    """An uninitialised 1-D array of `size` items starting on ALIGNMENT bytes."""
    raw = np.empty(size + ALIGNMENT, dtype=dtype)
    start = (-raw.ctypes.data) % ALIGNMENT // raw.itemsize
    return raw[start:start + size]


@numba.njit(nogil=True)
def _feature_major(Y, j0, j1, columns, n_blocks):
    """Copy rows ``j0:j1`` of Y into `columns` as blocks of WIDTH rows,
    block-major then feature-major; the last block is padded with copies
    of row ``j1 - 1`` (computed, never stored)."""
    d = Y.shape[1]
    for block in range(n_blocks):
        base = block * d * WIDTH
        for lane in range(WIDTH):
            j = min(j0 + block * WIDTH + lane, j1 - 1)
            for k in range(d):
                columns[base + k * WIDTH + lane] = Y[j, k]


def get_kernel(func):
    """The compiled kernels (`MetricKernels`) for `func`, built once per process."""
    key = function_key(func)
    kernel = _kernels.get(key)
    if kernel is None:
        with _lock:
            kernel = _kernels.get(key)
            if kernel is None:
                kernel = _kernels[key] = _build(func)
    return kernel


class NotCompilable(TypeError):
    """Numba cannot compile a custom metric (or Numba is not installed);
    ``reason`` is Numba's message, shortened."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


def compile_failure(func, dtype):
    """None if `func` compiles into the pair-by-pair kernel for C-contiguous
    rows of `dtype`, else the NotCompilable error (remembered per dtype)."""
    kernels = get_kernel(func)
    dtype = np.dtype(dtype)
    if dtype not in kernels.failure:
        X = np.zeros((1, 1), dtype)
        why = _compile_elsewhere(kernels.pairs, X, X, X, False)
        kernels.failure[dtype] = None if why is None else _explain(func, why)
    return kernels.failure[dtype]


def _explain(func, err):
    name = getattr(func, "__name__", repr(func))
    reason = str(err).strip().splitlines()
    reason = "\n    ".join(reason[:12])
    return NotCompilable(
        f"the custom metric {name!r} could not be compiled by Numba:\n    {reason}\n"
        "A custom metric must be a plain function f(a, b) -> float of two 1-D float "
        "arrays that uses only NumPy and math operations Numba supports (no Python "
        "objects, dicts, SciPy or scikit-learn calls, and no keyword arguments). "
        "Rewrite it with loops or NumPy array expressions, or pass "
        "metric='precomputed' with a matrix you computed yourself.", reason
    )


_POOL = None            # (process id, threads, ThreadPoolExecutor) of the pairwise threads
_POOL_LOCK = threading.Lock()


def _thread_pool(n_workers):
    """A pool of at least n_workers threads, kept from call to call (starting
    threads cost ~1 ms a call, a fifth of a 500 x 500 metric), made anew
    in a forked child, whose copy of the pool has no threads.  Shared with
    the plain-Python metric fallbacks (`fastml.kernels.distances.in_row_blocks`)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < n_workers:
            _POOL = (os.getpid(), n_workers,
                     ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fastml-metric"))
        return _POOL[2]


def pairwise(X, Y, func, out, n_threads=1, symmetric=False):
    """Fill ``out[i, j] = func(X[i], Y[j])``.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, C-contiguous
    Y : ndarray of shape (m, d), same dtype
    func : callable
    out : ndarray of shape (n, m), same dtype
    n_threads : int
    symmetric : bool
        Y is X: compute the strict upper triangle only; the caller mirrors
        it and sets the diagonal.
    """
    if not (X.flags.c_contiguous and Y.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("X, Y and out must be C-contiguous")
    n = X.shape[0]
    if n == 0 or Y.shape[0] == 0:
        return out
    starts = np.arange(0, n, TILE, dtype=np.int64)
    failure = get_kernel(func).failure.get(X.dtype)
    if failure is not None:     # a fresh error: a raised one would keep X, Y alive
        raise NotCompilable(str(failure), failure.reason)
    try:
        kernel = get_kernel(func).for_arrays(X, Y, out, symmetric)  # compiles here
        if n_threads <= 1 or len(starts) == 1:
            kernel(X, Y, out, starts, symmetric)
        else:
            # Round-robin row blocks balance the triangle of a symmetric job;
            # the calling thread takes the first part itself.
            parts = [p for p in (starts[t::n_threads] for t in range(n_threads)) if len(p)]
            futures = [_thread_pool(len(parts) - 1).submit(kernel, X, Y, out, p, symmetric)
                       for p in parts[1:]]
            kernel(X, Y, out, parts[0], symmetric)
            for f in futures:
                f.result()
    except NumbaError as err:   # TypingError, LoweringError, ... derive from it
        raise _explain(func, f"{type(err).__name__}: {err}") from None
    return out
