"""The shape and sequence F-ops custom losses are written with: repeat, SequenceMask,
SequenceLast, L2Normalization, shape_array, size_array, contrib.arange_like, MakeLoss,
softmax_cross_entropy."""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError
from ..loopir import Expr, Lazy, Ops, alu, cast, cmp, const, iadd, iconst, idiv, ravel, where
from .reduce import normalize_axis
from .registry import FLOATS, Attr, Op, get_op, register

# --- repeat ------------------------------------------------------------------------------

def _repeat_axis(attrs, ndim):
    return None if attrs["axis"] is None else normalize_axis(attrs["axis"], ndim)


def _repeat_shape(attrs, shapes):
    shape, n = tuple(shapes[0]), attrs["repeats"]
    if n < 0:
        raise ShapeError(f"repeat: repeats must be >= 0, got {n}")
    ax = _repeat_axis(attrs, len(shape))
    if ax is None:
        return [(math.prod(shape) * n,)]
    return [shape[:ax] + (shape[ax] * n,) + shape[ax + 1:]]


def _repeat(attrs, x):
    ax = _repeat_axis(attrs, x.ndim)
    return np.repeat(x.reshape(-1) if ax is None else x, attrs["repeats"],
                     axis=0 if ax is None else ax)


def _lower_repeat(attrs, x):
    ax = _repeat_axis(attrs, len(x.shape))
    src = x.reshape((x.size,)) if ax is None else x
    ax = 0 if ax is None else ax
    n = attrs["repeats"]
    out = _repeat_shape(attrs, [x.shape])[0]
    if n == 0:
        return Lazy.full(out, 0.0, x.dtype)
    return Lazy(out, x.dtype, lambda i: src(tuple(i[:ax]) + (idiv(i[ax], n),) + tuple(i[ax + 1:])))


def _grad_repeat(F, attrs, ins, outs, og):
    """Each element was copied repeats times, side by side: sum each run of copies."""
    x = ins[0]
    ax = _repeat_axis(attrs, len(x.shape))
    shape = (math.prod(x.shape),) if ax is None else tuple(x.shape)
    ax = 0 if ax is None else ax
    split = shape[:ax + 1] + (attrs["repeats"],) + shape[ax + 1:]
    g = F.sum(F.reshape(og[0], shape=split), axis=ax + 1)
    return [F.reshape(g, shape=tuple(x.shape))]


register(Op("repeat", ("data",), _repeat_shape, _repeat, fluent=True,
            attrs={"repeats": Attr("int"), "axis": Attr("opt_int", None)},
            lower=_lower_repeat, grad=_grad_repeat))


# --- SequenceMask / SequenceLast ---------------------------------------------------------

def _seq_axes(attrs, shape, name):
    ax = attrs["axis"]
    if ax not in (0, 1) or len(shape) < 2:
        raise ShapeError(f"{name}: axis must be 0 or 1 of an input of at least 2 axes, got "
                         f"axis={ax} for shape {tuple(shape)}")
    return ax, 1 - ax  # the time axis, the batch axis


def _seq_inputs(attrs):
    return ("data", "sequence_length") if attrs["use_sequence_length"] else ("data",)


def _check_lengths(name, attrs, shapes):
    data = tuple(shapes[0])
    t_ax, b_ax = _seq_axes(attrs, data, name)
    if attrs["use_sequence_length"]:
        if len(shapes) < 2:
            raise ShapeError(f"{name}: use_sequence_length=True needs sequence_length")
        if tuple(shapes[1]) != (data[b_ax],):
            raise ShapeError(f"{name}: sequence_length has shape {tuple(shapes[1])}, the batch "
                             f"axis {b_ax} of data {data} needs ({data[b_ax]},)")
    return data, t_ax, b_ax


def _along(n, ax, ndim):
    return tuple(n if d == ax else 1 for d in range(ndim))


def _sequence_mask(attrs, data, lengths=None):
    if not attrs["use_sequence_length"]:
        return data.copy()
    t_ax, b_ax = _seq_axes(attrs, data.shape, "SequenceMask")
    t = np.arange(data.shape[t_ax]).reshape(_along(-1, t_ax, data.ndim))
    # MXNet casts a length to an integer first: 2.7 keeps two steps
    n = np.trunc(lengths).reshape(_along(-1, b_ax, data.ndim))
    return np.where(t < n, data, np.asarray(attrs["value"], data.dtype))


