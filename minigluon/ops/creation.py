"""Operators with no inputs that create constant arrays: _zeros, _ones, _full, _eye, _arange."""
from __future__ import annotations

import math

import numpy as np

from ..base import DEFAULT_DTYPE, ShapeError
from ..loopir import Expr, Lazy, Ops, alu, cast, const, iadd, idiv, where
from .registry import MAX_ELEMENTS, Attr, AttrError, Op, register

# An array this large is a mistake (or a hostile graph), not a loss input.


def checked_shape(shape: tuple) -> tuple:
    if any(d < 0 for d in shape):
        raise ShapeError(f"shape {shape} has a negative dimension")
    if math.prod(shape) > MAX_ELEMENTS:
        raise ShapeError(f"shape {shape} has {math.prod(shape)} elements, more than {MAX_ELEMENTS}")
    return shape


def _dtype_attr(attrs, dtypes):
    return [attrs["dtype"] or DEFAULT_DTYPE]


def _filled(value_of):
    def kernel(attrs):
        dt = attrs["dtype"] or DEFAULT_DTYPE
        return np.full(checked_shape(attrs["shape"]), value_of(attrs), dtype=dt)
    return kernel


_SHAPED = {"shape": Attr("shape", ()), "dtype": Attr("dtype", DEFAULT_DTYPE)}

for _name, _value in (("_zeros", lambda a: 0), ("_ones", lambda a: 1), ("_full", lambda a: a["value"])):
    _attrs = dict(_SHAPED, value=Attr("float")) if _name == "_full" else dict(_SHAPED)
    register(Op(_name, (), lambda a, s: [checked_shape(a["shape"])], _filled(_value),
                attrs=_attrs, dtype=_dtype_attr,
                lower=lambda a, v=_value: Lazy.full(a["shape"], v(a), a["dtype"] or DEFAULT_DTYPE)))


def _eye_shape(attrs, shapes):
    return [checked_shape((attrs["N"], attrs["M"] or attrs["N"]))]


def _lower_eye(attrs):
    dt = attrs["dtype"] or DEFAULT_DTYPE
    one, zero = const(1, dt), const(0, dt)
    return Lazy(_eye_shape(attrs, [])[0], dt, lambda i: where(
        Expr(Ops.EQ, (i[1], iadd(i[0], attrs["k"])), "bool"), one, zero))


register(Op("_eye", (), _eye_shape,
            lambda a: np.eye(a["N"], a["M"] or a["N"], a["k"], dtype=a["dtype"] or DEFAULT_DTYPE),
            lower=_lower_eye,
            attrs={"N": Attr("int"), "M": Attr("int", 0), "k": Attr("int", 0),
                   "dtype": Attr("dtype", DEFAULT_DTYPE)}, dtype=_dtype_attr))


def _arange_bounds(attrs) -> tuple[float, float, float]:
    start, stop, step = attrs["start"], attrs["stop"], attrs["step"]
    if stop is None:
        start, stop = 0.0, start
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if not math.isfinite(v):  # a graph file can hold anything; MXNet refuses these too
            raise AttrError(f"arange: {name} must be a finite number, got {v}")
    if step == 0:
        raise ShapeError("arange: step must not be 0")
    if not (start < stop if step > 0 else start > stop):
        raise ShapeError(f"arange: the range (start, stop, step) = ({start:g}, {stop:g}, "
                         f"{step:g}) is empty, which MXNet refuses")
    return start, stop, step


def _arange_shape(attrs, shapes):
    start, stop, step = _arange_bounds(attrs)
    if attrs["repeat"] < 1:
        raise ShapeError(f"arange: repeat must be positive, got {attrs['repeat']}")
    count = (stop - start) / step  # inf when a tiny step or huge bounds overflow float64
    if not count <= MAX_ELEMENTS:
        raise ShapeError(f"arange: (start, stop, step) = ({start:g}, {stop:g}, {step:g}) "
                         f"has more than the {MAX_ELEMENTS} elements minigluon allows")
    return [checked_shape((math.ceil(count) * attrs["repeat"],))]


def _arange(attrs):
    start, stop, step = _arange_bounds(attrs)
    n = _arange_shape(attrs, [])[0][0] // attrs["repeat"]
    values = start + step * np.arange(n, dtype=np.float64)  # MXNet: start + i * step
    return np.repeat(values, attrs["repeat"]).astype(attrs["dtype"] or DEFAULT_DTYPE)


def _lower_arange(attrs):
    start, _, step = _arange_bounds(attrs)
    dt = attrs["dtype"] or DEFAULT_DTYPE
    shape = _arange_shape(attrs, [])[0]

    def fn(i):
        k = cast(idiv(i[0], attrs["repeat"]), "float64")
        value = alu("add", const(start, "float64"), alu("mul", k, const(step, "float64")))
        return cast(value, dt)
    return Lazy(shape, dt, fn)


register(Op("_arange", (), _arange_shape, _arange, lower=_lower_arange,
            attrs={"start": Attr("float"), "stop": Attr("opt_float", None),
                   "step": Attr("float", 1.0), "repeat": Attr("int", 1),
                   "infer_range": Attr("bool", False), "dtype": Attr("dtype", DEFAULT_DTYPE)},
            dtype=_dtype_attr, hint="arange"))
