"""Several CPU contexts: a parameter holds one copy per context, a block reads the copy on
its input's context, and a Trainer sums the copies' gradients and keeps them equal (with
or without updating on the kvstore), as MXNet 1.9.1 does."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import gluon, nd

CTXS = [mg.cpu(0), mg.cpu(1)]


def _param(ctx=CTXS, **kw):
    p = gluon.Parameter("w", shape=(2, 3), **kw)
    p.initialize(mg.init.Normal(1.0), ctx=ctx)
    return p


def test_each_context_holds_its_own_copy():
    p = _param()
    a, b = p.list_data()
    assert (a.context, b.context) == tuple(CTXS)
    assert p.data(mg.cpu(1)) is b and p.grad(mg.cpu(1)) is b.grad
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert not np.shares_memory(a._data, b._data)
    assert not np.shares_memory(a.grad._data, b.grad._data)
    assert [g.context for g in p.list_grad()] == CTXS
    with mg.cpu(1):  # no ctx given: the current context's copy
        assert p.data() is b


def test_reading_a_context_without_a_copy_names_the_contexts():
    p = _param()
    with pytest.raises(RuntimeError, match=r"not initialized on context cpu\(2\).*cpu\(0\), "
                                           r"cpu\(1\)"):
        p.data(mg.cpu(2))
    with pytest.raises(RuntimeError, match="not initialized on context cpu"):
        with mg.cpu(3):
            p.data()
    with pytest.raises(mg.MXNetError, match="CPU only"):
        _param(ctx=[mg.cpu(0), mg.gpu(0)])


def test_set_data_zero_grad_and_reset_ctx_act_on_every_copy():
    p = _param()
    p.set_data(nd.ones((2, 3)))
    assert all((d.asnumpy() == 1).all() for d in p.list_data())
    for i, g in enumerate(p.list_grad()):
        g[:] = i + 1
    p.zero_grad()
    assert all((g.asnumpy() == 0).all() for g in p.list_grad())
    p.list_data()[1][:] = 3  # copies apart: reset_ctx and save take their mean
    p.reset_ctx([mg.cpu(2), mg.cpu(3), mg.cpu(4)])
    assert p.list_ctx() == [mg.cpu(2), mg.cpu(3), mg.cpu(4)]
    assert all((d.asnumpy() == 2).all() for d in p.list_data())
    assert [d.context for d in p.list_data()] == p.list_ctx()


def test_a_deferred_parameter_keeps_its_contexts_until_its_shape_is_known():
    net = gluon.nn.Dense(2)
    net.initialize(ctx=CTXS)
    assert net.weight.list_ctx() == CTXS
    x = nd.ones((4, 5), ctx=mg.cpu(1))
    y = net(x)
    assert y.context == mg.cpu(1)
    assert [d.context for d in net.weight.list_data()] == CTXS


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_block_runs_on_its_inputs_context_and_writes_that_copys_gradient(hybridize):
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize(mg.init.Normal(1.0), ctx=CTXS)
    if hybridize:
        net.hybridize()
    data = nd.array(np.random.RandomState(0).randn(6, 4))
    parts = gluon.utils.split_and_load(data, CTXS)
    assert [x.context for x in parts] == CTXS
    with mg.autograd.record():
        outs = [net(x) for x in parts]
    for o in outs:
        o.backward()
    assert [o.context for o in outs] == CTXS
    w = net.weight.data(mg.cpu(0)).asnumpy()
    for x, o, g in zip(parts, outs, net.weight.list_grad()):
        np.testing.assert_allclose(o.asnumpy(), x.asnumpy() @ w.T + net.bias.data().asnumpy(),
                                   rtol=1e-5)
        # d(sum(x W^T))/dW = 1^T x: each copy's gradient comes from its own slice only
        np.testing.assert_allclose(g.asnumpy(), np.ones((3, 1)) * x.asnumpy().sum(0),
                                   rtol=1e-5)
    with pytest.raises(RuntimeError, match=r"not initialized on context cpu\(5\)"):
        net(nd.ones((1, 4), ctx=mg.cpu(5)))


def _train(ctxs, kvstore="device", update_on_kvstore=None, steps=2, optimizer="sgd"):
    """The weights after training a Dense layer on a fixed batch split over ctxs."""
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize(mg.init.Constant(0.5), ctx=ctxs)
    trainer = gluon.Trainer(net.collect_params(), optimizer,
                            {"learning_rate": 0.1, "momentum": 0.9} if optimizer == "sgd"
                            else {"learning_rate": 0.1},
                            kvstore=kvstore, update_on_kvstore=update_on_kvstore)
    data = nd.array(np.random.RandomState(1).randn(4, 3))
    label = nd.array(np.random.RandomState(2).randn(4, 2))
    loss = gluon.loss.L2Loss()
    for _ in range(steps):
        xs = gluon.utils.split_and_load(data, ctxs)
        ys = gluon.utils.split_and_load(label, ctxs)
        with mg.autograd.record():
            ls = [loss(net(x), y) for x, y in zip(xs, ys)]
        for v in ls:
            v.backward()
        trainer.step(4)
    return net, trainer


@pytest.mark.parametrize("kvstore,update_on_kvstore,on_kv", [
    ("device", None, True), ("local", False, False), ("device", True, True),
    (mg.kv.create("local"), None, True), (mg.kv.create("teststore"), None, False)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_on_two_contexts_equals_training_on_one(kvstore, update_on_kvstore, on_kv,
                                                         optimizer):
    one, _ = _train([mg.cpu(0)], optimizer=optimizer)
    two, trainer = _train(CTXS, kvstore, update_on_kvstore, optimizer=optimizer)
    assert trainer._update_on_kvstore is on_kv
    for name in ("weight", "bias"):
        want = getattr(one, name).data().asnumpy()
        got = [d.asnumpy() for d in getattr(two, name).list_data()]
        np.testing.assert_array_equal(got[0], got[1])
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


def test_one_context_makes_no_kvstore():
    _, trainer = _train([mg.cpu(1)])
    assert trainer._kvstore is None and trainer._update_on_kvstore is None


def test_allreduce_grads_sums_the_copies_and_is_refused_when_updating_on_kvstore():
    p = _param(grad_req="write")
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0}, update_on_kvstore=False)
    with mg.autograd.record():
        for i, w in enumerate(p.list_data()):
            ((i + 1) * w).backward()
    trainer.allreduce_grads()
    for g in p.list_grad():
        np.testing.assert_array_equal(g.asnumpy(), np.full((2, 3), 3.0))
    before = p.data(mg.cpu(0)).asnumpy()
    trainer.update(1)
    for d in p.list_data():
        np.testing.assert_allclose(d.asnumpy(), before - 3.0, rtol=1e-6)
    on_kv = gluon.Trainer([_param()], "sgd", update_on_kvstore=True)
    with pytest.raises(AssertionError, match="update_on_kvstore"):
        on_kv.allreduce_grads()
    with pytest.raises(AssertionError, match="update_on_kvstore"):
        on_kv.update(1)


def test_a_stale_copy_is_refused_and_nothing_changes():
    p = _param()
    trainer = gluon.Trainer([p], "sgd", {"learning_rate": 1.0})
    before = [d.asnumpy() for d in p.list_data()]
    with mg.autograd.record():
        p.data(mg.cpu(0)).sum().backward()  # the copy on cpu(1) is not reached
    with pytest.raises(mg.gluon.trainer.StaleGradientError, match=r"w on cpu\(1\)"):
        trainer.step(1)
    for b, d in zip(before, p.list_data()):
        np.testing.assert_array_equal(b, d.asnumpy())


def test_loading_parameters_resets_a_kvstore_holding_the_weights(tmp_path):
    params = gluon.ParameterDict()
    x = params.get("x", shape=(3,))
    params.initialize(mg.init.Zero(), ctx=CTXS)
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
    params.save(str(tmp_path / "x.params"))

    def step():
        with mg.autograd.record():
            for w in x.list_data():
                (w + 1).backward()
        trainer.step(1)
    step()
    assert trainer._update_on_kvstore and trainer._kvstore.type == "device"
    params.load(str(tmp_path / "x.params"))
    assert trainer._kvstore is None and not trainer._kv_initialized
    step()  # from the loaded zeros: -0.1 * (1 + 1)
    for d in x.list_data():
        np.testing.assert_allclose(d.asnumpy(), -0.2, rtol=1e-6)


def test_parameters_on_different_contexts_cannot_share_a_trainer():
    with pytest.raises(AssertionError, match="same set of contexts"):
        gluon.Trainer([_param(), _param(ctx=mg.cpu(0))], "sgd")


def test_an_lr_schedule_counts_one_update_per_step_on_several_contexts():
    for update_on_kvstore in (None, False):
        x = _param()
        sched = mg.lr_scheduler.FactorScheduler(2, factor=0.1, base_lr=1.0)
        trainer = gluon.Trainer([x], "sgd", {"learning_rate": 1.0, "lr_scheduler": sched},
                                update_on_kvstore=update_on_kvstore)
        rates = []
        for _ in range(5):
            with mg.autograd.record():
                for w in x.list_data():
                    w.sum().backward()
            trainer.step(1)
            rates.append(trainer.learning_rate)
        # counted twice (once per copy) the rate would fall a step early: [1, 0.1, 0.1, ...]
        np.testing.assert_allclose(rates, [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-6)


def test_kvstore_types():
    kv = mg.kv.create("local")
    a, b = nd.ones((2,)), nd.ones((2,)) * 2
    kv.init(3, nd.zeros((2,)))
    kv.pushpull(3, [a, b])
    np.testing.assert_array_equal(a.asnumpy(), [3, 3])
    np.testing.assert_array_equal(b.asnumpy(), [3, 3])
    with pytest.raises(mg.MXNetError, match="not been initialized"):
        kv.push(4, a)
    with pytest.raises(mg.MXNetError, match="distributed"):
        mg.kv.create("dist_sync")
    with pytest.raises(ValueError, match="unknown type"):
        mg.kv.create("nonsense")
    test = mg.kv.create("teststore")
    assert test.type == "teststore" and not test.is_capable("optimizer")
    x = _param()
    trainer = gluon.Trainer([x], "sgd", kvstore=test, update_on_kvstore=True)
    with pytest.raises(ValueError, match="update_on_kvstore=False"):
        trainer._init_kvstore()
