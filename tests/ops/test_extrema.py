"""``nd.maximum``/``nd.minimum`` and ``sym.maximum``/``sym.minimum``: MXNet's Python
functions over arrays and numbers, and a GluonCV-style FocalLoss that needs them."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.gluon.loss import Loss

nd, sym = mg.nd, mg.sym


@pytest.mark.parametrize("fn,ref", [("maximum", np.maximum), ("minimum", np.minimum)])
def test_arrays_and_numbers_on_either_side_broadcast(fn, ref):
    a = np.array([[1.0, 5.0, -2.0], [3.0, 2.0, 0.5]], np.float32)
    b = np.array([2.0, 2.0, 0.0], np.float32)
    f = getattr(nd, fn)
    np.testing.assert_array_equal(f(nd.array(a), nd.array(b)).asnumpy(), ref(a, b))
    np.testing.assert_array_equal(f(nd.array(a), nd.array(a[::-1])).asnumpy(), ref(a, a[::-1]))
    np.testing.assert_array_equal(f(nd.array(a), 1.5).asnumpy(), ref(a, np.float32(1.5)))
    np.testing.assert_array_equal(f(1.5, nd.array(a)).asnumpy(), ref(a, np.float32(1.5)))
    assert f(nd.array(a), 1.5).dtype == np.float32
    assert f(3, 4) == (4 if fn == "maximum" else 3)


@pytest.mark.parametrize("fn", ["maximum", "minimum"])
def test_symbols_pick_the_same_ops_as_mxnet(fn):
    x, y = sym.var("x", shape=(2, 3)), sym.var("y", shape=(2, 3))
    ops = {n["op"] for n in json.loads(getattr(sym, fn)(x, y).tojson())["nodes"]}
    assert f"_{fn}" in ops
    ops = {n["op"] for n in json.loads(getattr(sym, fn)(2.0, x).tojson())["nodes"]}
    assert f"_{fn}_scalar" in ops


@pytest.mark.parametrize("bad", ["x", None, [1.0]])
def test_unsupported_operands_are_a_type_error(bad):
    with pytest.raises(TypeError, match="maximum"):
        nd.maximum(nd.ones((2,)), bad)
    with pytest.raises(TypeError, match="minimum"):
        nd.minimum(bad, bad)


def test_mixing_nd_and_sym_is_refused():
    with pytest.raises(TypeError):
        nd.maximum(nd.ones((2,)), sym.var("x"))


class FocalLoss(Loss):
    """As GluonCV writes it (gluoncv/loss.py), unchanged but for the base class import."""

    def __init__(self, axis=-1, alpha=0.25, gamma=2, sparse_label=True, from_logits=False,
                 batch_axis=0, weight=None, num_class=None, eps=1e-12, size_average=True,
                 **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis, self._alpha, self._gamma = axis, alpha, gamma
        self._sparse_label, self._from_logits = sparse_label, from_logits
        self._num_class, self._eps, self._size_average = num_class, eps, size_average

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.sigmoid(pred)
        if self._sparse_label:
            one_hot = F.one_hot(label, self._num_class)
        else:
            one_hot = label > 0
        pt = F.where(one_hot, pred, 1 - pred)
        t = F.ones_like(one_hot)
        alpha = F.where(one_hot, self._alpha * t, (1 - self._alpha) * t)
        loss = -alpha * ((1 - pt) ** self._gamma) * F.log(F.minimum(pt + self._eps, 1))
        if sample_weight is not None:
            loss = F.broadcast_mul(loss, sample_weight)
        if self._size_average:
            loss = F.mean(loss, axis=self._batch_axis, exclude=True)
        else:
            loss = F.sum(loss, axis=self._batch_axis, exclude=True)
        return loss


def _focal_reference(pred, label, num_class, alpha=0.25, gamma=2, eps=1e-12):
    p = 1 / (1 + np.exp(-pred.astype(np.float64)))
    onehot = np.eye(num_class)[label.astype(int)]
    pt = np.where(onehot > 0, p, 1 - p)
    a = np.where(onehot > 0, alpha, 1 - alpha)
    return (-a * (1 - pt) ** gamma * np.log(np.minimum(pt + eps, 1))).mean(axis=1)


def test_gluoncv_focal_loss_runs_unchanged_eager_and_hybridized():
    rng = np.random.default_rng(3)
    pred = rng.uniform(-3, 3, (4, 5)).astype(np.float32)
    label = np.array([0, 4, 2, 2], np.float32)
    want = _focal_reference(pred, label, 5)
    loss = FocalLoss(num_class=5)
    results = []
    for hybrid in (False, True):
        if hybrid:
            loss.hybridize()
            mg.jit.reset_stats()
        x = nd.array(pred)
        x.attach_grad()
        with autograd.record():
            out = loss(x, nd.array(label))
        out.backward()
        np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-7)
        results.append((out.asnumpy(), x.grad.asnumpy()))
    assert mg.jit.stats()["interpreted_calls"] == 0
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-8)
    assert np.abs(results[0][1]).sum() > 0
