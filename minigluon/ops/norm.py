"""Normalization ops: BatchNorm (and its training form), LayerNorm, InstanceNorm, GroupNorm.

Each normalizes x over some axes, y = (x - mean) / sqrt(var + eps) with the biased
variance, then scales and shifts it, out = y * gamma + beta, gamma and beta broadcast
along the axes they are per (channels, groups, the layer axis).  One numpy kernel, one
lowering and one gradient serve all four (``_normalize_np``, ``_lower_normalize``,
``_grad_normalized``); each op only says which axes and how gamma broadcasts.

BatchNorm is two ops.  ``BatchNorm`` is the form MXNet runs outside training (and with
use_global_stats): it normalizes with the moving statistics.  ``_BatchNorm_train`` is what
it runs as in autograd's training mode (``Op.training``): the batch's own statistics, and
an ``update`` rule giving the new moving statistics, moving * momentum + batch * (1 -
momentum), which eager calls write into the moving_mean and moving_var arrays and
compiled graphs return as extra outputs (MXNet's auxiliary states, ``Op.aux_inputs``).
"""
from __future__ import annotations

import math

import numpy as np

from ..base import ShapeError
from ..loopir import Lazy, cast
from .registry import FLOATS, Attr, DTypeError, Op, register


def _f32(value: float) -> float:
    """eps and momentum as MXNet holds them: C floats, so float64 data sees 0.9 as
    0.89999998 (the last digits of float64 results depend on it)."""
    return float(np.float32(value))


def _param_dtype(dt: str) -> str:
    """MXNet keeps BatchNorm's gamma, beta and statistics float32 for float16 data."""
    return "float32" if dt == "float16" else dt


def _along(n: int, ax: int, ndim: int) -> tuple:
    return tuple(n if d == ax else 1 for d in range(ndim))


def _others(ax: int, ndim: int) -> tuple:
    return tuple(d for d in range(ndim) if d != ax)


# --- one normalization, three forms: numpy, loop IR, F-ops ----------------------------------

def _normalize_np(x: np.ndarray, axes: tuple, eps: float):
    """(x - mean) * invstd over axes (keepdims statistics), mean, invstd.  The sums
    accumulate in float64, as the compiled reductions do over long axes: a float32 sum
    over a batch of images would drift from it (and from the truth) by 1e-5."""
    n = _count(x.shape, axes)
    mean = (x.sum(axis=axes, keepdims=True, dtype=np.float64) / n).astype(x.dtype)
    c = x - mean
    var = (np.square(c).sum(axis=axes, keepdims=True, dtype=np.float64) / n).astype(x.dtype)
    inv = x.dtype.type(1) / np.sqrt(var + x.dtype.type(eps))
    return c * inv, mean, inv


def _count(shape: tuple, axes: tuple) -> int:
    return math.prod(shape[a] for a in axes)


def _full(value: float, dtype: str) -> Lazy:
    return Lazy.full((), value, dtype)


def _as(x: Lazy, dtype: str) -> Lazy:
    return x if x.dtype == dtype else Lazy(x.shape, dtype, lambda i: cast(x(i), dtype))


def _lower_normalize(x: Lazy, axes: tuple, eps: float) -> tuple[Lazy, Lazy, Lazy]:
    """The loop-IR twin of _normalize_np: two reductions and elementwise maps."""
    dt, n = x.dtype, _full(float(_count(x.shape, axes)), x.dtype)
    mean = x.reduce("sum", axes, keepdims=True).map("div", n)
    c = x.map("sub", mean)
    var = c.map("mul", c).reduce("sum", axes, keepdims=True).map("div", n)
    inv = _full(1.0, dt).map("div", var.map("add", _full(eps, dt)).map("sqrt"))
    return c.map("mul", inv), mean, inv


def _mean(F, v, axes: tuple):
    return F.mean(v, axis=axes, keepdims=True) if axes else v


def _sum(F, v, axes: tuple):
    return F.sum(v, axis=axes) if axes else v


def _normalized(F, x, axes: tuple, eps: float):
    """y and invstd (keepdims) of x over axes, with F-ops."""
    c = F.broadcast_sub(x, _mean(F, x, axes))
    inv = F.rsqrt(_mean(F, F.square(c), axes) + eps)
    return F.broadcast_mul(c, inv), inv


def _grad_normalized(F, x, axes: tuple, eps: float, gy):
    """d/dx of y = normalize(x) over axes, given gy = dL/dy: the statistics depend on x,
    invstd * (gy - mean(gy) - y * mean(gy * y))."""
    y, inv = _normalized(F, x, axes, eps)
    inner = F.broadcast_sub(gy, _mean(F, gy, axes))
    inner = inner - F.broadcast_mul(y, _mean(F, gy * y, axes))
    return F.broadcast_mul(inner, inv), y


