"""Branch-free LLVM IR emitters for exp, expm1, log, log1p, tanh and sigmoid.

LLVM lowers ``llvm.exp``/``llvm.log`` to scalar libm calls, which stops the loop vectorizer.
The emitters here produce only straight-line arithmetic, integer bit tricks, ``fcmp`` +
``select`` and intrinsics that have vector forms (fabs, rint, copysign), so a loop calling
them vectorizes (``<8 x float>`` / ``<4 x double>`` with AVX2).

Every polynomial is a plain series computed below (1/k!, 2/(2k+1), the tanh Taylor
series); the ln2 hi/lo splits come from a 50-digit ``Decimal`` ln2.  Floating-point
instructions carry only the ``contract`` fast-math flag (lets the backend fuse FMAs): the
other flags would allow LLVM to reassociate the range reductions away or drop special cases.

Nothing branches: inputs are clamped before anything that could become poison (``fptosi``
of NaN or huge values), every path is computed, and special cases are selected at the end.

Each ``emit_*(b, x)`` takes an ``llvmlite.ir.IRBuilder`` and a float or double ``ir.Value``
and returns a value of the same type.  ``jit_unary`` / ``optimized_ir`` compile a vectorized
elementwise loop around an emitter (used by the tests, handy for benchmarks).
"""
from __future__ import annotations

import ctypes
import functools
import math
import struct
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
from llvmlite import ir

__all__ = ["emit_exp", "emit_expm1", "emit_log", "emit_log1p", "emit_log1p_unit", "emit_tanh", "emit_sigmoid",
           "EMITTERS",
           "jit_unary", "optimized_ir"]

with localcontext() as _ctx:
    _ctx.prec = 50
    _LN2 = Decimal(2).ln()


class _Fmt:
    """Bit-level facts about one IEEE format."""

    def __init__(self, mant: int, bias: int, ibits: int, pack: str, ipack: str):
        self.mant, self.bias, self.ibits = mant, bias, ibits
        self.pack, self.ipack = pack, ipack
        # Cody-Waite: ln2_hi keeps only enough bits that n*ln2_hi is exact for every
        # exponent n we ever see (|n| < 2^11 for double, < 2^8 for float), so x - n*ln2_hi
        # is exact and the rounding error of ln2 only enters through the tiny n*ln2_lo.
        nbits = (bias + mant + 3).bit_length()
        hi_bits = mant + 1 - nbits
        self.ln2_hi = math.ldexp(round(math.ldexp(float(_LN2), hi_bits)), -hi_bits)
        self.ln2_lo = float(_LN2 - Decimal(self.ln2_hi))

    def bits(self, v: float) -> int:
        return struct.unpack(self.ipack, struct.pack(self.pack, v))[0]


_F32 = _Fmt(23, 127, 32, "<f", "<I")
_F64 = _Fmt(52, 1023, 64, "<d", "<Q")

# exp(r) for |r| <= ln2/2: Taylor to degree 7 (float, next term < 2^-27 relative) or
# degree 13 (double, next term < 2^-57); Horner, so each step is one FMA.
_EXP_COEF = {32: [1 / math.factorial(k) for k in range(8)],
             64: [1 / math.factorial(k) for k in range(14)]}
# expm1(r) = r + r^2 (1/2! + r/3! + ...) for |r| < 1.04 (1.5 ln2): Taylor to degree 11
# (float, next term < 2^-27 relative) or 19 (double, < 2^-59).
_EXPM1_COEF = {32: [1 / math.factorial(k) for k in range(2, 12)],
               64: [1 / math.factorial(k) for k in range(2, 20)]}
# log(1+f) = 2 atanh(s), s = f/(2+f), |s| <= 0.172: R(z) = sum 2/(2k+1) z^(k-1), z = s^2.
# 5 / 11 series terms in total: the first omitted one is < 2^-28 / 2^-60 relative.
_LOG_COEF = {32: [2 / (2 * k + 1) for k in range(1, 5)],
             64: [2 / (2 * k + 1) for k in range(1, 11)]}

