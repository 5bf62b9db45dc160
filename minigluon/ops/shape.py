"""Operators that move data without arithmetic: reshape, transpose, slice, broadcast, concat."""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError, normalize_dtype
from ..loopir import Expr, Lazy, Ops, alu, cast, cmp, iadd, iconst, idiv, imod, imul, where
from .elemwise import broadcast_shapes
from .gradients import unbroadcast
from .reduce import normalize_axis
from .registry import Attr, AttrError, Op, register


def mxnet_reshape(src: tuple, spec: tuple, reverse: bool = False) -> tuple:
    """Resolve MXNet's Reshape codes (0 copy, -1 infer, -2 rest, -3 merge, -4 split)."""
    if reverse:
        return tuple(reversed(mxnet_reshape(tuple(reversed(src)), tuple(reversed(spec)))))
    out: list[int] = []
    i = 0  # position in src
    k = 0
    infer_at = None

    def src_dim(j):
        if j >= len(src):
            raise ShapeError(f"reshape spec {spec} refers past the end of shape {src}")
        return src[j]

    while k < len(spec):
        code = spec[k]
        if code > 0:
            out.append(code)
            i += 1
        elif code == 0:
            out.append(src_dim(i))
            i += 1
        elif code == -1:
            if infer_at is not None:
                raise ShapeError(f"reshape spec {spec} has more than one -1")
            infer_at = len(out)
            out.append(1)
            i += 1
        elif code == -2:
            out.extend(src[i:])
            i = len(src)
        elif code == -3:
            out.append(src_dim(i) * src_dim(i + 1))
            i += 2
        elif code == -4:
            if k + 2 >= len(spec):
                raise ShapeError(f"reshape spec {spec}: -4 needs two following values")
            d, a, b = src_dim(i), spec[k + 1], spec[k + 2]
            if a == -1 and b > 0 and d % b == 0:
                a = d // b
            elif b == -1 and a > 0 and d % a == 0:
                b = d // a
            if a <= 0 or b <= 0 or a * b != d:
                raise ShapeError(f"reshape spec {spec}: cannot split dim {d} into ({spec[k+1]}, {spec[k+2]})")
            out.extend([a, b])
            i += 1
            k += 2
        else:
            raise ShapeError(f"reshape spec {spec} has invalid value {code}")
        k += 1
    total = math.prod(src)
    if infer_at is not None:
        rest = math.prod(out)
        if rest == 0 or total % rest:
            raise ShapeError(f"cannot reshape {src} ({total} elements) to {spec}")
        out[infer_at] = total // rest
    if math.prod(out) != total:
        raise ShapeError(f"cannot reshape {src} ({total} elements) to {tuple(out)} "
                         f"({math.prod(out)} elements)")
    return tuple(out)


def _reshape_shape(attrs, shapes):
    return [mxnet_reshape(tuple(shapes[0]), attrs["shape"], attrs["reverse"])]


# a reshape or a broadcast to the same shape, a cast to the same dtype: simplify drops them
_VIEW = frozenset({"view", "shape_identity"})
_SAME_SHAPE = frozenset({"shape_identity"})


register(Op("Reshape", ("data",), _reshape_shape,
            lambda a, x: x.reshape(mxnet_reshape(x.shape, a["shape"], a["reverse"])),
            attrs={"shape": Attr("shape"), "reverse": Attr("bool", False)},
            aliases=("reshape",), hint="reshape",
            lower=lambda a, x: x.reshape(mxnet_reshape(x.shape, a["shape"], a["reverse"])),
            grad=lambda F, a, ins, outs, og: [F.reshape(og[0], shape=ins[0].shape)],
            traits=_VIEW))


def _reshape_like_shape(attrs, shapes):
    lhs, rhs = (tuple(s) for s in shapes)
    if math.prod(lhs) != math.prod(rhs):
        raise ShapeError(f"cannot reshape {lhs} ({math.prod(lhs)} elements) like {rhs} "
                         f"({math.prod(rhs)} elements)")
    return [rhs]


