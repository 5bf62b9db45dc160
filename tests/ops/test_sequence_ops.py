"""repeat, SequenceMask, SequenceLast, L2Normalization, shape_array, size_array,
contrib.arange_like, MakeLoss, sort, argsort, topk and gather_nd against MXNet 1.9.1's
numbers (tests/fixtures/sequence, made by tests/tools/make_sequence_fixtures.py): outputs
and gradients, eagerly and compiled."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import MXNetError
from minigluon.compiler.pipeline import compile_graph

nd, sym = mg.nd, mg.sym
FIX = np.load(Path(__file__).parent.parent / "fixtures" / "sequence" / "ops.npz")
NAMES = sorted({k.split("/")[0] for k in FIX.files})
# ops without a lowering: they run as interpreted (numpy) steps of a compiled graph
INTERPRETED = {"shape_array", "size_array", "sort", "argsort", "topk"}


def _case(name):
    op = str(FIX[f"{name}/op"])
    attrs = json.loads(str(FIX[f"{name}/attrs"]))
    ins = [FIX[f"{name}/in/{k}"] for k in range(4) if f"{name}/in/{k}" in FIX.files]
    return op, attrs, ins, [int(k) for k in FIX[f"{name}/diff"]]


def _call(F, op, inputs, attrs):
    if op.startswith("_contrib_"):
        return getattr(F.contrib, op[len("_contrib_"):])(*inputs, **attrs)
    return getattr(F, op)(*inputs, **attrs)


def _tol(a):
    return {"rtol": 1e-5, "atol": 1e-6} if a.dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("name", NAMES)
def test_eager_output_and_gradient_match_mxnet(name):
    op, attrs, ins, diff = _case(name)
    xs = [nd.array(a, dtype=a.dtype) for a in ins]
    for k in diff:
        xs[k].attach_grad()
    with autograd.record():
        y = _call(nd, op, xs, attrs)
    want = FIX[f"{name}/out"]
    assert y.dtype == want.dtype and y.shape == want.shape
    np.testing.assert_allclose(y.asnumpy(), want, **_tol(want))
    if diff:
        y.backward(nd.array(FIX[f"{name}/head"], dtype=y.dtype))
        for k in diff:
            np.testing.assert_allclose(xs[k].grad.asnumpy(), FIX[f"{name}/grad/{k}"],
                                       **_tol(want), err_msg=f"{name}: gradient of input {k}")


@pytest.mark.parametrize("name", NAMES)
def test_compiled_output_and_gradient_match_mxnet(name):
    op, attrs, ins, diff = _case(name)
    vs = [sym.var(f"x{k}", shape=a.shape, dtype=str(a.dtype)) for k, a in enumerate(ins)]
    y = _call(sym, op, vs, attrs)
    names = [f"x{k}" for k in range(len(ins))]
    exe = compile_graph(y, names)
    want = FIX[f"{name}/out"]
    got = exe.run(ins)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **_tol(want))
    assert bool(exe.interpreted) == (op in INTERPRETED), exe.interpreted
    if not diff:
        return
    head = sym.var("head", shape=want.shape, dtype=str(want.dtype))
    grads = autograd.symbolic_grad([y], [vs[k] for k in diff], [head])
    g = sym.Group(grads)
    args = [n for n in names + ["head"] if n in g.list_arguments()]
    feed = dict(zip(names, ins)) | {"head": FIX[f"{name}/head"]}
    for k, got in zip(diff, compile_graph(g, args).run([feed[n] for n in args])):
        np.testing.assert_allclose(got, FIX[f"{name}/grad/{k}"], **_tol(want),
                                   err_msg=f"{name}: compiled gradient of input {k}")


def test_hybridized_custom_loss_matches_eager():
    """A loss written with these F-ops gives the same numbers eagerly and hybridized."""
    class MaskedL2(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, pred, lengths):
            z = F.SequenceMask(F.repeat(pred, repeats=2, axis=2), lengths,
                               use_sequence_length=True, axis=1)
            z = F.L2Normalization(z, mode="channel")
            return F.MakeLoss(F.sum(z, axis=(1, 2)) + F.sum(
                F.contrib.arange_like(lengths)), normalization="batch")

    rng = np.random.default_rng(3)
    pred, lengths = rng.standard_normal((2, 3, 2)).astype("float32"), np.array([1, 3], "float32")
    results = []
    for hybrid in (False, True):
        block = MaskedL2()
        if hybrid:
            block.hybridize()
        x = nd.array(pred)
        x.attach_grad()
        with autograd.record():
            loss = block(x, nd.array(lengths))
        loss.backward()
        results.append((loss.asnumpy(), x.grad.asnumpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6, atol=1e-6)
    # time steps the mask removed (entry 0 keeps one) get no gradient
    assert np.all(results[0][1][0, 1:] == 0) and np.any(results[0][1][1, 2] != 0)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.SequenceMask(nd.ones((3, 2)), nd.ones((3,)), use_sequence_length=True),
     r"sequence_length has shape \(3,\)"),
    (lambda: nd.SequenceLast(nd.ones((3, 2)), use_sequence_length=True),
     "sequence_length"),
    (lambda: nd.SequenceMask(nd.ones((3, 2)), axis=2), "axis must be 0 or 1"),
    (lambda: nd.L2Normalization(nd.ones((3, 2)), mode="spatial"), "spatial"),
    (lambda: nd.L2Normalization(nd.ones((3, 2)), mode="row"), "instance"),
    (lambda: nd.L2Normalization(nd.ones((3, 2), dtype="int32")), "floating-point"),
    (lambda: nd.repeat(nd.ones((3, 2)), repeats=-1), "repeats"),
    (lambda: nd.repeat(nd.ones((3, 2)), repeats=2, axis=2), "axis"),
    (lambda: nd.MakeLoss(nd.ones((3,)), normalization="mean"), "normalization"),
    (lambda: nd.topk(nd.ones((3, 2)), k=3), "k=3 is larger than the 2 elements"),
    (lambda: nd.argsort(nd.ones((3, 2)), dtype="bool"), "dtype"),
    (lambda: nd.gather_nd(nd.ones((3, 2)), nd.array([[1, 3]])), "out of bounds for axis 0"),
    (lambda: nd.gather_nd(nd.ones((3, 2)), nd.ones((3, 1))), "first axis of 1 to 2"),
])
def test_bad_arguments_raise_errors_naming_them(call, match):
    with pytest.raises((MXNetError, ValueError, TypeError, IndexError), match=match):
        call()


def test_contrib_namespaces_hold_the_contrib_ops():
    assert nd.contrib.arange_like is nd._internal._contrib_arange_like
    assert sym.contrib.arange_like is sym._internal._contrib_arange_like
    assert isinstance(sym.contrib.arange_like(sym.var("x")), sym.Symbol)


def test_axis_none_is_the_flattened_array_and_is_written_to_json():
    x = nd.array([[3, 1], [0, 2]])
    np.testing.assert_array_equal(nd.sort(x, axis=None).asnumpy(), [0, 1, 2, 3])
    assert '"axis": "None"' in sym.topk(sym.var("x"), axis=None).tojson()