def _cast(F, v, dtype: str):
    return v if str(v.dtype) == dtype else F.Cast(v, dtype=dtype)


# --- BatchNorm ----------------------------------------------------------------------------

_BN_INPUTS = ("data", "gamma", "beta", "moving_mean", "moving_var")
_BN_ATTRS = {"eps": Attr("float", 1e-3), "momentum": Attr("float", 0.9),
             "fix_gamma": Attr("bool", True), "use_global_stats": Attr("bool", False),
             "output_mean_var": Attr("bool", False), "axis": Attr("int", 1),
             "cudnn_off": Attr("bool", False), "min_calib_range": Attr("opt_float", None),
             "max_calib_range": Attr("opt_float", None)}


def _bn_axis(attrs: dict, shape: tuple) -> int:
    nd, ax = len(shape), attrs["axis"]
    if nd == 0 or not -nd <= ax < nd:
        raise ShapeError(f"BatchNorm: axis={ax} is out of range for data of shape {shape}")
    return ax % nd


def _bn_shape(attrs: dict, shapes: list) -> list:
    data = tuple(shapes[0])
    ax = _bn_axis(attrs, data)
    c = (data[ax],)
    for name, s in zip(_BN_INPUTS[1:], shapes[1:]):
        if tuple(s) != c:
            raise ShapeError(f"BatchNorm: {name} has shape {tuple(s)}; data {data} normalized "
                             f"along axis {attrs['axis']} needs {c}")
    return [data, c, c]


def _bn_dtype(attrs: dict, dtypes: list) -> list:
    want = _param_dtype(dtypes[0])
    for name, dt in zip(_BN_INPUTS[1:], dtypes[1:]):
        if dt != want:
            raise DTypeError(f"BatchNorm: {name} is {dt}, but data of {dtypes[0]} needs "
                             f"{want} (MXNet: float32 for float16 data, else data's dtype)")
    return [dtypes[0], want, want]


def _bn_fill(attrs: dict, in_shapes: list) -> list:
    """gamma, beta and the statistics (C,) from data's channel axis."""
    out = list(in_shapes)
    data = out[0]
    if data is not None and len(data):
        c = data[_bn_axis(attrs, tuple(data))]
        if c:
            out[1:] = [(c,) if s is None or 0 in tuple(s) else s for s in out[1:]]
    return out


def _bn_np(train: bool):
    def compute(attrs, x, gamma, beta, mm, mv):
        ax = _bn_axis(attrs, x.shape)
        sh, pt = _along(-1, ax, x.ndim), mm.dtype
        w = np.ones_like(gamma) if attrs["fix_gamma"] else gamma
        xf = x.astype(pt)
        if train:
            y, mean, inv = _normalize_np(xf, _others(ax, x.ndim), _f32(attrs["eps"]))
            mean, inv = mean.reshape(-1), inv.reshape(-1)
        else:
            mean, inv = mm.copy(), pt.type(1) / np.sqrt(mv + pt.type(_f32(attrs["eps"])))
            y = (xf - mean.reshape(sh)) * inv.reshape(sh)
        out = y * w.reshape(sh) + beta.reshape(sh)
        # outputs 1 and 2 are MXNet's: the mean and the inverse standard deviation used
        return out.astype(x.dtype), mean, inv
    return compute


def _bn_lower(train: bool):
    def lower(attrs, x, gamma, beta, mm, mv):
        ax = _bn_axis(attrs, x.shape)
        sh, pt = _along(x.shape[ax], ax, len(x.shape)), mm.dtype
        xf = _as(x, pt)
        if train:
            y = _lower_normalize(xf, _others(ax, len(x.shape)), _f32(attrs["eps"]))[0]
        else:
            inv = _full(1.0, pt).map("div", mv.map("add", _full(_f32(attrs["eps"]), pt)).map("sqrt"))
            y = xf.map("sub", mm.reshape(sh)).map("mul", inv.reshape(sh))
        if not attrs["fix_gamma"]:
            y = y.map("mul", gamma.reshape(sh))
        return _as(y.map("add", beta.reshape(sh)), x.dtype)
    return lower