register(Op("reshape_like", ("lhs", "rhs"), _reshape_like_shape, lambda a, x, y: x.reshape(y.shape),
            lower=lambda a, x, y: x.reshape(y.shape),
            grad=lambda F, a, ins, outs, og: [F.reshape(og[0], shape=ins[0].shape), None],
            traits=_VIEW))


def _flat(shape):
    return (shape[0], math.prod(shape[1:])) if shape else (1, 1)


register(Op("Flatten", ("data",), lambda a, s: [_flat(tuple(s[0]))],
            lambda a, x: x.reshape(_flat(x.shape)), aliases=("flatten",), hint="flatten",
            fluent=True, lower=lambda a, x: x.reshape(_flat(x.shape)),
            grad=lambda F, a, ins, outs, og: [F.reshape(og[0], shape=ins[0].shape)],
            traits=_VIEW))


def _expand_axis(attrs, ndim):
    ax = attrs["axis"]
    if not -ndim - 1 <= ax <= ndim:
        raise ShapeError(f"expand_dims axis {ax} is out of range for {ndim}-d input")
    return ax % (ndim + 1)


def _expand_shape(attrs, shapes):
    shape = tuple(shapes[0])
    ax = _expand_axis(attrs, len(shape))
    return [shape[:ax] + (1,) + shape[ax:]]


register(Op("expand_dims", ("data",), _expand_shape,
            lambda a, x: np.expand_dims(x, _expand_axis(a, x.ndim)),
            attrs={"axis": Attr("int")}, fluent=True,
            lower=lambda a, x: x.reshape(_expand_shape(a, [x.shape])[0]),
            grad=lambda F, a, ins, outs, og: [F.reshape(og[0], shape=ins[0].shape)],
            traits=_VIEW))


def _swap(attrs, ndim):
    return normalize_axis(attrs["dim1"], ndim), normalize_axis(attrs["dim2"], ndim)


def _swap_shape(attrs, shapes):
    s = list(shapes[0])
    a, b = _swap(attrs, len(s))
    s[a], s[b] = s[b], s[a]
    return [tuple(s)]


