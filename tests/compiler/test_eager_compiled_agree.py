"""Eager (F=nd), hybridized-compiled and hybridized-interpreted (``MINIGLUON_JIT=0``) give
the same numbers, and those are MXNet 1.9.1's: mod, expm1 near overflow, labels far out of
range, log_softmax of huge logits, prod and norm with inf, argmax of a vector.  Then a
regression net: every elementwise op on inf, nan, +-0, 1e38 and denormals, and the
reductions on random rows of them, compiled against the numpy interpreter.

Every MXNet value hard-coded below was printed by running MXNet 1.9.1 (``nd`` on CPU).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigluon as mg
from minigluon import jit
from minigluon.compiler.pipeline import compile_graph
from minigluon.symbol.interpreter import Plan
from tests.modes import MODES, Body

nd, sym = mg.nd, mg.sym
INF, NAN = np.inf, np.nan



def run(body, mode, monkeypatch, *arrays) -> np.ndarray:
    """body(F, *arrays) eagerly, compiled (all of it) or interpreted."""
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = Body(body)
    block.hybridize(mode != "eager")
    jit.reset_stats()
    out = block(*[nd.array(a, dtype=np.asarray(a).dtype.name) for a in arrays])
    if mode == "compiled":
        assert jit.stats()["interpreted_calls"] == 0
    return out.asnumpy()


def same(got: np.ndarray, want) -> None:
    """Bit for bit: shape, dtype, NaN, values and the sign of zeros."""
    want = np.asarray(want, dtype=got.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))


# ------------------------------------------------------------------------------------- mod

A = np.array([1e8, -7, 7, -7, 5, -5, 5, 0, -0.0, INF, -INF, NAN, 5, 1e-45, 3.5, -3.5, 1e30,
              -1e-30, 1e-30, 16777217], np.float32)
B = np.array([3, 3, -3, -3, INF, INF, -INF, 3, 3, 3, 3, 3, NAN, 3, 0, 0, 7, 3, -3, 3], np.float32)
# MXNet 1.9.1: nd.broadcast_mod(A, B) (sign of each zero checked too)
A_MOD_B = [1, 2, -2, -1, 5, INF, -INF, 0, -0.0, NAN, NAN, NAN, NAN, 1e-45, 0, 0, 1, 3, -3, 1]
A_MOD_3 = [1, 2, 1, 2, 2, 1, 2, 0, -0.0, NAN, NAN, NAN, 2, 1e-45, 0.5, 2.5, 0, 3, 1e-30, 1]
THREE_MOD_A = [3, -4, 3, -4, 3, -2, 3, 0, 0, 3, -INF, NAN, 3, 0, 3, -0.5, 3, -8.1836976e-31,
               1.8163024e-31, 3]
A_MOD_MINUS_3 = [-2, -1, -2, -1, -1, -2, -1, 0, 0, NAN, NAN, NAN, -1, -3, -2.5, -0.5, 0, -1e-30,
                 -3, -2]
A_MOD_INF = [1e8, INF, 7, INF, 5, INF, 5, 0, -0.0, NAN, NAN, NAN, 5, 1e-45, 3.5, INF, 1e30, INF,
             1e-30, 16777216]


@pytest.mark.parametrize("mode", MODES)
def test_mod_is_mxnets_bit_for_bit(mode, monkeypatch):
    """MXNet: fmod, plus the divisor where the signs differ (1e8 % 3 == 1 in float32, 5 % inf
    == 5, -0 % 3 == -0, x % 0 == 0); compiled code used x - floor(x/y)*y (-2 and NaN)."""
    same(run(lambda F, a, b: F.broadcast_mod(a, b), mode, monkeypatch, A, B), A_MOD_B)
    same(run(lambda F, a, b: a % b, mode, monkeypatch, A, B), A_MOD_B)
    same(run(lambda F, a: a % 3, mode, monkeypatch, A), A_MOD_3)
    same(run(lambda F, a: 3 % a, mode, monkeypatch, A), THREE_MOD_A)
    same(run(lambda F, a: a % -3, mode, monkeypatch, A), A_MOD_MINUS_3)
    same(run(lambda F, a: a % 0, mode, monkeypatch, A), np.zeros(A.shape))
    same(run(lambda F, a: a % float("inf"), mode, monkeypatch, A), A_MOD_INF)


@pytest.mark.parametrize("mode", MODES)
def test_mod_of_float64_and_integers(mode, monkeypatch):
    a = np.array([1e300, -7, -0.0, 1e8], np.float64)
    same(run(lambda F, x: x % 3, mode, monkeypatch, a), [0, 2, -0.0, 1])  # MXNet 1.9.1
    if mode != "compiled":  # kernels do not mod integers
        i, j = np.array([-7, 7, 0, -6, 5], np.int32), np.array([3, -3, 0, 3, 0], np.int32)
        got = run(lambda F, x, y: F.broadcast_mod(x, y), mode, monkeypatch, i, j)
        same(got, np.array([2, -2, 0, 0, 0], np.int32))  # MXNet 1.9.1


# ----------------------------------------------------------------------------------- expm1

@pytest.mark.parametrize("mode", MODES)
def test_expm1_overflows_only_where_the_true_value_does(mode, monkeypatch):
    """float32 expm1 is finite up to 88.7228 (MXNet too); the compiled (e^x - 1) x / log e^x
    overflowed its product from x = 84."""
    x = np.array([80, 85, 88, 88.7, 88.72, 88.7228, 88.73, 89, -20, 1e-30, -0.0, -INF, INF, NAN],
                 np.float32)
    mxnet = np.array([5.540622484676759e+34, 8.223012393018281e+36, 1.6516362661361307e+38,
                      3.325976864406685e+38, 3.3931806003874245e+38, 3.4026946730843054e+38,
                      INF, INF, -1.0, 1e-30, -0.0, -1, INF, NAN], np.float32)
    got = run(lambda F, v: F.expm1(v), mode, monkeypatch, x)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(mxnet))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(mxnet))
    finite = np.isfinite(mxnet)
    np.testing.assert_array_max_ulp(got[finite], mxnet[finite], maxulp=2)


# ------------------------------------------------------------------------------------ pick

DATA = np.arange(12, dtype=np.float32).reshape(3, 4)  # rows [0..3], [4..7], [8..11]
# (labels, dtype, MXNet 1.9.1's pick(DATA, labels, axis=1) in clip mode, in wrap mode): MXNet
# casts a label to int32, so 3e9, inf and 2^40 all pick index 0, and int64 2^32 + 1 picks 1
LABELS = [
    ([2147483647, 2147483649, 2147483648], "float64", [3, 4, 8], [3, 4, 8]),
    ([-2147483647, -2147483649, -2147483648], "float64", [0, 4, 8], [1, 4, 8]),
    ([1e10 + 1, 2 ** 40 + 1, -(2 ** 40) - 1], "float64", [0, 4, 8], [0, 4, 8]),
    ([INF, -INF, 3e9], "float32", [0, 4, 8], [0, 4, 8]),
    ([2.0 ** 63, -2.0 ** 63, 2.0 ** 64], "float32", [0, 4, 8], [0, 4, 8]),
    ([4294967297, 2147483649, -1], "int64", [1, 4, 8], [1, 5, 11]),
    ([5, -56, -1], "int8", [3, 4, 8], [1, 4, 11]),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("labels,dtype,clip,wrap", LABELS)
def test_pick_converts_labels_as_mxnet(labels, dtype, clip, wrap, mode, monkeypatch):
    lab = np.array(labels, dtype)
    for m, want in (("clip", clip), ("wrap", wrap)):
        got = run(lambda F, d, i: F.pick(d, i, axis=1, mode=m), mode, monkeypatch, DATA, lab)
        same(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_pick_gradient_lands_where_the_label_picked(mode, monkeypatch):
    """MXNet 1.9.1: labels 3e9, inf and -2^40 pick index 0, and so does their gradient; the
    gradient clipped the float label instead (to the last index)."""
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    for m in ("clip", "wrap"):
        block = Body(lambda F, d, i: F.pick(d, i, axis=1, mode=m))
        block.hybridize(mode != "eager")
        d = nd.array(DATA)
        d.attach_grad()
        with mg.autograd.record():
            y = block(d, nd.array([3e9, INF, -2.0 ** 40]))
        y.backward(nd.array([1, 2, 3]))
        same(y.asnumpy(), [0, 4, 8])
        same(d.grad.asnumpy(), [[1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]])


# ---------------------------------------------------------------------- log_softmax, 1e8

LOGITS = np.array([[1e8, 0, -1e8, 1e8 - 1024], [1e10, 1e10 - 2048, 0, 5],
                   [3e7, 3e7 + 2, 3e7 + 4, -3e7]], np.float32)
SCALE = np.full((1, 4), 1.1, np.float32)


def log_softmax_f32(x: np.ndarray) -> np.ndarray:
    """numpy, every step rounded to float32."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("mode", MODES)
