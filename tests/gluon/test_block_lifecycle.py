"""A hybridized block's cache lifecycle: what export() writes is the graph of the last call
(inspecting other shapes does not change it), replacing a child or a grandchild traces
again, and errors rebuilt with a location keep the original one as their cause."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon.gluon import HybridBlock, SymbolBlock
from minigluon.gluon.loss import SDMLLoss

nd = mg.nd


def _pairs(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [nd.array(rng.standard_normal((batch, 3)).astype("float32")) for _ in range(2)]


def _eye_shapes(sym_file: str) -> list:
    nodes = json.load(open(sym_file, encoding="utf-8"))["nodes"]
    return [n["attrs"] for n in nodes if n["op"] == "_eye"]


@pytest.mark.parametrize("inspect", ["cached_graph", "explain", "gradient_graph"])
def test_inspecting_another_shape_does_not_change_what_export_writes(tmp_path, inspect):
    loss = SDMLLoss()
    loss.hybridize()
    x1, x2 = _pairs(4)
    want = loss(x1, x2).asnumpy()
    y1, y2 = _pairs(7, seed=1)
    if inspect == "gradient_graph":
        y1.attach_grad()
    getattr(loss, inspect)(y1, y2)
    sym_file, params_file = loss.export(str(tmp_path / "sdml"))
    assert [a["N"] for a in _eye_shapes(sym_file)] == ["4"]
    back = SymbolBlock.imports(sym_file, ["data0", "data1"], params_file)
    np.testing.assert_allclose(back(x1, x2).asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_export_writes_the_last_call_even_when_its_graph_was_cached_before(tmp_path):
    loss = SDMLLoss()
    loss.hybridize()
    loss(*_pairs(4))
    loss(*_pairs(7))
    loss(*_pairs(4))  # served from the cache (the hot path): still the last call
    assert [a["N"] for a in _eye_shapes(loss.export(str(tmp_path / "a"))[0])] == ["4"]
    with mg.autograd.record():  # a recorded call is a call too
        x1, x2 = _pairs(7)
        x1.attach_grad()
        loss(x1, x2)
    assert [a["N"] for a in _eye_shapes(loss.export(str(tmp_path / "b"))[0])] == ["7"]


class Scale(HybridBlock):
    def __init__(self, k: float):
        super().__init__()
        self.k = k

    def hybrid_forward(self, F, x):
        return x * self.k


class Wrap(HybridBlock):
    """A child that calls its own child: the parent's graph inlines both."""

    def __init__(self, inner: HybridBlock):
        super().__init__()
        self.inner = inner

    def hybrid_forward(self, F, x):
        return self.inner(x) + 1


class Parent(HybridBlock):
    def __init__(self, child: HybridBlock):
        super().__init__()
        self.child = child

    def hybrid_forward(self, F, x):
        return self.child(x) * 2


def _check_against_eager(net, x):
    got = net(x).asnumpy()
    net.hybridize(False)
    want = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_allclose(got, want)
    return got


def test_replacing_a_child_traces_the_parent_again():
    net = Parent(Scale(2.0))
    net.hybridize()
    x = nd.array(np.arange(4, dtype="float32"))
    np.testing.assert_allclose(net(x).asnumpy(), x.asnumpy() * 4)
    net.child = Scale(3.0)
    net.child.hybridize()
    np.testing.assert_allclose(_check_against_eager(net, x), x.asnumpy() * 6)


def test_replacing_a_grandchild_traces_the_grandparent_again():
    net = Parent(Wrap(Scale(2.0)))
    net.hybridize()
    x = nd.array(np.arange(4, dtype="float32"))
    np.testing.assert_allclose(net(x).asnumpy(), (x.asnumpy() * 2 + 1) * 2)
    net.child.inner = Scale(5.0)
    np.testing.assert_allclose(net(x).asnumpy(), (x.asnumpy() * 5 + 1) * 2)
    _check_against_eager(net, x)
    # and once more, now that the parent's cache holds the new grandchild
    net.child.inner = Scale(-1.0)
    np.testing.assert_allclose(net(x).asnumpy(), (-x.asnumpy() + 1) * 2)


def test_a_grandchild_parameter_attribute_change_traces_again():
    inner = Scale(2.0)
    net = Parent(Wrap(inner))
    net.hybridize()
    x = nd.array(np.ones(3, dtype="float32"))
    net(x)
    inner.k = 10.0  # a plain attribute deeper down: the existing guards see it
    np.testing.assert_allclose(net(x).asnumpy(), (x.asnumpy() * 10 + 1) * 2)


class Fails(HybridBlock):
    def hybrid_forward(self, F, x):
        return F.reshape(x, shape=(5, 7))


def test_a_located_error_keeps_the_original_as_its_cause():
    block = Fails()
    with pytest.raises(mg.base.MXNetError) as info:
        block(nd.array(np.ones(3, dtype="float32")))
    assert "Fails.hybrid_forward at" in str(info.value)
    cause = info.value.__cause__
    assert cause is not None and type(cause) is type(info.value)
    assert cause.__traceback__ is not None


class NeedsTwo(ValueError):
    def __init__(self, what, why):
        super().__init__(f"{what}: {why}")


class RaisesNeedsTwo(HybridBlock):
    def hybrid_forward(self, F, x):
        raise NeedsTwo("x", "odd")


def test_an_error_type_that_takes_other_arguments_propagates_as_it_is():
    with pytest.raises(NeedsTwo, match="x: odd"):
        RaisesNeedsTwo()(nd.array(np.ones(2, dtype="float32")))


def test_a_symbol_block_node_error_keeps_the_original_as_its_cause():
    x = mg.sym.var("data")
    block = SymbolBlock(mg.sym.reshape(x, shape=(5, 7)), [x])
    with pytest.raises(mg.base.MXNetError, match="node .* \\(Reshape\\)") as info:
        block(nd.array(np.ones(3, dtype="float32")))
    assert info.value.__cause__ is not None and info.value.__cause__.__traceback__ is not None
