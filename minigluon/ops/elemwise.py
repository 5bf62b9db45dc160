"""Elementwise operators: unary math, binary (same-shape and broadcasting), scalar."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..base import ShapeError
from ..loopir import Expr, Lazy, Ops, binary, cast, compare, const, scalar, unary, where
from .gradients import unbroadcast
from .registry import FLOATS, Attr, Op, register


def same_shape(attrs, shapes):
    return [shapes[0]]


def broadcast_shapes(a: tuple, b: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise ShapeError(f"shapes {tuple(a)} and {tuple(b)} cannot be broadcast together") from None


def _elemwise_binary_shape(attrs, shapes):
    a, b = shapes
    if tuple(a) != tuple(b):
        raise ShapeError(f"shapes {tuple(a)} and {tuple(b)} differ (use a broadcast_* op to broadcast)")
    return [a]


def _broadcast_binary_shape(attrs, shapes):
    return [broadcast_shapes(*shapes)]


def _keep(fn):
    """Run fn and keep the inputs' dtype (comparisons give 0/1 in that dtype, as MXNet)."""
    def kernel(attrs, x, *rest):
        return np.asarray(fn(x, *rest)).astype(x.dtype, copy=False)
    return kernel


def mxnet_mod(a, b):
    """MXNet's mod: fmod(a, b), plus b where a and b have opposite signs and the remainder
    is not 0 (so the sign follows the divisor, but -0.0 % 3 is -0.0 and 5 % -inf is -inf,
    unlike numpy's); a mod 0 is 0."""
    a, b = np.asarray(a), np.asarray(b)
    zero = np.zeros((), np.result_type(a, b))
    with np.errstate(invalid="ignore"):  # fmod(inf, y) and fmod(x, nan) are NaN, as MXNet's
        r = np.fmod(a, np.where(b == 0, np.ones((), b.dtype), b))
    shifted = r + np.where(r != 0, b, zero)
    return np.where(b == 0, zero, np.where((a < 0) != (b < 0), shifted, r))


def _unary(fn):
    def kernel(attrs, x):
        return np.asarray(fn(x)).astype(x.dtype, copy=False)
    return kernel


def _softrelu(x):
    # log(1 + exp(x)) without overflow
    return np.logaddexp(np.zeros((), x.dtype), x)


def _sigmoid(x):
    # split by sign so exp never overflows
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out


def _round_half_away(x):
    # MXNet rounds halves away from zero (C's round), numpy to even
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t).astype(x.dtype, copy=False)


def _relu(x):
    # maximum() propagates NaN, so a NaN input poisons only its own row
    return np.maximum(x, np.zeros((), x.dtype))


def _sign(x):
    # MXNet's: 0 for -0 and NaN alike (numpy's sign keeps both)
    return np.where(x > 0, 1, np.where(x < 0, -1, 0))


def _lower_relu(attrs, x):
    return x.map("max", Lazy.full((), 0, x.dtype))


def _lower_softrelu(attrs, x):
    # max(x, 0) + log1p(exp(-|x|)): exp never overflows, and its result lies in [0, 1],
    # where the cheaper log1p_unit is exact enough
    return _lower_relu(attrs, x).map("add", x.map("abs").map("neg").map("exp").map("log1p_unit"))


def _lower_sign(attrs, x):
    one, minus, zero = const(1, x.dtype), const(-1, x.dtype), const(0, x.dtype)
    return Lazy(x.shape, x.dtype, lambda i: where(
        Expr(Ops.GT, (x(i), zero), "bool"), one, where(Expr(Ops.LT, (x(i), zero), "bool"), minus, zero)))


# MXNet's factors are computed in float32 whatever the dtype (so float64 degrees are off
# from numpy's in the 8th digit); we keep its numbers
_DEGREE = float(np.float32(180) / np.float32(np.pi))
_RADIAN = float(np.float32(np.pi) / np.float32(180))


def _scaled_by(k):
    return lambda attrs, x: x.map("mul", Lazy.full((), k, x.dtype))


def _scaled(op, k):
    return lambda attrs, x: x.map(op).map("mul", Lazy.full((), k, x.dtype))


def _k(x: Lazy, v: float) -> Lazy:
    return Lazy.full((), v, x.dtype)


def _select(cond: Lazy, a: Lazy, b: Lazy) -> Lazy:
    shape = cond.shape
    a, b = a.broadcast_to(shape), b.broadcast_to(shape)
    return Lazy(shape, a.dtype, lambda i: where(cond(i), a(i), b(i)))


def _odd(fn: Callable) -> Callable:
    """An odd function's lowering from its lowering on |x|: -f(|x|) where x < 0, so the
    approximation only ever sees non-negative input (NaN stays NaN)."""
    def lower(attrs, x):
        r = fn(x.map("abs"))
        # f(+-0) = +-0: x itself keeps the zero's sign
        r = _select(x.map("eq", _k(x, 0), dtype="bool"), x, r)
        return _select(x.map("lt", _k(x, 0), dtype="bool"), r.map("neg"), r)
    return lower


# beyond this, e^-x is below half an ulp of e^x in float64 (and float32): sinh = cosh = e^x / 2
_HYP_BIG = 20.0
# beyond this, x^2 + 1 rounds to x^2 in float64 and x^2 still fits float32: asinh = acosh =
# log(2 x)
_AREA_BIG = 2.0 ** 28


def _half_exp(a: Lazy) -> Lazy:
    """e^a / 2 as (e^(a/2) / 2) e^(a/2): finite up to where the result itself overflows."""
    h = a.map("mul", _k(a, 0.5)).map("exp")
    return h.map("mul", _k(a, 0.5)).map("mul", h)


