"""Convolution and Deconvolution (MXNet's 1-, 2- and 3-d forms, groups, dilation).

Three numpy kernels carry all the arithmetic, in channel-first layout (NCW, NCHW, NCDHW):
``conv_forward`` (im2col through stride tricks, then one GEMM per group), its transpose
``conv_backward_data`` (a GEMM, then col2im: one strided add per kernel tap) and
``conv_backward_weight`` (im2col, then a GEMM).  Deconvolution's forward is the
convolution's data gradient, so each op's gradients are the other op and
``_backward_Convolution_weight``.  Channel-last layouts (NHWC, NDHWC) are refused, as
MXNet 1.9.1's CPU kernels fail on them.

Compiled, Convolution lowers directly to the loop IR (a sum over channels and kernel taps
per output element, bias and what follows fused into the same loop); the compiler's
``conv`` pass swaps in ``_convolution_gemm`` (im2col + BLAS) with the bias as a separate,
fusable add where the GEMM is faster (``gemm_wins``, measured in docs/performance.md).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..base import ShapeError
from ..loopir import Expr, Lazy, Ops, cmp, const, iadd, iconst, idiv, imul, where
from .registry import Attr, Op, register

# the layout MXNet's CPU Convolution computes, by number of spatial axes
_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}

_GEOMETRY = {
    "kernel": Attr("shape"), "stride": Attr("shape", ()), "dilate": Attr("shape", ()),
    "pad": Attr("shape", ()), "num_filter": Attr("int"), "num_group": Attr("int", 1),
    "workspace": Attr("int", 1024),
    "cudnn_tune": Attr("str", "None", choices=("None", "off", "limited_workspace", "fastest")),
    "cudnn_off": Attr("bool", False),
    "layout": Attr("str", "None", choices=("None", "NCW", "NCHW", "NCDHW", "NHWC", "NDHWC")),
}
_CONV_ATTRS = {**_GEOMETRY, "no_bias": Attr("bool", False)}
_DECONV_ATTRS = {**_GEOMETRY, "no_bias": Attr("bool", True), "adj": Attr("shape", ()),
                 "target_shape": Attr("shape", ())}


# --- attributes and shapes ---------------------------------------------------------------

def geometry(name: str, attrs: dict, ndim: int | None = None) -> tuple:
    """(kernel, stride, dilate, pad) as tuples of one int per spatial axis, defaults
    filled in; raises ShapeError where MXNet refuses them (data of ndim axes, if given)."""
    k = tuple(attrs["kernel"])
    nd = len(k)
    if nd not in (1, 2, 3):
        raise ShapeError(f"{name}: kernel {k} has {nd} axes; only 1-d, 2-d and 3-d "
                         f"convolutions are supported")
    out = [k]
    for key, default in (("stride", 1), ("dilate", 1), ("pad", 0)):
        v = tuple(attrs[key]) or (default,) * nd
        if len(v) != nd:
            raise ShapeError(f"{name}: {key} {v} must have one entry per kernel axis, as "
                             f"kernel {k}")
        out.append(v)
    for key, v in zip(("kernel", "stride", "dilate"), out):
        if min(v) < 1:
            raise ShapeError(f"{name}: {key} must be positive, got {v}")
    if min(out[3]) < 0:
        raise ShapeError(f"{name}: pad must be non-negative, got {out[3]}")
    layout = attrs["layout"]
    if layout not in ("None", _LAYOUTS[nd]):
        # MXNet 1.9.1 accepts NHWC and NDHWC in shape inference, then its CPU kernel fails
        raise ShapeError(f"{name}: layout {layout!r} is not supported for a {nd}-d kernel "
                         f"{k}: MXNet's CPU kernels compute {_LAYOUTS[nd]} only; transpose "
                         f"the data to it")
    if ndim is not None and ndim != nd + 2:
        raise ShapeError(f"{name}: data must have {nd + 2} axes (batch, channel and the "
                         f"{nd} spatial axes of kernel {k}), got {ndim}")
    return tuple(out)


def _dilated(k: tuple, d: tuple) -> tuple:
    return tuple(d_ * (k_ - 1) + 1 for k_, d_ in zip(k, d))


def _check_groups(name: str, attrs: dict, channels: int) -> None:
    g, nf = attrs["num_group"], attrs["num_filter"]
    if g < 1 or nf < 1:
        raise ShapeError(f"{name}: num_filter ({nf}) and num_group ({g}) must be positive")
    if channels % g or nf % g:
        raise ShapeError(f"{name}: num_group {g} must divide both the input channels "
                         f"({channels}) and num_filter ({nf})")


def _conv_out(name: str, attrs: dict, data: tuple) -> tuple:
    """Channel-first output shape of a convolution of channel-first data."""
    k, s, d, p = geometry(name, attrs, len(data))
    _check_groups(name, attrs, data[1])
    spatial = []
    for x, dk, s_, p_ in zip(data[2:], _dilated(k, d), s, p):
        if x + 2 * p_ < dk:
            raise ShapeError(f"{name}: the dilated kernel {_dilated(k, d)} is larger than "
                             f"the padded input {tuple(n + 2 * q for n, q in zip(data[2:], p))} "
                             f"(data {data}, pad {p})")
        spatial.append((x + 2 * p_ - dk) // s_ + 1)
    return (data[0], attrs["num_filter"]) + tuple(spatial)


def deconv_pad_adj(attrs: dict, data: tuple) -> tuple[tuple, tuple]:
    """Deconvolution's effective (pad, adj) for channel-first data: from target_shape when
    it has a non-zero entry (MXNet: the padding that reaches it, odd excess in adj)."""
    k, s, d, p = geometry("Deconvolution", attrs, len(data))
    adj = tuple(attrs["adj"]) or (0,) * len(k)
    target = tuple(attrs["target_shape"])
    if target and any(target):
        if len(target) != len(k):
            raise ShapeError(f"Deconvolution: target_shape {target} must have one entry per "
                             f"kernel axis, as kernel {k}")
        full = [s_ * (x - 1) + dk for x, s_, dk in zip(data[2:], s, _dilated(k, d))]
        for f, t in zip(full, target):
            if f < t:
                raise ShapeError(f"Deconvolution: target_shape {target} is too big: data "
                                 f"{data} reaches at most {tuple(full)}")
        return tuple((f - t + 1) // 2 for f, t in zip(full, target)), \
            tuple((f - t) % 2 for f, t in zip(full, target))
    if len(adj) != len(k):
        raise ShapeError(f"Deconvolution: adj {adj} must have one entry per kernel axis, "
                         f"as kernel {k}")
    for a, s_ in zip(adj, s):
        if not 0 <= a < s_:
            raise ShapeError(f"Deconvolution: adj {adj} must be smaller than stride {s}")
    return p, adj


def _deconv_out(attrs: dict, data: tuple) -> tuple:
    k, s, d, _ = geometry("Deconvolution", attrs, len(data))
    _check_groups("Deconvolution", attrs, data[1])
    p, adj = deconv_pad_adj(attrs, data)
    spatial = tuple(s_ * (x - 1) + dk - 2 * p_ + a for x, s_, dk, p_, a in
                    zip(data[2:], s, _dilated(k, d), p, adj))
    if min(spatial) < 0:
        raise ShapeError(f"Deconvolution: pad {p} leaves no output for data {data}")
    return (data[0], attrs["num_filter"]) + spatial


def _inputs(attrs):
    return ("data", "weight") if attrs.get("no_bias") else ("data", "weight", "bias")


def _check_params(name: str, names: tuple, shapes: list, want: dict, attrs: dict) -> None:
    if len(shapes) != len(names):
        raise ShapeError(f"{name} expects {len(names)} inputs ({', '.join(names)}) with "
                         f"no_bias={attrs['no_bias']}, but got {len(shapes)}")
    for n, got in zip(names[1:], shapes[1:]):
        if tuple(got) != want[n]:
            raise ShapeError(f"{name}: {n} must have shape {want[n]} (data {tuple(shapes[0])}, "
                             f"kernel {tuple(attrs['kernel'])}, num_filter "
                             f"{attrs['num_filter']}, num_group {attrs['num_group']}), got "
                             f"{tuple(got)}")


def _param_shapes(name: str, attrs: dict, data: tuple) -> dict:
    """weight and bias shapes for data (in the op's layout)."""
    k = geometry(name, attrs, len(data))[0]
    g, nf = attrs["num_group"], attrs["num_filter"]
    if name == "Deconvolution":
        w = (data[1], nf // max(g, 1)) + k
    else:
        w = (nf, data[1] // max(g, 1)) + k
    return {"weight": w, "bias": (nf,)}


def _conv_shape(attrs, shapes):
    data = tuple(shapes[0])
    out = _conv_out("Convolution", attrs, data)
    _check_params("Convolution", _inputs(attrs), shapes,
                  _param_shapes("Convolution", attrs, data), attrs)
    return [out]


def _deconv_shape(attrs, shapes):
    data = tuple(shapes[0])
    out = _deconv_out(attrs, data)
    _check_params("Deconvolution", _inputs(attrs), shapes,
                  _param_shapes("Deconvolution", attrs, data), attrs)
    return [out]


def _fill_shapes(name: str):
    def fill(attrs, in_shapes: list) -> list:
        """weight and bias from data's shape (when its batch-free axes are known), as
        MXNet's shape inference fills a conv layer's deferred parameters."""
        out = list(in_shapes)
        data = out[0]
        if data is None or len(data) != len(attrs["kernel"]) + 2:
            return out
        if data[1] == 0:
            return out
        want = _param_shapes(name, attrs, tuple(data))
        for i, key in ((1, "weight"), (2, "bias")):
            if len(out) > i and (out[i] is None or 0 in tuple(out[i])):
                out[i] = want[key]
        return out
    return fill


# --- numpy kernels (channel-first) -------------------------------------------------------

def _windows(x: np.ndarray, k, s, d, p, out_sp) -> np.ndarray:
    """A read-only view (N, C, *out_sp, *k) of zero-padded x: every kernel tap of every
    output position."""
    if any(p):
        x = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    st = x.strides
    nd = len(k)
    strides = st[:2] + tuple(st[2 + i] * s[i] for i in range(nd)) + \
        tuple(st[2 + i] * d[i] for i in range(nd))
    return as_strided(x, x.shape[:2] + tuple(out_sp) + tuple(k), strides, writeable=False)


def _im2col(x, k, s, d, p, out_sp, g) -> np.ndarray:
    """(g, C/g * prod(k), N * prod(out_sp)): one GEMM operand per group (a copy)."""
    n, c = x.shape[:2]
    nd = len(k)
    win = _windows(x, k, s, d, p, out_sp).reshape((n, g, c // g) + tuple(out_sp) + tuple(k))
    # (g, C/g, *k, N, *out)
    order = (1, 2) + tuple(range(3 + nd, 3 + 2 * nd)) + (0,) + tuple(range(3, 3 + nd))
    return np.ascontiguousarray(win.transpose(order)).reshape(
        g, (c // g) * math.prod(k), n * math.prod(out_sp))


def _compute_dtype(dt):
    # numpy's float16 matmul is slow and rounds each product; MXNet's CPU kernel
    # accumulates in float32
    return np.float32 if dt == np.float16 else dt


def conv_forward(x: np.ndarray, w: np.ndarray, k, s, d, p, g: int) -> np.ndarray:
    """Convolution of channel-first x (N, C, *sp) with w (F, C/g, *k), no bias."""
    n = x.shape[0]
    f = w.shape[0]
    out_sp = tuple((x_ + 2 * p_ - dk) // s_ + 1
                   for x_, p_, dk, s_ in zip(x.shape[2:], p, _dilated(k, d), s))
    ct = _compute_dtype(x.dtype)
    cols = _im2col(x.astype(ct, copy=False), k, s, d, p, out_sp, g)
    wm = w.astype(ct, copy=False).reshape(g, f // g, -1)
    y = np.matmul(wm, cols)  # (g, F/g, N * P): one BLAS call per group
    y = y.reshape(f, n, *out_sp).swapaxes(0, 1)
    return np.ascontiguousarray(y, dtype=x.dtype)


def conv_backward_data(gy: np.ndarray, w: np.ndarray, x_shape: tuple, k, s, d, p,
                       g: int) -> np.ndarray:
    """The gradient (shape x_shape) of a convolution's input given its output's gradient
    gy (N, F, *out) and w (F, C/g, *k): also Deconvolution's forward."""
    n, f = gy.shape[:2]
    c = x_shape[1]
    out_sp = gy.shape[2:]
    nd = len(k)
    ct = _compute_dtype(gy.dtype)
    gm = np.ascontiguousarray(gy.astype(ct, copy=False).reshape(n, g, f // g, -1)
                              .transpose(1, 2, 0, 3)).reshape(g, f // g, -1)
    wm = w.astype(ct, copy=False).reshape(g, f // g, -1)
    cols = np.matmul(wm.transpose(0, 2, 1), gm)  # (g, C/g * K, N * P)
    cols = cols.reshape((c,) + tuple(k) + (n,) + tuple(out_sp))
    padded = np.zeros((n, c) + tuple(x_ + 2 * p_ for x_, p_ in zip(x_shape[2:], p)), ct)
    # a tap's contribution may reach beyond the padded input only where the forward
    # convolution never looked; those are cut off (MXNet's col2im does the same)
    for tap in np.ndindex(*k):
        src = cols[(slice(None),) + tap].swapaxes(0, 1)  # (N, C, *out)
        dst, keep = [], []
        for i in range(nd):
            start = tap[i] * d[i]
            m = min(out_sp[i], max(0, -(-(padded.shape[2 + i] - start) // s[i])))
            dst.append(slice(start, start + s[i] * (m - 1) + 1 if m else start, s[i]))
            keep.append(slice(0, m))
        padded[(slice(None), slice(None)) + tuple(dst)] += src[(slice(None), slice(None))
                                                               + tuple(keep)]
    inner = tuple(slice(p_, p_ + x_) for p_, x_ in zip(p, x_shape[2:]))
    return np.ascontiguousarray(padded[(slice(None), slice(None)) + inner], dtype=gy.dtype)


def conv_backward_weight(x: np.ndarray, gy: np.ndarray, k, s, d, p, g: int) -> np.ndarray:
    """The gradient (F, C/g, *k) of a convolution's weight given its input x and its
    output's gradient gy (N, F, *out)."""
    n, f = gy.shape[:2]
    out_sp = gy.shape[2:]
    ct = _compute_dtype(x.dtype)
    cols = _im2col(x.astype(ct, copy=False), k, s, d, p, out_sp, g)
    gm = np.ascontiguousarray(gy.astype(ct, copy=False).reshape(n, g, f // g, -1)
                              .transpose(1, 2, 0, 3)).reshape(g, f // g, -1)
    dw = np.matmul(gm, cols.transpose(0, 2, 1))  # (g, F/g, C/g * K)
    return dw.reshape((f, x.shape[1] // g) + tuple(k)).astype(x.dtype)


def _add_bias(y: np.ndarray, bias) -> np.ndarray:
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * (y.ndim - 2)).astype(y.dtype, copy=False)
    return y


def _convolution(attrs, data, weight, bias=None):
    k, s, d, p = geometry("Convolution", attrs, data.ndim)
    return _add_bias(conv_forward(data, weight, k, s, d, p, attrs["num_group"]), bias)


def _deconvolution(attrs, data, weight, bias=None):
    k, s, d, _ = geometry("Deconvolution", attrs, data.ndim)
    p, _ = deconv_pad_adj(attrs, data.shape)
    out = _deconv_out(attrs, data.shape)
    y = conv_backward_data(data, weight, out, k, s, d, p, attrs["num_group"])
    return _add_bias(y, bias)


# --- the loop IR: a sum over channels and kernel taps per output element ------------------

def _lower_convolution(attrs, data, weight, bias=None):
    """out[n, f, y] = sum over c < C/g and taps t of
    x[n, group(f) * C/g + c, y * s - p + t * d] * w[f, c, t] (+ bias[f]), a padded read
    being 0: the element a clipped index loads is masked out."""
    k, s, d, p = geometry("Convolution", attrs, len(data.shape))
    nd = len(k)
    out = _conv_out("Convolution", attrs, data.shape)
    g, f = attrs["num_group"], attrs["num_filter"]
    cg, fg = data.shape[1] // g, f // g
    sp = data.shape[2:]
    zero = const(0, data.dtype)

    def term(i):  # i: (n, f, *out, c, *taps)
        n_, f_, ys, c_, ts = i[0], i[1], i[2:2 + nd], i[2 + nd], i[3 + nd:]
        chan = iadd(imul(idiv(f_, fg), cg), c_)
        inside, pos = None, []
        for y, t, s_, d_, p_, n_sp in zip(ys, ts, s, d, p, sp):
            at = iadd(imul(y, s_), imul(t, d_), -p_)
            if p_:
                lo, hi = cmp("ge", at, iconst(0)), cmp("lt", at, iconst(n_sp))
                ok = Expr(Ops.AND, (lo, hi), "bool")
                inside = ok if inside is None else Expr(Ops.AND, (inside, ok), "bool")
                at = Expr(Ops.PICKIDX, (at, n_sp, "clip"), "int64")
            pos.append(at)
        v = Expr(Ops.MUL, (data((n_, chan, *pos)), weight((f_, c_, *ts))), data.dtype)
        return v if inside is None else where(inside, v, zero)

    body = Lazy(out + (cg,) + tuple(k), data.dtype, term)
    y = body.reduce("sum", tuple(range(2 + nd, 3 + 2 * nd)), False)
    if bias is not None:
        y = y.map("add", bias.reshape((1, f) + (1,) * nd))
    return y


# --- the algorithm a compiled Convolution runs --------------------------------------------

# The direct loop vectorizes along the output row and wins while each output element sums
# few products (LeNet's first layer, 1 x 5x5: 2.2 ms against 17.6 ms; an RGB 3x3 layer;
# depthwise layers); beyond that, BLAS's blocking wins (LeNet's second layer, 20 x 5x5:
# 2-4x; a ResNet 3x3 layer, 64 x 3x3: 4x).  Numbers: bench/bench_conv.py, docs/performance.md.
DIRECT_MAX_REDUCTION = 64


def gemm_wins(attrs: dict, data: tuple, weight: tuple) -> bool:
    """Whether im2col + BLAS beats the direct loop for this convolution (full attrs,
    data and weight shapes): when each output element sums more than
    ``DIRECT_MAX_REDUCTION`` products.  The compiler's ``conv`` pass asks."""
    return math.prod(weight[1:]) > DIRECT_MAX_REDUCTION


# --- gradients ---------------------------------------------------------------------------

def _geom_attrs(attrs, **extra) -> dict:
    keep = ("kernel", "stride", "dilate", "num_group", "layout")
    return {**{key: attrs[key] for key in keep if attrs[key] != "None"}, **extra}


def _bias_grad(F, og, attrs, nd):
    return F.sum(og, axis=(0,) + tuple(range(2, 2 + nd)))


def _grad_convolution(F, attrs, ins, outs, og):
    """d data: the transposed convolution of og (adj restores the rows a stride skipped);
    d weight: ``_backward_Convolution_weight``; d bias: og summed over all but channels."""
    data, weight = ins[0], ins[1]
    first = tuple(data.shape)
    k, s, d, p = geometry("Convolution", attrs, len(first))
    out = _conv_out("Convolution", attrs, first)
    adj = tuple(x - (s_ * (o - 1) + dk - 2 * p_) for x, o, s_, dk, p_ in
                zip(first[2:], out[2:], s, _dilated(k, d), p))
    g = og[0]
    dx = F.Deconvolution(g, weight, no_bias=True, num_filter=first[1], pad=p, adj=adj,
                         **_geom_attrs(attrs))
    dw = F._internal._backward_Convolution_weight(
        data, g, pad=p, num_filter=attrs["num_filter"], **_geom_attrs(attrs))
    grads = [dx, dw]
    if len(ins) > 2:
        grads.append(_bias_grad(F, g, attrs, len(k)))
    return grads


def _grad_deconvolution(F, attrs, ins, outs, og):
    """d data: the convolution of og with the same weight; d weight: the convolution's
    weight gradient with og as its input and data as its output's gradient."""
    data, weight = ins[0], ins[1]
    first = tuple(data.shape)
    k = geometry("Deconvolution", attrs, len(first))[0]
    p, _ = deconv_pad_adj(attrs, first)
    g = og[0]
    dx = F.Convolution(g, weight, no_bias=True, num_filter=first[1], pad=p,
                       **_geom_attrs(attrs))
    dw = F._internal._backward_Convolution_weight(g, data, pad=p, num_filter=first[1],
                                                  **_geom_attrs(attrs))
    grads = [dx, dw]
    if len(ins) > 2:
        grads.append(_bias_grad(F, g, attrs, len(k)))
    return grads


def _conv_cost(attrs, in_shapes, out_shapes):
    """Two operations per output element and weight element it reads."""
    w = in_shapes[1]
    return 2.0 * math.prod(out_shapes[0]) * math.prod(w) / max(1, w[0])


register(Op("Convolution", ("data", "weight", "bias?"), _conv_shape, _convolution,
            attrs=_CONV_ATTRS, active_inputs=_inputs, same_dtype=("*",),
            lower=_lower_convolution, grad=_grad_convolution, cost=_conv_cost,
            fill_shapes=_fill_shapes("Convolution"), hint="convolution",
            traits=frozenset({"window"})))

register(Op("Deconvolution", ("data", "weight", "bias?"), _deconv_shape, _deconvolution,
            attrs=_DECONV_ATTRS, active_inputs=_inputs, same_dtype=("*",),
            grad=_grad_deconvolution, fill_shapes=_fill_shapes("Deconvolution"),
            cost=lambda a, i, o: 2.0 * math.prod(i[0]) * math.prod(i[1]) / max(1, i[1][0]),
            hint="deconvolution", traits=frozenset({"blas"})))


# --- internal forms: the weight gradient, and the compiler's GEMM convolution ----------------

_WGRAD_ATTRS = {key: _GEOMETRY[key] for key in
                ("kernel", "stride", "dilate", "pad", "num_filter", "num_group", "layout")}


def _wgrad_attrs(attrs) -> dict:
    return {**attrs, "workspace": 1024, "cudnn_tune": "None", "cudnn_off": False,
            "no_bias": True}


def _wgrad_shape(attrs, shapes):
    data, gy = tuple(shapes[0]), tuple(shapes[1])
    full = _wgrad_attrs(attrs)
    want = _conv_out("_backward_Convolution_weight", full, data)
    if gy != want:
        raise ShapeError(f"_backward_Convolution_weight: the output gradient has shape {gy}, "
                         f"the convolution of data {data} gives {want}")
    return [_param_shapes("Convolution", full, data)["weight"]]


def _wgrad(attrs, data, gy):
    k, s, d, p = geometry("_backward_Convolution_weight", attrs, data.ndim)
    return conv_backward_weight(data, gy, k, s, d, p, attrs["num_group"])


def _grad_wgrad(F, attrs, ins, outs, og):
    """dw is bilinear in (data, gy): d data is gy transposed-convolved with og[0], d gy is
    data convolved with og[0]."""
    data, gy = ins
    full = _wgrad_attrs(attrs)
    first = tuple(data.shape)
    k, s, d, p = geometry("_backward_Convolution_weight", full, len(first))
    out = tuple(gy.shape)
    adj = tuple(x - (s_ * (o - 1) + dk - 2 * p_) for x, o, s_, dk, p_ in
                zip(first[2:], out[2:], s, _dilated(k, d), p))
    dx = F.Deconvolution(gy, og[0], no_bias=True, num_filter=first[1], pad=p, adj=adj,
                         **_geom_attrs(full))
    dg = F.Convolution(data, og[0], no_bias=True, num_filter=attrs["num_filter"], pad=p,
                       **_geom_attrs(full))
    return [dx, dg]


register(Op("_backward_Convolution_weight", ("data", "ograd"), _wgrad_shape, _wgrad,
            attrs=_WGRAD_ATTRS, same_dtype=("*",), grad=_grad_wgrad,
            hint="conv_wgrad", traits=frozenset({"blas"})))


# The compiler's form of a Convolution where im2col + BLAS beats the direct loop
# (compiler/conv_rewrite.py decides): the same op but for how it compiles.  A float bias
# leaves it as a separate add, which fuses with the activation after it; an integer one
# stays inside (the loop IR does not add integers).
register(Op("_convolution_gemm", ("data", "weight", "bias?"), _conv_shape, _convolution,
            attrs=dict(_CONV_ATTRS), active_inputs=_inputs, same_dtype=("*",),
            grad=_grad_convolution, cost=_conv_cost, fill_shapes=_fill_shapes("Convolution"),
            hint="convolution", traits=frozenset({"blas"})))