# tanh: odd Taylor series for |x| < _TANH_SMALL, from tanh' = 1 - tanh^2:
#   tanh x = sum a_k x^(2k+1),  a_0 = 1,  (2k+1) a_k = -sum_{i+j=k-1} a_i a_j.
# Above the threshold 1 - 2/(e^(2|x|)+1) is accurate: the result is > 0.6, so the rounding
# errors of the (< 0.4) quotient shrink.  0.7 rather than 0.55 costs 13 instead of 10
# terms (float), 25 instead of 20 (double), and brings the worst case from ~1.5 to ~1.06 ulp.
_TANH_SMALL = 0.7


def _tanh_series(eps: float) -> list[float]:
    a = [Fraction(1)]
    while abs(a[-1]) * Fraction(_TANH_SMALL) ** (2 * len(a) - 2) > eps / 4:
        k = len(a)
        a.append(-sum(a[i] * a[k - 1 - i] for i in range(k)) / (2 * k + 1))
    return [float(c) for c in a]


_TANH_COEF = {32: _tanh_series(2.0 ** -24), 64: _tanh_series(2.0 ** -53)}


class _E:
    """Emission helpers bound to a builder and a float type (keeps the emitters readable)."""

    def __init__(self, b: ir.IRBuilder, ty: ir.Type):
        if not isinstance(ty, (ir.FloatType, ir.DoubleType)):
            raise TypeError(f"mathlib emitters need float or double, got {ty}")
        self.b, self.ty = b, ty
        self.fmt = _F64 if isinstance(ty, ir.DoubleType) else _F32
        self.ity = ir.IntType(self.fmt.ibits)
        self.i32 = ir.IntType(32)

    def c(self, v: float):
        return ir.Constant(self.ty, v)

    def ci(self, v: int, ty=None):
        return ir.Constant(ty or self.ity, v)

    # arithmetic: `contract` only (FMA fusion is fine, reassociation is not)
    def add(self, x, y): return self.b.fadd(x, y, flags=("contract",))
    def sub(self, x, y): return self.b.fsub(x, y, flags=("contract",))
    def mul(self, x, y): return self.b.fmul(x, y, flags=("contract",))
    def div(self, x, y): return self.b.fdiv(x, y, flags=("contract",))

    def cmp(self, op, x, y): return self.b.fcmp_ordered(op, x, y)
    def sel(self, cond, x, y): return self.b.select(cond, x, y)

    def intr(self, name, *args):
        fnty = ir.FunctionType(self.ty, [self.ty] * len(args))
        return self.b.call(self.b.module.declare_intrinsic(f"llvm.{name}", [self.ty], fnty), args)

    def horner(self, z, coefs):
        """coefs[0] + coefs[1] z + coefs[2] z^2 + ... (mul+add pairs fuse into FMAs)."""
        acc = self.c(coefs[-1])
        for c in reversed(coefs[:-1]):
            acc = self.add(self.mul(acc, z), self.c(c))
        return acc

    def pow2(self, n):
        """2^n for an i32 n whose biased exponent is in the normal range: build the bits."""
        e = self.b.add(n, self.ci(self.fmt.bias, self.i32))
        if self.fmt.ibits != 32:
            e = self.b.zext(e, self.ity)
        return self.b.bitcast(self.b.shl(e, self.ci(self.fmt.mant)), self.ty)


