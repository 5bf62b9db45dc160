"""The loop IR: scalar expressions over loop indices, and lazy tensors that build them.

Every registry op lowers to a :class:`Lazy` tensor: a shape, a dtype and a function from
an index tuple (one integer expression per dimension) to the scalar :class:`Expr` of the
element there.  Evaluating the fused graph at the output's loop indices yields one
expression DAG; hash-consing makes equal sub-expressions the same object, so a reduction
used by every element of a row (log_softmax's max) is built once and hoisted by codegen.
Each node's op is a member of :class:`Ops` (``opcodes.py``, with its named groups), and
``repr`` prints a node's DAG in SSA form, each shared node once.

Integer index expressions are kept in affine form and simplified with range analysis, so
the common cases (broadcast, reshape of contiguous data, transposes) compile to plain
``i * stride + j`` arithmetic that LLVM can vectorize; every load's index range is checked
against its buffer before code is generated.

float16 is a storage type: :func:`float16_in_float32` rewrites every float16 operation into
float32 arithmetic whose result is rounded to float16, as numpy's float16 ufuncs compute.
"""
from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Callable

import numpy as np

from ..base import CompileError, postorder
from .opcodes import REDUCE_BY_NAME, REDUCE_NAME, GroupOp, Ops, as_op

FLOAT = ("float16", "float32", "float64")  # narrowest first
# the integer dtypes kernels compute in, and their ranges; uint8 and bool are unsigned
INT_RANGE = {"bool": (0, 1), "uint8": (0, 255), "int8": (-128, 127),
             "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1)}
UNSIGNED = ("bool", "uint8")


class Expr:
    """A hash-consed scalar expression node: ``op`` (an :class:`Ops` member; a printed name
    is converted), ``args`` (Exprs or Python constants), ``dtype``.

    Building the same (op, args, dtype) while the first node lives returns that node, so
    equal sub-expressions are one object and ``is`` compares them.  The table holds its
    nodes weakly: a node nothing else refers to disappears from it, and no compile has to
    clear it.
    """

    __slots__ = ("args", "dtype", "op", "__weakref__")
    _interned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def __new__(cls, op: Ops | str, args: tuple, dtype: str):
        if op.__class__ is not Ops:
            op = as_op(op)
        # 0.0 == -0.0 as dict keys: a float constant is keyed by its text, which keeps the sign
        key = (op, args if op is not Ops.CONST else (repr(args[0]),), dtype)
        found = cls._interned.get(key)
        if found is not None:
            return found
        self = super().__new__(cls)
        self.op, self.args, self.dtype = op, args, dtype
        cls._interned[key] = self
        return self

    def __repr__(self) -> str:
        """A leaf as its name or value; any other node in SSA form, one line per node of its
        DAG (a shared sub-expression once), the node itself last."""
        if self.op in GroupOp.Leaf:
            return leaf_text(self)
        return "\n".join(f"{name} = {text} : {e.dtype}" for name, e, text in ssa_form(self))

    def children(self) -> tuple:
        """Sub-expressions, including those inside tuple arguments (affine terms, reduce vars)."""
        out, stack = [], list(self.args)
        while stack:
            a = stack.pop(0)
            if isinstance(a, Expr):
                out.append(a)
            elif isinstance(a, tuple):
                stack[:0] = list(a)
        return tuple(out)


def leaf_text(e: Expr) -> str:
    """A constant or loop index as the loop IR prints it in place."""
    return str(e.args[0]) if e.op is Ops.VAR else repr(e.args[0])


def node_text(e: Expr, ref: Callable[[object], str]) -> str:
    """The right-hand side of e's SSA line, its operands named by ``ref``."""
    op = e.op
    if op is Ops.AFFINE:
        terms, c = e.args
        return " + ".join(sorted(ref(t) if k == 1 else f"{k}*{ref(t)}" for t, k in terms) +
                          ([str(c)] if c else []))
    if op is Ops.LOAD:
        return f"load buf{e.args[0]}[{ref(e.args[1])}]"
    if op is Ops.REDUCE:
        by, body, rvars = e.args
        return f"reduce_{REDUCE_NAME[by]}({ref(body)}) over {', '.join(map(ref, rvars))}"
    return f"{op.value}({', '.join(ref(a) for a in e.args)})"


def ssa_form(root: Expr, var_names: dict | None = None) -> list[tuple[str, Expr, str]]:
    """(``%k``, node, right-hand side) for every node of root's DAG but leaves, operands
    first: each shared node once, so the text grows with the DAG, not with its tree.
    Loop variables print as var_names names them, by default by their own names."""
    names: dict[Expr, str] = dict(var_names or {})

    def ref(a) -> str:
        if not isinstance(a, Expr):
            return repr(a)
        if a.op in GroupOp.Leaf:
            return names.get(a) or leaf_text(a)
        return names[a]

    out = []
    for e in walk(root):
        if e.op in GroupOp.Leaf:
            continue
        names[e] = f"%{len(out)}"
        out.append((names[e], e, node_text(e, ref)))
    return out


def loop_names(root: Expr) -> dict[Expr, str]:
    """Each reduction variable of root -> ``r{k}_{axis}``, k the reduction's position in
    ``walk(root)``: a kernel lowered twice (``explain`` prints its loop IR, then generates
    its LLVM IR) gets the same names both times, whatever lowered before it."""
    names: dict[Expr, str] = {}
    k = 0
    for e in walk(root):
        if e.op is Ops.REDUCE:
            for i, v in enumerate(e.args[2]):
                if v not in names:  # "r{lazy uid}_{axis}", as Lazy.reduce names it
                    head, _, axis = v.args[0].rpartition("_")
                    names[v] = f"r{k}_{axis}" if head else f"r{k}_{i}"
            k += 1
    return names


# --- integer index expressions -------------------------------------------------------------
_var_ids = itertools.count()


def var(extent: int, name: str | None = None) -> Expr:
    """A loop index ranging over [0, extent)."""
    return Expr(Ops.VAR, (name or f"i{next(_var_ids)}", int(extent)), "int64")


def const(value, dtype: str) -> Expr:
    """A constant, converted as numpy's astype converts it where that is exact.

    An integer constant out of its dtype's range is refused: numpy wraps a scalar operand
    (``uint8 > -1`` compares with 255) but clips in float64 (``clip(uint8, -1, 300)``), and
    the expression no longer tells which.
    """
    if dtype == "float16":
        with np.errstate(over="ignore"):  # past 65504 numpy's float16 is inf, and so is ours
            value = float(np.float16(value))
    elif dtype in FLOAT:
        value = float(value)
    elif dtype == "bool":
        value = bool(value)
    elif dtype in INT_RANGE:
        if not _fits(value, dtype):
            raise CompileError(f"the constant {value!r} has no exact {dtype} value")
        value = int(value)
    else:
        raise CompileError(f"{dtype} values are not supported by compiled kernels")
    return Expr(Ops.CONST, (value,), dtype)


def _fits(value, dtype: str) -> bool:
    """Whether value converts to dtype as truncation alone (no NaN, wrap or saturation)."""
    if dtype in FLOAT or dtype == "bool":
        return True
    lo, hi = INT_RANGE[dtype]
    return math.isfinite(value) and lo <= int(value) <= hi


def iconst(v: int) -> Expr:
    return affine({}, int(v))


def affine(terms: dict, c: int) -> Expr:
    """Canonical ``sum(coef * atom) + c``; an affine form of one atom with coef 1 is the atom."""
    terms = {a: k for a, k in terms.items() if k != 0}
    if not terms:
        return Expr(Ops.CONST, (int(c),), "int64")
    if c == 0 and len(terms) == 1:
        (atom, k), = terms.items()
        if k == 1:
            return atom
    items = tuple(sorted(terms.items(), key=lambda t: id(t[0])))
    return Expr(Ops.AFFINE, (items, int(c)), "int64")


def as_affine(e: Expr) -> tuple[dict, int]:
    if e.op is Ops.CONST and e.dtype == "int64":
        return {}, e.args[0]
    if e.op is Ops.AFFINE:
        return dict(e.args[0]), e.args[1]
    return {e: 1}, 0


def iadd(*xs) -> Expr:
    terms: dict = {}
    c = 0
    for x in xs:
        t, k = as_affine(x if isinstance(x, Expr) else iconst(x))
        c += k
        for a, coef in t.items():
            terms[a] = terms.get(a, 0) + coef
    return affine(terms, c)


def imul(x: Expr, k: int) -> Expr:
    t, c = as_affine(x)
    return affine({a: coef * k for a, coef in t.items()}, c * k)


def bounds(e: Expr) -> tuple[int, int]:
    """Inclusive (lo, hi) of an integer expression."""
    op = e.op
    if op is Ops.VAR:
        return 0, e.args[1] - 1
    if op is Ops.CONST:
        return e.args[0], e.args[0]
    if op is Ops.AFFINE:
        lo = hi = e.args[1]
        for atom, k in e.args[0]:
            a, b = bounds(atom)
            lo += min(k * a, k * b)
            hi += max(k * a, k * b)
        return lo, hi
    if op is Ops.IDIV:
        a, b = bounds(e.args[0])
        return a // e.args[1], b // e.args[1]
    if op is Ops.IMOD:
        a, b = bounds(e.args[0])
        m = e.args[1]
        return (a, b) if 0 <= a and b < m else (0, m - 1)
    if op is Ops.PICKIDX:  # clipped or wrapped into [0, n)
        return 0, e.args[1] - 1
    if op is Ops.ONEHOTIDX:  # a column, or -1 for none
        return -1, e.args[1] - 1
    raise ValueError(f"no integer bounds for {op.value}")


# _EMPTY: a stride or extent of 0 belongs to an array with no elements, so an index
# divided by it is never evaluated; x itself keeps its loop variables, among them one
# of extent 0, which tells codegen's bounds check the load never happens.


def idiv(x: Expr, m: int) -> Expr:
    """Floor division by a positive constant, simplified when the range allows."""
    if m == 1 or m == 0:  # 0: see _EMPTY
        return x
    t, c = as_affine(x)
    lo, hi = bounds(x)
    if lo >= 0 and hi < m:
        return iconst(0)
    # terms with coefficients divisible by m pass through; the rest must stay in [0, m)
    whole = {a: k // m for a, k in t.items() if k % m == 0}
    rest = affine({a: k for a, k in t.items() if k % m}, c % m)
    rlo, rhi = bounds(rest)
    if rlo >= 0 and rhi < m:
        return iadd(affine(whole, c // m))
    return Expr(Ops.IDIV, (x, m), "int64")


def imod(x: Expr, m: int) -> Expr:
    if m == 0:
        return x  # see _EMPTY
    if m == 1:
        return iconst(0)
    t, c = as_affine(x)
    rest = affine({a: k for a, k in t.items() if k % m}, c % m)
    lo, hi = bounds(rest)
    if lo >= 0 and hi < m:
        return rest
    return Expr(Ops.IMOD, (rest, m), "int64")


def strides_of(shape: tuple) -> tuple:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def ravel(idx: tuple, shape: tuple) -> Expr:
    return iadd(*[imul(i, s) for i, s in zip(idx, strides_of(shape))], 0)


def unravel(flat: Expr, shape: tuple) -> tuple:
    return tuple(imod(idiv(flat, s), d) for s, d in zip(strides_of(shape), shape))


# --- scalar value expressions ----------------------------------------------------------------
# the float operations folded when every operand is a constant
_FOLD = {Ops.ADD: lambda a, b: a + b, Ops.SUB: lambda a, b: a - b, Ops.MUL: lambda a, b: a * b}


def _fold(op: Ops, xs: tuple):
    vals = [x.args[0] for x in xs]
    if op in _FOLD and all(isinstance(v, float) for v in vals):
        return _FOLD[op](*vals)
    return None


def alu(op: Ops | str, *xs: Expr, dtype: str | None = None) -> Expr:
    """A scalar operation; constants fold and x*1, x+0 vanish."""
    op = as_op(op)
    dt = dtype or xs[0].dtype
    if all(x.op is Ops.CONST for x in xs):
        v = _fold(op, xs)
        if v is not None:
            return const(v, dt)
    if (op is Ops.ADD or op is Ops.SUB) and xs[1].op is Ops.CONST and xs[1].args[0] == 0 and (
            dt not in FLOAT or op is Ops.SUB and math.copysign(1, xs[1].args[0]) > 0):
        return xs[0]  # but x + 0 is not x for x = -0 in floats
    if op is Ops.MUL:
        for a, b in (xs, xs[::-1]):
            if b.op is Ops.CONST and b.args[0] == 1:
                return a
    return Expr(op, tuple(xs), dt)


def cast(x: Expr, dtype: str) -> Expr:
    if x.dtype == dtype:
        return x
    if x.op is Ops.CONST and dtype in (*FLOAT, *INT_RANGE) and _fits(x.args[0], dtype):
        return const(x.args[0], dtype)
    return Expr(Ops.CAST, (x,), dtype)


def where(cond: Expr, a: Expr, b: Expr) -> Expr:
    if cond.op is Ops.CONST:
        return a if cond.args[0] else b
    return Expr(Ops.WHERE, (cond, a, b), a.dtype)


def cmp(op: Ops | str, a: Expr, b: Expr) -> Expr:
    """A comparison (one of ``GroupOp.Compare``): a bool."""
    return Expr(op, (a, b), "bool")


def reduce_expr(op: Ops | str, body: Expr, rvars: tuple) -> Expr:
    """body combined by op (one of ``GroupOp.Reduce``, or its name: ``"sum"``, ``"prod"``,
    ``"max"``, ``"min"``) over every value of the loop variables rvars."""
    by = REDUCE_BY_NAME[op] if op in REDUCE_BY_NAME else as_op(op)
    if by not in GroupOp.Reduce:
        raise ValueError(f"a reduction cannot combine with {by.value}")
    return Expr(Ops.REDUCE, (by, body, tuple(rvars)), body.dtype)


def load(buf: int, index: Expr, dtype: str) -> Expr:
    """The element at index (an int64 expression) of buffer slot buf."""
    return Expr(Ops.LOAD, (buf, index), dtype)


# --- lazy tensors ------------------------------------------------------------------------------
class Lazy:
    """A tensor defined by ``fn(index tuple) -> Expr``; what every op lowering returns."""

    _ids = itertools.count()

    def __init__(self, shape: tuple, dtype: str, fn: Callable[[tuple], Expr]):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.fn = fn
        self.uid = next(Lazy._ids)

    def __call__(self, idx: tuple) -> Expr:
        return self.fn(tuple(idx))

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    # construction
    @staticmethod
    def buffer(buf: int, shape: tuple, dtype: str) -> Lazy:
        return Lazy(shape, dtype, lambda idx: load(buf, ravel(idx, shape), dtype))

    @staticmethod
    def full(shape: tuple, value: float, dtype: str) -> Lazy:
        c = const(value, dtype)
        return Lazy(shape, dtype, lambda idx: c)

    # views
    def broadcast_to(self, shape: tuple) -> Lazy:
        shape = tuple(shape)
        if shape == self.shape:
            return self
        lead = len(shape) - len(self.shape)
        src = self.shape

        def fn(idx):
            return self(tuple(iconst(0) if d == 1 else i for i, d in zip(idx[lead:], src)))
        return Lazy(shape, self.dtype, fn)

    def reshape(self, shape: tuple) -> Lazy:
        shape = tuple(shape)
        if shape == self.shape:
            return self
        src = self.shape
        return Lazy(shape, self.dtype, lambda idx: self(unravel(ravel(idx, shape), src)))

    def permute(self, perm: tuple) -> Lazy:
        inv = [0] * len(perm)
        for k, p in enumerate(perm):
            inv[p] = k
        shape = tuple(self.shape[p] for p in perm)
        return Lazy(shape, self.dtype, lambda idx: self(tuple(idx[inv[d]] for d in range(len(perm)))))

    def slice(self, starts: tuple, steps: tuple, shape: tuple) -> Lazy:
        def fn(idx):
            return self(tuple(iadd(imul(i, st), s0) for i, s0, st in zip(idx, starts, steps)))
        return Lazy(shape, self.dtype, fn)

    # math
    def map(self, op: Ops | str, *others: Lazy, dtype: str | None = None) -> Lazy:
        """Elementwise op with numpy broadcasting over self and others."""
        op = as_op(op)
        shape = self.shape
        for o in others:
            shape = _broadcast(shape, o.shape)
        parts = [t.broadcast_to(shape) for t in (self, *others)]
        out_dtype = dtype or self.dtype
        arg_dtype = out_dtype if out_dtype != "bool" else _promoted(self, *others) if others \
            else self.dtype
        return Lazy(shape, out_dtype, lambda idx: alu(
            op, *[cast(p(idx), arg_dtype) for p in parts], dtype=out_dtype))

    def reduce(self, op: Ops | str, axes: tuple, keepdims: bool) -> Lazy:
        """op (``"sum"``, ``"prod"``, ``"max"``, ``"min"`` or one of ``GroupOp.Reduce``)
        over axes."""
        by = REDUCE_BY_NAME.get(op) or as_op(op)
        axes = tuple(sorted(axes))
        kept = [d for d in range(len(self.shape)) if d not in axes]
        out_shape = tuple(1 if d in axes else n for d, n in enumerate(self.shape)) if keepdims \
            else tuple(self.shape[d] for d in kept) or (1,)
        uid = self.uid

        # one var per reduced axis of this reduction; each reduce expression binds them anew
        rvars = tuple(Expr(Ops.VAR, (f"r{uid}_{a}", self.shape[a]), "int64") for a in axes)

        looped = tuple(v for v in rvars if v.args[1] != 1)  # an axis of extent 1 needs no loop

        def fn(idx):
            outer = [idx[d] for d in kept] if keepdims else list(idx[:len(kept)])
            full, it_o, it_r = [], iter(outer), iter(rvars)
            for d in range(len(self.shape)):
                full.append(next(it_r) if d in axes else next(it_o))
            full = [iconst(0) if x.op is Ops.VAR and x.args[1] == 1 and x in rvars else x
                    for x in full]
            body = self(tuple(full))
            if looped:
                return reduce_expr(by, body, looped)
            # one element is still added to 0: -0 sums to +0, as numpy's and MXNet's
            return alu(Ops.ADD, body, const(0, body.dtype)) if by is Ops.ADD and body.dtype in FLOAT \
                else body
        return Lazy(out_shape, self.dtype, fn)

    def gather(self, axis: int, index: Lazy, mode: str, keepdims: bool) -> Lazy:
        """``pick``: self[..., index[...], ...] along axis, index clipped or wrapped."""
        n = self.shape[axis]
        kept = tuple(d for i, d in enumerate(self.shape) if i != axis)
        out_shape = self.shape[:axis] + (1,) + self.shape[axis + 1:] if keepdims else kept or (1,)
        index = index.reshape(kept)  # the index may carry the picked axis as a 1

        def fn(idx):
            rest = tuple(idx[:axis]) + tuple(idx[axis + 1:]) if keepdims else tuple(idx)
            rest = rest if kept else ()
            raw = index(rest)
            k = Expr(Ops.PICKIDX, (raw, n, mode), "int64")
            full = tuple(rest[:axis]) + (k,) + tuple(rest[axis:])
            value = self(full)
            if raw.dtype in FLOAT:  # a NaN label gives NaN, as the reference kernel
                value = where(Expr(Ops.ISNAN, (raw,), "bool"), const(math.nan, self.dtype), value)
            return value
        return Lazy(out_shape, self.dtype, fn)


def _broadcast(a: tuple, b: tuple) -> tuple:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(max(x, y) if 0 not in (x, y) else 0)
    return tuple(out)


def walk(root: Expr) -> list:
    """Every expression reachable from root, children before parents."""
    return postorder([root], Expr.children)


def float16_in_float32(root: Expr) -> Expr:
    """root with every float16 operation done as numpy does it: float16 operands widened to
    float32 (exactly), the operation in float32, a float16 result rounded once; reductions
    accumulate in float32.  Code generation then meets float16 only in loads, stores,
    constants, selects and casts."""
    nodes = walk(root)
    if not any(e.dtype == "float16" for e in nodes):
        return root
    new: dict[Expr, Expr] = {}

    def rebuilt(a):
        if isinstance(a, Expr):
            return new[a]
        return tuple(rebuilt(x) for x in a) if isinstance(a, tuple) else a

    def wide(a):
        return cast(a, "float32") if isinstance(a, Expr) and a.dtype == "float16" else a

    for e in nodes:
        args = tuple(rebuilt(a) for a in e.args)
        dtypes = (e.dtype, *(a.dtype for a in args if isinstance(a, Expr)))
        if e.op in GroupOp.Float16AsIs or "float16" not in dtypes:
            new[e] = Expr(e.op, args, e.dtype)
            continue
        args = tuple(map(wide, args))  # a reduction's body too: sums accumulate in float32
        if e.dtype == "float16":
            new[e] = cast(Expr(e.op, args, "float32"), "float16")
        else:
            new[e] = Expr(e.op, args, e.dtype)
    return new[root]


# --- building blocks for the registry's lowerings -------------------------------------------
def unary(op: Ops | str) -> Callable:
    op = as_op(op)
    return lambda attrs, x: x.map(op)


def binary(op: Ops | str) -> Callable:
    op = as_op(op)
    return lambda attrs, a, b: a.map(op, b, dtype=_promoted(a, b))


def compare(op: Ops | str) -> Callable:
    """A comparison gives 0/1 in the operands' dtype, as MXNet's."""
    op = as_op(op)
    def lower(attrs, a, b):
        dt = _promoted(a, b)
        test = a.map(op, b, dtype="bool")
        one, zero = const(1, dt), const(0, dt)
        return Lazy(test.shape, dt, lambda idx: where(test(idx), one, zero))
    return lower


def scalar(op: Ops | str, reverse: bool = False) -> Callable:
    """``x op scalar`` (or ``scalar op x``), the scalar in x's dtype."""
    op = as_op(op)
    def lower(attrs, x):
        s = Lazy.full((), attrs["scalar"], x.dtype)
        if op in GroupOp.Compare:
            return compare(op)(attrs, *((s, x) if reverse else (x, s)))
        return (s.map(op, x) if reverse else x.map(op, s)).broadcast_to(x.shape)
    return lower


def _promoted(*xs: Lazy) -> str:
    """numpy's result dtype, as the registry's: uint8 with int8 is int16, which codegen
    refuses, and int32 with float32 is float64."""
    return np.result_type(*(x.dtype for x in xs)).name

