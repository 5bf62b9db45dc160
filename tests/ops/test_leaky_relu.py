"""The LeakyReLU op against MXNet 1.9.1's numbers (tests/fixtures/nn/activations.npz, made
by tests/tools/make_activation_fixtures.py): outputs and gradients, eagerly and in a
hybridized block; rrelu's draws; its refusals."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import MXNetError
from tests.modes import MODES, Body, make_block

nd = mg.nd
FIX = np.load(Path(__file__).parents[1] / "fixtures" / "nn" / "activations.npz")
OP_CASES = sorted({k.split("/")[1] for k in FIX.files if k.startswith("op/")})
# no compiled form yet: the hybridized graph runs on the interpreter (with a warning)
INTERPRETED = {"rrelu_inference"}


def _tol():
    # MXNet 1.9.1's LeakyReLU rounds through float32 even for float64 data (gelu's erf, the
    # SELU constants, the leaky backward's slope); minigluon is float64 throughout, so
    # float64 agrees with MXNet to float32's precision (and with itself exactly: the
    # gradient tables check float64 against central differences)
    return {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", OP_CASES)
def test_outputs_and_gradients_match_mxnet(case, mode, monkeypatch):
    attrs = json.loads(str(FIX[f"op/{case}/attrs"]))
    if case in INTERPRETED:
        monkeypatch.delenv("MINIGLUON_JIT_STRICT", raising=False)
    arrays = [FIX[f"op/{case}/in/{k}"] for k in range(2) if f"op/{case}/in/{k}" in FIX.files]
    block = make_block(Body, mode, monkeypatch,
                       lambda F, x, g=None: F.LeakyReLU(x, g, **attrs) if g is not None
                       else F.LeakyReLU(x, **attrs))
    xs = [nd.array(a, dtype=a.dtype) for a in arrays]
    tol = _tol()
    before = mg.jit.stats()["interpreted_calls"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if case in INTERPRETED else "error", RuntimeWarning)
        if "rrelu" in case:  # inference mode: the middle slope, nothing drawn
            np.testing.assert_allclose(block(*xs).asnumpy(), FIX[f"op/{case}/out"], **tol)
            return
        for x in xs:
            x.attach_grad()
        with autograd.record():
            y = block(*xs)
        y.backward(nd.array(FIX[f"op/{case}/head"], dtype=arrays[0].dtype))
    if mode == "compiled" and case not in INTERPRETED:
        assert mg.jit.stats()["interpreted_calls"] == before
    assert y.dtype == arrays[0].dtype
    np.testing.assert_allclose(y.asnumpy(), FIX[f"op/{case}/out"], **tol)
    for k, x in enumerate(xs):
        np.testing.assert_allclose(x.grad.asnumpy(), FIX[f"op/{case}/grad/{k}"], **tol,
                                   err_msg=f"gradient of input {k}")


def test_rrelu_draws_slopes_in_its_bounds_while_training_and_reuses_them_backward():
    x = nd.array(-np.linspace(1, 2, 200).reshape(10, 20))
    x.attach_grad()
    with autograd.record():
        y = nd.LeakyReLU(x, act_type="rrelu", lower_bound=0.2, upper_bound=0.4)
    y.backward()
    slope = y.asnumpy() / x.asnumpy()
    assert slope.min() >= 0.2 and slope.max() <= 0.4 and slope.std() > 0.03
    np.testing.assert_allclose(x.grad.asnumpy(), slope, rtol=1e-5)
    with autograd.record(train_mode=False):
        y = nd.LeakyReLU(x, act_type="rrelu", lower_bound=0.2, upper_bound=0.4)
    np.testing.assert_allclose(y.asnumpy(), 0.3 * x.asnumpy(), rtol=1e-6)


def test_rrelu_draws_follow_the_seed():
    x = nd.array(-np.ones((3, 4)))
    draws = []
    for _ in range(2):
        mg.random.seed(5)
        with autograd.record():
            draws.append(nd.LeakyReLU(x, act_type="rrelu").asnumpy())
    np.testing.assert_array_equal(*draws)


@pytest.mark.parametrize("gamma", [(4,), (3, 1), (2,)])
def test_prelu_refuses_a_gamma_that_does_not_fit_the_channels(gamma):
    with pytest.raises(MXNetError, match=r"gamma of shape .* data of shape \(2, 3, 4\)"):
        nd.LeakyReLU(nd.ones((2, 3, 4)), gamma=nd.ones(gamma), act_type="prelu")


def test_bad_attributes_and_dtypes_are_refused():
    with pytest.raises(MXNetError, match="act_type"):
        nd.LeakyReLU(nd.ones((2,)), act_type="swish")
    with pytest.raises(MXNetError, match="lower_bound"):
        nd.LeakyReLU(nd.ones((2,)), act_type="rrelu", lower_bound=0.5, upper_bound=0.1)
    with pytest.raises(MXNetError, match="floating-point"):
        nd.LeakyReLU(nd.ones((2,), dtype="int32"))
    with pytest.raises(MXNetError, match="dtypes differ"):
        nd.LeakyReLU(nd.ones((2, 3)), gamma=nd.ones((3,), dtype="float64"), act_type="prelu")


def test_elu_and_selu_do_not_overflow_for_large_inputs():
    x = nd.array([1e4, -1e4, 80.0], dtype="float32")
    for act in ("elu", "selu"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = nd.LeakyReLU(x, act_type=act).asnumpy()
        assert np.isfinite(y).all()


def test_gamma_is_needed_for_prelu_only():
    with pytest.raises(MXNetError, match=r"expects 2 inputs \(data, gamma\), but got 1"):
        mg.sym.LeakyReLU(mg.sym.var("x"), act_type="prelu").infer_shape(x=(2, 3))
    with pytest.raises(MXNetError, match=r"expects 2 inputs \(data, gamma\), but got 1"):
        nd.LeakyReLU(nd.ones((2, 3)), act_type="prelu")
    with pytest.raises(MXNetError, match=r"expects 1 inputs \(data\), but got 2"):
        nd.LeakyReLU(nd.ones((2, 3)), nd.ones((3,)), act_type="leaky")
