"""autograd.get_symbol: the recorded computation as a Symbol, and hybridize(inline_limit=)
deciding whether a hybridized call shows as its ops or as one _CachedOp node, compared
with what MXNet 1.9.1 returns (tests/fixtures/get-symbol/mxnet.json, written by
tests/tools/make_get_symbol_fixtures.py)."""
import json
import os
import re

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, nd
from minigluon.gluon import nn

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "get-symbol", "mxnet.json")


@pytest.fixture(scope="module")
def mxnet():
    with open(FIXTURE) as f:
        return json.load(f)


def shape_of(y):
    """As the fixture script: (op, name prefix, attrs, inputs) per JSON node."""
    graph = json.loads(autograd.get_symbol(y).tojson())
    return [[n["op"], re.sub(r"_?\d+$", "", n["name"]), n.get("attrs", {}), n["inputs"]]
            for n in graph["nodes"]]


def eager_example():
    x = nd.array([[1.0, -2.0], [3.0, 4.0]])
    x.attach_grad()
    w = nd.ones((2, 2))
    with autograd.record():
        z = nd.sum(nd.relu(nd.broadcast_add(x * 2, w)), axis=1)
    return x, w, z


def test_eager_graph_is_mxnets(mxnet):
    *_, z = eager_example()
    assert shape_of(z) == mxnet["eager"]


def test_variable_alone_is_one_variable(mxnet):
    x = nd.ones((2,))
    x.attach_grad()
    assert shape_of(x) == mxnet["leaf"]


def test_eager_graph_equals_traced_graph_and_evaluates():
    x, w, z = eager_example()
    got = autograd.get_symbol(z)

    def f(F, a, b):
        return F.sum(F.relu(F.broadcast_add(a * 2, b)), axis=1)
    traced = f(mg.sym, mg.sym.var("a", shape=(2, 2)), mg.sym.var("b", shape=(2, 2)))
    ops = [(n.op.name, n.attrs) for n in got.topo_nodes() if not n.is_variable]
    assert ops == [(n.op.name, n.attrs) for n in traced.topo_nodes() if not n.is_variable]
    xname, wname = got.list_arguments()  # x is read first, as the code reads it
    assert xname.startswith("var") and wname.startswith("null")
    (out,) = got.eval(**{xname: x, wname: w})
    np.testing.assert_array_equal(out.asnumpy(), z.asnumpy())
    (out,) = got.eval(**{xname: nd.zeros((2, 2)), wname: w})  # a new input, a new result
    np.testing.assert_array_equal(out.asnumpy(), [2.0, 2.0])


def three_dense(units=(10, 10, 10), in_units=(0, 0, 0)):
    net = nn.HybridSequential()
    for u, i in zip(units, in_units):
        net.add(nn.Dense(u, in_units=i))
    net.initialize()
    return net


@pytest.mark.parametrize("key,flags", [
    ("inline3", {"inline_limit": 3}), ("inline0", {"inline_limit": 0}), ("default", {}),
    ("inline2", {"inline_limit": 2}),
    ("static_alloc_inline3", {"static_alloc": True, "inline_limit": 3})])
def test_hybridized_call_inlined_or_one_cached_op_as_mxnet(mxnet, key, flags):
    net = three_dense()
    net.hybridize(**flags)
    with autograd.record():
        y = net(nd.zeros((1, 10)))
    assert shape_of(y) == mxnet[key]
    y.backward()  # the recorded call still differentiates
    assert net[0].weight.grad().shape == (10, 10)


def test_inline_limit_node_counts_differ_as_mxnets(mxnet):
    # MXNet's test_inline: three inlined FullyConnected nodes replace one _CachedOp node
    assert len(mxnet["inline3"]) - len(mxnet["inline0"]) == 2
    net = three_dense()
    counts = []
    for limit in (3, 0):
        net.hybridize(inline_limit=limit)
        with autograd.record():
            y = net(nd.zeros((1, 10)))
        counts.append(len(json.loads(autograd.get_symbol(y).tojson())["nodes"]))
        y.backward()
    assert counts == [len(mxnet["inline3"]), len(mxnet["inline0"])]


