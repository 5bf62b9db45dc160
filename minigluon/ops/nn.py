"""Neural-network operators: softmax family, pick, one_hot and CTCLoss."""
from __future__ import annotations

import numpy as np

from ..base import DEFAULT_DTYPE, ShapeError
from ..loopir import Expr, Lazy, Ops, cast, cmp, const, iconst, where
from . import random
from .ctc_reference import ctc_loss, validate_ctc
from .reduce import normalize_axis
from .registry import FLOATS, Attr, AttrError, Op, register

_SOFTMAX_ATTRS = {"axis": Attr("int", -1), "temperature": Attr("opt_float", None),
                  "dtype": Attr("dtype", None), "use_length": Attr("bool", False)}


def _axis_shape(attrs, shapes):
    normalize_axis(attrs["axis"], len(shapes[0]))
    return [shapes[0]]


def log_softmax_np(x: np.ndarray, axis: int, temperature: float | None = None) -> np.ndarray:
    """Stable log-softmax: x - max - log(sum(exp(x - max)))."""
    if temperature is not None:
        x = x / np.asarray(temperature, x.dtype)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, np.zeros((), x.dtype))  # keep -inf rows from giving nan
    shifted = x - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _out_dtype(attrs, dtypes):
    return [attrs["dtype"] or dtypes[0]]


def lower_log_softmax(attrs, x):
    """x - m - log(sum(exp(x - m))), m the row max (0 where it is not finite, as numpy's)."""
    if attrs["use_length"]:
        return None
    if attrs["temperature"] is not None:
        x = x.map("div", Lazy.full((), attrs["temperature"], x.dtype))
    ax = normalize_axis(attrs["axis"], len(x.shape))
    top = x.reduce("max", (ax,), keepdims=True)
    zero = const(0, x.dtype)
    m = Lazy(top.shape, top.dtype, lambda i: where(  # m - m == 0 only for finite m
        Expr(Ops.EQ, (Expr(Ops.SUB, (top(i), top(i)), x.dtype), zero), "bool"), top(i), zero))
    shifted = x.map("sub", m)
    out = shifted.map("sub", shifted.map("exp").reduce("sum", (ax,), keepdims=True).map("log"))
    dt = attrs["dtype"] or x.dtype
    return Lazy(out.shape, dt, lambda i: cast(out(i), dt))


def _tempered(F, attrs, x, g):
    """The gradient with respect to x of a softmax of x / temperature, in x's dtype."""
    if attrs["temperature"] is not None:
        g = g / attrs["temperature"]
    return g if g.dtype == x.dtype else F.Cast(g, dtype=str(x.dtype))


def _softmax_inputs(attrs):
    return ("data", "length") if attrs.get("use_length") else ("data",)


def _softmax_shape(attrs, shapes):
    """data's shape; with use_length, length holds one count per softmax: data's shape
    without the axis ((1,) for 1-d data), as MXNet's."""
    if len(shapes) != len(_softmax_inputs(attrs)):  # never ignore a length, as MXNet
        raise ShapeError("softmax: use_length=True needs a length input: softmax(data, "
                         "length, use_length=True)" if attrs["use_length"] else
                         "softmax: a length input needs use_length=True")
    data = tuple(shapes[0])
    ax = normalize_axis(attrs["axis"], len(data))
    want = data[:ax] + data[ax + 1:] or (1,)
    if len(shapes) > 1 and tuple(shapes[1]) != want:
        raise ShapeError(f"softmax: length must have shape {want} (data {data} without axis "
                         f"{attrs['axis']}), got {tuple(shapes[1])}")
    return [data]


def _softmax_dtype(attrs, dtypes):
    if len(dtypes) > 1 and str(dtypes[1]) not in ("int32", "int64"):
        raise TypeError(f"softmax: length is {dtypes[1]}, but MXNet's softmax takes int32 or "
                        f"int64 lengths only; cast it with .astype('int32')")
    return _out_dtype(attrs, dtypes)


