"""Keys under which run-time compiled kernels are memoised per process.

A key is equal for copies of the same function (a metric or loss unpickled
on a Dask worker reuses the kernel compiled for it) and differs when its
code, closure or the globals it reads differ, since Numba freezes those
into the compiled code.  Shared by custom metrics and custom losses.
"""
import hashlib
import types

import numpy as np


def _closure_value_key(value):
    """Numba freezes closure variables into the compiled code, so the key
    must tell every value apart: arrays by their full contents (their repr
    elides the middle of large arrays)."""
    if isinstance(value, np.ndarray):
        digest = hashlib.sha1(np.ascontiguousarray(value).view(np.uint8)).hexdigest()
        return ("ndarray", value.dtype.str, value.shape, digest)
    if hasattr(getattr(value, "py_func", value), "__code__"):
        return function_key(value)      # a helper function the metric calls
    return repr(value)


def _code_key(code):
    """The code object's bytecode, names and constants, nested code objects
    (lambdas, inner functions) included by content rather than by address."""
    consts = tuple(
        _code_key(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts
    )
    return (code.co_code, code.co_names, consts)


def global_names(code):
    """The global names a code object (and the code nested in it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            names |= global_names(const)
    return names


def _globals_key(py_func, seen):
    """The values of the globals the function reads: Numba freezes them at
    compile time, so an edited constant or helper must give a new key.
    Modules count by name, functions by their own key."""
    items = []
    namespace = getattr(py_func, "__globals__", {})
    for name in sorted(global_names(py_func.__code__)):
        if name not in namespace:
            continue  # a builtin or an attribute name
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            items.append((name, "module", value.__name__))
        elif hasattr(getattr(value, "py_func", value), "__code__"):
            items.append((name, function_key(value, seen)))
        else:
            items.append((name, _closure_value_key(value)))
    return tuple(items)


def function_key(func, seen=None):
    """A key equal for copies of the same function (e.g. after pickling),
    and different when its code, closure or the globals it reads differ."""
    py_func = getattr(func, "py_func", func)
    code = getattr(py_func, "__code__", None)
    if code is None:
        return ("object", id(func))
    seen = set() if seen is None else seen
    if id(py_func) in seen:  # recursion through globals
        return ("recursive", py_func.__qualname__)
    seen.add(id(py_func))
    closure = tuple(
        _closure_value_key(cell.cell_contents) for cell in (py_func.__closure__ or ())
    )
    return (getattr(py_func, "__module__", None), py_func.__qualname__,
            _code_key(code), closure, _globals_key(py_func, seen))
