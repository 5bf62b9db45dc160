"""FullyConnected: MXNet 1.9.1's numbers and gradients (fixtures recorded by
tests/tools/make_nn_fixtures.py), its shape rule and refusals, fill_shapes, and its compiled
form (one BLAS call, the activation after it fused into a generated kernel)."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.base import MXNetError
from minigluon.compiler.pipeline import compile_graph
from minigluon.ops import get_op

nd, sym = mg.nd, mg.sym
FIXTURES = np.load(Path(__file__).parents[1] / "fixtures" / "nn" / "layers.npz")
FC_CASES = sorted({k.split("/")[0] for k in FIXTURES.files} - {"mlp"})


def _case(name):
    attrs = json.loads(str(FIXTURES[f"{name}/attrs"]))
    n = 2 if attrs.get("no_bias") else 3
    return attrs, [FIXTURES[f"{name}/in/{k}"] for k in range(n)]


def test_fixtures_cover_every_form():
    assert set(FC_CASES) == {"flatten", "last_axis", "no_bias", "float64", "vector"}


@pytest.mark.parametrize("name", FC_CASES)
def test_eager_output_and_gradients_match_mxnet(name):
    attrs, arrays = _case(name)
    xs = [nd.array(a, dtype=a.dtype) for a in arrays]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        y = nd.FullyConnected(*xs, **attrs)
    head = FIXTURES[f"{name}/head"]
    y.backward(nd.array(head, dtype=head.dtype))
    tol = 1e-12 if arrays[0].dtype == np.float64 else 1e-5
    assert y.dtype == arrays[0].dtype
    np.testing.assert_allclose(y.asnumpy(), FIXTURES[f"{name}/out"], rtol=tol, atol=tol)
    for k, x in enumerate(xs):
        np.testing.assert_allclose(x.grad.asnumpy(), FIXTURES[f"{name}/grad/{k}"], rtol=tol,
                                   atol=tol, err_msg=f"{name}: gradient of input {k}")


@pytest.mark.parametrize("name", FC_CASES)
def test_compiled_output_and_gradients_match_mxnet(name):
    attrs, arrays = _case(name)
    vs = [sym.var(f"x{k}", shape=a.shape, dtype=a.dtype) for k, a in enumerate(arrays)]
    y = sym.FullyConnected(*vs, **attrs)
    head = sym.var("head", shape=y.shape, dtype=arrays[0].dtype)
    grads = autograd.symbolic_grad([y], vs, [head])
    names = [f"x{k}" for k in range(len(arrays))] + ["head"]
    exe = compile_graph(sym.Group([y, *grads]), names)
    assert not exe.interpreted  # products are BLAS calls, the rest generated kernels
    got = exe.run(arrays + [FIXTURES[f"{name}/head"]])
    tol = 1e-12 if arrays[0].dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got[0], FIXTURES[f"{name}/out"], rtol=tol, atol=tol)
    for k, g in enumerate(got[1:]):
        np.testing.assert_allclose(g, FIXTURES[f"{name}/grad/{k}"], rtol=tol, atol=tol)


def test_matches_the_formula_on_random_float64():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((5, 6)), rng.standard_normal(5)
    flat = nd.FullyConnected(nd.array(x, dtype="float64"), nd.array(w, dtype="float64"),
                             nd.array(b, dtype="float64"), num_hidden=5)
    np.testing.assert_allclose(flat.asnumpy(), x.reshape(4, 6) @ w.T + b, rtol=1e-12)
    last = nd.FullyConnected(nd.array(x, dtype="float64"), nd.array(w[:, :3], dtype="float64"),
                             num_hidden=5, no_bias=True, flatten=False)
    assert last.shape == (4, 2, 5)
    np.testing.assert_allclose(last.asnumpy(), np.einsum("abk,hk->abh", x, w[:, :3]), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["int32", "float16"])
def test_other_dtypes_run_forward_as_mxnet_cpu(dtype):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    w = np.ones((2, 3), dtype)
    y = nd.FullyConnected(nd.array(x, dtype=dtype), nd.array(w, dtype=dtype),
                          nd.array(np.array([1, 2], dtype), dtype=dtype), num_hidden=2)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.asnumpy(), [[4, 5], [13, 14]])


def _fc(shapes, dtypes=None, **attrs):
    dtypes = dtypes or ["float32"] * len(shapes)
    return nd.FullyConnected(*[nd.zeros(s, dtype=d) for s, d in zip(shapes, dtypes)], **attrs)


@pytest.mark.parametrize("shapes,attrs,match", [
    ([(2, 3, 4), (5, 11), (5,)], {"num_hidden": 5},
     r"weight must have shape \(5, 12\).*in_units=12 from data \(2, 3, 4\).*got \(5, 11\)"),
    ([(2, 3, 4), (5, 12), (5,)], {"num_hidden": 6}, r"weight must have shape \(6, 12\)"),
    ([(2, 3, 4), (5, 12), (5,)], {"num_hidden": 5, "flatten": False},
     r"weight must have shape \(5, 4\).*last axis"),
    ([(2, 12), (5, 12), (4,)], {"num_hidden": 5}, r"bias must have shape \(5,\).*got \(4,\)"),
    ([(2, 12), (5, 12), (1, 5)], {"num_hidden": 5}, r"bias must have shape \(5,\).*got \(1, 5\)"),
    ([(2, 12), (5, 12)], {"num_hidden": 5}, r"expects 3 inputs .* got 2; pass no_bias=True"),
    ([(2, 12), (5, 12), (5,)], {"num_hidden": 5, "no_bias": True}, r"expects 2 inputs .* got 3"),
    ([(2, 12), (5, 12), (5,)], {"num_hidden": 0}, r"num_hidden must be at least 1, got 0"),
    ([(), (5, 1), (5,)], {"num_hidden": 5}, r"data must have at least one axis"),
])
def test_shape_errors_name_the_input_and_shapes(shapes, attrs, match):
    with pytest.raises(MXNetError, match=match):
        _fc(shapes, **attrs)
    vs = [sym.var(f"x{k}", shape=s) for k, s in enumerate(shapes)]
    with pytest.raises(MXNetError, match=match):  # refused when traced too, before any kernel
        sym.FullyConnected(*vs, **attrs)


def test_mixed_dtypes_and_missing_num_hidden_are_refused():
    with pytest.raises(MXNetError, match="data is float64, weight is float32"):
        _fc([(2, 3), (4, 3), (4,)], ["float64", "float32", "float64"], num_hidden=4)
    with pytest.raises(MXNetError, match="needs attribute 'num_hidden'"):
        _fc([(2, 3), (4, 3), (4,)])


def test_one_d_data_is_a_column_when_flattened_and_a_row_otherwise():
    """MXNet 1.9.1: data (4,) flattens to (4, 1) (weight (h, 1)); with flatten=False it is
    one row of 4 inputs and the output is (h,)."""
    assert _fc([(4,), (5, 1), (5,)], num_hidden=5).shape == (4, 5)
    assert _fc([(4,), (5, 4), (5,)], num_hidden=5, flatten=False).shape == (5,)


@pytest.mark.parametrize("attrs,given,want", [
    ({"num_hidden": 5}, [(2, 3, 4), None, None], [(2, 3, 4), (5, 12), (5,)]),
    ({"num_hidden": 5, "flatten": False}, [(2, 3, 4), (5, 0), (0,)], [(2, 3, 4), (5, 4), (5,)]),
    ({"num_hidden": 5, "no_bias": True}, [(7, 3), None], [(7, 3), (5, 3)]),
    ({"num_hidden": 5}, [(0, 3, 4), None, None], [(0, 3, 4), (5, 12), (5,)]),  # batch unknown
    ({"num_hidden": 5}, [None, None, None], [None, None, (5,)]),  # nothing to go on
    ({"num_hidden": 5}, [(2, 0, 4), None, None], [(2, 0, 4), None, (5,)]),
    ({"num_hidden": 5}, [(2, 3), (5, 3), (5,)], [(2, 3), (5, 3), (5,)]),  # known stay
])
def test_fill_shapes_deduces_weight_and_bias_from_data(attrs, given, want):
    op = get_op("FullyConnected")
    full = op.full_attrs(op.parse_attrs(attrs))
    assert op.fill_shapes(full, list(given)) == want
    if None not in want and 0 not in want[0]:  # what it fills, the shape rule accepts
        op.infer(attrs, want, ["float32"] * len(want))


def test_compiled_dense_relu_is_a_blas_step_and_one_fused_kernel():
    x, w, b = (sym.var(n, shape=s) for n, s in [("x", (8, 16)), ("w", (4, 16)), ("b", (4,))])
    y = sym.Activation(sym.FullyConnected(x, w, b, num_hidden=4), act_type="relu")
    exe = compile_graph(y, ["x", "w", "b"])
    assert not exe.interpreted
    kinds = [(st.kind, st.op) for st in exe.schedule.steps]
    assert kinds == [("external", "FullyConnected"), ("kernel", "")], exe.schedule.format()
    assert "# BLAS" in exe.schedule.format()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(8, 16), (4, 16), (4,)]]
    got, = exe.run(arrays)
    np.testing.assert_allclose(got, np.maximum(arrays[0] @ arrays[1].T + arrays[2], 0),
                               rtol=1e-5, atol=1e-6)


def test_hybridized_dense_relu_runs_without_the_interpreter():
    class DenseRelu(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x, w, b):
            return F.relu(F.FullyConnected(x, w, b, num_hidden=4))

    rng = np.random.default_rng(1)
    xs = [nd.array(rng.standard_normal(s)) for s in [(6, 5), (4, 5), (4,)]]
    block = DenseRelu()
    for x in xs:
        x.attach_grad()
    with autograd.record():
        eager = block(*xs)
    eager.backward()
    want = [x.grad.asnumpy().copy() for x in xs]
    block.hybridize()
    jit.reset_stats()
    with autograd.record():
        y = block(*xs)
    y.backward()
    assert jit.stats()["interpreted_calls"] == 0
    np.testing.assert_allclose(y.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    for x, g in zip(xs, want):
        np.testing.assert_allclose(x.grad.asnumpy(), g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int32", "float16"])
def test_no_gradient_for_other_dtypes_as_mxnet_cpu(dtype):
    xs = [nd.ones(s, dtype=dtype) for s in [(2, 3), (4, 3), (4,)]]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        y = nd.FullyConnected(*xs, num_hidden=4)
    with pytest.raises(MXNetError, match=f"no gradient for {dtype} inputs"):
        y.backward()