def test_log_softmax_of_huge_scaled_logits_is_exact(mode, monkeypatch):
    """log_softmax(x * s): the row max is of the rounded products, so the top class is 0.
    Compiled with ``contract``, x * s - max fused into an FMA and the top class got 4.09
    (1e8) or inf (1e10)."""
    want = log_softmax_f32(LOGITS * SCALE)
    got = run(lambda F, x, s: F.log_softmax(F.broadcast_mul(x, s)), mode, monkeypatch, LOGITS, SCALE)
    same(got[:2], want[:2])  # integers apart: exact
    np.testing.assert_allclose(got[2], want[2], rtol=2e-6)
    soft = run(lambda F, x, s: F.softmax(F.broadcast_mul(x, s)), mode, monkeypatch, LOGITS, SCALE)
    same(soft[:2], np.exp(want[:2]))
    np.testing.assert_allclose(soft[2], np.exp(want[2]), rtol=2e-6, atol=1e-30)
    # MXNet 1.9.1's loss: [-1.430511474609375e-06, 2048.0, 0.020579708740115166] (its exp
    # and log are approximations: 1.4e-6 off at the top class; the 2048 apart is exact)
    loss = run(lambda F, x, s, y: mg.gluon.loss.SoftmaxCrossEntropyLoss()(F.broadcast_mul(x, s), y),
               mode, monkeypatch, LOGITS, SCALE, np.array([0, 1, 2], np.float32))
    same(loss[:2], [0, 2048])
    np.testing.assert_allclose(loss[2], -want[2, 2], rtol=2e-6)


