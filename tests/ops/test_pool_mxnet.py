"""Pooling, Pad and Embedding against MXNet 1.9.1's numbers (tests/fixtures/pool, made by
tests/tools/make_pool_fixtures.py): outputs and gradients, eagerly and compiled, with no
step left to the interpreter."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.compiler.pipeline import compile_graph

nd, sym = mg.nd, mg.sym
FIX = np.load(Path(__file__).parent.parent / "fixtures" / "pool" / "ops.npz")
NAMES = sorted({k.split("/")[0] for k in FIX.files})


def _case(name):
    op = str(FIX[f"{name}/op"])
    attrs = json.loads(str(FIX[f"{name}/attrs"]))
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}
    ins = [FIX[f"{name}/in/{k}"] for k in range(3) if f"{name}/in/{k}" in FIX.files]
    return op, attrs, ins, [int(k) for k in FIX[f"{name}/diff"]]


def _tol(a):
    return {"rtol": 1e-5, "atol": 1e-6} if a.dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("name", NAMES)
def test_eager_output_and_gradient_match_mxnet(name):
    op, attrs, ins, diff = _case(name)
    xs = [nd.array(a, dtype=a.dtype) for a in ins]
    for k in diff:
        xs[k].attach_grad()
    with autograd.record():
        y = getattr(nd, op)(*xs, **attrs)
    want = FIX[f"{name}/out"]
    assert y.dtype == want.dtype and y.shape == want.shape
    np.testing.assert_allclose(y.asnumpy(), want, **_tol(want))
    y.backward(nd.array(FIX[f"{name}/head"], dtype=y.dtype))
    for k in diff:
        np.testing.assert_allclose(xs[k].grad.asnumpy(), FIX[f"{name}/grad/{k}"],
                                   **_tol(want), err_msg=f"{name}: gradient of input {k}")


@pytest.mark.parametrize("name", NAMES)
def test_compiled_output_and_gradient_match_mxnet(name):
    op, attrs, ins, diff = _case(name)
    vs = [sym.var(f"x{k}", shape=a.shape, dtype=str(a.dtype)) for k, a in enumerate(ins)]
    y = getattr(sym, op)(*vs, **attrs)
    names = [f"x{k}" for k in range(len(ins))]
    exe = compile_graph(y, names)
    want = FIX[f"{name}/out"]
    got = exe.run(ins)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **_tol(want))
    assert not exe.interpreted, exe.interpreted
    head = sym.var("head", shape=want.shape, dtype=str(want.dtype))
    grads = autograd.symbolic_grad([y], [vs[k] for k in diff], [head])
    g = sym.Group(grads)
    args = [n for n in names + ["head"] if n in g.list_arguments()]
    feed = dict(zip(names, ins)) | {"head": FIX[f"{name}/head"]}
    exe = compile_graph(g, args)
    assert not exe.interpreted, exe.interpreted
    for k, got in zip(diff, exe.run([feed[n] for n in args])):
        np.testing.assert_allclose(got, FIX[f"{name}/grad/{k}"], **_tol(want),
                                   err_msg=f"{name}: compiled gradient of input {k}")
