"""Pass 5, codegen: lower each kernel of the schedule to loop-IR expressions, then to
LLVM IR.

A kernel is a loop nest over its output's shape (the outermost loop runs from ``start``
to ``end``, so threads can split it).  The element expression is built by evaluating the
fused ops' lowerings at the loop indices.  Each sub-expression is emitted at the
outermost loop where all its indices are known: a row's max is computed once per row,
before the loop over the row's elements.  A reduction becomes its own loop, placed
where its result is first needed.  Elementwise floating-point ops carry no fast-math
flag, so each result is rounded as numpy rounds it: with ``contract``, LLVM would fuse
``x * s - max(x * s)`` into an FMA whose unrounded product makes the top class of
log_softmax 4 instead of 0 at logits near 1e8.  Sums carry ``reassoc`` so LLVM may
vectorize them; products do not, as overflow depends on their order (1e30 * 1e30 * 0).

LLVM integers have no sign: uint8 and bool (``UNSIGNED``) are zero-extended, compared and
converted to float as unsigned, everything else as signed.  float16 values are LLVM ``half``
in memory only: ``loopir.float16_in_float32`` turns each float16 operation into float32
arithmetic rounded to float16, so kernels load (``fpext``), select, convert and store
(``fptrunc``) halves and compute in float32.  Integer arithmetic other than
comparisons, max/min, casts and reductions is not lowered (the graph then runs on numpy).

Each loop-IR op becomes LLVM IR through one table, ``_RULES`` (op -> rule), at the end of
this module.  Loops, accumulators and values carry the names the printed loop IR uses
(``%"o0"``, ``r1_1.head``, ``%"max"``, ``%"exp"``), so the two stages of ``minigluon
explain`` read side by side.
"""
from __future__ import annotations

import math

from llvmlite import ir

from ..loopir import (
    FLOAT,
    INT_RANGE,
    REDUCE_NAME,
    UNSIGNED,
    Expr,
    GroupOp,
    Lazy,
    Ops,
    bounds,
    cast,
    float16_in_float32,
    loop_names,
    ravel,
    var,
    walk,
)
from . import mathlib
from .errors import CompileError
from .executable import DATA_OFFSET
from .extern import extern_kernel
from .graph import Graph
from .kernel_print import format_kernel
from .schedule import Schedule

SUM_FM = ("reassoc", "nsz")  # the only fast-math flags: see the module docstring
I64 = ir.IntType(64)
F32 = ir.FloatType()
_TYPES = {"float16": ir.HalfType(), "float32": F32, "float64": ir.DoubleType(), "int64": I64,
          "int32": ir.IntType(32), "int8": ir.IntType(8), "uint8": ir.IntType(8),
          "bool": ir.IntType(1)}
_STORAGE = {**_TYPES, "bool": ir.IntType(8)}  # numpy stores bool in one byte
# a float32 sum longer than this accumulates in float64 (as numpy's pairwise sum, it
# keeps long reductions accurate)
F64_ACCUMULATE_ABOVE = 1 << 16


def lower_kernel(G: Graph, root: int, slot_of: dict) -> Lazy:
    """The root node's value as a lazy tensor over stored buffers."""
    memo: dict[tuple, Lazy] = {}

    def lower(n: int, out: int = 0) -> Lazy:
        if (n, out) in memo:
            return memo[(n, out)]
        d = G[n]
        if n != root and (n, out) in slot_of:
            lt = Lazy.buffer(slot_of[(n, out)], d.shapes[out], d.dtypes[out])
        elif out != 0:
            raise CompileError(f"output {out} of {d.op.name} is not stored")
        else:
            args = [lower(u, k) for u, k in d.inputs]
            try:
                lt = d.op.lower(d.op.full_attrs(d.attrs), *args)
            except CompileError as e:
                raise CompileError(f"{_described(G, n)}: {e}") from None
            if lt is None:
                raise CompileError(f"{_described(G, n)} has no compiled form with these attributes")
            if lt.shape != tuple(d.shape):
                raise CompileError(f"lowering of {d.op.name} gave shape {lt.shape}, "
                                   f"expected {d.shape}")
            if lt.dtype != d.dtype:
                src = lt
                lt = Lazy(src.shape, d.dtype, lambda idx, s=src, t=d.dtype: cast(s(idx), t))
        memo[(n, out)] = lt
        return lt
    return lower(root)


class _Level:
    """One loop of the nest: the index variables it binds (merged reductions bind several
    to the same counter), that counter, and the block where code at this level goes."""

    __slots__ = ("block", "cache", "value", "vars")

    def __init__(self, var_exprs, value, block):
        self.vars = frozenset(v for v in var_exprs if v is not None)
        self.value, self.block = value, block
        self.cache: dict = {}


