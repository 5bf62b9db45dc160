"""Block.register_op_hook: the monitor callback of a hybridized block, with MXNet 1.9.1's
node and input names (the names below are those MXNet's own test expects)."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import gluon, nd


def _net():
    net = gluon.nn.HybridSequential(prefix="dense_")
    with net.name_scope():
        net.add(gluon.nn.Dense(2), gluon.nn.Activation("relu"))
    net.initialize(mg.init.Normal(1.0))
    return net


def _record(net, monitor_all, x):
    seen = []
    net.register_op_hook(lambda name, op, arr: seen.append((name, op, arr)), monitor_all)
    out = net(x)
    return seen, out


@pytest.mark.parametrize("static_alloc", [False, True])
def test_every_node_reports_its_inputs_and_output_by_mxnets_names(static_alloc):
    net = _net()
    net.hybridize(static_alloc=static_alloc)
    x = nd.array(np.random.RandomState(4).randn(2, 3, 4))
    seen, out = _record(net, True, x)
    assert [n for n, _, _ in seen] == [
        b"dense_dense0_fwd_data", b"dense_dense0_fwd_weight", b"dense_dense0_fwd_bias",
        b"dense_dense0_fwd_output", b"dense_relu0_fwd_input0", b"dense_relu0_fwd_output"]
    assert [o for _, o, _ in seen] == [b"FullyConnected"] * 4 + [b"Activation"] * 2
    arrays = {n: a.asnumpy() for n, _, a in seen}
    np.testing.assert_array_equal(arrays[b"dense_dense0_fwd_data"], x.asnumpy())
    np.testing.assert_array_equal(arrays[b"dense_dense0_fwd_weight"],
                                  net[0].weight.data().asnumpy())
    hidden = x.asnumpy().reshape(2, 12) @ net[0].weight.data().asnumpy().T
    np.testing.assert_allclose(arrays[b"dense_dense0_fwd_output"], hidden, rtol=1e-5)
    np.testing.assert_allclose(arrays[b"dense_relu0_fwd_output"], out.asnumpy(), rtol=1e-5)


def test_outputs_only_by_default_and_the_arrays_are_copies():
    net = _net()
    net.hybridize()
    x = nd.ones((2, 3, 4))
    seen, out = _record(net, False, x)
    assert [n for n, _, _ in seen] == [b"dense_dense0_fwd_output", b"dense_relu0_fwd_output"]
    seen[-1][2][:] = 123  # changing what the hook was handed changes nothing else
    assert not (out.asnumpy() == 123).any()


def test_eager_calls_report_nothing_and_a_plain_block_passes_the_hook_down():
    net = _net()
    seen, _ = _record(net, False, nd.ones((2, 3, 4)))
    assert seen == []
    outer = gluon.nn.Sequential()
    outer.add(net)
    net.hybridize()
    names = []
    outer.register_op_hook(lambda n, o, a: names.append(n))
    outer(nd.ones((1, 3, 4)))
    assert names == [b"dense_dense0_fwd_output", b"dense_relu0_fwd_output"]


def test_a_callback_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        _net().register_op_hook("print")
