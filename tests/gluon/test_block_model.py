"""The block API against what MXNet 1.9.1 prints and names for the same network
(tests/fixtures/block-api/mxnet.json, written by tests/tools/make_block_api_fixtures.py):
prefixes and name scopes, collect_params and its selections, parameter sharing, repr,
summary, save_parameters keys, hooks, apply, and the load errors."""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from tests.gluon.nets import define

nd = mg.nd
NETS = define(mg)
Lin, Net = NETS.Lin, NETS.Net
MX = json.loads((Path(__file__).parent.parent / "fixtures" / "block-api" / "mxnet.json")
                .read_text(encoding="utf-8"))


def _net(prefix="net_"):
    net = Net(prefix=prefix)
    net.initialize()
    return net


def test_names_prefixes_and_selections_are_mxnets():
    net = Net(prefix="net_")
    assert list(net.collect_params()) == MX["keys"]
    assert list(net.collect_params(".*weight")) == MX["select"]
    assert list(net.collect_params("net_lin0_weight|net_lin1_bias")) == MX["select2"]
    assert [net.prefix, net.a.prefix, net.b.prefix, net.c.prefix, net.a.name] == MX["prefixes"]
    assert net.c.weight is net.b.weight and net.c.bias is net.b.bias


def test_repr_of_a_block_and_of_its_parameters_is_mxnets():
    net = Net(prefix="net_")
    assert repr(net) == MX["repr"]
    assert repr(net.a.params) == MX["params_repr"]


def test_summary_prints_mxnets_table():
    net = _net()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        net.summary(nd.ones((2, 3)))
    assert buf.getvalue() == MX["summary"]
    assert not net.a._forward_hooks  # the summary's hooks are gone again
    net.hybridize()
    with pytest.raises(AssertionError, match="must not be hybridized to print summary"):
        net.summary(nd.ones((2, 3)))


def test_save_parameters_keys_are_attribute_paths_and_deduplicate_keeps_one(tmp_path):
    net = _net()
    net.save_parameters(str(tmp_path / "a.params"))
    assert sorted(nd.load(str(tmp_path / "a.params"))) == MX["save_keys"]
    net.save_parameters(str(tmp_path / "b.params"), deduplicate=True)
    assert sorted(nd.load(str(tmp_path / "b.params"))) == MX["save_keys_dedup"]
    x = nd.array(np.random.RandomState(0).randn(2, 3))
    for name in ("a.params", "b.params"):
        again = Net(prefix="again_")
        again.load_parameters(str(tmp_path / name))
        np.testing.assert_array_equal(again(x).asnumpy(), net(x).asnumpy())


def test_load_parameters_errors_are_mxnets(tmp_path):
    net = _net()
    nd.save(str(tmp_path / "missing.params"), {"a.weight": nd.ones((4, 3))})
    kind, msg = MX["load_missing"]
    with pytest.raises(AssertionError) as e:
        Net(prefix="other_").load_parameters(str(tmp_path / "missing.params"))
    assert kind == "AssertionError"
    assert str(e.value) == msg.replace("/tmp/_blk2.params", str(tmp_path / "missing.params"))
    arrays = {k: p.data() for k, p in net._collect_params_with_prefix().items()}
    nd.save(str(tmp_path / "extra.params"), {**arrays, "zz.weight": nd.ones((1,))})
    kind, msg = MX["load_extra"]
    other = Net(prefix="other_")
    with pytest.raises(ValueError) as e:
        other.load_parameters(str(tmp_path / "extra.params"))
    assert kind == "ValueError"
    assert str(e.value) == msg.replace("/tmp/_blk3.params", str(tmp_path / "extra.params"))
    other.load_parameters(str(tmp_path / "extra.params"), ignore_extra=True)
    other.load_parameters(str(tmp_path / "missing.params"), allow_missing=True)
    np.testing.assert_array_equal(other.a.weight.data().asnumpy(), np.ones((4, 3)))


def test_load_parameters_cast_dtype(tmp_path):
    net = _net()
    net.cast("float64")
    net.save_parameters(str(tmp_path / "d.params"))
    again = Net(prefix="again_")
    with pytest.raises(AssertionError, match="Set cast_dtype=True"):
        again.load_parameters(str(tmp_path / "d.params"))
    again = Net(prefix="again_")
    again.load_parameters(str(tmp_path / "d.params"), cast_dtype=True)
    assert again.a.weight.data().dtype == np.float32
    saved = Net(prefix="saved_")
    saved.load_parameters(str(tmp_path / "d.params"), cast_dtype=True, dtype_source="saved")
    assert saved.a.weight.data().dtype == np.float64 and saved.a.weight.dtype == "float64"


def test_a_file_of_full_names_loads_too(tmp_path):
    net = _net()
    net.collect_params().save(str(tmp_path / "full.params"), strip_prefix="net_")
    again = Net(prefix="net2_")
    again.load_parameters(str(tmp_path / "full.params"))
    np.testing.assert_array_equal(again.b.weight.data().asnumpy(), net.b.weight.data().asnumpy())


