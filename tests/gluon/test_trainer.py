"""gluon.Trainer: MXNet 1.9.1's signature and behaviour on one device: parameter order,
multi-step numbers (against the optimizer applied by hand), lr_mult, schedulers,
set_learning_rate, allreduce_grads + update, grad_req 'add' and 'null', save/load states."""
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.gluon.trainer import StaleGradientError

nd = mg.nd
TRAINER = np.load(Path(__file__).parents[1] / "fixtures" / "optimizer" / "trainer.npz")


def _param(name="x", shape=(3,), value=0.0, dtype="float32", **kwargs):
    p = mg.gluon.Parameter(name, shape=shape, dtype=dtype, **kwargs)
    p.initialize(init=mg.init.Constant(value))
    return p


def _backward(*pairs):
    """One backward through sum(p * coef) for each (parameter, coef): d/dp = coef."""
    with autograd.record():
        total = None
        for p, coef in pairs:
            term = (p.data() * nd.array(coef, dtype=p.dtype)).sum()
            total = term if total is None else total + term
    total.backward()


def test_params_from_dict_are_taken_in_sorted_order_and_bad_params_refused():
    b, a = _param("b"), _param("a")
    trainer = mg.gluon.Trainer({"b": b, "a": a}, "sgd")
    assert [p.name for p in trainer._params] == ["a", "b"]
    assert trainer._optimizer.param_dict == {0: a, 1: b}
    assert [p.name for p in mg.gluon.Trainer([b, a], "sgd")._params] == ["b", "a"]
    with pytest.raises(ValueError, match="list or dict of Parameters, got <class 'int'>"):
        mg.gluon.Trainer(3, "sgd")
    with pytest.raises(ValueError, match="got list of <class 'str'>"):
        mg.gluon.Trainer(["a"], "sgd")
    with pytest.raises(AssertionError, match="optimizer_params must be None"):
        mg.gluon.Trainer([a], mg.optimizer.SGD(), {"learning_rate": 0.1})
    with pytest.raises(mg.MXNetError, match="distributed training is not supported"):
        mg.gluon.Trainer([a], "sgd", kvstore="dist_sync")
    sgd = mg.optimizer.create("sgd", learning_rate=0.3)
    trainer = mg.gluon.Trainer([a], sgd)
    assert trainer.optimizer is sgd and sgd.param_dict == {0: a} and trainer.learning_rate == 0.3
    assert trainer._kvstore is None and trainer._update_on_kvstore is None


@pytest.mark.parametrize("case", sorted({k.split("/")[0] for k in TRAINER.files}))
def test_steps_match_mxnet_trainer(case):
    # MXNet 1.9.1's Trainer on a dict of two Parameters (weight: lr_mult 0.5; bias: wd_mult 0),
    # step(4): the order, the multipliers and rescale_grad = rescale_grad / batch_size
    spec = json.loads(str(TRAINER[f"{case}/spec"]))
    a, b = _param("net_weight", shape=(2, 3)), _param("net_bias")
    a.set_data(nd.array(TRAINER[f"{case}/a0"]))
    b.set_data(nd.array(TRAINER[f"{case}/b0"]))
    a.lr_mult, b.wd_mult = 0.5, 0.0
    trainer = mg.gluon.Trainer({"net_weight": a, "net_bias": b}, spec["optimizer"], spec["params"])
    for k in range(TRAINER[f"{case}/x"].shape[0]):
        _backward((a, TRAINER[f"{case}/x"][k]), (b, TRAINER[f"{case}/y"][k]))
        trainer.step(spec["batch_size"])
        np.testing.assert_allclose(a.data().asnumpy(), TRAINER[f"{case}/a"][k], rtol=1e-6)
        np.testing.assert_allclose(b.data().asnumpy(), TRAINER[f"{case}/b"][k], rtol=1e-6)