def emit_exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e^x; overflow -> inf, underflow gradual then 0, exp(-inf) = 0, NaN -> NaN."""
    m = _E(b, x.type)
    f = m.fmt
    # Clamp so that n below stays within +-(bias+mant+3): beyond that the result is already
    # inf or 0.  `x > lo ? x : lo` also maps NaN into range (fptosi(NaN) would be poison).
    lim = (f.bias + f.mant + 2) * math.log(2)
    xc = m.sel(m.cmp(">", x, m.c(-lim)), x, m.c(-lim))
    xc = m.sel(m.cmp("<", xc, m.c(lim)), xc, m.c(lim))
    # x = n ln2 + r, |r| <= ln2/2.  x - n*ln2_hi is exact (see _Fmt), so r is accurate even
    # for |x| ~ 700 where a single-constant reduction would lose ~10 bits.
    n = m.intr("rint", m.mul(xc, m.c(1 / math.log(2))))
    r = m.sub(m.sub(xc, m.mul(n, m.c(f.ln2_hi))), m.mul(n, m.c(f.ln2_lo)))
    p = m.horner(r, _EXP_COEF[f.ibits])
    # Scale by 2^n in two steps, 2^n1 * 2^n2 with n1 = n>>1: each factor is a normal number,
    # so n = 128 (float) still works when p < 1 and results in the subnormal range are
    # rounded once, by the last multiply, instead of being flushed.
    ni = b.fptosi(n, m.i32)
    n1 = b.ashr(ni, m.ci(1, m.i32))
    y = m.mul(m.mul(p, m.pow2(n1)), m.pow2(b.sub(ni, n1)))
    # +-inf need no special case (clamped, they overflow/underflow naturally); NaN does.
    return m.sel(b.fcmp_unordered("uno", x, x), x, y)


def emit_expm1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e^x - 1, accurate near 0; overflows exactly where e^x - 1 does (float32 at 88.72),
    expm1(-inf) = -1, expm1(-0) = -0, NaN -> NaN."""
    m = _E(b, x.type)
    f = m.fmt
    # Below lo the result rounds to -1; at hi, n = bias + 2 overflows every format.
    lo, hi = -(f.mant + 3) * math.log(2), (f.bias + 2) * math.log(2)
    xc = m.sel(m.cmp(">", x, m.c(lo)), x, m.c(lo))
    xc = m.sel(m.cmp("<", xc, m.c(hi)), xc, m.c(hi))
    # x = n ln2 + r as in emit_exp, but n = 0 up to |x| < 1.5 ln2: with n = 1, r near
    # -ln2/2 would turn the rounding error of r into 3 ulp of 2e^r - 1.
    n = m.intr("rint", m.mul(xc, m.c(1 / math.log(2))))
    n = m.sel(m.cmp("<", m.intr("fabs", xc), m.c(1.5 * math.log(2))), m.c(0.0), n)
    r = m.sub(m.sub(xc, m.mul(n, m.c(f.ln2_hi))), m.mul(n, m.c(f.ln2_lo)))
    p = m.add(r, m.mul(m.mul(r, r), m.horner(r, _EXPM1_COEF[f.ibits])))  # e^r - 1
    ni = b.fptosi(n, m.i32)
    n1 = b.ashr(ni, m.ci(1, m.i32))
    n2 = b.sub(ni, n1)
    s = m.mul(m.pow2(n1), m.pow2(n2))  # 2^n, from two normal factors
    # |n| <= mant + 1: 2^n - 1 is exact, so 2^n p + (2^n - 1) rounds once.
    near = m.add(m.mul(s, p), m.sub(s, m.c(1.0)))
    # n > mant + 1: (p - 2^-n) + 1, where p - 2^-n is all but exact, then scaled by 2^n in
    # two exact steps (2^128 alone would overflow float32).
    inv = m.mul(m.pow2(b.neg(n1)), m.pow2(b.neg(n2)))
    big = m.mul(m.mul(m.add(m.sub(p, inv), m.c(1.0)), m.pow2(n1)), m.pow2(n2))
    # n < -(mant + 1): -1 plus a tiny 2^n (1 + p), rounded once.
    tiny = m.sub(m.mul(m.add(p, m.c(1.0)), s), m.c(1.0))
    y = m.sel(b.icmp_signed(">", ni, m.ci(f.mant + 1, m.i32)), big,
              m.sel(b.icmp_signed("<", ni, m.ci(-f.mant - 1, m.i32)), tiny, near))
    return m.sel(b.fcmp_unordered("==", x, m.c(0.0)), x, y)  # NaN, and -0 stays -0


