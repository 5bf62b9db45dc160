"""Matrix products: dot and batch_dot (numpy/BLAS kernels)."""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError
from .registry import Attr, Op, register

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
