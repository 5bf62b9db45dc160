"""MXNet's ``LeakyReLU`` operator: one op, six activations chosen by ``act_type``.

Each act_type's forward rule, gradient and lowering sit side by side in ``_ACTS``.  The
gradients follow MXNet 1.9.1's backward kernels, which test the *input* (x > 0), so a
negative ``slope`` or x = 0 gives MXNet's numbers, not a textbook derivative.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..base import ShapeError
from ..loopir import Expr, Lazy, Ops, const, where
from . import random
from .elemwise import UNARY
from .registry import FLOATS, Attr, Op, register

# MXNet's SELU constants (src/operator/mshadow_op.h)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946

# gelu reads erf as the registry's erf op computes it: one erf, eager and compiled
_ERF = UNARY["erf"]


def _gamma_view(gamma: np.ndarray, ndim: int) -> np.ndarray:
    """gamma shaped to broadcast against data: one value for all, or one per channel (axis 1;
    axis 0 of 1-d data), as MXNet expands it."""
    if gamma.size == 1 or ndim < 2:
        return gamma.reshape(-1) if ndim else gamma.reshape(())
    return gamma.reshape((1, -1) + (1,) * (ndim - 2))


def _channels(shape: tuple) -> int:
    return shape[1] if len(shape) > 1 else shape[0]


def _inputs(attrs):
    return ("data", "gamma") if attrs["act_type"] == "prelu" else ("data",)


def _check_count(attrs, n: int) -> None:
    names = _inputs(attrs)
    if n != len(names):
        raise ShapeError(f"LeakyReLU with act_type={attrs['act_type']!r} expects {len(names)} "
                         f"inputs ({', '.join(names)}), but got {n}" +
                         ("; gamma is prelu's only" if n > len(names) else ""))


def _shape(attrs, shapes):
    _check_count(attrs, len(shapes))
    data = tuple(shapes[0])
    if attrs["act_type"] == "prelu":
        gamma = tuple(shapes[1])
        if not data:
            raise ShapeError("LeakyReLU(prelu): data must have at least one axis")
        if len(gamma) != 1 or gamma[0] not in (1, _channels(data)):
            raise ShapeError(f"LeakyReLU(prelu): cannot broadcast gamma of shape {gamma} to data "
                             f"of shape {data}: gamma must be (1,) or ({_channels(data)},), one "
                             f"slope per channel (axis 1)")
    if attrs["act_type"] == "rrelu" and not 0 <= attrs["lower_bound"] <= attrs["upper_bound"]:
        raise ShapeError(f"LeakyReLU(rrelu): needs 0 <= lower_bound <= upper_bound, got "
                         f"{attrs['lower_bound']} and {attrs['upper_bound']}")
    return [data]


def _fill_shapes(attrs, shapes):
    """PReLU's gamma: one slope per channel when only data's shape is known, as MXNet."""
    _check_count(attrs, len(shapes))
    data = shapes[0]
    if attrs["act_type"] == "prelu" and data is not None and shapes[1] is None:
        return [data, (_channels(tuple(data)),)]
    return shapes


def _leaky_np(x, s):
    return np.where(x > 0, x, x * s)


def _elu_np(x, s):
    # exp only where x <= 0, so large positive x never overflows
    return np.where(x > 0, x, s * np.expm1(np.minimum(x, 0)))


def _rrelu_slope(attrs, x: np.ndarray) -> np.ndarray | float:
    """A slope per element drawn uniformly in [lower, upper] in training mode, else the
    middle: checked when it runs, eagerly or in a compiled graph, as MXNet's is_train."""
    lo, hi = attrs["lower_bound"], attrs["upper_bound"]
    if not random.is_training():
        return (lo + hi) / 2
    return (lo + (hi - lo) * random.generator().random(x.shape)).astype(x.dtype)


def _compute(attrs, x, gamma=None):
    t, s = attrs["act_type"], attrs["slope"]
    if t == "leaky":
        y = _leaky_np(x, s)
    elif t == "prelu":
        y = _leaky_np(x, _gamma_view(gamma, x.ndim))
    elif t == "rrelu":
        y = _leaky_np(x, _rrelu_slope(attrs, x))
    elif t == "elu":
        y = _elu_np(x, s)
    elif t == "selu":
        y = SELU_LAMBDA * _elu_np(x, SELU_ALPHA)
    else:  # gelu: MXNet 1.9.1 computes the erf form, not the tanh approximation
        y = 0.5 * x * (1 + _ERF.numpy(x / math.sqrt(2)))
    return np.asarray(y).astype(x.dtype, copy=False)


# --- gradients (F-ops, so they run eagerly and traced) --------------------------------------
def _d_leaky(F, a, x, y):
    pos = x > 0
    return pos + (1 - pos) * a["slope"]


