"""gluon.rnn's fused layers (RNN, LSTM, GRU) against MXNet 1.9.1's numbers (fixtures made
by tests/tools/make_rnn_fixtures.py), eager, compiled and interpreted, and their API."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.gluon import rnn
from tests.gluon.test_mxnet_crosscheck import RUNNER, _mxnet_python
from tests.modes import MODES

nd = mg.nd
FIXTURES = np.load(Path(__file__).parents[1] / "fixtures" / "rnn" / "rnn.npz")
LAYER_CASES = sorted({k.split("/")[1] for k in FIXTURES.files if k.startswith("layer/")})


def _fixture_layer(name, mode, monkeypatch):
    key = f"layer/{name}/"
    spec = json.loads(str(FIXTURES[key + "spec"]))
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    layer = getattr(rnn, spec["class"])(prefix="rnn_", **spec["kwargs"])
    layer.initialize()
    count = len([k for k in FIXTURES.files if k.startswith(key + "state/")])
    states = [nd.array(FIXTURES[f"{key}state/{k}"]) for k in range(count)]
    x = nd.array(FIXTURES[key + "x"])
    layer(x, states) if spec["given"] else layer(x)  # input_size comes from the first call
    for pname, p in layer.collect_params().items():
        p.set_data(nd.array(FIXTURES[f"{key}param/{pname[len('rnn_'):]}"]))
    layer.hybridize(mode != "eager")
    return key, spec, layer, x, states


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", LAYER_CASES)
def test_layer_outputs_states_and_gradients_match_mxnet(name, mode, monkeypatch):
    key, spec, layer, x, states = _fixture_layer(name, mode, monkeypatch)
    x.attach_grad()
    for s in states:
        s.attach_grad()
    before = jit.stats()["interpreted_calls"]
    with autograd.record():
        res = layer(x, states) if spec["given"] else layer(x)
    if mode == "compiled":
        assert jit.stats()["interpreted_calls"] == before
    outs = [res[0]] + list(res[1]) if spec["given"] else [res]
    autograd.backward(outs, [nd.array(FIXTURES[f"{key}head/{k}"]) for k in range(len(outs))])
    tol = {"rtol": 1e-5, "atol": 1e-6}
    for k, o in enumerate(outs):
        np.testing.assert_allclose(o.asnumpy(), FIXTURES[f"{key}out/{k}"], **tol)
    np.testing.assert_allclose(x.grad.asnumpy(), FIXTURES[key + "dx"], **tol)
    for k, s in enumerate(states):
        np.testing.assert_allclose(s.grad.asnumpy(), FIXTURES[f"{key}dstate/{k}"], **tol)
    for pname, p in layer.collect_params().items():
        np.testing.assert_allclose(p.grad().asnumpy(),
                                   FIXTURES[f"{key}dparam/{pname[len('rnn_'):]}"], **tol,
                                   err_msg=pname)


def test_parameter_names_and_shapes_follow_mxnet():
    layer = rnn.LSTM(4, num_layers=2, bidirectional=True, input_size=3, prefix="lstm0_")
    params = layer.collect_params()
    assert list(params)[:4] == ["lstm0_l0_i2h_weight", "lstm0_l0_h2h_weight",
                                "lstm0_l0_i2h_bias", "lstm0_l0_h2h_bias"]
    assert params["lstm0_r0_i2h_weight"].shape == (16, 3)
    assert params["lstm0_l1_i2h_weight"].shape == (16, 8)  # both directions feed layer 1
    assert params["lstm0_r1_h2h_bias"].shape == (16,)
    assert len(params) == 16
    assert rnn.GRU(5, prefix="g_").collect_params()["g_l0_i2h_weight"].shape == (15, 0)


def test_begin_state_and_state_info():
    layer = rnn.LSTM(3, num_layers=2, bidirectional=True)
    info = layer.state_info(5)
    assert [i["shape"] for i in info] == [(4, 5, 3), (4, 5, 3)]
    states = layer.begin_state(5)
    assert len(states) == 2 and all(s.shape == (4, 5, 3) for s in states)
    assert float(states[0].abs().sum().asscalar()) == 0
    ones = rnn.GRU(2).begin_state(3, func=nd.ones)
    assert len(ones) == 1 and ones[0].shape == (1, 3, 2) and ones[0].asnumpy().min() == 1


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_without_states_returns_the_output_only_and_zero_states_are_used(mode, monkeypatch):
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    layer = rnn.GRU(3, layout="NTC")
    layer.initialize()
    layer.hybridize(mode != "eager")
    x = nd.array(np.random.default_rng(0).uniform(-1, 1, (2, 4, 5)))
    out = layer(x)
    assert isinstance(out, nd.NDArray) and out.shape == (2, 4, 3)
    out2, states = layer(x, layer.begin_state(2))
    np.testing.assert_allclose(out.asnumpy(), out2.asnumpy(), rtol=1e-6)
    assert isinstance(states, list) and states[0].shape == (1, 2, 3)
    assert layer.l0_i2h_weight.shape == (9, 5)  # inferred from the first call


def test_bad_state_shape_is_a_value_error():
    layer = rnn.LSTM(3)
    layer.initialize()
    x = nd.ones((4, 2, 3))
    with pytest.raises(ValueError, match="Invalid recurrent state shape"):
        layer(x, [nd.zeros((1, 3, 3)), nd.zeros((1, 2, 3))])


def test_bad_layout_is_an_assertion():
    with pytest.raises(AssertionError, match="Invalid layout"):
        rnn.RNN(3, layout="NCT")


def test_float64_layer():
    layer = rnn.RNN(3, activation="tanh", dtype="float64")
    layer.initialize()
    out = layer(nd.ones((2, 1, 4), dtype="float64"))
    assert out.dtype == np.float64 and layer.l0_i2h_weight.data().dtype == np.float64


def test_repr():
    assert repr(rnn.LSTM(10, num_layers=2, bidirectional=True, input_size=3)) == \
        "LSTM(3 -> 10, TNC, num_layers=2, bidirectional)"
    assert repr(rnn.GRU(4, layout="NTC", dropout=0.5)) == "GRU(None -> 4, NTC, dropout=0.5)"


class _Classifier(mg.gluon.HybridBlock):
    """An LSTM over the sequence, then a Dense layer on its last output."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.lstm = rnn.LSTM(8, layout="NTC")
            self.out = mg.gluon.nn.Dense(2)

    def hybrid_forward(self, F, x):
        seq = self.lstm(x)
        return self.out(F.SequenceLast(F.swapaxes(seq, dim1=0, dim2=1)))


