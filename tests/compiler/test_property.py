"""Property tests: compiled kernels agree with the numpy interpreter on random graphs.

Each test builds a small graph of one fused pattern with random shapes, axes and values,
compiles it, and compares with the interpreter running the registry's reference kernels.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigluon as mg
from minigluon.compiler.pipeline import compile_graph
from minigluon.symbol.interpreter import Plan

sym = mg.sym
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

UNARY = {
    "exp": lambda x: sym.exp(x * 0.5), "log": lambda x: sym.log(sym.abs(x) + 0.1),
    "tanh": sym.tanh, "sigmoid": sym.sigmoid, "abs": sym.abs, "square": sym.square,
    "sqrt": lambda x: sym.sqrt(sym.abs(x)), "relu": sym.relu, "neg": lambda x: -x,
    "softrelu": lambda x: sym.Activation(x, act_type="softrelu"), "sign": sym.sign,
    "log1p": lambda x: sym.log1p(sym.abs(x)), "softsign": sym.softsign,
    "clip": lambda x: sym.clip(x, -0.5, 0.7), "floor": sym.floor, "recip": lambda x: 1 / (x + 5),
    "gt": lambda x: x > 0.2, "scalar_chain": lambda x: (2 - x) * 3 + 1,
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (sym.abs(b) + 1), "max": sym.broadcast_maximum,
    "min": sym.broadcast_minimum, "lt": lambda a, b: a < b, "eq": lambda a, b: a == b,
}


def check(graph, arrays, rtol=2e-5, atol=1e-6):
    names = [f"x{i}" for i in range(len(arrays))]
    exe = compile_graph(graph, names)
    got = exe.run(arrays)
    want = Plan(graph).run(dict(zip(names, arrays)))
    assert not exe.interpreted
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        if g.dtype.kind in "biu":  # integers and bools: exact
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


@st.composite
def shapes(draw, min_dims=1, max_dims=4):
    return tuple(draw(st.lists(st.integers(1, 7), min_size=min_dims, max_size=max_dims)))


@st.composite
def broadcast_pair(draw):
    a = draw(shapes())
    b = [d if draw(st.booleans()) else 1 for d in a]
    drop = draw(st.integers(0, len(b) - 1))
    return a, tuple(b[drop:])


def values(shape, seed, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.choice([0.1, 1, 10])
    if x.size > 2 and seed % 3 == 0:
        x.flat[seed % x.size] = 0.0  # exact zeros meet sign, relu, comparisons
    return x.astype(dtype)


@SETTINGS
@given(broadcast_pair(), st.sampled_from(sorted(UNARY)), st.sampled_from(sorted(BINARY)),
       st.sampled_from(["float32", "float64"]), st.integers(0, 10**6))
def test_elementwise_chains_with_broadcasting(pair, u, b, dtype, seed):
    sa, sb = pair
    x0, x1 = sym.var("x0", shape=sa, dtype=dtype), sym.var("x1", shape=sb, dtype=dtype)
    graph = UNARY[u](BINARY[b](x0, x1)) + x1
    check(graph, [values(sa, seed, dtype), values(sb, seed + 1, dtype)],
          rtol=1e-5 if dtype == "float32" else 1e-12)


@SETTINGS
@given(shapes(), st.sampled_from(["sum", "mean", "max", "min", "norm", "prod"]), st.data(),
       st.integers(0, 10**6))
def test_reductions_over_random_axes(shape, op, data, seed):
    nd_ = len(shape)
    axes = data.draw(st.lists(st.integers(-nd_, nd_ - 1), unique_by=lambda a: a % nd_,
                              max_size=nd_))
    axis = None if not axes else tuple(axes) if len(axes) > 1 else axes[0]
    keepdims = data.draw(st.booleans())
    x = sym.var("x0", shape=shape)
    body = sym.tanh(x) * 2 if op == "prod" else x * x - x
    if op == "norm":
        graph = sym.norm(body, axis=axis, keepdims=keepdims)
    else:
        exclude = data.draw(st.booleans()) if axis is not None else False
        graph = getattr(sym, op)(body, axis=axis, keepdims=keepdims, exclude=exclude)
    check(graph, [values(shape, seed)], rtol=1e-4)


@SETTINGS
@given(shapes(min_dims=2, max_dims=3), st.data(), st.sampled_from(["clip", "wrap"]),
       st.integers(0, 10**6))
def test_log_softmax_pick_mean(shape, data, mode, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    x = sym.var("x0", shape=shape)
    rest = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    lab = sym.var("x1", shape=rest)
    lsm = sym.log_softmax(x * 3, axis=axis)
    picked = sym.pick(lsm, lab, axis=axis, keepdims=keep, mode=mode)
    graph = sym.Group([sym.mean(-picked, axis=0, exclude=True), sym.softmax(x, axis=axis)])
    rng = np.random.default_rng(seed)
    labels = rng.integers(-2, shape[axis % len(shape)] + 2, rest).astype(np.float32)
    check(graph, [values(shape, seed), labels], rtol=1e-5)


@SETTINGS
@given(shapes(min_dims=2, max_dims=4), st.sampled_from(["transpose", "swap", "reshape",
                                                       "expand", "slice", "flatten"]),
       st.integers(0, 10**6))
def test_views_inside_fused_kernels(shape, view, seed):
    x = sym.var("x0", shape=shape)
    y = sym.exp(x * 0.1)
    if view == "transpose":
        y = sym.transpose(y)
    elif view == "swap":
        y = sym.swapaxes(y, 0, len(shape) - 1)
    elif view == "reshape":
        y = sym.reshape(y, shape=(-1,))
    elif view == "expand":
        y = sym.expand_dims(y, axis=1)
    elif view == "flatten":
        y = sym.flatten(y)
    else:
        y = sym.slice(y, begin=(1,) + (None,) * (len(shape) - 1),
                      end=(None,) * len(shape), step=(1,) + (2,) * (len(shape) - 1)) \
            if shape[0] > 1 else y
    graph = sym.Group([sym.sum(y * y, axis=-1), y + 1])
    check(graph, [values(shape, seed)], rtol=1e-5)


@SETTINGS
@given(shapes(min_dims=1, max_dims=3), st.booleans(), st.integers(0, 10**6))
def test_where_and_rowwise_conditions(shape, rowwise, seed):
    x0, x1 = sym.var("x0", shape=shape), sym.var("x1", shape=shape)
    cshape = (shape[0],) if rowwise else shape
    c = sym.var("x2", shape=cshape)
    graph = sym.where(c, x0 * 2, sym.abs(x1))
    cond = (np.random.default_rng(seed).random(cshape) > 0.5).astype(np.float32)
    check(graph, [values(shape, seed), values(shape, seed + 1), cond])


INT_BINARY = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "max": sym.broadcast_maximum, "min": sym.broadcast_minimum,
}


def int_values(shape, seed, dtype):
    """Values over the whole range (uint8 >= 128 included), half of them from a few edge
    values so that equal pairs are common."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    info = np.iinfo(dtype)
    wide = rng.integers(info.min, info.max, shape, endpoint=True)
    edges = rng.choice([info.min, info.max, 0, 1, 127, info.max // 2 + 1], shape)
    return np.where(rng.random(shape) > 0.5, wide, edges).astype(dtype)


@settings(SETTINGS, max_examples=20)
@given(broadcast_pair(), st.sampled_from(sorted(INT_BINARY)),
       st.sampled_from(["uint8", "int8", "bool"]), st.integers(0, 10**6))
def test_integer_and_bool_graphs(pair, b, dtype, seed):
    """Comparisons, max/min, where, casts and reductions over unsigned, signed and bool
    inputs: compiled and interpreted agree exactly."""
    sa, sb = pair
    x0, x1 = sym.var("x0", shape=sa, dtype=dtype), sym.var("x1", shape=sb, dtype=dtype)
    y = INT_BINARY[b](x0, x1)  # x0's shape and dtype
    picked = sym.where(y, x0, sym.broadcast_minimum(x0, x1))
    graph = sym.Group([sym.cast(picked, dtype="float32"), sym.max(picked, axis=-1),
                       sym.sum(y, axis=0)])
    check(graph, [int_values(sa, seed, dtype), int_values(sb, seed + 1, dtype)])
