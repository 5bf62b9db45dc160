"""MXNet's fused recurrent op ``RNN`` (rnn_relu, rnn_tanh, lstm, gru; layers, directions),
``_rnn_param_concat``, which packs a layer's parameters into RNN's one flat vector, and
``SequenceReverse``, which reverses each sequence within its length (a bidirectional
cell's right-to-left pass over padded sequences).

The packed layout is MXNet 1.9.1's: every weight first, then every bias; within each,
layer by layer, direction by direction (left to right, then right to left), the
input-to-hidden matrix (gates * hidden, inputs) before the hidden-to-hidden one
(gates * hidden, hidden).  Gates are stacked i, f, g, o for LSTM and r, z, n for GRU,
whose new gate is cuDNN's ``tanh(x W_n + b_in + r * (h W_hn + b_hn))``.

The kernels are numpy loops over time whose work is matrix products (BLAS): the op
carries the ``blas`` trait, so a compiled graph calls them rather than interpreting.
Backward is the registered internal op ``_backward_RNN``: it runs the forward again with
the same dropout masks (the hidden output) to get every step's gates, then
back-propagates through time.
"""
from __future__ import annotations

import numpy as np

from ..base import MXNetError, ShapeError
from ..loopir import Expr, Lazy, Ops, alu, cast, cmp, const, iadd, where
from . import random
from .registry import Attr, AttrError, Op, register
from .shape import _concat_shape, _grad_concat, _lower_concat

_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}
_DTYPES = ("float32", "float64")  # MXNet's CPU RNN kernels

_ATTRS = {
    "state_size": Attr("int"),
    "num_layers": Attr("int"),
    "bidirectional": Attr("bool", False),
    "mode": Attr("str", choices=tuple(_GATES)),
    "p": Attr("float", 0.0),
    "state_outputs": Attr("bool", False),
    "projection_size": Attr("opt_int", None),
    "lstm_state_clip_min": Attr("opt_float", None),
    "lstm_state_clip_max": Attr("opt_float", None),
    "lstm_state_clip_nan": Attr("bool", False),
    "use_sequence_length": Attr("bool", False),
}


def _inputs(attrs) -> tuple[str, ...]:
    names = ("data", "parameters", "state")
    if attrs.get("mode") == "lstm":
        names += ("state_cell",)
    if attrs.get("use_sequence_length"):
        names += ("sequence_length",)
    return names


def n_visible(attrs) -> int:
    """out, and with state_outputs hy (and cy for an LSTM)."""
    if not attrs.get("state_outputs"):
        return 1
    return 3 if attrs.get("mode") == "lstm" else 2


def n_outputs(attrs) -> int:
    """The visible outputs and one hidden: the dropout masks backward reuses."""
    return n_visible(attrs) + 1


def param_size(attrs, input_size: int) -> int:
    """The length of the packed parameter vector for inputs of input_size features."""
    g, h, d, layers = _GATES[attrs["mode"]], attrs["state_size"], _dirs(attrs), attrs["num_layers"]
    total = 0
    for layer in range(layers):
        ni = input_size if layer == 0 else h * d
        total += d * (g * h * (ni + h) + 2 * g * h)
    return total


def _dirs(attrs) -> int:
    return 2 if attrs["bidirectional"] else 1


def _check_attrs(attrs) -> None:
    if attrs["state_size"] < 1 or attrs["num_layers"] < 1:
        raise AttrError(f"RNN: state_size and num_layers must be at least 1, got "
                        f"state_size={attrs['state_size']}, num_layers={attrs['num_layers']}")
    if not 0 <= attrs["p"] < 1:
        raise AttrError(f"RNN: dropout p must be in [0, 1), got {attrs['p']}")
    if attrs["projection_size"]:
        raise MXNetError("RNN: projection_size (LSTMP) is not supported by minigluon yet")
    if attrs["use_sequence_length"]:
        # only MXNet 1.9.1's cuDNN kernel reads the lengths (its CPU kernel ignores them):
        # refused rather than computed without them
        raise MXNetError("RNN: use_sequence_length=True is only implemented by MXNet 1.9.1's "
                         "cuDNN kernel (its CPU kernel ignores the lengths); minigluon does "
                         "not support it: mask the outputs with SequenceMask instead")
    if attrs["lstm_state_clip_min"] is not None or attrs["lstm_state_clip_max"] is not None:
        # MXNet 1.9.1 clips LSTM states only in its cuDNN kernel (its CPU kernel ignores
        # or refuses the attributes): refused rather than computed differently
        raise MXNetError("RNN: lstm_state_clip_min/max are only supported on GPU with cuDNN "
                         "in MXNet 1.9.1; minigluon, like MXNet's CPU kernel, has no clipping")


