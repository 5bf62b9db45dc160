"""Dropout: MXNet's registry op (p, mode, axes, cudnn_off), its hidden mask output and
gradient, training mode checked when it runs, the same draws eager and hybridized."""
import json
import warnings

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.gluon import HybridBlock
from minigluon.ops import get_op

nd, sym = mg.nd, mg.sym


def _x(*shape):
    return nd.array(np.random.default_rng(0).uniform(0.5, 1.5, shape))


def test_identity_outside_training_unless_mode_always():
    x = _x(4, 6)
    y = nd.Dropout(x, p=0.5)
    assert np.array_equal(y.asnumpy(), x.asnumpy()) and y is not x
    with autograd.record(train_mode=False):
        assert np.array_equal(nd.Dropout(x).asnumpy(), x.asnumpy())
    with autograd.record():
        assert not np.array_equal(nd.Dropout(x).asnumpy(), x.asnumpy())
    assert not np.array_equal(nd.Dropout(x, mode="always").asnumpy(), x.asnumpy())


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_mask_values_and_keep_rate(p):
    mg.random.seed(1)
    x = nd.ones((200, 100))
    y = nd.Dropout(x, p=p, mode="always").asnumpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.02
    assert abs(y.mean() - 1) < 0.05  # scaled by 1/(1-p): the expectation is kept


def test_axes_share_one_draw_along_them():
    mg.random.seed(2)
    y = nd.Dropout(nd.ones((8, 5, 3)), p=0.5, mode="always", axes=(1,)).asnumpy()
    assert (y == y[:, :1, :]).all()
    assert len(np.unique(y)) == 2
    y = nd.Dropout(nd.ones((8, 5)), p=0.5, mode="always", axes=(0, 1)).asnumpy()
    assert len(np.unique(y)) == 1  # one draw for the whole array


def test_p_zero_is_identity_without_a_draw_and_p_one_zeros():
    x = _x(3, 4)
    mg.random.seed(3)
    with autograd.record():
        y = nd.Dropout(x, p=0.0)
    after = nd.random.uniform(shape=(2,)).asnumpy()
    mg.random.seed(3)
    assert np.array_equal(after, nd.random.uniform(shape=(2,)).asnumpy())
    assert np.array_equal(y.asnumpy(), x.asnumpy())
    assert (nd.Dropout(x, p=1.0, mode="always").asnumpy() == 0).all()


def test_gradient_is_head_times_mask():
    x = _x(6, 7)
    x.attach_grad()
    head = _x(6, 7) * 3
    mg.random.seed(4)
    with autograd.record():
        y = nd.Dropout(x, p=0.4)
    y.backward(head)
    mask = y.asnumpy() / x.asnumpy()
    assert np.all(np.isclose(mask, 0) | np.isclose(mask, 1 / 0.6, rtol=1e-5))
    np.testing.assert_allclose(x.grad.asnumpy(), head.asnumpy() * mask, rtol=1e-5)


def test_one_visible_output_as_mxnet():
    op = get_op("Dropout")
    assert (op.n_outputs({}), op.n_visible({})) == (2, 1)
    s = sym.Dropout(sym.var("d", shape=(2, 3)))
    assert len(s.list_outputs()) == 1
    assert isinstance(nd.Dropout(nd.ones((2, 3))), nd.NDArray)


def test_bad_attributes_raise():
    x = nd.ones((2, 3))
    with pytest.raises(mg.MXNetError, match="p must be in"):
        nd.Dropout(x, p=1.5)
    with pytest.raises(mg.MXNetError, match="mode"):
        nd.Dropout(x, mode="sometimes")
    with pytest.raises(mg.MXNetError, match="axes"):
        nd.Dropout(x, axes=(2,))
    with pytest.raises(mg.MXNetError, match="float"):
        nd.Dropout(nd.ones((2, 3), dtype="int32"))


def test_mxnet_json_attributes_parse():
    text = json.dumps({"nodes": [
        {"op": "null", "name": "d", "inputs": []},
        {"op": "Dropout", "name": "dropout0", "inputs": [[0, 0, 0]],
         "attrs": {"p": "0.25", "mode": "always", "axes": "()", "cudnn_off": "False"}}],
        "arg_nodes": [0], "heads": [[1, 0, 0]]})
    g = sym.load_json(text)
    mg.random.seed(5)
    y = sym.Plan(g).run({"d": np.ones((40, 50), np.float32)})[0]
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.75], rtol=1e-6)


class Net(HybridBlock):
    def hybrid_forward(self, F, x):
        h = F.Dropout(F.tanh(x), p=0.3)
        return F.sum(F.Dropout(h * 2, p=0.5, axes=(1,)) + h, axis=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_eager_and_hybridized_give_the_same_numbers_and_gradients(dtype):
    x0 = np.random.default_rng(1).normal(size=(6, 8)).astype(dtype)
    results = []
    for hybridize in (False, True):
        blk = Net()
        if hybridize:
            blk.hybridize()
        x = nd.array(x0, dtype=dtype)
        x.attach_grad()
        mg.random.seed(9)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with autograd.record():
                y = blk(x)
            y.backward()
            predict = blk(x)  # not training: both Dropouts are identities
        results.append((y.asnumpy(), x.grad.asnumpy(), predict.asnumpy()))
    for e, h in zip(*results):
        np.testing.assert_allclose(h, e, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][2], 3 * np.tanh(x0).sum(axis=1), rtol=1e-5)
    assert not np.allclose(results[0][0], results[0][2])  # training dropped something
