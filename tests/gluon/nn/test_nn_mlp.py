"""A 2-layer MLP (Dense(relu) then Dense) against MXNet 1.9.1's numbers and gradients
(tests/fixtures/nn/layers.npz, recorded by tests/tools/make_nn_fixtures.py): eagerly, as a
Sequential whose layers are each hybridized, and as one hybridized HybridSequential."""
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit

nd, nn = mg.nd, mg.gluon.nn
FIX = np.load(Path(__file__).parents[2] / "fixtures" / "nn" / "layers.npz")
# a HybridSequential traced as one graph needs its children's parameters as graph inputs


def _mlp(cls):
    net = cls()
    net.add(nn.Dense(5, activation="relu", in_units=4), nn.Dense(3, in_units=5))
    for k, layer in enumerate(net):
        layer.weight.set_data(FIX[f"mlp/param/{k}_weight"])
        layer.bias.set_data(FIX[f"mlp/param/{k}_bias"])
    return net


def _forward_backward(net):
    with autograd.record():
        y = net(nd.array(FIX["mlp/x"]))
    y.backward(nd.array(FIX["mlp/head"]))
    return y


def _assert_mxnet(net, y):
    np.testing.assert_allclose(y.asnumpy(), FIX["mlp/out"], rtol=1e-5, atol=1e-6)
    for k, layer in enumerate(net):
        for name in ("weight", "bias"):
            np.testing.assert_allclose(getattr(layer, name).grad().asnumpy(),
                                       FIX[f"mlp/grad/{k}_{name}"], rtol=1e-5, atol=1e-5,
                                       err_msg=f"layer {k} {name}")


def test_the_fixture_mlp_is_not_degenerate():
    hidden = FIX["mlp/x"].reshape(6, 4) @ FIX["mlp/param/0_weight"].T + FIX["mlp/param/0_bias"]
    assert 0 < (hidden > 0).mean() < 1  # relu both passes and blocks some units
    assert np.abs(FIX["mlp/grad/0_weight"]).max() > 0


@pytest.mark.parametrize("cls", [nn.Sequential, nn.HybridSequential])
def test_eager_mlp_matches_mxnet(cls):
    net = _mlp(cls)
    _assert_mxnet(net, _forward_backward(net))


def test_sequential_of_hybridized_layers_matches_mxnet_compiled():
    net = _mlp(nn.Sequential)
    with pytest.warns(UserWarning, match="HybridSequential"):
        net.hybridize()
    jit.reset_stats()
    y = _forward_backward(net)
    assert jit.stats()["interpreted_calls"] == 0 and jit.stats()["compiled_calls"] >= 2
    _assert_mxnet(net, y)


def test_hybridized_mlp_matches_eager_and_mxnet():
    eager = _mlp(nn.HybridSequential)
    y0 = _forward_backward(eager)
    net = _mlp(nn.HybridSequential)
    net.hybridize()
    y1 = _forward_backward(net)
    np.testing.assert_allclose(y1.asnumpy(), y0.asnumpy(), rtol=1e-5, atol=1e-6)
    _assert_mxnet(net, y1)


def test_hybridized_mlp_forward_and_backward_run_no_interpreter():
    net = _mlp(nn.HybridSequential)
    net.hybridize()
    _forward_backward(net)  # the first call traces and compiles
    jit.reset_stats()
    _assert_mxnet(net, _forward_backward(net))
    assert jit.stats()["interpreted_calls"] == 0
    assert jit.stats()["compiled_calls"] >= 1
