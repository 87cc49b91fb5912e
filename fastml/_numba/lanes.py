"""Numba types that run a custom metric on many row pairs at once.

A metric ``f(a, b)`` written over the elements ``a[k]`` and ``b[k]`` is
compiled a second time with ``a`` a `RowOfX` (one row of X; ``a[k]`` is a
scalar) and ``b`` a `RowsOfY` (``width`` rows of Y stored feature-major;
``b[k]`` is a `Lanes`: the k-th feature of each of those rows).  Every
operation that touches ``b[k]`` then becomes one vector operation over
``width`` pairs, and the user's loop over ``k`` keeps one accumulator per
pair instead of reducing each pair horizontally.

Only what is defined here types: arithmetic (``+ - * / **``, unary minus),
``abs``, ``min``/``max`` of two values, and ``sqrt``/``exp``/``log`` from
``math`` or NumPy on `Lanes`; indexing with an integer, ``len``, ``.shape``
and ``.size`` on the rows (array expressions on the rows, such as
``np.abs(a - b).sum()``, are `fastml._numba.array_expressions`).  Anything
else (a comparison or branch on a value, a loop over ``zip(a, b)``) fails
to type, and the caller runs the metric pair by pair instead.

Each lane follows the scalar rules: element types are Numba's own result
types for the scalar operation, ``min``/``max`` keep Python's NaN order,
powers follow Numba's (integer exponents must be literals >= 0), and
division raises ``ZeroDivisionError`` under Numba's default (Python) error
model when any divisor is zero: for the whole call, so a metric with a try
block must run pair by pair (the caller checks).  Indexing is bounds-checked
when Numba's is (``NUMBA_BOUNDSCHECK``).
"""
import math
import operator

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import (
    intrinsic,
    lower_cast,
    models,
    overload,
    overload_attribute,
    register_model,
)

from fastml._numba.numba_internals import (
    SAFE_CONVERSION,
    bounds_check,
    declare_function,
    entry_alloca,
    struct_proxy,
    unpack_tuple,
)

# Row pairs per metric call (see benchmarks/HISTORY.md for the sweep).
WIDTH = 16
SCALARS = (types.Float, types.Integer, types.Boolean)


class Lanes(types.Type):
    """`width` float values, one per row pair, held as one LLVM vector."""

    def __init__(self, dtype, width):
        self.dtype = dtype
        self.width = width
        super().__init__(name=f"Lanes({dtype} x {width})")

    def unify(self, typingctx, other):
        return lanes_type(typingctx, self, other)

    def can_convert_from(self, typingctx, other):
        other = types.unliteral(other)
        if isinstance(other, SCALARS):
            return SAFE_CONVERSION
        if isinstance(other, Lanes) and other.width == self.width:
            return SAFE_CONVERSION
        return None


class RowOfX(types.Type):
    """One row of X (``a`` in the metric): ``a[k]`` is a scalar."""

    def __init__(self, dtype):
        self.dtype = dtype
        super().__init__(name=f"RowOfX({dtype})")


class RowsOfY(types.Type):
    """`width` rows of Y stored feature-major (``b`` in the metric):
    ``b[k]`` is the `Lanes` of their k-th features."""

    def __init__(self, dtype, width):
        self.dtype = dtype
        self.width = width
        super().__init__(name=f"RowsOfY({dtype} x {width})")


@register_model(Lanes)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.width))


@register_model(RowOfX)
@register_model(RowsOfY)
class _RowsModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("data", types.CPointer(fe_type.dtype)), ("n", types.intp)]
        super().__init__(dmm, fe_type, members)


# ---------------------------------------------------------------- typing
def _element(typ):
    return typ.dtype if isinstance(typ, Lanes) else typ


def lanes_type(typingctx, x, y):
    """The `Lanes` type both `x` and `y` (lanes or scalars; at least one
    lanes) convert to: their unified element type, or None."""
    x, y = types.unliteral(x), types.unliteral(y)
    widths = {t.width for t in (x, y) if isinstance(t, Lanes)}
    if len(widths) != 1:
        return None
    if not all(isinstance(_element(t), SCALARS) for t in (x, y)):
        return None
    element = typingctx.unify_pairs(_element(x), _element(y))
    if not isinstance(element, types.Float):
        return None
    return Lanes(element, widths.pop())


def operation_type(typingctx, op, *args):
    """`Lanes` of Numba's own result type for ``op`` on the element types."""
    elements = tuple(_element(a) for a in args)
    sig = typingctx.resolve_function_type(op, elements, {})
    if sig is None or not isinstance(sig.return_type, types.Float):
        return None
    width = next(a.width for a in args if isinstance(a, Lanes))
    return Lanes(sig.return_type, width)


def _is_lanes_operand(typ):
    return isinstance(typ, Lanes) or isinstance(types.unliteral(typ), SCALARS)


