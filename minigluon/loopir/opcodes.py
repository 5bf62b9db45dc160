"""The loop IR's vocabulary: every operation an :class:`~minigluon.loopir.Expr` can hold,
and the named groups passes and code generation ask instead of keeping lists of their own.

Registry lowerings may still name an op by its printed name (``x.map("exp")``): the name
is turned into its ``Ops`` member when the expression is built, so an ``Expr`` only ever
holds members.
"""
from __future__ import annotations

from enum import Enum


class Ops(Enum):
    """A loop-IR operation; its value is the name printed in the loop IR."""

    # leaves: a constant, a loop index, an element of a buffer
    CONST = "const"
    VAR = "var"
    LOAD = "load"
    # integer index arithmetic (int64): what bounds() knows the range of
    AFFINE = "affine"  # sum(coef * atom) + c
    IDIV = "idiv"  # floor division by a positive constant
    IMOD = "imod"  # Python's modulo by a positive constant
    PICKIDX = "pickidx"  # a label as an index into [0, n), clipped or wrapped
    ONEHOTIDX = "onehotidx"  # a label as a column in [0, n), or -1
    # unary floating-point math
    NEG = "neg"
    EXP = "exp"
    EXPM1 = "expm1"
    LOG = "log"
    LOG1P = "log1p"
    LOG1P_UNIT = "log1p_unit"  # log1p on [0, 1] only (softplus)
    TANH = "tanh"
    SIGMOID = "sigmoid"
    SQRT = "sqrt"
    ABS = "abs"
    FLOOR = "floor"
    CEIL = "ceil"
    TRUNC = "trunc"
    ROUND = "round"
    SIN = "sin"
    COS = "cos"
    # binary arithmetic
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    POW = "pow"
    MOD = "mod"  # MXNet's: the divisor's sign
    MAX = "max"
    MIN = "min"
    # comparisons (bool results)
    LT = "lt"
    LE = "le"
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    # logic on bools
    AND = "and"
    OR = "or"
    NOT = "not"
    ISNAN = "isnan"
    # the rest: a select, a dtype conversion, a reduction loop
    WHERE = "where"
    CAST = "cast"
    REDUCE = "reduce"  # args: (combining op, body, reduced loop variables)


class GroupOp:
    """Named sets of :class:`Ops`; each op is in exactly one of the ``KINDS``."""

    Leaf = frozenset({Ops.CONST, Ops.VAR})  # no code of its own: printed in place
    Memory = frozenset({Ops.LOAD})
    Index = frozenset({Ops.AFFINE, Ops.IDIV, Ops.IMOD, Ops.PICKIDX, Ops.ONEHOTIDX})
    Unary = frozenset({Ops.NEG, Ops.EXP, Ops.EXPM1, Ops.LOG, Ops.LOG1P, Ops.LOG1P_UNIT,
                       Ops.TANH, Ops.SIGMOID, Ops.SQRT, Ops.ABS, Ops.FLOOR, Ops.CEIL,
                       Ops.TRUNC, Ops.ROUND, Ops.SIN, Ops.COS})
    Binary = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.POW, Ops.MOD, Ops.MAX, Ops.MIN})
    Compare = frozenset({Ops.LT, Ops.LE, Ops.EQ, Ops.NE, Ops.GT, Ops.GE})
    Logic = frozenset({Ops.AND, Ops.OR, Ops.NOT, Ops.ISNAN})
    Other = frozenset({Ops.WHERE, Ops.CAST, Ops.REDUCE})
    KINDS = (Leaf, Memory, Index, Unary, Binary, Compare, Logic, Other)

    # ops compiled kernels compute in floating point only: numpy's integer versions wrap,
    # divide in float64 or change dtype
    FloatOnly = Unary | frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.POW, Ops.MOD})
    # float16 expressions that need no arithmetic: code generation loads, stores, selects
    # and converts float16 values as they are
    Float16AsIs = frozenset({Ops.CONST, Ops.LOAD, Ops.CAST, Ops.WHERE})
    # what a reduction may combine its elements with
    Reduce = frozenset({Ops.ADD, Ops.MUL, Ops.MAX, Ops.MIN})


# a reduction by its registry name, and back (``reduce_sum`` in the printed loop IR)
REDUCE_BY_NAME = {"sum": Ops.ADD, "prod": Ops.MUL, "max": Ops.MAX, "min": Ops.MIN}
REDUCE_NAME = {op: name for name, op in REDUCE_BY_NAME.items()}


def as_op(op: Ops | str) -> Ops:
    """op as an ``Ops`` member; a name is looked up by the name the loop IR prints."""
    if op.__class__ is Ops:
        return op  # type: ignore[return-value]
    try:
        return Ops(op)
    except ValueError:
        raise ValueError(f"{op!r} is not a loop-IR op") from None
