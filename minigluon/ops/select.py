"""Ops that select elements by rank or by position: sort, argsort, topk, gather_nd.

Ranks follow MXNet 1.9.1: a stable order, so equal elements keep their positions'
order in both directions ([3, 1, 3] descending is indices [0, 2, 1]); ``axis=None`` works on
the flattened array.  They run as numpy steps of a compiled graph (a sort is no loop nest).
"""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError
from ..loopir import Expr, Lazy, Ops, iconst
from .reduce import normalize_axis
from .registry import Attr, Op, register

_INDEX_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")


def _axis_and_shape(attrs, shape):
    """(axis, the shape the op works on): axis None flattens, as MXNet's."""
    if attrs["axis"] is None:
        return 0, (math.prod(shape),)
    return normalize_axis(attrs["axis"], len(shape)), tuple(shape)


def ranked(x: np.ndarray, axis: int, ascend: bool) -> np.ndarray:
    """Positions along axis in sorted order, stable in both directions (as MXNet's)."""
    if ascend:
        return np.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    rev = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    return (n - 1) - rev


def _sort_shape(attrs, shapes):
    return [_axis_and_shape(attrs, tuple(shapes[0]))[1]]


def _sort(attrs, x):
    ax, shape = _axis_and_shape(attrs, x.shape)
    x = x.reshape(shape)
    return np.take_along_axis(x, ranked(x, ax, attrs["is_ascend"]), axis=ax)


def _argsort(attrs, x):
    ax, shape = _axis_and_shape(attrs, x.shape)
    return ranked(x.reshape(shape), ax, attrs["is_ascend"]).astype(attrs["dtype"])


def _scatter_back(F, x, og, idx, ax, shape):
    """The gradient of x's elements read at positions idx (along ax of x reshaped to
    shape): og[j] added at idx[j], as a one-hot over the axis (losses sort short axes)."""
    n = shape[ax]
    xs = F.reshape(x, shape=shape) if tuple(x.shape) != shape else x
    last = len(shape) - 1
    if ax != last:
        idx, og, xs = (F.SwapAxis(t, dim1=ax, dim2=last) for t in (idx, og, xs))
    hot = F.one_hot(F.Cast(idx, dtype="float64"), depth=n, dtype=str(x.dtype))  # (..., k, n)
    g = F.sum(F.broadcast_mul(hot, F.expand_dims(og, axis=-1)), axis=-2)  # (..., n)
    if ax != last:
        g = F.SwapAxis(g, dim1=ax, dim2=last)
    return F.reshape(g, shape=tuple(x.shape))


def _grad_sort(F, attrs, ins, outs, og):
    x = ins[0]
    ax, shape = _axis_and_shape(attrs, tuple(x.shape))
    idx = F.argsort(x, axis=attrs["axis"], is_ascend=attrs["is_ascend"], dtype="float64")
    return [_scatter_back(F, x, og[0], idx, ax, shape)]


def _no_grad(F, attrs, ins, outs, og):
    return [F.zeros_like(ins[0])]


_AXIS = {"axis": Attr("opt_int", -1, none_is_value=True)}

register(Op("sort", ("data",), _sort_shape, _sort, fluent=True,
            attrs={**_AXIS, "is_ascend": Attr("bool", True)}, grad=_grad_sort))
register(Op("argsort", ("data",), _sort_shape, _argsort, fluent=True,
            attrs={**_AXIS, "is_ascend": Attr("bool", True),
                   "dtype": Attr("str", "float32", choices=_INDEX_DTYPES)},
            dtype=lambda a, d: [a["dtype"]], grad=_no_grad))


def _topk_k(attrs, shape):
    ax, work = _axis_and_shape(attrs, shape)
    n, k = work[ax], attrs["k"]
    if k > n:
        raise ShapeError(f"topk: k={k} is larger than the {n} elements along axis "
                         f"{attrs['axis']} of shape {tuple(shape)}")
    return ax, work, (n if k < 1 else k)  # k < 1: every element, in order


def _topk_shape(attrs, shapes):
    shape = tuple(shapes[0])
    ax, work, k = _topk_k(attrs, shape)
    if attrs["ret_typ"] == "mask":
        return [shape]
    top = work[:ax] + (k,) + work[ax + 1:]
    return [top, top] if attrs["ret_typ"] == "both" else [top]


def _topk(attrs, x):
    ax, work, k = _topk_k(attrs, x.shape)
    flat = x.reshape(work)
    idx = np.take(ranked(flat, ax, attrs["is_ascend"]), np.arange(k), axis=ax)
    kind = attrs["ret_typ"]
    if kind == "both":
        return np.take_along_axis(flat, idx, axis=ax), idx.astype(attrs["dtype"])
    if kind == "value":
        return np.take_along_axis(flat, idx, axis=ax)
    if kind == "indices":
        return idx.astype(attrs["dtype"])
    mask = np.zeros(work, x.dtype)
    np.put_along_axis(mask, idx, 1, axis=ax)
    return mask.reshape(x.shape)


