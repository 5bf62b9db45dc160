"""The normalization ops against MXNet 1.9.1 (tests/fixtures/norm, made by
tests/tools/make_norm_fixtures.py): outputs, gradients of data, gamma and beta, and
BatchNorm's moving statistics after two calls, eagerly and in a compiled graph."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, nd

FIXTURE = np.load(Path(__file__).parent.parent / "fixtures" / "norm" / "norm.npz")
CASES = sorted({k.split("/")[0] for k in FIXTURE.files if not k.startswith("layer/")})
TOL = {"float16": dict(rtol=2e-2, atol=2e-2), "float32": dict(rtol=1e-4, atol=2e-5),
       "float64": dict(rtol=1e-9, atol=1e-11)}


class OpBlock(mg.gluon.HybridBlock):
    """One registry op applied to the block's inputs."""

    def __init__(self, op, attrs):
        super().__init__()
        self._op, self._attrs = op, tuple(sorted(attrs.items()))

    def hybrid_forward(self, F, *args):
        return getattr(F, self._op)(*args, **dict(self._attrs))


def _case(name):
    op = str(FIXTURE[f"{name}/op"])
    attrs = json.loads(str(FIXTURE[f"{name}/attrs"]))
    train = bool(FIXTURE[f"{name}/train"])
    ins = [FIXTURE[f"{name}/in/{k}"] for k in range(5 if op == "BatchNorm" else 3)]
    return op, attrs, train, ins


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("name", CASES)
def test_op_matches_mxnet_after_two_calls(name, mode, monkeypatch, recwarn):
    op, attrs, train, ins = _case(name)
    # the mean and variance outputs are not lowered: that node runs on numpy, announced;
    # BatchNorm in training mode enters compiled graphs as F-ops (Op.compose), all lowered
    partly_numpy = attrs.get("output_mean_var") and not (op == "BatchNorm" and train)
    if partly_numpy:
        monkeypatch.delenv("MINIGLUON_JIT_STRICT", raising=False)
    tol = TOL[ins[0].dtype.name]
    block = OpBlock(op, attrs)
    block.hybridize(mode == "compiled")
    arrays = [nd.array(a, dtype=a.dtype) for a in ins]
    before = mg.jit.stats()["interpreted_calls"]
    for step, data in enumerate((ins[0], FIXTURE[f"{name}/in2/0"])):
        xs = [nd.array(data, dtype=data.dtype)] + arrays[1:]
        for x in xs[:3]:
            x.attach_grad()
        with autograd.record(train_mode=train):
            res = block(*xs)
        res = res if isinstance(res, list) else [res]
        if op == "BatchNorm" and step == 0:
            for k in (3, 4):  # the moving statistics, updated in place in training mode only
                np.testing.assert_allclose(xs[k].asnumpy(), FIXTURE[f"{name}/aux1/{k}"], **tol)
    res[0].backward(nd.array(FIXTURE[f"{name}/head"], dtype=ins[0].dtype))
    want = [FIXTURE[f"{name}/out/{j}"] for j in range(3) if f"{name}/out/{j}" in FIXTURE.files]
    assert len(res) == len(want), f"{name}: {len(res)} outputs, MXNet gives {len(want)}"
    for j, (got, exp) in enumerate(zip(res, want)):
        assert got.dtype == exp.dtype and got.shape == exp.shape, f"{name}: output {j}"
        np.testing.assert_allclose(got.asnumpy(), exp, **tol, err_msg=f"{name}: output {j}")
    for k in range(3):
        np.testing.assert_allclose(xs[k].grad.asnumpy(), FIXTURE[f"{name}/grad/{k}"], **tol,
                                   err_msg=f"{name}: gradient of input {k}")
    if op == "BatchNorm":
        for k in (3, 4):
            np.testing.assert_allclose(xs[k].asnumpy(), FIXTURE[f"{name}/aux/{k}"], **tol,
                                       err_msg=f"{name}: moving statistic {k}")
    if mode == "compiled" and not partly_numpy:
        assert mg.jit.stats()["interpreted_calls"] == before, f"{name}: interpreted"
    elif mode == "compiled":
        assert any("does not write every output" in str(w.message) for w in recwarn)


