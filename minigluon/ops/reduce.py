"""Reductions over axes: sum, mean, prod, max, min, norm, argmax, argmin."""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError
from ..loopir import Expr, Lazy, Ops, cast, const, where
from .registry import Attr, Op, register


def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for {ndim}-d input")
    return axis % ndim


def reduce_axes(ndim: int, axis, exclude: bool = False) -> tuple[int, ...]:
    """The sorted axes a reduction removes (MXNet: axis None or () means all)."""
    if axis is None or axis == ():
        return tuple(range(ndim))  # MXNet: even with exclude=True
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    norm = sorted({normalize_axis(a, ndim) for a in axes})
    if len(norm) != len(axes):
        raise ShapeError(f"axis {axis} repeats an axis")
    if exclude:
        norm = [a for a in range(ndim) if a not in norm]
    return tuple(norm)


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    out = tuple(d for i, d in enumerate(shape) if i not in axes)
    return out or (1,)  # MXNet 1.x has no 0-d arrays


def _shape(attrs, shapes):
    shape = tuple(shapes[0])
    axes = reduce_axes(len(shape), attrs["axis"], attrs.get("exclude", False))
    return [reduced_shape(shape, axes, attrs["keepdims"])]


def _mean(x, axis, keepdims, dtype=None):
    """sum / n, as MXNet and the compiled kernel compute it (np.mean also warns on n = 0)."""
    n = math.prod(x.shape[a] for a in axis)
    return np.true_divide(np.sum(x, axis=axis, keepdims=keepdims, dtype=dtype), n)


def _reducer(fn):
    # float16 sums accumulate in float32 and round once, as the compiled kernels do
    wide = {"dtype": np.float32} if fn in (np.sum, _mean, np.nansum) else {}

    def kernel(attrs, x):
        axes = reduce_axes(x.ndim, attrs["axis"], attrs.get("exclude", False))
        out = fn(x, axis=axes, keepdims=attrs["keepdims"], **(wide if x.dtype == np.float16 else {}))
        out = np.asarray(out, dtype=x.dtype)
        return out.reshape(reduced_shape(x.shape, axes, attrs["keepdims"]))
    return kernel


_REDUCE_ATTRS = {"axis": Attr("axes", None), "keepdims": Attr("bool", False),
                 "exclude": Attr("bool", False)}

def _lower_reduce(op: str, mean: bool = False):
    def lower(attrs, x):
        axes = reduce_axes(len(x.shape), attrs["axis"], attrs.get("exclude", False))
        out = x.reduce(op, axes, attrs["keepdims"])
        if mean:
            n = math.prod(x.shape[a] for a in axes)  # divided, as eager and MXNet round it
            out = out.map("div", Lazy.full((), n, x.dtype))
        return out
    return lower


def _lower_nan(op: str, neutral: float):
    """nansum/nanprod: NaN entries count as the reduction's neutral element."""
    inner = _lower_reduce(op)

    def lower(attrs, x):
        fill = const(neutral, x.dtype)
        clean = Lazy(x.shape, x.dtype, lambda i: where(Expr(Ops.ISNAN, (x(i),), "bool"), fill, x(i)))
        return inner(attrs, clean)
    return lower


def _expand(F, g, attrs, x):
    """A reduced gradient reshaped with the reduced axes kept, broadcast to x's shape."""
    axes = reduce_axes(len(x.shape), attrs["axis"], attrs.get("exclude", False))
    if 0 in x.shape:  # nothing to spread over; in a shape attribute 0 would mean "keep"
        return F.zeros_like(x), axes
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return F.broadcast_to(F.reshape(g, shape=kept), shape=x.shape), axes


def _grad_reduce(kind: str):
    def grad(F, attrs, ins, outs, og):
        x = ins[0]
        g, axes = _expand(F, og[0], attrs, x)
        if kind == "sum":
            return [g]
        if kind == "mean":
            return [g * (1.0 / max(1, math.prod(x.shape[a] for a in axes)))]
        y, _ = _expand(F, outs[0], attrs, x)
        if kind == "nansum":  # NaN entries were skipped: they get no gradient
            return [F.where(x == x, g, F.zeros_like(g))]
        if kind == "prod":
            return [g * y / x]
        if kind == "nanprod":
            return [F.where(x == x, g * y / x, F.zeros_like(g))]
        return [g * (x == y)]  # max/min: every position holding the extreme value
    return grad


REDUCERS = {"sum": (np.sum, ("sum_axis",), _lower_reduce("sum")),
            "mean": (_mean, (), _lower_reduce("sum", mean=True)),
            "prod": (np.prod, (), _lower_reduce("prod")),
            "nansum": (np.nansum, (), _lower_nan("sum", 0)),
            "nanprod": (np.nanprod, (), _lower_nan("prod", 1)),
            "max": (np.max, ("max_axis",), _lower_reduce("max")),
            "min": (np.min, ("min_axis",), _lower_reduce("min"))}

_REDUCE_GRAD = {"sum": "sum", "mean": "mean", "prod": "prod", "max": "extreme", "min": "extreme",
                "nansum": "nansum", "nanprod": "nanprod"}

