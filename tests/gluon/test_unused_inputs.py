"""Inputs the graph does not read (ignored, or used only for their shape) compile like any
other graph, get MXNet 1.9.1's gradients in every mode, and survive export and import."""
import json
import warnings

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from tests.modes import MODES, make_block

nd = mg.nd



class Ignores(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return x * 2


class PythonShape(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return F.reshape(x, y.shape) * 2  # y's shape while tracing: y is not in the graph


class OnesLike(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return x * F.ones_like(y)  # y is in the graph, for its shape only


class Stopped(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return x * F.BlockGrad(y * 2)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls,expected", [(Ignores, 2.0), (PythonShape, 2.0), (OnesLike, 1.0)])
def test_unread_inputs_compile_and_run(cls, expected, mode, monkeypatch):
    jit.reset_stats()
    x = nd.ones((6,)) if cls is PythonShape else nd.ones((2, 3))
    out = make_block(cls, mode, monkeypatch)(x, nd.ones((2, 3)))
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 3), expected, np.float32))
    stats = jit.stats()
    assert stats["compile_failures"] == 0
    assert stats["compiled_calls"] == (mode == "compiled")
    assert stats["interpreted_calls"] == (mode == "interpreted")


def _grads(cls, mode, monkeypatch, req="write", x_grad=True):
    """(x.grad, y.grad) after backward, y.grad holding 5 before it."""
    block = make_block(cls, mode, monkeypatch)
    x, y = nd.ones((6,)) if cls is PythonShape else nd.ones((2, 3)), nd.ones((2, 3))
    if x_grad:
        x.attach_grad()
    y.attach_grad(req)
    y.grad[:] = 5.0
    with autograd.record():
        out = block(x, y)
    out.backward()
    return x.grad, y.grad.asnumpy()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("req", ["write", "add"])
@pytest.mark.parametrize("cls", [Ignores, PythonShape])
def test_the_gradient_of_an_input_the_graph_does_not_read_is_left_alone(cls, req, mode,
                                                                        monkeypatch):
    # MXNet 1.9.1 (Ignores, eager and hybridized): y.grad stays [5, 5, 5] with 'write' and 'add'
    x_grad, y_grad = _grads(cls, mode, monkeypatch, req)
    np.testing.assert_array_equal(x_grad.asnumpy(), np.full(x_grad.shape, 2.0))
    np.testing.assert_array_equal(y_grad, np.full((2, 3), 5.0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("req,expected", [("write", 0.0), ("add", 5.0)])
@pytest.mark.parametrize("cls", [OnesLike, Stopped])
def test_an_input_read_without_a_gradient_gets_zeros(cls, req, expected, mode, monkeypatch):
    # MXNet 1.9.1, eager and hybridized: ones_like(y) and BlockGrad(y * 2) write zeros into
    # y.grad ('write'), or add zeros ('add')
    _, y_grad = _grads(cls, mode, monkeypatch, req)
    np.testing.assert_array_equal(y_grad, np.full((2, 3), expected))


@pytest.mark.parametrize("mode", MODES)
def test_only_an_ignored_input_with_a_gradient_cannot_be_differentiated(mode, monkeypatch):
    # MXNet 1.9.1 raises "Cannot differentiate node because it is not in a computational
    # graph" here, eagerly and hybridized alike
    with pytest.raises(ValueError, match="cannot differentiate"):
        _grads(Ignores, mode, monkeypatch, x_grad=False)


def test_autograd_grad_of_an_ignored_input_is_zeros_in_both_modes(monkeypatch):
    results = []
    for mode in MODES:
        block = make_block(Ignores, mode, monkeypatch)
        x, y = nd.ones((2, 3)), nd.ones((2, 3))
        x.attach_grad()
        y.attach_grad()
        with autograd.record():
            out = block(x, y)
        results.append([g.asnumpy() for g in autograd.grad(out, [x, y])])
    for gx, gy in results:
        np.testing.assert_array_equal(gx, np.full((2, 3), 2.0))
        np.testing.assert_array_equal(gy, np.zeros((2, 3)))


@pytest.mark.parametrize("cls,variables", [(Ignores, ["data0"]), (OnesLike, ["data0", "data1"])])
def test_export_keeps_what_the_graph_reads_and_imports_take_every_input(cls, variables,
                                                                        tmp_path):
    # MXNet 1.9.1 exports Ignores with the one variable data0 (data1 is dropped, as its
    # graph does not reach it) and OnesLike with data0 and data1; its SymbolBlock.imports
    # accepts ['data0', 'data1'] for both
    block = cls()
    block.hybridize()
    x, y = nd.array(np.arange(6.0).reshape(2, 3)), nd.ones((2, 3))
    want = block(x, y).asnumpy()
    sym_file, params_file = block.export(str(tmp_path / "m"))
    graph = json.loads(open(sym_file).read())
    assert [graph["nodes"][i]["name"] for i in graph["arg_nodes"]] == variables
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = mg.gluon.SymbolBlock.imports(sym_file, ["data0", "data1"], params_file)
    unread = [w for w in caught if "does not read input(s) ['data1']" in str(w.message)]
    assert len(unread) == (variables == ["data0"])
    for hybridize in (False, True):
        again.hybridize(hybridize)
        np.testing.assert_array_equal(again(x, y).asnumpy(), want)