def _lower_sequence_mask(attrs, data, lengths=None):
    if lengths is None:
        return data
    t_ax, b_ax = _seq_axes(attrs, data.shape, "SequenceMask")
    fill = const(attrs["value"], data.dtype)

    def fn(i):
        n = lengths((i[b_ax],))
        # t < trunc(n) as t + 1 <= n: the same for every integer t >= 0
        keep = cmp("le", cast(iadd(i[t_ax], 1), n.dtype), n)
        return where(keep, data(i), fill)
    return Lazy(data.shape, data.dtype, fn)


def _grad_sequence_mask(F, attrs, ins, outs, og):
    if not attrs["use_sequence_length"]:
        return [og[0]]
    return [F.SequenceMask(og[0], ins[1], use_sequence_length=True, value=0.0,
                           axis=attrs["axis"]), None]


_SEQ_ATTRS = {"use_sequence_length": Attr("bool", False), "axis": Attr("int", 0)}

register(Op("SequenceMask", ("data", "sequence_length?"),
            lambda a, s: [_check_lengths("SequenceMask", a, s)[0]], _sequence_mask,
            attrs={**_SEQ_ATTRS, "value": Attr("float", 0.0)}, active_inputs=_seq_inputs,
            lower=_lower_sequence_mask, grad=_grad_sequence_mask, hint="sequencemask"))


def _last_shape(attrs, shapes):
    data, t_ax, _ = _check_lengths("SequenceLast", attrs, shapes)
    return [data[:t_ax] + data[t_ax + 1:]]


def _last_index(attrs, data, lengths):
    """The time step each batch entry ends at: length - 1 (MXNet casts the float length to
    an integer), or the last step without lengths."""
    t_ax, _ = _seq_axes(attrs, data.shape, "SequenceLast")
    T = data.shape[t_ax]
    if lengths is None:
        return np.full(data.shape[1 - t_ax], T - 1, np.int64)
    return np.clip(lengths.astype(np.int64) - 1, 0, max(T - 1, 0))


def _sequence_last(attrs, data, lengths=None):
    t_ax, _ = _seq_axes(attrs, data.shape, "SequenceLast")
    k = _last_index(attrs, data, lengths)
    moved = np.moveaxis(data, t_ax, 0)  # (T, B, ...) whichever axis is time
    return moved[k, np.arange(moved.shape[1])]


def _lower_sequence_last(attrs, data, lengths=None):
    """A gather along time: each batch entry reads step trunc(length) - 1, clipped into
    the sequence as the kernel does (PICKIDX truncates and clips)."""
    t_ax, _ = _seq_axes(attrs, data.shape, "SequenceLast")
    T = data.shape[t_ax]
    shape = _last_shape(attrs, [data.shape] + ([lengths.shape] if lengths is not None else []))[0]

    def fn(j):
        if lengths is None:
            t = iconst(T - 1)
        else:
            n = lengths((j[0],))
            t = Expr(Ops.PICKIDX, (alu("sub", n, const(1.0, n.dtype)), T, "clip"), "int64")
        return data(tuple(j[:t_ax]) + (t,) + tuple(j[t_ax:]))
    return Lazy(shape, data.dtype, fn)


def _grad_sequence_last(F, attrs, ins, outs, og):
    """og written back at each entry's last step, zeros elsewhere: a one-hot over time."""
    data = ins[0]
    t_ax, b_ax = _seq_axes(attrs, data.shape, "SequenceLast")
    T, B = data.shape[t_ax], data.shape[b_ax]
    steps = F.reshape(F.arange(T, dtype="float64"), shape=_along(T, t_ax, 2))
    if attrs["use_sequence_length"]:
        last = F.clip(F.floor(F.Cast(ins[1], dtype="float64")) - 1.0, a_min=0.0,
                      a_max=float(T - 1))
    else:
        last = F.ones((B,), dtype="float64") * float(T - 1)
    last = F.reshape(last, shape=_along(B, b_ax, 2))
    hot = F.Cast(F.broadcast_equal(steps, last), dtype=str(data.dtype))  # (T,B) or (B,T)
    hot = F.reshape(hot, shape=hot.shape + (1,) * (len(data.shape) - 2))
    g = F.expand_dims(og[0], axis=t_ax)
    grads = [F.broadcast_mul(hot, g)]
    return grads + [None] * (len(ins) - 1)


