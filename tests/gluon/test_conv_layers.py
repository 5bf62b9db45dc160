"""gluon.nn's convolution layers: MXNet 1.9.1's parameters, prefixes and reprs, deferred
in_channels, eager and hybridized (compiled, nothing interpreted) agreeing on outputs and
gradients, and the refusals."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.base import MXNetError

nd, nn = mg.nd, mg.gluon.nn
RNG = np.random.default_rng(5)

# MXNet 1.9.1's reprs of these layers (printed by MXNet itself)
REPRS = [
    (lambda: nn.Conv2D(20, 5, activation="relu"),
     "Conv2D(None -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))"),
    (lambda: nn.Conv2D(8, (3, 3), strides=2, padding=1, groups=2, use_bias=False, in_channels=4),
     "Conv2D(2 -> 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, bias=False)"),
    (lambda: nn.Conv2DTranspose(4, 3, strides=2, output_padding=1),
     "Conv2DTranspose(4 -> 0, kernel_size=(3, 3), stride=(2, 2))"),
    (lambda: nn.Conv1D(3, 3, in_channels=4, dilation=2),
     "Conv1D(4 -> 3, kernel_size=(3,), stride=(1,), dilation=(2,))"),
    (lambda: nn.Conv3D(2, (1, 2, 3), padding=(0, 1, 0)),
     "Conv3D(None -> 2, kernel_size=(1, 2, 3), stride=(1, 1, 1), padding=(0, 1, 0))"),
    (lambda: nn.Conv3DTranspose(2, 2, in_channels=3),
     "Conv3DTranspose(2 -> 3, kernel_size=(2, 2, 2), stride=(1, 1, 1))"),
    (lambda: nn.Conv1DTranspose(6, 2, groups=3, in_channels=3),
     "Conv1DTranspose(2 -> 3, kernel_size=(2,), stride=(1,), groups=3)"),
]


@pytest.mark.parametrize("make,text", REPRS, ids=[t.split("(")[0] + str(i)
                                                   for i, (_, t) in enumerate(REPRS)])
def test_repr_as_mxnet(make, text):
    assert repr(make()) == text


def test_parameters_as_mxnet():
    c = nn.Conv2D(6, 3, groups=2, in_channels=4, prefix="c_")
    assert list(c.collect_params()) == ["c_weight", "c_bias"]
    assert c.weight.shape == (6, 2, 3, 3) and c.bias.shape == (6,)
    t = nn.Conv2DTranspose(6, 3, groups=2, in_channels=4, use_bias=False, prefix="t_")
    assert list(t.collect_params()) == ["t_weight"] and t.weight.shape == (4, 3, 3, 3)
    assert nn.Conv1D(3, 2).prefix.startswith("conv")  # MXNet's alias for every conv layer


def test_deferred_in_channels_are_filled_at_the_first_call():
    for layer, x, want in [(nn.Conv2D(4, 3, groups=2), (1, 6, 5, 5), (4, 3, 3, 3)),
                           (nn.Conv2DTranspose(4, 3, groups=2), (1, 6, 5, 5), (6, 2, 3, 3)),
                           (nn.Conv1D(2, 2), (2, 3, 4), (2, 3, 2))]:
        layer.initialize()
        y = layer(nd.ones(x))
        assert layer.weight.shape == want
        assert layer.bias.shape == (y.shape[1],)


def test_initializers_are_used():
    c = nn.Conv2D(2, 2, in_channels=1, weight_initializer="ones", bias_initializer="ones")
    c.initialize()
    y = c(nd.ones((1, 1, 3, 3)))
    np.testing.assert_array_equal(y.asnumpy(), np.full((1, 2, 2, 2), 5.0, np.float32))


def _run(block, x, hybrid):
    block.hybridize(hybrid)
    x = x.copy()
    x.attach_grad()
    with autograd.record():
        y = block(x)
    head = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(nd.array(head, dtype=y.dtype))
    grads = {k: p.grad().asnumpy().copy() for k, p in block.collect_params().items()}
    return y.asnumpy(), x.grad.asnumpy(), grads


LAYERS = {
    "Conv1D": (lambda: nn.Conv1D(4, 3, strides=2, padding=1, activation="tanh"), (2, 3, 9)),
    "Conv2D": (lambda: nn.Conv2D(4, (3, 2), padding=(1, 0), dilation=(1, 2), groups=2,
                                 activation="relu"), (2, 4, 6, 7)),
    "Conv2D_gemm": (lambda: nn.Conv2D(6, 3, padding=1, activation="relu"), (2, 8, 5, 5)),
    "Conv3D": (lambda: nn.Conv3D(2, (2, 2, 2), strides=(1, 2, 1)), (1, 2, 3, 4, 3)),
    "Conv1DTranspose": (lambda: nn.Conv1DTranspose(3, 3, strides=2, output_padding=1),
                        (2, 2, 4)),
    "Conv2DTranspose": (lambda: nn.Conv2DTranspose(4, (2, 3), strides=(2, 1), padding=(0, 1),
                                                   groups=2, activation="sigmoid"),
                        (1, 4, 3, 3)),
    "Conv3DTranspose": (lambda: nn.Conv3DTranspose(2, 2, strides=2, use_bias=False),
                        (1, 2, 2, 2, 2)),
}


CASES = [(name, "float32") for name in sorted(LAYERS)] + [("Conv2D", "float64"),
                                                         ("Conv2DTranspose", "float64")]


@pytest.mark.parametrize("name,dtype", CASES)
def test_eager_and_compiled_agree_and_nothing_is_interpreted(name, dtype):
    make, shape = LAYERS[name]
    block = make()
    block.initialize(mg.init.Uniform(0.5))
    if dtype == "float64":
        block.cast("float64")
    x = nd.array(RNG.uniform(-1, 1, shape), dtype=dtype)
    y0, gx0, gp0 = _run(block, x, False)
    before = jit.stats()["interpreted_calls"]
    y1, gx1, gp1 = _run(block, x, True)
    assert jit.stats()["interpreted_calls"] == before
    assert y1.dtype == np.dtype(dtype) and gx1.dtype == np.dtype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(y1, y0, **tol)
    np.testing.assert_allclose(gx1, gx0, **tol)
    for k in gp0:
        np.testing.assert_allclose(gp1[k], gp0[k], **tol, err_msg=k)


def test_a_small_cnn_trains_hybridized_without_the_interpreter():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, activation="relu"), nn.Conv2D(8, 3, strides=2, activation="relu"),
                nn.Flatten(), nn.Dense(3))
    net.initialize(mg.init.Xavier())
    net.hybridize()
    loss = mg.gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = mg.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    x = nd.array(RNG.uniform(-1, 1, (6, 2, 9, 9)))
    label = nd.array([0, 1, 2, 0, 1, 2])
    before = jit.stats()["interpreted_calls"]
    losses = []
    for _ in range(5):
        with autograd.record():
            out = loss(net(x), label)
        out.backward()
        trainer.step(6)
        losses.append(out.mean().asscalar())
    assert jit.stats()["interpreted_calls"] == before
    assert losses[-1] < losses[0]


def test_refusals():
    with pytest.raises(AssertionError):
        nn.Conv1D(2, 3, layout="NWC")
    with pytest.raises(AssertionError):
        nn.Conv2D(2, (3, 3, 3))
    c = nn.Conv2D(2, 3, in_channels=3)
    c.initialize()
    with pytest.raises(MXNetError, match=r"weight must have shape \(2, 4, 3, 3\)"):
        c(nd.ones((1, 4, 5, 5)))
    with pytest.raises(MXNetError, match="larger than the padded input"):
        c(nd.ones((1, 3, 2, 5)))
    nhwc = nn.Conv2D(2, 3, layout="NHWC", in_channels=3)
    nhwc.initialize()
    with pytest.raises(MXNetError, match="layout 'NHWC' is not supported"):
        nhwc(nd.ones((1, 5, 5, 3)))