def _log_softmax_shape(attrs, shapes):
    if attrs["use_length"]:
        raise AttrError("log_softmax has no length input: use_length=True is for softmax "
                        "(MXNet 1.9.1 refuses it here too)")
    return _axis_shape(attrs, shapes)


def _row_mask(shape: tuple, ax: int, length: np.ndarray) -> np.ndarray:
    """True where a position along ax comes before its row's length (a negative length
    keeps nothing, one past the axis everything)."""
    rows = length.reshape(shape[:ax] + (1,) + shape[ax + 1:])
    return np.arange(shape[ax]).reshape((-1,) + (1,) * (len(shape) - ax - 1)) < rows


def _softmax(attrs, x, length=None):
    dt = attrs["dtype"] or x.dtype
    if length is None:
        return np.exp(log_softmax_np(x, attrs["axis"], attrs["temperature"])).astype(dt)
    ax = normalize_axis(attrs["axis"], x.ndim)
    if attrs["temperature"] is not None:  # before masking: -inf / a negative one is +inf
        x = x / np.asarray(attrs["temperature"], x.dtype)
    keep = _row_mask(x.shape, ax, length)
    # positions past a row's length take no part, whatever they hold, and give 0 (MXNet)
    y = np.exp(log_softmax_np(np.where(keep, x, np.asarray(-np.inf, x.dtype)), ax))
    return np.where(keep, y, np.zeros((), y.dtype)).astype(dt)


def _lower_softmax(attrs, x, length=None):
    if length is None:
        out = lower_log_softmax(attrs, x)
        return None if out is None else out.map("exp")
    ax = normalize_axis(attrs["axis"], len(x.shape))
    if attrs["temperature"] is not None:
        x = x.map("div", Lazy.full((), attrs["temperature"], x.dtype))

    def keep(i):  # as _row_mask: the position along ax against its row's length
        row = i[:ax] + i[ax + 1:] if len(i) > 1 else (iconst(0),)
        return cmp("lt", i[ax], cast(length(row), "int64"))
    neg_inf = const(-np.inf, x.dtype)
    masked = Lazy(x.shape, x.dtype, lambda i: where(keep(i), x(i), neg_inf))
    y = lower_log_softmax({**attrs, "temperature": None, "use_length": False}, masked).map("exp")
    zero = const(0, y.dtype)
    return Lazy(y.shape, y.dtype, lambda i: where(keep(i), y(i), zero))


def _grad_softmax(F, attrs, ins, outs, og):
    """y (og - sum(og y)) / temperature; with a length, the sum runs over the positions
    kept and the others get 0, whatever og holds there (MXNet's loop stops at the length)."""
    x, y, g = ins[0], outs[0], og[0]
    if len(ins) == 1:
        return [_tempered(F, attrs, x, y * (g - F.sum(g * y, axis=attrs["axis"], keepdims=True)))]
    ax = normalize_axis(attrs["axis"], len(x.shape))
    n = x.shape[ax]
    if n == 0:
        return [F.zeros_like(x), None]
    along = tuple(n if d == ax else 1 for d in range(len(x.shape)))
    rows = x.shape[:ax] + (1,) + x.shape[ax + 1:]
    keep = F.broadcast_lesser(F.reshape(F.arange(n, dtype="float64"), shape=along),
                              F.reshape(F.Cast(ins[1], dtype="float64"), shape=rows))
    keep = F.broadcast_like(keep, x)
    gy = F.where(keep, g * y, F.zeros_like(y))
    inner = F.where(keep, y * (g - F.sum(gy, axis=ax, keepdims=True)), F.zeros_like(y))
    return [_tempered(F, attrs, x, inner), None]