register(Op("SequenceLast", ("data", "sequence_length?"), _last_shape, _sequence_last,
            attrs=dict(_SEQ_ATTRS), active_inputs=_seq_inputs, grad=_grad_sequence_last,
            lower=_lower_sequence_last,
            hint="sequencelast"))


# --- L2Normalization ---------------------------------------------------------------------

def _l2_axes(attrs, ndim):
    mode = attrs["mode"]
    if mode == "instance":
        return tuple(range(1, ndim))
    if ndim < 2 or (mode == "spatial" and ndim < 3):
        raise ShapeError(f"L2Normalization mode {mode!r} needs at least "
                         f"{2 if mode == 'channel' else 3} axes, got {ndim}")
    return (1,) if mode == "channel" else tuple(range(2, ndim))


def _l2norm(attrs, x):
    axes = _l2_axes(attrs, x.ndim)
    norm = np.sqrt(np.sum(x * x, axis=axes, keepdims=True) + np.asarray(attrs["eps"], x.dtype))
    return x / norm


def _grad_l2norm(F, attrs, ins, outs, og):
    """y = x / n with n = sqrt(sum x^2 + eps): dx = (og - y * sum(og * y)) / n."""
    x, y, g = ins[0], outs[0], og[0]
    axes = _l2_axes(attrs, len(x.shape))
    n = F.sqrt(F.sum(F.square(x), axis=axes, keepdims=True) + attrs["eps"])
    dot = F.sum(g * y, axis=axes, keepdims=True)
    return [F.broadcast_div(g - F.broadcast_mul(y, dot), n)]


def _lower_l2norm(attrs, x):
    axes = _l2_axes(attrs, len(x.shape))
    total = x.map("mul", x).reduce("sum", axes, True)
    norm = total.map("add", Lazy.full(total.shape, attrs["eps"], x.dtype)).map("sqrt")
    return x.map("div", norm.broadcast_to(x.shape))


register(Op("L2Normalization", ("data",), lambda a, s: [_l2_axes(a, len(s[0])) and tuple(s[0])],
            _l2norm, attrs={"eps": Attr("float", 1e-10),
                            "mode": Attr("str", "instance",
                                         choices=("instance", "channel", "spatial"))},
            accepts={"data": FLOATS}, grad=_grad_l2norm, lower=_lower_l2norm,
            hint="l2normalization"))


# --- shape_array / size_array / contrib.arange_like ------------------------------------------

def _no_grad(F, attrs, ins, outs, og):
    return [F.zeros_like(x) for x in ins]


register(Op("shape_array", ("data",), lambda a, s: [(len(s[0]),)],
            lambda a, x: np.asarray(x.shape, np.int64), dtype=lambda a, d: ["int64"],
            grad=_no_grad))
register(Op("size_array", ("data",), lambda a, s: [(1,)],
            lambda a, x: np.asarray([x.size], np.int64), dtype=lambda a, d: ["int64"],
            grad=_no_grad))


def _arange_like_shape(attrs, shapes):
    shape = tuple(shapes[0])
    if attrs["axis"] is None:
        return [shape]
    return [(shape[normalize_axis(attrs["axis"], len(shape))],)]


def _arange_like(attrs, x):
    shape = _arange_like_shape(attrs, [x.shape])[0]
    n = math.prod(shape)
    k = np.arange(n) // attrs["repeat"]
    return (attrs["start"] + k * attrs["step"]).astype(x.dtype).reshape(shape)


def _lower_arange_like(attrs, x):
    shape = _arange_like_shape(attrs, [x.shape])[0]
    def fn(i):
        k = cast(idiv(ravel(tuple(i), shape), attrs["repeat"]), "float64")
        v = alu("add", const(attrs["start"], "float64"),
                alu("mul", k, const(attrs["step"], "float64")))
        return cast(v, x.dtype)
    return Lazy(shape, x.dtype, fn)