def _involves_lanes(*args):
    return any(isinstance(a, Lanes) for a in args) and all(
        _is_lanes_operand(a) for a in args)


# ---------------------------------------------------------------- casts
def _splat(builder, value, vector_type):
    undef = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), None)
    return builder.shuffle_vector(first, undef, zeros)


@lower_cast(types.Float, Lanes)
@lower_cast(types.Integer, Lanes)
@lower_cast(types.Boolean, Lanes)
def _scalar_to_lanes(context, builder, fromty, toty, value):
    value = context.cast(builder, value, fromty, toty.dtype)
    return _splat(builder, value, context.get_value_type(toty))


@lower_cast(Lanes, Lanes)
def _lanes_to_lanes(context, builder, fromty, toty, value):
    target = context.get_value_type(toty)
    if fromty.dtype.bitwidth < toty.dtype.bitwidth:
        return builder.fpext(value, target)
    if fromty.dtype.bitwidth > toty.dtype.bitwidth:
        return builder.fptrunc(value, target)
    return value


def _as_lanes(context, builder, value, fromty, toty):
    return context.cast(builder, value, types.unliteral(fromty), toty)


# ---------------------------------------------------------------- arithmetic
def _any_zero(builder, vector):
    is_zero = builder.fcmp_ordered("==", vector, ir.Constant(vector.type, None))
    bits = builder.bitcast(is_zero, ir.IntType(vector.type.count))
    return builder.icmp_unsigned("!=", bits, ir.Constant(bits.type, 0))


def _binary_intrinsic(op, emit):
    @intrinsic
    def lanes_op(typingctx, x, y):
        result = operation_type(typingctx, op, x, y)
        if result is None:
            return None

        def codegen(context, builder, sig, args):
            a = _as_lanes(context, builder, args[0], sig.args[0], result)
            b = _as_lanes(context, builder, args[1], sig.args[1], result)
            return emit(context, builder, a, b)

        return result(x, y), codegen

    return lanes_op


def _checked_divide(context, builder, a, b):
    with builder.if_then(_any_zero(builder, b), likely=False):
        context.error_model.fp_zero_division(builder, ("division by zero",))
    return builder.fdiv(a, b)


def llvm_intrinsic(builder, name, *args):
    """Call LLVM's ``llvm.<name>`` on float scalars or vectors of floats."""
    typ = args[0].type
    element = typ.element if isinstance(typ, ir.VectorType) else typ
    suffix = "f64" if element == ir.DoubleType() else "f32"
    if isinstance(typ, ir.VectorType):
        suffix = f"v{typ.count}{suffix}"
    fnty = ir.FunctionType(typ, [a.type for a in args])
    fn = declare_function(builder.module, fnty, f"llvm.{name}.{suffix}")
    return builder.call(fn, args)


_BINARY = {
    operator.add: lambda c, b, x, y: b.fadd(x, y),
    operator.sub: lambda c, b, x, y: b.fsub(x, y),
    operator.mul: lambda c, b, x, y: b.fmul(x, y),
    operator.truediv: _checked_divide,
}
_INPLACE = {
    operator.iadd: operator.add,
    operator.isub: operator.sub,
    operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
}


def _register_binary(op, lanes_op, prefer_literal=False):
    @overload(op, prefer_literal=prefer_literal)
    def binary(x, y):
        if _involves_lanes(x, y):
            return lambda x, y: lanes_op(x, y)


for _op, _emit in _BINARY.items():
    _register_binary(_op, _binary_intrinsic(_op, _emit))
for _op, _plain in _INPLACE.items():
    _register_binary(_op, _binary_intrinsic(_plain, _BINARY[_plain]))

MAX_INTEGER_POWER = 64


def _vector_power(builder, base, p):
    """``base ** p`` for a vector ``base`` and a float64 scalar ``p``: one
    call of fastml's vectorised pow (``_kernels/vpow.h``: C's pow semantics,
    within 1 ulp) for all lanes, where ``llvm.pow`` would call libm's pow
    once per lane."""
    from fastml._kernels import _distances

    element = base.type.element
    address = _distances.pow_array_addresses()[0 if element == ir.DoubleType() else 1]
    pointer = element.as_pointer()
    function_type = ir.FunctionType(ir.VoidType(),
                                    [pointer, ir.DoubleType(), pointer, ir.IntType(64)])
    function = builder.inttoptr(ir.Constant(ir.IntType(64), address),
                                function_type.as_pointer())
    values, powers = entry_alloca(builder, base.type), entry_alloca(builder, base.type)
    builder.store(base, values)
    builder.call(function, [builder.bitcast(values, pointer), p,
                            builder.bitcast(powers, pointer),
                            ir.Constant(ir.IntType(64), base.type.count)])
    return builder.load(powers)


