"""``x[key]`` and ``x[key] = v`` for NDArray and Symbol alike, as graph ops.

A key of integers, slices, ``None`` and one ``...`` becomes one ``slice`` op (begin, end,
step per axis, Python's meaning) followed, if axes are dropped (integers) or added
(``None``), by one ``Reshape``.  Assignment is ``_slice_assign`` (``_slice_assign_scalar``
for a number) with the same begin/end/step, so both modes record the same ops, which also
appear in exported graphs.  MXNet 1.x's legacy shapes have no 0-d arrays: a key that
selects one element gives shape (1,), as ``mx.nd`` does.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

_ADVANCED = ("only integers, slices (a:b:c), None and ... can index here; to gather by an "
             "index array use F.pick or F.one_hot, to select by a mask use F.where")


@dataclass
class IndexPlan:
    begin: tuple
    end: tuple
    step: tuple
    sliced: tuple  # shape after the slice op (integer-indexed axes kept as 1)
    indexed: tuple  # numpy's x[key].shape (integer-indexed axes dropped; may be ())
    shape: tuple  # the result's shape: indexed, or (1,) for ()
    needs_slice: bool
    has_new_axes: bool
    contiguous: bool  # the selection is one block of x's memory: MXNet gives a view of it


def _int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def index_plan(key, shape: tuple | None) -> IndexPlan:
    """What ``x[key]`` does to an array of this shape, or IndexError/TypeError."""
    if shape is None:
        raise TypeError("indexing a symbol needs its shape: give its variables shapes "
                        "(sym.var(name, shape=...)), as hybridize() does")
    items = list(key) if isinstance(key, tuple) else [key]
    for it in items:
        if not (_int(it) or it is None or it is Ellipsis or isinstance(it, slice)):
            raise TypeError(f"index {key!r}: {_ADVANCED}")
        if isinstance(it, slice) and not all(v is None or _int(v)
                                             for v in (it.start, it.stop, it.step)):
            raise TypeError(f"index {key!r}: slice bounds must be integers or None")
    if sum(it is Ellipsis for it in items) > 1:
        raise IndexError(f"index {key!r}: at most one ... (Ellipsis)")
    consuming = sum(1 for it in items if it is not None and it is not Ellipsis)
    if consuming > len(shape):
        raise IndexError(f"index {key!r}: too many indices for shape {tuple(shape)}")
    if Ellipsis in items:
        k = items.index(Ellipsis)
        items[k:k + 1] = [slice(None)] * (len(shape) - consuming)
    else:
        items += [slice(None)] * (len(shape) - consuming)
    begin, end, step, sliced, final, steps = [], [], [], [], [], []
    axis, needs_slice, new_axes = 0, False, False
    for it in items:
        if it is None:
            final.append(1)
            new_axes = True
            continue
        dim = shape[axis]
        if isinstance(it, slice):
            if it.step == 0:
                raise ValueError(f"index {key!r}: slice step must not be 0")
            n = len(range(*it.indices(dim)))
            begin.append(it.start)
            end.append(it.stop)
            step.append(it.step)
            steps.append(it.step or 1)
            needs_slice |= n != dim or (it.step or 1) != 1
            sliced.append(n)
            final.append(n)
        else:
            i = int(it)
            if not -dim <= i < dim:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim} "
                                 f"(shape {tuple(shape)})")
            i %= dim
            begin.append(i)
            end.append(i + 1)
            step.append(1)
            steps.append(1)
            needs_slice |= dim != 1
            sliced.append(1)
        axis += 1
    while begin and begin[-1] is None and end[-1] is None and step[-1] is None:
        begin.pop(), end.pop(), step.pop()  # trailing whole axes need no attribute
    return IndexPlan(tuple(begin), tuple(end), tuple(step), tuple(sliced), tuple(final),
                     tuple(final) or (1,), needs_slice, new_axes,
                     _contiguous(sliced, steps, tuple(shape)))


def _contiguous(counts: list, steps: list, shape: tuple) -> bool:
    """MXNet 1.9's rule (NDArray._basic_indexing_slice_is_contiguous): from the last axis
    back, once an axis is cut short every axis before it may keep one element only."""
    if math.prod(counts) <= 1:
        return True
    cut = False
    for n, st, dim in zip(reversed(counts), reversed(steps), reversed(shape)):
        if n == 0:
            return True
        if n > 1 and (st != 1 or cut):
            return False
        cut |= n < dim
    return True


def get_item(x, key):
    """x[key] through the registry's ops (x: NDArray or Symbol): as in MXNet, a view of x's
    memory when the selection is contiguous (x[0], x[1:3], x[0, 1:]), else a new array."""
    plan = index_plan(key, x.shape)
    out = x
    if plan.needs_slice:
        run = x._view if plan.contiguous else x._invoke
        out = run("slice", [x], {"begin": plan.begin, "end": plan.end, "step": plan.step})
    if out is x or tuple(out.shape) != plan.shape:
        # a view of x (x[:], x[None]) or of the new array the slice returned
        out = out._view("Reshape", [out], {"shape": plan.shape})
    return out


def assigned(x, key, value):
    """The value of x after ``x[key] = value``, as a new array/symbol.  Refused for a
    block's input: eagerly that would write into the caller's array, traced it cannot."""
    from .frontend import input_assignment_error, is_argument
    name = is_argument(x)
    if name:
        raise input_assignment_error(name)
    plan = index_plan(key, x.shape)
    if plan.has_new_axes:
        raise TypeError(f"index {key!r}: None (a new axis) cannot be assigned to")
    attrs = {"begin": plan.begin or (None,), "end": plan.end or (None,),
             "step": plan.step or (None,)}
    if isinstance(value, (numbers.Number, np.generic)):
        return x._invoke("_slice_assign_scalar", [x], {**attrs, "scalar": float(value)})
    if type(value) is not type(x):
        raise TypeError(f"cannot assign a {type(value).__name__} into a {type(x).__name__}: "
                        f"use a number or a {type(x).__name__}")
    v, target = value, plan.indexed
    if tuple(v.shape) != target:
        squeezed = tuple(d for d in v.shape if d != 1) == tuple(d for d in target if d != 1)
        if not squeezed:  # numpy's rule: the value broadcasts to the indexed shape
            if len(v.shape) > len(target):
                raise ValueError(f"cannot assign shape {tuple(v.shape)} to x[{key!r}] of "
                                 f"shape {target}")
            v = v._invoke("Reshape", [v], {"shape": (1,) * (len(target) - len(v.shape))
                                           + tuple(v.shape)})
            v = v._invoke("broadcast_to", [v], {"shape": target})
    if tuple(v.shape) != plan.sliced:
        v = v._invoke("Reshape", [v], {"shape": plan.sliced})
    if v.dtype != x.dtype:
        v = v._invoke("Cast", [v], {"dtype": str(x.dtype)})
    return x._invoke("_slice_assign", [x, v], attrs)