def test_lstm_classifier_trains_hybridized_without_the_interpreter(monkeypatch):
    """Which of two sequences of noise has its signal in the first step: the LSTM must
    carry it to the last one."""
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    mg.random.seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 32)
    x = rng.normal(0, 0.3, (32, 5, 3)).astype("float32")
    x[:, 0, 0] += np.where(labels == 1, 1.5, -1.5)
    net = _Classifier()
    net.initialize(mg.init.Xavier())
    net.hybridize()
    trainer = mg.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
    loss_fn = mg.gluon.loss.SoftmaxCrossEntropyLoss()
    data, label = nd.array(x), nd.array(labels.astype("float32"))
    before = jit.stats()["interpreted_calls"]
    losses = []
    for _ in range(30):
        with autograd.record():
            loss = loss_fn(net(data), label)
        loss.backward()
        trainer.step(32)
        losses.append(float(loss.mean().asscalar()))
    assert jit.stats()["interpreted_calls"] == before
    assert losses[-1] < 0.5 * losses[0], losses


def test_mxnet_runs_minigluon_exports_of_the_layers(tmp_path):
    """Optional (skipped without MXNet 1.9.1): the exported graph (RNN op, packed
    parameters, zero begin states as inputs data1, data2 as MXNet's) run by MXNet."""
    exe = _mxnet_python()
    if exe is None:
        pytest.skip("MXNet 1.9.1 is not installed (set MINIGLUON_MXNET_PYTHON)")
    layers = {"lstm": rnn.LSTM(3, num_layers=2, bidirectional=True, layout="NTC"),
              "gru": rnn.GRU(2, dropout=0.3, num_layers=2), "rnn": rnn.RNN(3)}
    cases, expected = [], {}
    for name, layer in layers.items():
        layer.initialize(mg.init.Uniform(0.5))
        layer.hybridize()
        x = np.random.default_rng(1).uniform(-1, 1, (2, 4, 3)).astype("float32")
        expected[name] = layer(nd.array(x)).asnumpy()
        states = [s.asnumpy() for s in layer.begin_state(x.shape[layer._layout.find("N")])]
        sym_file, params_file = layer.export(str(tmp_path / name))
        np.savez(tmp_path / f"{name}-in.npz", data0=x,
                 **{f"data{k + 1}": s for k, s in enumerate(states)})
        cases.append({"symbol": sym_file, "params": params_file,
                      "inputs": str(tmp_path / f"{name}-in.npz"),
                      "outputs": str(tmp_path / f"{name}-out.npz")})
    (tmp_path / "manifest.json").write_text(json.dumps(cases))
    run = subprocess.run([exe, str(RUNNER), str(tmp_path / "manifest.json")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [r["ok"] for r in results] == [True] * len(cases), results
    for name in layers:
        got = np.load(tmp_path / f"{name}-out.npz")["out0"]
        np.testing.assert_allclose(got, expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_symbol_of_unknown_shape_needs_begin_states():
    layer = rnn.LSTM(3, prefix="lstm_")
    with pytest.raises(ValueError, match="unknown shape needs begin states"):
        layer(mg.sym.var("x"))
    out, states = layer(mg.sym.var("x"), layer.begin_state(func=mg.sym.var))
    assert out.list_arguments()[-2:] == ["lstm_h0_0", "lstm_h0_1"] and len(states) == 2