def _sinh_abs(a):
    # expm1 keeps the small-x accuracy: sinh a = (t + t / (t + 1)) / 2 with t = e^a - 1
    t = a.map("expm1")
    small = t.map("add", t.map("div", t.map("add", _k(a, 1)))).map("mul", _k(a, 0.5))
    return _select(a.map("gt", _k(a, _HYP_BIG), dtype="bool"), _half_exp(a), small)


def _lower_cosh(attrs, x):
    a = x.map("abs")
    e = a.map("exp")
    small = e.map("add", _k(a, 1).map("div", e)).map("mul", _k(a, 0.5))
    return _select(a.map("gt", _k(a, _HYP_BIG), dtype="bool"), _half_exp(a), small)


def _log2x(a: Lazy) -> Lazy:
    return a.map("log").map("add", _k(a, float(np.log(2))))


def _asinh_abs(a):
    # log1p(a + a^2 / (1 + sqrt(1 + a^2))) = log(a + sqrt(a^2 + 1)), without its cancellation
    # for small a
    aa = a.map("mul", a)
    small = a.map("add", aa.map("div", _k(a, 1).map("add", aa.map("add", _k(a, 1)).map("sqrt"))))
    return _select(a.map("gt", _k(a, _AREA_BIG), dtype="bool"), _log2x(a), small.map("log1p"))


def _lower_arccosh(attrs, x):
    # log1p(t + sqrt(t (t + 2))) with t = x - 1 (exact near 1); NaN below 1 from the sqrt
    t = x.map("sub", _k(x, 1))
    small = t.map("add", t.map("mul", t.map("add", _k(x, 2))).map("sqrt")).map("log1p")
    return _select(x.map("gt", _k(x, _AREA_BIG), dtype="bool"), _log2x(x), small)


def _atanh_abs(a):
    # log1p(2a / (1 - a)) / 2: no cancellation for small a; 1 gives inf, beyond NaN
    two_a = a.map("add", a)
    return two_a.map("div", _k(a, 1).map("sub", a)).map("log1p").map("mul", _k(a, 0.5))


def _cbrt_abs(a):
    # pow(a, 1/3) misses by a few ulps (1/3 is rounded); one Newton step on y^3 = a fixes that.
    # 0, inf and NaN keep pow's result, where the step would give NaN
    y = a.map("pow", _k(a, 1 / 3))
    step = a.map("div", y.map("mul", y)).map("sub", y).map("div", _k(a, 3))
    finite = a.map("gt", _k(a, 0), dtype="bool").map("and", a.map("lt", _k(a, np.inf), dtype="bool"),
                                                      dtype="bool")
    return _select(finite, y.map("add", step), y)


# erf's polynomials, from tests/tools/fit_erf.py (which says how): erf(x) / x in x^2 on
# [0, 1]; on [a, b], -erfc(x) in t = (2x - a - b) / (b - a)
_ERF_TAYLOR = (
    1.1283791670955126, -0.37612638903183754, 0.11283791670955126, -0.026866170645131252,
    0.005223977625442188, -0.0008548327023450853, 0.00012055332981789664, -1.492565035840625e-05,
    1.6462114365889248e-06, -1.6365844691234924e-07, 1.4807192815879218e-08,
    -1.2290555301717928e-09, 9.422759064650411e-11, -6.7113668551641105e-12, 4.4632242632864775e-13,
    -2.7835162072109215e-14, 1.6342614095367152e-15, -9.063970842808673e-17,
)
_ERF_PIECES = (
    (1.0, 2.0, (
        -0.03389485352468921, 0.059465144611815554, -0.04459885845886702, 0.017344000511739205,
        -0.002787428653558341, -0.000464571441740637, 0.0003019714365409393, -3.705510638593881e-05,
        -9.22920581485897e-06, 3.33950165838169e-06, -9.074417776117867e-08,
        -1.2426100516162447e-07, 1.8975641424312534e-08, 2.210947369859565e-09,
        -8.642920591896055e-10, 7.59007965329811e-12, 2.3550827165200403e-11,
    )),
    (2.0, 3.5, (
        -0.00010062192211963766, 0.00043970793532035633, -0.0009068976165981976,
        0.0011645389849496575, -0.0010308875251168362, 0.0006539662545166696,
        -0.00029496867122210096, 8.623605782143622e-05, -8.911207762922606e-06,
        -5.347764878012071e-06, 3.0970734734462125e-06, -6.691665311824866e-07,
        -3.392827410947434e-08, 6.385180873033942e-08, -1.629836268471346e-08,
        3.0866499902815585e-11, 1.0634409536550837e-09, -2.563771566910119e-10,
        -5.144227778818836e-12, 1.3840462631807343e-11, -2.023486740962335e-12,
    )),
    (3.5, 6.0, (
        -1.8485050685134345e-11, 2.241794476832534e-10, -1.3310648479708983e-09,
        5.1520419193331206e-09, -1.4601886864464168e-08, 3.226438220774599e-08,
        -5.777206869854511e-08, 8.600385399128626e-08, -1.0832189766256644e-07,
        1.1679082393018536e-07, -1.0858433878148617e-07, 8.737434479382949e-08,
        -6.080274828722268e-08, 3.625934583246105e-08, -1.8142759308900953e-08,
        7.385362705957176e-09, -2.2766684905538055e-09, 2.8838948390984146e-10,
        2.587031908461612e-10, -1.9353815466791013e-10, 4.402862321069958e-11,
    )),
)


def _as(x: Lazy, dtype: str) -> Lazy:
    return x if x.dtype == dtype else Lazy(x.shape, dtype, lambda i: cast(x(i), dtype))