@intrinsic
def _lanes_power(typingctx, x, y):
    """``x ** y``: for a literal integer exponent in [0, 64] the same
    multiplications as Numba's scalar code (by squaring), for a float
    exponent ``llvm.pow`` as Numba's scalar code.  Other integer exponents
    (negative ones raise for a zero base) are left to the pair-by-pair
    kernel."""
    exponent = None
    if isinstance(y, types.IntegerLiteral):
        exponent = y.literal_value
        if not (isinstance(x, Lanes) and 0 <= exponent <= MAX_INTEGER_POWER):
            return None
    elif isinstance(types.unliteral(_element(y)), types.Integer):
        return None
    result = operation_type(typingctx, operator.pow, x, y)
    if result is None:
        return None

    def codegen(context, builder, sig, args):
        base = _as_lanes(context, builder, args[0], sig.args[0], result)
        if exponent is None and not isinstance(sig.args[1], Lanes):
            p = context.cast(builder, args[1], sig.args[1], types.float64)
            return _vector_power(builder, base, p)
        if exponent is None:
            power = _as_lanes(context, builder, args[1], sig.args[1], result)
            return llvm_intrinsic(builder, "pow", base, power)
        value = _as_lanes(context, builder, context.get_constant(types.float64, 1.0),
                          types.float64, result)
        remaining = exponent
        while remaining:
            if remaining & 1:
                value = builder.fmul(value, base)
            remaining >>= 1
            base = builder.fmul(base, base)
        return value

    return result(x, y), codegen


for _op in (operator.pow, operator.ipow, pow, math.pow):
    _register_binary(_op, _lanes_power, prefer_literal=True)


def _min_max_intrinsic(op, cmp):
    """Python's ``max(x, y)``: ``y`` if ``y > x`` else ``x`` (``<`` for
    min), as Numba's scalar builtin, NaN order included."""

    @intrinsic
    def lanes_op(typingctx, x, y):
        result = lanes_type(typingctx, x, y)
        if result is None:
            return None

        def codegen(context, builder, sig, args):
            a = _as_lanes(context, builder, args[0], sig.args[0], result)
            b = _as_lanes(context, builder, args[1], sig.args[1], result)
            return builder.select(builder.fcmp_ordered(cmp, b, a), b, a)

        return result(x, y), codegen

    @overload(op)
    def min_max(x, y):
        if _involves_lanes(x, y):
            return lambda x, y: lanes_op(x, y)


_min_max_intrinsic(max, ">")
_min_max_intrinsic(min, "<")


def _unary_intrinsic(functions, emit, typing_op):
    @intrinsic
    def lanes_op(typingctx, x):
        if not isinstance(x, Lanes):
            return None
        result = operation_type(typingctx, typing_op, x)
        if result is None:
            return None

        def codegen(context, builder, sig, args):
            value = _as_lanes(context, builder, args[0], sig.args[0], result)
            return emit(builder, value)

        return result(x), codegen

    for function in functions:
        @overload(function)
        def unary(x):
            if isinstance(x, Lanes):
                return lambda x: lanes_op(x)


_unary_intrinsic((operator.neg,), lambda b, x: b.fneg(x), operator.neg)
_unary_intrinsic((operator.pos,), lambda b, x: x, operator.pos)
_unary_intrinsic((abs, math.fabs, np.abs, np.absolute, np.fabs),
                 lambda b, x: llvm_intrinsic(b, "fabs", x), abs)
_unary_intrinsic((np.square,), lambda b, x: b.fmul(x, x), np.square)
for _name in ("sqrt", "exp", "log"):
    _unary_intrinsic(
        (getattr(math, _name), getattr(np, _name)),
        lambda b, x, _name=_name: llvm_intrinsic(b, _name, x),
        getattr(math, _name))


# ---------------------------------------------------------------- rows
def _row_index(context, builder, rows, index):
    """``index`` with Python's negative wrap-around, as Numba's arrays, and
    bounds-checked when Numba's are (``NUMBA_BOUNDSCHECK=1``)."""
    index = builder.sext(index, rows.n.type) if index.type.width < 64 else index
    negative = builder.icmp_signed("<", index, ir.Constant(index.type, 0))
    index = builder.select(negative, builder.add(index, rows.n), index)
    if context.enable_boundscheck:
        bounds_check(context, builder, index, rows.n)
    return index