# ---------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("mode", MODES)
def test_prod_multiplies_in_order(mode, monkeypatch):
    """MXNet 1.9.1 (and numpy) multiply left to right: 1e30 * 0 * 1e30 is 0, and 1e30 * 1e-30
    * 1e30 * 1e-30 is 1.  Reassociated for vectors, the compiled product was NaN."""
    x = np.ones((2, 1000), np.float32)
    x[0, [0, 1, 8, 16]] = [1e30, 0, 1e30, 1e30]
    x[1, [0, 1, 8, 9]] = [1e30, 1e-30, 1e30, 1e-30]
    same(run(lambda F, v: F.prod(v, axis=1), mode, monkeypatch, x), [0, 1])
    y = np.ones((3, 64), np.float32)
    y[0, :3], y[1, :3], y[2, :3] = [INF, 0, 2], [INF, -INF, 1], [1e30, 1e30, 0]
    same(run(lambda F, v: F.prod(v, axis=1), mode, monkeypatch, y), [NAN, -INF, NAN])  # MXNet


@pytest.mark.parametrize("mode", MODES)
def test_norm_with_inf_is_inf(mode, monkeypatch):
    """MXNet 1.9.1: norm([inf, 1, 2]) is inf (the eager kernel divided inf by inf: NaN),
    norm([nan, 1]) NaN, and float64 norm([1e200, 1e200]) 1.414213562373095e+200 (compiled
    squares overflowed)."""
    same(run(lambda F, v: F.norm(v), mode, monkeypatch, np.array([INF, 1, 2], np.float32)), [INF])
    same(run(lambda F, v: F.norm(v), mode, monkeypatch, np.array([NAN, 1], np.float32)), [NAN])
    same(run(lambda F, v: F.norm(v, axis=1), mode, monkeypatch,
             np.array([[INF, 1], [3, 4], [-INF, 0]], np.float32)), [INF, 5, INF])
    big = run(lambda F, v: F.norm(v), mode, monkeypatch, np.array([1e200, 1e200]))
    np.testing.assert_allclose(big, [1.414213562373095e+200], rtol=1e-15)


