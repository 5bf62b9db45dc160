"""gluon.nn's normalization layers against MXNet 1.9.1 (tests/fixtures/norm): two training
steps then inference, eager, compiled and interpreted; BatchNorm's running statistics as
auxiliary states through hybridize, export and SymbolBlock.imports."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, nd
from minigluon.gluon import nn
from tests.modes import MODES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "norm"
FIXTURE = np.load(FIXTURES / "norm.npz")
LAYERS = sorted({k.split("/")[1] for k in FIXTURE.files if k.startswith("layer/")})
TOL = dict(rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_mxnet_over_two_training_steps(name, mode, monkeypatch):
    key = f"layer/{name}"
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    net = getattr(nn, str(FIXTURE[f"{key}/cls"]))(prefix="net_",
                                                  **json.loads(str(FIXTURE[f"{key}/kwargs"])))
    net.initialize()
    net.hybridize(mode != "eager")
    net(nd.array(FIXTURE[f"{key}/x0"]))  # shapes the deferred parameters
    params = net.collect_params()
    for pname, p in params.items():
        p.set_data(nd.array(FIXTURE[f"{key}/param/{pname}"]))
    before = mg.jit.stats()["interpreted_calls"]
    for k in range(2):
        with autograd.record():
            y = net(nd.array(FIXTURE[f"{key}/x{k}"]))
        y.backward(nd.array(FIXTURE[f"{key}/head{k}"]))
    np.testing.assert_allclose(y.asnumpy(), FIXTURE[f"{key}/out_train"], **TOL)
    for pname, p in params.items():
        np.testing.assert_allclose(p.data().asnumpy(), FIXTURE[f"{key}/after/{pname}"], **TOL,
                                   err_msg=f"{name}: {pname} after two steps")
        if f"{key}/grad/{pname}" in FIXTURE.files:
            np.testing.assert_allclose(p.grad().asnumpy(), FIXTURE[f"{key}/grad/{pname}"],
                                       **TOL, err_msg=f"{name}: gradient of {pname}")
        else:
            assert p.grad_req == "null"
    np.testing.assert_allclose(net(nd.array(FIXTURE[f"{key}/x1"])).asnumpy(),
                               FIXTURE[f"{key}/out_infer"], **TOL)
    if mode == "compiled":
        assert mg.jit.stats()["interpreted_calls"] == before


def test_reprs_are_mxnets():
    assert repr(nn.BatchNorm()) == ("BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False, "
                                    "use_global_stats=False, in_channels=None)")
    assert repr(nn.BatchNorm(in_channels=3, scale=False)) == (
        "BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=True, use_global_stats=False, "
        "in_channels=3)")
    assert repr(nn.LayerNorm(in_channels=4)) == \
        "LayerNorm(eps=1e-05, axis=-1, center=True, scale=True, in_channels=4)"
    assert repr(nn.InstanceNorm()) == \
        "InstanceNorm(eps=1e-05, axis=1, center=True, scale=False, in_channels=0)"
    assert repr(nn.GroupNorm(num_groups=2)) == \
        "GroupNorm(eps=1e-05, num_groups=2, center=True, scale=True)"


def test_batchnorm_parameters_and_deferred_channels():
    bn = nn.BatchNorm(axis=-1)
    params = bn.collect_params()
    assert [p.grad_req for p in params.values()] == ["write", "write", "null", "null"]
    assert [p.name.split("_", 1)[1] for p in params.values()] == \
        ["gamma", "beta", "running_mean", "running_var"]
    bn.initialize()
    bn(nd.ones((2, 3, 5)))
    assert all(p.shape == (5,) for p in params.values())
    bn.cast("float16")  # MXNet keeps BatchNorm's parameters float32 for float16 data
    assert all(p.dtype == np.float32 for p in params.values())
    assert bn(nd.ones((2, 3, 5), dtype="float16")).dtype == np.float16


class SliceNorm(mg.gluon.HybridBlock):
    """The shape of MXNet's test_slice_batchnorm / test_reshape_batchnorm, Dense in place
    of the convolution: a slice or a reshape of a layer's output, then BatchNorm."""

    def __init__(self, how, **kwargs):
        super().__init__(**kwargs)
        self.how = how
        with self.name_scope():
            self.dense = nn.Dense(8, flatten=False)
            self.bn0 = nn.BatchNorm()
            self.bn1 = nn.BatchNorm()

    def hybrid_forward(self, F, x):
        y = self.dense(x)
        if self.how == "slice":
            y = F.slice(y, begin=(0, 1, 0), end=(3, 4, 6))
        else:
            y = F.reshape(y, shape=(0, 4, -1))
        return self.bn1(F.relu(self.bn0(y)))