def _bn_grad(train: bool):
    def grad(F, attrs, ins, outs, og):
        x, gamma, _, mm, mv = ins
        ax = _bn_axis(attrs, tuple(x.shape))
        nd, pt = len(x.shape), str(mm.dtype)
        axes, sh = _others(ax, nd), _along(x.shape[ax], ax, nd)
        xf, g = _cast(F, x, pt), _cast(F, og[0], pt)
        w = None if attrs["fix_gamma"] else F.reshape(gamma, shape=sh)
        gy = g if w is None else F.broadcast_mul(g, w)
        if train:
            dx, y = _grad_normalized(F, xf, axes, _f32(attrs["eps"]), gy)
        else:
            inv = F.reshape(F.rsqrt(mv + _f32(attrs["eps"])), shape=sh)
            y = F.broadcast_mul(F.broadcast_sub(xf, F.reshape(mm, shape=sh)), inv)
            if attrs["use_global_stats"]:  # the statistics are constants: an affine map
                dx = F.broadcast_mul(gy, inv)
            else:
                # MXNet's backward (in its default train_mode) of a forward run outside
                # training: the batch-statistics formula, fed the moving statistics the
                # forward used; not the derivative of that forward, but MXNet's numbers
                dx = F.broadcast_mul(inv, F.broadcast_sub(gy, _mean(F, gy, axes)) -
                                     F.broadcast_mul(y, _mean(F, gy * y, axes)))
        # MXNet's fix_gamma: gamma is taken as 1 and its gradient is 0
        dgamma = F.zeros_like(gamma) if w is None else _sum(F, g * y, axes)
        return [_cast(F, dx, str(x.dtype)), dgamma, _sum(F, g, axes), None, None]
    return grad


def _fixed_gamma(F, attrs: dict, ins: list) -> list:
    """MXNet's fix_gamma writes 1 into gamma, in training mode (_bn_update) and, outside
    it, with use_global_stats (what this rule gives for the moving-statistics form)."""
    fixed = attrs["fix_gamma"] and attrs["use_global_stats"]
    return [("gamma", F.BlockGrad(F.ones_like(ins[1])))] if fixed else []


def _bn_update(F, attrs: dict, ins: list) -> list:
    """The new moving mean and variance (biased, as MXNet's) after a training step; not
    differentiated (BlockGrad), as MXNet's auxiliary states are not."""
    x, _, _, mm, mv = ins
    ax = _bn_axis(attrs, tuple(x.shape))
    axes = _others(ax, len(x.shape))
    xf = _cast(F, x, str(mm.dtype))
    mean = _mean(F, xf, axes)
    var = _mean(F, F.square(F.broadcast_sub(xf, mean)), axes)
    m = _f32(attrs["momentum"])
    gamma = [("gamma", F.BlockGrad(F.ones_like(ins[1])))] if attrs["fix_gamma"] else []
    return [("moving_mean", F.BlockGrad(mm * m + F.reshape(mean, shape=mm.shape) * (1 - m))),
            ("moving_var", F.BlockGrad(mv * m + F.reshape(var, shape=mv.shape) * (1 - m)))] + gamma


def _bn_compose(F, attrs: dict, ins: list) -> list:
    """_BatchNorm_train as F-ops: its kernel's formula, with the batch mean and variance
    as nodes of their own (the same nodes _bn_update builds, which the compiler merges)."""
    x, gamma, beta, mm, _ = ins
    ax = _bn_axis(attrs, tuple(x.shape))
    nd, pt = len(x.shape), str(mm.dtype)
    axes, sh = _others(ax, nd), _along(x.shape[ax], ax, nd)
    y, inv = _normalized(F, _cast(F, x, pt), axes, _f32(attrs["eps"]))
    if not attrs["fix_gamma"]:
        y = F.broadcast_mul(y, F.reshape(gamma, shape=sh))
    out = _cast(F, F.broadcast_add(y, F.reshape(beta, shape=sh)), str(x.dtype))
    mean = _mean(F, _cast(F, x, pt), axes)
    return [out, F.reshape(mean, shape=mm.shape), F.reshape(inv, shape=mm.shape)]


def _bn_training(attrs: dict) -> str | None:
    return None if attrs["use_global_stats"] else "_BatchNorm_train"


def _mean_var_visible(attrs: dict) -> int:
    """output_mean_var shows the mean and the variance (or std) outputs, as MXNet's."""
    return 3 if attrs["output_mean_var"] else 1


_BN_COMMON = dict(attrs=_BN_ATTRS, dtype=_bn_dtype, num_outputs=3, num_visible=_mean_var_visible,
                  accepts={"data": FLOATS}, fill_shapes=_bn_fill,
                  aux_inputs=("moving_mean", "moving_var"))

register(Op("BatchNorm", _BN_INPUTS, _bn_shape, _bn_np(False), lower=_bn_lower(False),
            grad=_bn_grad(False), training=_bn_training, update=_fixed_gamma, hint="batchnorm", **_BN_COMMON))
register(Op("_BatchNorm_train", _BN_INPUTS, _bn_shape, _bn_np(True), lower=_bn_lower(True),
            grad=_bn_grad(True), update=_bn_update, compose=_bn_compose, hint="batchnorm",
            **_BN_COMMON))


