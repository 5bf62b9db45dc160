"""Custom blocks with parameters (``self.params.get``), initializers and Trainer: the same
training run eagerly and hybridized (compiled), checked against numpy."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit

nd = mg.nd


class ScaledL2(mg.gluon.HybridBlock):
    """A loss with learnable per-feature scale and bias: mean((x * w + b - y)^2)."""

    def __init__(self, features: int, **kwargs):
        super().__init__(**kwargs)
        self.w = self.params.get("w", shape=(1, features), init=mg.init.One())
        self.b = self.params.get("b", shape=(1, features), init="zeros")

    def hybrid_forward(self, F, x, y, w, b):
        return F.mean(F.square(F.broadcast_add(F.broadcast_mul(x, w), b) - y), axis=1)


def _train(hybridize: bool, optimizer: str, opts: dict, steps: int = 30):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    true_w, true_b = np.array([[2.0, -1.0, 0.5, 3.0]]), np.array([[0.5, 0.0, -1.0, 2.0]])
    y = (x * true_w + true_b).astype(np.float32)
    block = ScaledL2(4)
    params = block.collect_params()
    params.initialize()
    if hybridize:
        block.hybridize()
    trainer = mg.gluon.Trainer(params, optimizer, opts)
    xs, ys = nd.array(x), nd.array(y)
    losses = []
    jit.reset_stats()
    for _ in range(steps):
        with autograd.record():
            loss = block(xs, ys)
        loss.backward()
        trainer.step(x.shape[0])
        losses.append(float(loss.asnumpy().mean()))
    return block, losses, (params[block.prefix + "w"].data().asnumpy(),
                           params[block.prefix + "b"].data().asnumpy()), jit.stats()


@pytest.mark.parametrize("optimizer,opts", [("sgd", {"learning_rate": 1.0}),
                                            ("sgd", {"learning_rate": 0.5, "momentum": 0.5}),
                                            ("adam", {"learning_rate": 0.1})])
def test_training_a_custom_loss_matches_between_modes_and_converges(optimizer, opts):
    _, eager, weights_e, _ = _train(False, optimizer, opts)
    block, hybrid, weights_h, stats = _train(True, optimizer, opts)
    np.testing.assert_allclose(hybrid, eager, rtol=1e-4, atol=1e-7)  # float32 round-off at the end
    for a, b in zip(weights_e, weights_h):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert hybrid[-1] < 0.05 * hybrid[0]
    assert stats["interpreted_calls"] == 0 and stats["compiled_calls"] == 60  # fwd + bwd
    assert sorted(block.collect_params()) == [block.prefix + "b", block.prefix + "w"]


def test_sgd_step_is_the_textbook_update():
    block = ScaledL2(2)
    params = block.collect_params()
    params.initialize()
    x, y = nd.array([[1.0, 2.0]]), nd.array([[0.0, 0.0]])
    with autograd.record():
        block(x, y).backward()
    w = params[block.prefix + "w"]
    grad = w.grad().asnumpy().copy()
    np.testing.assert_allclose(grad, [[1.0, 4.0]])  # d mean((x w)^2)/dw = x^2 w at w = 1
    mg.gluon.Trainer(params, "sgd", {"learning_rate": 0.5, "wd": 0.1}).step(2)
    np.testing.assert_allclose(w.data().asnumpy(), 1.0 - 0.5 * (grad / 2 + 0.1 * 1.0))


def test_initializers_draw_the_documented_values():
    mg.random.seed(0)
    u = mg.init.Uniform(0.5)("w", (2000,), "float32")
    assert u.dtype == np.float32 and -0.5 <= u.min() and u.max() <= 0.5 and abs(u.mean()) < 0.02
    n = mg.init.Normal(2.0)("w", (4000,), "float64")
    assert abs(n.std() - 2.0) < 0.1
    x = mg.init.Xavier()("w", (100, 50), "float32")
    bound = np.sqrt(3 / 75)
    assert x.shape == (100, 50) and np.abs(x).max() <= bound and np.abs(x).max() > 0.9 * bound
    np.testing.assert_array_equal(mg.init.create(1.5)("c", (2,), "float32"), [1.5, 1.5])
    with pytest.raises(TypeError, match="not an initializer"):
        mg.init.create("glorot-ish")
    with pytest.raises(ValueError, match="at least 2 axes"):
        mg.init.Xavier()("w", (3,), "float32")
    p = mg.gluon.Parameter("p", shape=(3,))
    p.initialize()  # MXNet's default: Uniform(0.07)
    assert np.abs(p.data().asnumpy()).max() <= 0.07


def test_parameter_declaration_errors_are_clear():
    block = ScaledL2(3)
    with pytest.raises(AssertionError, match="desired attribute does not match with stored "
                                             "for attribute 'shape'"):
        block.params.get("w", shape=(2, 2))
    with pytest.raises(mg.MXNetError, match="has not been initialized"):
        block(nd.ones((2, 3)), nd.ones((2, 3)))
    with pytest.raises(ValueError, match="unknown optimizer"):
        mg.gluon.Trainer(block.collect_params(), "lbfgs")
    with pytest.raises(ValueError, match="has no option 'lr'"):
        mg.gluon.Trainer(block.collect_params(), "sgd", {"lr": 0.1})


class Tempered(mg.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = mg.gluon.Parameter("scale", shape=(1,), init=mg.init.Constant(2.0))

    def hybrid_forward(self, F, pred, label, scale):
        return F.pick(F.log_softmax(F.broadcast_mul(pred, scale)), label) * -1


def test_assigned_parameter_is_a_keyword_and_round_trips_through_a_params_file(tmp_path):
    pred, label = nd.array([[1.0, 2.0, 0.5]]), nd.array([1.0])
    block = Tempered()
    block.collect_params().initialize()
    assert list(block.collect_params()) == ["scale"]
    eager = block(pred, label).asnumpy()
    block.hybridize()
    np.testing.assert_allclose(block(pred, label).asnumpy(), eager, rtol=1e-6)
    z = 2.0 * np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(eager, -(z[1] - np.log(np.exp(z).sum())), rtol=1e-6)
    block.collect_params()["scale"].set_data(nd.array([3.0]))
    block.save_parameters(str(tmp_path / "t.params"))
    again = Tempered()
    again.load_parameters(str(tmp_path / "t.params"))
    np.testing.assert_array_equal(again.collect_params()["scale"].data().asnumpy(), [3.0])


def test_mg_random_seed_makes_initialization_repeatable():
    """Initializers draw from mg.random's generator, as MXNet's from mx.random's."""
    def draw():
        p = mg.gluon.Parameter("w", shape=(3, 4))
        p.initialize(mg.init.Xavier())
        return p.data().asnumpy()
    mg.random.seed(11)
    first = draw()
    mg.random.seed(11)
    np.random.seed(99)  # numpy's own global generator plays no part
    np.testing.assert_array_equal(draw(), first)
    assert not np.array_equal(draw(), first)
