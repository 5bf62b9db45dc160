"""Eager autograd: gradients of every loss against MXNet 1.9.1 and central differences."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.examples import EXAMPLES, example
from tests.conftest import fixture_cases

nd = mg.nd
GRAD_CASES = [c for c in fixture_cases() if c["grad"]]


@pytest.mark.parametrize("hybridize", [False, True], ids=["eager", "hybrid"])
@pytest.mark.parametrize("case", GRAD_CASES, ids=[c["name"] for c in GRAD_CASES])
def test_gradients_match_mxnet(case, oracle, hybridize):
    block = getattr(mg.gluon.loss, case["cls"])(**case["kwargs"])
    if hybridize:
        block.hybridize()
    args = {n: None if n in case["none_inputs"] else nd.array(oracle[f"{case['name']}/in/{n}"])
            for n in case["inputs"]}
    for n in case["grad"]:
        args[n].attach_grad()
    with autograd.record():
        out = block(*args.values())
    out.backward()
    for n in case["grad"]:
        np.testing.assert_allclose(args[n].grad.asnumpy(), oracle[f"{case['name']}/grad/{n}"],
                                   rtol=1e-4, atol=1e-5)


def _numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_gradients_match_central_differences(name):
    block, arrays = example(name, 4, 5, seed=3, dtype="float64")
    if name == "CTCLoss":
        arrays[0] = arrays[0][:, :6]  # keep the enumeration small
    x = arrays[0].copy()

    def loss_sum(v):
        return float(block(nd.array(v, dtype="float64"),
                           *[nd.array(a, dtype="float64") for a in arrays[1:]]).asnumpy().sum())
    var = nd.array(x, dtype="float64")
    var.attach_grad()
    with autograd.record():
        out = block(var, *[nd.array(a, dtype="float64") for a in arrays[1:]])
    out.backward()
    np.testing.assert_allclose(var.grad.asnumpy(), _numeric_grad(loss_sum, x), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("kwargs", [{"axis": 1}, {"sparse_label": False}, {"from_logits": True}])
def test_softmax_ce_parameter_settings(kwargs):
    rng = np.random.default_rng(5)
    pred = rng.standard_normal((3, 4, 2))
    if kwargs.get("sparse_label") is False:
        label = rng.dirichlet(np.ones(2), (3, 4))
    else:
        label = rng.integers(0, 4 if kwargs.get("axis") == 1 else 2,
                             (3, 2) if kwargs.get("axis") == 1 else (3, 4)).astype(float)
    block = mg.gluon.loss.SoftmaxCELoss(**kwargs)

    def f(v):
        return float(block(nd.array(v, dtype="float64"),
                           nd.array(label, dtype="float64")).asnumpy().sum())
    var = nd.array(pred, dtype="float64")
    var.attach_grad()
    with autograd.record():
        block(var, nd.array(label, dtype="float64")).backward()
    np.testing.assert_allclose(var.grad.asnumpy(), _numeric_grad(f, pred.copy()), rtol=1e-5,
                               atol=1e-7)


def test_conventions_at_zero():
    x = nd.array([0.0, -1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = nd.relu(x) + nd.abs(x)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0.0, -1.0, 2.0])  # relu'(0) = abs'(0) = 0


def test_grad_req_add_and_autograd_grad():
    x = nd.array([1.0, 2.0])
    x.attach_grad(grad_req="add")
    for _ in range(2):
        with autograd.record():
            y = x * x
        y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [4.0, 8.0])
    with autograd.record():
        y = x * x * x
    (g,) = autograd.grad(y, [x])
    np.testing.assert_array_equal(g.asnumpy(), [3.0, 12.0])
    np.testing.assert_array_equal(x.grad.asnumpy(), [4.0, 8.0])  # untouched by grad()


def test_pause_stops_recording():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * 2
        with autograd.pause():
            assert not autograd.is_recording()
            z = y * 10
        assert autograd.is_recording()
    with pytest.raises(ValueError, match="attach_grad"):
        z.backward()


def test_backward_errors():
    x = nd.array([1.0, 2.0])
    with pytest.raises(ValueError, match="record"):
        (x * 2).backward()  # outside record(), no attach_grad
    x.attach_grad()
    with pytest.raises(ValueError, match="record"):
        (x * 2).backward()  # attach_grad but not recorded
    with autograd.record():
        y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()
    with autograd.record():
        y = x * x
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 4.0])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_hybridized_backward_is_one_compiled_gradient_graph(name):
    from minigluon import jit
    block, arrays = example(name, 6, 5, seed=1, dtype="float64")
    rest = [nd.array(a, dtype="float64") for a in arrays[1:]]
    eager = nd.array(arrays[0], dtype="float64")
    eager.attach_grad()
    with autograd.record():
        block(eager, *rest).backward()
    block.hybridize()
    x = nd.array(arrays[0], dtype="float64")
    x.attach_grad()
    jit.reset_stats()
    with autograd.record():
        out = block(x, *rest)
    out.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), eager.grad.asnumpy(), rtol=1e-10, atol=1e-12)
    st = jit.stats()
    assert st["compiled_calls"] + st["interpreted_calls"] == 2  # one forward, one backward
    assert st["interpreted_calls"] == 0


def _saved_arguments(graph):
    return {n.name: n.shapes[0] for n in graph.topo_nodes() if n.name.startswith("saved")}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_backward_recomputes_cheap_values_and_keeps_ctc_gradient(name):
    block, arrays = example(name, 8, 6, seed=2)
    block.hybridize()
    x = nd.array(arrays[0])
    x.attach_grad()
    graph = block.gradient_graph(x, *[nd.array(a, dtype=a.dtype) for a in arrays[1:]])
    saved = _saved_arguments(graph)
    ops = {n.op.name for n in graph.topo_nodes() if not n.is_variable}
    if name == "CTCLoss":
        # the dynamic programme is not run again: its (T, N, C) gradient output is kept
        n, t, c = arrays[0].shape
        assert saved == {"saved0": (t, n, c)} and "CTCLoss" not in ops
    elif name == "SDMLLoss":
        # the (N, N) distance matrix costs N*N*D to recompute and N*N to keep
        assert list(saved.values()) == [(8, 8)]
    else:  # fused elementwise chains and row reductions: recomputed from the inputs
        assert saved == {}


class _LogDot(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return F.log(F.dot(x, y) + 2.0)


def test_matrix_product_is_kept_not_recomputed_and_gradient_matches():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, (5, 64)), rng.uniform(0, 1, (64, 3))
    grads = []
    for hybridize in (False, True):
        block = _LogDot()
        if hybridize:
            block.hybridize()
        x, y = nd.array(a, dtype="float64"), nd.array(b, dtype="float64")
        x.attach_grad()
        y.attach_grad()
        with autograd.record():
            block(x, y).backward()
        grads.append((x.grad.asnumpy(), y.grad.asnumpy()))
    g = 1 / (a @ b + 2.0)
    for gx, gy in grads:
        np.testing.assert_allclose(gx, g @ b.T, rtol=1e-12)
        np.testing.assert_allclose(gy, a.T @ g, rtol=1e-12)
    assert _saved_arguments(block.gradient_graph(x, y)) == {"saved0": (5, 3)}


def test_grad_array_is_updated_in_place_across_backwards():
    block = mg.gluon.loss.L2Loss()
    block.hybridize()
    x = nd.array(np.ones((3, 2)))
    x.attach_grad()
    held = x.grad
    for scale in (1.0, 2.0):
        with autograd.record():
            out = block(x, nd.zeros((3, 2)) + scale)
        out.backward()
        assert x.grad is held  # the same NDArray, as in MXNet
        np.testing.assert_allclose(held.asnumpy(), (1.0 - scale) / 2 * np.ones((3, 2)))


SETTINGS = [
    ("L2Loss", {"weight": 0.3}), ("L1Loss", {"batch_axis": 1}),
    ("SigmoidBCELoss", {"from_sigmoid": True}), ("KLDivLoss", {"from_logits": True}),
    ("HuberLoss", {"rho": 0.3}), ("HingeLoss", {"margin": 0.5}),
    ("SquaredHingeLoss", {"margin": 2.0}), ("LogisticLoss", {"label_format": "binary"}),
    ("TripletLoss", {"margin": 0.1}), ("PoissonNLLLoss", {"from_logits": False}),
    ("CosineEmbeddingLoss", {"margin": 0.2}), ("SDMLLoss", {"smoothing_parameter": 0.1}),
]


@pytest.mark.parametrize("hybridize", [False, True], ids=["eager", "hybrid"])
@pytest.mark.parametrize("name,kwargs", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_other_parameter_settings_match_central_differences(name, kwargs, hybridize):
    _, make_inputs = EXAMPLES[name]
    arrays = make_inputs(np.random.default_rng(7), 4, 5)
    if kwargs.get("from_sigmoid"):
        arrays[0] = 1 / (1 + np.exp(-arrays[0]))  # probabilities, away from 0 and 1
    if name == "PoissonNLLLoss":
        arrays[0] = np.abs(arrays[0]) + 0.5  # a rate, not a log-rate
    if name == "LogisticLoss":
        arrays[1] = (arrays[1] > 0).astype(float)
    block = getattr(mg.gluon.loss, name)(**kwargs)
    if hybridize:
        block.hybridize()
    rest = [nd.array(a, dtype="float64") for a in arrays[1:]]

    def loss_sum(v):
        return float(block(nd.array(v, dtype="float64"), *rest).asnumpy().sum())
    var = nd.array(arrays[0], dtype="float64")
    var.attach_grad()
    with autograd.record():
        out = block(var, *rest)
    out.backward()
    np.testing.assert_allclose(var.grad.asnumpy(), _numeric_grad(loss_sum, arrays[0].copy()),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("hybridize", [False, True], ids=["eager", "hybrid"])
def test_ctc_layouts_and_lengths_match_central_differences(hybridize):
    rng = np.random.default_rng(2)
    pred = rng.standard_normal((5, 2, 4))  # TNC
    label = np.array([[1, 2], [0, -1]], float).T  # TN
    lengths = [nd.array([5, 4], dtype="float64"), nd.array([2, 1], dtype="float64")]
    block = mg.gluon.loss.CTCLoss(layout="TNC", label_layout="TN")
    if hybridize:
        block.hybridize()

    def loss_sum(v):
        return float(block(nd.array(v, dtype="float64"), nd.array(label, dtype="float64"),
                           *lengths).asnumpy().sum())
    var = nd.array(pred, dtype="float64")
    var.attach_grad()
    with autograd.record():
        out = block(var, nd.array(label, dtype="float64"), *lengths)
    out.backward()
    np.testing.assert_allclose(var.grad.asnumpy(), _numeric_grad(loss_sum, pred.copy()),
                               rtol=1e-5, atol=1e-7)


def test_second_derivatives_with_create_graph():
    a = np.array([0.3, -1.2, 2.0])
    x = nd.array(a, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = (nd.exp(x) * x ** 3).sum()
        dy = autograd.grad(y, [x], create_graph=True)[0]  # e^x (x^3 + 3x^2)
        z = (dy * dy).sum()
    z.backward()
    d1 = np.exp(a) * (a ** 3 + 3 * a ** 2)
    d2 = np.exp(a) * (a ** 3 + 6 * a ** 2 + 6 * a)
    np.testing.assert_allclose(dy.asnumpy(), d1, rtol=1e-12)
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * d1 * d2, rtol=1e-12)


def test_create_graph_through_a_hybridized_block_is_refused():
    block = mg.gluon.loss.L2Loss()
    block.hybridize()
    x = nd.array([[1.0, 2.0]])
    x.attach_grad()
    with autograd.record():
        y = block(x, nd.zeros((1, 2)))
    with pytest.raises(NotImplementedError, match="hybridized L2Loss.*without hybridize"):
        autograd.grad(y, [x], create_graph=True)


def test_gradient_graphs_differentiate_again_and_compile():
    from minigluon.compiler.pipeline import compile_graph
    sym = mg.sym
    a = np.array([0.3, -1.2, 2.0])
    x = sym.var("x", shape=(3,), dtype="float64")
    y = sym.sum(sym.exp(x) * x ** 3)
    dy, = autograd.symbolic_grad([y], [x], [sym.ones((1,), dtype="float64")])
    z = sym.sum(dy * dy)
    dz, = autograd.symbolic_grad([z], [x], [sym.ones((1,), dtype="float64")])
    exe = compile_graph(sym.Group([dy, dz]), ["x"])
    assert not exe.interpreted
    got_dy, got_dz = exe.run([a])
    d1 = np.exp(a) * (a ** 3 + 3 * a ** 2)
    d2 = np.exp(a) * (a ** 3 + 6 * a ** 2 + 6 * a)
    np.testing.assert_allclose(got_dy, d1, rtol=1e-12)
    np.testing.assert_allclose(got_dz, 2 * d1 * d2, rtol=1e-12)


class Scaled:
    """An op from outside the registry, y = factor * x: the tape takes any object with a
    name, full_attrs and grad, and reads what else it declares."""

    name = "scaled"

    def __init__(self, fresh: bool):
        self.grad_is_fresh = fresh
        self.returned = []

    def full_attrs(self, attrs):
        return attrs

    def grad(self, F, attrs, ins, outs, ograds):
        g = F.NDArray(ograds[0]._data * attrs["factor"])
        self.returned.append(g)
        return [g]


@pytest.mark.parametrize("fresh", [True, False])
def test_any_op_object_goes_on_the_tape_and_declares_fresh_gradients(fresh):
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    op = Scaled(fresh)
    with autograd.record():
        y = nd.NDArray(x._data * 3.0)
        autograd.record_op(op, {"factor": 3.0}, [x], [y])
    node = y._ag[0]
    assert node.op is op
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [3.0, 3.0])
    # a gradient declared fresh becomes .grad as it is; another is copied into .grad
    assert (x.grad._data is op.returned[0]._data) == fresh
    assert node.attrs is None  # what the op kept for its gradient went with the graph