def _swap_perm(attrs, ndim):
    perm = list(range(ndim))
    a, b = _swap(attrs, ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return tuple(perm)


register(Op("SwapAxis", ("data",), _swap_shape, lambda a, x: np.swapaxes(x, *_swap(a, x.ndim)),
            attrs={"dim1": Attr("int", 0), "dim2": Attr("int", 0)},
            aliases=("swapaxes",), hint="swapaxes", fluent=True,
            lower=lambda a, x: x.permute(_swap_perm(a, len(x.shape))),
            grad=lambda F, a, ins, outs, og: [F.SwapAxis(og[0], dim1=a["dim1"], dim2=a["dim2"])]))


def _perm(attrs, ndim):
    axes = attrs["axes"]
    if not axes:
        return tuple(reversed(range(ndim)))
    perm = tuple(normalize_axis(a, ndim) for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeError(f"transpose axes {axes} are not a permutation of {ndim} axes")
    return perm


register(Op("transpose", ("data",),
            lambda a, s: [tuple(s[0][p] for p in _perm(a, len(s[0])))],
            lambda a, x: np.transpose(x, _perm(a, x.ndim)),
            attrs={"axes": Attr("shape", ())}, fluent=True,
            lower=lambda a, x: x.permute(_perm(a, len(x.shape))),
            grad=lambda F, a, ins, outs, og: [F.transpose(og[0], axes=tuple(
                int(i) for i in np.argsort(_perm(a, len(ins[0].shape)))))]))


def _broadcast_to_shape(attrs, shapes):
    src, tgt = tuple(shapes[0]), attrs["shape"]
    if len(tgt) != len(src):
        raise ShapeError(f"broadcast_to: target {tgt} must have the same rank as input {src}")
    out = tuple(s if t == 0 else t for s, t in zip(src, tgt))
    for s, t in zip(src, out):
        if s != t and s != 1:
            raise ShapeError(f"cannot broadcast {src} to {tgt}")
    return [out]


register(Op("broadcast_to", ("data",), _broadcast_to_shape,
            lambda a, x: np.broadcast_to(x, _broadcast_to_shape(a, [x.shape])[0]).copy(),  # 0-d stays 0-d
            attrs={"shape": Attr("shape")}, fluent=True,
            lower=lambda a, x: x.broadcast_to(_broadcast_to_shape(a, [x.shape])[0]),
            grad=lambda F, a, ins, outs, og: [unbroadcast(F, og[0], ins[0].shape)],
            traits=_SAME_SHAPE))


def _broadcast_like_shape(attrs, shapes):
    src, tgt = tuple(shapes[0]), tuple(shapes[1])
    if broadcast_shapes(src, tgt) != tgt or len(src) != len(tgt):
        raise ShapeError(f"cannot broadcast {src} like {tgt}")
    return [tgt]


register(Op("broadcast_like", ("lhs", "rhs"), _broadcast_like_shape,
            lambda a, x, y: np.broadcast_to(x, y.shape).copy(), fluent=True,
            lower=lambda a, x, y: x.broadcast_to(y.shape),
            grad=lambda F, a, ins, outs, og: [unbroadcast(F, og[0], ins[0].shape), None],
            traits=_SAME_SHAPE))


def _bcast_axis_shape(attrs, shapes):
    s = list(shapes[0])
    axes, sizes = attrs["axis"], attrs["size"]
    if len(axes) != len(sizes):
        raise ShapeError(f"broadcast_axis: axis {axes} and size {sizes} differ in length")
    for ax, size in zip(axes, sizes):
        ax = normalize_axis(ax, len(s))
        if s[ax] != 1:
            raise ShapeError(f"broadcast_axis: axis {ax} has size {s[ax]}, not 1")
        s[ax] = size
    return [tuple(s)]


register(Op("broadcast_axis", ("data",), _bcast_axis_shape,
            lambda a, x: np.ascontiguousarray(np.broadcast_to(x, _bcast_axis_shape(a, [x.shape])[0])),
            attrs={"axis": Attr("shape", ()), "size": Attr("shape", ())},
            aliases=("broadcast_axes",), fluent=True,
            lower=lambda a, x: x.broadcast_to(_bcast_axis_shape(a, [x.shape])[0]),
            grad=lambda F, a, ins, outs, og: [unbroadcast(F, og[0], ins[0].shape)],
            traits=_SAME_SHAPE))


def _squeeze_axes(attrs, shape):
    if attrs["axis"] is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    axes = (attrs["axis"],) if isinstance(attrs["axis"], int) else attrs["axis"]
    axes = tuple(normalize_axis(a, len(shape)) for a in axes)
    for a in axes:
        if shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} of shape {shape} has size {shape[a]}, not 1")
    return axes


def _squeeze_shape(attrs, shapes):
    shape = tuple(shapes[0])
    axes = _squeeze_axes(attrs, shape)
    return [tuple(d for i, d in enumerate(shape) if i not in axes) or (1,)]


register(Op("squeeze", ("data",), _squeeze_shape,
            lambda a, x: x.reshape(_squeeze_shape(a, [x.shape])[0]),
            attrs={"axis": Attr("axes", None)}, fluent=True,
            lower=lambda a, x: x.reshape(_squeeze_shape(a, [x.shape])[0]),
            grad=lambda F, a, ins, outs, og: [F.reshape(og[0], shape=ins[0].shape)],
            traits=_VIEW))


def slice_key(attrs, shape) -> tuple:
    """The Python slices MXNet's slice(begin, end, step) selects (None means default)."""
    begin, end, step = attrs["begin"], attrs["end"], attrs["step"] or ()
    if len(begin) != len(end) or len(begin) > len(shape) or (step and len(step) != len(begin)):
        raise ShapeError(f"slice: begin {begin}, end {end}, step {step} do not fit shape {shape}")
    key = []
    for i in range(len(begin)):
        st = step[i] if step and step[i] is not None else 1
        if st == 0:
            raise ShapeError("slice: step must not be 0")
        key.append(slice(begin[i], end[i], st))
    return tuple(key)


def sliced_shape(shape: tuple, key: tuple) -> tuple:
    """Shape of x[key] for a tuple of slices, without allocating x."""
    out = [len(range(*k.indices(d))) for k, d in zip(key, shape)]
    return tuple(out) + tuple(shape[len(key):])


def _slice_shape(attrs, shapes):
    shape = tuple(shapes[0])
    return [sliced_shape(shape, slice_key(attrs, shape))]


def _lower_slice_key(x, key):
    starts = tuple(range(*k.indices(d))[0] if len(range(*k.indices(d))) else 0
                   for k, d in zip(key, x.shape)) + (0,) * (len(x.shape) - len(key))
    steps = tuple(k.indices(d)[2] for k, d in zip(key, x.shape)) + (1,) * (len(x.shape) - len(key))
    return x.slice(starts, steps, sliced_shape(x.shape, key))


_SLICE_ATTRS = {"begin": Attr("opt_shape"), "end": Attr("opt_shape"), "step": Attr("opt_shape", ())}


def _slice_attrs(key: tuple) -> dict:
    """slice()'s begin/end/step for a tuple of Python slices."""
    return {"begin": tuple(k.start for k in key), "end": tuple(k.stop for k in key),
            "step": tuple(k.step for k in key)}


def _grad_slice(key_of):
    """The gradient of taking x[key]: og written into zeros of x's shape."""
    def grad(F, attrs, ins, outs, og):
        x = ins[0]
        key = key_of(attrs, tuple(x.shape))
        return [F._internal._slice_assign(F.zeros_like(x), og[0], **_slice_attrs(key))]
    return grad


register(Op("slice", ("data",), _slice_shape,
            lambda a, x: np.ascontiguousarray(x[slice_key(a, x.shape)]),
            attrs=dict(_SLICE_ATTRS), aliases=("crop",), fluent=True,
            lower=lambda a, x: _lower_slice_key(x, slice_key(a, x.shape)),
            grad=_grad_slice(slice_key)))


def _assign_check(attrs, shapes):
    lhs, rhs = tuple(shapes[0]), tuple(shapes[1])
    want = sliced_shape(lhs, slice_key(attrs, lhs))
    if rhs != want:
        raise ShapeError(f"_slice_assign: the value has shape {rhs}, the slice {want}")
    return [lhs]


def _slice_assign(attrs, lhs, rhs):
    out = lhs.copy()
    out[slice_key(attrs, lhs.shape)] = rhs
    return out


def _slice_assign_scalar(attrs, x):
    out = x.copy()
    out[slice_key(attrs, x.shape)] = attrs["scalar"]
    return out


def _lower_assign(attrs, lhs, rhs):
    """out[i] = rhs[(i - start) / step] where i is one of the slice's positions, else lhs[i].
    The rhs index is clamped, so the load stays in bounds where the select discards it."""
    key = slice_key(attrs, lhs.shape)
    ranges = [range(*k.indices(d)) for k, d in zip(key, lhs.shape)]
    if any(len(r) == 0 for r in ranges):
        return lhs

    def fn(idx):
        inside, ridx = None, list(idx)
        for ax, r in enumerate(ranges):
            if r.start == 0 and r.step == 1 and len(r) == lhs.shape[ax]:
                continue  # the whole axis
            d = iadd(idx[ax], -r.start) if r.step > 0 else iadd(imul(idx[ax], -1), r.start)
            k = idiv(d, abs(r.step))
            test = cmp("ge", d, iconst(0))
            if abs(r.step) > 1:
                test = alu("and", test, cmp("eq", imod(d, abs(r.step)), iconst(0)), dtype="bool")
            test = alu("and", test, cmp("lt", k, iconst(len(r))), dtype="bool")
            inside = test if inside is None else alu("and", inside, test, dtype="bool")
            ridx[ax] = Expr(Ops.PICKIDX, (k, len(r), "clip"), "int64")
        if inside is None:
            return cast(rhs(tuple(ridx)), lhs.dtype)
        return where(inside, cast(rhs(tuple(ridx)), lhs.dtype), lhs(idx))
    return Lazy(lhs.shape, lhs.dtype, fn)


def _grad_assign(F, attrs, ins, outs, og):
    key = {k: attrs[k] for k in _SLICE_ATTRS}
    return [F._internal._slice_assign_scalar(og[0], scalar=0.0, **key), F.slice(og[0], **key)]


register(Op("_slice_assign", ("lhs", "rhs"), _assign_check, _slice_assign,
            attrs=dict(_SLICE_ATTRS), aliases=("_crop_assign",), hint="slice_assign",
            same_dtype=("lhs", "rhs"), lower=_lower_assign, grad=_grad_assign))
register(Op("_slice_assign_scalar", ("data",), lambda a, s: [tuple(s[0])], _slice_assign_scalar,
            attrs={**_SLICE_ATTRS, "scalar": Attr("float", 0.0)}, hint="slice_assign",
            aliases=("_crop_assign_scalar",),
            lower=lambda a, x: _lower_assign(a, x, Lazy.full(
                sliced_shape(x.shape, slice_key(a, x.shape)), a["scalar"], x.dtype)),
            grad=lambda F, a, ins, outs, og: [F._internal._slice_assign_scalar(
                og[0], scalar=0.0, **{k: a[k] for k in _SLICE_ATTRS})]))


def _slice_axis_key(attrs, shape):
    ax = normalize_axis(attrs["axis"], len(shape))
    key = [slice(None)] * len(shape)
    key[ax] = slice(attrs["begin"], attrs["end"])
    return tuple(key)


register(Op("slice_axis", ("data",),
            lambda a, s: [sliced_shape(tuple(s[0]), _slice_axis_key(a, tuple(s[0])))],
            lambda a, x: np.ascontiguousarray(x[_slice_axis_key(a, x.shape)]),
            attrs={"axis": Attr("int"), "begin": Attr("int"), "end": Attr("opt_int", None)},
            fluent=True, lower=lambda a, x: _lower_slice_key(x, _slice_axis_key(a, x.shape)),
            grad=_grad_slice(_slice_axis_key)))


def _tile_shape(attrs, shapes):
    shape, reps = tuple(shapes[0]), tuple(attrs["reps"])
    n = max(len(shape), len(reps))
    shape, reps = (1,) * (n - len(shape)) + shape, (1,) * (n - len(reps)) + reps
    return [tuple(d * r for d, r in zip(shape, reps))]


def _grad_tile(F, attrs, ins, outs, og):
    """Each input element is copied reps times: sum og over the copies."""
    x = ins[0]
    shape, reps = tuple(x.shape), tuple(attrs["reps"])
    n = max(len(shape), len(reps))
    shape, reps = (1,) * (n - len(shape)) + shape, (1,) * (n - len(reps)) + reps
    split = tuple(v for pair in zip(reps, shape) for v in pair)  # (r0, d0, r1, d1, ...)
    g = F.sum(F.reshape(og[0], shape=split), axis=tuple(range(0, 2 * n, 2)))
    return [F.reshape(g, shape=tuple(x.shape))]


def _lower_tile(attrs, x):
    out_shape = _tile_shape(attrs, [x.shape])[0]
    lead = len(out_shape) - len(x.shape)
    return Lazy(out_shape, x.dtype, lambda i: x(tuple(
        imod(i[lead + j], d) for j, d in enumerate(x.shape))))


register(Op("tile", ("data",), _tile_shape, lambda a, x: np.tile(x, a["reps"]),
            attrs={"reps": Attr("shape")}, fluent=True, grad=_grad_tile, lower=_lower_tile))


def _concat_shape(attrs, shapes):
    shapes = [tuple(s) for s in shapes]
    dim = normalize_axis(attrs["dim"], len(shapes[0]))
    for s in shapes[1:]:
        if len(s) != len(shapes[0]) or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0]))
                                            if i != dim):
            raise ShapeError(f"Concat along dim {dim}: shapes {shapes} differ off that dim")
    out = list(shapes[0])
    out[dim] = sum(s[dim] for s in shapes)
    return [tuple(out)]


