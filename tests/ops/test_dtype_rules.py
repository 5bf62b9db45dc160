"""MXNet 1.9.1's dtype rules: operators never promote.  Inputs that must share a dtype are
refused when they differ, the softmax family refuses integers, and a Python scalar takes the
array's dtype -- alike eager, compiled and interpreted.  Every rule and value below was
checked by running MXNet 1.9.1 (see each test)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError
from minigluon.ops import DTypeError
from tests.modes import MODES, Body

nd = mg.nd
L = mg.gluon.loss



def run(body, mode, monkeypatch, *arrays):
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = Body(body)
    block.hybridize(mode != "eager")
    return block(*arrays)


def arr(values, dtype):
    return nd.array(np.asarray(values), dtype=dtype)


def refused(body, mode, monkeypatch, *arrays) -> str:
    with pytest.raises(DTypeError) as info:
        run(body, mode, monkeypatch, *arrays)
    assert isinstance(info.value, MXNetError) and isinstance(info.value, TypeError)
    return str(info.value)


# --- binary operators ----------------------------------------------------------------------

BINARY = ["elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "_maximum", "_minimum",
          "_power", "_mod", "_equal", "_not_equal", "_greater", "_greater_equal", "_lesser",
          "_lesser_equal"]
BROADCAST = ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div", "broadcast_mod",
             "broadcast_power", "broadcast_maximum", "broadcast_minimum", "broadcast_equal",
             "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal",
             "broadcast_lesser", "broadcast_lesser_equal"]
# every pair MXNet 1.9.1 refused for every op above ("Incompatible attr ... expected float32,
# got float64"); the same ops ran on int32 with int32
MIXED = [("float32", "float64"), ("float32", "int32"), ("int32", "float32"), ("int32", "int64"),
         ("float32", "float16"), ("uint8", "int32")]


def _fn(F, name):
    return getattr(F, name, None) or getattr(F._internal, name)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lhs,rhs", MIXED)
@pytest.mark.parametrize("name", BINARY + BROADCAST)
def test_binary_ops_refuse_inputs_of_different_dtypes(name, lhs, rhs, mode, monkeypatch):
    msg = refused(lambda F, a, b: _fn(F, name)(a, b), mode, monkeypatch,
                  arr([1, 2], lhs), arr([3, 4], rhs))
    assert name in msg
    assert f"lhs is {lhs}, rhs is {rhs}" in msg and ".astype(" in msg


OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b, "**": lambda a, b: a ** b, "%": lambda a, b: a % b,
             ">": lambda a, b: a > b, "==": lambda a, b: a == b}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rhs_shape", [(2,), (3, 1)], ids=["same-shape", "broadcast"])
@pytest.mark.parametrize("op", list(OPERATORS))
def test_python_operators_refuse_float32_with_float64(op, rhs_shape, mode, monkeypatch):
    # MXNet 1.9.1: f32 <op> f64 and f32.reshape((2, 1)) <op> f64 both raise
    fn = OPERATORS[op]
    msg = refused(lambda F, a, b: fn(a, b), mode, monkeypatch,
                  arr([1, 2], "float32"), nd.ones(rhs_shape, dtype="float64"))
    assert "lhs is float32, rhs is float64" in msg
    assert "b: float64" in msg  # which argument it was


@pytest.mark.parametrize("mode", ["eager", "interpreted"])  # compiled kernels have no int math
def test_integer_pairs_still_run_and_compare_in_their_dtype(mode, monkeypatch):
    a, b = arr([1, 2, 3], "int32"), arr([3, 2, 1], "int32")
    out = run(lambda F, a, b: [a + b, a > b, F.broadcast_maximum(a, b)], mode, monkeypatch, a, b)
    # MXNet 1.9.1: int32 + int32 and int32 > int32 are int32 ([0, 0, 1] for >)
    assert [o.dtype for o in out] == [np.int32] * 3
    np.testing.assert_array_equal(out[0].asnumpy(), [4, 4, 4])
    np.testing.assert_array_equal(out[1].asnumpy(), [0, 0, 1])
    np.testing.assert_array_equal(out[2].asnumpy(), [3, 2, 3])


@pytest.mark.parametrize("mode", MODES)
def test_float64_pairs_stay_float64(mode, monkeypatch):
    a, b = arr([1.5, 2], "float64"), arr([[2.0], [4.0]], "float64")
    out = run(lambda F, a, b: F.broadcast_div(a, b), mode, monkeypatch, a, b)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), [[0.75, 1.0], [0.375, 0.5]])


# --- ops with some inputs free -----------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cond", ["float32", "int32", "float64", "uint8"])
def test_where_takes_any_condition_but_x_and_y_of_one_dtype(cond, mode, monkeypatch):
    # MXNet 1.9.1: where(c, f32, f32) runs for a float32/int32/float64/uint8 condition;
    # where(c, f32, f64) fails type inference
    c = arr([[1, 0], [0, 1]], cond)
    x, y = arr([[1, 2], [3, 4]], "float32"), arr([[5, 6], [7, 8]], "float32")
    out = run(lambda F, c, x, y: F.where(c, x, y), mode, monkeypatch, c, x, y)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.asnumpy(), [[1, 6], [7, 4]])
    msg = refused(lambda F, c, x, y: F.where(c, x, y), mode, monkeypatch, c, x, y.astype("float64"))
    assert "x is float32, y is float64" in msg


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("index", ["float32", "int32", "float64", "int64", "uint8"])
def test_pick_and_one_hot_take_indices_of_any_dtype(index, mode, monkeypatch):
    # MXNet 1.9.1: pick(f32, idx) gives float32 [1, 4] and one_hot(idx, 3) float32 for each
    data, idx = arr([[1, 2], [3, 4]], "float32"), arr([0, 1], index)
    picked, hot = run(lambda F, d, i: [F.pick(d, i), F.one_hot(i, 3)], mode, monkeypatch, data, idx)
    assert picked.dtype == np.float32 and hot.dtype == np.float32
    np.testing.assert_array_equal(picked.asnumpy(), [1, 4])
    np.testing.assert_array_equal(hot.asnumpy(), [[1, 0, 0], [0, 1, 0]])


# --- variadic ops and matrix products ----------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["Concat", "stack", "add_n"])
def test_variadic_ops_refuse_one_input_of_another_dtype(name, mode, monkeypatch):
    # MXNet 1.9.1: concat/stack/add_n(f32, f32, i32) fail at input 2 ("expected float32, got
    # int32"); each runs on three inputs of one dtype
    xs = [arr([[1, 2]], "float32"), arr([[3, 4]], "float32"), arr([[5, 6]], "int32")]
    msg = refused(lambda F, *v: _fn(F, name)(*v), mode, monkeypatch, *xs)
    assert "args[0] is float32, args[2] is int32" in msg
    out = run(lambda F, *v: _fn(F, name)(*v), mode, monkeypatch, *xs[:2], xs[2].astype("float32"))
    assert out.dtype == np.float32


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["dot", "batch_dot"])
def test_matrix_products_take_one_float_dtype(name, mode, monkeypatch):
    a = arr(np.arange(4).reshape(1, 2, 2), "float32")
    fn = (lambda F, x, y: F.dot(x[0], y[0])) if name == "dot" else \
        (lambda F, x, y: F.batch_dot(x, y))
    # MXNet 1.9.1: dot/batch_dot(f32, f64) "expected float32, got float64"; (int32, int32) and
    # (float16, float16) "dot only supports float32/float64 for CPU"; (f64, f64) is float64
    assert "lhs is float32, rhs is float64" in refused(fn, mode, monkeypatch, a, a.astype("float64"))
    for dt in ("int32", "int64", "float16"):
        msg = refused(fn, mode, monkeypatch, a.astype(dt), a.astype(dt))
        assert f"lhs is {dt}" in msg and "float32/float64" in msg
    out = run(fn, mode, monkeypatch, a.astype("float64"), a.astype("float64"))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy().reshape(2, 2), [[2, 3], [6, 11]])


# --- floating point only -----------------------------------------------------------------

FLOAT_ONLY = {
    "softmax": lambda F, x: F.softmax(x),
    "log_softmax": lambda F, x: F.log_softmax(x),
    "softmax(dtype=float32)": lambda F, x: F.softmax(x, dtype="float32"),
    "Activation(relu)": lambda F, x: F.Activation(x, act_type="relu"),
    "Activation(softrelu)": lambda F, x: F.Activation(x, act_type="softrelu"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "int8"])
@pytest.mark.parametrize("case", list(FLOAT_ONLY))
def test_softmax_family_refuses_integers(case, dtype, mode, monkeypatch):
    # MXNet 1.9.1: "This operation only support floating point types, not int32" for each,
    # even with dtype='float32'
    msg = refused(FLOAT_ONLY[case], mode, monkeypatch, arr([[1, 2, 3]], dtype))
    assert f"data is {dtype}" in msg and "floating-point" in msg and case.split("(")[0] in msg


@pytest.mark.parametrize("mode", ["eager", "interpreted"])
def test_unary_math_on_integers_keeps_the_dtype(mode, monkeypatch):
    # MXNet 1.9.1 (unlike Activation): relu, sigmoid, exp of int32 [[1, 2], [3, 4]] are int32
    # [[1, 2], [3, 4]], [[0, 0], [0, 0]] and [[2, 7], [20, 54]]
    out = run(lambda F, x: [F.relu(x), F.sigmoid(x), F.exp(x)], mode, monkeypatch,
              arr([[1, 2], [3, 4]], "int32"))
    assert [o.dtype for o in out] == [np.int32] * 3
    np.testing.assert_array_equal(out[0].asnumpy(), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(out[1].asnumpy(), [[0, 0], [0, 0]])
    np.testing.assert_array_equal(out[2].asnumpy(), [[2, 7], [20, 54]])


# --- scalars ---------------------------------------------------------------------------------

# x = int32 [1, 2, 3]: each result as MXNet 1.9.1 printed it (always int32: the scalar is
# converted to int32 first, so 2.5 acts as 2 and 0.5 as 0)
INT_SCALARS = [
    ("x * 2.5", lambda x: x * 2.5, [2, 4, 6]), ("2.5 * x", lambda x: 2.5 * x, [2, 4, 6]),
    ("x / 2", lambda x: x / 2, [0, 1, 1]), ("1 / x", lambda x: 1 / x, [1, 0, 0]),
    ("7 / x", lambda x: 7 / x, [7, 3, 2]), ("x + 0.5", lambda x: x + 0.5, [1, 2, 3]),
    ("x - 0.5", lambda x: x - 0.5, [1, 2, 3]), ("2.5 - x", lambda x: 2.5 - x, [1, 0, -1]),
    ("x ** 0.5", lambda x: x ** 0.5, [1, 1, 1]), ("2.5 ** x", lambda x: 2.5 ** x, [2, 4, 8]),
    ("x % 1.5", lambda x: x % 1.5, [0, 0, 0]), ("5.5 % x", lambda x: 5.5 % x, [0, 1, 2]),
    ("x > 1.5", lambda x: x > 1.5, [0, 1, 1]), ("x * -1.5", lambda x: x * -1.5, [-1, -2, -3]),
]


@pytest.mark.parametrize("mode", ["eager", "interpreted"])  # compiled kernels have no int math
@pytest.mark.parametrize("case", INT_SCALARS, ids=[c[0] for c in INT_SCALARS])
def test_a_scalar_takes_the_integer_arrays_dtype(case, mode, monkeypatch):
    _, fn, want = case
    out = run(lambda F, x: fn(x), mode, monkeypatch, arr([1, 2, 3], "int32"))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out.asnumpy(), want)


@pytest.mark.parametrize("mode", ["eager", "interpreted"])
def test_a_numpy_scalar_on_the_left_is_a_scalar_op_too(mode, monkeypatch):
    # MXNet 1.9.1: np.float64(2.5) * int32 [1, 2] is NDArray int32 [2, 4] (numpy defers to
    # NDArray's reflected operator), and np.float32(2.5) - it is int32 [1, 0]
    out = run(lambda F, x: [np.float64(2.5) * x, np.float32(2.5) - x, np.int64(3) * x], mode,
              monkeypatch, arr([1, 2], "int32"))
    assert all(isinstance(o, nd.NDArray) and o.dtype == np.int32 for o in out)
    assert [o.asnumpy().tolist() for o in out] == [[2, 4], [1, 0], [3, 6]]


@pytest.mark.parametrize("mode", MODES)
def test_a_float64_scalar_keeps_float32(mode, monkeypatch):
    # MXNet 1.9.1: float32 [3] * (1/3) is float32 [1.0]; float32 [1e8] + 0.1 is [1e8]
    out = run(lambda F, x: [x * (1 / 3), x + 0.1, np.float64(0.5) * x], mode, monkeypatch,
              arr([3.0, 1e8], "float32"))
    assert [o.dtype for o in out] == [np.float32] * 3
    np.testing.assert_array_equal(out[0].asnumpy(), np.float32([3.0, 1e8]) * np.float32(1 / 3))
    np.testing.assert_array_equal(out[1].asnumpy(), np.float32([3.0, 1e8]) + np.float32(0.1))
    np.testing.assert_array_equal(out[2].asnumpy(), [1.5, 5e7])


# --- symbols, autograd ---------------------------------------------------------------------

def test_a_symbol_of_mixed_dtypes_is_refused_when_created_or_inferred():
    a = mg.sym.var("a", shape=(2,), dtype="float32")
    b = mg.sym.var("b", shape=(2,), dtype="float64")
    with pytest.raises(DTypeError, match="lhs is float32, rhs is float64"):
        mg.sym.broadcast_add(a, b)
    # MXNet 1.9.1: (a + b).infer_type(a='float32', b='float64') raises "Incompatible attr"
    s = mg.sym.var("a") + mg.sym.var("b")
    with pytest.raises(DTypeError, match="lhs is float32, rhs is float64"):
        s.infer_type(a="float32", b="float64")
    assert s.infer_type(a="float64", b="float64")[1] == ["float64"]
    # MXNet 1.9.1: an undeclared variable takes the dtype its use requires:
    # (a + b).infer_type(a='float64') is ([float64, float64], [float64], [])
    assert s.infer_type(a="float64") == (["float64", "float64"], ["float64"], [])
    assert s.infer_type(b="float64") == (["float64", "float64"], ["float64"], [])
    y = mg.sym.var("y", shape=(3,), dtype="float64")
    assert mg.sym.broadcast_mul(mg.sym.var("x"), y).infer_shape(x=(2, 3))[1] == [(2, 3)]


@pytest.mark.parametrize("mode", MODES)
def test_norm_with_out_dtype_differentiates_in_the_inputs_dtype(mode, monkeypatch):
    # MXNet 1.9.1 computes norm(out_dtype='float64') but its backward fails ("data type do not
    # match"); here the gradient x / |x| is in x's dtype
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = Body(lambda F, x: F.norm(x, axis=1, out_dtype="float64"))
    block.hybridize(mode != "eager")
    x = arr([[3, 4], [0, 0]], "float32")
    x.attach_grad()
    with mg.autograd.record():
        y = block(x)
    y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.asnumpy(), [[0.6, 0.8], [0, 0]], rtol=1e-6)


# --- losses ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_softmax_ce_loss_refuses_integer_logits(mode, monkeypatch):
    # MXNet 1.9.1 refuses int32 logits (log_softmax: "only support floating point types");
    # the same five equal logits as float32 give log(5)
    label = arr([0], "float32")
    msg = refused(lambda F, p, lab: L.SoftmaxCELoss()(p, lab), mode, monkeypatch,
                  arr([[0, 0, 0, 0, 0]], "int32"), label)
    assert "SoftmaxCrossEntropyLoss" in msg and "log_softmax" in msg and "int32" in msg
    out = run(lambda F, p, lab: L.SoftmaxCELoss()(p, lab), mode, monkeypatch,
              arr([[0, 0, 0, 0, 0]], "float32"), label)
    np.testing.assert_allclose(out.asnumpy(), [math.log(5)], rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("label", ["int32", "float64", "uint8"])
def test_softmax_ce_loss_takes_sparse_labels_of_any_dtype(label, mode, monkeypatch):
    # MXNet 1.9.1: float32 pred with int32/float64/uint8 sparse labels gives the float32 loss
    # of float32 labels (pick takes any index dtype)
    pred = np.log(np.float32([[1, 2, 5], [4, 4, 2]]))
    out = run(lambda F, p, lab: L.SoftmaxCELoss()(p, lab), mode, monkeypatch,
              arr(pred, "float32"), arr([2, 0], label))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.asnumpy(), [-math.log(5 / 8), -math.log(4 / 10)], rtol=1e-6)


# loss, constructor arguments, how to call it with (pred, label); MXNet 1.9.1 refused each
# with a label of another dtype than pred (float32 pred with an int32, float64 or uint8
# label, and float64 pred with a float32 label)
LABELLED = {
    "L2Loss": (L.L2Loss, {}), "L1Loss": (L.L1Loss, {}),
    "SigmoidBinaryCrossEntropyLoss": (L.SigmoidBCELoss, {}),
    "SoftmaxCrossEntropyLoss": (L.SoftmaxCELoss, {"sparse_label": False}),
    "KLDivLoss": (L.KLDivLoss, {}), "HuberLoss": (L.HuberLoss, {}),
    "HingeLoss": (L.HingeLoss, {}), "SquaredHingeLoss": (L.SquaredHingeLoss, {}),
    "LogisticLoss": (L.LogisticLoss, {}), "PoissonNLLLoss": (L.PoissonNLLLoss, {}),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pred,label", [("float32", "float64"), ("float32", "int32"),
                                        ("float32", "uint8"), ("float64", "float32")])
@pytest.mark.parametrize("name", list(LABELLED))
def test_losses_refuse_a_label_of_another_dtype(name, pred, label, mode, monkeypatch):
    cls, kwargs = LABELLED[name]
    p, lab = arr(np.full((2, 3), 0.5), pred), arr(np.ones((2, 3)), label)
    msg = refused(lambda F, p, lab: cls(**kwargs)(p, lab), mode, monkeypatch, p, lab)
    assert name in msg and pred in msg and label in msg
    out = run(lambda F, p, lab: cls(**kwargs)(p, lab), mode, monkeypatch, p, lab.astype(pred))
    assert out.dtype == np.dtype(pred)


@pytest.mark.parametrize("mode", MODES)
def test_triplet_and_cosine_losses_refuse_mixed_inputs(mode, monkeypatch):
    # MXNet 1.9.1: TripletLoss(f32, f64, f64) and CosineEmbeddingLoss(f32, f32, int32 label)
    # are refused
    x = arr(np.ones((2, 3)), "float32")
    msg = refused(lambda F, a, b, c: L.TripletLoss()(a, b, c), mode, monkeypatch,
                  x, x.astype("float64"), x.astype("float64"))
    assert "TripletLoss" in msg and "float64" in msg
    msg = refused(lambda F, a, b, c: L.CosineEmbeddingLoss()(a, b, c), mode, monkeypatch,
                  x, x, arr([1, -1], "int32"))
    assert "CosineEmbeddingLoss" in msg and "int32" in msg
