"""When BatchNorm's running statistics change: in the backward of a recorded training call,
as MXNet 1.9.1's CPU BatchNorm updates them; a forward no gradient passes through (outside
record(), or with nothing before it wanting a gradient) leaves them, eager and hybridized."""
import numpy as np
import pytest

import minigluon as mg

X = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
AFTER_ONE = 0.1 * X.mean(axis=0)  # momentum 0.9 from zeros


def _bn(hybridize):
    bn = mg.gluon.nn.BatchNorm(in_channels=2)
    bn.initialize()
    if hybridize:
        bn.hybridize()
    return bn


@pytest.mark.parametrize("hybridize", [False, True])
def test_the_backward_of_a_recorded_call_updates_them(hybridize):
    bn = _bn(hybridize)
    with mg.autograd.record():
        y = bn(mg.nd.array(X))
    np.testing.assert_array_equal(bn.running_mean.data().asnumpy(), [0, 0])
    y.backward()
    np.testing.assert_allclose(bn.running_mean.data().asnumpy(), AFTER_ONE, rtol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_training_forward_without_backward_leaves_them(hybridize):
    bn = _bn(hybridize)
    with mg.autograd.train_mode():
        bn(mg.nd.array(X))
    with mg.autograd.record():
        bn(mg.nd.array(X))
    np.testing.assert_array_equal(bn.running_mean.data().asnumpy(), [0, 0])


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_layer_no_gradient_reaches_keeps_them_as_in_resnet_v2(hybridize):
    """ResNet v2's first BatchNorm(scale=False, center=False) reads the input: nothing it
    reads wants a gradient, so its backward never runs and its statistics stay."""
    net = mg.gluon.nn.HybridSequential()
    net.add(mg.gluon.nn.BatchNorm(scale=False, center=False, in_channels=2),
            mg.gluon.nn.Dense(1, in_units=2))
    net.initialize()
    if hybridize:
        net.hybridize()
    with mg.autograd.record():
        y = net(mg.nd.array(X))
    y.backward(mg.nd.array([[1.0], [2.0]]))  # (normalized rows of two samples sum to 0)
    np.testing.assert_array_equal(net[0].running_mean.data().asnumpy(), [0, 0])
    assert net[1].weight.grad().abs().sum().asscalar() > 0