register(Op("Concat", ("args",), _concat_shape,
            lambda a, *xs: np.concatenate(xs, axis=a["dim"]),
            attrs={"dim": Attr("int", 1)}, variadic=True, aliases=("concat",), hint="concat",
            same_dtype=("*",), grad=lambda F, a, ins, outs, og: _grad_concat(F, a, ins, og),
            lower=lambda a, *xs: _lower_concat(a, xs)))


def _lower_concat(attrs, xs):
    """Each position reads the input its offset along dim falls in (the others' indices
    are clamped: a select evaluates every operand)."""
    dim = normalize_axis(attrs["dim"], len(xs[0].shape))
    shape = _concat_shape(attrs, [x.shape for x in xs])[0]
    starts = [sum(x.shape[dim] for x in xs[:k]) for k in range(len(xs))]

    def fn(i):
        value = None
        for x, at in reversed(list(zip(xs, starts))):
            if x.shape[dim] == 0:
                continue
            j = list(i)
            j[dim] = Expr(Ops.PICKIDX, (iadd(i[dim], -at), x.shape[dim], "clip"), "int64")
            v = x(tuple(j))
            value = v if value is None else where(cmp("lt", i[dim], iconst(at + x.shape[dim])),
                                                  v, value)
        return value
    return Lazy(shape, xs[0].dtype, fn)


