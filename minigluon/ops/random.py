"""Random operators (``_random_uniform``, ``_sample_normal``, ``_shuffle``, ...) and the one
process-wide generator they all draw from.

Every random op draws from the numpy ``Generator`` that :func:`seed` resets, in the order
the ops run.  Eagerly that is program order; a compiled graph runs random ops as host
(numpy) steps in trace order (trait ``random``), so a hybridized call draws the same
numbers as the same code run eagerly after the same seed.  The bit stream is numpy's
PCG64, not MXNet's: MXNet's own tests check distributions and reproducibility only.
"""
from __future__ import annotations

import threading

import numpy as np

from ..base import DEFAULT_DTYPE
from ..context import data_context
from .creation import checked_shape
from .registry import FLOATS, Attr, AttrError, Op, register

_LOCK = threading.Lock()
_GEN = np.random.Generator(np.random.PCG64())  # fresh OS entropy until seed() is called


def seed(seed_state: int) -> None:
    """Restart the generator: every later draw is a function of seed_state alone."""
    global _GEN
    with _LOCK:
        _GEN = np.random.Generator(np.random.PCG64(seed_state))


def generator() -> np.random.Generator:
    """The generator random kernels draw from (it changes when :func:`seed` runs)."""
    return _GEN


_TRAINING_PROBE = [lambda: False]  # autograd installs its is_training (a layer above)


def set_training_probe(probe) -> None:
    """Called by autograd at import: how Dropout asks, when it runs, whether autograd is
    in training mode (the ops layer cannot import autograd, which is built on it)."""
    _TRAINING_PROBE[0] = probe


def is_training() -> bool:
    return _TRAINING_PROBE[0]()


def _out_shape(attrs) -> tuple:
    # MXNet 1.x: an empty shape means one element, not a 0-d array
    return checked_shape(tuple(attrs["shape"]) or (1,))


def _float_dtype(attrs, dtypes):
    return [attrs["dtype"] or DEFAULT_DTYPE]


_COMMON = {"shape": Attr("shape", ()), "ctx": Attr("str", ""),
           "dtype": Attr("dtype", None, (None, *FLOATS))}


def _check_uniform(a):
    if not a["low"] <= a["high"]:
        raise AttrError(f"low must be less or equal to high in uniform distribution "
                        f"(low={a['low']:g}, high={a['high']:g})")


def _check_positive(*names):
    def check(a):
        for n in names:
            if not a[n] > 0:
                raise AttrError(f"{n} must be positive, got {a[n]:g}")
    return check


def _check_nonneg(*names):
    def check(a):
        for n in names:
            if not a[n] >= 0:
                raise AttrError(f"{n} must be non-negative, got {a[n]:g}")
    return check


def _no_inputs_grad(F, attrs, ins, outs, ograds):
    return []


def _zero_grads(F, attrs, ins, outs, ograds):
    # MXNet's sampling ops pass no gradient to their parameters (zeros, not an error)
    return [F.zeros_like(x) for x in ins]


# name -> (parameter attrs with defaults, check, draw(gen, attrs, shape) in float64)
_SCALAR_DISTRIBUTIONS = {
    "uniform": ({"low": 0.0, "high": 1.0}, _check_uniform,
                lambda g, a, s: a["low"] + (a["high"] - a["low"]) * g.random(s)),
    "normal": ({"loc": 0.0, "scale": 1.0}, _check_nonneg("scale"),
               lambda g, a, s: g.normal(a["loc"], a["scale"], s)),
    "exponential": ({"lam": 1.0}, _check_positive("lam"),
                    lambda g, a, s: g.exponential(1.0 / a["lam"], s)),
    "gamma": ({"alpha": 1.0, "beta": 1.0}, _check_positive("alpha", "beta"),
              lambda g, a, s: g.gamma(a["alpha"], a["beta"], s)),
    "poisson": ({"lam": 1.0}, _check_nonneg("lam"), lambda g, a, s: g.poisson(a["lam"], s)),
}


def _register_scalar(kind: str, params: dict, check, draw) -> None:
    def shape(attrs, shapes):
        check(attrs)
        return [_out_shape(attrs)]

    def compute(attrs):
        check(attrs)
        out = draw(generator(), attrs, _out_shape(attrs))
        return np.asarray(out).astype(attrs["dtype"] or DEFAULT_DTYPE)

    attrs = {k: Attr("float", v) for k, v in params.items()}
    register(Op(f"_random_{kind}", (), shape, compute, attrs={**attrs, **_COMMON},
                dtype=_float_dtype, grad=_no_inputs_grad, traits={"random"},
                aliases=(f"random_{kind}",)))

    def compute_like(attrs, data):
        check(attrs)
        return np.asarray(draw(generator(), attrs, data.shape)).astype(data.dtype)

    # data's shape and dtype; data itself is not read, so no gradient reaches it (zeros)
    register(Op(f"_random_{kind}_like", ("data",), lambda a, s: [tuple(s[0])], compute_like,
                attrs=attrs, accepts={"data": FLOATS}, grad=_zero_grads, traits={"random"},
                hint=f"{kind}_like"))