def _d_rrelu(F, a, x, y):
    # the slope each element was given, read back from y = slope * x (x < 0); where x is 0
    # the drawn slope is lost, and the middle of the range stands in
    pos, zero = x > 0, x == 0
    mid = (a["lower_bound"] + a["upper_bound"]) / 2
    return pos + (x < 0) * (y / (x + zero)) + zero * mid


def _d_elu(F, a, x, y):
    pos = x > 0
    return pos + (1 - pos) * (y + a["slope"])


def _d_selu(F, a, x, y):
    # MXNet 1.9.1's backward gives lambda * (y + alpha) for x <= 0 (the true derivative is
    # y + lambda * alpha); minigluon gives MXNet's numbers
    pos = x > 0
    return pos * SELU_LAMBDA + (1 - pos) * (SELU_LAMBDA * (y + SELU_ALPHA))


def _d_gelu(F, a, x, y):
    # Phi(x) = y / x (its value 1/2 at x = 0), so no erf op is needed; plus x * pdf(x)
    zero = x == 0
    phi = (y / (x + zero)) * (1 - zero) + zero * 0.5
    return phi + x * F.exp(-0.5 * F.square(x)) * (1 / math.sqrt(2 * math.pi))


def _grad(F, attrs, ins, outs, og):
    t = attrs["act_type"]
    x, y = ins[0], outs[0]
    if t != "prelu":
        return [og[0] * _GRADS[t](F, attrs, x, y)]
    gamma = ins[1]
    neg = 1 - (x > 0)
    if gamma.shape[0] == 1 or len(x.shape) < 2:
        g_slope = F.reshape(gamma, shape=(1,) * len(x.shape)) if gamma.shape[0] == 1 else gamma
        gx = og[0] * ((x > 0) + F.broadcast_mul(neg, g_slope))
        gg = og[0] * x * neg
        gg = F.reshape(F.sum(gg), shape=(1,)) if gamma.shape[0] == 1 else gg
        return [gx, gg]
    view = F.reshape(gamma, shape=(1, -1) + (1,) * (len(x.shape) - 2))
    gx = og[0] * ((x > 0) + F.broadcast_mul(neg, view))
    axes = (0,) + tuple(range(2, len(x.shape)))
    return [gx, F.sum(og[0] * x * neg, axis=axes)]


_GRADS: dict[str, Callable] = {"leaky": _d_leaky, "rrelu": _d_rrelu, "elu": _d_elu,
                               "selu": _d_selu, "gelu": _d_gelu}


# --- lowering to the loop IR -------------------------------------------------------------
def _lower_select(x: Lazy, neg: Callable[[Expr], Expr]) -> Lazy:
    """x where x > 0, else neg(x(i), i)."""
    zero = const(0, x.dtype)

    def fn(i):
        xi = x(i)
        return where(Expr(Ops.GT, (xi, zero), "bool"), xi, neg(xi, i))
    return Lazy(x.shape, x.dtype, fn)


def _lower(attrs, x, gamma=None):
    t, dt = attrs["act_type"], x.dtype
    if t == "leaky":
        s = Lazy.full(x.shape, attrs["slope"], dt)
        return _lower_select(x, lambda xi, i: Expr(Ops.MUL, (xi, s(i)), dt))
    if t == "prelu":
        chan = gamma.shape[0] != 1
        axis = 1 if len(x.shape) > 1 else 0
        return _lower_select(x, lambda xi, i: Expr(
            Ops.MUL, (xi, gamma((i[axis],) if chan else (const(0, "int64"),))), dt))
    if t in ("elu", "selu"):
        alpha = attrs["slope"] if t == "elu" else SELU_ALPHA
        # expm1 of min(x, 0): the branch not taken must not overflow either
        e = x.map("min", Lazy.full((), 0, dt)).map("expm1").map("mul", Lazy.full((), alpha, dt))
        y = _lower_select(x, lambda xi, i: e(i))
        return y if t == "elu" else y.map("mul", Lazy.full((), SELU_LAMBDA, dt))
    if t == "gelu":  # 0.5 x (1 + erf(x / sqrt(2))), MXNet's erf form
        e = _ERF.lower(attrs, x.map("mul", Lazy.full((), 1 / math.sqrt(2), dt)))
        half = x.map("mul", Lazy.full((), 0.5, dt))
        return half.map("mul", e.map("add", Lazy.full((), 1, dt)))
    # rrelu draws random numbers, which a compiled graph takes only from a host step: it runs
    # on numpy
    return None


register(Op("LeakyReLU", ("data", "gamma?"), _shape, _compute,
            attrs={"act_type": Attr("str", "leaky", ("elu", "gelu", "leaky", "prelu", "rrelu", "selu")),
                   "slope": Attr("float", 0.25), "lower_bound": Attr("float", 0.125),
                   "upper_bound": Attr("float", 0.334)},
            active_inputs=_inputs,
            same_dtype=("*",), accepts={"data": FLOATS, "gamma": FLOATS}, hint="leakyrelu",
            lower=_lower, grad=_grad, fill_shapes=_fill_shapes))

