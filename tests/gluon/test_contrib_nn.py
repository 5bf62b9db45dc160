"""gluon.contrib.nn: Concurrent, HybridConcurrent and Identity, eager, compiled and
interpreted, against the concatenation of the branches computed by hand."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import gluon, nd
from minigluon.gluon.contrib.nn import Concurrent, HybridConcurrent, Identity
from tests.modes import MODES, make_block


def _branches(net):
    with net.name_scope():
        net.add(gluon.nn.Dense(3, in_units=4), gluon.nn.Dense(2, in_units=4, activation="relu"),
                Identity())
    net.initialize(mg.init.Normal(1.0))
    return net


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("axis", [1, -1])
def test_hybrid_concurrent_concatenates_its_branches(mode, axis, monkeypatch):
    net = _branches(make_block(HybridConcurrent, mode, monkeypatch, axis=axis))
    x = nd.array(np.random.RandomState(3).randn(5, 4))
    d0, d1 = net[0], net[1]
    w0, b0 = d0.weight.data().asnumpy(), d0.bias.data().asnumpy()
    w1, b1 = d1.weight.data().asnumpy(), d1.bias.data().asnumpy()
    xs = x.asnumpy()
    want = np.concatenate([xs @ w0.T + b0, np.maximum(xs @ w1.T + b1, 0), xs], axis=1)
    before = mg.jit.stats()["interpreted_calls"]
    with mg.autograd.record():
        y = net(x)
    y.backward()
    np.testing.assert_allclose(y.asnumpy(), want, rtol=1e-5, atol=1e-6)
    # d sum(y) / d w0 = 1^T x for each of the 3 units of the first branch
    np.testing.assert_allclose(d0.weight.grad().asnumpy(), np.ones((3, 1)) * xs.sum(0),
                               rtol=1e-5)
    if mode == "compiled":
        assert mg.jit.stats()["interpreted_calls"] == before


def test_concurrent_runs_any_blocks_and_concatenates_on_its_axis():
    net = Concurrent(axis=0)
    with net.name_scope():
        net.add(gluon.nn.Lambda(lambda x: x * 2), Identity())
    x = nd.array([[1.0, 2.0]])
    np.testing.assert_array_equal(net(x).asnumpy(), [[2.0, 4.0], [1.0, 2.0]])
    assert net.axis == 0 and len(net) == 2


def test_branches_that_disagree_off_the_axis_are_an_error():
    net = Concurrent(axis=1)
    with net.name_scope():
        net.add(gluon.nn.Lambda(lambda x: x[:1]), Identity())
    with pytest.raises((mg.MXNetError, ValueError), match=r"\(1, 2\)|\(2, 2\)|shape"):
        net(nd.ones((2, 2)))


def test_identity_is_the_input_eagerly_and_a_copy_when_hybridized():
    x = nd.ones((2, 3))
    assert Identity()(x) is x  # as MXNet's eager Identity
    net = Identity()
    net.hybridize()
    y = net(x)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())
    assert not np.shares_memory(y._data, x._data)