def test_initialize_uses_each_parameters_init_first_and_warns_when_repeated():
    net = Net()
    net.initialize(mg.init.One())
    np.testing.assert_array_equal(net.a.weight.data().asnumpy(), np.ones((4, 3)))
    np.testing.assert_array_equal(net.a.bias.data().asnumpy(), np.zeros(4))  # its own init
    with pytest.warns(UserWarning, match="is already initialized, ignoring"):
        net.initialize(mg.init.Zero())
    np.testing.assert_array_equal(net.a.weight.data().asnumpy(), np.ones((4, 3)))
    net.initialize(mg.init.Constant(2.0), force_reinit=True)
    np.testing.assert_array_equal(net.a.weight.data().asnumpy(), np.full((4, 3), 2.0))
    fresh = Net()
    fresh.initialize()  # MXNet's default: Uniform(0.07)
    w = fresh.a.weight.data().asnumpy()
    assert np.abs(w).max() <= 0.07 and np.unique(w).size > 1


def test_forward_hooks_and_pre_hooks_run_until_detached():
    net = _net()
    seen = []
    pre = net.a.register_forward_pre_hook(lambda b, inputs: seen.append(("pre", b.name)))
    post = net.register_forward_hook(lambda b, inputs, out: seen.append(("post", out.shape)))
    net(nd.ones((2, 3)))
    assert seen == [("pre", "net_lin0"), ("post", (2, 2))]
    pre.detach()
    with post:
        pass  # leaving the with detaches it
    net(nd.ones((2, 3)))
    assert len(seen) == 2


def test_hybridize_with_hooks_warns():
    net = _net()
    net.register_forward_hook(lambda *a: None)
    with pytest.warns(UserWarning, match="hybridized while still having forward hook"):
        net.hybridize()


def test_apply_visits_children_first_then_the_block():
    net = Net(prefix="net_")
    order = []
    assert net.apply(lambda b: order.append(b.name)) is net
    assert order == ["net_lin0", "net_lin1", "net_lin2", "net"]


def test_zero_grad_and_contexts():
    net = Net()
    net.initialize(mg.init.One())  # every hidden unit active: every gradient nonzero
    with mg.autograd.record():
        y = net(nd.ones((2, 3)))
    y.backward()
    assert np.abs(net.a.weight.grad().asnumpy()).sum() > 0
    net.zero_grad()
    assert all(np.abs(p.grad().asnumpy()).sum() == 0 for p in net.collect_params().values())
    ctxs = net.collect_params().list_ctx()
    assert len(ctxs) == 1 and str(ctxs[0]) == "cpu(0)"
    net.reset_ctx(ctxs[0])
    with pytest.raises(mg.MXNetError, match="CPU only"):
        net.reset_ctx(mg.gpu())


def test_changing_a_child_to_another_type_is_refused_and_unregistered_lists_warn():
    net = Net()
    with pytest.raises(TypeError, match="Changing attribute type for a"):
        net.a = 3
    net.more = [Lin(1, 1)]
    with pytest.warns(UserWarning, match="unregistered container with Blocks"):
        net.collect_params()


def test_a_second_block_shares_through_params():
    first = Lin(2, 3, prefix="first_")
    second = Lin(2, 3, params=first.collect_params())
    assert second.weight is first.weight and second.prefix != first.prefix
    first.initialize(mg.init.One())
    x = nd.ones((1, 3))
    np.testing.assert_array_equal(second(x).asnumpy(), first(x).asnumpy())


class Chain(mg.gluon.HybridBlock):
    """Runs its children in order, reading ``self._children`` as HybridSequential does."""

    def hybrid_forward(self, F, x):
        for child in self._children.values():
            x = child(x)
        return x