class KernelEmitter:
    """Emits one kernel: loops over the output, expressions placed at their loop level."""

    def __init__(self, fn: ir.Function, ptrs: dict, entry: ir.Block, loop_names: dict):
        self.fn = fn
        self.loop_names = loop_names  # reduction variable -> its name in the printed loop IR
        self.ptrs = ptrs  # buffer slot -> typed pointer
        self.levels = [_Level((), None, entry)]
        self.free: dict[Expr, frozenset] = {}
        self.reductions: list[Expr] = []  # every reduction of the kernel, for merging

    # -- placement --------------------------------------------------------------------
    def free_vars(self, e: Expr) -> frozenset:
        got = self.free.get(e)
        if got is None:
            if e.op is Ops.VAR:
                got = frozenset([e])
            else:
                got = frozenset().union(*[self.free_vars(c) for c in e.children()]) \
                    if e.children() else frozenset()
                if e.op is Ops.REDUCE:
                    got = got - frozenset(e.args[2])
            self.free[e] = got
        return got

    def level_of(self, e: Expr) -> int | None:
        fv = self.free_vars(e)
        lv = 0
        bound: set = set()
        for i, level in enumerate(self.levels):
            if level.vars & fv:
                lv = i
            bound |= level.vars
        return lv if fv <= bound else None

    def builder(self, lv: int) -> ir.IRBuilder:
        return ir.IRBuilder(self.levels[lv].block)

    # -- loops --------------------------------------------------------------------------
    def open_loop(self, var_expr, name: str):
        """Blocks and induction phi of a counted loop; the caller links its entry.  name is
        the loop IR's name of its index (``o0``, ``r7_1``), so the LLVM IR reads against it."""
        blocks = [self.fn.append_basic_block(f"{name}.{part}")
                  for part in ("head", "body", "latch", "exit")]
        header, body, latch, _ = blocks
        i = ir.IRBuilder(header).phi(I64, name=name)
        b = ir.IRBuilder(latch)
        i.add_incoming(b.add(i, ir.Constant(I64, 1), flags=["nsw"], name=f"{name}.next"), latch)
        b.branch(header)
        vars_ = var_expr if isinstance(var_expr, tuple) else (var_expr,)
        self.levels.append(_Level(vars_, i, body))
        return blocks, i

    @staticmethod
    def loop_test(blocks, i, end) -> None:
        header, body, _, exit_ = blocks
        b = ir.IRBuilder(header)
        b.cbranch(b.icmp_signed("<", i, end, name=f"{i.name}.more"), body, exit_)

    # -- expressions ----------------------------------------------------------------------
    def emit(self, e: Expr):
        lv = self.level_of(e)
        if lv is None:
            raise CompileError(f"expression uses an index outside its loop: {e}")
        cached = self.levels[lv].cache.get(e)
        if cached is not None:
            return cached
        if e.op is Ops.VAR:
            return self.levels[lv].value
        if e.op is Ops.REDUCE:
            value = self.emit_reduce(e, lv)
        else:
            for c in e.children():  # operands first: a reduction may move this level's block
                self.emit(c)
            value = _named(self.instr(self.builder(lv), e), e.op.value)
        self.levels[lv].cache[e] = value
        return value

    def hoist(self, body: Expr) -> None:
        """Emit every part of body computable at the current loops, before a deeper loop."""
        for sub in walk(body):
            if sub.op not in GroupOp.Leaf and self.level_of(sub) is not None:
                self.emit(sub)

    def siblings(self, e: Expr, lv: int) -> list[Expr]:
        """Reductions not yet emitted that can share e's loops: same extents, computable at
        the same level, and neither needing the other (CosineEmbeddingLoss's dot product
        and two norms then read each row once)."""
        extents = tuple(v.args[1] for v in e.args[2])
        group = [e]
        for r in self.reductions:
            if r is e or any(r in lvl.cache for lvl in self.levels) or \
                    tuple(v.args[1] for v in r.args[2]) != extents or self.level_of(r) != lv:
                continue
            inside = {id(x) for x in walk(r.args[1])}
            if any(id(g) in inside for g in group) or any(
                    id(r) in {id(x) for x in walk(g.args[1])} for g in group):
                continue
            group.append(r)
        return group

    def emit_reduce(self, e: Expr, lv: int):
        group = self.siblings(e, lv)
        for r in group:
            self.hoist(r.args[1])
        accs = []
        for op, body, rvars in (r.args for r in group):
            long_sum = op is Ops.ADD and math.prod(v.args[1] for v in rvars) > F64_ACCUMULATE_ABOVE
            acc_dtype = "float64" if body.dtype == "float32" and long_sum else body.dtype
            accs.append((acc_dtype, _identity(op, acc_dtype)))
        # the loop goes where its result is first computable: at level lv, whose block
        # runs before any deeper output loop (those are entered only when the kernel closes)
        deeper = self.levels[lv + 1:]
        del self.levels[lv + 1:]
        if self.levels[lv].block.is_terminated:
            raise CompileError("internal: a reduction could not be placed before its loop")
        loops = []
        acc_in = [init for _, init in accs]
        for k in range(len(e.args[2])):
            depth = len(self.levels) - 1
            pre = self.levels[depth].block
            rvar = e.args[2][k]
            blocks, i = self.open_loop(tuple(r.args[2][k] for r in group),
                                       self.loop_names.get(rvar, rvar.args[0]))
            ir.IRBuilder(pre).branch(blocks[0])
            i.add_incoming(ir.Constant(I64, 0), pre)
            phis = []
            for r, (acc_dtype, _), start in zip(group, accs, acc_in):
                phi = ir.IRBuilder(blocks[0]).phi(_TYPES[acc_dtype], name=REDUCE_NAME[r.args[0]])
                phi.add_incoming(start, pre)
                phis.append(phi)
            self.loop_test(blocks, i, ir.Constant(I64, e.args[2][k].args[1]))
            loops.append((blocks, phis, depth))
            acc_in = phis
            for r in group:  # what depends on this loop's index but not on the next one
                self.hoist(r.args[1])
        values = [self.emit(r.args[1]) for r in group]
        b = self.builder(len(self.levels) - 1)
        new = []
        for r, (acc_dtype, _), acc, value in zip(group, accs, acc_in, values):
            if acc_dtype != r.args[1].dtype:
                value = b.fpext(value, _TYPES[acc_dtype])
            new.append(_named(_combine(b, r.args[0], acc, value, acc_dtype), f"{acc.name}.next"))
        for blocks, phis, depth in reversed(loops):
            cursor = self.levels.pop()
            ir.IRBuilder(cursor.block).branch(blocks[2])
            for phi, v in zip(phis, new):
                phi.add_incoming(v, blocks[2])
            self.levels[depth].block = blocks[3]
            new = phis
        results = []
        for r, (acc_dtype, _), phi in zip(group, accs, loops[0][1]):
            res = phi
            if acc_dtype != r.args[1].dtype:
                res = self.builder(lv).fptrunc(res, _TYPES[r.args[1].dtype], name=phi.name)
            self.levels[lv].cache[r] = res
            results.append(res)
        self.levels.extend(deeper)
        return results[0]

    def instr(self, b: ir.IRBuilder, e: Expr):
        """The LLVM value of e, its operands already emitted: ``_RULES[e.op]`` builds it."""
        why = refusal(e)
        if why:
            raise CompileError(why)
        if e.dtype == "float16" and e.op not in GroupOp.Float16AsIs:
            raise CompileError(f"internal: float16 {e.op.value} was not widened to float32")
        rule = _RULES.get(e.op)
        if rule is None:
            raise CompileError(f"no code generation for loop-IR op {e.op.value!r} ({e.dtype})")
        operands = [self.emit(c) if isinstance(c, Expr) else c for c in e.args]
        return rule(self, b, e, operands)

    def load(self, b: ir.IRBuilder, e: Expr, operands: list):
        slot, index = e.args
        raw = b.load(b.gep(self.ptrs[slot], [operands[1]], inbounds=True, name=f"buf{slot}.addr"))
        if e.dtype == "bool":  # stored as a byte
            raw.name = f"buf{slot}.byte"
            return b.icmp_unsigned("!=", raw, ir.Constant(raw.type, 0))
        return raw

    def affine(self, b: ir.IRBuilder, e: Expr, operands: list):
        terms, c = e.args
        acc = ir.Constant(I64, c) if c else None
        for atom, k in terms:
            v = self.emit(atom)
            term = v if k == 1 else b.mul(v, ir.Constant(I64, k), flags=["nsw"])
            acc = term if acc is None else b.add(acc, term, flags=["nsw"])
        return acc

    def cast(self, b: ir.IRBuilder, x, src: str, dst: str):
        if src == "float16":  # exact in float32, and the x86 conversions need no library call
            x, src = b.fpext(x, F32), "float32"
        if dst == "float16" and src != "float32":
            # an integer is exact in float32 up to 2^24, far past float16's 65504; float64
            # is rounded to odd first, so that rounding to float16 is still a single rounding
            x = _round_to_odd_float(b, x) if src == "float64" else self.cast(b, x, src, "float32")
            src = "float32"
        st, dt_ = _TYPES[src], _TYPES[dst]
        if src == dst:
            return x
        if src in FLOAT and dst in FLOAT:
            return b.fpext(x, dt_) if FLOAT.index(dst) > FLOAT.index(src) else b.fptrunc(x, dt_)
        if dst in FLOAT:
            return b.uitofp(x, dt_) if src in UNSIGNED else b.sitofp(x, dt_)
        if dst == "bool":
            if src in FLOAT:
                return b.fcmp_unordered("!=", x, ir.Constant(st, 0.0))
            return b.icmp_unsigned("!=", x, ir.Constant(st, 0))
        if src in FLOAT:
            return _float_to_int(b, x, dt_)
        if st.width == dt_.width:
            return x
        if st.width > dt_.width:
            return b.trunc(x, dt_)
        return b.zext(x, dt_) if src in UNSIGNED else b.sext(x, dt_)

    def one_hot_index(self, b: ir.IRBuilder, e: Expr, raw):
        """A label as a column in [0, depth), or -1 when NaN, negative or too large."""
        src, depth = e.args
        # the reference kernel's astype(int64), compared in integers: no float bound to round
        k = _to_int64(b, raw, src.dtype)
        ok = b.and_(b.icmp_signed(">=", k, ir.Constant(I64, 0)),
                    b.icmp_signed("<", k, ir.Constant(I64, depth)))
        return b.select(ok, k, ir.Constant(I64, -1))

    def pick_index(self, b: ir.IRBuilder, e: Expr, raw):
        """A label value as a row index that can never leave [0, n): as MXNet's, the label
        is cast to int32 first (ops.nn.label_index says how)."""
        src, n, mode = e.args
        # clipped or wrapped in integers: a float bound would round (float32(2^24 + 3) is
        # 2^24 + 4, one past the end of a row of 2^24 + 4)
        i32 = ir.IntType(32)
        if src.dtype in FLOAT:
            k = b.sext(_float_to_int(b, raw, i32), I64)
        else:
            k = _to_int64(b, b.trunc(raw, i32) if raw.type.width > 32 else raw, src.dtype)
        if mode == "clip":
            zero, top = ir.Constant(I64, 0), ir.Constant(I64, n - 1)
            k = b.select(b.icmp_signed("<", k, zero), zero, k)
            return b.select(b.icmp_signed(">", k, top), top, k)
        r = b.srem(k, ir.Constant(I64, n))
        return b.select(b.icmp_signed("<", r, ir.Constant(I64, 0)),
                        b.add(r, ir.Constant(I64, n)), r)