@intrinsic
def row_item(typingctx, row, index):
    if not (isinstance(row, RowOfX) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        rows = struct_proxy(sig.args[0], context, builder, args[0])
        k = _row_index(context, builder, rows, args[1])
        return builder.load(builder.gep(rows.data, [k]))

    return row.dtype(row, index), codegen


@intrinsic
def lane_item(typingctx, block, index):
    if not (isinstance(block, RowsOfY) and isinstance(index, types.Integer)):
        return None
    result = Lanes(block.dtype, block.width)

    def codegen(context, builder, sig, args):
        rows = struct_proxy(sig.args[0], context, builder, args[0])
        k = _row_index(context, builder, rows, args[1])
        start = builder.gep(rows.data, [builder.mul(k, ir.Constant(k.type, result.width))])
        vector = context.get_value_type(result)
        return builder.load(builder.bitcast(start, vector.as_pointer()),
                            align=context.get_abi_sizeof(context.get_value_type(result.dtype)))

    return result(block, index), codegen


@intrinsic
def rows_length(typingctx, rows):
    if not isinstance(rows, (RowOfX, RowsOfY)):
        return None

    def codegen(context, builder, sig, args):
        return struct_proxy(sig.args[0], context, builder, args[0]).n

    return types.intp(rows), codegen


@overload(operator.getitem)
def _getitem(rows, index):
    if isinstance(index, types.Integer):
        if isinstance(rows, RowOfX):
            return lambda rows, index: row_item(rows, index)
        if isinstance(rows, RowsOfY):
            return lambda rows, index: lane_item(rows, index)


@overload(len)
def _len(rows):
    if isinstance(rows, (RowOfX, RowsOfY)):
        return lambda rows: rows_length(rows)


for _type in (RowOfX, RowsOfY):
    overload_attribute(_type, "shape")(lambda rows: lambda rows: (rows_length(rows),))
    overload_attribute(_type, "size")(lambda rows: lambda rows: rows_length(rows))


# ---------------------------------------------------------------- kernel side
@intrinsic
def row_of_x(typingctx, X, i):
    """``X[i]`` of a C-contiguous 2-D array as a `RowOfX`."""
    result = RowOfX(X.dtype)

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        stride = unpack_tuple(builder, array.strides)[0]
        offset = builder.mul(args[1], stride)
        start = builder.gep(builder.bitcast(array.data, ir.IntType(8).as_pointer()), [offset])
        row = struct_proxy(result, context, builder)
        row.data = builder.bitcast(start, row.data.type)
        row.n = unpack_tuple(builder, array.shape)[1]
        return row._getvalue()

    return result(X, types.intp), codegen


@intrinsic
def rows_of_y(typingctx, buffer, start, n_features, width):
    """The block of `buffer` from `start`: `n_features` x `width` values,
    feature-major, as a `RowsOfY`."""
    if not isinstance(width, types.IntegerLiteral):
        return None
    result = RowsOfY(buffer.dtype, width.literal_value)

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        rows = struct_proxy(result, context, builder)
        rows.data = builder.gep(array.data, [args[1]])
        rows.n = args[2]
        return rows._getvalue()

    return result(buffer, types.intp, types.intp, width), codegen


@intrinsic
def lane(typingctx, value, index):
    """Element `index` of `value` (a `Lanes`, or a scalar for every lane)."""
    if isinstance(value, Lanes):
        def codegen(context, builder, sig, args):
            return builder.extract_element(args[0], args[1])

        return value.dtype(value, index), codegen
    if isinstance(types.unliteral(value), SCALARS):
        scalar = types.unliteral(value)

        def codegen(context, builder, sig, args):
            return args[0]

        return scalar(value, index), codegen
    return None


@intrinsic
def _store_vector(typingctx, out, i, j, value):
    """``out[i, j:j + width] = value`` for a C-contiguous 2-D `out`."""
    if not (isinstance(out, types.Array) and isinstance(value, Lanes)):
        return None
    stored = Lanes(out.dtype, value.width)

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        row = builder.mul(args[1], unpack_tuple(builder, array.strides)[0])
        start = builder.gep(builder.bitcast(array.data, ir.IntType(8).as_pointer()), [row])
        start = builder.gep(builder.bitcast(start, array.data.type), [args[2]])
        vector = context.cast(builder, args[3], sig.args[3], stored)
        builder.store(vector, builder.bitcast(start, vector.type.as_pointer()),
                      align=context.get_abi_sizeof(context.get_value_type(out.dtype)))
        return context.get_dummy_value()

    return types.none(out, types.intp, types.intp, value), codegen


def store(out, i, j, value, count):
    """``out[i, j + l] = value[l]`` for ``l < count`` (a scalar `value`
    fills them all); `out` C-contiguous.  Called from compiled code only."""


@overload(store)
def _store(out, i, j, value, count):
    if isinstance(value, Lanes):
        width = value.width

        def store_lanes(out, i, j, value, count):
            if count == width:
                _store_vector(out, i, j, value)
            else:
                for l in range(count):
                    out[i, j + l] = lane(value, l)

        return store_lanes
    if isinstance(types.unliteral(value), SCALARS):
        def store_scalar(out, i, j, value, count):
            for l in range(count):
                out[i, j + l] = value

        return store_scalar
