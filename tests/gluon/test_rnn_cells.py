"""gluon.rnn's cells: the gate math of MXNet 1.9.1 (a cell unrolled with a fused
layer's parameters gives MXNet's layer output, fixtures by tests/tools/make_rnn_fixtures.py),
eager, hybridized (each step compiled) and on symbols, and the combining cells."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.gluon import rnn

nd, sym = mg.nd, mg.sym
FIXTURES = np.load(Path(__file__).parents[1] / "fixtures" / "rnn" / "rnn.npz")
CELLS = {"LSTM": rnn.LSTMCell, "GRU": rnn.GRUCell}


def _seq(shape, seed=0):
    return nd.array(np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32"))


@pytest.mark.parametrize("hybrid", [False, True])
def test_lstm_cell_unrolled_with_layer_parameters_matches_mxnet_layer(hybrid, monkeypatch):
    """The fixture's one-layer NTC LSTM (MXNet's fused kernel) is this cell over time."""
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    key = "layer/lstm_ntc/"
    spec = json.loads(str(FIXTURES[key + "spec"]))
    cell = rnn.LSTMCell(spec["kwargs"]["hidden_size"], prefix="c_")
    cell.initialize()
    x = nd.array(FIXTURES[key + "x"])
    states = [nd.array(FIXTURES[f"{key}state/{k}"])[0] for k in range(2)]  # (1, N, H) -> (N, H)
    cell.unroll(x.shape[1], x, states, layout="NTC")  # shapes from a first call
    for name in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"):
        cell.collect_params()[f"c_{name}"].set_data(nd.array(FIXTURES[f"{key}param/l0_{name}"]))
    cell.hybridize(hybrid)
    before = jit.stats()["interpreted_calls"]
    out, (h, c) = cell.unroll(x.shape[1], x, states, layout="NTC", merge_outputs=True)
    assert jit.stats()["interpreted_calls"] == before
    np.testing.assert_allclose(out.asnumpy(), FIXTURES[key + "out/0"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.asnumpy(), FIXTURES[key + "out/1"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.asnumpy(), FIXTURES[key + "out/2"][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_cells_equal_the_fused_layer_with_gradients(mode):
    """Same parameters, same numbers: the cell and the fused op compute one thing."""
    kinds = {"lstm": (rnn.LSTM, rnn.LSTMCell, {}), "gru": (rnn.GRU, rnn.GRUCell, {}),
             "rnn_tanh": (rnn.RNN, rnn.RNNCell, {"activation": "tanh"})}
    layer_cls, cell_cls, kw = kinds[mode]
    layer = layer_cls(4, input_size=3, prefix="f_", **kw)
    layer.initialize(mg.init.Uniform(0.5))
    stack = layer._unfuse()  # cells sharing the layer's parameters
    x = _seq((5, 2, 3))
    with autograd.record():
        fused = layer(x)
    fused.backward()
    fused_grad = layer.l0_h2h_weight.grad().asnumpy().copy()
    layer.collect_params().zero_grad()
    with autograd.record():
        unrolled, _ = stack.unroll(5, x, layout="TNC", merge_outputs=True)
    unrolled.backward()
    np.testing.assert_allclose(unrolled.asnumpy(), fused.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.l0_h2h_weight.grad().asnumpy(), fused_grad, rtol=1e-4,
                               atol=1e-6)


def test_symbol_unroll_names_outputs_and_infers_shapes():
    cell = rnn.LSTMCell(6, prefix="rnn_")
    steps = [sym.var(f"rnn_t{i}_data") for i in range(3)]
    outputs, states = cell.unroll(3, steps)
    group = sym.Group(outputs)
    assert group.list_outputs() == ["rnn_t0_out_output", "rnn_t1_out_output", "rnn_t2_out_output"]
    assert sorted(a for a in group.list_arguments() if "weight" in a or "bias" in a) == \
        ["rnn_h2h_bias", "rnn_h2h_weight", "rnn_i2h_bias", "rnn_i2h_weight"]
    _, outs, _ = group.infer_shape(rnn_t0_data=(2, 5), rnn_t1_data=(2, 5), rnn_t2_data=(2, 5))
    assert outs == [(2, 6)] * 3
    assert len(states) == 2


def test_hybridized_step_is_compiled_and_matches_eager(monkeypatch):
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    cell = rnn.GRUCell(3, input_size=2)
    cell.initialize(mg.init.Uniform(0.5))
    x = _seq((4, 2, 2), 1)
    eager, _ = cell.unroll(4, x, layout="TNC", merge_outputs=True)
    cell.hybridize()
    before = dict(jit.stats())
    hybrid, _ = cell.unroll(4, x, layout="TNC", merge_outputs=True)
    after = jit.stats()
    assert after["compiled_calls"] - before["compiled_calls"] == 4
    assert after["interpreted_calls"] == before["interpreted_calls"]
    np.testing.assert_allclose(hybrid.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-7)
    cell.unroll(4, x, layout="TNC", merge_outputs=True)  # the step graph is traced once
    assert {k: jit.stats()[k] for k in ("kernels_compiled", "cache_hits")} == \
        {k: after[k] for k in ("kernels_compiled", "cache_hits")}


def test_state_info_begin_state_and_deferred_input_size():
    cell = rnn.LSTMCell(5)
    assert [i["shape"] for i in cell.state_info(3)] == [(3, 5), (3, 5)]
    states = cell.begin_state(batch_size=3)
    assert [s.shape for s in states] == [(3, 5), (3, 5)]
    cell.initialize()
    out, new = cell(_seq((3, 7)), states)
    assert out.shape == (3, 5) and cell.i2h_weight.shape == (20, 7)
    assert repr(cell) == "LSTMCell(7 -> 20)"


def test_sequential_stack_concatenates_states_and_feeds_outputs():
    stack = rnn.SequentialRNNCell()
    stack.add(rnn.LSTMCell(4, input_size=3))
    stack.add(rnn.RNNCell(2, input_size=4))
    stack.initialize()
    assert len(stack.state_info(2)) == 3
    outs, states = stack.unroll(3, _seq((2, 3, 3)), merge_outputs=False)
    assert len(outs) == 3 and outs[0].shape == (2, 2)
    assert [s.shape for s in states] == [(2, 4), (2, 4), (2, 2)]
    np.testing.assert_allclose(states[2].asnumpy(), outs[-1].asnumpy())


def test_valid_length_masks_outputs_and_keeps_last_valid_state():
    cell = rnn.RNNCell(3, input_size=2)
    cell.initialize(mg.init.Uniform(0.5))
    x = _seq((2, 4, 2), 2)
    full, _ = cell.unroll(4, x, merge_outputs=True)
    out, (h,) = cell.unroll(4, x, merge_outputs=True, valid_length=nd.array([2, 4]))
    want = full.asnumpy().copy()
    want[0, 2:] = 0
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6)
    np.testing.assert_allclose(h.asnumpy(), full.asnumpy()[[0, 1], [1, 3]], rtol=1e-6)


def test_residual_dropout_and_zoneout_cells():
    base = rnn.GRUCell(3, input_size=3, prefix="g_")
    res = rnn.ResidualCell(base)
    res.initialize()
    x = _seq((2, 4, 3), 3)
    out, _ = res.unroll(4, x, merge_outputs=True)
    base._modified = False  # unroll the base alone for comparison
    plain, _ = base.unroll(4, x, merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), plain.asnumpy() + x.asnumpy(), rtol=1e-6)
    with pytest.raises(AssertionError, match="already modified"):
        rnn.ResidualCell(rnn.ResidualCell(rnn.RNNCell(2)).base_cell)

    drop = rnn.DropoutCell(0.5)
    kept, states = drop.unroll(4, x, merge_outputs=True)
    np.testing.assert_array_equal(kept.asnumpy(), x.asnumpy())  # not training: identity
    assert states == []

    zone = rnn.ZoneoutCell(rnn.RNNCell(3, input_size=3, prefix="z_"), 0.0, 0.0)
    zone.initialize()
    z_out, _ = zone.unroll(4, x, merge_outputs=True)
    zone.base_cell._modified = False
    np.testing.assert_allclose(z_out.asnumpy(),
                               zone.base_cell.unroll(4, x, merge_outputs=True)[0].asnumpy())


def test_bidirectional_cell_concatenates_both_directions():
    left, right = rnn.GRUCell(2, input_size=3, prefix="l_"), rnn.GRUCell(2, input_size=3, prefix="r_")
    bi = rnn.BidirectionalCell(left, right)
    bi.initialize(mg.init.Uniform(0.5))
    x = _seq((2, 4, 3), 4)
    out, states = bi.unroll(4, x, merge_outputs=True)
    assert out.shape == (2, 4, 4) and len(states) == 2
    fwd, _ = left.unroll(4, x, merge_outputs=True)
    bwd, _ = right.unroll(4, nd.array(x.asnumpy()[:, ::-1].copy()), merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy()[..., :2], fwd.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(out.asnumpy()[..., 2:], bwd.asnumpy()[:, ::-1], rtol=1e-6)
    with pytest.raises(NotImplementedError, match="unroll"):
        bi(x[:, 0], bi.begin_state(batch_size=2))


def test_bidirectional_valid_length_reverses_each_sequence_within_its_length():
    bi = rnn.BidirectionalCell(rnn.RNNCell(2, input_size=3, prefix="l_"),
                               rnn.RNNCell(2, input_size=3, prefix="r_"))
    bi.initialize(mg.init.Uniform(0.5))
    x = _seq((2, 3, 3), 5)
    out, _ = bi.unroll(3, x, merge_outputs=True, valid_length=nd.array([2, 3]))
    short, _ = bi.unroll(2, x[0:1, :2], merge_outputs=True)  # sample 0 alone, unpadded
    np.testing.assert_allclose(out.asnumpy()[0, :2], short.asnumpy()[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(out.asnumpy()[0, 2], 0)
    full, _ = bi.unroll(3, x[1:2], merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy()[1], full.asnumpy()[0], rtol=1e-5, atol=1e-7)