def _to_int64(b: ir.IRBuilder, raw, dtype: str):
    """A value of dtype as numpy's ``astype(int64)`` gives it."""
    if dtype in FLOAT:
        return _float_to_int(b, raw, I64)
    if raw.type.width == 64:
        return raw
    return b.zext(raw, I64) if dtype in UNSIGNED else b.sext(raw, I64)


def _float_to_int(b: ir.IRBuilder, x, ty: ir.IntType):
    """x as numpy's astype gives it on x86-64: the CPU's truncating conversion to int32
    (int64 for int64), whose result for NaN and out-of-range values is the most negative
    integer, then the low bits (300.0 -> uint8 44, -1.0 -> 255, 1e10 -> 0).  fptosi itself
    would be poison there, so only in-range values reach it.  Elsewhere numpy saturates:
    only in-range values (those that fit ty) are the same on every machine."""
    wide = I64 if ty.width == 64 else ir.IntType(32)
    bound = float(1 << (wide.width - 1))
    ok = b.and_(b.fcmp_ordered(">=", x, ir.Constant(x.type, -bound)),
                b.fcmp_ordered("<", x, ir.Constant(x.type, bound)))
    v = b.fptosi(b.select(ok, x, ir.Constant(x.type, 0.0)), wide)
    v = b.select(ok, v, ir.Constant(wide, -(1 << (wide.width - 1))))
    return b.trunc(v, ty) if ty.width < wide.width else v