@pytest.mark.parametrize("mode", ["eager", "interpreted"])  # no compiled kernel: numpy's
@pytest.mark.parametrize("kwargs", [{}, {"axis": 0}, {"axis": -1}, {"axis": 0, "keepdims": True},
                                    {"keepdims": True}])
def test_argmax_of_a_vector_has_shape_1(kwargs, mode, monkeypatch):
    """MXNet 1.9.1 has no 0-d arrays: argmax/argmin of a 1-d array is shape (1,) with any
    axis and keepdims (eager gave a 0-d array for axis=0)."""
    x = np.array([1, 5, 3], np.float32)
    same(run(lambda F, v: F.argmax(v, **kwargs), mode, monkeypatch, x), [1])
    same(run(lambda F, v: F.argmin(v, **kwargs), mode, monkeypatch, x), [0])
    assert sym.argmax(sym.var("v", shape=(3,)), **kwargs).infer_shape()[1] == [(1,)]


@pytest.mark.parametrize("mode", MODES)
def test_signed_zeros_and_nan_as_mxnet(mode, monkeypatch):
    """MXNet 1.9.1: maximum/minimum give their second operand on ties, NaN wins; relu(-0)
    is 0, clip(-0, 0, 1) is -0, -0 + 0 is 0, sign(-0) and sign(NaN) are 0."""
    a = np.array([0, -0.0, NAN, 1], np.float32)
    b = np.array([-0.0, 0, 1, NAN], np.float32)
    same(run(lambda F, x, y: F.broadcast_maximum(x, y), mode, monkeypatch, a, b), [-0.0, 0, NAN, NAN])
    same(run(lambda F, x, y: F.broadcast_minimum(x, y), mode, monkeypatch, a, b), [-0.0, 0, NAN, NAN])
    z = np.array([-0.0, 0.0, NAN], np.float32)
    same(run(lambda F, x: F.relu(x), mode, monkeypatch, z), [0, 0, NAN])
    same(run(lambda F, x: F.clip(x, 0, 1), mode, monkeypatch, z), [-0.0, 0, NAN])
    same(run(lambda F, x: x + 0, mode, monkeypatch, z), [0, 0, NAN])
    same(run(lambda F, x: x - 0, mode, monkeypatch, z), [-0.0, 0, NAN])
    same(run(lambda F, x: F.sign(x), mode, monkeypatch, z), [0, 0, 0])


# ----------------------------------------------------------------------- regression net

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 3.0, -7.0, 1e8, 16777217.0, 1e38, -1e38,
           3.4e38, -3.4e38, INF, -INF, NAN, 1e-45, -1e-45, 1.2e-38, 88.8, -104.0, 710.0]
# rounded once, as numpy's: the same bits
EXACT_UNARY = ["abs", "negative", "square", "sqrt", "floor", "ceil", "trunc", "round", "relu",
               "sign", "reciprocal", "rsqrt", "softsign", "logical_not"]
# LLVM's or mathlib's approximations against numpy's: a few ulp apart, NaN and inf alike
APPROX_UNARY = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "sin", "cos", "log2", "log10"]
EXACT_BINARY = ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div",
                "broadcast_maximum", "broadcast_minimum", "broadcast_mod", "broadcast_equal",
                "broadcast_not_equal", "broadcast_greater", "broadcast_lesser_equal"]