def _horner(z: Lazy, coefs) -> Lazy:
    acc = _k(z, coefs[-1])
    for c in reversed(coefs[:-1]):
        acc = acc.map("mul", z).map("add", _k(z, c))
    return acc


def _erf_abs(a):
    """erf on a >= 0 (NaN stays NaN), computed in float64 (float32's result is then within
    half an ulp and a hair)."""
    x = _as(a, "float64")
    out = x.map("mul", _horner(x.map("mul", x), _ERF_TAYLOR))
    for lo, hi, p in _ERF_PIECES:
        t = x.map("mul", _k(x, 2 / (hi - lo))).map("sub", _k(x, (hi + lo) / (hi - lo)))
        out = _select(x.map("ge", _k(x, lo), dtype="bool"), _horner(t, p).map("add", _k(x, 1)), out)
    out = _select(x.map("ge", _k(x, _ERF_PIECES[-1][1]), dtype="bool"), _k(x, 1), out)
    return _as(out, a.dtype)


# Stirling's series for log Gamma(y) - ((y - 1/2) log y - y + log(2 pi) / 2), in w = 1/y:
# B_2n / (2n (2n - 1) w^(2n-1)); from y = 10 on its first omitted term is below 2e-18
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
             -3617 / 122400)
_SHIFT = 10  # below this, log Gamma(x) = log Gamma(x + 10) - log(x (x + 1) ... (x + 9))


def _gammaln_pos(z: Lazy) -> Lazy:
    """log Gamma on z > 0 (float64)."""
    shifted = z.map("add", _k(z, _SHIFT))
    y = _select(z.map("lt", _k(z, _SHIFT), dtype="bool"), shifted, z)
    w = _k(y, 1).map("div", y)
    series = w.map("mul", _horner(w.map("mul", w), _STIRLING))
    g = y.map("sub", _k(y, 0.5)).map("mul", y.map("log")).map("sub", y).map(
        "add", _k(y, 0.5 * math.log(2 * math.pi))).map("add", series)
    prod = z
    for k in range(1, _SHIFT):
        prod = prod.map("mul", z.map("add", _k(z, k)))
    small = g.map("sub", prod.map("log"))
    out = _select(z.map("lt", _k(z, _SHIFT), dtype="bool"), small, g)
    return _select(z.map("eq", _k(z, np.inf), dtype="bool"), z, out)  # not inf - inf


def _lower_gammaln(attrs, x):
    """log |Gamma(x)| in float64; below 0 by reflection, log(pi / |sin(pi x)|) -
    log Gamma(1 - x), with sin taken of x's distance to the nearest integer (exact)."""
    v = _as(x, "float64")
    neg = v.map("lt", _k(v, 0), dtype="bool")
    g = _gammaln_pos(_select(neg, _k(v, 1).map("sub", v), v))
    r = v.map("sub", v.map("round"))
    sin = r.map("mul", _k(v, math.pi)).map("sin").map("abs")
    reflected = _k(v, math.log(math.pi)).map("sub", sin.map("log")).map("sub", g)
    out = _select(neg, reflected, g)
    # poles (0 and the negative integers) are inf already: the reflection's sin is exactly 0.
    # Gamma(1) = Gamma(2) = 1 exactly, where the shifted sum leaves 2e-15; -inf gives inf
    one_two = v.map("eq", _k(v, 1), dtype="bool").map("or", v.map("eq", _k(v, 2), dtype="bool"),
                                                        dtype="bool")
    out = _select(one_two, _k(v, 0), _select(v.map("eq", _k(v, -np.inf), dtype="bool"),
                                               _k(v, np.inf), out))
    return _as(out, x.dtype)


def _digamma(F, x):
    """psi(x) = d log Gamma / dx in F-ops: shifted by 10 then the asymptotic series; below
    0 by reflection psi(x) = psi(1 - x) - pi / tan(pi x)."""
    neg = x < 0
    z = F.where(neg, 1 - x, x)
    y = z + _SHIFT
    w = 1 / (y * y)
    # B_2n / (2n y^2n): 1/12, -1/120, 1/252, -1/240, 1/132, -691/32760, 1/12
    series = w * (1 / 12 + w * (-1 / 120 + w * (1 / 252 + w * (-1 / 240 + w * (
        1 / 132 + w * (-691 / 32760 + w * (1 / 12)))))))
    psi = F.log(y) - 0.5 / y - series
    for k in range(_SHIFT):
        psi = psi - 1 / (z + k)
    r = x - F.round(x)
    cot = F.cos(r * math.pi) / F.sin(r * math.pi)
    return F.where(neg, psi - cot * math.pi, psi)


def _lower_gamma(attrs, x):
    """Gamma(x) = sign * exp(log |Gamma(x)|) in float64 (relative error about 1e-13 at
    x = 170, where log Gamma is 700); negative below 0 where floor(x) is odd.  Poles: +-inf
    at +-0, NaN at the negative integers and -inf, as MXNet's."""
    v = _as(x, "float64")
    lg = _lower_gammaln(attrs, v)
    odd = v.map("floor").map("mod", _k(v, 2)).map("eq", _k(v, 1), dtype="bool")
    neg = v.map("lt", _k(v, 0), dtype="bool").map("and", odd, dtype="bool")
    mag = lg.map("exp")
    out = _select(neg, mag.map("neg"), mag)
    pole = v.map("lt", _k(v, 0), dtype="bool").map(
        "and", v.map("floor").map("eq", v, dtype="bool"), dtype="bool")
    out = _select(pole, _k(v, np.nan), out)
    out = _select(v.map("eq", _k(v, 0), dtype="bool"), _k(v, 1).map("div", v), out)
    return _as(out, x.dtype)