def refusal(e: Expr) -> str | None:
    """Why compiled kernels cannot compute e, in plain words; None when they can."""
    if e.dtype not in _TYPES:
        return f"{e.dtype} values are not supported by compiled kernels"
    if e.dtype not in FLOAT and e.op in GroupOp.FloatOnly:
        return (f"compiled kernels compare, convert and reduce integers but do not "
                f"{e.op.value} them ({e.dtype})")
    return None


def _described(G: Graph, n: int) -> str:
    """A node as a user knows it: its op and its inputs' dtypes."""
    dtypes = [G.type_of(ref)[1] for ref in G[n].inputs]
    return f"{G[n].op.name}({', '.join(dtypes)})"


def _blamed(G: Graph, root: int, slot_of: dict, err: CompileError) -> CompileError:
    """err naming the op whose lowering holds the expression code generation refused: each
    op of the kernel is lowered alone, inputs first (only when compiling failed)."""
    kernel = G.upstream(root)
    for n in G.topo_order():
        if n not in kernel or G[n].is_input or (n != root and (n, 0) in slot_of):
            continue
        try:
            lazy = lower_kernel(G, n, slot_of)
        except CompileError as e:
            return e
        idx = tuple(var(d) for d in lazy.shape)
        for e in walk(float16_in_float32(lazy(idx))):
            why = refusal(e)
            if why:
                return CompileError(f"{_described(G, n)}: {why}")
    return err