register(Op("_contrib_arange_like", ("data",), _arange_like_shape, _arange_like,
            attrs={"start": Attr("float", 0.0), "step": Attr("float", 1.0),
                   "repeat": Attr("int", 1), "ctx": Attr("str", ""),
                   "axis": Attr("opt_int", None)},
            grad=_no_grad, lower=_lower_arange_like, hint="arange_like"))


# --- MakeLoss / make_loss ------------------------------------------------------------------

def _grad_make_loss(F, attrs, ins, outs, og):
    """MXNet ignores the head gradient: d loss = grad_scale, divided by the batch size
    ('batch') or by the number of elements above valid_thresh, at least 1 ('valid')."""
    x = ins[0]
    g = F.ones_like(x) * attrs["grad_scale"]
    if attrs["normalization"] == "batch":
        g = g / float(x.shape[0])
    elif attrs["normalization"] == "valid":
        count = F.sum(F.Cast(x > attrs["valid_thresh"], dtype=str(x.dtype)))
        g = F.broadcast_div(g, F.reshape(F.broadcast_maximum(count, F.ones_like(count)),
                                         shape=(1,) * len(x.shape)))
    return [g]


register(Op("MakeLoss", ("data",), lambda a, s: [tuple(s[0])], lambda a, x: x.copy(),
            attrs={"grad_scale": Attr("float", 1.0), "valid_thresh": Attr("float", 0.0),
                   "normalization": Attr("str", "null", choices=("null", "batch", "valid"))},
            lower=lambda a, x: x, grad=_grad_make_loss, hint="makeloss"))
register(Op("make_loss", ("data",), lambda a, s: [tuple(s[0])], lambda a, x: x.copy(),
            lower=lambda a, x: x, fluent=True,
            grad=lambda F, a, ins, outs, og: [F.ones_like(ins[0])]))


# --- softmax_cross_entropy ---------------------------------------------------------------

def _sce_shape(attrs, shapes):
    data, label = tuple(shapes[0]), tuple(shapes[1])
    if len(data) != 2:
        raise ShapeError(f"softmax_cross_entropy: data must be 2-d (batch, classes), got shape "
                         f"{data}")
    if len(label) != 1 or label[0] != data[0]:
        raise ShapeError(f"softmax_cross_entropy: label must be 1-d with one class per row of "
                         f"data {data}, got shape {label}")
    return [(1,)]


def _sce_expand(attrs, in_shapes):
    """-sum log max(softmax(data)[label], 1e-8), as MXNet computes it (the floor caps a
    row's loss at 18.42); a label is truncated to an integer and wraps around the classes."""
    steps = [("softmax", {"axis": -1}, [("in", 0)]),
             ("pick", {"axis": -1, "mode": "wrap"}, [(0, 0), ("in", 1)]),
             ("_maximum_scalar", {"scalar": 1e-8}, [(1, 0)]),
             ("log", {}, [(2, 0)]),
             ("sum", {"keepdims": False}, [(3, 0)]),
             ("negative", {}, [(4, 0)]),
             ("Reshape", {"shape": (1,)}, [(5, 0)])]
    return steps, [(6, 0)]


def _sce(attrs, data, label):
    """The expansion run step by step with the registry's numpy kernels: eager and compiled
    compute the same formula."""
    steps, outs = _sce_expand(attrs, [data.shape, label.shape])
    vals: list = []
    for name, a, refs in steps:
        op = get_op(name)
        args = [(data, label)[r[1]] if r[0] == "in" else vals[r[0]] for r in refs]
        vals.append(op.run(op.parse_attrs(a), args)[0])
    return vals[outs[0][0]]


def _grad_sce(F, attrs, ins, outs, og):
    data, label = ins
    classes = data.shape[1]
    index = F.trunc(label)  # pick's reading of a label: truncated, then wrapped
    target = F.one_hot(index - F.floor(index / classes) * classes, depth=classes,
                       dtype=str(data.dtype))
    return [F.broadcast_mul(F.softmax(data, axis=-1) - target, F.reshape(og[0], shape=(1, 1))),
            None]


register(Op("softmax_cross_entropy", ("data", "label"), _sce_shape, _sce,
            same_dtype=("data", "label"), accepts={"data": FLOATS}, expand=_sce_expand,
            grad=_grad_sce))