for _kind, (_params, _check, _draw) in _SCALAR_DISTRIBUTIONS.items():
    _register_scalar(_kind, _params, _check, _draw)


def _randint_shape(attrs, shapes):
    if not attrs["low"] < attrs["high"]:
        raise AttrError(f"low must be less than high in randint (low={attrs['low']}, "
                        f"high={attrs['high']})")
    return [_out_shape(attrs)]


def _randint(attrs):
    _randint_shape(attrs, [])
    dt = attrs["dtype"] or "int32"
    return generator().integers(attrs["low"], attrs["high"], _out_shape(attrs)).astype(dt)


register(Op("_random_randint", (), _randint_shape, _randint,
            attrs={"low": Attr("int"), "high": Attr("int"), "shape": Attr("shape", ()),
                   "ctx": Attr("str", ""), "dtype": Attr("dtype", None, (None, "int32", "int64"))},
            dtype=lambda a, d: [a["dtype"] or "int32"], grad=_no_inputs_grad,
            traits={"random"}, aliases=("random_randint",)))


# _sample_*: one distribution per element of the parameter arrays; each draws ``shape``
# values, so the output is params.shape + shape
def _sample_shape(attrs, shapes):
    for s in shapes[1:]:
        if tuple(s) != tuple(shapes[0]):
            raise AttrError(f"the parameter arrays must have the same shape, got "
                            f"{' and '.join(str(tuple(x)) for x in shapes)}")
    return [checked_shape(tuple(shapes[0]) + tuple(attrs["shape"]))]


def _register_sample(kind: str, inputs: tuple, draw) -> None:
    def compute(attrs, *params):
        extra = tuple(attrs["shape"])
        out_shape = params[0].shape + extra
        expanded = [np.asarray(p, np.float64).reshape(p.shape + (1,) * len(extra)) for p in params]
        out = draw(generator(), *[np.broadcast_to(p, out_shape) for p in expanded])
        return np.asarray(out).astype(attrs["dtype"] or DEFAULT_DTYPE)

    register(Op(f"_sample_{kind}", inputs, _sample_shape, compute,
                attrs={"shape": Attr("shape", ()), "dtype": Attr("dtype", None, (None, *FLOATS))},
                dtype=_float_dtype, accepts={n: FLOATS for n in inputs}, traits={"random"},
                grad=_zero_grads,
                aliases=(f"sample_{kind}",)))


_register_sample("uniform", ("low", "high"), lambda g, lo, hi: lo + (hi - lo) * g.random(lo.shape))
_register_sample("normal", ("mu", "sigma"), lambda g, mu, sigma: g.normal(mu, sigma))
_register_sample("exponential", ("lam",), lambda g, lam: g.exponential(1.0 / lam))
_register_sample("gamma", ("alpha", "beta"), lambda g, alpha, beta: g.gamma(alpha, beta))
_register_sample("poisson", ("lam",), lambda g, lam: g.poisson(lam))


def _multinomial_shapes(attrs, shapes):
    if attrs["get_prob"]:  # MXNet's second output would make the op's output count vary
        raise AttrError("get_prob=True is not supported by minigluon's multinomial")
    data = tuple(shapes[0])
    if not data or data[-1] < 1:
        raise AttrError(f"data must hold probabilities on its last axis, got shape {data}")
    return [checked_shape(data[:-1] + tuple(attrs["shape"]) or (1,))]


def _multinomial(attrs, data):
    shape = _multinomial_shapes(attrs, [data.shape])[0]
    k = data.shape[-1]
    rows = data.reshape(-1, k).astype(np.float64)
    draws = max(1, int(np.prod(attrs["shape"])))
    cdf = np.cumsum(rows, axis=1)
    u = generator().random((rows.shape[0], draws)) * cdf[:, -1:]
    # the first class whose cumulative probability exceeds u
    idx = np.minimum((cdf[:, None, :] <= u[:, :, None]).sum(axis=2), k - 1)
    return idx.reshape(shape).astype(attrs["dtype"])


register(Op("_sample_multinomial", ("data",), _multinomial_shapes, _multinomial,
            attrs={"shape": Attr("shape", ()), "get_prob": Attr("bool", False),
                   "dtype": Attr("dtype", "int32", ("int32", "int64", "float16", "float32",
                                                     "float64", "uint8"))},
            dtype=lambda a, d: [a["dtype"]], accepts={"data": FLOATS}, traits={"random"},
            grad=_zero_grads,
            aliases=("sample_multinomial",)))