def _lower_stack(attrs, xs):
    ax = attrs["axis"] % (len(xs[0].shape) + 1)
    shape = _stack_shape(attrs, [x.shape for x in xs])[0]

    def fn(i):
        rest = tuple(i[:ax]) + tuple(i[ax + 1:])
        value = xs[-1](rest)
        for k in range(len(xs) - 2, -1, -1):
            value = where(cmp("eq", i[ax], iconst(k)), xs[k](rest), value)
        return value
    return Lazy(shape, xs[0].dtype, fn)


def _grad_concat(F, attrs, ins, og):
    dim = normalize_axis(attrs["dim"], len(ins[0].shape))
    grads, at = [], 0
    for x in ins:
        grads.append(F.slice_axis(og[0], axis=dim, begin=at, end=at + x.shape[dim]))
        at += x.shape[dim]
    return grads


def _grad_stack(F, attrs, ins, og):
    ax = attrs["axis"] % (len(ins[0].shape) + 1)
    return [F.reshape(F.slice_axis(og[0], axis=ax, begin=k, end=k + 1), shape=tuple(x.shape))
            for k, x in enumerate(ins)]


def _stack_shape(attrs, shapes):
    shapes = [tuple(s) for s in shapes]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError(f"stack: all inputs must have the same shape, got {shapes}")
    ax = attrs["axis"]
    nd = len(shapes[0]) + 1
    if not -nd <= ax < nd:
        raise ShapeError(f"stack axis {ax} is out of range for {nd - 1}-d inputs")
    out = list(shapes[0])
    out.insert(ax % nd, len(shapes))
    return [tuple(out)]


