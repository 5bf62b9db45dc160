"""softmax_cross_entropy: MXNet 1.9.1's loss -sum log max(softmax(data)[label], 1e-8), its
label reading (truncated, wrapped around the classes), checks, and compiled form."""
import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError

nd = mg.nd


def _loss(x, label):
    x = x.astype(np.float64)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    idx = np.trunc(label).astype(int) % x.shape[1]
    return -np.log(np.maximum(p[np.arange(len(x)), idx], 1e-8)).sum()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_the_formula_with_wrapped_truncated_labels(dtype):
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(dtype)
    label = np.array([3, 7, -1, 0.7, 2], dtype)
    got = nd.softmax_cross_entropy(nd.array(x, dtype=dtype), nd.array(label, dtype=dtype))
    assert got.shape == (1,) and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.asnumpy()[0], _loss(x, label), rtol=1e-6)


def test_a_hopeless_row_costs_minus_log_1e8_as_in_mxnet():
    got = nd.softmax_cross_entropy(nd.array([[1e4, 0, -1e4]]), nd.array([2]))
    np.testing.assert_allclose(got.asnumpy(), [-np.log(1e-8)], rtol=1e-6)


def test_gradient_is_softmax_minus_one_hot_times_the_head():
    x = np.random.default_rng(4).standard_normal((3, 4))
    label = np.array([1.0, 3, -1])
    xs = nd.array(x, dtype="float64")
    xs.attach_grad()
    with mg.autograd.record():
        y = nd.softmax_cross_entropy(xs, nd.array(label, dtype="float64"))
    y.backward(nd.array([2.0], dtype="float64"))
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(3), np.array([1, 3, 3])] -= 1
    np.testing.assert_allclose(xs.grad.asnumpy(), 2 * p, rtol=1e-12)


def test_hybridized_loss_compiles_with_the_eager_number():
    class Loss(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x, label):
            return F.softmax_cross_entropy(x, label)

    x = nd.array(np.random.default_rng(5).standard_normal((6, 5)))
    label = nd.array([0, 4, 2, 1, 3, 9])
    eager = Loss()(x, label).asnumpy()
    block = Loss()
    block.hybridize()
    before = mg.jit.stats()["interpreted_calls"]
    np.testing.assert_allclose(block(x, label).asnumpy(), eager, rtol=1e-6)
    assert mg.jit.stats()["interpreted_calls"] == before


@pytest.mark.parametrize("shapes,match", [
    (((2, 3, 4), (2,)), "data must be 2-d"),
    (((2, 3), (2, 1)), "label must be 1-d"),
    (((3, 2), (2,)), "label must be 1-d"),
])
def test_bad_shapes_raise(shapes, match):
    with pytest.raises(MXNetError, match=match):
        nd.softmax_cross_entropy(nd.ones(shapes[0]), nd.ones(shapes[1]))


def test_label_dtype_must_match_data():
    with pytest.raises(MXNetError, match="dtypes differ"):
        nd.softmax_cross_entropy(nd.ones((2, 3)), nd.ones((2,), dtype="float64"))