def _round_to_odd_float(b: ir.IRBuilder, x):
    """float64 x as float32, rounded toward zero with the last bit set when inexact ("round
    to odd"): float32 keeps 13 more bits than float16, so rounding this to float16 gives
    float16(x), as numpy's.  LLVM's direct fptrunc to half would call __truncdfhf2."""
    f = b.fptrunc(x, F32)
    back = b.fpext(f, x.type)
    bits = b.bitcast(f, ir.IntType(32))
    # nearest rounding went away from zero: one step back in magnitude (the bits are
    # sign and magnitude), then mark the value inexact
    away = b.fcmp_ordered(">", call_intrinsic(b, "llvm.fabs", back), call_intrinsic(b, "llvm.fabs", x))
    bits = b.select(away, b.sub(bits, ir.Constant(bits.type, 1)), bits)
    inexact = b.fcmp_ordered("!=", back, x)
    bits = b.select(inexact, b.or_(bits, ir.Constant(bits.type, 1)), bits)
    return b.bitcast(bits, F32)


def _mxnet_mod(b: ir.IRBuilder, x, y):
    """MXNet's mod: fmod(x, y), plus y where x and y have opposite signs and the remainder
    is not 0; x mod 0 is 0.  frem is exact, so the one rounding is that of the addition,
    as MXNet's (it adds in double, then rounds to float32: 53 bits are enough for that to
    be the float32 sum).  No flag: -0 + 0 must stay +0, as MXNet's."""
    zero = ir.Constant(x.type, 0.0)
    r = b.frem(x, y)
    flip = b.xor(b.fcmp_ordered("<", x, zero), b.fcmp_ordered("<", y, zero))
    shifted = b.fadd(r, b.select(b.fcmp_unordered("!=", r, zero), y, zero))
    return b.select(b.fcmp_ordered("==", y, zero), zero, b.select(flip, shifted, r))


def _int_constant(ty: ir.IntType, v) -> ir.Constant:
    """An integer constant in ty's bits (uint8 200 is i8 -56)."""
    v = int(v) & ((1 << ty.width) - 1)
    return ir.Constant(ty, v - (1 << ty.width) if ty.width > 1 and v >> (ty.width - 1) else v)


def _extreme(b: ir.IRBuilder, op: Ops, x, y, dtype: str):
    """max or min; floats propagate NaN (llvm.maximum), integers compare by their sign."""
    if dtype in FLOAT:
        return call_intrinsic(b, "llvm.maximum" if op is Ops.MAX else "llvm.minimum", x, y)
    icmp = b.icmp_unsigned if dtype in UNSIGNED else b.icmp_signed
    return b.select(icmp(">" if op is Ops.MAX else "<", x, y), x, y)


def _elementwise_extreme(b: ir.IRBuilder, op: Ops, x, y):
    """Float maximum or minimum as numpy's and MXNet's: NaN wins, and of two equal values
    the second (maximum(0, -0) is -0, relu(-0) is 0), where llvm.maximum takes +0."""
    first = b.or_(b.fcmp_ordered(">" if op is Ops.MAX else "<", x, y), b.fcmp_unordered("uno", x, x))
    return b.select(first, x, y)


def _identity(op: Ops, dtype: str) -> ir.Constant:
    """The starting value of a reduction combining with op (one of ``GroupOp.Reduce``)."""
    ty = _TYPES[dtype]
    if dtype in FLOAT:
        return ir.Constant(ty, {Ops.ADD: 0.0, Ops.MUL: 1.0, Ops.MAX: -math.inf,
                                Ops.MIN: math.inf}[op])
    lo, hi = INT_RANGE[dtype]
    return _int_constant(ty, {Ops.ADD: 0, Ops.MUL: 1, Ops.MAX: lo, Ops.MIN: hi}[op])


def _combine(b: ir.IRBuilder, op: Ops, acc, value, dtype: str):
    """One step of a reduction.  Integer sums and products wrap, as numpy's (which sums
    uint8 in uint64, then casts back); a bool sum is ``any`` and a product ``all``."""
    if op is Ops.MAX or op is Ops.MIN:
        return _extreme(b, op, acc, value, dtype)
    add = op is Ops.ADD
    if dtype in FLOAT:  # a product in order, as numpy's and MXNet's
        return b.fadd(acc, value, flags=SUM_FM) if add else b.fmul(acc, value)
    if dtype == "bool":
        return (b.or_ if add else b.and_)(acc, value)
    return (b.add if add else b.mul)(acc, value)