def test_a_block_iterating_its_children_traces_quietly_and_sees_a_replaced_child():
    import warnings
    outer = Chain()
    with outer.name_scope():
        outer.first = Lin(3, 3)
        outer.second = Lin(2, 3)
    outer.initialize(mg.init.One())
    outer.hybridize()
    x = nd.ones((1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(outer(x).asnumpy(), [[9.0, 9.0]])
    top = Chain()
    top.inner = outer
    top.hybridize()
    np.testing.assert_array_equal(top(x).asnumpy(), [[9.0, 9.0]])
    with outer.name_scope():
        outer.second = Lin(4, 3)  # clears outer's graphs; top's sees outer's children changed
    outer.second.initialize(mg.init.One())
    np.testing.assert_array_equal(top(x).asnumpy(), [[9.0] * 4])


def test_shared_blocks_compare_their_initializers_by_value():
    first = Lin(2, 3)
    again = Lin(2, 3)
    assert first.weight.init is None and first.bias.init == again.bias.init == "zeros"
    assert mg.init.Constant(-10.0) == mg.init.Constant(-10.0)
    assert mg.init.Constant(1.0) != mg.init.Constant(2.0) and mg.init.Uniform() != mg.init.Normal()


def test_deprecated_save_params_and_load_params(tmp_path):
    net = _net()
    with pytest.warns(DeprecationWarning, match="save_params is deprecated"):
        net.save_params(str(tmp_path / "old.params"))
    assert sorted(nd.load(str(tmp_path / "old.params"))) == ["lin0_bias", "lin0_weight",
                                                             "lin1_bias", "lin1_weight"]
    again = Net(prefix="again_")
    with pytest.warns(DeprecationWarning, match="load_params is deprecated"):
        again.load_params(str(tmp_path / "old.params"))
    np.testing.assert_array_equal(again.a.weight.data().asnumpy(), net.a.weight.data().asnumpy())


def test_a_parameter_keeps_one_copy_per_cpu_context():
    p = mg.gluon.Parameter("w", shape=(2,))
    p.initialize(ctx=mg.cpu(1))
    assert p.list_ctx() == [mg.cpu(1)]
    p.reset_ctx(mg.cpu(3))
    assert p.list_ctx() == [mg.cpu(3)]
    v = mg.gluon.Parameter("v", shape=(2,))
    v.initialize(ctx=[mg.cpu(0), mg.cpu(1)])
    assert [d.context for d in v.list_data()] == [mg.cpu(0), mg.cpu(1)]


@pytest.mark.parametrize("by", ["path", "name"])
def test_share_parameters_after_construction(by):
    source, target = _net("src_"), _net("dst_")
    x = nd.array(np.random.RandomState(6).randn(2, 3))
    target.hybridize()
    before = target(x).asnumpy()
    shared = (source._collect_params_with_prefix() if by == "path"
              else {k: p for k, p in source.collect_params().items()})
    if by == "name":  # full names differ between the nets: map them onto target's names
        shared = {t: shared[s] for s, t in zip(source.collect_params(), target.collect_params())}
    assert target.share_parameters(shared) is target
    assert target.a.weight is source.a.weight and target.c.weight is source.b.weight
    np.testing.assert_array_equal(target(x).asnumpy(), source(x).asnumpy())
    assert not np.array_equal(before, source(x).asnumpy())


class Holder(mg.gluon.Block):
    def __init__(self, params=None):
        super().__init__(params=params)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(2, 2))


class Pair(mg.gluon.Block):
    def __init__(self, first, second):
        super().__init__()
        self.first, self.second = first, second


def _pair():
    first = Holder()
    return Pair(first, Holder(first.collect_params()))


def test_a_deduplicated_file_loads_into_every_path_of_the_shared_parameter(tmp_path):
    pair = _pair()
    pair.initialize(mg.init.Constant(7.0))
    pair.save_parameters(str(tmp_path / "d.params"), deduplicate=True)
    assert len(nd.load(str(tmp_path / "d.params"))) == 1
    pair.save_parameters(str(tmp_path / "f.params"))
    assert len(nd.load(str(tmp_path / "f.params"))) == 2
    for name in ("d.params", "f.params"):
        again = _pair()
        again.load_parameters(str(tmp_path / name))
        assert again.first.weight is again.second.weight
        np.testing.assert_array_equal(again.second.weight.data().asnumpy(), np.full((2, 2), 7.0))


def test_mxnets_export_of_the_network_loads_and_ours_names_it_alike(tmp_path):
    """MXNet 1.9.1 hybridized and exported the same network (fixtures/block-api/net-*)."""
    fixtures = Path(__file__).parent.parent / "fixtures" / "block-api"
    x = nd.array(np.arange(6.0).reshape(2, 3))
    net = Net(prefix="net_")
    net.collect_params().load(str(fixtures / "net-0000.params"))
    np.testing.assert_allclose(net(x).asnumpy(), MX["net_out"], rtol=1e-6)
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), MX["net_out"], rtol=1e-6)
    imported = mg.gluon.SymbolBlock.imports(str(fixtures / "net-symbol.json"), ["data"],
                                            str(fixtures / "net-0000.params"))
    np.testing.assert_allclose(imported(x).asnumpy(), MX["net_out"], rtol=1e-6)
    sym_file, params_file = net.export(str(tmp_path / "net"))

    def variables(path):
        return [n["name"] for n in json.loads(Path(path).read_text())["nodes"] if n["op"] == "null"]
    assert variables(sym_file) == variables(fixtures / "net-symbol.json")
    assert sorted(nd.load(params_file)) == sorted(nd.load(str(fixtures / "net-0000.params")))


class Keywords(mg.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.params.get("weight", shape=(2,), init=mg.init.One())
        self.w2 = self.w  # one parameter under two keywords, as MXNet allows

    def hybrid_forward(self, F, x, w, w2):
        return x * w + w2


@pytest.mark.parametrize("hybridize", [False, True])
def test_hybrid_forward_takes_parameters_by_attribute_name(hybridize):
    block = Keywords()
    block.initialize()
    block.hybridize(hybridize)
    assert list(block._reg_params) == ["w", "w2"]
    np.testing.assert_array_equal(block(nd.array([2.0, 3.0])).asnumpy(), [3.0, 4.0])
