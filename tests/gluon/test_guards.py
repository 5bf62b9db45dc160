"""A hybridized block notices a change to an attribute its hybrid_forward read while traced
(``self.gamma``) and traces again, where MXNet 1.9.1 silently keeps the old graph."""
import warnings

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from tests.modes import MODES, make_block

nd = mg.nd
P = np.array([0.5, 0.25, 0.9], np.float32)


class Focal(mg.gluon.HybridBlock):
    """The modulating factor of a focal loss: (1 - p) ** gamma * alpha."""

    def __init__(self, gamma=2.0, alpha=1.0):
        super().__init__()
        self.gamma, self.alpha = gamma, alpha

    def hybrid_forward(self, F, p):
        return (1 - p) ** self.gamma * self.alpha


def focal(gamma, alpha=1.0):
    return (1 - P) ** gamma * alpha



@pytest.mark.parametrize("mode", MODES)
def test_changing_gamma_after_the_first_call_is_seen(mode, monkeypatch):
    # MXNet 1.9.1, hybridized: after gamma = 3.0 this block still returns [0.25 0.5625 0.01],
    # (1 - p) ** 2; eagerly [0.125 0.421875 0.001]
    block = make_block(Focal, mode, monkeypatch)
    np.testing.assert_allclose(block(nd.array(P)).asnumpy(), focal(2.0), rtol=1e-6)
    block.gamma = 3.0
    np.testing.assert_allclose(block(nd.array(P)).asnumpy(), focal(3.0), rtol=1e-6)
    block.alpha = 0.25
    np.testing.assert_allclose(block(nd.array(P)).asnumpy(), focal(3.0, 0.25), rtol=1e-6)
    if mode != "eager":
        assert len(block._cache) == 1  # the stale graph is replaced, not kept


def test_gradients_follow_the_new_value_too():
    block = Focal()
    block.hybridize()
    for gamma in (2.0, 3.0):
        block.gamma = gamma
        p = nd.array(P)
        p.attach_grad()
        with autograd.record():
            out = block(p)
        out.backward()
        np.testing.assert_allclose(p.grad.asnumpy(), -gamma * (1 - P) ** (gamma - 1), rtol=1e-5)


class Outer(mg.gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.inner = Focal()

    def hybrid_forward(self, F, p):
        return self.inner(p) + 1


def test_an_attribute_of_a_child_guards_the_parents_graph():
    block = Outer()
    block.hybridize()
    np.testing.assert_allclose(block(nd.array(P)).asnumpy(), focal(2.0) + 1, rtol=1e-6)
    block.inner.gamma = 1.0
    np.testing.assert_allclose(block(nd.array(P)).asnumpy(), focal(1.0) + 1, rtol=1e-6)


def test_a_loss_constant_changed_after_hybridize_is_seen_and_only_then_traced_again():
    # MXNet 1.9.1, hybridized: still [0.5, 0.5] after loss._weight = 4.0
    loss = mg.gluon.loss.L2Loss()
    loss.hybridize()
    pred, label = nd.ones((2, 3)), nd.zeros((2, 3))
    np.testing.assert_allclose(loss(pred, label).asnumpy(), [0.5, 0.5])
    loss._weight = 4.0
    np.testing.assert_allclose(loss(pred, label).asnumpy(), [2.0, 2.0])
    entry = next(iter(loss._cache.values()))
    loss._weight = 4.0  # the same value: the check runs and passes
    Focal().hybridize()  # attributes set on another block: likewise
    jit.reset_stats()
    np.testing.assert_allclose(loss(pred, label).asnumpy(), [2.0, 2.0])
    assert next(iter(loss._cache.values())) is entry
    assert jit.stats()["compiled_calls"] == 1 and jit.stats()["compile_seconds"] == 0


class ClassLevel(mg.gluon.HybridBlock):
    scale = 2.0

    def hybrid_forward(self, F, x):
        return x * self.scale


def test_an_instance_value_over_a_class_attribute_is_seen():
    block = ClassLevel()
    block.hybridize()
    np.testing.assert_allclose(block(nd.ones((2,))).asnumpy(), [2.0, 2.0])
    block.scale = 5.0
    np.testing.assert_allclose(block(nd.ones((2,))).asnumpy(), [5.0, 5.0])


class Weighted(mg.gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.weights = [1.0, 2.0]

    def hybrid_forward(self, F, x):
        return x * self.weights[1]


def test_a_list_attribute_warns_once_that_changes_inside_it_are_not_seen():
    block = Weighted()
    block.hybridize()
    with pytest.warns(UserWarning, match=r"Weighted.hybrid_forward read self.weights \(a list\)"):
        np.testing.assert_allclose(block(nd.ones((2,))).asnumpy(), [2.0, 2.0])
    block.weights[1] = 10.0  # in place: not seen, as the warning said
    np.testing.assert_allclose(block(nd.ones((2,))).asnumpy(), [2.0, 2.0])
    block.weights = [1.0, 3.0]  # a new list: seen
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no second warning
        np.testing.assert_allclose(block(nd.ones((2,))).asnumpy(), [3.0, 3.0])
