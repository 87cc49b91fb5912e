"""Array expressions on the rows of the lanes kernel, without temporaries.

In the lanes kernel (`fastml._numba.lanes`) a metric written with NumPy
array expressions, such as ``np.abs(a - b).sum()`` or
``np.sqrt(((a - b) ** 2).sum())``, sees ``a`` as a `RowOfX` and ``b`` as a
`RowsOfY`.  An elementwise operation on them builds an `Elementwise` value:
the operation and its operands, nothing computed.  A reduction (``sum``,
``mean``, ``max``, ``min``, ``np.dot``, ``np.linalg.norm``) then runs one
loop over the features that evaluates the whole expression at each k, so
``np.abs(a - b).sum()`` compiles to the same code as the explicit loop.

Elementwise: ``+ - * /``, ``**`` (float or non-negative literal integer
exponent), unary minus, ``abs``, ``np.abs``/``np.fabs``/``np.sqrt``/
``np.exp``/``np.log``/``np.square``; operands are the rows, other
expressions, 1-D arrays (e.g. weights in a closure) and scalars.  Division
follows NumPy (no exception; inf or nan), as Numba's array expressions do.
Reductions follow Numba's array methods: ``sum`` adds in order from zero of
the element type, ``max``/``min`` return NaN if any element is NaN and raise
``ValueError`` on no features.  Anything else fails to type and the metric
runs pair by pair.
"""
import functools
import math
import operator

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import (
    intrinsic,
    models,
    overload,
    overload_attribute,
    overload_method,
    register_jitable,
    register_model,
)

from fastml._numba.lanes import (
    SCALARS,
    Lanes,
    RowOfX,
    RowsOfY,
    lane_item,
    lanes_type,
    llvm_intrinsic,
    operation_type,
    row_item,
    rows_length,
)
from fastml._numba.numba_internals import borrowed_result, struct_proxy


class Elementwise(types.Type):
    """``operation`` applied feature by feature to ``operands``, unevaluated."""

    def __init__(self, operation, operands):
        self.operation = operation
        self.operands = operands
        name = getattr(operation, "__name__", repr(operation))
        super().__init__(name=f"Elementwise({name}, {', '.join(map(str, operands))})")


@register_model(Elementwise)
class _ElementwiseModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [(f"operand{i}", t) for i, t in enumerate(fe_type.operands)]
        super().__init__(dmm, fe_type, members)


def _is_vector(typ):
    """A value with one element per feature."""
    return isinstance(typ, (RowOfX, RowsOfY, Elementwise)) or (
        isinstance(typ, types.Array) and typ.ndim == 1
        and isinstance(typ.dtype, (types.Float, types.Integer)))


def _is_scalar(typ):
    """A value with one element for all features: a number, or a `Lanes`
    (one number per pair, e.g. a sum computed earlier in the metric)."""
    return isinstance(typ, Lanes) or isinstance(types.unliteral(typ), SCALARS)


def _is_operand(typ):
    return _is_vector(typ) or _is_scalar(typ)


def _involves_rows(*args):
    """True for operations this module defines: on at least one row or
    expression, with every argument a vector or a scalar."""
    return any(isinstance(a, (RowOfX, RowsOfY, Elementwise)) for a in args) and all(
        _is_operand(a) for a in args)


def _element_type(typingctx, vector):
    """The scalar type of the elements of a vector value."""
    if isinstance(vector, Elementwise):
        sig = typingctx.resolve_function_type(at, (vector, types.intp), {})
        return None if sig is None else _element_type(typingctx, sig.return_type)
    return getattr(vector, "dtype", vector)


def _stored_type(typingctx, operand, operands):
    """How an expression holds `operand`: as NumPy and Numba's array
    expressions do, an integer or boolean number next to a float vector
    takes the vector's float type (``2 * a`` stays float32 for float32
    rows); everything else as it is."""
    operand = types.unliteral(operand)
    if isinstance(operand, (types.Integer, types.Boolean)):
        for other in operands:
            if _is_vector(other):
                element = _element_type(typingctx, other)
                if isinstance(element, types.Float):
                    return element
    return operand


