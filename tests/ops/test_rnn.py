"""The fused RNN op against MXNet 1.9.1's numbers (tests/fixtures/rnn, made by
tests/tools/make_rnn_fixtures.py), eagerly and compiled, and its refusals."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import MXNetError
from minigluon.compiler.pipeline import compile_graph
from minigluon.ops.rnn import param_size

nd, sym = mg.nd, mg.sym
FIXTURES = np.load(Path(__file__).parents[1] / "fixtures" / "rnn" / "rnn.npz")
OP_CASES = sorted({k.split("/")[1] for k in FIXTURES.files if k.startswith("op/")})


def _case(name):
    key = f"op/{name}/"
    attrs = json.loads(str(FIXTURES[key + "attrs"]))
    n_in = 4 if attrs["mode"] == "lstm" else 3
    ins = [FIXTURES[f"{key}in/{k}"] for k in range(n_in)]
    outs = [FIXTURES[f"{key}out/{k}"] for k in range(n_in - 1)]
    heads = [FIXTURES[f"{key}head/{k}"] for k in range(n_in - 1)]
    grads = [FIXTURES[f"{key}grad/{k}"] for k in range(n_in)]
    return attrs, ins, outs, heads, grads


def _tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}


@pytest.mark.parametrize("name", OP_CASES)
def test_eager_outputs_and_gradients_match_mxnet(name):
    attrs, ins, want_outs, heads, want_grads = _case(name)
    xs = [nd.array(a, dtype=a.dtype) for a in ins]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        outs = nd.RNN(*xs, state_outputs=True, **attrs)
    outs = outs[:len(want_outs)]
    autograd.backward(outs, [nd.array(h, dtype=h.dtype) for h in heads])
    for k, (o, w) in enumerate(zip(outs, want_outs)):
        assert o.dtype == w.dtype
        np.testing.assert_allclose(o.asnumpy(), w, **_tol(w.dtype), err_msg=f"output {k}")
    for k, (x, w) in enumerate(zip(xs, want_grads)):
        np.testing.assert_allclose(x.grad.asnumpy(), w, **_tol(w.dtype), err_msg=f"grad {k}")


@pytest.mark.parametrize("name", OP_CASES)
def test_compiled_outputs_and_gradients_match_mxnet_without_interpreting(name):
    attrs, ins, want_outs, heads, want_grads = _case(name)
    dt = str(ins[0].dtype)
    vs = [sym.var(f"x{k}", shape=a.shape, dtype=dt) for k, a in enumerate(ins)]
    y = sym.RNN(*vs, state_outputs=True, **attrs)
    outs = [y[k] for k in range(len(want_outs))]
    hs = [sym.var(f"head{k}", shape=h.shape, dtype=dt) for k, h in enumerate(heads)]
    grads = autograd.symbolic_grad(outs, vs, hs)
    graph = sym.Group(outs + grads)
    names = [f"x{k}" for k in range(len(ins))] + [f"head{k}" for k in range(len(heads))]
    exe = compile_graph(graph, names)
    assert not exe.interpreted
    got = exe.run(list(ins) + list(heads))
    for k, w in enumerate(want_outs + want_grads):
        np.testing.assert_allclose(got[k], w, **_tol(w.dtype), err_msg=f"result {k}")


def _inputs(mode="lstm", t=3, n=2, i=3, h=2, layers=1, bi=False, dtype="float32"):
    attrs = {"mode": mode, "state_size": h, "num_layers": layers, "bidirectional": bi}
    rng = np.random.default_rng(3)
    d = 2 if bi else 1
    ins = [rng.uniform(-1, 1, (t, n, i)), rng.uniform(-0.5, 0.5, param_size(attrs, i)),
           rng.uniform(-1, 1, (layers * d, n, h))]
    if mode == "lstm":
        ins.append(rng.uniform(-1, 1, (layers * d, n, h)))
    return [nd.array(a, dtype=dtype) for a in ins], attrs


def test_parameter_size_follows_mxnet_layout():
    # per layer and direction: gates*hidden*(inputs + hidden) weights, two gates*hidden biases
    assert param_size({"mode": "lstm", "state_size": 5, "num_layers": 1,
                       "bidirectional": False}, 3) == 20 * 8 + 40
    assert param_size({"mode": "gru", "state_size": 2, "num_layers": 2,
                       "bidirectional": True}, 3) == 2 * (6 * 5 + 12) + 2 * (6 * 6 + 12)


def test_float64_stays_float64():
    xs, attrs = _inputs("gru", dtype="float64")
    out = nd.RNN(*xs, **attrs)
    out = out[0] if isinstance(out, list) else out
    assert out.dtype == np.float64 and out.shape == (3, 2, 2)


@pytest.mark.parametrize("change,match", [
    (lambda xs: [xs[0], xs[1][:-1]] + xs[2:], r"parameters must have shape \(56,\)"),
    (lambda xs: xs[:2] + [xs[2][:, :1]] + xs[3:], r"state must have shape \(1, 2, 2\)"),
    (lambda xs: xs[:3], "state_cell"),
    (lambda xs: [xs[0][0]] + xs[1:], "data must be 3-d"),
])
def test_bad_shapes_are_named(change, match):
    xs, attrs = _inputs("lstm")
    with pytest.raises(MXNetError, match=match):
        nd.RNN(*change(xs), **attrs)


def test_mixed_dtypes_are_refused():
    xs, attrs = _inputs("gru")
    with pytest.raises(TypeError, match="dtype"):
        nd.RNN(xs[0], xs[1].astype("float64"), xs[2], **attrs)


@pytest.mark.parametrize("extra,match", [
    ({"lstm_state_clip_min": -1.0, "lstm_state_clip_max": 1.0}, "clip"),
    ({"projection_size": 1}, "projection_size"),
    ({"p": 1.0}, "dropout p"),
    ({"use_sequence_length": True}, "cuDNN"),
])
def test_unsupported_or_bad_attributes_are_refused(extra, match):
    xs, attrs = _inputs("lstm")
    with pytest.raises(MXNetError, match=match):
        nd.RNN(*xs, **attrs, **extra)


def _two_layers(p):
    xs, attrs = _inputs("rnn_tanh", t=4, n=3, i=2, h=5, layers=2)
    return xs, dict(attrs, p=p)


def test_dropout_between_layers_only_while_training():
    xs, attrs = _two_layers(0.5)
    plain = nd.RNN(*xs, **dict(attrs, p=0.0)).asnumpy()
    np.testing.assert_array_equal(nd.RNN(*xs, **attrs).asnumpy(), plain)  # not training
    mg.random.seed(4)
    with autograd.record():
        dropped = nd.RNN(*xs, **attrs).asnumpy()
    assert not np.allclose(dropped, plain)
    mg.random.seed(4)
    with autograd.record():
        again = nd.RNN(*xs, **attrs).asnumpy()
    np.testing.assert_array_equal(again, dropped)  # drawn from mg.random's generator


def test_dropout_gradient_uses_the_forward_masks():
    """Central differences of the loss with the same seed per evaluation (the same masks)
    against backward: they agree only if backward reuses the masks forward drew."""
    xs, attrs = _two_layers(0.4)
    xs = [x.astype("float64") for x in xs]
    w = np.random.default_rng(2).uniform(-1, 1, (4, 3, 5))

    def loss(arrays):
        mg.random.seed(9)
        with autograd.record():
            return float((nd.RNN(*[nd.array(a, dtype="float64") for a in arrays], **attrs)
                          .asnumpy() * w).sum())
    data = xs[0]
    data.attach_grad()
    mg.random.seed(9)
    with autograd.record():
        out = nd.RNN(data, *xs[1:], **attrs)
    out.backward(nd.array(w, dtype="float64"))
    arrays = [x.asnumpy() for x in xs]
    for idx in [(0, 0, 0), (2, 1, 1), (3, 2, 0)]:
        up, down = [a.copy() for a in arrays], [a.copy() for a in arrays]
        up[0][idx] += 1e-6
        down[0][idx] -= 1e-6
        numeric = (loss(up) - loss(down)) / 2e-6
        assert abs(data.grad.asnumpy()[idx] - numeric) < 1e-6


SEQREV_CASES = sorted({k.split("/")[1] for k in FIXTURES.files if k.startswith("seqrev/")})


@pytest.mark.parametrize("name", SEQREV_CASES)
def test_sequence_reverse_matches_mxnet_eager_and_compiled(name):
    key = f"seqrev/{name}/"
    attrs = json.loads(str(FIXTURES[key + "attrs"]))
    ins = [FIXTURES[f"{key}in/{k}"] for k in range(2) if f"{key}in/{k}" in FIXTURES.files]
    head, want, want_grad = FIXTURES[key + "head"], FIXTURES[key + "out"], FIXTURES[key + "grad"]
    xs = [nd.array(a) for a in ins]
    xs[0].attach_grad()
    with autograd.record():
        out = nd.SequenceReverse(*xs, **attrs)
    out.backward(nd.array(head))
    np.testing.assert_array_equal(out.asnumpy(), want)
    np.testing.assert_array_equal(xs[0].grad.asnumpy(), want_grad)

    vs = [sym.var(f"x{k}", shape=a.shape) for k, a in enumerate(ins)]
    y = sym.SequenceReverse(*vs, **attrs)
    h = sym.var("head", shape=head.shape)
    graph = sym.Group([y] + autograd.symbolic_grad([y], vs[:1], [h]))
    exe = compile_graph(graph, [f"x{k}" for k in range(len(ins))] + ["head"])
    assert not exe.interpreted
    got = exe.run(list(ins) + [head])
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], want_grad)


def test_sequence_reverse_refuses_other_axes_and_bad_lengths():
    with pytest.raises(MXNetError, match="axis must be 0"):
        nd.SequenceReverse(nd.ones((3, 2)), axis=1)
    with pytest.raises(MXNetError, match=r"needs \(2,\)"):
        nd.SequenceReverse(nd.ones((3, 2)), nd.ones((3,)), use_sequence_length=True)