def _shuffle(attrs, data):
    if data.ndim == 0 or data.shape[0] < 2:
        return data.copy()
    return data[generator().permutation(data.shape[0])]


# no gradient, as MXNet's _shuffle: backward through it raises
register(Op("_shuffle", ("data",), lambda a, s: [tuple(s[0])], _shuffle, traits={"random"},
            aliases=("shuffle",)))


# --- the user-facing functions (mg.nd.random, mg.sym.random), MXNet 1.9.1's signatures ------
def random_functions(invoke, is_tensor, finish) -> dict:
    """``uniform``, ``normal``, ... for a front end.  ``invoke(op, inputs, attrs)`` runs or
    traces an op; ``finish(result, ctx, out)`` places an eager result on ctx / into out."""
    # here, not at module level: frontend builds fluent methods from every registered op
    # when it is first imported, so it must not be imported while the ops register
    from .frontend import make_function
    from .registry import get_op

    def call(name: str, inputs: list, attrs: dict, ctx=None, out=None):
        data_context(ctx)  # a GPU is refused before anything is drawn
        op = get_op(name)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        return finish(invoke(op, inputs, op.parse_attrs(attrs), None), ctx, out)

    def distribution(kind: str, params: dict, shape, dtype, ctx, out):
        arrays = [is_tensor(v) for v in params.values()]
        if any(arrays):
            if not all(arrays):
                raise ValueError(f"{kind}: the parameters {list(params)} must be all arrays or "
                                 f"all numbers, got "
                                 f"{[type(v).__name__ for v in params.values()]}")
            return call(f"_sample_{kind}", list(params.values()),
                        {"shape": shape, "dtype": dtype}, ctx, out)
        return call(f"_random_{kind}", [], {**params, "shape": shape, "dtype": dtype}, ctx, out)

    def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
        """Draws in [low, high); array low/high give one distribution per element."""
        return distribution("uniform", {"low": low, "high": high}, shape, dtype, ctx, out)

    def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
        """Draws from N(loc, scale**2); array loc/scale give one distribution per element."""
        if is_tensor(loc) or is_tensor(scale):
            return distribution("normal", {"mu": loc, "sigma": scale}, shape, dtype, ctx, out)
        return distribution("normal", {"loc": loc, "scale": scale}, shape, dtype, ctx, out)

    def randn(*shape, **kwargs):
        """normal(loc, scale) of the shape given as positional integers."""
        return normal(kwargs.pop("loc", 0), kwargs.pop("scale", 1), shape or None, **kwargs)

    def poisson(lam=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
        return distribution("poisson", {"lam": lam}, shape, dtype, ctx, out)

    def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
        """Draws with mean scale (MXNet's op takes the rate lam = 1/scale)."""
        if is_tensor(scale):
            return distribution("exponential", {"lam": 1.0 / scale}, shape, dtype, ctx, out)
        if not scale > 0:
            raise ValueError(f"exponential: scale must be positive, got {scale}")
        return distribution("exponential", {"lam": 1.0 / scale}, shape, dtype, ctx, out)

    def gamma(alpha=1, beta=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
        """Draws from Gamma(shape alpha, scale beta)."""
        return distribution("gamma", {"alpha": alpha, "beta": beta}, shape, dtype, ctx, out)

    def randint(low, high, shape=None, dtype=None, ctx=None, out=None, **kwargs):
        """Integers in [low, high), int32 unless dtype says int64."""
        return call("_random_randint", [], {"low": low, "high": high, "shape": shape,
                                            "dtype": dtype}, ctx, out)

    def multinomial(data, shape=None, get_prob=False, out=None, dtype="int32", **kwargs):
        """Class indices drawn from the probabilities on data's last axis (shape per row)."""
        return call("_sample_multinomial", [data], {"shape": shape, "get_prob": get_prob,
                                                     "dtype": dtype}, None, out)

    def shuffle(data, **kwargs):
        """data with its first axis in a random order (a new array)."""
        return call("_shuffle", [data], {}, None, kwargs.get("out"))

    made = {f.__name__: f for f in (uniform, normal, randn, poisson, exponential, gamma,
                                    randint, multinomial, shuffle)}
    for kind in _SCALAR_DISTRIBUTIONS:  # uniform_like(data, low, high): MXNet's op functions
        made[f"{kind}_like"] = make_function(get_op(f"_random_{kind}_like"), invoke,
                                             is_tensor, f"{kind}_like")
    return made