def _expression_intrinsic(operation, arity):
    """An intrinsic that builds ``Elementwise(operation, operands)``."""

    def typer(typingctx, *operands):
        stored = tuple(_stored_type(typingctx, t, operands) for t in operands)
        result = Elementwise(operation, stored)

        def codegen(context, builder, sig, args):
            expression = struct_proxy(result, context, builder)
            for i, (value, fromty) in enumerate(zip(args, sig.args)):
                setattr(expression, f"operand{i}", context.cast(builder, value, fromty, stored[i]))
            return borrowed_result(context, builder, result, expression._getvalue())

        return result(*operands), codegen

    if arity == 1:
        return intrinsic(lambda typingctx, x: typer(typingctx, x))
    return intrinsic(lambda typingctx, x, y: typer(typingctx, x, y))


@intrinsic
def _operand(typingctx, expression, index):
    if not (isinstance(expression, Elementwise) and isinstance(index, types.IntegerLiteral)):
        return None
    position = index.literal_value
    result = expression.operands[position]

    def codegen(context, builder, sig, args):
        proxy = struct_proxy(sig.args[0], context, builder, args[0])
        return borrowed_result(context, builder, result, getattr(proxy, f"operand{position}"))

    return result(expression, index), codegen


@intrinsic
def _divide(typingctx, x, y):
    """``x / y`` in floating point without a zero check (NumPy's rule)."""
    scalar = not (isinstance(x, Lanes) or isinstance(y, Lanes))
    if scalar:
        sig = typingctx.resolve_function_type(operator.truediv, (x, y), {})
        result = sig.return_type if sig is not None else None
    else:
        result = operation_type(typingctx, operator.truediv, x, y)
    if not isinstance(result, (types.Float, Lanes)):
        return None

    def codegen(context, builder, sig, args):
        a = context.cast(builder, args[0], types.unliteral(sig.args[0]), result)
        b = context.cast(builder, args[1], types.unliteral(sig.args[1]), result)
        return builder.fdiv(a, b)

    return result(x, y), codegen


@numba.njit
def _square(x):
    return x * x


@functools.lru_cache(maxsize=None)
def _integer_power(exponent):
    """``x ** exponent`` for a fixed exponent, typed as a literal (the lanes
    power then multiplies as Numba's scalar code does)."""

    @numba.njit
    def power(x):
        return x ** exponent

    power.__name__ = f"power_{exponent}"
    return power


def at(value, k):
    """Element `k` of a row, expression, 1-D array or scalar (compiled code only)."""


@overload(at)
def _at(value, k):
    # A vector of one element broadcasts, as in NumPy: its element 0 for any
    # k.  (k * step, not a select: the loop then steps its index by `step`.)
    if isinstance(value, RowOfX):
        return lambda value, k: row_item(value, k * (rows_length(value) != 1))
    if isinstance(value, RowsOfY):
        return lambda value, k: lane_item(value, k * (rows_length(value) != 1))
    if isinstance(value, types.Array):
        return lambda value, k: value[k * (len(value) != 1)]
    if _is_scalar(value):
        return lambda value, k: value
    if isinstance(value, Elementwise):
        operation = value.operation
        if len(value.operands) == 1:
            return lambda value, k: operation(at(_operand(value, 0), k))
        return lambda value, k: operation(at(_operand(value, 0), k), at(_operand(value, 1), k))


def length(value):
    """Features of a vector value, -1 for a scalar (compiled code only)."""


