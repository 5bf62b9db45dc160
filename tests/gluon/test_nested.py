"""A network of blocks hybridizes as one graph: children are traced inline into the
parent's graph, whose inputs are the call's arrays and every Parameter of the tree (by
full name), compiled as one; eager and hybridized agree on outputs and gradients."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from tests.gluon.nets import define
from tests.modes import MODES, make_block

nd = mg.nd
Lin = define(mg).Lin


class MLP(mg.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.hidden = Lin(4, 3)
            self.out = Lin(2, 4)

    def hybrid_forward(self, F, x):
        return self.out(F.relu(self.hidden(x)))


class Tied(mg.gluon.HybridBlock):
    """The same child twice plus a second child sharing its parameters."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.a = Lin(3, 3)
            self.b = Lin(3, 3, params=self.a.collect_params())

    def hybrid_forward(self, F, x):
        return self.b(F.tanh(self.a(self.a(x))))


class Listed(mg.gluon.HybridBlock):
    """Children kept in a list and registered with register_child."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.layers = []
        with self.name_scope():
            for _ in range(3):
                layer = Lin(3, 3)
                self.register_child(layer)
                self.layers.append(layer)

    def hybrid_forward(self, F, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


def _run(block, x):
    """Output and every parameter's gradient of sum(out ** 2)."""
    with autograd.record():
        y = block(x)
        loss = (y * y).sum()
    loss.backward()
    return y.asnumpy(), {k: p.grad().asnumpy().copy() for k, p in
                         block.collect_params().items() if p.grad_req != "null"}


def _numpy_mlp(block, x):
    p = {k: v.data().asnumpy() for k, v in block.collect_params().items()}
    h = np.maximum(x @ p[block.hidden.weight.name].T + p[block.hidden.bias.name], 0)
    return h @ p[block.out.weight.name].T + p[block.out.bias.name]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls", [MLP, Tied, Listed])
def test_nested_blocks_give_the_eager_numbers_and_gradients(cls, mode, monkeypatch):
    np.random.seed(1)
    mg.random.seed(1)  # the initial weights too: not what earlier tests drew (a dead relu)
    x = nd.array(np.random.randn(5, 3))
    eager = cls()
    eager.initialize(mg.init.Normal(0.5))
    block = make_block(cls, mode, monkeypatch)
    block.initialize()
    for (_, mine), (_, theirs) in zip(block.collect_params().items(),
                                      eager.collect_params().items()):
        mine.set_data(theirs.data())
    want_y, want_g = _run(eager, x)
    got_y, got_g = _run(block, x)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-6)
    assert len(got_g) == len(want_g) == len(block.collect_params())
    for (k, want), got in zip(want_g.items(), got_g.values()):
        assert np.abs(want).sum() > 0, k  # every parameter took part
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=k)
    if cls is MLP:
        np.testing.assert_allclose(got_y, _numpy_mlp(eager, x.asnumpy()), rtol=1e-5, atol=1e-6)


def test_the_tree_is_one_graph_of_the_call_and_every_parameter():
    net = MLP(prefix="mlp_")
    net.initialize()
    net.hybridize()
    x = nd.ones((2, 3))
    mg.jit.reset_stats()
    net(x)
    graph = net.cached_graph(x)
    assert graph.list_arguments() == ["data", "mlp_lin0_weight", "mlp_lin0_bias",
                                      "mlp_lin1_weight", "mlp_lin1_bias"]
    assert list(net.collect_params()) == graph.list_arguments()[1:]
    assert net.hidden._active and net.out._active  # hybridize() reached the children
    assert not net.hidden._cache and not net.out._cache  # traced inline, no graph of their own
    stats = mg.jit.stats()
    assert stats["compiled_calls"] == 1 and stats["interpreted_calls"] == 0


def test_a_shared_parameter_is_one_graph_input_and_its_gradient_sums_every_use():
    net = Tied(prefix="t_")
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.RandomState(0).randn(2, 3))
    assert list(net.collect_params()) == ["t_lin0_weight", "t_lin0_bias"]
    assert net.b.weight is net.a.weight
    assert net.cached_graph(x).list_arguments() == ["data", "t_lin0_weight", "t_lin0_bias"]


def test_grad_req_is_respected_through_a_hybridized_parent():
    x = nd.array(np.random.RandomState(2).randn(4, 3))
    for hybridize in (False, True):
        net = MLP()
        net.initialize(mg.init.Normal(0.5))
        net.hybridize(hybridize)
        net.hidden.bias.grad_req = "null"
        net.out.weight.grad_req = "add"
        _, first = _run(net, x)
        _, second = _run(net, x)
        with pytest.raises(RuntimeError, match="grad_req='null'"):
            net.hidden.bias.grad()
        assert net.hidden.bias.name not in first
        np.testing.assert_allclose(second[net.out.weight.name], 2 * first[net.out.weight.name],
                                   rtol=1e-5)
        np.testing.assert_allclose(second[net.hidden.weight.name],
                                   first[net.hidden.weight.name], rtol=1e-6)