def feed_by_shape(symbol, net, data):
    """Every shape in these nets is distinct: each variable's value is found by shape."""
    values = [data] + [p.data() for p in net.collect_params().values()]
    by_shape = {v.shape: v for v in values}
    assert len(by_shape) == len(values)
    args = symbol.list_arguments()
    shapes = symbol.infer_shape()[0]
    return {a: by_shape[s] for a, s in zip(args, shapes)}


@pytest.mark.parametrize("limit", [3, 0])
def test_recorded_graph_evaluates_to_the_calls_output(limit):
    net = three_dense((4, 3, 2), (5, 4, 3))
    data = nd.array(np.arange(5, dtype=np.float32).reshape(1, 5) / 5)
    with autograd.record():
        eager = net(data)
    net.hybridize(inline_limit=limit)
    with autograd.record():
        y = net(data)
    got = autograd.get_symbol(y)
    ops = [n.op.name for n in got.topo_nodes() if not n.is_variable]
    assert ops == (["FullyConnected"] * 3 if limit else ["_CachedOp"])
    (out,) = got.eval(**feed_by_shape(got, net, data))
    np.testing.assert_allclose(out.asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    if limit:  # inlined: the same graph as the eager call's
        eager_ops = [n.op.name for n in autograd.get_symbol(eager).topo_nodes()
                     if not n.is_variable]
        assert ops == eager_ops


def test_cached_op_node_in_json_cannot_be_loaded():
    net = three_dense()
    net.hybridize(inline_limit=0)
    with autograd.record():
        y = net(nd.zeros((1, 10)))
    text = autograd.get_symbol(y).tojson()
    with pytest.raises(mg.sym.GraphFormatError, match="_CachedOp"):
        mg.sym.load_json(text)


def test_cached_op_node_refuses_other_shapes():
    net = three_dense()
    net.hybridize(inline_limit=0)
    with autograd.record():
        y = net(nd.zeros((1, 10)))
    got = autograd.get_symbol(y)
    feed = {a: nd.zeros(s) for a, s in zip(got.list_arguments(), got.infer_shape()[0])}
    data = got.list_arguments()[0]
    feed[data] = nd.zeros((2, 10))
    with pytest.raises(mg.base.MXNetError, match="_CachedOp.*traced with"):
        got.eval(**feed)


def test_not_recorded_is_a_clear_error():
    with pytest.raises(mg.base.MXNetError, match=r"float32\[2, 3\].*autograd.record"):
        autograd.get_symbol(nd.ones((2, 3)))
    x = nd.ones((2,))
    with autograd.record():  # recorded, but nothing wants a gradient: no tape
        y = x * 2
    with pytest.raises(mg.base.MXNetError, match="not part of a recorded computation"):
        autograd.get_symbol(y)
    with pytest.raises(TypeError, match="NDArray"):
        autograd.get_symbol(np.ones(2))


def test_after_backward_freed_the_graph_is_a_clear_error():
    x, _, z = eager_example()
    z.backward(retain_graph=True)
    assert len(autograd.get_symbol(z).topo_nodes()) == 6  # retained: still there
    z.backward()
    with pytest.raises(mg.base.MXNetError, match="freed"):
        autograd.get_symbol(z)


def test_graph_with_cached_op_runs_in_a_symbol_block_interpreted(monkeypatch):
    net = three_dense((4, 3, 2), (5, 4, 3))
    data = nd.ones((1, 5))
    net.hybridize(inline_limit=0)
    with autograd.record():
        y = net(data)
    got = autograd.get_symbol(y)
    feed = feed_by_shape(got, net, data)
    names = got.list_arguments()
    blk = mg.gluon.SymbolBlock(got, [mg.sym.var(n) for n in names])
    blk.hybridize()
    with pytest.raises(mg.base.CompileError, match="_CachedOp, not a registry op"):
        blk(*[feed[n] for n in names])  # the tests' strict mode: no silent interpreter
    monkeypatch.delenv("MINIGLUON_JIT_STRICT")
    blk.hybridize()
    with pytest.warns(RuntimeWarning, match="_CachedOp .*not a registry op"):
        out = blk(*[feed[n] for n in names])
    np.testing.assert_allclose(out.asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)
