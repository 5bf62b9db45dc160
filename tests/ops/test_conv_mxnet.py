"""Convolution and Deconvolution against MXNet 1.9.1's numbers (tests/fixtures/conv, made by
tests/tools/make_conv_fixtures.py): outputs and data/weight/bias gradients, eager (the
tape) and compiled (the traced gradient graph), float32 and float64."""
import json
import os

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.compiler.pipeline import compile_graph

nd, sym = mg.nd, mg.sym
HERE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "conv")
with open(os.path.join(HERE, "cases.json")) as f:
    META = json.load(f)
FILES = sorted(n[:-4] for n in os.listdir(HERE) if n.endswith(".npz"))
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def _case(file):
    name, dtype = file.rsplit("_", 1)
    meta = META[name]
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["attrs"].items()}
    return meta["op"], attrs, dtype, dict(np.load(os.path.join(HERE, file + ".npz")))


def _names(fx):
    return [n for n in ("data", "weight", "bias") if n in fx]


def test_every_case_has_a_fixture():
    assert {f.rsplit("_", 1)[0] for f in FILES} == set(META)


@pytest.mark.parametrize("file", FILES)
def test_eager_output_and_gradients_match_mxnet(file):
    op, attrs, dtype, fx = _case(file)
    xs = [nd.array(fx[n], dtype=dtype) for n in _names(fx)]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        y = getattr(nd, op)(*xs, **attrs)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y.asnumpy(), fx["out"], **TOL[dtype])
    y.backward(nd.array(fx["head"], dtype=dtype))
    for n, x in zip(_names(fx), xs):
        assert x.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(x.grad.asnumpy(), fx["grad_" + n], **TOL[dtype],
                                   err_msg=f"{file}: gradient of {n}")


# compiled: float64 where MXNet has it (a tighter check, and half the compiles); the
# float32 path is compiled in tests/gluon/test_conv_layers.py
COMPILED = [f for f in FILES if f.endswith("float64") or f.replace("float32", "float64")
            not in FILES]


@pytest.mark.parametrize("file", COMPILED)
def test_compiled_output_and_gradients_match_mxnet(file):
    op, attrs, dtype, fx = _case(file)
    names = _names(fx)
    vs = [sym.var(n, shape=fx[n].shape, dtype=dtype) for n in names]
    y = getattr(sym, op)(*vs, **attrs)
    head = sym.var("head", shape=fx["out"].shape, dtype=dtype)
    grads = autograd.symbolic_grad([y], vs, [head])
    exe = compile_graph(sym.Group([y, *grads]), names + ["head"])
    assert not exe.interpreted, exe.schedule.format()
    got = exe.run([fx[n] for n in names] + [fx["head"]])
    np.testing.assert_allclose(got[0], fx["out"], **TOL[dtype])
    for n, g in zip(names, got[1:]):
        np.testing.assert_allclose(g, fx["grad_" + n], **TOL[dtype],
                                   err_msg=f"{file}: compiled gradient of {n}")
