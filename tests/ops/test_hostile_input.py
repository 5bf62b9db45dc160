"""Inputs no loss expects, answered by clear errors or by the numbers numpy and MXNet 1.9.1
give, the same eager, compiled and on the interpreter: 0-d arrays, zero-size batches,
graph files with absurd _arange attributes, and the backward pass of x / 0."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.base import MXNetError
from minigluon.cli.main import main as cli
from minigluon.examples import EXAMPLES
from minigluon.gluon import HybridBlock
from minigluon.symbol import graph_json

nd = mg.nd
MODES = ["eager", "compiled", "interpreted"]


def call(block, mode, monkeypatch, *inputs, head=None):
    """(output, gradient of the first input) of block in one mode."""
    if mode != "eager":
        monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
        block.hybridize()
    inputs[0].attach_grad()
    jit.reset_stats()
    with autograd.record():
        out = block(*inputs)
    out.backward(head)
    if mode == "compiled":
        assert jit.stats()["interpreted_calls"] == 0
    return out.asnumpy(), inputs[0].grad.asnumpy()


def same(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)
    assert a.shape == b.shape and a.dtype == b.dtype


class Fn(HybridBlock):
    def __init__(self, name: str):
        super().__init__()
        self.op_name = name

    def hybrid_forward(self, F, x):
        return OPS[self.op_name](F, x)


# ------------------------------------------------------------------------------ 0-d inputs
# MXNet 1.x has no 0-d arrays (every op refuses one), but minigluon can hold them (nd.zeros(()),
# a V3 .params record): ops that accept them give the same numbers in every mode
OPS = {
    "scale": lambda F, x: x * 2, "exp": lambda F, x: F.exp(x), "log": lambda F, x: F.log(x),
    "sqrt": lambda F, x: F.sqrt(x), "square": lambda F, x: F.square(x),
    "relu": lambda F, x: F.relu(x), "sigmoid": lambda F, x: F.sigmoid(x),
    "clip": lambda F, x: F.clip(x, 0, 0.25), "where": lambda F, x: F.where(x > 0, x, -x),
    "max": lambda F, x: F.max(x),
    "norm": lambda F, x: F.norm(x), "Cast": lambda F, x: F.Cast(x, dtype="float64"),
    "tile": lambda F, x: F.tile(x, reps=(3,)), "stack": lambda F, x: F.stack(x, x * 3),
    "one_hot": lambda F, x: F.one_hot(x, depth=3), "zeros_like": lambda F, x: F.zeros_like(x),
    "broadcast_mul": lambda F, x: F.broadcast_mul(x, x),
    "broadcast_to": lambda F, x: F.broadcast_to(x, shape=()) * x,
    "dot": lambda F, x: F.dot(x, x),
}


@pytest.mark.parametrize("name", list(OPS))
def test_0d_input_same_in_every_mode(name, monkeypatch):
    results = []
    for mode in MODES:
        try:
            results.append(call(Fn(name), mode, monkeypatch, nd.full((), 0.5)))
        except MXNetError as e:  # a clear refusal (never a bare IndexError), in every mode
            results.append(type(e))
    if name == "dot":
        assert results == [mg.base.ShapeError] * 3
        return
    for out, grad in results[1:]:
        same(out, results[0][0])
        same(grad, results[0][1])
    assert results[0][1].shape == ()


def test_0d_values():
    out, grad = call(Fn("norm"), "eager", None, nd.full((), -0.5))
    assert out.tolist() == [0.5] and grad.tolist() == -1.0


@pytest.mark.parametrize("loss", list(EXAMPLES))
def test_0d_inputs_into_every_loss(loss, monkeypatch):
    """A clear error naming the loss in every mode, or (PoissonNLLLoss, which only averages)
    the same numbers."""
    make, inputs = EXAMPLES[loss]
    values = [float(a.reshape(-1)[0]) for a in inputs(np.random.default_rng(0), 2, 4)]
    results = []
    for mode in MODES:
        try:
            results.append(call(make(), mode, monkeypatch, *[nd.full((), v) for v in values]))
        except (MXNetError, ValueError, TypeError) as e:
            assert type(make()).__name__ in str(e)
            results.append(type(e))
    if isinstance(results[0], type):
        assert results == results[:1] * 3
        return
    for out, grad in results[1:]:
        same(out, results[0][0])
        same(grad, results[0][1])


# ------------------------------------------------------------------- zero-size batches
# MXNet 1.9.1 (with np-shape semantics, which zero-size arrays need) runs these losses,
# forward and backward, on a batch of 0, eagerly.  SDMLLoss refuses batches below 2 here.
EMPTY_OK = [name for name in EXAMPLES if name != "SDMLLoss"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss", EMPTY_OK)
def test_zero_size_batch_forward_and_backward(loss, mode, monkeypatch):
    make, inputs = EXAMPLES[loss]
    arrays = [nd.array(a[:0]) for a in inputs(np.random.default_rng(0), 2, 4)]
    out, grad = call(make(), mode, monkeypatch, *arrays)
    assert grad.shape == arrays[0].shape
    if loss == "PoissonNLLLoss":  # the mean of nothing, as MXNet's [nan]
        assert out.shape == (1,) and np.isnan(out).all()
    else:
        assert out.shape[0] == 0


def test_reductions_over_an_empty_axis_compile(monkeypatch):
    """A kernel reading an empty array inside a loop that never runs compiles (its loads
    are never executed) and gives numpy's sum and mean of nothing."""
    class Reduce(HybridBlock):
        def hybrid_forward(self, F, x):
            return F.concat(F.sum(x, axis=0), F.mean(x, axis=0), dim=0)
    results = [call(Reduce(), mode, monkeypatch, nd.zeros((0, 3))) for mode in MODES]
    for out, grad in results:
        np.testing.assert_array_equal(out, [0, 0, 0, np.nan, np.nan, np.nan])
        assert grad.shape == (0, 3)