register(Op("log_softmax", ("data",), _log_softmax_shape,
            lambda a, x: log_softmax_np(x, a["axis"], a["temperature"]).astype(a["dtype"] or x.dtype),
            attrs=dict(_SOFTMAX_ATTRS), dtype=_out_dtype, accepts={"data": FLOATS}, fluent=True,
            lower=lower_log_softmax, traits=frozenset({"row_reduction"}),
            grad=lambda F, a, ins, outs, og: [_tempered(F, a, ins[0], (
                og[0] - F.exp(outs[0]) * F.sum(og[0], axis=a["axis"], keepdims=True)))]))
register(Op("softmax", ("data", "length?"), _softmax_shape, _softmax,
            attrs=dict(_SOFTMAX_ATTRS), dtype=_softmax_dtype, accepts={"data": FLOATS},
            fluent=True, active_inputs=_softmax_inputs, lower=_lower_softmax,
            grad=_grad_softmax, traits=frozenset({"row_reduction"})))


def _pick_shape(attrs, shapes):
    data, index = tuple(shapes[0]), tuple(shapes[1])
    ax = normalize_axis(attrs["axis"], len(data))
    dropped = data[:ax] + data[ax + 1:]
    kept = data[:ax] + (1,) + data[ax + 1:]
    if index not in (dropped, kept) and not (index == (1,) and dropped == ()):
        raise ShapeError(f"pick: index shape {index} must be the data shape {data} without "
                         f"axis {attrs['axis']}, i.e. {dropped}")
    return [kept if attrs["keepdims"] else (dropped or (1,))]


