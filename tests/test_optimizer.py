"""mg.optimizer: MXNet 1.9.1's update rules (checked against MXNet's own numbers in
tests/fixtures/optimizer, made by tests/tools/make_optimizer_fixtures.py), the registry,
learning rates and multipliers, multi-precision, and the Updater's states."""
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg

nd = mg.nd
FIXTURES = np.load(Path(__file__).parent / "fixtures" / "optimizer" / "optimizers.npz")
CASES = sorted({k.split("/")[0] for k in FIXTURES.files})


def _make(spec: dict) -> mg.optimizer.Optimizer:
    kwargs = dict(spec["kwargs"])
    if "lr_scheduler" in kwargs:
        cls, sched_kwargs = kwargs["lr_scheduler"]
        kwargs["lr_scheduler"] = getattr(mg.lr_scheduler, cls)(**sched_kwargs)
    if "param_idx2name" in kwargs:  # JSON made the int keys strings
        kwargs["param_idx2name"] = {int(k): v for k, v in kwargs["param_idx2name"].items()}
    return mg.optimizer.create(spec["optimizer"], **kwargs)


def test_the_fixtures_cover_every_optimizer_and_dtype():
    specs = [json.loads(str(FIXTURES[f"{c}/spec"])) for c in CASES]
    assert {s["optimizer"] for s in specs} == {"sgd", "nag", "adam", "rmsprop", "adagrad", "adadelta"}
    assert {s["dtype"] for s in specs} == {"float16", "float32", "float64"}
    assert any(s["kwargs"].get("centered") for s in specs)