@overload(length)
def _length(value):
    if isinstance(value, (RowOfX, RowsOfY)):
        return lambda value: rows_length(value)
    if isinstance(value, types.Array):
        return lambda value: len(value)
    if _is_scalar(value):
        return lambda value: -1
    if isinstance(value, Elementwise):
        if len(value.operands) == 1:
            return lambda value: length(_operand(value, 0))

        def binary_length(value):
            # NumPy's broadcasting of 1-D operands: equal lengths, or one of 1
            n0 = length(_operand(value, 0))
            n1 = length(_operand(value, 1))
            if n0 == 1 or n0 == -1:
                return n1 if n1 != -1 else n0
            if n1 == 1 or n1 == -1 or n1 == n0:
                return n0
            raise ValueError("operands could not be broadcast together")

        return binary_length


# ---------------------------------------------------------------- building
def _register_binary(functions, operation):
    build = _expression_intrinsic(operation, 2)
    for function in functions:
        @overload(function)
        def binary(x, y):
            if _involves_rows(x, y):
                return lambda x, y: build(x, y)


_register_binary((operator.add, np.add), operator.add)
_register_binary((operator.sub, np.subtract), operator.sub)
_register_binary((operator.mul, np.multiply), operator.mul)
_register_binary((operator.truediv, np.divide, np.true_divide), _divide)
_float_power = _expression_intrinsic(operator.pow, 2)


def _power(x, y):
    """``x ** y``: a float exponent, or an integer one known at compile time
    and >= 0 (a negative one raises for a zero base in Numba)."""
    if not _involves_rows(x, y):
        return None
    if isinstance(y, types.IntegerLiteral) and y.literal_value >= 0:
        build = _expression_intrinsic(_integer_power(y.literal_value), 1)
        return lambda x, y: build(x)
    if isinstance(types.unliteral(y), types.Float) or _is_vector(y):
        return lambda x, y: _float_power(x, y)
    return None


for _function in (operator.pow, np.power):
    overload(_function, prefer_literal=True)(_power)


def _register_unary(functions, operation):
    build = _expression_intrinsic(operation, 1)
    for function in functions:
        @overload(function)
        def unary(x):
            if _involves_rows(x):
                return lambda x: build(x)


_register_unary((operator.neg, np.negative), operator.neg)
_register_unary((abs, np.abs, np.absolute, np.fabs), abs)
_register_unary((np.sqrt,), np.sqrt)
_register_unary((np.exp,), np.exp)
_register_unary((np.log,), np.log)
_register_unary((np.square,), _square)


# ---------------------------------------------------------------- reductions
@intrinsic
def _zero(typingctx, value):
    """0 of the element type of `value` (its scalar type: the sum's start)."""
    element = _element_type(typingctx, value)
    if element is None:
        return None
    if not isinstance(element, types.Float):
        element = types.float64

    def codegen(context, builder, sig, args):
        return context.get_constant(element, 0)

    return element(value), codegen


@intrinsic
def _nan_first_max(typingctx, x, y):
    """max(x, y), NaN if either is NaN (NumPy's max over an array)."""
    return _choose(typingctx, x, y, ">")


@intrinsic
def _nan_first_min(typingctx, x, y):
    return _choose(typingctx, x, y, "<")