def _topk_dtype(attrs, dtypes):
    if attrs["ret_typ"] == "both":  # values, then their indices
        return [dtypes[0], attrs["dtype"]]
    return [attrs["dtype"] if attrs["ret_typ"] == "indices" else dtypes[0]]


def _grad_topk(F, attrs, ins, outs, og):
    x = ins[0]
    if attrs["ret_typ"] not in ("value", "both"):  # indices and masks: constant almost
        return [F.zeros_like(x)]                     # everywhere
    ax, work, _ = _topk_k(attrs, tuple(x.shape))
    idx = F.topk(x, axis=attrs["axis"], k=attrs["k"], ret_typ="indices",
                 is_ascend=attrs["is_ascend"], dtype="float64")
    return [_scatter_back(F, x, og[0], idx, ax, work)]


register(Op("topk", ("data",), _topk_shape, _topk, fluent=True,
            attrs={**_AXIS, "k": Attr("int", 1),
                   "ret_typ": Attr("str", "indices", choices=("both", "indices", "mask", "value")),
                   "is_ascend": Attr("bool", False),
                   "dtype": Attr("str", "float32", choices=_INDEX_DTYPES)},
            num_outputs=lambda a: 2 if a["ret_typ"] == "both" else 1,
            dtype=_topk_dtype, grad=_grad_topk))


# --- gather_nd ---------------------------------------------------------------------------

def _gather_nd_shape(attrs, shapes):
    data, idx = tuple(shapes[0]), tuple(shapes[1])
    if not idx or idx[0] > len(data) or idx[0] < 1:
        raise ShapeError(f"gather_nd: indices of shape {idx} must have a first axis of 1 to "
                         f"{len(data)} (one row per indexed axis of data {data})")
    return [idx[1:] + data[idx[0]:] or (1,)]


def _gather_nd_positions(data_shape, indices):
    """indices as int64 positions, negative ones counted from the end (as MXNet); an index
    outside an axis raises IndexError naming it, as MXNet 1.9.1's check does."""
    m = indices.shape[0]
    k = np.trunc(indices).astype(np.int64) if indices.dtype.kind == "f" else indices.astype(np.int64)
    for ax in range(m):
        n = data_shape[ax]
        row = k[ax]
        bad = (row < -n) | (row >= n)
        if bad.any():
            raise IndexError(f"gather_nd: index {row[bad].ravel()[0]} is out of bounds for "
                             f"axis {ax} with size {n}")
        k[ax] = np.where(row < 0, row + n, row)
    return k


def _gather_nd(attrs, data, indices):
    k = _gather_nd_positions(data.shape, indices)
    out = data[tuple(k)]
    return out.reshape(_gather_nd_shape(attrs, [data.shape, indices.shape])[0])


def _lower_gather_nd(attrs, data, indices):
    """Each output position loads its data element through the index rows (wrapped, so a
    negative index counts from the end; out-of-range indices, refused eagerly, stay in
    bounds here too)."""
    m = indices.shape[0]
    shape = _gather_nd_shape(attrs, [data.shape, indices.shape])[0]
    lead = len(indices.shape) - 1

    def fn(i):
        pos = tuple(Expr(Ops.PICKIDX, (indices((iconst(ax),) + tuple(i[:lead])),
                                       data.shape[ax], "wrap"), "int64") for ax in range(m))
        return data(pos + tuple(i[lead:lead + len(data.shape) - m]))
    return Lazy(shape, data.dtype, fn)


def _grad_gather_nd(F, attrs, ins, outs, og):
    """og added at the positions read: the flat position of each index row as a one-hot
    over data's leading axes, times og, summed (repeated rows add up, as MXNet's).  A
    negative index's gradient lands where it read; MXNet 1.9.1's backward drops it."""
    data, indices = ins
    m = indices.shape[0]
    lead = tuple(data.shape[:m])
    rest = tuple(data.shape[m:])
    rows = math.prod(indices.shape[1:])
    flat = None
    for ax in range(m):
        k = F.Cast(F.slice_axis(indices, axis=0, begin=ax, end=ax + 1), dtype="float64")
        k = F.trunc(k)
        k = k - F.floor(k / float(lead[ax])) * float(lead[ax])  # negative: from the end
        stride = float(math.prod(lead[ax + 1:]))
        flat = k * stride if flat is None else flat + k * stride
    hot = F.one_hot(F.reshape(flat, shape=(rows,)), depth=math.prod(lead),
                    dtype=str(data.dtype))  # (rows, prod(lead))
    g = F.dot(hot, F.reshape(og[0], shape=(rows, math.prod(rest))), transpose_a=True)
    return [F.reshape(g, shape=tuple(data.shape)), None]


register(Op("gather_nd", ("data", "indices"), _gather_nd_shape, _gather_nd,
            grad=_grad_gather_nd, lower=_lower_gather_nd))