def emit_log(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Natural log; log(+-0) = -inf, log(x<0) = NaN, log(inf) = inf, NaN -> NaN."""
    m = _E(b, x.type)
    f = m.fmt
    # Subnormals have no implicit leading 1: scale them into the normal range first.
    tiny = m.cmp("<", x, m.c(math.ldexp(1.0, 1 - f.bias)))
    xs = m.sel(tiny, m.mul(x, m.c(math.ldexp(1.0, f.mant))), x)
    # x = 2^e * mm with mm in [sqrt(1/2), sqrt(2)): adding (1.0 - sqrt(1/2)) to the bits
    # carries into the exponent exactly when the mantissa is >= sqrt(2); then re-attach the
    # remaining mantissa bits to the exponent of sqrt(1/2).  Keeping mm around 1 keeps
    # |s| <= 0.172 below and avoids cancellation between e*ln2 and log(mm).
    half = f.bits(math.sqrt(0.5))
    k = b.add(b.bitcast(xs, m.ity), m.ci(f.bits(1.0) - half))
    e = b.sub(b.ashr(k, m.ci(f.mant)), m.ci(f.bias))
    mm = b.bitcast(b.add(b.and_(k, m.ci((1 << f.mant) - 1)), m.ci(half)), m.ty)
    if f.ibits != 32:
        e = b.trunc(e, m.i32)  # i32 -> fp converts in one vector instruction, i64 does not
    e = b.sub(e, b.select(tiny, m.ci(f.mant, m.i32), m.ci(0, m.i32)))
    ef = b.sitofp(e, m.ty)
    # log(1+fm) = 2 atanh(s) = 2s + s R(s^2), s = fm/(2+fm).  Since 2s = fm - s*fm:
    # log(1+fm) = fm - s*(fm - R).  fm = mm-1 is exact, so the rounding errors of s only
    # touch the correction term, which is < 0.2 of the result.
    fm = m.sub(mm, m.c(1.0))
    s = m.div(fm, m.add(mm, m.c(1.0)))
    z = m.mul(s, s)
    rr = m.mul(z, m.horner(z, _LOG_COEF[f.ibits]))
    logm = m.sub(fm, m.mul(s, m.sub(fm, rr)))
    # e*ln2_hi is exact; add the small parts first.
    y = m.add(m.mul(ef, m.c(f.ln2_hi)), m.add(m.mul(ef, m.c(f.ln2_lo)), logm))
    y = m.sel(m.cmp("==", x, m.c(math.inf)), x, y)
    y = m.sel(m.cmp("==", x, m.c(0.0)), m.c(-math.inf), y)
    return m.sel(b.fcmp_unordered("<", x, m.c(0.0)), m.c(math.nan), y)  # x < 0 or NaN


def emit_log1p(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(1+x), accurate for tiny x; log1p(-1) = -inf, x < -1 -> NaN, inf -> inf."""
    m = _E(b, x.type)
    one = m.c(1.0)
    # u = 1+x is rounded; recover its rounding error c exactly (Knuth's 2Sum, no |x| <= 1
    # precondition, only additions so `contract` cannot change it): 1 + x = u + c.  Then
    # log(1+x) = log(u) + log(1 + c/u) = log(u) + c/u up to (c/u)^2 < eps^2.
    # (Kahan's log(u) * (x/(u-1)) also works but measured ~2.4 ulp instead of ~1.4.)
    u = m.add(one, x)
    ux = m.sub(u, one)
    c = m.add(m.sub(one, m.sub(u, ux)), m.sub(x, ux))
    y = m.add(emit_log(b, u), m.div(c, u))
    y = m.sel(m.cmp("==", u, one), x, y)  # |x| < eps/2: log1p(x) = x (also keeps -0)
    y = m.sel(m.cmp("==", u, m.c(0.0)), m.c(-math.inf), y)  # x = -1: c/u would be 0/0
    return m.sel(m.cmp("==", x, m.c(math.inf)), x, y)  # c = inf - inf would be NaN


def emit_log1p_unit(b: ir.IRBuilder, t: ir.Value) -> ir.Value:
    """log(1+t) for t in [0, 1] (what softplus needs: t = exp(-|x|)); NaN stays NaN.

    With s = t / (2 + t) in [0, 1/3], log(1+t) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...):
    one division and a short odd series, where the general log1p needs an exponent split,
    a second division and a rounding correction.
    """
    m = _E(b, t.type)
    s = m.div(t, m.add(m.c(2.0), t))
    z = m.mul(s, s)
    terms = 9 if t.type == ir.FloatType() else 17  # (1/9)^k below the format's epsilon
    series = m.horner(z, [1.0 / (2 * k + 1) for k in range(terms)])
    return m.mul(m.c(2.0), m.mul(s, series))


def emit_tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """tanh; odd Taylor series near 0 (no cancellation), 1 - 2/(e^2|x|+1) elsewhere."""
    m = _E(b, x.type)
    # Work on |x| and restore the sign at the end (also gives tanh(-0) = -0).
    ax = m.intr("fabs", x)
    z = m.mul(ax, ax)
    small = m.add(ax, m.mul(ax, m.mul(z, m.horner(z, _TANH_COEF[m.fmt.ibits][1:]))))
    # exp(2|x|) = inf for large |x| gives exactly 1; +-inf -> +-1, NaN stays NaN.
    big = m.sub(m.c(1.0), m.div(m.c(2.0), m.add(emit_exp(b, m.add(ax, ax)), m.c(1.0))))
    return m.intr("copysign", m.sel(m.cmp("<", ax, m.c(_TANH_SMALL)), small, big), x)


def emit_sigmoid(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1/(1+e^-x) without overflow: with t = e^-|x| <= 1, x >= 0 -> 1/(1+t), x < 0 -> t/(1+t)."""
    m = _E(b, x.type)
    t = emit_exp(b, b.fneg(m.intr("fabs", x)))
    # d + dl = 1 + t exactly (Fast2Sum, 1 >= t); 1/(d+dl) = (1/d)(1 - dl/d) to first order.
    # Dropping dl costs up to ~0.5 ulp where 1+t rounds badly (float32 worst case 2.4 -> 2.0).
    d = m.add(m.c(1.0), t)
    dl = m.sub(t, m.sub(d, m.c(1.0)))
    pos, neg = m.div(m.c(1.0), d), m.div(t, d)  # two divisions: t * (1/d) would round twice
    rel = m.mul(dl, pos)  # tiny correction, its own rounding does not matter
    pos, neg = m.sub(pos, m.mul(pos, rel)), m.sub(neg, m.mul(neg, rel))
    return m.sel(m.cmp(">=", x, m.c(0.0)), pos, neg)  # NaN -> neg = NaN


EMITTERS = {"exp": emit_exp, "expm1": emit_expm1, "log": emit_log, "log1p": emit_log1p, "tanh": emit_tanh,
            "sigmoid": emit_sigmoid, "log1p_unit": emit_log1p_unit}


# ----------------------------------------------------------------------------- JIT helper

_TYPES = {"float32": ir.FloatType(), "float64": ir.DoubleType()}


def _kernel_ir(fn_name: str, dtype: str) -> str:
    """``void k(i64 n, ptr noalias in, ptr noalias out)``: out[i] = fn(in[i])."""
    ty = _TYPES[dtype]
    mod = ir.Module(name=f"mathlib_{fn_name}_{dtype}")
    i64, ptr = ir.IntType(64), ir.PointerType()
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i64, ptr, ptr]), "k")
    n, src, dst = fn.args
    for p in (src, dst):
        p.add_attribute("noalias")
    entry, loop, done = fn.append_basic_block("entry"), fn.append_basic_block("loop"), \
        fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    v = b.load(b.gep(src, [i], inbounds=True, source_etype=ty), typ=ty)
    b.store(EMITTERS[fn_name](b, v), b.gep(dst, [i], inbounds=True, source_etype=ty))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(mod)


@functools.cache
def _compile(fn_name: str, dtype: str):
    from .link import Library, compile_object  # link imports nothing from here
    obj, text = compile_object(_kernel_ir(fn_name, dtype))
    lib = Library(obj)
    cfunc = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)(
        lib.address("k"))
    return lib, cfunc, text


def optimized_ir(fn_name: str, dtype: str) -> str:
    """Optimized LLVM IR of the elementwise loop kernel for ``fn_name`` ('exp', 'log', ...)."""
    return _compile(fn_name, np.dtype(dtype).name)[2]


def jit_unary(fn_name: str, dtype: str):
    """Compile an elementwise ``fn_name`` kernel; returns ``f(array) -> new array`` of ``dtype``."""
    dtype = np.dtype(dtype).name
    engine, cfunc, _ = _compile(fn_name, dtype)

    def run(a):
        a = np.ascontiguousarray(a, dtype=dtype)
        out = np.empty_like(a)
        cfunc(a.size, a.ctypes.data, out.ctypes.data)
        return out

    run.engine = engine  # keep the JIT'd code alive as long as the function
    return run