def test_momentum_and_lr_mult_over_two_steps():
    # lr 1, momentum 0.5, grad 1: mom = -1, x = -1; then lr_mult 0.5: mom = 0.5 * -1 - 0.5 = -1,
    # x = -2 (MXNet's test_trainer, on one device)
    x = _param()
    trainer = mg.gluon.Trainer([x], "sgd", {"learning_rate": 1.0, "momentum": 0.5})
    _backward((x, np.ones(3)))
    trainer.step(1)
    np.testing.assert_array_equal(x.data().asnumpy(), -1.0)
    x.lr_mult = 0.5
    _backward((x, np.ones(3)))
    trainer.step(1)
    np.testing.assert_array_equal(x.data().asnumpy(), -2.0)


@pytest.mark.parametrize("name,kwargs", [("adam", {"learning_rate": 0.1, "wd": 0.01}),
                                         ("nag", {"momentum": 0.9, "clip_gradient": 0.5}),
                                         ("rmsprop", {"centered": True}),
                                         ("adagrad", {}), ("adadelta", {"rho": 0.5})])
def test_steps_equal_the_optimizer_applied_with_rescale_grad(name, kwargs):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(2, 3)) for _ in range(3)]
    x = _param(shape=(2, 3), value=0.5, dtype="float64")
    trainer = mg.gluon.Trainer([x], name, dict(kwargs, rescale_grad=2.0))
    by_hand = mg.optimizer.create(name, **kwargs, rescale_grad=2.0 / 4)
    w, state = nd.array(np.full((2, 3), 0.5), dtype="float64"), None
    state = by_hand.create_state(0, w)
    for g in grads:
        _backward((x, g))
        trainer.step(4)
        by_hand.update(0, w, nd.array(g, dtype="float64"), state)
        np.testing.assert_array_equal(x.data().asnumpy(), w.asnumpy())
    assert x.data().dtype == np.float64
    assert not np.allclose(w.asnumpy(), 0.5)


def test_scheduler_drives_the_rate():
    # FactorScheduler(2, 0.1): counts 1, 2 use 1.0, counts 3, 4 use 0.1, ...
    x = _param()
    sched = mg.lr_scheduler.FactorScheduler(2, factor=0.1, base_lr=1.0)
    trainer = mg.gluon.Trainer([x], "sgd", {"learning_rate": 1.0, "lr_scheduler": sched})
    rates = []
    for _ in range(5):
        _backward((x, np.ones(3)))
        trainer.step(1)
        rates.append(trainer.learning_rate)
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    np.testing.assert_allclose(x.data().asnumpy(), -(1 + 1 + 0.1 + 0.1 + 0.01), rtol=1e-6)
    with pytest.raises(UserWarning, match="LRScheduler of the optimizer has already been defined"):
        trainer.set_learning_rate(0.5)


def test_set_learning_rate_applies_to_the_next_step():
    x = _param()
    trainer = mg.gluon.Trainer([x], "sgd", {"learning_rate": 0.1})
    assert trainer.learning_rate == 0.1
    trainer.set_learning_rate(0.5)
    assert trainer.learning_rate == 0.5
    _backward((x, np.ones(3)))
    trainer.step(1)
    np.testing.assert_allclose(x.data().asnumpy(), -0.5)


def test_allreduce_then_update_lets_gradients_be_changed_in_between():
    x = _param()
    trainer = mg.gluon.Trainer([x], "sgd", {"learning_rate": 1.0})
    _backward((x, [4.0, -2.0, 1.0]))
    trainer.allreduce_grads()
    x.grad()[:] = x.grad() * 0.5
    trainer.update(2)  # rescale_grad 1 / 2
    np.testing.assert_allclose(x.data().asnumpy(), [-1.0, 0.5, -0.25])
    with pytest.raises(StaleGradientError):
        trainer.update(2)


def test_grad_req_add_accumulates_and_null_is_skipped():
    x, frozen = _param("x"), _param("frozen", value=1.0)
    x.grad_req = "add"
    frozen.grad_req = "null"
    trainer = mg.gluon.Trainer([x, frozen], "sgd", {"learning_rate": 1.0})
    _backward((x, np.ones(3)))
    _backward((x, np.full(3, 2.0)))
    trainer.step(1)  # the sum of both gradients; MXNet does not zero them after a step
    np.testing.assert_allclose(x.data().asnumpy(), -3.0)
    np.testing.assert_array_equal(frozen.data().asnumpy(), 1.0)
    _backward((x, np.ones(3)))
    trainer.step(1)
    np.testing.assert_allclose(x.data().asnumpy(), -3.0 - 4.0)