def _named(value, name: str):
    """value, called name in the LLVM IR if the builder left it unnamed (llvmlite appends
    ``.1``, ``.2`` to repeated names): the IR then reads against the loop IR."""
    if isinstance(value, ir.Instruction) and value.name[:1] == ".":
        value.name = name
    return value


def call_intrinsic(b: ir.IRBuilder, name: str, *args):
    """Call an overloaded floating-point intrinsic (unary or binary) on args of one type."""
    ty = args[0].type
    fn = b.module.declare_intrinsic(name, [ty], ir.FunctionType(ty, [ty] * len(args)))
    return b.call(fn, list(args))


# --- the rules: how each loop-IR op becomes LLVM IR -------------------------------------------
# One table from op to a rule ``rule(emitter, builder, expr, operand values) -> value`` and
# one loop over a kernel's values (KernelEmitter.emit), as tinygrad's LLVM renderer: ops that
# are one builder call or one call are entries of the small tables below; the others
# (casts, index arithmetic, comparisons, max/min) are named functions.

_BUILDER_CALL = {Ops.ADD: "fadd", Ops.SUB: "fsub", Ops.MUL: "fmul", Ops.DIV: "fdiv",
                 Ops.NEG: "fneg", Ops.WHERE: "select", Ops.AND: "and_", Ops.OR: "or_",
                 Ops.NOT: "not_"}
# polynomials written in IR (mathlib.py): no libm call, so their loops vectorize
_MATHLIB = {Ops.EXP: mathlib.emit_exp, Ops.EXPM1: mathlib.emit_expm1, Ops.LOG: mathlib.emit_log,
            Ops.LOG1P: mathlib.emit_log1p, Ops.TANH: mathlib.emit_tanh,
            Ops.SIGMOID: mathlib.emit_sigmoid, Ops.LOG1P_UNIT: mathlib.emit_log1p_unit}
# sin, cos and pow become calls to libm (resolved in this process when the code is loaded)
_INTRINSIC = {Ops.SQRT: "llvm.sqrt", Ops.ABS: "llvm.fabs", Ops.FLOOR: "llvm.floor",
              Ops.CEIL: "llvm.ceil", Ops.TRUNC: "llvm.trunc", Ops.ROUND: "llvm.round",
              Ops.SIN: "llvm.sin", Ops.COS: "llvm.cos", Ops.POW: "llvm.pow"}
_PREDICATE = {Ops.LT: "<", Ops.LE: "<=", Ops.EQ: "==", Ops.NE: "!=", Ops.GT: ">", Ops.GE: ">="}


def _builder_call(method: str):
    return lambda em, b, e, a: getattr(b, method)(*a)


def _mathlib_call(emit_fn):
    return lambda em, b, e, a: emit_fn(b, a[0])


def _intrinsic_call(name: str):
    return lambda em, b, e, a: call_intrinsic(b, name, *a)


def _const(em: KernelEmitter, b: ir.IRBuilder, e: Expr, a: list):
    ty = _TYPES[e.dtype]
    return ir.Constant(ty, a[0]) if e.dtype in FLOAT else _int_constant(ty, a[0])


def _floor_div_mod(em: KernelEmitter, b: ir.IRBuilder, e: Expr, a: list):
    """Python's ``//`` or ``%`` by a positive constant: unsigned when x cannot be negative."""
    x, m = a[0], ir.Constant(I64, e.args[1])
    div = e.op is Ops.IDIV
    if bounds(e.args[0])[0] >= 0:
        return b.udiv(x, m) if div else b.urem(x, m)
    q = b.sdiv(x, m)
    r = b.srem(x, m)
    neg = b.icmp_signed("<", r, ir.Constant(I64, 0))
    if div:
        return b.select(neg, b.sub(q, ir.Constant(I64, 1)), q)
    return b.select(neg, b.add(r, m), r)


def _compare(em: KernelEmitter, b: ir.IRBuilder, e: Expr, a: list):
    """Integers compare by their sign; floats are ordered, but ``ne`` holds for NaN."""
    x, y = a
    src, pred = e.args[0].dtype, _PREDICATE[e.op]
    if src not in FLOAT:
        return (b.icmp_unsigned if src in UNSIGNED else b.icmp_signed)(pred, x, y)
    if e.op is Ops.NE:
        return b.fcmp_unordered(pred, x, y)
    return b.fcmp_ordered(pred, x, y)