register(Op("stack", ("args",), _stack_shape, lambda a, *xs: np.stack(xs, axis=a["axis"]),
            attrs={"axis": Attr("int", 0)}, variadic=True, same_dtype=("*",),
            grad=lambda F, a, ins, outs, og: _grad_stack(F, a, ins, og),
            lower=lambda a, *xs: _lower_stack(a, xs)))


def _lower_cast(attrs, x):
    # NaN, inf and out-of-range floats become the integers numpy's astype gives on x86-64,
    # as MXNet 1.9.1's Cast (codegen's cast)
    return Lazy(x.shape, attrs["dtype"], lambda i: cast(x(i), attrs["dtype"]))


register(Op("Cast", ("data",), lambda a, s: [s[0]], lambda a, x: x.astype(a["dtype"]),
            attrs={"dtype": Attr("dtype")}, dtype=lambda a, d: [normalize_dtype(a["dtype"])],
            aliases=("cast",), hint="cast", fluent=True, lower=_lower_cast,
            grad=lambda F, a, ins, outs, og: [F.Cast(og[0], dtype=str(ins[0].dtype))],
            traits=_SAME_SHAPE))


def _split_count(attrs) -> int:
    n = attrs["num_outputs"]
    if n < 1:
        raise AttrError(f"split: num_outputs must be at least 1, got {n}")
    return n