class Eager(mg.gluon.Block):
    """A plain Block whose children are HybridBlocks: each runs its own graph."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.a = Lin(3, 3)
            self.b = Lin(2, 3)

    def forward(self, x):
        h = self.a(x)
        return self.b(nd.relu(h) if float(h.sum().asscalar()) > -1e9 else h)


def test_a_block_parent_runs_each_hybridized_child_as_its_own_graph():
    net = Eager()
    net.initialize(mg.init.Normal(0.5))
    x = nd.array(np.random.RandomState(3).randn(2, 3))
    want_y, want_g = _run(net, x)
    net.hybridize()
    got_y, got_g = _run(net, x)
    assert len(net.a._cache) == 1 and len(net.b._cache) == 1
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-6)
    for k in want_g:
        np.testing.assert_allclose(got_g[k], want_g[k], rtol=1e-5, atol=1e-6)


def test_a_plain_block_cannot_be_the_child_of_a_hybrid_block():
    parent = MLP()
    with pytest.raises(ValueError, match="Children of HybridBlock must also be HybridBlock"):
        parent.extra = Eager()
    with pytest.raises(ValueError, match="try HybridSequential"):
        parent.register_child(Eager())


def test_replacing_a_child_with_parameters_traces_again():
    net = MLP()
    net.initialize(mg.init.One())
    net.hybridize()
    x = nd.ones((1, 3))
    before = net(x).asnumpy()
    with net.name_scope():
        net.out = Lin(2, 4)
    net.out.initialize(mg.init.Constant(2.0))
    after = net(x).asnumpy()
    h = np.maximum(np.ones((1, 3)) @ np.ones((4, 3)).T, 0)
    np.testing.assert_allclose(before, h @ np.ones((2, 4)).T)
    np.testing.assert_allclose(after, h @ np.full((2, 4), 2.0).T)


def test_symbols_through_a_nested_block_name_each_parameter_once():
    net = Tied(prefix="s_")
    out = net(mg.sym.var("data"))
    assert out.list_arguments() == ["data", "s_lin0_weight", "s_lin0_bias"]


def test_export_of_a_network_writes_one_graph_with_collect_params_names(tmp_path):
    net = MLP(prefix="m_")
    net.initialize()
    net.hybridize()
    x = nd.array(np.random.RandomState(4).randn(3, 3))
    want = net(x).asnumpy()
    sym_file, params_file = net.export(str(tmp_path / "mlp"))
    nodes = json.load(open(sym_file, encoding="utf-8"))["nodes"]
    assert [n["name"] for n in nodes if n["op"] == "null"] == ["data"] + list(net.collect_params())
    assert sorted(nd.load(params_file)) == sorted(f"arg:{k}" for k in net.collect_params())
    again = mg.gluon.SymbolBlock.imports(sym_file, ["data"], params_file)
    np.testing.assert_allclose(again(x).asnumpy(), want, rtol=1e-6)


def test_cast_to_float64_runs_the_whole_network_in_float64():
    net = MLP()
    net.initialize()
    x = nd.array(np.random.RandomState(5).randn(2, 3), dtype="float64")
    net.cast("float64")
    eager = net(x)
    net.hybridize()
    out = net(x)
    assert out.dtype == np.float64 and eager.dtype == np.float64
    assert all(p.data().dtype == np.float64 for p in net.collect_params().values())
    np.testing.assert_allclose(out.asnumpy(), eager.asnumpy(), rtol=1e-12)


def test_children_in_a_list_are_traced_without_a_warning_and_a_new_one_is_seen():
    import warnings
    net = Listed()
    net.initialize(mg.init.One())
    net.hybridize()
    x = nd.ones((1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = net(x).asnumpy()
    extra = Lin(3, 3)
    extra.initialize(mg.init.Constant(0.5))
    net.register_child(extra)
    net.layers.append(extra)
    # the bias keeps its own init ("zeros"): a parameter's init wins over initialize()'s
    np.testing.assert_allclose(net(x).asnumpy(), np.maximum(first @ np.full((3, 3), 0.5).T, 0))
    assert np.abs(extra.bias.data().asnumpy()).max() == 0


def test_the_compiler_fuses_across_block_boundaries():
    """The hidden child's bias add and the parent's relu run in one kernel: 2 BLAS calls and
    2 kernels for the whole network, not a kernel per block."""
    net = MLP()
    net.initialize()
    net.hybridize()
    net(nd.ones((5, 3)))
    (entry,) = net._cache.values()
    kinds = [s.kind for s in entry.op.exe.schedule.steps]
    assert kinds.count("kernel") == 2 and kinds.count("external") == 2, kinds


def test_training_a_nested_network_gives_the_eager_parameters_when_hybridized():
    """Trainer updates parameters in place; each hybridized call reads their new values."""
    rng = np.random.RandomState(7)
    x, label = nd.array(rng.randn(6, 3)), nd.array(rng.randn(6, 2))
    trained = []
    for hybridize in (False, True):
        mg.random.seed(3)  # initializers draw from mg.random
        net = MLP()
        net.initialize(mg.init.Normal(0.5))
        net.hybridize(hybridize)
        trainer = mg.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        loss_fn = mg.gluon.loss.L2Loss()
        losses = []
        for _ in range(3):
            with autograd.record():
                loss = loss_fn(net(x), label)
            loss.backward()
            trainer.step(6)
            losses.append(float(loss.mean().asscalar()))
        assert losses[2] < losses[0]
        trained.append([p.data().asnumpy() for p in net.collect_params().values()])
    for eager, hybrid in zip(*trained):
        np.testing.assert_allclose(hybrid, eager, rtol=1e-5, atol=1e-6)


class Two(mg.gluon.HybridBlock):
    def __init__(self, first, second, **kwargs):
        super().__init__(**kwargs)
        self.first, self.second = first, second

    def hybrid_forward(self, F, x):
        return self.first(x) + self.second(x)


def test_two_parameters_of_one_name_in_one_graph_are_a_clear_error():
    net = Two(Lin(2, 3, prefix="same_"), Lin(2, 3, prefix="same_"))
    with pytest.raises(AssertionError, match="different Parameters with the same name"):
        net.initialize()  # collect_params refuses them, as MXNet's
    net.first.initialize()
    net.second.initialize()
    x = nd.ones((1, 3))
    net(x)  # eagerly each block reads its own parameters
    net.hybridize()
    with pytest.raises(mg.MXNetError, match="two different parameters are both named "
                                            "'same_weight' in one graph"):
        net(x)