def test_moving_statistics_are_written_in_place_only_while_training():
    x = nd.array(np.arange(12, dtype=np.float32).reshape(4, 3))
    mm, mv = nd.zeros(3), nd.ones(3)
    held = mm._data
    nd.BatchNorm(x, nd.ones(3), nd.zeros(3), mm, mv)  # inference: the statistics stay
    np.testing.assert_array_equal(mm.asnumpy(), 0)
    with autograd.train_mode():
        nd.BatchNorm(x, nd.ones(3), nd.zeros(3), mm, mv, momentum=0.75)
    assert mm._data is held  # the same memory, as MXNet's auxiliary states
    np.testing.assert_allclose(mm.asnumpy(), 0.25 * np.array([4.5, 5.5, 6.5]), rtol=1e-6)
    np.testing.assert_allclose(mv.asnumpy(), 0.75 + 0.25 * 11.25, rtol=1e-6)


def test_use_global_stats_neither_uses_nor_updates_batch_statistics():
    x = nd.array(np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32))
    mm, mv = nd.array([0.5, -0.5]), nd.array([2.0, 0.5])
    with autograd.record():
        y = nd.BatchNorm(x, nd.ones(2), nd.zeros(2), mm, mv, use_global_stats=True, eps=0.0)
    np.testing.assert_allclose(y.asnumpy(), (x.asnumpy() - [0.5, -0.5]) / np.sqrt([2.0, 0.5]),
                               rtol=1e-6)
    np.testing.assert_array_equal(mv.asnumpy(), [2.0, 0.5])


def test_symbol_lists_auxiliary_states_apart():
    x = mg.sym.var("x")
    names = ["bn_gamma", "bn_beta", "bn_moving_mean", "bn_moving_var"]
    y = mg.sym.BatchNorm(x, *[mg.sym.var(n) for n in names], name="bn")
    assert y.list_arguments() == ["x", "bn_gamma", "bn_beta"]
    assert y.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert y.list_inputs() == ["x"] + names
    args, outs, aux = y.infer_shape(x=(2, 3, 4), bn_gamma=(3,), bn_beta=(3,),
                                    bn_moving_mean=(3,), bn_moving_var=(3,))
    assert args == [(2, 3, 4), (3,), (3,)] and outs == [(2, 3, 4)] and aux == [(3,), (3,)]
    three = mg.sym.BatchNorm(x, *[mg.sym.var(n) for n in names], output_mean_var=True)
    assert len(three.list_outputs()) == 3


@pytest.mark.parametrize("call,match", [
    (lambda: nd.BatchNorm(nd.ones((2, 3)), nd.ones(2), nd.ones(3), nd.ones(3), nd.ones(3)),
     r"gamma has shape \(2,\).*needs \(3,\)"),
    (lambda: nd.BatchNorm(nd.ones((2, 3)), *[nd.ones(3)] * 4, axis=2), "axis=2 is out of range"),
    (lambda: nd.BatchNorm(nd.ones((2, 3), dtype="float64"), *[nd.ones(3)] * 4),
     "gamma is float32, but data of float64 needs float64"),
    (lambda: nd.LayerNorm(nd.ones((2, 3)), nd.ones(2), nd.ones(3)), r"gamma has shape \(2,\)"),
    (lambda: nd.InstanceNorm(nd.ones((2, 3)), nd.ones(3), nd.ones(3)), "at least 3 axes"),
    (lambda: nd.GroupNorm(nd.ones((2, 3, 2)), nd.ones(2), nd.ones(2), num_groups=2),
     "num_groups=2"),
    (lambda: nd.GroupNorm(nd.ones((2, 4)), nd.ones(1), nd.ones(1)), "at least 3 axes"),
])
def test_bad_input_is_refused_naming_it(call, match):
    with pytest.raises(mg.base.MXNetError, match=match):
        call()
