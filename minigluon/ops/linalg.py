"""Matrix products: dot and batch_dot (numpy/BLAS kernels)."""
from __future__ import annotations

import numpy as np

from ..base import ShapeError
from .elemwise import _promote
from .registry import Attr, Op, register

_T = {"transpose_a": Attr("bool", False), "transpose_b": Attr("bool", False),
      "forward_stype": Attr("str", "None")}


def _dot_operands(attrs, a, b):
    # MXNet's dot treats an N-d lhs as (prod(front), last) and rhs as (first, prod(rest))
    if attrs["transpose_a"]:
        a = a[::-1]
    if attrs["transpose_b"]:
        b = b[::-1]
    return a, b


def _dot_shape(attrs, shapes):
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


register(Op("dot", ("lhs", "rhs"), _dot_shape, _dot, attrs=dict(_T), dtype=_promote))


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


register(Op("batch_dot", ("lhs", "rhs"), _batch_dot_shape, _batch_dot, attrs=dict(_T),
            dtype=_promote))