def _mask_shape(attrs, data: tuple) -> tuple:
    """The hidden output: a dropout mask per layer input after the first, (1,) when no
    dropout can happen (p = 0 or one layer)."""
    layers = attrs["num_layers"]
    if attrs["p"] == 0 or layers == 1:
        return (1,)
    return (layers - 1, data[0], data[1], attrs["state_size"] * _dirs(attrs))


def _rnn_shape(attrs, shapes):
    _check_attrs(attrs)
    names = _inputs(attrs)
    if len(shapes) != len(names):
        raise ShapeError(f"RNN with mode={attrs['mode']!r} takes the inputs {', '.join(names)}; "
                         f"got {len(shapes)} inputs")
    data, params, state = (tuple(s) for s in shapes[:3])
    if len(data) != 3:
        raise ShapeError(f"RNN: data must be 3-d (sequence, batch, features), got {data}")
    t, n, i = data
    h, d, layers = attrs["state_size"], _dirs(attrs), attrs["num_layers"]
    want = param_size(attrs, i)
    if params != (want,):
        raise ShapeError(f"RNN: parameters must have shape ({want},) for mode={attrs['mode']!r}, "
                         f"state_size={h}, num_layers={layers}, bidirectional="
                         f"{attrs['bidirectional']} and {i} input features; got {params}")
    hshape = (layers * d, n, h)
    for name, s in zip(names[2:], shapes[2:]):
        if tuple(s) != hshape:
            raise ShapeError(f"RNN: {name} must have shape {hshape} (layers * directions, "
                             f"batch, state_size), got {tuple(s)}")
    outs = [(t, n, h * d)] + [hshape] * (n_visible(attrs) - 1)
    return outs + [_mask_shape(attrs, data)]


def _rnn_dtype(attrs, dtypes):
    return [dtypes[0]] * n_outputs(attrs)


# --- the packed parameters ---------------------------------------------------------------
def unpack(attrs, params: np.ndarray, input_size: int) -> list:
    """[(w_i2h, w_h2h, b_i2h, b_h2h)] per (layer, direction), in order: views of params."""
    g, h, d, layers = _GATES[attrs["mode"]], attrs["state_size"], _dirs(attrs), attrs["num_layers"]
    weights, at = [], 0
    for layer in range(layers):
        ni = input_size if layer == 0 else h * d
        for _ in range(d):
            wi = params[at:at + g * h * ni].reshape(g * h, ni)
            at += g * h * ni
            wh = params[at:at + g * h * h].reshape(g * h, h)
            at += g * h * h
            weights.append([wi, wh])
    for k in range(layers * d):
        weights[k] += [params[at:at + g * h], params[at + g * h:at + 2 * g * h]]
        at += 2 * g * h
    return weights


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- one layer in one direction ---------------------------------------------------------
def _cell_forward(mode, x, wi, wh, bi, bh, h, c, reverse):
    """Run one direction of one layer over x (T, N, I) from h, c: (outputs (T, N, H), h,
    c, the per-step cache backward reads)."""
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    xw = x @ wi.T + bi  # every step's input product in one GEMM
    out = np.empty(x.shape[:2] + (h.shape[1],), x.dtype)
    cache = []
    for t in steps:
        hw = h @ wh.T + bh
        z = xw[t]
        if mode == "lstm":
            i, f, g, o = np.split(z + hw, 4, axis=1)
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            cache.append((h, c, i, f, g, o, tc))
            c, h = c_new, o * tc
        elif mode == "gru":
            xr, xz, xn = np.split(z, 3, axis=1)
            hr, hz, hn = np.split(hw, 3, axis=1)
            r, u = _sigmoid(xr + hr), _sigmoid(xz + hz)
            n = np.tanh(xn + r * hn)
            cache.append((h, r, u, n, hn))
            h = (1 - u) * n + u * h
        else:
            a = z + hw
            h_new = np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0)
            cache.append((h, h_new))
            h = h_new
        out[t] = h
    return out, h, c, cache