# ------------------------------------------------------------------ graph files and arange
def arange_graph(**attrs) -> str:
    return json.dumps({
        "nodes": [{"op": "_arange", "name": "arange0",
                   "attrs": {k: str(v) for k, v in attrs.items()}, "inputs": []}],
        "arg_nodes": [], "node_row_ptr": [0, 1], "heads": [[0, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]}})


BAD_ARANGE = [
    (dict(start=0, stop="inf"), "stop must be a finite number, got inf"),
    (dict(start="-inf", stop=3), "start must be a finite number"),
    (dict(start="nan"), "stop must be a finite number, got nan"),  # arange(nan): 0 to nan
    (dict(start=0, stop=3, step="nan"), "step must be a finite number"),
    (dict(start=0, stop=3, step="5e-324"), "more than the 2147483648 elements"),
    (dict(start=-1e308, stop=1e308), "more than the 2147483648 elements"),
    (dict(start=0, stop=3, repeat=10 ** 30), "more than 2147483648"),
    (dict(start=0, stop=3, repeat=-2), "repeat must be positive"),
    (dict(start=3, stop=0), "is empty"),  # MXNet 1.9.1: "Invalid range"
]


@pytest.mark.parametrize("attrs, msg", BAD_ARANGE)
def test_arange_attributes_from_a_graph_file(attrs, msg, tmp_path, capsys):
    with pytest.raises(MXNetError, match=f"node 0 \\('arange0'\\).*{msg}"):
        graph_json.load_json(arange_graph(**attrs))
    path = tmp_path / "bad-symbol.json"
    path.write_text(arange_graph(**attrs))
    assert cli(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minigluon run: ") and msg in err


def test_arange_refuses_an_empty_range_as_mxnet():
    for args in [(0,), (3, 3), (0, 3, -1)]:
        with pytest.raises(mg.base.ShapeError, match="is empty"):
            nd.arange(*args)
    np.testing.assert_array_equal(nd.arange(1, -2, -0.5).asnumpy(), [1, 0.5, 0, -0.5, -1, -1.5])


def test_cli_reports_a_bug_on_one_line_too(tmp_path, capsys, monkeypatch):
    path = tmp_path / "ok-symbol.json"
    path.write_text(arange_graph(start=0, stop=3))

    def broken(*args, **kwargs):
        raise IndexError("tuple index out of range")
    monkeypatch.setattr(mg.gluon.SymbolBlock, "imports", broken)
    assert cli(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == ("minigluon run: internal error (IndexError: tuple index out of range); "
                   "rerun with --traceback to see where\n")
    with pytest.raises(IndexError):
        cli(["run", str(path), "--traceback"])


# ------------------------------------------------------------------------ backward of x / 0
class Divide(HybridBlock):
    def __init__(self, scalar: float):
        super().__init__()
        self.scalar = scalar

    def hybrid_forward(self, F, x):
        return x / self.scalar


@pytest.mark.parametrize("mode", MODES)
def test_backward_of_division_by_zero(mode, monkeypatch):
    # MXNet 1.9.1: x = [1, 0, -2], head [1, 0, -1]: x / 0 = [inf, nan, -inf] and its
    # gradient [inf, nan, -inf]; x / -0.0 the opposite infinities
    head = nd.array([1.0, 0.0, -1.0])
    for scalar, want in [(0.0, [np.inf, np.nan, -np.inf]), (-0.0, [-np.inf, np.nan, np.inf])]:
        out, grad = call(Divide(scalar), mode, monkeypatch, nd.array([1.0, 0.0, -2.0]), head=head)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(grad, want)


@pytest.mark.parametrize("mode", MODES)
def test_division_gradient_rounds_as_mxnet(mode, monkeypatch):
    """MXNet's gradient of x / s is head / s (not head * (1 / s), which rounds
    differently for about a third of these heads)."""
    rng = np.random.RandomState(0)
    head = rng.randn(1000).astype(np.float32)
    _, grad = call(Divide(3.0), mode, monkeypatch, nd.array(rng.randn(1000)), head=nd.array(head))
    np.testing.assert_array_equal(grad, head / np.float32(3))