# --- LayerNorm, InstanceNorm, GroupNorm: the batch's statistics, always --------------------
# Each names a view: data reshaped to vshape, normalized over axes of it, gamma and beta
# broadcast as psh, and the shape of its mean and std outputs.

def _layer_view(attrs: dict, shape: tuple) -> tuple:
    nd, ax = len(shape), attrs["axis"]
    if nd == 0 or not -nd <= ax < nd:
        raise ShapeError(f"LayerNorm: axis={ax} is out of range for data of shape {shape}")
    ax %= nd
    return shape, (ax,), _along(shape[ax], ax, nd), tuple(1 if d == ax else n
                                                          for d, n in enumerate(shape))


def _instance_view(attrs: dict, shape: tuple) -> tuple:
    if len(shape) < 3:
        raise ShapeError(f"InstanceNorm: data must have at least 3 axes (batch, channel, "
                         f"spatial...), got shape {shape}")
    return shape, tuple(range(2, len(shape))), _along(shape[1], 1, len(shape)), shape[:2]


def _group_view(attrs: dict, shape: tuple) -> tuple:
    g = attrs["num_groups"]
    if len(shape) < 3:  # as MXNet 1.9.1's check
        raise ShapeError(f"GroupNorm: data must have at least 3 axes (batch, channel, ...), "
                         f"got shape {shape}")
    if g < 1 or shape[1] % g:
        raise ShapeError(f"GroupNorm: data of shape {shape} cannot be split into "
                         f"num_groups={g} groups along axis 1")
    n = shape[0]
    return (n, g, math.prod(shape) // max(n * g, 1)), (2,), (1, g, 1), (n, g)


def _norm_op(name: str, view, attrs: dict, hint: str) -> None:
    def shape_rule(a, shapes):
        data = tuple(shapes[0])
        _, _, psh, stats = view(a, data)
        c = (math.prod(psh),)
        for what, s in zip(("gamma", "beta"), shapes[1:]):
            if tuple(s) != c:
                raise ShapeError(f"{name}: {what} has shape {tuple(s)}; data {data} needs {c}")
        return [data, stats, stats]

    def fill(a, in_shapes):
        out = list(in_shapes)
        if out[0] is not None and 0 not in tuple(out[0]):
            c = (math.prod(view(a, tuple(out[0]))[2]),)
            out[1:] = [c if s is None or 0 in tuple(s) else s for s in out[1:]]
        return out

    def compute(a, x, gamma, beta):
        vshape, axes, psh, stats = view(a, x.shape)
        y, mean, inv = _normalize_np(x.reshape(vshape), axes, _f32(a["eps"]))
        out = y * gamma.reshape(psh) + beta.reshape(psh)
        # outputs 1 and 2 are MXNet's mean and standard deviation sqrt(var + eps)
        return out.reshape(x.shape), mean.reshape(stats), (x.dtype.type(1) / inv).reshape(stats)

    def lower(a, x, gamma, beta):
        vshape, axes, psh, _ = view(a, x.shape)
        y = _lower_normalize(x.reshape(vshape), axes, _f32(a["eps"]))[0]
        return y.map("mul", gamma.reshape(psh)).map("add", beta.reshape(psh)).reshape(x.shape)

    def grad(F, a, ins, outs, og):
        x, gamma, _ = ins
        vshape, axes, psh, _ = view(a, tuple(x.shape))
        per = tuple(d for d, n in enumerate(psh) if n == 1)  # the axes gamma is shared along
        xv, gv = F.reshape(x, shape=vshape), F.reshape(og[0], shape=vshape)
        dx, y = _grad_normalized(F, xv, axes, _f32(a["eps"]),
                                 F.broadcast_mul(gv, F.reshape(gamma, shape=psh)))
        c = tuple(gamma.shape)
        return [F.reshape(dx, shape=tuple(x.shape)), F.reshape(F.sum(gv * y, axis=per), shape=c),
                F.reshape(F.sum(gv, axis=per), shape=c)]

    register(Op(name, ("data", "gamma", "beta"), shape_rule, compute, attrs=attrs, lower=lower,
                grad=grad, num_outputs=3,
                num_visible=_mean_var_visible if "output_mean_var" in attrs else 1,
                same_dtype=("*",),
                accepts={"data": FLOATS}, fill_shapes=fill, hint=hint))


_norm_op("LayerNorm", _layer_view, {"axis": Attr("int", -1), "eps": Attr("float", 1e-5),
                                    "output_mean_var": Attr("bool", False)}, "layernorm")
_norm_op("InstanceNorm", _instance_view, {"eps": Attr("float", 1e-3)}, "instancenorm")
_norm_op("GroupNorm", _group_view, {"num_groups": Attr("int", 1), "eps": Attr("float", 1e-5),
                                    "output_mean_var": Attr("bool", False)}, "groupnorm")