def _gamma1(v: float) -> float:
    if v == 0:
        return math.copysign(math.inf, v)
    if v < 0 and (math.isinf(v) or v == math.floor(v)):  # -inf, the negative integers
        return math.nan
    try:
        return math.gamma(v)
    except OverflowError:
        return math.inf


def _np_gamma(x):
    return np.frompyfunc(_gamma1, 1, 1)(x.astype(np.float64)).astype(x.dtype)


# erfinv: M. Giles' single-precision approximation ("Approximating the erfinv function",
# GPU Computing Gems, 2010) in w = -log((1 - x)(1 + x)), then one Newton step on
# erf(y) = x, which squares its relative error (1e-7 -> 1e-14)
_ERFINV_CENTRAL = (1.50140941, 0.246640727, -0.00417768164, -0.00125372503, 0.00021858087,
                   -4.39150654e-06, -3.5233877e-06, 3.43273939e-07, 2.81022636e-08)
_ERFINV_TAIL = (2.83297682, 1.00167406, 0.00943887047, -0.0076224613, 0.00573950773,
                -0.00367342844, 0.00134934322, 0.000100950558, -0.000200214257)
_NEWTON_STEPS = 1


def _np_erfinv(x):
    a = np.abs(x.astype(np.float64))
    with np.errstate(all="ignore"):
        w = -np.log((1 - a) * (1 + a))
        central = np.polynomial.polynomial.polyval(w - 2.5, _ERFINV_CENTRAL)
        tail = np.polynomial.polynomial.polyval(np.sqrt(w) - 3, _ERFINV_TAIL)
        y = np.where(w < 5, central, tail) * a
        for _ in range(_NEWTON_STEPS):
            y = y - (_np_erf(y) - a) / (2 / math.sqrt(math.pi) * np.exp(-y * y))
        y = np.where(a == 1, np.inf, np.where(a > 1, np.nan, y))
    return np.where(a == 0, x, np.copysign(y, x)).astype(x.dtype)


def _erfinv_abs(a: Lazy) -> Lazy:
    x = _as(a, "float64")
    w = _k(x, 1).map("sub", x).map("mul", _k(x, 1).map("add", x)).map("log").map("neg")
    central = _horner(w.map("sub", _k(x, 2.5)), _ERFINV_CENTRAL)
    tail = _horner(w.map("sqrt").map("sub", _k(x, 3)), _ERFINV_TAIL)
    y = _select(w.map("lt", _k(x, 5), dtype="bool"), central, tail).map("mul", x)
    for _ in range(_NEWTON_STEPS):
        slope = y.map("mul", y).map("neg").map("exp").map("mul", _k(x, 2 / math.sqrt(math.pi)))
        y = y.map("sub", _erf_abs(y).map("sub", x).map("div", slope))
    y = _select(x.map("gt", _k(x, 1), dtype="bool"), _k(x, np.nan), y)
    y = _select(x.map("eq", _k(x, 1), dtype="bool"), _k(x, np.inf), y)
    return _as(y, a.dtype)


def _lgamma(v: float) -> float:
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):  # the poles and beyond float64: +inf, as C's
        return math.inf


def _np_gammaln(x):
    return np.frompyfunc(_lgamma, 1, 1)(x.astype(np.float64)).astype(x.dtype)


# atan(u) / u = sum (-u^2)^n / (2n + 1): for |u| <= tan(pi/8), 22 terms reach 1e-18
_ATAN_TAYLOR = tuple((-1) ** n / (2 * n + 1) for n in range(22))
_TAN_PI_8 = math.tan(math.pi / 8)


def _atan_abs(a: Lazy) -> Lazy:
    """atan on a >= 0 in float64: 1/a beyond 1, then (b - 1) / (b + 1) beyond tan(pi/8),
    then its Taylor series."""
    x = _as(a, "float64")
    big = x.map("gt", _k(x, 1), dtype="bool")
    b = _select(big, _k(x, 1).map("div", x), x)
    mid = b.map("gt", _k(x, _TAN_PI_8), dtype="bool")
    c = _select(mid, b.map("sub", _k(x, 1)).map("div", b.map("add", _k(x, 1))), b)
    r = c.map("mul", _horner(c.map("mul", c), _ATAN_TAYLOR))
    r = _select(mid, r.map("add", _k(x, math.pi / 4)), r)
    r = _select(big, _k(x, math.pi / 2).map("sub", r), r)
    return _as(r, a.dtype)


def _lower_arcsin(attrs, x):
    # atan(x / sqrt((1 - x)(1 + x))): no cancellation near +-1; beyond, the sqrt gives NaN
    one = _k(x, 1)
    return _odd(_atan_abs)(attrs, x.map("div", one.map("sub", x).map("mul", one.map("add", x)).map("sqrt")))


def _lower_arccos(attrs, x):
    # 2 atan(sqrt((1 - x) / (1 + x))): -1 gives 2 atan(inf) = pi
    one = _k(x, 1)
    t = one.map("sub", x).map("div", one.map("add", x)).map("sqrt")
    return _atan_abs(t).map("mul", _k(x, 2))


def _np_erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(x.dtype)


