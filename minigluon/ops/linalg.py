"""Matrix products: dot, batch_dot and FullyConnected (numpy/BLAS kernels)."""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError
from .registry import Attr, DTypeError, Op, register

_T = {"transpose_a": Attr("bool", False), "transpose_b": Attr("bool", False),
      "forward_stype": Attr("str", "None")}
# MXNet's CPU dot and batch_dot refuse integers and float16
_MATMUL_DTYPES = {"same_dtype": ("lhs", "rhs"), "accepts": {"lhs": ("float32", "float64")}}


def _dot_operands(attrs, a, b):
    # MXNet's dot treats an N-d lhs as (prod(front), last) and rhs as (first, prod(rest))
    if attrs["transpose_a"]:
        a = a[::-1]
    if attrs["transpose_b"]:
        b = b[::-1]
    return a, b


def _dot_shape(attrs, shapes):
    if not shapes[0] or not shapes[1]:
        raise ShapeError(f"dot: operands must have at least one axis, got shapes "
                         f"{tuple(shapes[0])} and {tuple(shapes[1])}")
    a, b = _dot_operands(attrs, tuple(shapes[0]), tuple(shapes[1]))
    if a[-1] != b[0]:
        raise ShapeError(f"dot: inner dimensions differ: {tuple(shapes[0])} x {tuple(shapes[1])}"
                         f" (transpose_a={attrs['transpose_a']}, transpose_b={attrs['transpose_b']})")
    return [a[:-1] + b[1:] or (1,)]


def _dot(attrs, a, b):
    if attrs["transpose_a"]:
        a = a.T
    if attrs["transpose_b"]:
        b = b.T
    out = np.tensordot(a, b, axes=1)
    return out.reshape(out.shape or (1,))


def _matmul_grads(F, mm, a, b, og, ta: bool, tb: bool):
    """d a, d b of ``mm(a, b, ta, tb)`` (a matrix product, optionally transposed), each
    again such a product of og with the other operand."""
    if not ta and not tb:
        return mm(og, b, False, True), mm(a, og, True, False)
    if ta and not tb:
        return mm(b, og, False, True), mm(a, og, False, False)
    if not ta and tb:
        return mm(og, b, False, False), mm(og, a, True, False)
    return mm(b, og, True, True), mm(og, a, True, True)


def _as(F, g, x):
    return g if g.dtype == x.dtype else F.Cast(g, dtype=str(x.dtype))


def _grad_dot(F, attrs, ins, outs, og):
    """N-d dot is a matrix product of (prod(front), last) by (first, prod(rest)) after the
    transposes: differentiate that, then undo the reshapes and transposes."""
    a, b = ins
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    ea, eb = _dot_operands(attrs, tuple(a.shape), tuple(b.shape))  # shapes after transposing
    m, n = math.prod(ea[:-1]), math.prod(eb[1:])
    a2 = F.reshape(F.transpose(a) if ta else a, shape=(m, ea[-1]))
    b2 = F.reshape(F.transpose(b) if tb else b, shape=(eb[0], n))
    g2 = F.reshape(og[0], shape=(m, n))
    ga, gb = _matmul_grads(F, lambda x, y, p, q: F.dot(x, y, transpose_a=p, transpose_b=q),
                           a2, b2, g2, False, False)
    ga, gb = F.reshape(ga, shape=ea), F.reshape(gb, shape=eb)
    return [_as(F, F.transpose(ga) if ta else ga, a), _as(F, F.transpose(gb) if tb else gb, b)]


def _matmul_cost(batched: bool):
    """Two operations per output element and inner index: |A| |B| = batch |out| K^2."""
    def cost(attrs, in_shapes, out_shapes):
        out = math.prod(out_shapes[0])
        batch = out_shapes[0][0] if batched else 1
        k = math.sqrt(math.prod(in_shapes[0]) * math.prod(in_shapes[1]) / max(1, out * batch))
        return 2.0 * out * k
    return cost


register(Op("dot", ("lhs", "rhs"), _dot_shape, _dot, attrs=dict(_T), **_MATMUL_DTYPES,
            grad=_grad_dot, cost=_matmul_cost(False), traits=frozenset({"blas"})))


def _batch_dot_shape(attrs, shapes):
    a, b = tuple(shapes[0]), tuple(shapes[1])
    if len(a) != 3 or len(b) != 3 or a[0] != b[0]:
        raise ShapeError(f"batch_dot needs two 3-d inputs with the same batch size, got {a} and {b}")
    m, k = (a[2], a[1]) if attrs["transpose_a"] else (a[1], a[2])
    k2, n = (b[2], b[1]) if attrs["transpose_b"] else (b[1], b[2])
    if k != k2:
        raise ShapeError(f"batch_dot: inner dimensions differ: {a} x {b}")
    return [(a[0], m, n)]


def _batch_dot(attrs, a, b):
    if attrs["transpose_a"]:
        a = a.transpose(0, 2, 1)
    if attrs["transpose_b"]:
        b = b.transpose(0, 2, 1)
    return np.matmul(a, b)


def _grad_batch_dot(F, attrs, ins, outs, og):
    a, b = ins
    ga, gb = _matmul_grads(F, lambda x, y, p, q: F.batch_dot(x, y, transpose_a=p, transpose_b=q),
                           a, b, og[0], attrs["transpose_a"], attrs["transpose_b"])
    return [_as(F, ga, a), _as(F, gb, b)]