def _split_parts(attrs, shape: tuple) -> tuple[int, int]:
    """(axis, length of each part) for splitting shape, with MXNet's checks."""
    n = _split_count(attrs)
    if not -len(shape) <= attrs["axis"] < len(shape):
        raise ShapeError(f"split: axis {attrs['axis']} is out of range for an input of shape "
                         f"{tuple(shape)}")
    ax = attrs["axis"] % len(shape)
    if attrs["squeeze_axis"] and shape[ax] != n:
        raise ShapeError(f"split: with squeeze_axis=True, axis {ax} of the input (shape "
                         f"{tuple(shape)}) must have num_outputs={n} elements")
    if shape[ax] % n:
        raise ShapeError(f"split: num_outputs={n} does not evenly divide axis {ax} of the "
                         f"input, shape {tuple(shape)}")
    return ax, shape[ax] // n


def _split_shape(attrs, shapes):
    shape = tuple(shapes[0])
    ax, step = _split_parts(attrs, shape)
    part = shape[:ax] + (() if attrs["squeeze_axis"] else (step,)) + shape[ax + 1:]
    return [part] * attrs["num_outputs"]


def _split(attrs, x):
    ax, step = _split_parts(attrs, x.shape)
    parts = np.split(x, attrs["num_outputs"], axis=ax)
    return [np.squeeze(p, axis=ax) if attrs["squeeze_axis"] else p for p in parts]


def _split_expand(attrs, in_shapes):
    """Each part as slice_axis of the input (and a Reshape dropping the axis): the
    compiler rewrites split into these, so each part fuses into its readers as a view."""
    shape = tuple(in_shapes[0])
    ax, step = _split_parts(attrs, shape)
    steps, outs = [], []
    for k in range(attrs["num_outputs"]):
        steps.append(("slice_axis", {"axis": ax, "begin": k * step, "end": (k + 1) * step},
                      [("in", 0)]))
        if attrs["squeeze_axis"]:
            steps.append(("Reshape", {"shape": shape[:ax] + shape[ax + 1:]}, [(len(steps) - 1, 0)]))
        outs.append((len(steps) - 1, 0))
    return steps, outs


def _grad_split(F, attrs, ins, outs, og):
    ax = attrs["axis"] % len(ins[0].shape)
    parts = [F.expand_dims(g, axis=ax) for g in og] if attrs["squeeze_axis"] else list(og)
    return [parts[0] if len(parts) == 1 else F.concat(*parts, dim=ax)]


register(Op("SliceChannel", ("data",), _split_shape, _split,
            attrs={"num_outputs": Attr("int"), "axis": Attr("int", 1),
                   "squeeze_axis": Attr("bool", False)},
            num_outputs=_split_count, aliases=("split",), hint="split",
            fluent=True, expand=_split_expand, grad=_grad_split))