def _max_min(em: KernelEmitter, b: ir.IRBuilder, e: Expr, a: list):
    if e.dtype in FLOAT:
        return _elementwise_extreme(b, e.op, a[0], a[1])
    return _extreme(b, e.op, a[0], a[1], e.dtype)


def _isnan(em: KernelEmitter, b: ir.IRBuilder, e: Expr, a: list):
    if e.args[0].dtype not in FLOAT:  # nansum of integers
        return ir.Constant(_TYPES[e.dtype], 0)
    return b.fcmp_unordered("uno", a[0], a[0])


_RULES: dict = {
    **{op: _builder_call(m) for op, m in _BUILDER_CALL.items()},
    **{op: _mathlib_call(f) for op, f in _MATHLIB.items()},
    **{op: _intrinsic_call(name) for op, name in _INTRINSIC.items()},
    **dict.fromkeys(GroupOp.Compare, _compare),
    Ops.CONST: _const,
    Ops.LOAD: KernelEmitter.load,
    Ops.AFFINE: KernelEmitter.affine,
    Ops.IDIV: _floor_div_mod,
    Ops.IMOD: _floor_div_mod,
    Ops.PICKIDX: lambda em, b, e, a: em.pick_index(b, e, a[0]),
    Ops.ONEHOTIDX: lambda em, b, e, a: em.one_hot_index(b, e, a[0]),
    Ops.CAST: lambda em, b, e, a: em.cast(b, a[0], e.args[0].dtype, e.dtype),
    Ops.MAX: _max_min,
    Ops.MIN: _max_min,
    Ops.MOD: lambda em, b, e, a: _mxnet_mod(b, a[0], a[1]),
    Ops.ISNAN: _isnan,
}


def emit_kernel(module: ir.Module, name: str, lazy: Lazy, out_slot: int, reads: list[int],
                buffers: list[tuple]) -> None:
    """Add ``void name(i64 start, i64 end, i64 buf...)`` computing lazy into out_slot.

    Each buffer argument is the address of the array's data; the kernel body takes them as
    ``noalias`` pointers.  Loads are proven in bounds here, before any code exists.
    """
    shape = lazy.shape or (1,)
    if 0 in shape:  # no element to compute: a kernel that does nothing
        body = kernel_function(module, name, [buffers[s][1] for s in list(reads) + [out_slot]])
        ir.IRBuilder(body.append_basic_block("entry")).ret_void()
        return
    loop_vars, value = kernel_value(lazy)
    for e in walk(value):
        if e.op is Ops.LOAD:
            slot, index = e.args
            if any(v.op is Ops.VAR and v.args[1] == 0 for v in walk(index)):
                continue  # inside a loop that runs zero times (a reduction over no element)
            lo, hi = bounds(index)
            size = math.prod(buffers[slot][0])
            if lo < 0 or hi >= size:
                raise CompileError(f"{name}: a load from buffer {slot} may reach [{lo}, {hi}], "
                                   f"outside [0, {size})")
    slots = list(reads) + [out_slot]
    body = kernel_function(module, name, [buffers[s][1] for s in slots])
    entry = body.append_basic_block("entry")
    ptrs = dict(zip(slots, body.args[2:]))
    body.args[0].name, body.args[1].name = "start.arg", "end.arg"
    for slot, arg in ptrs.items():
        arg.name = f"buf{slot}"
    em = KernelEmitter(body, ptrs, entry, loop_names(value))
    b = ir.IRBuilder(entry)
    # never trust the caller's range: clamp it to the loop's extent
    zero, ext = ir.Constant(I64, 0), ir.Constant(I64, shape[0])
    start = b.select(b.icmp_signed("<", body.args[0], zero), zero, body.args[0], name="start")
    end = b.select(b.icmp_signed(">", body.args[1], ext), ext, body.args[1], name="end")
    loops = []
    for k, v in enumerate(loop_vars):
        level = em.levels[-1]
        blocks, i = em.open_loop(v, v.args[0])
        em.loop_test(blocks, i, end if k == 0 else ir.Constant(I64, shape[k]))
        loops.append((level, blocks, i, start if k == 0 else zero))
    # the element: its sub-expressions land at the outermost loop that can compute them
    em.reductions = [x for x in walk(value) if x.op is Ops.REDUCE]
    v = em.emit(value)
    idx = em.emit(ravel(loop_vars, shape))
    bld = em.builder(len(em.levels) - 1)
    if buffers[out_slot][1] == "bool":
        v = bld.zext(v, _STORAGE["bool"])
    bld.store(v, bld.gep(ptrs[out_slot], [idx], inbounds=True))
    # only now is each level's last block known: link it into the next loop
    inner = em.levels.pop()
    ir.IRBuilder(inner.block).branch(loops[-1][1][2])
    for k in range(len(loops) - 1, -1, -1):
        parent, blocks, i, lo = loops[k]
        ir.IRBuilder(parent.block).branch(blocks[0])
        i.add_incoming(lo, parent.block)
        if k > 0:
            ir.IRBuilder(blocks[3]).branch(loops[k - 1][1][2])
            em.levels.pop()
    ir.IRBuilder(loops[0][1][3]).ret_void()