@pytest.mark.parametrize("how", ["slice", "reshape"])
def test_sliced_and_reshaped_batchnorm_agree_eager_and_hybridized(how):
    x = np.random.default_rng(3).uniform(size=(4, 3, 4)).astype(np.float32)
    nets = [SliceNorm(how, prefix="n_") for _ in range(2)]
    for net in nets:
        net.initialize(mg.init.Xavier())
        net(nd.array(x))
    for p, q in zip(nets[0].collect_params().values(), nets[1].collect_params().values()):
        q.set_data(p.data())
    nets[1].hybridize()
    got = []
    for net in nets:
        xs = nd.array(x)
        xs.attach_grad()
        for _ in range(3):
            with autograd.record():
                out = net(xs)
            out.backward()
        got.append((out.asnumpy(), xs.grad.asnumpy(),
                    [p.data().asnumpy() for p in net.collect_params().values()]))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-4, atol=1e-5)
    for a, b in zip(got[0][2], got[1][2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0][2][-1], 1.0)  # the running variance did move


def _bn_net():
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4))
    return net


def test_export_writes_running_statistics_as_aux_and_imports_them(tmp_path):
    net = _bn_net()
    net.initialize(mg.init.Xavier())
    net.hybridize()
    rng = np.random.default_rng(5)
    for _ in range(2):
        with autograd.record():
            net(nd.array(rng.uniform(size=(5, 3)))).backward()
    sym_file, params_file = net.export(str(tmp_path / "bn"))
    keys = sorted(nd.load(params_file))
    assert keys == ["arg:net_batchnorm0_beta", "arg:net_batchnorm0_gamma",
                    "arg:net_dense0_bias", "arg:net_dense0_weight",
                    "aux:net_batchnorm0_running_mean", "aux:net_batchnorm0_running_var"]
    graph = mg.sym.load(sym_file)
    assert graph.list_auxiliary_states() == ["net_batchnorm0_running_mean",
                                             "net_batchnorm0_running_var"]
    x = nd.array(rng.uniform(size=(2, 3)))
    want = net(x).asnumpy()
    for hybrid in (False, True):
        block = mg.gluon.SymbolBlock.imports(sym_file, "data", params_file)
        block.hybridize(hybrid)
        np.testing.assert_allclose(block(x).asnumpy(), want, rtol=1e-5, atol=1e-6)
        # training through the imported graph moves its running statistics, as MXNet's
        mean = block.collect_params()["net_batchnorm0_running_mean"]
        old = mean.data().asnumpy().copy()
        with autograd.record():
            block(x)
        assert not np.allclose(mean.data().asnumpy(), old)


def test_imports_mxnets_exported_batchnorm():
    block = mg.gluon.SymbolBlock.imports(str(FIXTURES / "bn_net-symbol.json"), "data",
                                         str(FIXTURES / "bn_net-0000.params"))
    ref = np.load(FIXTURES / "bn_net.npz")
    for hybrid in (False, True):
        block.hybridize(hybrid)
        np.testing.assert_allclose(block(nd.array(ref["x"])).asnumpy(), ref["out"],
                                   rtol=1e-5, atol=1e-6)


def test_compiled_training_stores_the_batch_statistics_once():
    """The training form enters the graph as F-ops (Op.compose): the batch mean and
    variance, one value per channel, are stored and read, not recomputed inside the loop
    over every element (which would redo the whole reduction once per sample)."""
    bn = nn.BatchNorm(in_channels=3)
    bn.initialize()
    bn.hybridize()
    x = nd.array(np.random.default_rng(1).uniform(size=(4, 3, 2, 2)))
    with autograd.train_mode():
        bn(x)
    form = next(iter(bn._cache.values())).op._forms[True][0]
    stats = [b for b in form.exe.schedule.buffers if b[0] == (1, 3, 1, 1)]
    assert len(stats) >= 2  # the mean and the variance