def _float_pair(typingctx, x, y, emit):
    """Typing and lowering of ``emit(builder, a, b)`` on two floats or lanes,
    both cast to their unified type first."""
    if isinstance(x, Lanes) or isinstance(y, Lanes):
        result = lanes_type(typingctx, x, y)
    else:
        result = typingctx.unify_pairs(types.unliteral(x), types.unliteral(y))
    if not isinstance(result, (Lanes, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        a = context.cast(builder, args[0], types.unliteral(sig.args[0]), result)
        b = context.cast(builder, args[1], types.unliteral(sig.args[1]), result)
        return emit(builder, a, b)

    return result(x, y), codegen


def _choose(typingctx, x, y, cmp):
    def emit(builder, a, b):
        keep = builder.or_(builder.fcmp_unordered("uno", a, a), builder.fcmp_ordered(cmp, a, b))
        return builder.select(keep, a, b)

    return _float_pair(typingctx, x, y, emit)


@register_jitable
def _sum(value):
    total = _zero(value)
    for k in range(length(value)):
        total += at(value, k)
    return total


@register_jitable
def _mean(value):
    return _divide(_sum(value), length(value))     # nan for no features, as NumPy


def _extreme(choose, name):
    """NumPy's ``max`` or ``min`` over the features, by `choose`."""
    message = f"zero-size array to reduction operation {name} which has no identity"

    @register_jitable
    def extreme(value):
        n = length(value)
        if n <= 0:
            raise ValueError(message)
        best = at(value, 0)
        for k in range(1, n):
            best = choose(best, at(value, k))
        return best

    return extreme


_max = _extreme(_nan_first_max, "maximum")
_min = _extreme(_nan_first_min, "minimum")


_product = _expression_intrinsic(operator.mul, 2)


@register_jitable
def _dot(x, y):
    return _sum(_product(x, y))


@intrinsic
def _usable_scale(typingctx, scale):
    """`scale` where it is positive and finite, else 1 (lanes or scalar)."""
    if not isinstance(scale, (Lanes, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        value = args[0]
        one = ir.Constant(value.type, 1.0 if not isinstance(value.type, ir.VectorType)
                          else [1.0] * value.type.count)
        infinity = ir.Constant(value.type, math.inf if not isinstance(value.type, ir.VectorType)
                               else [math.inf] * value.type.count)
        usable = builder.and_(builder.fcmp_ordered(">", value, ir.Constant(value.type, None)),
                              builder.fcmp_ordered("<", value, infinity))
        return builder.select(usable, value, one)

    return scale(scale), codegen


@intrinsic
def _square_add(typingctx, x, total):
    """``x * x + total`` as one fused operation, which fast-math flags
    cannot reassociate (they could turn ``(x / s) ** 2`` into
    ``x ** 2 / s ** 2``, undoing the scaling in `_norm`)."""
    return _float_pair(typingctx, x, total,
                       lambda builder, a, b: llvm_intrinsic(builder, "fma", a, a, b))


_quotient = _expression_intrinsic(_divide, 2)
_magnitude = _expression_intrinsic(abs, 1)


@register_jitable
def _norm(value):
    # sqrt(sum(x**2)) scaled by max|x| so that neither the squares nor their
    # sum overflow or underflow, as BLAS nrm2 (Numba's norm) does not
    scale = _usable_scale(_max(_magnitude(value)))
    scaled = _quotient(value, scale)
    total = _zero(value)
    for k in range(length(value)):
        total = _square_add(at(scaled, k), total)
    return scale * np.sqrt(total)


def _is_row_value(value):
    return isinstance(value, (RowOfX, RowsOfY, Elementwise))


def _when_row_value(implementation):
    """An overload typer that returns `implementation` for rows and expressions."""
    def typer(value):
        if _is_row_value(value):
            return implementation
    return typer


def _method(implementation):
    return lambda value: implementation


for _function, _implementation in ((np.sum, _sum), (np.mean, _mean), (np.max, _max),
                                   (np.amax, _max), (np.min, _min), (np.amin, _min),
                                   (np.linalg.norm, _norm)):
    overload(_function)(_when_row_value(_implementation))
for _type in (RowOfX, RowsOfY, Elementwise):
    for _name, _implementation in (("sum", _sum), ("mean", _mean), ("max", _max),
                                   ("min", _min)):
        overload_method(_type, _name)(_method(_implementation))
overload(np.dot)(lambda x, y: _dot if _involves_rows(x, y) and _is_vector(x)
                 and _is_vector(y) else None)
overload(len)(lambda value: (lambda value: length(value))
              if isinstance(value, Elementwise) else None)
overload_attribute(Elementwise, "shape")(lambda value: lambda value: (length(value),))
overload_attribute(Elementwise, "size")(lambda value: lambda value: length(value))