def kernel_function(module: ir.Module, name: str, dtypes: list[str]) -> ir.Function:
    """The body ``void name_body(i64 start, i64 end, T* noalias buf...)`` to fill in, and the
    exported entry point ``void name(i64 start, i64 end, i64 buf...)`` that calls it.

    The entry point takes integers: ndarray object addresses (their data pointer sits at
    DATA_OFFSET) or, where that layout check failed, the data addresses themselves.
    """
    missing = sorted({d for d in dtypes if d not in _STORAGE})
    if missing:
        raise CompileError(f"{', '.join(missing)} values are not supported by compiled kernels")
    ptr_types = [ir.PointerType(_STORAGE[d]) for d in dtypes]
    body = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64] + ptr_types),
                       name + "_body")
    body.linkage = "internal"
    for arg in body.args[2:]:
        arg.add_attribute("noalias")
    wrap = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64] * (2 + len(dtypes))), name)
    b = ir.IRBuilder(wrap.append_basic_block("entry"))
    args = list(wrap.args[:2])
    for a, ty in zip(wrap.args[2:], ptr_types):
        if DATA_OFFSET is None:
            args.append(b.inttoptr(a, ty))
        else:
            field = b.inttoptr(b.add(a, ir.Constant(I64, DATA_OFFSET)), ir.PointerType(ty))
            args.append(b.load(field))
    b.call(body, args)
    b.ret_void()
    # the same, with the buffer arguments in an array: what the native thread pool calls
    task = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64, I64.as_pointer()]),
                       name + "_task")
    b = ir.IRBuilder(task.append_basic_block("entry"))
    vals = [b.load(b.gep(task.args[2], [ir.Constant(I64, k)])) for k in range(len(dtypes))]
    b.call(wrap, [task.args[0], task.args[1], *vals])
    b.ret_void()
    return body


def kernel_value(lazy: Lazy) -> tuple[tuple, Expr]:
    """(output loop variables, the element's expression at them): what a kernel computes."""
    shape = lazy.shape or (1,)
    loop_vars = tuple(var(d, f"o{k}") for k, d in enumerate(shape))
    return loop_vars, float16_in_float32(lazy(loop_vars if lazy.shape else ()))


def _slots(G: Graph, sched: Schedule) -> dict[tuple, int]:
    """(graph node, output index) -> the buffer slot holding it."""
    slot_of = {(n, 0): s for s, n in zip(sched.inputs, G.inputs)}
    for step in sched.steps:
        for i, w in enumerate(step.writes):
            slot_of[(step.node, i)] = w
    return slot_of


def loop_ir(G: Graph, sched: Schedule) -> str:
    """Every generated kernel's loop IR, one SSA line per value (``minigluon explain``)."""
    slot_of, out = _slots(G, sched), []
    for step in sched.steps:
        if step.kind != "kernel":
            continue
        if G[step.node].op.extern_kernel:
            out.append(f"kernel {step.name}: hand-written ({G[step.node].op.name})")
            continue
        loop_vars, value = kernel_value(lower_kernel(G, step.node, slot_of))
        out.append(format_kernel(step.name, value, loop_vars, step.writes[0]))
    return "\n".join(out)


def codegen(G: Graph, sched: Schedule, module_name: str = "minigluon") -> ir.Module:
    """One LLVM module holding every kernel of the schedule."""
    module = ir.Module(module_name)
    slot_of = _slots(G, sched)
    for step in sched.steps:
        if step.kind != "kernel":
            continue
        d = G[step.node]
        if d.op.extern_kernel:  # a hand-written kernel (CTC's dynamic programme)
            if any(sched.buffers[s][1] == "float16" for s in step.reads + step.writes):
                raise CompileError(f"float16 is not supported by the compiled kernel of "
                                   f"{_described(G, step.node)}")
            extern_kernel(d.op).emit(module, step.name, d.op.full_attrs(d.attrs),
                                     [sched.buffers[s] for s in step.reads],
                                     [sched.buffers[s] for s in step.writes])
            continue
        try:
            lazy = lower_kernel(G, step.node, slot_of)
            emit_kernel(module, step.name, lazy, step.writes[0], step.reads, sched.buffers)
        except CompileError as e:
            raise _blamed(G, step.node, slot_of, e) from None
    return module