@pytest.mark.parametrize("case", CASES)
def test_updates_match_mxnet(case):
    spec = json.loads(str(FIXTURES[f"{case}/spec"]))
    dtype = spec["dtype"]
    updater = mg.optimizer.get_updater(_make(spec))
    weights = [nd.array(w, dtype=dtype) for w in FIXTURES[f"{case}/w0"]]
    grads, expected = FIXTURES[f"{case}/g"], FIXTURES[f"{case}/w"]
    for step in range(grads.shape[0]):
        for i, w in enumerate(weights):
            g = nd.array(grads[step, i], dtype=dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # float16 without multi_precision warns
                updater(i, g, w)
            np.testing.assert_array_equal(g.asnumpy(), grads[step, i])  # grad left as it was
            assert w.dtype == np.dtype(dtype)
            np.testing.assert_allclose(w.asnumpy(), expected[step, i], rtol=1e-6, atol=0,
                                       err_msg=f"{case}: step {step}, weight {i}")


# --- registry ---------------------------------------------------------------------------------
def test_create_by_name_is_case_insensitive_with_mxnet_defaults():
    assert type(mg.optimizer.create("SGD")) is mg.optimizer.SGD
    adam = mg.optimizer.create("adam")
    assert isinstance(adam, mg.optimizer.Adam) and adam.learning_rate == 0.001
    assert (adam.beta1, adam.beta2, adam.epsilon) == (0.9, 0.999, 1e-8)
    assert mg.optimizer.create("sgd").learning_rate == 0.01
    rms = mg.optimizer.Optimizer.create_optimizer("rmsprop", centered=True)
    assert rms.centered and rms.gamma1 == 0.9 and rms.learning_rate == 0.001
    for name, cls in [("nag", "NAG"), ("adagrad", "AdaGrad"), ("adadelta", "AdaDelta")]:
        assert type(mg.optimizer.create(name)).__name__ == cls


def test_unknown_names_and_options_are_refused():
    with pytest.raises(ValueError, match="Cannot find optimizer 'lbfgs'"):
        mg.optimizer.create("lbfgs")
    # MXNet's constructors raise TypeError for an unknown keyword
    with pytest.raises(TypeError, match="has no option 'lr'"):
        mg.optimizer.create("sgd", lr=0.1)
    with pytest.raises(ValueError, match="has no option 'momentum'.*beta1"):
        mg.optimizer.create("adam", momentum=0.9)


def test_register_a_custom_optimizer_and_warn_on_override():
    @mg.optimizer.register
    class HalfStep(mg.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] = weight - 0.5 * grad

    try:
        opt = mg.optimizer.create("halfstep")
        w = nd.array([1.0, 2.0])
        mg.optimizer.get_updater(opt)(0, nd.array([2.0, 2.0]), w)
        np.testing.assert_array_equal(w.asnumpy(), [0.0, 1.0])
        with pytest.warns(UserWarning, match="overriding existing optimizer"):
            mg.optimizer.register(HalfStep)
    finally:
        mg.optimizer.Optimizer.opt_registry.pop("halfstep")


# --- learning rate, multipliers, counts ------------------------------------------------------
def test_learning_rate_and_scheduler():
    sched = mg.lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    opt = mg.optimizer.create("sgd", lr_scheduler=sched)
    assert opt.learning_rate == 1.0
    with pytest.raises(UserWarning, match="LRScheduler of the optimizer has already been defined"):
        opt.set_learning_rate(0.3)
    w = nd.zeros((2,))
    updater = mg.optimizer.get_updater(opt)
    for _ in range(3):
        updater(0, nd.ones((2,)), w)
    # rates 1.0, 0.5, 0.25 at counts 1, 2, 3; the next one is the scheduler's at count 3
    np.testing.assert_allclose(w.asnumpy(), -1.75)
    assert opt.num_update == 3 and opt.learning_rate == 0.25
    with pytest.warns(UserWarning, match="overwritten"):
        over = mg.optimizer.create("sgd", learning_rate=0.2,
                                   lr_scheduler=mg.lr_scheduler.FactorScheduler(2, base_lr=1.0))
    assert over.lr_scheduler.base_lr == 0.2 and over.learning_rate == 0.2
    plain = mg.optimizer.create("sgd", learning_rate=0.1)
    plain.set_learning_rate(0.05)
    assert plain.learning_rate == 0.05


def test_wd_mult_defaults_from_names_and_explicit_multipliers():
    names = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma", 3: "bn_beta"}
    opt = mg.optimizer.create("sgd", wd=0.1, learning_rate=0.5, param_idx2name=names)
    assert [opt._get_wd(i) for i in range(4)] == [0.1, 0.0, 0.1, 0.0]
    opt.set_wd_mult({"fc_bias": 2.0, 0: 0.5})
    assert [opt._get_wd(i) for i in range(4)] == [0.05, 0.2, 0.1, 0.0]
    opt.set_lr_mult({"bn_gamma": 0.1, 3: 4.0})
    assert [opt._get_lr(i) for i in range(4)] == [0.5, 0.5, 0.05, 2.0]

    class P:  # a Trainer's Parameter: its own multipliers take precedence
        lr_mult, wd_mult = 3.0, 0.0
    opt.param_dict = {1: P()}
    assert opt._get_lr(1) == 1.5 and opt._get_wd(1) == 0.0


def test_update_counts_are_per_index_and_adam_corrects_with_its_own():
    opt = mg.optimizer.create("adam", learning_rate=0.1)
    updater = mg.optimizer.get_updater(opt)
    a, b = nd.zeros((1,)), nd.zeros((1,))
    for _ in range(3):
        updater(0, nd.ones((1,)), a)
    updater(1, nd.ones((1,)), b)
    assert opt._index_update_count == {0: 3, 1: 1} and opt.num_update == 3
    # b's first update: mean = 0.1, var = 0.001, lr_t = 0.1 * sqrt(0.001) / 0.1
    lr_t = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    # (float32 rounds 1 - 0.999: a loose tolerance; a count of 3 would give -0.0202)
    np.testing.assert_allclose(b.asnumpy(), -lr_t * 0.1 / (np.sqrt(0.001) + 1e-8), rtol=1e-4)


# --- multi-precision --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sgd", "nag", "adam"])
def test_multi_precision_keeps_a_float32_master_copy(name):
    opt = mg.optimizer.create(name, learning_rate=1e-4, multi_precision=True, momentum=0.0) \
        if name != "adam" else mg.optimizer.create(name, learning_rate=1e-4, multi_precision=True)
    w = nd.ones((3,), dtype="float16")
    state = opt.create_state_multi_precision(0, w)
    masters = [s for s in state if isinstance(s, nd.NDArray) and s.dtype == np.float32]
    assert len(masters) == 1 and masters[0] is not w
    for _ in range(20):
        opt.update_multi_precision(0, w, nd.ones((3,), dtype="float16"), state)
    # each step (1e-4) is below half a float16 ulp at 1.0, but the master copy adds them up
    np.testing.assert_allclose(masters[0].asnumpy(), 1 - 20e-4, rtol=1e-5)
    assert w.dtype == np.float16 and w.asnumpy()[0] == np.float16(1 - 20e-4)


def test_float16_without_multi_precision_warns_and_loses_small_steps():
    opt = mg.optimizer.create("sgd", learning_rate=1e-4)
    w = nd.ones((2,), dtype="float16")
    with pytest.warns(UserWarning, match="multi_precision=True"):
        state = opt.create_state_multi_precision(0, w)
    for _ in range(5):
        opt.update_multi_precision(0, w, nd.ones((2,), dtype="float16"), state)
    np.testing.assert_array_equal(w.asnumpy(), [1.0, 1.0])


# --- bad input --------------------------------------------------------------------------------
def test_bad_updates_are_named():
    opt = mg.optimizer.create("sgd")
    w = nd.zeros((2, 3))
    with pytest.raises(ValueError, match=r"grad shape \(3, 2\) does not match weight shape \(2, 3\)"):
        opt.update(0, w, nd.zeros((3, 2)), None)
    with pytest.raises(mg.MXNetError, match="grad dtype float64 does not match weight dtype float32"):
        opt.update(0, w, nd.zeros((2, 3), dtype="float64"), None)
    with pytest.raises(AssertionError, match="must be NDArrays"):
        opt.update(0, w, np.zeros((2, 3), np.float32), None)
    np.testing.assert_array_equal(w.asnumpy(), 0)
    with pytest.raises(AssertionError, match="param_idx2name"):
        mg.optimizer.create("sgd", param_idx2name=[(0, "w")])


# --- updater states ---------------------------------------------------------------------------
def _steps(updater, weights, grads):
    for g in grads:
        for i, w in enumerate(weights):
            updater(i, nd.array(g * (i + 1)), w)


@pytest.mark.parametrize("name,kwargs", [("sgd", {"momentum": 0.9, "learning_rate": 0.1}),
                                         ("adam", {"learning_rate": 0.01}),
                                         ("rmsprop", {"centered": True}),
                                         ("adadelta", {})])
def test_states_round_trip_continue_exactly(name, kwargs):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(4)]
    w0 = rng.normal(size=(2, 3)).astype(np.float32)
    straight = [nd.array(w0), nd.array(w0)]
    _steps(mg.optimizer.get_updater(mg.optimizer.create(name, **kwargs)), straight, grads)

    first = mg.optimizer.get_updater(mg.optimizer.create(name, **kwargs))
    resumed = [nd.array(w0), nd.array(w0)]
    _steps(first, resumed, grads[:2])
    blob = first.get_states(dump_optimizer=True)
    second = mg.optimizer.get_updater(mg.optimizer.create(name, **kwargs))
    second.set_states(blob)
    assert second.optimizer.num_update == 2 and second.optimizer._index_update_count == {0: 2, 1: 2}
    for k, s in first.states.items():
        flat = s if isinstance(s, tuple) else (s,)
        again = second.states[k] if isinstance(second.states[k], tuple) else (second.states[k],)
        for a, b in zip(flat, again):
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
            assert a is not b
    _steps(second, resumed, grads[2:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_set_states_never_unpickles():
    updater = mg.optimizer.get_updater(mg.optimizer.create("sgd"))
    with pytest.raises(mg.MXNetError, match="not a minigluon states file"):
        updater.set_states(pickle.dumps({0: None}))
    other = mg.optimizer.get_updater(mg.optimizer.create("adam"))
    other(0, nd.ones((2,)), nd.zeros((2,)))
    with pytest.raises(mg.MXNetError, match="saved by a Adam optimizer, loading into a SGD"):
        updater.set_states(other.get_states(dump_optimizer=True))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_lists_of_weights_update_like_one_at_a_time(name):
    # MXNet's multi-tensor form: update_multi_precision([0, 1], weights, grads, states)
    rng = np.random.default_rng(2)
    w0, g = rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=(2, 4)).astype(np.float32)
    together = mg.optimizer.create(name, momentum=0.9) if name == "sgd" else mg.optimizer.create(name)
    apart = mg.optimizer.create(name, momentum=0.9) if name == "sgd" else mg.optimizer.create(name)
    ws, single = [nd.array(w) for w in w0], [nd.array(w) for w in w0]
    states = [together.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
    together.update_multi_precision([0, 1], ws, [nd.array(x) for x in g], states)
    for i, w in enumerate(single):
        apart.update_multi_precision(i, w, nd.array(g[i]), apart.create_state_multi_precision(i, w))
    for a, b in zip(ws, single):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert not np.array_equal(ws[0].asnumpy(), w0[0])
    with pytest.raises(ValueError, match="2 indices, 1 weights"):
        together.update_multi_precision([0, 1], ws[:1], g, states)


def test_damaged_states_are_refused_and_change_nothing():
    import io
    import json as _json
    updater = mg.optimizer.get_updater(mg.optimizer.create("sgd", momentum=0.9))
    updater(0, nd.ones((2,)), nd.zeros((2,)))
    good = updater.get_states(dump_optimizer=True)
    with np.load(io.BytesIO(good)) as z:
        doc, arrays = _json.loads(str(z["__doc__"])), {k: z[k] for k in z.files if k != "__doc__"}

    def damaged(change):
        d = _json.loads(_json.dumps(doc))
        change(d)
        buf = io.BytesIO()
        np.savez(buf, __doc__=np.array(_json.dumps(d)), **arrays)
        return buf.getvalue()

    fresh = mg.optimizer.get_updater(mg.optimizer.create("sgd", momentum=0.9))
    for change in (lambda d: d["states"][0][1].update(array="missing"),
                   lambda d: d["optimizer"].pop("counts"),
                   lambda d: d.update(format="pickle")):
        with pytest.raises(mg.MXNetError, match="damaged|unknown format"):
            fresh.set_states(damaged(change))
        assert fresh.states == {} and fresh.optimizer.num_update == 0
    # a saved attribute the optimizer does not have is not set
    fresh.set_states(damaged(lambda d: d["optimizer"]["scalars"].update(update="boom")))
    assert callable(fresh.optimizer.update) and fresh.optimizer.num_update == 1