def label_index(label: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Labels as MXNet 1.9.1 makes them indices into an axis of n: C's cast to int32 on
    x86-64 (truncation; NaN, inf and values outside int32's range give -2^31, an int64
    label keeps its low 32 bits), then clipped into [0, n) or wrapped modulo n.  So label
    3e9 picks index 0 in clip mode, as MXNet's."""
    if label.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            fits = (label >= -2.0 ** 31) & (label < 2.0 ** 31)
        k = np.where(fits, np.trunc(np.where(fits, label, 0)), -2.0 ** 31).astype(np.int64)
    else:
        k = label.astype(np.int64).astype(np.int32).astype(np.int64)
    return np.mod(k, n) if mode == "wrap" else np.clip(k, 0, n - 1)


def _pick(attrs, data, index):
    ax = normalize_axis(attrs["axis"], data.ndim)
    n = data.shape[ax]
    idx = np.expand_dims(index.reshape(data.shape[:ax] + data.shape[ax + 1:]), ax)
    bad = np.isnan(idx) if idx.dtype.kind == "f" else None
    out = np.take_along_axis(data, label_index(idx, n, attrs["mode"]), axis=ax)
    if bad is not None and bad.any():  # a NaN label gives NaN for that row only
        out = np.where(bad, np.asarray(np.nan, data.dtype), out)
    return out if attrs["keepdims"] else out.reshape(_pick_shape(attrs, [data.shape, index.shape])[0])


def _lower_pick(attrs, data, index):
    ax = normalize_axis(attrs["axis"], len(data.shape))
    return data.gather(ax, index, attrs["mode"], attrs["keepdims"])


def _grad_pick(F, attrs, ins, outs, og):
    """og at the picked positions.  Which one a label picks is found by picking from the
    positions' own numbers (exact in float64), so the gradient lands where the forward
    pass read, whatever the label (3e9, inf, NaN: none)."""
    data, index = ins
    if 0 in data.shape:  # nothing picked; in broadcast_to's shape a 0 would mean "keep"
        return [F.zeros_like(data), None]
    ax = normalize_axis(attrs["axis"], len(data.shape))
    n = data.shape[ax]
    along = tuple(n if d == ax else 1 for d in range(len(data.shape)))
    numbers = F.broadcast_to(F.reshape(F.arange(n, dtype="float64"), shape=along),
                             shape=data.shape)
    picked = F.pick(numbers, index, axis=ax, mode=attrs["mode"], keepdims=True)
    hot = F.Cast(F.broadcast_equal(numbers, picked), dtype=str(data.dtype))
    g = F.reshape(og[0], shape=data.shape[:ax] + (1,) + data.shape[ax + 1:])
    return [F.broadcast_mul(hot, g), None]


register(Op("pick", ("data", "index"), _pick_shape, _pick, fluent=True, lower=_lower_pick,
            grad=_grad_pick,
            attrs={"axis": Attr("int", -1), "keepdims": Attr("bool", False),
                   "mode": Attr("str", "clip", choices=("clip", "wrap"))}))


def _take_shape(attrs, shapes):
    data, index = tuple(shapes[0]), tuple(shapes[1])
    ax = normalize_axis(attrs["axis"], len(data))
    return [data[:ax] + index + data[ax + 1:]]


def _take(attrs, data, index):
    ax = normalize_axis(attrs["axis"], data.ndim)
    n = data.shape[ax]
    if attrs["mode"] == "raise":
        k = np.trunc(index)
        with np.errstate(invalid="ignore"):
            bad = ~((k >= 0) & (k < n))  # NaN is out of range too
        if bad.any():
            raise ValueError(f"take: index {index[bad].ravel()[0]} is outside [0, {n}) of "
                             f"axis {ax} (mode 'raise')")
        k = k.astype(np.int64)
    else:
        k = label_index(index, n, attrs["mode"])
    return np.take(data, k, axis=ax)


def _lower_take(attrs, data, index):
    if attrs["mode"] == "raise":  # a bounds error has no place in a compiled kernel
        return None
    ax = normalize_axis(attrs["axis"], len(data.shape))
    n, ki = data.shape[ax], len(index.shape)

    def fn(idx):
        k = Expr(Ops.PICKIDX, (index(tuple(idx[ax:ax + ki])), n, attrs["mode"]), "int64")
        return data(tuple(idx[:ax]) + (k,) + tuple(idx[ax + ki:]))
    return Lazy(_take_shape(attrs, [data.shape, index.shape])[0], data.dtype, fn)


def _grad_take(F, attrs, ins, outs, og):
    """og summed into the rows it was read from: each index as a one-hot row of the axis
    (clipped or wrapped first, as the forward pass), and one matrix product."""
    data, index = ins
    ax = normalize_axis(attrs["axis"], len(data.shape))
    n = data.shape[ax]
    if 0 in data.shape or 0 in index.shape:
        return [F.zeros_like(data), None]
    k = F.Cast(index, dtype="float64")
    if attrs["mode"] == "clip":
        k = F.clip(k, a_min=0.0, a_max=float(n - 1))
    else:  # wrap ('raise' has already refused anything out of range)
        k = F.trunc(k)
        k = k - F.floor(k / float(n)) * float(n)
    hot = F.reshape(F.one_hot(k, depth=n, dtype=str(data.dtype)), shape=(-1, n))
    m = int(np.prod(index.shape))
    pre, post = int(np.prod(data.shape[:ax])), int(np.prod(data.shape[ax + 1:]))
    g = F.transpose(F.reshape(og[0], shape=(pre, m, post)), axes=(1, 0, 2))
    rows = F.dot(hot, F.reshape(g, shape=(m, pre * post)), transpose_a=True)  # (n, pre*post)
    g = F.transpose(F.reshape(rows, shape=(n, pre, post)), axes=(1, 0, 2))
    return [F.reshape(g, shape=data.shape), None]


register(Op("take", ("a", "indices"), _take_shape, _take, fluent=True, lower=_lower_take,
            grad=_grad_take,
            attrs={"axis": Attr("int", 0),
                   "mode": Attr("str", "clip", choices=("clip", "wrap", "raise"))}))


# Embedding is take(weight, data) along axis 0 with indices clipped, as MXNet computes it
_EMBED_TAKE = {"axis": 0, "mode": "clip"}


def _embedding_shape(attrs, shapes):
    data, weight = tuple(shapes[0]), tuple(shapes[1])
    if attrs["sparse_grad"]:
        raise AttrError("Embedding: sparse_grad=True needs row_sparse gradients, which "
                        "minigluon does not have; use sparse_grad=False (a dense gradient)")
    want = (attrs["input_dim"], attrs["output_dim"])
    if weight != want:
        raise ShapeError(f"Embedding: weight has shape {weight}, input_dim and output_dim "
                         f"need {want}")
    return [data + (attrs["output_dim"],)]


def _embedding_fill_shapes(attrs, shapes):
    """The weight's shape is (input_dim, output_dim) whatever data is."""
    return [shapes[0], (attrs["input_dim"], attrs["output_dim"])]


def _grad_embedding(F, attrs, ins, outs, og):
    """The weight's rows get og summed over every index that read them (repeated indices
    add up); indices get no gradient."""
    data, weight = ins
    return [None, _grad_take(F, _EMBED_TAKE, [weight, data], outs, og)[0]]


register(Op("Embedding", ("data", "weight"), _embedding_shape,
            lambda a, data, weight: _take(_EMBED_TAKE, weight, data),
            attrs={"input_dim": Attr("int"), "output_dim": Attr("int"),
                   "dtype": Attr("dtype", "float32"), "sparse_grad": Attr("bool", False)},
            dtype=lambda a, d: [d[1]], accepts={"weight": FLOATS},
            lower=lambda a, data, weight: _lower_take(_EMBED_TAKE, weight, data),
            grad=_grad_embedding, fill_shapes=_embedding_fill_shapes, hint="embedding"))


def _one_hot(attrs, indices):
    depth = attrs["depth"]
    idx = np.nan_to_num(indices, nan=-1.0).astype(np.int64)
    hot = (idx[..., None] == np.arange(depth))  # out-of-range indices give an all-off row
    dt = attrs["dtype"] or DEFAULT_DTYPE
    return np.where(hot, np.asarray(attrs["on_value"], dt), np.asarray(attrs["off_value"], dt))


def _lower_one_hot(attrs, indices):
    dt = attrs["dtype"] or DEFAULT_DTYPE
    depth = attrs["depth"]
    # in an integer dtype, on/off values out of its range are refused (a CompileError)
    on, off = const(attrs["on_value"], dt), const(attrs["off_value"], dt)

    def fn(idx):
        # the row's column as an integer (truncated like astype(int64); -1 if NaN or out of
        # range), compared with the column index: integer compares vectorize
        col = Expr(Ops.ONEHOTIDX, (indices(idx[:-1]), depth), "int64")
        return where(Expr(Ops.EQ, (idx[-1], col), "bool"), on, off)
    return Lazy(indices.shape + (depth,), dt, fn)


register(Op("one_hot", ("indices",), lambda a, s: [tuple(s[0]) + (a["depth"],)], _one_hot,
            lower=_lower_one_hot,
            attrs={"depth": Attr("int"), "on_value": Attr("float", 1.0),
                   "off_value": Attr("float", 0.0), "dtype": Attr("dtype", DEFAULT_DTYPE)},
            dtype=lambda a, d: [a["dtype"] or DEFAULT_DTYPE], fluent=True,
            grad=lambda F, a, ins, outs, og: [None]))  # integer-valued input: zero, as MXNet


def _ctc_inputs(attrs):
    names = ("data", "label")
    if attrs.get("use_data_lengths"):
        names += ("data_lengths",)
    if attrs.get("use_label_lengths"):
        names += ("label_lengths",)
    return names


def _ctc_shape(attrs, shapes):
    names = _ctc_inputs(attrs)
    if len(shapes) != len(names):  # MXNet counts them too: a length is never ignored
        raise ShapeError(f"CTCLoss: with use_data_lengths={bool(attrs['use_data_lengths'])} and "
                         f"use_label_lengths={bool(attrs['use_label_lengths'])} the inputs are "
                         f"{', '.join(names)}; got {len(shapes)} inputs")
    data, label = tuple(shapes[0]), tuple(shapes[1])
    if len(data) != 3:
        raise ShapeError(f"CTCLoss: data must be 3-d (sequence, batch, alphabet), got {data}")
    if len(label) != 2 or label[0] != data[1]:
        raise ShapeError(f"CTCLoss: label must be (batch, label_length) with batch {data[1]}, "
                         f"got {label}")
    for name, s in zip(_ctc_inputs(attrs)[2:], shapes[2:]):
        if tuple(s) != (data[1],):
            raise ShapeError(f"CTCLoss: {name} must have shape ({data[1]},), got {tuple(s)}")
    return [(data[1],), data]


def _ctc_cost(attrs, in_shapes, out_shapes):
    """The log-softmax of every frame, then alpha and beta over 2L+1 states per frame, each
    cell a log-sum-exp of up to three terms (some twenty operations)."""
    (T, N, C), L = in_shapes[0], in_shapes[1][1]
    return T * N * (4 * C + 2 * 20 * (2 * L + 1))


def _ctc(attrs, data, label, *lengths):
    names = _ctc_inputs(attrs)[2:]
    given = dict(zip(names, lengths))
    return ctc_loss(data, label, given.get("data_lengths"), given.get("label_lengths"),
                    attrs["blank_label"])


register(Op("CTCLoss", ("data", "label", "data_lengths?", "label_lengths?"), _ctc_shape, _ctc,
            attrs={"use_data_lengths": Attr("bool", False), "use_label_lengths": Attr("bool", False),
                   "blank_label": Attr("str", "first", choices=("first", "last"))},
            num_outputs=2, num_visible=1, active_inputs=_ctc_inputs, accepts={"data": FLOATS},
            # the kernel's second output is d loss / d data per sample: scale by og per sample
            grad=lambda F, a, ins, outs, og: [F.broadcast_mul(outs[1], F.reshape(
                og[0], shape=(1, -1, 1)))] + [None] * (len(ins) - 1),
            extern_kernel=True, validate=validate_ctc, cost=_ctc_cost,
            aliases=("ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss")))


# --- the compiler's form of CTCLoss ----------------------------------------------------------
# The compiler's ``ctc`` pass (compiler/ctc_rewrite.py) rewrites CTCLoss(data, label, ...)
# into _ctc_loss_lse(data, lse, label, ...): lse[frame] is the log-sum-exp of data over
# the classes, computed by ordinary fused ops, so the kernel takes log y = data - lse and
# reads only the classes it uses.  layout 'NTC' reads data batch-first (a swap of axes 0
# and 1 absorbed); the outputs are CTCLoss's either way (the gradient is (T, N, C)).  Only
# the compiler's graph holds it: traced symbols and their JSON keep CTCLoss.
def _ctc_lse_inputs(attrs):
    return ("data", "lse") + _ctc_inputs(attrs)[1:]


def _tnc(attrs, data):
    """data (T, N, C) in CTCLoss's layout, whatever attrs['layout'] is (a view)."""
    return np.swapaxes(data, 0, 1) if attrs["layout"] == "NTC" else data


def _ctc_lse_shape(attrs, shapes):
    if len(shapes) < 2 or len(shapes[0]) != 3:
        raise ShapeError(f"_ctc_loss_lse: expected 3-d data and its log-sum-exp, got "
                         f"{[tuple(s) for s in shapes[:2]]}")
    data, lse = tuple(shapes[0]), tuple(shapes[1])
    if lse != data[:2]:
        raise ShapeError(f"_ctc_loss_lse: log-sum-exp {lse} does not match data {data} "
                         f"(layout {attrs['layout']})")
    tnc = data if attrs["layout"] == "TNC" else (data[1], data[0], data[2])
    return _ctc_shape(attrs, [tnc] + list(shapes[2:]))


def _ctc_lse(attrs, data, lse, label, *lengths):
    """CTCLoss of log y = data - lse: its log-softmax is data's when lse is data's
    log-sum-exp over the classes, which is what the compiler gives it."""
    logp = (data - lse[..., None]).astype(data.dtype)
    return _ctc(attrs, _tnc(attrs, logp), label, *lengths)


def _validate_ctc_lse(attrs, data, lse, label, *lengths):
    validate_ctc(attrs, _tnc(attrs, data), label, *lengths)  # any lse is safe for the kernel


def _ctc_lse_grad(F, a, ins, outs, og):
    g = F.broadcast_mul(outs[1], F.reshape(og[0], shape=(1, -1, 1)))
    return [F.SwapAxis(g, dim1=0, dim2=1) if a["layout"] == "NTC" else g] + [None] * (len(ins) - 1)


register(Op("_ctc_loss_lse", ("data", "lse", "label", "data_lengths?", "label_lengths?"),
            _ctc_lse_shape, _ctc_lse,
            attrs={"use_data_lengths": Attr("bool", False), "use_label_lengths": Attr("bool", False),
                   "blank_label": Attr("str", "first", choices=("first", "last")),
                   "layout": Attr("str", "TNC", choices=("TNC", "NTC"))},
            num_outputs=2, num_visible=1, active_inputs=_ctc_lse_inputs,
            accepts={"data": FLOATS, "lse": FLOATS}, grad=_ctc_lse_grad, extern_kernel=True,
            validate=_validate_ctc_lse,
            cost=lambda a, ins, outs: _ctc_cost(a, [outs[1], ins[2]], outs)))


# --- Dropout: MXNet's two outputs (the result, and the scaled mask backward multiplies by) --
def _dropout_mask_shape(attrs, shape: tuple) -> tuple:
    """The mask's shape: shape with each axis in attrs["axes"] set to 1 (one draw shared
    along it)."""
    axes = {a % len(shape) if shape else a for a in attrs["axes"]}
    bad = [a for a in attrs["axes"] if not -len(shape) <= a < len(shape)]
    if bad:
        raise AttrError(f"Dropout: axes {attrs['axes']} out of range for data of shape {shape}")
    return tuple(1 if k in axes else d for k, d in enumerate(shape))


def _dropout_shape(attrs, shapes):
    if not 0 <= attrs["p"] <= 1:
        raise AttrError(f"Dropout: p must be in [0, 1], got {attrs['p']}")
    _dropout_mask_shape(attrs, tuple(shapes[0]))
    return [tuple(shapes[0]), tuple(shapes[0])]


def _dropout(attrs, data):
    """(data * mask, mask): mask is 0 with probability p, else 1/(1-p); the identity (mask
    of ones, nothing drawn) for p = 0 or, in mode 'training', outside autograd's training
    mode: checked when it runs, eagerly or in a compiled graph, as MXNet checks is_train."""
    p = attrs["p"]
    if p == 0 or (attrs["mode"] == "training" and not random.is_training()):
        return data.copy(), np.ones_like(data)
    if p == 1:  # MXNet: everything dropped (not 0 * inf)
        return np.zeros_like(data), np.zeros_like(data)
    draw = random.generator().random(_dropout_mask_shape(attrs, data.shape))
    mask = np.where(draw < 1 - p, 1 / (1 - p), 0).astype(data.dtype)
    return data * mask, np.broadcast_to(mask, data.shape).copy()


register(Op("Dropout", ("data",), _dropout_shape, _dropout,
            attrs={"p": Attr("float", 0.5), "mode": Attr("str", "training", ("training", "always")),
                   "axes": Attr("shape", ()), "cudnn_off": Attr("bool", False)},
            num_outputs=2, num_visible=1, accepts={"data": FLOATS}, traits={"random"},
            grad=lambda F, a, ins, outs, og: [og[0] * outs[1]]))