def test_batch_size_must_be_positive():
    x = _param()
    trainer = mg.gluon.Trainer([x], "sgd")
    _backward((x, np.ones(3)))
    for bad in (0, -2, "4"):
        with pytest.raises(ValueError, match="batch_size must be a positive number"):
            trainer.step(bad)
    np.testing.assert_array_equal(x.data().asnumpy(), 0.0)


@pytest.mark.parametrize("name,kwargs", [("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
                                         ("adam", {"learning_rate": 0.1}),
                                         ("sgd", {"learning_rate": 1.0, "lr_scheduler":
                                                  mg.lr_scheduler.FactorScheduler(1, 0.5, base_lr=1.0)})])
def test_save_and_load_states_resume_exactly(tmp_path, name, kwargs):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=3) for _ in range(4)]
    fname = str(tmp_path / "t.states")

    def make():
        fresh = {k: (type(v)(v.step, v.factor, base_lr=1.0) if k == "lr_scheduler" else v)
                 for k, v in kwargs.items()}
        x = _param(value=0.25)
        return x, mg.gluon.Trainer([x], name, fresh)

    x, trainer = make()
    for g in grads[:2]:
        _backward((x, g))
        trainer.step(1)
    trainer.save_states(fname)
    saved, saved_lr = x.data().asnumpy().copy(), trainer.learning_rate
    for g in grads[2:]:
        _backward((x, g))
        trainer.step(1)

    y, again = make()
    y.set_data(nd.array(saved))
    if "lr_scheduler" not in kwargs:
        again.set_learning_rate(7.0)  # the file's rate replaces it
    again.load_states(fname)
    assert again.learning_rate == pytest.approx(saved_lr)
    for g in grads[2:]:
        _backward((y, g))
        again.step(1)
    np.testing.assert_array_equal(y.data().asnumpy(), x.data().asnumpy())
    assert zipfile.is_zipfile(fname)  # arrays and JSON: nothing in it is unpickled
    np.load(fname, allow_pickle=False).close()


def test_loaded_states_use_the_current_lr_mult(tmp_path):
    # MXNet's test_trainer_save_load: multipliers come from the Parameters, not the file
    x = _param()
    x.lr_mult = 1.0
    trainer = mg.gluon.Trainer([x], "sgd", {"learning_rate": 0.1})
    _backward((x, np.ones(3)))
    trainer.step(1)
    assert trainer._updaters[0].optimizer._get_lr(0) == 0.1
    trainer.save_states(str(tmp_path / "t.states"))
    trainer.load_states(str(tmp_path / "t.states"))
    x.lr_mult = 2.0
    assert trainer._updaters[0].optimizer._get_lr(0) == 0.2
    assert trainer._optimizer is trainer._updaters[0].optimizer


def test_load_states_of_another_optimizer_is_refused(tmp_path):
    x = _param()
    adam = mg.gluon.Trainer([x], "adam")
    _backward((x, np.ones(3)))
    adam.step(1)
    adam.save_states(str(tmp_path / "a.states"))
    with pytest.raises(mg.MXNetError, match="saved by a Adam optimizer, loading into a SGD"):
        mg.gluon.Trainer([x], "sgd").load_states(str(tmp_path / "a.states"))


def test_float16_parameters_train_through_a_float32_master_copy():
    w = _param(value=1.0, dtype="float16")
    trainer = mg.gluon.Trainer([w], "sgd", {"learning_rate": 1e-4, "multi_precision": True})
    for _ in range(20):
        _backward((w, np.ones(3)))
        trainer.step(1)
    # each step is below half a float16 ulp at 1.0: only the master copy accumulates them
    assert w.data().dtype == np.float16
    np.testing.assert_array_equal(w.data().asnumpy(), np.float16(1 - 20e-4))
    master = trainer._updaters[0].states[0][1]
    assert master.dtype == np.float32 and master.asnumpy()[0] == pytest.approx(1 - 20e-4, rel=1e-6)