def _cell_backward(mode, x, wi, wh, cache, dout, dh, dc, reverse):
    """Back-propagate through time: (dx, dwi, dwh, dbi, dbh, dh0, dc0)."""
    steps = list(range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0]))
    dxw = np.empty(x.shape[:2] + (wi.shape[0],), x.dtype)
    dwh = np.zeros_like(wh)
    dbh = np.zeros(wh.shape[0], x.dtype)
    for t, saved in zip(reversed(steps), reversed(cache)):
        dh = dh + dout[t]
        if mode == "lstm":
            h_prev, c_prev, i, f, g, o, tc = saved
            dc = dc + dh * o * (1 - tc * tc)
            dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                 dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=1)
            dc = dc * f
            dx_t = dhw = dz
            direct = 0
        elif mode == "gru":
            h_prev, r, u, n, hn = saved
            dn = dh * (1 - u) * (1 - n * n)
            du = dh * (h_prev - n) * u * (1 - u)
            dr = dn * hn * r * (1 - r)
            dx_t = np.concatenate([dr, du, dn], axis=1)
            dhw = np.concatenate([dr, du, dn * r], axis=1)
            direct = dh * u
        else:
            h_prev, h_new = saved
            dx_t = dhw = dh * ((1 - h_new * h_new) if mode == "rnn_tanh" else (h_new > 0))
            direct = 0
        dxw[t] = dx_t
        dwh += dhw.T @ h_prev
        dbh += dhw.sum(axis=0)
        dh = dhw @ wh + direct
    flat = dxw.reshape(-1, wi.shape[0])
    dwi = flat.T @ x.reshape(-1, x.shape[2])
    return (dxw @ wi, dwi, dwh, flat.sum(axis=0), dbh, dh, dc)


def _forward(attrs, data, params, hx, cx, masks):
    """The whole stack: (out, hy, cy, per-layer (inputs, caches))."""
    mode, d, layers = attrs["mode"], _dirs(attrs), attrs["num_layers"]
    weights = unpack(attrs, params, data.shape[2])
    hy, cy = np.empty_like(hx), np.empty_like(hx)
    x, trace = data, []
    for layer in range(layers):
        if layer > 0 and masks.ndim == 4:
            x = x * masks[layer - 1]
        outs, caches = [], []
        for k in range(d):
            j = layer * d + k
            wi, wh, bi, bh = weights[j]
            c0 = cx[j] if cx is not None else None
            o, hy[j], c, cache = _cell_forward(mode, x, wi, wh, bi, bh, hx[j], c0, k == 1)
            if cx is not None:
                cy[j] = c
            outs.append(o)
            caches.append(cache)
        trace.append((x, caches))
        x = outs[0] if d == 1 else np.concatenate(outs, axis=2)
    return x, hy, cy, trace


def _draw_masks(attrs, data, dtype):
    shape = _mask_shape(attrs, data.shape)
    if len(shape) == 1 or not random.is_training():
        return np.ones(shape, dtype)
    keep = 1 - attrs["p"]
    return np.where(random.generator().random(shape) < keep, 1 / keep, 0).astype(dtype)


def _rnn(attrs, data, params, state, *rest):
    """The numpy reference: a time loop of BLAS products per layer and direction."""
    _check_attrs(attrs)
    cx = rest[0] if attrs["mode"] == "lstm" else None
    masks = _draw_masks(attrs, data, data.dtype)
    out, hy, cy, _ = _forward(attrs, data, params, state, cx, masks)
    return [out, hy, cy][:n_visible(attrs)] + [masks]


