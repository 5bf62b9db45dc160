"""gluon.nn's pooling layers, ReflectionPad2D and Embedding against MXNet 1.9.1's outputs
and gradients (tests/fixtures/pool/layers.npz, made by tests/tools/make_pool_fixtures.py),
eagerly, compiled (no step left to the interpreter) and interpreted; their signatures,
names and reprs as MXNet's."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from tests.modes import MODES, make_block

nd, nn = mg.nd, mg.gluon.nn
FIX = np.load(Path(__file__).parents[1] / "fixtures" / "pool" / "layers.npz")
CASES = sorted({k.split("/")[0] for k in FIX.files})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_layer_outputs_and_gradients_match_mxnet(case, mode, monkeypatch):
    cls, kwargs = json.loads(str(FIX[f"{case}/ctor"]))
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    layer = make_block(getattr(nn, cls), mode, monkeypatch, **kwargs)
    layer.initialize()
    params = layer.collect_params()
    for full, p in params.items():
        p.set_data(nd.array(FIX[f"{case}/param/{full[len(layer.prefix):]}"]))
    x = nd.array(FIX[f"{case}/x"])
    wants_x_grad = f"{case}/grad/x" in FIX.files
    if wants_x_grad:
        x.attach_grad()
    before = mg.jit.stats()["interpreted_calls"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with autograd.record():
            y = layer(x)
        y.backward(nd.array(FIX[f"{case}/head"]))
    if mode == "compiled":
        assert mg.jit.stats()["interpreted_calls"] == before
    tol = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(y.asnumpy(), FIX[f"{case}/out"], **tol)
    if wants_x_grad:
        np.testing.assert_allclose(x.grad.asnumpy(), FIX[f"{case}/grad/x"], **tol)
    for full, p in params.items():
        short = full[len(layer.prefix):]
        np.testing.assert_allclose(p.grad().asnumpy(), FIX[f"{case}/grad/{short}"], **tol,
                                   err_msg=f"gradient of {full}")


def test_reprs_and_names_are_mxnets():
    assert repr(nn.MaxPool2D()) == ("MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), "
                                    "ceil_mode=False, global_pool=False, pool_type=max, "
                                    "layout=NCHW)")
    assert repr(nn.AvgPool1D(3, 1, 1, ceil_mode=True)) == (
        "AvgPool1D(size=(3,), stride=(1,), padding=(1,), ceil_mode=True, global_pool=False, "
        "pool_type=avg, layout=NCW)")
    assert repr(nn.GlobalAvgPool3D()) == (
        "GlobalAvgPool3D(size=(1, 1, 1), stride=(1, 1, 1), padding=(0, 0, 0), ceil_mode=True, "
        "global_pool=True, pool_type=avg, layout=NCDHW)")
    assert repr(nn.Embedding(10, 4)) == "Embedding(10 -> 4, float32)"
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.MaxPool2D(), nn.GlobalAvgPool2D(), nn.Embedding(3, 2), nn.ReflectionPad2D(1))
    assert [b.prefix for b in net._children.values()] == [
        "net_pool0_", "net_pool1_", "net_embedding0_", "net_reflectionpad2d0_"]
    assert {k: p.shape for k, p in net.collect_params().items()} == {
        "net_embedding0_weight": (3, 2)}


def test_wrong_layouts_and_sizes_assert_as_mxnets():
    with pytest.raises(AssertionError, match="NCHW and NHWC"):
        nn.MaxPool2D(layout="NCW")
    with pytest.raises(AssertionError, match="list of 3 ints"):
        nn.AvgPool3D(pool_size=(2, 2))
    with pytest.raises(AssertionError, match="NCW and NWC"):
        nn.GlobalMaxPool1D(layout="NCHW")
    with pytest.raises(AssertionError):
        nn.ReflectionPad2D((1, 2))


def test_pooling_refuses_data_of_the_wrong_rank_naming_its_shape():
    layer = nn.MaxPool2D()
    layer.initialize()
    with pytest.raises(mg.base.MXNetError, match=r"layout .NCHW. does not fit 3D data \(1, 2, 4\)"):
        layer(nd.ones((1, 2, 4)))


def test_embedding_refuses_sparse_grad_and_a_wrong_weight():
    layer = nn.Embedding(4, 2, sparse_grad=True)
    assert layer.weight.grad_stype == "row_sparse"
    with pytest.raises(mg.base.MXNetError, match="row_sparse.*dense storage only"):
        layer.initialize()
    with pytest.raises(mg.base.MXNetError, match=r"weight has shape \(3, 2\).*\(4, 2\)"):
        nd.Embedding(nd.array([0, 1]), nd.ones((3, 2)), input_dim=4, output_dim=2)


def test_embedding_weight_shape_is_deduced_from_its_attributes():
    from minigluon.symbol.interpreter import infer_variable_shapes
    y = mg.sym.Embedding(mg.sym.var("d"), mg.sym.var("w"), input_dim=5, output_dim=4)
    assert infer_variable_shapes(y, {"d": (2, 3)}) == {"d": (2, 3), "w": (5, 4)}


def test_embedding_weight_trains_and_float64_layer_gives_float64():
    layer = nn.Embedding(4, 2, dtype="float64")
    layer.initialize(mg.init.Zero())
    trainer = mg.gluon.Trainer(layer.collect_params(), "sgd", {"learning_rate": 1.0})
    x = nd.array([[1, 1], [3, 9]])  # 9 is clipped to the last row
    with autograd.record():
        y = layer(x)
    assert y.dtype == np.float64 and y.shape == (2, 2, 2)
    y.backward()
    trainer.step(1)
    want = -np.array([[0, 0], [2, 2], [0, 0], [2, 2]], np.float64)
    np.testing.assert_array_equal(layer.weight.data().asnumpy(), want)


def test_small_cnn_of_pools_compiles_with_no_interpreted_step(monkeypatch):
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    net = nn.HybridSequential()
    net.add(nn.ReflectionPad2D(1), nn.MaxPool2D(3, 1), nn.AvgPool2D(2, ceil_mode=True),
            nn.GlobalMaxPool2D(), nn.Flatten(), nn.Dense(3))
    net.initialize()
    x = nd.array(np.random.default_rng(0).standard_normal((2, 2, 5, 5)))
    x.attach_grad()
    with autograd.record():
        eager = net(x)
    eager.backward()
    g_eager = x.grad.asnumpy().copy()
    net.hybridize()
    before = mg.jit.stats()["interpreted_calls"]
    with autograd.record():
        y = net(x)
    y.backward()
    assert mg.jit.stats()["interpreted_calls"] == before
    np.testing.assert_allclose(y.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), g_eager, rtol=1e-5, atol=1e-6)