for _name, (_fn, _aliases, _lower) in REDUCERS.items():
    register(Op(_name, ("data",), _shape, _reducer(_fn), attrs=dict(_REDUCE_ATTRS),
                aliases=_aliases, fluent=True, lower=_lower, traits=frozenset({"reduction"}),
                grad=_grad_reduce(_REDUCE_GRAD[_name]) if _name in _REDUCE_GRAD else None))


def _norm(x, axis, keepdims, ord):
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    # scale by the largest magnitude so squares of large values do not overflow; where that
    # is 0, inf or NaN, so is the norm (MXNet: the norm of [inf, 1] is inf)
    scale = np.max(np.abs(x), axis=axis, keepdims=True)
    finite = (scale > 0) & (scale < np.inf)
    safe = np.where(finite, scale, np.ones((), x.dtype))
    out = safe * np.sqrt(np.sum(np.square(x / safe), axis=axis, keepdims=True))
    out = np.where(finite, out, scale)
    return out if keepdims else np.squeeze(out, axis=axis)


def _norm_kernel(attrs, x):
    out = _reducer(lambda y, axis, keepdims: _norm(y, axis, keepdims, attrs["ord"]))(attrs, x)
    return out.astype(attrs["out_dtype"] or x.dtype, copy=False)


def _lower_norm(attrs, x):
    axes = reduce_axes(len(x.shape), attrs["axis"])
    if attrs["ord"] == 1:
        out = x.map("abs").reduce("sum", axes, attrs["keepdims"])
    elif x.dtype != "float64":  # squares summed in float64 cannot overflow for float32 data
        wide = Lazy(x.shape, "float64", lambda i: cast(x(i), "float64"))
        out = wide.map("mul", wide).reduce("sum", axes, attrs["keepdims"]).map("sqrt")
    else:  # scaled by the largest magnitude, as the reference kernel
        out = _lower_scaled_norm(x, axes).reshape(reduced_shape(x.shape, axes, attrs["keepdims"]))
    dt = attrs["out_dtype"] or x.dtype
    return Lazy(out.shape, dt, lambda i: cast(out(i), dt))


def _lower_scaled_norm(x: Lazy, axes: tuple) -> Lazy:
    """scale * sqrt(sum((x / scale)^2)), scale = max |x| (the norm itself where it is 0,
    inf or NaN), with the reduced axes kept."""
    scale = x.map("abs").reduce("max", axes, keepdims=True)
    zero, one, inf = const(0, x.dtype), const(1, x.dtype), const(math.inf, x.dtype)

    def finite(i):
        s = scale(i)
        return Expr(Ops.AND, (Expr(Ops.GT, (s, zero), "bool"), Expr(Ops.LT, (s, inf), "bool")), "bool")
    safe = Lazy(scale.shape, x.dtype, lambda i: where(finite(i), scale(i), one))
    ratio = x.map("div", safe)
    out = ratio.map("mul", ratio).reduce("sum", axes, keepdims=True).map("sqrt").map("mul", safe)
    return Lazy(out.shape, x.dtype, lambda i: where(finite(i), out(i), scale(i)))


def _grad_norm(F, attrs, ins, outs, og):
    x = ins[0]
    g, n = og[0], outs[0]
    if attrs["out_dtype"] not in (None, str(x.dtype)):  # the gradient is in x's dtype
        g, n = F.Cast(g, dtype=str(x.dtype)), F.Cast(n, dtype=str(x.dtype))
    g, _ = _expand(F, g, attrs, x)
    if attrs["ord"] == 1:
        return [g * F.sign(x)]
    n, _ = _expand(F, n, attrs, x)
    return [F.where(n > 0, g * x / F.where(n > 0, n, F.ones_like(n)), F.zeros_like(x))]


register(Op("norm", ("data",), _shape, _norm_kernel, lower=_lower_norm, grad=_grad_norm,
            traits=frozenset({"reduction"}),
            attrs={"ord": Attr("int", 2, choices=(1, 2)), "axis": Attr("axes", None),
                   "keepdims": Attr("bool", False), "out_dtype": Attr("dtype", None)},
            dtype=lambda a, d: [a["out_dtype"] or d[0]], fluent=True))


def _arg_shape(attrs, shapes):
    shape = tuple(shapes[0])
    if attrs["axis"] is None:
        return [(1,) * len(shape) if attrs["keepdims"] else (1,)]
    ax = normalize_axis(attrs["axis"], len(shape))
    return [reduced_shape(shape, (ax,), attrs["keepdims"])]


def _arg(fn):
    def kernel(attrs, x):
        shape = _arg_shape(attrs, [x.shape])[0]  # MXNet: (1,) where numpy gives a 0-d array
        if attrs["axis"] is None:
            return np.full(shape, fn(x), dtype=x.dtype)
        out = fn(x, axis=attrs["axis"], keepdims=attrs["keepdims"])
        return out.astype(x.dtype).reshape(shape)  # MXNet returns indices as floats
    return kernel


for _name, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    register(Op(_name, ("data",), _arg_shape, _arg(_fn), fluent=True,
                attrs={"axis": Attr("axes", None), "keepdims": Attr("bool", False)},
                grad=lambda F, a, ins, outs, og: [None]))  # piecewise constant: zero, as MXNet