def _backward(attrs, data, params, state, masks, dout, dhy, cx=None, dcy=None):
    """Inputs: RNN's data, parameters and state, the dropout masks, the head gradients of
    out and hy, then for an LSTM state_cell and the head gradient of cy.  Outputs: the
    gradients of RNN's inputs (data, parameters, state[, state_cell])."""
    lstm = attrs["mode"] == "lstm"
    mode, d, layers = attrs["mode"], _dirs(attrs), attrs["num_layers"]
    _, _, _, trace = _forward(attrs, data, params, state, cx, masks)
    weights = unpack(attrs, params, data.shape[2])
    dparams = np.zeros_like(params)
    grads = unpack(attrs, dparams, data.shape[2])  # views: writing them fills dparams
    dstate = np.empty_like(state)
    dcell = np.empty_like(state) if lstm else None
    h = attrs["state_size"]
    for layer in reversed(range(layers)):
        x, caches = trace[layer]
        dx = np.zeros_like(x)
        for k in range(d):
            j = layer * d + k
            wi, wh, _, _ = weights[j]
            dc0 = dcy[j] if lstm else None
            res = _cell_backward(mode, x, wi, wh, caches[k], dout[:, :, k * h:(k + 1) * h],
                                 dhy[j], dc0, k == 1)
            dx += res[0]
            for slot, g in zip(grads[j], res[1:5]):
                slot[...] = g
            dstate[j] = res[5]
            if lstm:
                dcell[j] = res[6]
        if layer > 0 and masks.ndim == 4:
            dx = dx * masks[layer - 1]
        dout = dx
    return [dout, dparams, dstate] + ([dcell] if lstm else [])


def _grad_rnn(F, attrs, ins, outs, og):
    nv = n_visible(attrs)
    heads = list(og[:nv])
    if nv == 1:  # the final states are not outputs: no gradient reaches them
        heads.append(F.zeros_like(ins[2]))
    if attrs["mode"] == "lstm" and len(heads) < 3:
        heads.append(F.zeros_like(ins[3]))
    n_in = 4 if attrs["mode"] == "lstm" else 3
    given = dict(zip(("data", "parameters", "state", "state_cell"), ins[:n_in]))
    given.update(zip(("masks", "out_grad", "hy_grad", "cy_grad"), [outs[-1]] + heads))
    grads = F._internal._backward_RNN(**given, **_explicit(attrs))
    grads = [grads[k] for k in range(n_in)]  # a list of arrays, or one Symbol of n_in outputs
    return grads + [None] * (len(ins) - n_in)


def _explicit(attrs) -> dict:
    """The attributes to hand to _backward_RNN (state_outputs does not matter to it)."""
    return {k: v for k, v in attrs.items() if k != "state_outputs"}


def _rnn_cost(attrs, in_shapes, out_shapes):
    """Two operations per weight per batch row and step, and some per gate."""
    t, n, _ = in_shapes[0]
    return 2.0 * t * n * in_shapes[1][0] + 10.0 * t * n * out_shapes[0][2] * _GATES[attrs["mode"]]


register(Op("RNN", ("data", "parameters", "state", "state_cell?", "sequence_length?"),
            _rnn_shape, _rnn, attrs=_ATTRS, dtype=_rnn_dtype,
            num_outputs=n_outputs, num_visible=n_visible, active_inputs=_inputs,
            same_dtype=("data", "parameters", "state", "state_cell"),
            accepts={"data": _DTYPES}, grad=_grad_rnn, cost=_rnn_cost,
            traits={"blas", "random"}))


def _backward_inputs(attrs) -> tuple[str, ...]:
    names = ("data", "parameters", "state", "masks", "out_grad", "hy_grad")
    return names + (("state_cell", "cy_grad") if attrs.get("mode") == "lstm" else ())


def _backward_shape(attrs, shapes):
    names = _backward_inputs(attrs)
    if len(shapes) != len(names):
        raise ShapeError(f"_backward_RNN with mode={attrs['mode']!r} takes the inputs "
                         f"{', '.join(names)}; got {len(shapes)} inputs")
    given = dict(zip(names, (tuple(s) for s in shapes)))
    lstm = attrs["mode"] == "lstm"
    fwd_names = ("data", "parameters", "state") + (("state_cell",) if lstm else ())
    fwd = _rnn_shape({**attrs, "state_outputs": True}, [given[n] for n in fwd_names])
    heads = ("out_grad", "hy_grad") + (("cy_grad",) if lstm else ())
    for name, want in zip(("masks",) + heads, [fwd[-1]] + fwd[:-1]):
        if given[name] != tuple(want):
            raise ShapeError(f"_backward_RNN: {name} must have shape {tuple(want)}, got "
                             f"{given[name]}")
    outs = [given[n] for n in fwd_names]
    return outs