register(Op("batch_dot", ("lhs", "rhs"), _batch_dot_shape, _batch_dot, attrs=dict(_T),
            **_MATMUL_DTYPES, grad=_grad_batch_dot, cost=_matmul_cost(True), traits=frozenset({"blas"})))


# --- FullyConnected: data x weight^T + bias, MXNet's dense layer ---------------------------
_FC_ATTRS = {"num_hidden": Attr("int"), "no_bias": Attr("bool", False),
             "flatten": Attr("bool", True)}


def _fc_inputs(attrs):
    return ("data", "weight") if attrs.get("no_bias") else ("data", "weight", "bias")


def _fc_rows(attrs, data: tuple) -> tuple[tuple, int]:
    """data as a matrix: (the output's leading axes, in_units).  flatten=True keeps axis 0
    and folds the rest into in_units (a 1-d data is (n, 1)); flatten=False keeps every
    axis but the last."""
    if attrs["flatten"]:
        return data[:1], math.prod(data[1:])
    return data[:-1], data[-1]


def _fc_shape(attrs, shapes):
    nh, names = attrs["num_hidden"], _fc_inputs(attrs)
    if nh < 1:
        raise ShapeError(f"FullyConnected: num_hidden must be at least 1, got {nh}")
    if len(shapes) != len(names):
        raise ShapeError(f"FullyConnected expects {len(names)} inputs ({', '.join(names)}) "
                         f"with no_bias={attrs['no_bias']}, but got {len(shapes)}; "
                         + ("pass no_bias=True to leave out the bias" if len(shapes) < len(names)
                            else "pass no_bias=False to use the bias"))
    data = tuple(shapes[0])
    if not data:
        raise ShapeError("FullyConnected: data must have at least one axis, got shape ()")
    lead, in_units = _fc_rows(attrs, data)
    want = {"weight": (nh, in_units), "bias": (nh,)}
    for name, got in zip(names[1:], shapes[1:]):
        if tuple(got) != want[name]:
            how = "flattened to (batch, in_units)" if attrs["flatten"] else "last axis"
            raise ShapeError(f"FullyConnected: {name} must have shape {want[name]} (num_hidden="
                             f"{nh}, in_units={in_units} from data {data}, {how}), got "
                             f"{tuple(got)}")
    return [lead + (nh,)]


def _fully_connected(attrs, data, weight, bias=None):
    lead, in_units = _fc_rows(attrs, data.shape)
    out = data.reshape(math.prod(lead), in_units) @ weight.T  # one BLAS GEMM
    if bias is not None:
        out += bias
    return out.reshape(lead + (attrs["num_hidden"],))


def _fc_fill_shapes(attrs, in_shapes: list) -> list:
    """weight (num_hidden, in_units) and bias (num_hidden,) from data's shape (known when
    it is not None and has no 0), as MXNet's shape inference fills a Dense layer's deferred
    parameters; unknowns that cannot be deduced stay None."""
    out = list(in_shapes)
    nh = attrs["num_hidden"]
    data = out[0]
    if len(out) > 2 and (out[2] is None or 0 in tuple(out[2])):
        out[2] = (nh,)
    if data is not None and len(data) and len(out) > 1 and (out[1] is None or 0 in tuple(out[1])):
        _, in_units = _fc_rows(attrs, tuple(data))
        feeding = data[1:] if attrs["flatten"] else data[-1:]
        if 0 not in feeding:
            out[1] = (nh, in_units)
    return out


def _grad_fully_connected(F, attrs, ins, outs, og):
    """With data as the matrix x (m, in_units) and og as g (m, num_hidden):
    d x = g w, d w = g^T x, d bias = the column sums of g."""
    data, weight = ins[0], ins[1]
    if str(data.dtype) not in ("float32", "float64"):
        raise DTypeError(f"FullyConnected: no gradient for {data.dtype} inputs (MXNet 1.9.1's "
                         f"CPU backward takes float32 and float64 only); cast with .astype()")
    lead, in_units = _fc_rows(attrs, tuple(data.shape))
    m, nh = math.prod(lead), attrs["num_hidden"]
    x = F.reshape(data, shape=(m, in_units))
    g = F.reshape(og[0], shape=(m, nh))
    dx = F.reshape(F.dot(g, weight), shape=tuple(data.shape))
    dw = F.dot(g, x, transpose_a=True)
    grads = [_as(F, dx, data), _as(F, dw, weight)]
    if len(ins) > 2:
        grads.append(_as(F, F.sum(g, axis=0), ins[2]))
    return grads


def _fc_cost(attrs, in_shapes, out_shapes):
    """Two operations per output element and input unit."""
    return 2.0 * math.prod(out_shapes[0]) * _fc_rows(attrs, tuple(in_shapes[0]))[1]


# No loop-IR lowering: the product is one numpy/BLAS call from the compiled schedule (as
# dot's), and the activation that follows fuses into the next kernel.  MXNet's CPU
# FullyConnected takes any one dtype for all inputs (int32 and float16 included).
register(Op("FullyConnected", ("data", "weight", "bias?"), _fc_shape, _fully_connected,
            attrs=_FC_ATTRS, active_inputs=_fc_inputs, same_dtype=("*",),
            grad=_grad_fully_connected, cost=_fc_cost, fill_shapes=_fc_fill_shapes,
            hint="fullyconnected", traits=frozenset({"blas"})))
