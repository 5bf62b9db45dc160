"""gluon.nn's activation layers (LeakyReLU, PReLU, ELU, SELU, GELU, Swish) against MXNet
1.9.1's outputs and gradients (tests/fixtures/nn/activations.npz, made by
tests/tools/make_activation_fixtures.py), eagerly, compiled and interpreted; their names,
parameters and reprs as MXNet's."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from tests.modes import MODES, make_block

nd, nn = mg.nd, mg.gluon.nn
FIX = np.load(Path(__file__).parents[2] / "fixtures" / "nn" / "activations.npz")
CASES = sorted({k.split("/")[1] for k in FIX.files if k.startswith("layer/")})
INTERPRETED: set[str] = set()  # every activation layer compiles


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_layer_outputs_and_gradients_match_mxnet(case, mode, monkeypatch):
    if case in INTERPRETED:
        monkeypatch.delenv("MINIGLUON_JIT_STRICT", raising=False)
    cls, kwargs = json.loads(str(FIX[f"layer/{case}/ctor"]))
    layer = make_block(getattr(nn, cls), mode, monkeypatch, **kwargs)
    layer.initialize()
    params = layer.collect_params()
    for full, p in params.items():
        p.set_data(nd.array(FIX[f"layer/{case}/param/{full[len(layer.prefix):]}"]))
    x = nd.array(FIX[f"layer/{case}/x"])
    x.attach_grad()
    before = mg.jit.stats()["interpreted_calls"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if case in INTERPRETED else "error", RuntimeWarning)
        with autograd.record():
            y = layer(x)
        y.backward(nd.array(FIX[f"layer/{case}/head"]))
    if mode == "compiled" and case not in INTERPRETED:
        assert mg.jit.stats()["interpreted_calls"] == before
    tol = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(y.asnumpy(), FIX[f"layer/{case}/out"], **tol)
    np.testing.assert_allclose(x.grad.asnumpy(), FIX[f"layer/{case}/grad/x"], **tol)
    for full, p in params.items():
        short = full[len(layer.prefix):]
        np.testing.assert_allclose(p.grad().asnumpy(), FIX[f"layer/{case}/grad/{short}"], **tol,
                                   err_msg=f"gradient of {full}")


def test_names_parameters_and_reprs_are_mxnets():
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.LeakyReLU(0.1), nn.PReLU(), nn.PReLU(in_channels=3), nn.ELU(), nn.SELU(),
                nn.GELU(), nn.Swish())
    assert [b.prefix for b in net._children.values()] == [
        "net_leakyrelu0_", "net_prelu0_", "net_prelu1_", "net_elu0_", "net_selu0_",
        "net_gelu0_", "net_swish0_"]
    shapes = {k: p.shape for k, p in net.collect_params().items()}
    assert shapes == {"net_prelu0_alpha": (1,), "net_prelu1_alpha": (3,)}
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(0.1)"
    for cls in (nn.PReLU, nn.ELU, nn.SELU, nn.GELU, nn.Swish):
        assert repr(cls()) == f"{cls.__name__}(\n\n)"


def test_prelu_alpha_starts_at_a_quarter_and_trains():
    layer = nn.PReLU(in_channels=2)
    layer.initialize()
    np.testing.assert_array_equal(layer.alpha.data().asnumpy(), [0.25, 0.25])
    trainer = mg.gluon.Trainer(layer.collect_params(), "sgd", {"learning_rate": 1.0})
    x = nd.array([[-1.0, -2.0], [-3.0, 4.0]])
    with autograd.record():
        y = layer(x)
    y.backward()
    trainer.step(1)
    # d sum(y) / d alpha_c = sum of the negative inputs of channel c
    np.testing.assert_allclose(layer.alpha.data().asnumpy(), [0.25 + 4.0, 0.25 + 2.0])


def test_leaky_relu_refuses_a_negative_alpha():
    with pytest.raises(AssertionError, match="no less than 0"):
        nn.LeakyReLU(-0.1)


def test_swish_beta_changes_the_curve():
    x = nd.array([-1.0, 0.5, 2.0])
    want = x.asnumpy() / (1 + np.exp(-2.0 * x.asnumpy()))
    np.testing.assert_allclose(nn.Swish(beta=2.0)(x).asnumpy(), want, rtol=1e-6)