_BACKWARD_ATTRS = {k: v for k, v in _ATTRS.items() if k != "state_outputs"}
register(Op("_backward_RNN", ("data", "parameters", "state", "masks", "out_grad", "hy_grad",
                              "state_cell?", "cy_grad?"),
            _backward_shape, _backward, attrs=_BACKWARD_ATTRS,
            num_outputs=lambda a: 4 if a["mode"] == "lstm" else 3,
            dtype=lambda a, d: [d[0]] * (4 if a["mode"] == "lstm" else 3),
            active_inputs=_backward_inputs, same_dtype=("*",), accepts={"data": _DTYPES},
            cost=lambda a, ins, outs: 2 * _rnn_cost(a, ins, [(0, 0, a["state_size"])]),
            traits={"blas"}))


# --- _rnn_param_concat: Concat for the packed parameters -----------------------------------
register(Op("_rnn_param_concat", ("args",), _concat_shape,
            lambda a, *xs: np.concatenate(xs, axis=a["dim"]),
            attrs={"dim": Attr("int", 1)}, variadic=True, hint="rnn_param_concat",
            same_dtype=("*",), grad=lambda F, a, ins, outs, og: _grad_concat(F, a, ins, og),
            lower=lambda a, *xs: _lower_concat(a, xs)))


# --- SequenceReverse: each sequence reversed within its length ------------------------------
def _reverse_inputs(attrs):
    return ("data", "sequence_length") if attrs["use_sequence_length"] else ("data",)


def _reverse_shape(attrs, shapes):
    data = tuple(shapes[0])
    if attrs["axis"] != 0:
        raise AttrError(f"SequenceReverse: axis must be 0 (as in MXNet 1.9.1), got {attrs['axis']}")
    if len(data) < 2:
        raise ShapeError(f"SequenceReverse: data must be (time, batch, ...), got {data}")
    if attrs["use_sequence_length"]:
        if len(shapes) < 2:
            raise ShapeError("SequenceReverse: use_sequence_length=True needs sequence_length")
        if tuple(shapes[1]) != (data[1],):
            raise ShapeError(f"SequenceReverse: sequence_length has shape {tuple(shapes[1])}, "
                             f"data {data} needs ({data[1]},)")
    return [data]


def _sequence_reverse(attrs, data, lengths=None):
    """Steps 0..L-1 of each batch entry in reverse order, the steps past L where they
    were; L is the length truncated to an integer (clipped into the sequence)."""
    steps = data.shape[0]
    if lengths is None:
        return data[::-1].copy()
    counts = np.clip(np.trunc(lengths), 0, steps).astype(np.int64)
    out = data.copy()
    for b, n in enumerate(counts):
        out[:n, b] = data[:n, b][::-1]
    return out


def _lower_sequence_reverse(attrs, data, lengths=None):
    steps = data.shape[0]

    def fn(i):
        t = i[0]
        if lengths is None:
            src = Expr(Ops.PICKIDX, (alu("sub", const(steps - 1.0, "float64"),
                                         cast(t, "float64")), steps, "clip"), "int64")
        else:
            n = lengths((i[1],))
            inside = cmp("le", cast(iadd(t, 1), n.dtype), n)  # t < trunc(n)
            # trunc(n - 1 - t) = trunc(n) - 1 - t there; t itself past the length
            back = where(inside, alu("sub", alu("sub", n, const(1.0, n.dtype)),
                                     cast(t, n.dtype)), cast(t, n.dtype))
            src = Expr(Ops.PICKIDX, (back, steps, "clip"), "int64")
        return data((src,) + tuple(i[1:]))
    return Lazy(data.shape, data.dtype, fn)


def _grad_sequence_reverse(F, attrs, ins, outs, og):
    """A permutation that is its own inverse: the head gradient reversed the same way."""
    if attrs["use_sequence_length"]:
        return [F.SequenceReverse(og[0], ins[1], use_sequence_length=True), None]
    return [F.SequenceReverse(og[0])]


register(Op("SequenceReverse", ("data", "sequence_length?"), _reverse_shape, _sequence_reverse,
            attrs={"use_sequence_length": Attr("bool", False), "axis": Attr("int", 0)},
            active_inputs=_reverse_inputs, lower=_lower_sequence_reverse,
            grad=_grad_sequence_reverse, hint="sequencereverse"))