def compiled_and_interpreted(outputs: list, arrays: list) -> list:
    names = [f"x{i}" for i in range(len(arrays))]
    graph = sym.Group(outputs)
    exe = compile_graph(graph, names)
    assert not exe.interpreted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return list(zip(exe.run(arrays), Plan(graph).run(dict(zip(names, arrays)))))


def close(got: np.ndarray, want: np.ndarray, what: str, rtol: float, atol: float = 0.0) -> None:
    """Same NaN and inf pattern (with signs); finite values within rtol and atol."""
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)],
                                  err_msg=what)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_elementwise_op_on_special_values(dtype):
    x = np.array(SPECIAL, dtype)
    a, b = (np.ravel(g) for g in np.meshgrid(x, x, indexing="ij"))  # every pair
    v = sym.var("x0", shape=x.shape, dtype=dtype)
    va, vb = sym.var("x1", shape=a.shape, dtype=dtype), sym.var("x2", shape=a.shape, dtype=dtype)
    exact = [getattr(sym, op)(v) for op in EXACT_UNARY]
    exact += [getattr(sym, op)(va, vb) for op in EXACT_BINARY]
    exact += [sym.clip(v, -1.5, 2.0), sym.Activation(v, act_type="relu"),
              sym.Activation(v, act_type="softsign")]
    for s in (3.0, -3.0, 0.0, INF):
        exact += [v % s, s % v, v + s, s - v, s / v]
    approx = [getattr(sym, op)(v) for op in APPROX_UNARY] + [va ** vb, v ** 0.5, 2.0 ** v]
    approx += [sym.Activation(v, act_type=t) for t in ("softrelu", "sigmoid", "tanh")]
    pairs = compiled_and_interpreted(exact + approx, [x, a, b])
    rtol = 3e-6 if dtype == "float32" else 1e-13
    for k, (got, want) in enumerate(pairs):
        what = f"output {k}: {(exact + approx)[k]!r}"
        if k < len(exact):
            assert got.dtype == want.dtype, what
            same(got, want)
        else:
            close(got, want, what, rtol)


@st.composite
def rows(draw):
    """A small matrix of normal values with special ones sprinkled in."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n, m = draw(st.sampled_from([(1, 1), (1, 33), (4, 9), (5, 40)]))  # few graphs to compile
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = (rng.standard_normal((n, m)) * 3).astype(dtype)
    specials = np.array([0.0, -0.0, INF, -INF, NAN, 1e-45, -1e-45, 1e38, -1e38], dtype)
    hit = rng.random((n, m)) < draw(st.sampled_from([0.0, 0.1, 0.5]))
    x[hit] = rng.choice(specials, int(hit.sum()))
    return x


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows())
def test_reductions_on_special_values(x):
    v = sym.var("x0", shape=x.shape, dtype=x.dtype.name)
    exact, approx = [], []
    for ax in (0, 1):
        exact += [sym.max(v, axis=ax), sym.min(v, axis=ax), sym.prod(v, axis=ax),
                  sym.nanprod(v, axis=ax)]
        approx += [sym.mean(v, axis=ax), sym.nansum(v, axis=ax), sym.norm(v, axis=ax),
                   sym.norm(v, ord=1, axis=ax), sym.log_softmax(v, axis=ax)]
    approx += [sym.sum(v), sym.norm(v), sym.softmax(v)]
    pairs = compiled_and_interpreted(exact + approx, [x])
    # sums are reassociated, so only as close as the magnitudes summed allow (1e38 - 1e38
    # + 3 is 0 or 3 by the order); NaN and inf must still match exactly
    eps = 2e-6 if x.dtype == np.float32 else 1e-14
    atol = eps * float(np.abs(x[np.isfinite(x)].astype(np.float64)).sum(initial=1.0))
    for k, (got, want) in enumerate(pairs):
        what = f"output {k}: {(exact + approx)[k]!r} of\n{x!r}"
        if k < len(exact):  # in order, as numpy's
            np.testing.assert_array_equal(got, want, err_msg=what)
        else:
            close(got, want, what, 10 * eps, atol)
