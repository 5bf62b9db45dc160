"""CachedOp on its own: a traced graph run as one op, recorded on the tape as one node with
its own gradient, the forward values it keeps released with the graph."""
import gc
import weakref

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.autograd import TapeNode
from minigluon.cached_op import CachedOp
from minigluon.symbol.interpreter import Plan

nd, sym = mg.nd, mg.sym
RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 32)).astype(np.float32)
W = RNG.standard_normal((32, 48)).astype(np.float32)


def sigmoid_of_dot() -> CachedOp:
    """sum(sigmoid(x . w), axis=1): its backward keeps the matrix product (an extra
    forward output), the case where a kept value is memory no output holds."""
    x = sym.var("x", shape=X.shape, dtype="float32")
    w = sym.var("w", shape=W.shape, dtype="float32")
    return CachedOp(sym.Group([sym.sum(sym.sigmoid(sym.dot(x, w)), axis=1)]), ["x", "w"], "Net")


def eager_sigmoid_of_dot(x, w):
    return nd.sum(nd.sigmoid(nd.dot(x, w)), axis=1)


def variables():
    x, w = nd.array(X), nd.array(W)
    x.attach_grad()
    w.attach_grad()
    return x, w


def test_forward_equals_the_interpreter_and_is_compiled():
    op = sigmoid_of_dot()
    jit.reset_stats()
    out, = op([nd.array(X), nd.array(W)])
    want, = Plan(op.graph).run({"x": X, "w": W})
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5)
    assert op.exe is not None and jit.stats()["compiled_calls"] == 1


def test_forward_runs_on_the_interpreter_without_the_jit(monkeypatch):
    monkeypatch.setenv("MINIGLUON_JIT", "0")
    op = sigmoid_of_dot()
    jit.reset_stats()
    out, = op([nd.array(X), nd.array(W)])
    np.testing.assert_allclose(out.asnumpy(), eager_sigmoid_of_dot(nd.array(X), nd.array(W))
                               .asnumpy(), rtol=1e-5)
    assert op.exe is None and jit.stats()["interpreted_calls"] == 1


def test_a_recorded_call_is_one_tape_node_whose_op_is_the_cached_op():
    op = sigmoid_of_dot()
    x, w = variables()
    with autograd.record():
        out, = op([x, w])
    node, index = out._ag
    assert isinstance(node, TapeNode) and node.op is op and index == 0
    # its inputs are the variables themselves: no other node lies between them and out
    assert [i._ag for i in node.inputs] == ["leaf", "leaf"]
    assert autograd._topo([out]) == [node]


def test_unrecorded_and_not_needing_gradients_record_nothing():
    op = sigmoid_of_dot()
    x, w = variables()
    out, = op([x, w])  # not recording
    assert out._ag is None
    with autograd.record():
        out, = op([nd.array(X), nd.array(W)])  # no input wants a gradient
    assert out._ag is None


def test_gradient_equals_eager():
    op = sigmoid_of_dot()
    x, w = variables()
    with autograd.record():
        out, = op([x, w])
    head = nd.array(RNG.standard_normal(64).astype(np.float32))
    out.backward(head)
    got = x.grad.asnumpy(), w.grad.asnumpy()
    x, w = variables()
    with autograd.record():
        want = eager_sigmoid_of_dot(x, w)
    want.backward(head)
    np.testing.assert_allclose(got[0], x.grad.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], w.grad.asnumpy(), rtol=1e-5, atol=1e-6)


def test_only_inputs_the_graph_reads_go_on_the_tape():
    x = sym.var("x", shape=(3,), dtype="float32")
    sym.var("unused", shape=(3,), dtype="float32")
    op = CachedOp(sym.Group([sym.exp(x)]), ["x", "unused"], "Exp")
    a, b = nd.array([0.0, 1.0, 2.0]), nd.ones((3,))
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        out, = op([a, b])
    assert out._ag[0].inputs[0]._data is a._data and len(out._ag[0].inputs) == 1
    out.backward()
    np.testing.assert_allclose(a.grad.asnumpy(), np.exp([0.0, 1.0, 2.0]), rtol=1e-6)
    np.testing.assert_array_equal(b.grad.asnumpy(), 0)  # untouched, as eagerly


def test_kept_forward_values_are_released_by_backward():
    op = sigmoid_of_dot()
    split = op.gradient((True, True))
    assert split.forward is not None and max(split.kept_from) >= 1  # an extra output is kept
    x, w = variables()
    with autograd.record():
        out, = op([x, w])
    node = out._ag[0]
    kept = [weakref.ref(a) for a in node.attrs["kept"]]
    out.backward()
    gc.collect()
    assert node.attrs is None and all(r() is None for r in kept)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        out.backward()


def test_retain_graph_keeps_them_for_a_second_backward():
    op = sigmoid_of_dot()
    x, w = variables()
    with autograd.record():
        out, = op([x, w])
    out.backward(retain_graph=True)
    first = w.grad.asnumpy().copy()
    assert out._ag[0].attrs["kept"]
    out.backward()
    np.testing.assert_array_equal(w.grad.asnumpy(), first)


def test_create_graph_is_refused_with_a_way_out():
    op = sigmoid_of_dot()
    x, w = variables()
    with autograd.record():
        out, = op([x, w])
    with pytest.raises(NotImplementedError, match=r"^create_graph=True through the hybridized "
                                                  r"Net: its compiled gradient is not recorded; "
                                                  r"call the block without hybridize\(\)"):
        autograd.grad(out, [x], create_graph=True)


def test_gradients_are_fresh_arrays_grad_takes_without_copies():
    op = sigmoid_of_dot()
    x, w = variables()
    with autograd.record():
        out, = op([x, w])
    out.backward()
    grads = [x.grad._data, w.grad._data]
    assert not np.shares_memory(grads[0], grads[1])
    assert not any(np.shares_memory(g, a._data) for g in grads for a in (x, w, out))


def test_a_hybridized_block_records_its_cached_op():
    loss = mg.gluon.loss.L2Loss()
    loss.hybridize()
    pred, label = nd.array(X), nd.zeros(X.shape)
    pred.attach_grad()
    with autograd.record():
        out = loss(pred, label)
    entry, = loss._cache.values()
    assert out._ag[0].op is entry.op and entry.op.name == "hybridized L2Loss"
    out.backward()
    np.testing.assert_allclose(pred.grad.asnumpy(), X / X.shape[1], rtol=1e-6)


def test_an_op_and_its_gradient_go_without_the_cycle_collector():
    """Machine code is released when its last user goes, not at some later gc pass."""
    for keeps_extras in (True, False):
        op = sigmoid_of_dot() if keeps_extras else CachedOp(
            sym.Group([sym.exp(sym.var("x", shape=(3,), dtype="float32"))]), ["x"], "Exp")
        split = op.gradient((True, True) if keeps_extras else (True,))
        assert (split.forward is not None) == keeps_extras
        op([nd.array(X), nd.array(W)] if keeps_extras else [nd.ones((3,))])
        ref = weakref.ref(op)
        gc.disable()
        try:
            del op, split
            assert ref() is None
        finally:
            gc.enable()
