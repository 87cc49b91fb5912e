"""The one module of fastml that uses Numba's internal (undocumented) API.

Custom metrics run fastest when fastml compiles them a second time with
types of its own (`fastml._numba.lanes`, `fastml._numba.array_expressions`:
one row of X against 16 rows of Y as LLVM vectors).  Those types are
written against Numba's documented extension API (``numba.extending``:
``overload``, ``intrinsic``, ``register_model``, ``models``, ``lower_cast``;
``numba.types``) and llvmlite's IR builder, plus the few internal pieces
gathered here, which Numba does not promise to keep from one release to
the next.  Nothing else in fastml imports ``numba.core`` (a test in
tests/test_architecture.py reads every module's imports), so a Numba
release that moves one of them breaks this module only.

The range of Numba this is tested with is the one ``pyproject.toml``
declares; ``.ci/run`` runs the custom-metric tests on its lowest version.

What each piece is for:

* `struct_proxy`: field access (``.data``, ``.n``, ``.shape``,
  ``.strides``) on the LLVM structs behind fastml's row types and Numba's
  arrays (``numba.core.cgutils.create_struct_proxy``).
* `unpack_tuple`: the elements of an LLVM array-of-ints (an array's shape
  or strides).
* `declare_function`: a declaration of an LLVM intrinsic in the module
  being built (``llvm.sqrt.v16f64`` and the like).
* `bounds_check`: Numba's own ``IndexError`` when ``NUMBA_BOUNDSCHECK=1``.
* `entry_alloca`: stack space allocated once in the function's entry
  block (an ``alloca`` inside a loop would grow the stack per iteration).
* `borrowed_result`: the reference-counting rule for returning a value
  that holds references to its operands.
* `SAFE_CONVERSION`: the answer of ``can_convert_from`` for a conversion
  that loses nothing (used by the typing of `Lanes`).
* `NumbaError`: the base of the errors a failed compile raises (typing,
  lowering, unsupported features).
"""
from numba.core import cgutils
from numba.core.errors import NumbaError
from numba.core.imputils import impl_ret_borrowed
from numba.core.typeconv import Conversion

SAFE_CONVERSION = Conversion.safe

__all__ = ["NumbaError", "SAFE_CONVERSION", "borrowed_result", "bounds_check",
           "declare_function", "entry_alloca", "struct_proxy", "unpack_tuple"]


def struct_proxy(numba_type, context, builder, value=None):
    """A proxy whose attributes read and write the fields of ``value`` (or of
    a new, undefined struct when ``value`` is None) of ``numba_type``."""
    return cgutils.create_struct_proxy(numba_type)(context, builder, value)


def unpack_tuple(builder, value):
    """The elements of an LLVM aggregate (an array's shape or strides)."""
    return cgutils.unpack_tuple(builder, value)


def declare_function(module, function_type, name):
    """The function ``name`` of ``module``, declared if it is not yet."""
    return cgutils.get_or_insert_function(module, function_type, name)


def bounds_check(context, builder, index, length):
    """Raise Numba's ``IndexError`` unless ``0 <= index < length``."""
    cgutils.do_boundscheck(context, builder, index, length, 0)


def entry_alloca(builder, llvm_type):
    """A pointer to stack space for one ``llvm_type``, allocated in the
    entry block of the function being built."""
    return cgutils.alloca_once(builder, llvm_type)


def borrowed_result(context, builder, numba_type, value):
    """Return ``value`` from a lowering function, references borrowed."""
    return impl_ret_borrowed(context, builder, numba_type, value)
