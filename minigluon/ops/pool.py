"""Pooling and Pad: window reductions over the spatial axes, and border padding.

Pooling's numpy kernel, its lowering and its gradient share one geometry
(:func:`pool_geometry`): per spatial axis, output position ``o`` reads input positions
``o * stride - pad + r`` for ``r`` in ``[0, kernel)``, those inside ``[0, size)`` only;
a position outside is padding.  That is MXNet 1.9.1's CPU kernel, including its quirks:
an average's divisor counts the padding up to ``size + pad`` (``count_include_pad``, the
default), a max over a window with no input in it is the dtype's lowest value, and the
gradient of a max goes to the first position (in window order) holding the maximum.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..base import ShapeError
from ..loopir import (
    Expr,
    Lazy,
    Ops,
    alu,
    cast,
    cmp,
    const,
    iadd,
    iconst,
    idiv,
    imod,
    imul,
    ravel,
    reduce_expr,
    where,
)
from ..loopir import bounds as ibounds
from ..loopir import var as loop_var
from .registry import FLOATS, Attr, AttrError, Op, register

_FIRST = {3: "NCW", 4: "NCHW", 5: "NCDHW"}
_LAST = {3: "NWC", 4: "NHWC", 5: "NDHWC"}


@dataclass(frozen=True)
class PoolGeometry:
    """One pooling's windows, in channels-first order (``perm`` moves a channels-last
    input there; ``None``: it already is)."""

    shape: tuple  # the input, channels first
    kernel: tuple
    stride: tuple
    pad: tuple
    out: tuple  # the output, channels first
    perm: tuple | None

    @property
    def spatial(self) -> tuple:
        return self.shape[2:]


def pool_geometry(attrs: dict, shape: tuple) -> PoolGeometry:
    """The windows of Pooling(attrs) over an input of this shape, or MXNet's refusal."""
    shape = tuple(shape)
    nd = len(shape)
    if nd not in (3, 4, 5):
        raise ShapeError(f"Pooling: data must be 3D (batch, channel, x), 4D (batch, channel, "
                         f"y, x) or 5D (batch, channel, d, y, x), got shape {shape}")
    layout = attrs["layout"]
    perm = None
    if layout not in (None, "None"):
        if layout not in (_FIRST[nd], _LAST[nd]):
            raise ShapeError(f"Pooling: layout {layout!r} does not fit {nd}D data {shape} "
                             f"(use {_FIRST[nd]!r} or {_LAST[nd]!r})")
        if layout == _LAST[nd]:
            perm = (0, nd - 1) + tuple(range(1, nd - 1))
            shape = tuple(shape[p] for p in perm)
    n = nd - 2
    spatial = shape[2:]
    if attrs["global_pool"]:
        kernel, stride, pad = spatial, (1,) * n, (0,) * n
        return PoolGeometry(shape, kernel, stride, pad, shape[:2] + (1,) * n, perm)
    kernel = tuple(attrs["kernel"])
    if len(kernel) != n:
        raise ShapeError(f"Pooling: kernel {kernel} must have {n} entries for {nd}D data "
                         f"{tuple(shape)} (or set global_pool=True)")
    stride = tuple(attrs["stride"]) or (1,) * n
    pad = tuple(attrs["pad"]) or (0,) * n
    for name, v in (("stride", stride), ("pad", pad)):
        if len(v) != n:
            raise ShapeError(f"Pooling: {name} {v} must have {n} entries, as kernel {kernel}")
    if any(k <= 0 for k in kernel) or any(s <= 0 for s in stride) or any(p < 0 for p in pad):
        raise AttrError(f"Pooling: kernel and stride must be positive and pad non-negative, "
                        f"got kernel={kernel}, stride={stride}, pad={pad}")
    if attrs["pooling_convention"] == "same":
        # MXNet 1.9.1 accepts the name but its shape rule fails for every input
        raise AttrError("Pooling: pooling_convention='same' does not work in MXNet 1.9.1 "
                        "(its shape check fails for every input); use 'valid' or 'full'")
    out = []
    for h, k, s, p in zip(spatial, kernel, stride, pad):
        if k > h + 2 * p:
            raise ShapeError(f"Pooling: kernel size ({k}) exceeds input ({h} padded to "
                             f"{h + 2 * p}); data shape {tuple(shape)}")
        span = h + 2 * p - k
        out.append(1 + (span // s if attrs["pooling_convention"] == "valid" else -(-span // s)))
    return PoolGeometry(shape, kernel, stride, pad, shape[:2] + tuple(out), perm)


def _check_p(attrs):
    if attrs["pool_type"] == "lp" and attrs["p_value"] not in (1, 2, 3):
        raise AttrError(f"Pooling: pool_type='lp' needs p_value 1, 2 or 3, got "
                        f"{attrs['p_value']}")


def _back_perm(perm):
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    return tuple(inv)


def _pool_shape(attrs, shapes):
    _check_p(attrs)
    g = pool_geometry(attrs, shapes[0])
    return [g.out if g.perm is None else tuple(g.out[p] for p in _back_perm(g.perm))]


def _lowest(dtype) -> float:
    return float(np.finfo(dtype).min)


# --- numpy reference -------------------------------------------------------------------

def _windows(g: PoolGeometry, x: np.ndarray, fill: float):
    """(every window of x as trailing axes, the same for 'is an input position'), x
    channels first.  x is padded with fill on the left by pad and on the right as far as
    the last window reaches."""
    n = len(g.kernel)
    right = [max(0, (o - 1) * s - p + k - h)
             for o, s, p, k, h in zip(g.out[2:], g.stride, g.pad, g.kernel, g.spatial)]
    widths = [(0, 0), (0, 0)] + [(p, r) for p, r in zip(g.pad, right)]
    xp = np.pad(x, widths, constant_values=fill)
    inside = np.pad(np.ones(g.spatial, bool), widths[2:], constant_values=False)
    axes = tuple(range(2, 2 + n))
    win = np.lib.stride_tricks.sliding_window_view(xp, g.kernel, axis=axes)
    mask = np.lib.stride_tricks.sliding_window_view(inside, g.kernel)
    step = tuple(slice(0, o * s, s) for o, s in zip(g.out[2:], g.stride))
    return win[(slice(None), slice(None)) + step], mask[step]


def _divisor(g: PoolGeometry, include_pad: bool) -> np.ndarray:
    """Each output's average divisor: MXNet's window clipped to size + pad (padding
    counted) or to the input (not counted), as an array over the spatial output axes."""
    total = np.ones((), np.float64)
    for d, (o, s, p, k, h) in enumerate(zip(g.out[2:], g.stride, g.pad, g.kernel, g.spatial)):
        start = np.arange(o) * s - p
        if include_pad:
            size = np.minimum(start + k, h + p) - start
        else:
            size = np.minimum(start + k, h) - np.maximum(start, 0)
        total = np.multiply.outer(total, size)
    return total


def _root(v, p):
    return v if p == 1 else np.sqrt(v) if p == 2 else np.cbrt(v)


def _pooling(attrs, x):
    g = pool_geometry(attrs, x.shape)
    xc = x if g.perm is None else np.transpose(x, g.perm)
    kind = attrs["pool_type"]
    n = len(g.kernel)
    wax = tuple(range(-n, 0))
    if kind == "max":
        # MXNet keeps a running max from the dtype's lowest value, replaced by each larger
        # element: NaN is skipped, and a window of padding, -inf or NaN gives that value
        win, _ = _windows(g, np.where(np.isnan(xc), -np.inf, xc), -np.inf)
        out = win.max(axis=wax) if win.size else np.empty(g.out, x.dtype)
        out = np.where(out == -np.inf, _lowest(x.dtype), out)
    else:
        win, _ = _windows(g, xc, 0.0)
        p = attrs["p_value"] if kind == "lp" else 1
        out = (win ** p if p != 1 else win).sum(axis=wax)
        if kind == "avg":
            div = _divisor(g, attrs["count_include_pad"])
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(div > 0, out / div, 0.0)
        elif kind == "lp":
            out = _root(out, p)
    out = np.asarray(out, x.dtype)
    return out if g.perm is None else np.transpose(out, _back_perm(g.perm)).copy()


def _first_max_offsets(g: PoolGeometry, xc, out):
    """Each window's first position (raveled window offset) holding its output, or -1."""
    win, mask = _windows(g, xc, np.nan)
    n = len(g.kernel)
    flat = win.reshape(win.shape[:-n] + (-1,))
    hit = (flat == out[..., None]) & mask.reshape(mask.shape[:-n] + (-1,))
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def _pooling_backward(attrs, og, x, y):
    """The gradient of Pooling at data x (output y) for output gradient og."""
    g = pool_geometry(attrs, x.shape)
    tr = (lambda a: a) if g.perm is None else (lambda a: np.transpose(a, g.perm))
    ogc, xc, yc = tr(og), tr(x), tr(y)
    kind = attrs["pool_type"]
    right = [max(0, (o - 1) * s - p + k - h)
             for o, s, p, k, h in zip(g.out[2:], g.stride, g.pad, g.kernel, g.spatial)]
    padded = g.shape[:2] + tuple(h + p + r for h, p, r in zip(g.spatial, g.pad, right))
    gp = np.zeros(padded, np.float64)
    if kind == "max":
        first = _first_max_offsets(g, xc, yc)
    elif kind == "avg":
        div = _divisor(g, attrs["count_include_pad"])
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(div > 0, ogc / div, 0.0)
    elif kind == "lp":
        p = attrs["p_value"]
        win, _ = _windows(g, xc, 0.0)
    for k, r in enumerate(np.ndindex(*g.kernel)):
        at = (slice(None), slice(None)) + tuple(
            slice(ri, ri + o * s, s) for ri, o, s in zip(r, g.out[2:], g.stride))
        if kind == "max":
            gp[at] += np.where(first == k, ogc, 0.0)
        elif kind == "sum":
            gp[at] += ogc
        elif kind == "avg":
            gp[at] += share
        else:
            xr = win[(Ellipsis,) + r]
            with np.errstate(divide="ignore", invalid="ignore"):
                gp[at] += ogc if p == 1 else ogc * (xr / yc) ** (p - 1)
    inner = (slice(None), slice(None)) + tuple(slice(p, p + h) for p, h in zip(g.pad, g.spatial))
    dx = gp[inner].astype(x.dtype)
    return dx if g.perm is None else np.transpose(dx, _back_perm(g.perm)).copy()


# --- lowering ----------------------------------------------------------------------------

def _within(e: Expr, lo: int, hi: int) -> list:
    """The conditions lo <= e < hi that the index ranges do not already prove."""
    a, b = ibounds(e)
    conds = []
    if a < lo:
        conds.append(cmp("ge", e, iconst(lo)))
    if b >= hi:
        conds.append(cmp("lt", e, iconst(hi)))
    return conds


def _all(conds: list):
    out = None
    for c in conds:
        out = c if out is None else alu("and", out, c)
    return out


def _clamped(e: Expr, n: int) -> Expr:
    a, b = ibounds(e)
    return e if 0 <= a and b < n else Expr(Ops.PICKIDX, (e, n, "clip"), "int64")


def _channels_first(g: PoolGeometry, x: Lazy) -> Lazy:
    return x if g.perm is None else x.permute(g.perm)


def _back(g: PoolGeometry, y: Lazy) -> Lazy:
    return y if g.perm is None else y.permute(_back_perm(g.perm))


_rv_ids = itertools.count()


def _window_vars(kernel) -> tuple:
    uid = next(_rv_ids)
    return tuple(loop_var(k, f"w{uid}_{a}") for a, k in enumerate(kernel))


def _divisor_expr(g: PoolGeometry, o: tuple, include_pad: bool, dtype: str):
    total = None
    for oi, s, p, k, h in zip(o, g.stride, g.pad, g.kernel, g.spatial):
        start = cast(iadd(imul(oi, s), -p), dtype)
        end = alu("add", start, const(k, dtype))
        if include_pad:
            size = alu("sub", alu("min", end, const(h + p, dtype)), start)
        else:
            size = alu("sub", alu("min", end, const(h, dtype)),
                       alu("max", start, const(0, dtype)))
        total = size if total is None else alu("mul", total, size)
    return total


def _window_read(g: PoolGeometry, x: Lazy, i: tuple, rv: tuple):
    """(x at window offset rv of output i, 'that position is an input', or None: always)."""
    pos = [iadd(imul(o, s), r, -p) for o, s, p, r in zip(i[2:], g.stride, g.pad, rv)]
    conds = [c for e, h in zip(pos, g.spatial) for c in _within(e, 0, h)]
    v = x(tuple(i[:2]) + tuple(_clamped(e, h) for e, h in zip(pos, g.spatial)))
    return v, _all(conds)


def _lower_pooling(attrs, data):
    g = pool_geometry(attrs, data.shape)
    x = _channels_first(g, data)
    dt = x.dtype
    kind = attrs["pool_type"]
    if 0 in g.out or 0 in g.shape:
        return _back(g, Lazy.full(g.out, 0.0, dt))

    def fn(i):
        rv = _window_vars(g.kernel)
        v, ok = _window_read(g, x, i, rv)
        if kind == "max":  # NaN is skipped and padding never wins (see _pooling)
            number = Expr(Ops.NOT, (Expr(Ops.ISNAN, (v,), "bool"),), "bool")
            ok = number if ok is None else alu("and", ok, number)
            body = where(ok, v, const(-math.inf, dt))
            m = reduce_expr("max", body, rv)
            return where(cmp("eq", m, const(-math.inf, dt)), const(_lowest(dt), dt), m)
        p = attrs["p_value"] if kind == "lp" else 1
        term = v if p == 1 else alu("mul", v, v) if p == 2 else alu("mul", alu("mul", v, v), v)
        body = term if ok is None else where(ok, term, const(0.0, dt))
        total = reduce_expr("sum", body, rv)
        if kind == "avg":
            div = _divisor_expr(g, tuple(i[2:]), attrs["count_include_pad"], dt)
            return where(cmp("gt", div, const(0.0, dt)), alu("div", total, div), const(0.0, dt))
        if kind == "lp" and p == 2:
            return alu("sqrt", total)
        if kind == "lp" and p == 3:
            mag = alu("pow", alu("abs", total), const(1.0 / 3.0, dt))
            return where(cmp("lt", total, const(0.0, dt)), alu("neg", mag), mag)
        return total
    return _back(g, Lazy(g.out, dt, fn))


def _lower_pooling_backward(attrs, ograd, data, out):
    g = pool_geometry(attrs, data.shape)
    og, x, y = (_channels_first(g, t) for t in (ograd, data, out))
    dt = x.dtype
    kind = attrs["pool_type"]
    if 0 in g.out or 0 in g.shape:
        return _back(g, Lazy.full(g.shape, 0.0, dt))
    zero = const(0.0, dt)

    def first_offset(o):
        """The raveled window offset of output o's first position holding its maximum."""
        rv = _window_vars(g.kernel)
        v, ok = _window_read(g, x, o, rv)
        hit = cmp("eq", v, y(o))
        hit = hit if ok is None else alu("and", hit, ok)
        k = cast(ravel(rv, g.kernel), dt)
        return reduce_expr("min", where(hit, k, const(math.prod(g.kernel), dt)), rv)

    def fn(i):
        rv = _window_vars(g.kernel)
        conds, o, offsets, looped = [], [], [], []
        for xi, s, p, r, k, n_out in zip(i[2:], g.stride, g.pad, rv, g.kernel, g.out[2:]):
            if n_out == 1 or s >= k:
                # windows that do not overlap along this axis (global pooling among them):
                # x lies in window (x + p) // s at offset (x + p) % s, or in none
                pos = iadd(xi, p)
                q = iconst(0) if n_out == 1 else idiv(pos, s)
                off = iadd(pos, imul(q, -s))
                conds += _within(off, 0, k) + _within(q, 0, n_out)
                offsets.append(_clamped(off, k))
                o.append(_clamped(q, n_out))
                continue
            num = iadd(xi, p, imul(r, -1))  # o * s when x sits at offset r of window o
            q = idiv(num, s)
            if s > 1:
                rem = imod(num, s)
                if rem.op is not Ops.CONST:
                    conds.append(cmp("eq", rem, iconst(0)))
            conds += _within(num, 0, 1 << 62) + _within(q, 0, n_out)
            o.append(_clamped(q, n_out))
            offsets.append(r)
            looped.append(r)
        oi = tuple(i[:2]) + tuple(o)
        g_o = og(oi)
        if kind == "max":
            term = where(cmp("eq", first_offset(oi), cast(ravel(tuple(offsets), g.kernel), dt)),
                         g_o, zero)
        elif kind == "sum":
            term = g_o
        elif kind == "avg":
            div = _divisor_expr(g, tuple(o), attrs["count_include_pad"], dt)
            term = where(cmp("gt", div, zero), alu("div", g_o, div), zero)
        else:
            p = attrs["p_value"]
            ratio = alu("div", x(tuple(i)), y(oi))
            term = g_o if p == 1 else alu("mul", g_o, ratio if p == 2 else alu("mul", ratio, ratio))
        ok = _all(conds)
        body = term if ok is None else where(ok, term, zero)
        return reduce_expr("sum", body, tuple(looped)) if looped else body
    return _back(g, Lazy(g.shape, dt, fn))


def _grad_pooling(F, attrs, ins, outs, og):
    given = {k: v for k, v in attrs.items() if v is not None}
    return [F._internal._backward_Pooling(og[0], ins[0], outs[0], **given)]


POOL_ATTRS = {
    "kernel": Attr("shape", ()),
    "pool_type": Attr("str", "max", choices=("max", "avg", "sum", "lp")),
    "global_pool": Attr("bool", False),
    "cudnn_off": Attr("bool", False),
    "pooling_convention": Attr("str", "valid", choices=("valid", "full", "same")),
    "stride": Attr("shape", ()),
    "pad": Attr("shape", ()),
    "p_value": Attr("opt_int", None),
    # MXNet's None means True
    "count_include_pad": Attr("bool", True),
    # MXNet's None: channels first
    "layout": Attr("str", "None", choices=("None", "NCW", "NCHW", "NCDHW", "NWC", "NHWC",
                                         "NDHWC")),
}

register(Op("Pooling", ("data",), _pool_shape, _pooling, attrs=POOL_ATTRS,
            accepts={"data": FLOATS}, lower=_lower_pooling, grad=_grad_pooling,
            hint="pooling", traits=frozenset({"window"})))


def _backward_shape(attrs, shapes):
    og, x, y = (tuple(s) for s in shapes)
    want = _pool_shape(attrs, [x])[0]
    if og != want or y != want:
        raise ShapeError(f"_backward_Pooling: ograd {og} and out {y} must have the output "
                         f"shape {want} of data {x}")
    return [x]


# MXNet has no gradient of Pooling's gradient either
register(Op("_backward_Pooling", ("ograd", "data", "out"), _backward_shape,
            _pooling_backward, attrs=POOL_ATTRS, accepts={"ograd": FLOATS},
            same_dtype=("*",), lower=_lower_pooling_backward, hint="pooling_backward",
            traits=frozenset({"window"})))


# --- Pad ---------------------------------------------------------------------------------

def _pad_widths(attrs, shape) -> list:
    """((before, after) per axis) of Pad(attrs) on data of this shape, or MXNet's refusal."""
    shape = tuple(shape)
    pw = tuple(attrs["pad_width"])
    if len(shape) not in (4, 5):
        raise ShapeError(f"Pad: data must be 4-D or 5-D (MXNet pads the last 2 or 3 axes "
                         f"only), got shape {shape}")
    if len(pw) != 2 * len(shape):
        raise ShapeError(f"Pad: pad_width {pw} must have 2 entries per axis of data {shape} "
                         f"({2 * len(shape)})")
    if any(pw[:4]):
        raise ShapeError(f"Pad: padding on the first two axes must be zero, got pad_width {pw}")
    if any(p < 0 for p in pw):
        raise ShapeError(f"Pad: pad_width entries must be >= 0, got {pw}")
    widths = [(pw[2 * d], pw[2 * d + 1]) for d in range(len(shape))]
    if attrs["mode"] == "reflect":
        for d, (n, (a, b)) in enumerate(zip(shape, widths)):
            if d >= 2 and max(a, b) >= n:
                raise ShapeError(f"Pad: reflect padding must be smaller than the axis it pads: "
                                 f"axis {d} has size {n}, pad_width {pw}")
    return widths


def _pad_shape(attrs, shapes):
    widths = _pad_widths(attrs, shapes[0])
    return [tuple(n + a + b for n, (a, b) in zip(shapes[0], widths))]


def _pad(attrs, x):
    widths = _pad_widths(attrs, x.shape)
    if attrs["mode"] == "constant":
        return np.pad(x, widths, constant_values=np.asarray(attrs["constant_value"], x.dtype))
    return np.pad(x, widths, mode=attrs["mode"])


def _pad_axis(x: Lazy, axis: int, before: int, after: int, mode: str, value: float) -> Lazy:
    """x padded along one axis; the other axes read as they are."""
    n = x.shape[axis]
    shape = x.shape[:axis] + (n + before + after,) + x.shape[axis + 1:]
    fill = const(value, x.dtype)

    def at(i, k):
        return x(tuple(i[:axis]) + (k,) + tuple(i[axis + 1:]))

    def fn(i):
        j = iadd(i[axis], -before)
        inside = _within(j, 0, n)
        if not inside:
            return at(i, j)
        if mode == "constant":
            return where(_all(inside), at(i, _clamped(j, n)), fill)
        if mode == "edge":
            return at(i, _clamped(j, n))
        # reflect: mirrored about the first and the last element (not repeating them)
        v = at(i, _clamped(j, n))
        if after:
            v = where(cmp("ge", j, iconst(n)), at(i, _clamped(iadd(imul(j, -1), 2 * n - 2), n)), v)
        if before:
            v = where(cmp("lt", j, iconst(0)), at(i, _clamped(imul(j, -1), n)), v)
        return v
    return Lazy(shape, x.dtype, fn)


def _lower_pad(attrs, x):
    widths = _pad_widths(attrs, x.shape)
    for axis, (a, b) in enumerate(widths):
        if a or b:
            x = _pad_axis(x, axis, a, b, attrs["mode"], attrs["constant_value"])
    return x


def _place(F, part, axis: int, ndim: int, at: int, n: int):
    """part (one slab thick along axis) at position at of a zero axis of length n."""
    pw = [0] * (2 * ndim)
    pw[2 * axis], pw[2 * axis + 1] = at, n - at - part.shape[axis]
    return F.Pad(part, mode="constant", pad_width=tuple(pw), constant_value=0.0)


def _grad_pad(F, attrs, ins, outs, og):
    """Axis by axis from the last: the middle of the gradient, plus what each padded
    element copied (edge: the border element; reflect: its mirror image) added back."""
    x = ins[0]
    widths = _pad_widths(attrs, x.shape)
    nd_ = len(x.shape)
    g = og[0]
    for axis in range(nd_ - 1, 1, -1):
        a, b = widths[axis]
        if not (a or b):
            continue
        n = x.shape[axis]
        mid = F.slice_axis(g, axis=axis, begin=a, end=a + n)
        if attrs["mode"] == "edge":
            if a:
                mid = mid + _place(F, F.sum(F.slice_axis(g, axis=axis, begin=0, end=a),
                                            axis=axis, keepdims=True), axis, nd_, 0, n)
            if b:
                mid = mid + _place(F, F.sum(F.slice_axis(g, axis=axis, begin=a + n,
                                                         end=a + n + b),
                                            axis=axis, keepdims=True), axis, nd_, n - 1, n)
        elif attrs["mode"] == "reflect":
            lead = (None,) * axis
            if a:  # out[a - 1], ..., out[0] copied x[1], ..., x[a]
                left = F.slice(g, begin=lead + (a - 1,), end=lead + (None,),
                               step=lead + (-1,))
                mid = mid + _place(F, left, axis, nd_, 1, n)
            if b:  # out[a + n + b - 1], ..., out[a + n] copied x[n - 1 - b], ..., x[n - 2]
                right = F.slice(g, begin=lead + (a + n + b - 1,), end=lead + (a + n - 1,),
                                step=lead + (-1,))
                mid = mid + _place(F, right, axis, nd_, n - 1 - b, n)
        g = mid
    return [g]


register(Op("Pad", ("data",), _pad_shape, _pad,
            attrs={"mode": Attr("str", choices=("constant", "edge", "reflect")),
                   "pad_width": Attr("shape"), "constant_value": Attr("float", 0.0)},
            accepts={"data": FLOATS}, lower=_lower_pad, grad=_grad_pad, aliases=("pad",),
            hint="pad"))