def _quiet(fn: Callable) -> Callable:
    """fn with numpy's warnings off: outside the domain the result is NaN (or inf), as
    MXNet's, and not a warning."""
    def run(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            return fn(x)
    return run


def _np_rcbrt(x):
    with np.errstate(divide="ignore"):
        return 1 / np.cbrt(x)


def _g1(fn):
    """Gradient of a unary op from d out / d x written with F-ops: fn(F, x, out)."""
    return lambda F, a, ins, outs, og: [og[0] * fn(F, ins[0], outs[0])]


def _zero_grad(F, a, ins, outs, og):
    return [None] * len(ins)


class Unary(NamedTuple):
    """Everything about one unary op, side by side."""

    numpy: Callable  # the reference kernel, x -> y (cast back to x's dtype by the registry)
    lower: Callable  # (attrs, x as a Lazy) -> Lazy: its loop IR
    dydx: Callable | None  # (F, x, y) -> d y / d x in F-ops; None: the gradient is 0


UNARY = {
    "abs": Unary(np.abs, unary("abs"), lambda F, x, y: F.sign(x)),
    "square": Unary(np.square, lambda a, x: x.map("mul", x), lambda F, x, y: 2 * x),
    "sqrt": Unary(np.sqrt, unary("sqrt"), lambda F, x, y: 0.5 / y),
    "rsqrt": Unary(lambda x: 1 / np.sqrt(x),
                   lambda a, x: Lazy.full((), 1, x.dtype).map("div", x.map("sqrt")).broadcast_to(x.shape),
                   lambda F, x, y: -0.5 * y * y * y),
    "exp": Unary(np.exp, unary("exp"), lambda F, x, y: y),
    "log": Unary(np.log, unary("log"), lambda F, x, y: 1 / x),
    "log1p": Unary(np.log1p, unary("log1p"), lambda F, x, y: 1 / (x + 1)),
    "expm1": Unary(np.expm1, unary("expm1"), lambda F, x, y: y + 1),
    "log2": Unary(np.log2, _scaled("log", 1 / np.log(2)), lambda F, x, y: 1 / (x * float(np.log(2)))),
    "log10": Unary(np.log10, _scaled("log", 1 / np.log(10)),
                   lambda F, x, y: 1 / (x * float(np.log(10)))),
    "negative": Unary(np.negative, unary("neg"), lambda F, x, y: F.ones_like(x) * -1.0),
    "reciprocal": Unary(np.reciprocal, lambda a, x: Lazy.full(x.shape, 1, x.dtype).map("div", x),
                        lambda F, x, y: -(y * y)),
    "relu": Unary(_relu, _lower_relu, lambda F, x, y: x > 0),
    "sigmoid": Unary(_sigmoid, unary("sigmoid"), lambda F, x, y: y * (1 - y)),
    "tanh": Unary(np.tanh, unary("tanh"), lambda F, x, y: 1 - y * y),
    "sign": Unary(_sign, _lower_sign, None),
    "floor": Unary(np.floor, unary("floor"), None),
    "ceil": Unary(np.ceil, unary("ceil"), None),
    "round": Unary(_round_half_away, unary("round"), None),
    "trunc": Unary(np.trunc, unary("trunc"), None),
    "sin": Unary(np.sin, unary("sin"), lambda F, x, y: F.cos(x)),
    "cos": Unary(np.cos, unary("cos"), lambda F, x, y: -F.sin(x)),
    "tan": Unary(np.tan, lambda a, x: x.map("sin").map("div", x.map("cos")),
                 lambda F, x, y: y * y + 1),
    "sinh": Unary(np.sinh, _odd(_sinh_abs), lambda F, x, y: F.cosh(x)),
    "cosh": Unary(np.cosh, _lower_cosh, lambda F, x, y: F.sinh(x)),
    "arcsinh": Unary(np.arcsinh, _odd(_asinh_abs), lambda F, x, y: F.rsqrt(x * x + 1)),
    "arccosh": Unary(_quiet(np.arccosh), _lower_arccosh, lambda F, x, y: F.rsqrt(x * x - 1)),
    "arctanh": Unary(_quiet(np.arctanh), _odd(_atanh_abs), lambda F, x, y: 1 / (1 - x * x)),
    "degrees": Unary(lambda x: x * x.dtype.type(_DEGREE), _scaled_by(_DEGREE),
                     lambda F, x, y: F.ones_like(x) * _DEGREE),
    "radians": Unary(lambda x: x * x.dtype.type(_RADIAN), _scaled_by(_RADIAN),
                     lambda F, x, y: F.ones_like(x) * _RADIAN),
    "cbrt": Unary(np.cbrt, _odd(_cbrt_abs), lambda F, x, y: 1 / (3 * y * y)),
    "erf": Unary(_np_erf, _odd(_erf_abs),
                 lambda F, x, y: F.exp(-(x * x)) * float(2 / np.sqrt(np.pi))),
    "gammaln": Unary(_np_gammaln, _lower_gammaln, lambda F, x, y: _digamma(F, x)),
    "gamma": Unary(_np_gamma, _lower_gamma, lambda F, x, y: y * _digamma(F, x)),
    "erfinv": Unary(_np_erfinv, _odd(_erfinv_abs),
                    lambda F, x, y: F.exp(y * y) * float(math.sqrt(math.pi) / 2)),
    "arctan": Unary(np.arctan, _odd(_atan_abs), lambda F, x, y: 1 / (x * x + 1)),
    "arcsin": Unary(_quiet(np.arcsin), _lower_arcsin, lambda F, x, y: F.rsqrt(1 - x * x)),
    "arccos": Unary(_quiet(np.arccos), _lower_arccos, lambda F, x, y: -F.rsqrt(1 - x * x)),
    "rcbrt": Unary(_np_rcbrt, lambda a, x: _k(x, 1).map("div", _odd(_cbrt_abs)(a, x)),
                   lambda F, x, y: -y / (3 * x)),
    "softsign": Unary(lambda x: x / (1 + np.abs(x)),
                      lambda a, x: x.map("div", x.map("abs").map("add", Lazy.full((), 1, x.dtype))),
                      lambda F, x, y: 1 / F.square(F.abs(x) + 1)),
    "logical_not": Unary(lambda x: x == 0,
                         lambda a, x: compare("eq")(a, x, Lazy.full(x.shape, 0, x.dtype)), None),
    "zeros_like": Unary(np.zeros_like, lambda a, x: Lazy.full(x.shape, 0, x.dtype), None),
    "ones_like": Unary(np.ones_like, lambda a, x: Lazy.full(x.shape, 1, x.dtype), None),
}


def _unary_grad(op: Unary):
    return _zero_grad if op.dydx is None else _g1(op.dydx)


for _name, _op in UNARY.items():
    register(Op(_name, ("data",), same_shape, _unary(_op.numpy), fluent=True,
                lower=_op.lower, grad=_unary_grad(_op)))

register(Op("_copy", ("data",), same_shape, lambda a, x: x.copy(), aliases=("identity",), hint="copy",
            lower=lambda a, x: x, grad=lambda F, a, ins, outs, og: [og[0]], traits=frozenset({"identity"})))
register(Op("BlockGrad", ("data",), same_shape, lambda a, x: x, aliases=("stop_gradient",),
            hint="blockgrad", lower=lambda a, x: x, grad=_zero_grad, traits=frozenset({"identity"})))

# the activations that are also unary ops share their facts; softrelu is only an activation
ACTIVATIONS = {"relu": UNARY["relu"], "sigmoid": UNARY["sigmoid"], "tanh": UNARY["tanh"],
               "softrelu": Unary(_softrelu, _lower_softrelu, lambda F, x, y: F.sigmoid(x)),
               "softsign": UNARY["softsign"]}
ACTIVATION_GRAD = {name: _unary_grad(op) for name, op in ACTIVATIONS.items()}
register(Op("Activation", ("data",), same_shape,
            lambda a, x: ACTIVATIONS[a["act_type"]].numpy(x).astype(x.dtype, copy=False),
            attrs={"act_type": Attr("str", choices=tuple(ACTIVATIONS))}, accepts={"data": FLOATS},
            lower=lambda a, x: ACTIVATIONS[a["act_type"]].lower(a, x),
            grad=lambda F, a, *rest: ACTIVATION_GRAD[a["act_type"]](F, a, *rest)))

def _g2(fn):
    """Gradient of a binary op: fn(F, a, b, out, og) -> (d lhs, d rhs), summed back to the
    shape of each input where it was broadcast."""
    def grad(F, attrs, ins, outs, og):
        a, b = ins
        ga, gb = fn(F, a, b, outs[0], og[0])
        return [None if ga is None else unbroadcast(F, ga, a.shape),
                None if gb is None else unbroadcast(F, gb, b.shape)]
    return grad


class Binary(NamedTuple):
    """Everything about one binary op, which MXNet registers twice: for same-shape inputs
    and broadcasting."""

    same: str  # the same-shape op (hint: its name in MXNet's auto-naming)
    bcast: str  # the broadcasting op
    numpy: Callable  # the reference kernel, (a, b) -> y (cast back to a's dtype)
    hint: str
    lower: Callable | None  # (attrs, a, b as Lazy) -> Lazy; None: runs on numpy
    dydx: Callable | None  # (F, a, b, y, og) -> (d lhs, d rhs) before unbroadcast; None: 0
    same_aliases: tuple = ()
    bcast_aliases: tuple = ()


# by the name of the Python operator that builds them (frontend: a + b is "add")
BINARY = {
    "add": Binary("elemwise_add", "broadcast_add", np.add, "_plus", binary("add"),
                  lambda F, a, b, y, g: (g, g), ("_plus", "_add"), ("broadcast_plus",)),
    "sub": Binary("elemwise_sub", "broadcast_sub", np.subtract, "_minus", binary("sub"),
                  lambda F, a, b, y, g: (g, -g), ("_minus", "_sub"), ("broadcast_minus",)),
    "mul": Binary("elemwise_mul", "broadcast_mul", np.multiply, "_mul", binary("mul"),
                  lambda F, a, b, y, g: (g * b, g * a), ("_mul",)),
    "div": Binary("elemwise_div", "broadcast_div", np.divide, "_div", binary("div"),
                  lambda F, a, b, y, g: (g / b, -g * a / (b * b)), ("_div",)),
    "maximum": Binary("_maximum", "broadcast_maximum", np.maximum, "_maximum", binary("max"),
                      lambda F, a, b, y, g: (g * (a >= b), g * (a < b))),
    "minimum": Binary("_minimum", "broadcast_minimum", np.minimum, "_minimum", binary("min"),
                      lambda F, a, b, y, g: (g * (a <= b), g * (a > b))),
    "power": Binary("_power", "broadcast_power", np.power, "_power", binary("pow"),  # libm's pow
                    lambda F, a, b, y, g: (g * b * y / a, g * y * F.log(a))),
    "mod": Binary("_mod", "broadcast_mod", mxnet_mod, "_mod", binary("mod"),
                  lambda F, a, b, y, g: (g, -g * F.floor(a / b))),
    "equal": Binary("_equal", "broadcast_equal", np.equal, "_equal", compare("eq"), None),
    "not_equal": Binary("_not_equal", "broadcast_not_equal", np.not_equal, "_not_equal",
                        compare("ne"), None),
    "greater": Binary("_greater", "broadcast_greater", np.greater, "_greater", compare("gt"), None),
    "greater_equal": Binary("_greater_equal", "broadcast_greater_equal", np.greater_equal,
                            "_greater_equal", compare("ge"), None),
    "lesser": Binary("_lesser", "broadcast_lesser", np.less, "_lesser", compare("lt"), None),
    "lesser_equal": Binary("_lesser_equal", "broadcast_lesser_equal", np.less_equal, "_lesser_equal",
                           compare("le"), None),
}



def _truth(x: Lazy) -> Lazy:
    """x != 0 as a bool (NaN is true, as C's ``a && b`` on floats)."""
    return x.map("ne", Lazy.full((), 0, x.dtype), dtype="bool")


def _logic(op: str) -> Callable:
    """A logical op on the truth of both operands: 0/1 in their dtype, as MXNet's."""
    def lower(attrs, a, b):
        test = _truth(a).map(op, _truth(b), dtype="bool")
        one, zero = const(1, a.dtype), const(0, a.dtype)
        return Lazy(test.shape, a.dtype, lambda i: where(test(i), one, zero))
    return lower


BINARY.update({
    # a Boolean's xor is its inequality
    "logical_and": Binary("_logical_and", "broadcast_logical_and", np.logical_and, "_logical_and",
                          _logic("and"), None),
    "logical_or": Binary("_logical_or", "broadcast_logical_or", np.logical_or, "_logical_or",
                         _logic("or"), None),
    "logical_xor": Binary("_logical_xor", "broadcast_logical_xor", np.logical_xor, "_logical_xor",
                          _logic("ne"), None),
})

for _b in BINARY.values():
    _grad = _zero_grad if _b.dydx is None else _g2(_b.dydx)
    # MXNet stores stray attributes (e.g. axis=1 on broadcast_maximum) on these param-less
    # ops and ignores them; so do we, to load its graphs.
    register(Op(_b.same, ("lhs", "rhs"), _elemwise_binary_shape, _keep(_b.numpy),
                same_dtype=("lhs", "rhs"), hint=_b.hint, aliases=_b.same_aliases,
                loose_attrs=True, lower=_b.lower, grad=_grad))
    register(Op(_b.bcast, ("lhs", "rhs"), _broadcast_binary_shape, _keep(_b.numpy),
                same_dtype=("lhs", "rhs"), aliases=_b.bcast_aliases, loose_attrs=True,
                lower=_b.lower, grad=_grad))


def _lower_power_scalar(attrs, x):
    """x ** s for the exponents losses use; others run on numpy."""
    s = attrs["scalar"]
    if s == 2:
        return x.map("mul", x)
    if s == 0.5:
        return x.map("sqrt")
    if s == 1:
        return x
    return x.map("pow", Lazy.full((), s, x.dtype))


def _scalar_kernel(fn):
    def kernel(attrs, x):
        # the scalar takes the tensor's dtype, so float32 stays float32
        s = np.asarray(attrs["scalar"]).astype(x.dtype)
        return np.asarray(fn(x, s)).astype(x.dtype, copy=False)
    return kernel


def _log(s: float) -> float:
    """log(s) as numpy gives it: -inf for 0, NaN below (Python's math.log raises)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(s))


def _gs(fn):
    """Gradient of x op scalar: fn(F, x, scalar, out) is d out / d x."""
    return lambda F, a, ins, outs, og: [og[0] * fn(F, ins[0], a["scalar"], outs[0])]


class Scalar(NamedTuple):
    """Everything about one tensor-scalar op."""

    numpy: Callable  # the reference kernel, (x, scalar in x's dtype) -> y
    hint: str  # its name in MXNet's auto-naming
    lower: Callable  # (attrs, x as a Lazy) -> Lazy
    grad: Callable  # the registry's gradient rule
    # the scalar that makes x op scalar equal x (simplify drops the op); not x + 0, since
    # -0 + 0 is +0
    neutral: float | None = None


def _smooth_l1(x, s):
    """MXNet's: 0.5 (s x)^2 where |x| <= 1/s^2, |x| - 0.5/s^2 beyond (s in x's dtype)."""
    bsq = s * s
    ibsq = 1 / bsq
    return np.where(x > ibsq, x - 0.5 / bsq, np.where(x < -ibsq, -x - 0.5 / bsq, 0.5 * x * x * bsq))


def _lower_smooth_l1(attrs, x):
    s = np.asarray(attrs["scalar"]).astype(x.dtype)
    bsq = s * s
    ibsq, half = Lazy.full((), 1 / bsq, x.dtype), Lazy.full((), 0.5 / bsq, x.dtype)
    above, below = x.map("gt", ibsq, dtype="bool"), x.map("lt", ibsq.map("neg"), dtype="bool")
    quad = x.map("mul", x).map("mul", Lazy.full((), 0.5, x.dtype)).map("mul", Lazy.full((), bsq, x.dtype))
    hi, lo = x.map("sub", half), x.map("neg").map("sub", half)
    return Lazy(x.shape, x.dtype, lambda i: where(above(i), hi(i), where(below(i), lo(i), quad(i))))


def _smooth_l1_grad(F, a, ins, outs, og):
    x, s = ins[0], a["scalar"]
    ibsq = 1 / (s * s)
    return [og[0] * F.where(x > ibsq, F.ones_like(x), F.where(x < -ibsq, -F.ones_like(x), x * (s * s)))]


SCALAR = {
    "_plus_scalar": Scalar(np.add, "_plusscalar", scalar("add"), _gs(lambda F, x, s, y: 1.0)),
    "_minus_scalar": Scalar(np.subtract, "_minusscalar", scalar("sub"),
                            _gs(lambda F, x, s, y: 1.0), 0.0),
    "_rminus_scalar": Scalar(lambda x, s: s - x, "_rminusscalar", scalar("sub", True),
                             _gs(lambda F, x, s, y: -1.0)),
    "_mul_scalar": Scalar(np.multiply, "_mulscalar", scalar("mul"),
                          _gs(lambda F, x, s, y: s), 1.0),
    # og / s, as MXNet (not og * (1 / s): another rounding), and inf or NaN for s = 0
    "_div_scalar": Scalar(np.divide, "_divscalar", scalar("div"),
                          lambda F, a, ins, outs, og: [og[0] / a["scalar"]], 1.0),
    "_rdiv_scalar": Scalar(lambda x, s: s / x, "_rdivscalar", scalar("div", True),
                           _gs(lambda F, x, s, y: -y / x)),
    "_power_scalar": Scalar(np.power, "_powerscalar", _lower_power_scalar,
                            _gs(lambda F, x, s, y: s * x ** (s - 1) if s != 1 else 1.0), 1.0),
    "_rpower_scalar": Scalar(lambda x, s: np.power(s, x), "_rpowerscalar", scalar("pow", True),
                             _gs(lambda F, x, s, y: y * _log(s))),
    "_mod_scalar": Scalar(mxnet_mod, "_modscalar", scalar("mod"), _gs(lambda F, x, s, y: 1.0)),
    "_rmod_scalar": Scalar(lambda x, s: mxnet_mod(s, x), "_rmodscalar", scalar("mod", True),
                           _gs(lambda F, x, s, y: -F.floor(s / x))),
    "_maximum_scalar": Scalar(np.maximum, "_maximumscalar", scalar("max"),
                              _gs(lambda F, x, s, y: x >= s)),
    "_minimum_scalar": Scalar(np.minimum, "_minimumscalar", scalar("min"),
                              _gs(lambda F, x, s, y: x <= s)),
    "_equal_scalar": Scalar(np.equal, "_equal_scalar", scalar("eq"), _zero_grad),
    "_not_equal_scalar": Scalar(np.not_equal, "_not_equal_scalar", scalar("ne"), _zero_grad),
    "_greater_scalar": Scalar(np.greater, "_greater_scalar", scalar("gt"), _zero_grad),
    "_greater_equal_scalar": Scalar(np.greater_equal, "_greater_equal_scalar", scalar("ge"),
                                    _zero_grad),
    "_lesser_scalar": Scalar(np.less, "_lesser_scalar", scalar("lt"), _zero_grad),
    "_lesser_equal_scalar": Scalar(np.less_equal, "_lesser_equal_scalar", scalar("le"),
                                   _zero_grad),
    "smooth_l1": Scalar(_smooth_l1, "smooth_l1", _lower_smooth_l1, _smooth_l1_grad),
}

for _name, _s in SCALAR.items():
    register(Op(_name, ("data",), same_shape, _scalar_kernel(_s.numpy), hint=_s.hint,
                attrs={"scalar": Attr("float"), "is_int": Attr("bool", True)}, lower=_s.lower,
                grad=_s.grad, neutral_scalar=_s.neutral))


def _clip(attrs, x):
    return np.clip(x, attrs["a_min"], attrs["a_max"]).astype(x.dtype, copy=False)


def _lower_clip(attrs, x):
    # the bound first: max and min give their second operand on ties, so clip(-0, 0, 1)
    # stays -0, as numpy's and MXNet's
    lo, hi = Lazy.full((), attrs["a_min"], x.dtype), Lazy.full((), attrs["a_max"], x.dtype)
    return hi.map("min", lo.map("max", x))


register(Op("clip", ("data",), same_shape, _clip, fluent=True,
            attrs={"a_min": Attr("float"), "a_max": Attr("float")}, lower=_lower_clip,
            grad=lambda F, a, ins, outs, og: [og[0] * (ins[0] >= a["a_min"]) *
                                              (ins[0] <= a["a_max"])]))


def _add_n_shape(attrs, shapes):
    for s in shapes[1:]:
        if tuple(s) != tuple(shapes[0]):
            raise ShapeError(f"all inputs must have the same shape, got {[tuple(x) for x in shapes]}")
    return [shapes[0]]


def _lower_add_n(attrs, *xs):
    out = xs[0]
    for x in xs[1:]:
        out = binary("add")(attrs, out, x)
    return out


register(Op("add_n", ("args",), _add_n_shape, lambda a, *xs: sum(xs[1:], xs[0].copy()),
            variadic=True, aliases=("ElementWiseSum",), same_dtype=("*",), lower=_lower_add_n,
            grad=lambda F, a, ins, outs, og: [og[0]] * len(ins)))


def _where_shape(attrs, shapes):
    cond, x, y = (tuple(s) for s in shapes)
    if x != y:
        raise ShapeError(f"x and y must have the same shape, got {x} and {y}")
    if cond != x and not (len(cond) == 1 and x and cond[0] == x[0]):
        raise ShapeError(f"condition shape {cond} must equal x's shape {x} or be ({x[0] if x else 0},)")
    return [x]


def _where(attrs, cond, x, y):
    if cond.shape != x.shape:  # a 1-D condition selects whole rows
        cond = cond.reshape(cond.shape + (1,) * (x.ndim - 1))
    return np.where(cond != 0, x, y)


def _lower_where(attrs, cond, x, y):
    if cond.shape != x.shape:  # a 1-D condition selects whole rows
        cond = cond.reshape(cond.shape + (1,) * (len(x.shape) - 1)).broadcast_to(x.shape)
    test = cond.map("ne", Lazy.full((), 0, cond.dtype), dtype="bool")
    return Lazy(x.shape, x.dtype, lambda i: where(test(i), x(i), y(i)))


register(Op("where", ("condition", "x", "y"), _where_shape, _where,
            dtype=lambda a, d: [d[1]], same_dtype=("x", "y"), lower=_lower_where,
            grad=lambda F, a, ins, outs, og: [
                None, F.where(ins[0], og[0], F.zeros_like(og[0])),
                F.where(ins[0], F.zeros_like(og[0]), og[0])]))
