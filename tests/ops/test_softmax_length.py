"""softmax(data, length, use_length=True): each softmax runs over the first length[row]
positions along the axis and the others give 0, forward and backward, eager, compiled and
on the interpreter.  Expected arrays are outputs of MXNet 1.9.1 on the same inputs."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.gluon import HybridBlock
from minigluon.symbol import graph_json

nd = mg.nd
MODES = pytest.mark.parametrize("mode", ["eager", "compiled", "interpreted"])


class Masked(HybridBlock):
    def __init__(self, axis: int = -1, temperature: float | None = None):
        super().__init__()
        self.axis, self.temperature = axis, temperature

    def hybrid_forward(self, F, x, length):
        return F.softmax(x, length, axis=self.axis, temperature=self.temperature,
                         use_length=True)


def run(mode, monkeypatch, x, length, og, **kwargs):
    """(softmax, d (softmax . og) / d x) in one mode."""
    block = Masked(**kwargs)
    if mode != "eager":
        monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
        block.hybridize()
    x = nd.array(x, dtype=x.dtype)
    x.attach_grad()
    jit.reset_stats()
    with autograd.record():
        y = block(x, nd.array(length, dtype=length.dtype))
    y.backward(nd.array(og, dtype=og.dtype))
    if mode == "compiled":
        assert jit.stats()["interpreted_calls"] == 0
    return y.asnumpy(), x.grad.asnumpy()


_rng = np.random.RandomState(1)
X = _rng.randn(3, 4).astype(np.float32)
OG = _rng.randn(3, 4).astype(np.float32)
LENGTH = np.array([2, 4, 0], np.int32)
# MXNet 1.9.1: mx.nd.softmax(X, LENGTH, use_length=True) and its gradient for head OG
Y_MX = [[0.9034449, 0.09655505, 0, 0], [0.27410856, 0.01154876, 0.6604546, 0.0538881], [0, 0, 0, 0]]
G_MX = [[0.00537671, -0.00537675, 0, 0], [-0.0477807, -0.01015994, 0.02663541, 0.03130524],
        [0, 0, 0, 0]]
# ... and with temperature=1.5
YT_MX = [[0.81618845, 0.18381149, 0, 0], [0.30708256, 0.03718179, 0.5519106, 0.10382503],
         [0, 0, 0, 0]]
GT_MX = [[0.00616472, -0.00616474, 0, 0], [-0.03493518, -0.02171608, 0.01618745, 0.04046382],
         [0, 0, 0, 0]]


@MODES
def test_rows_match_mxnet(mode, monkeypatch):
    y, g = run(mode, monkeypatch, X, LENGTH, OG)
    np.testing.assert_allclose(y, Y_MX, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, G_MX, rtol=1e-5, atol=1e-7)
    y, g = run(mode, monkeypatch, X, LENGTH, OG, temperature=1.5)
    np.testing.assert_allclose(y, YT_MX, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, GT_MX, rtol=1e-5, atol=1e-7)


@MODES
def test_axis_0_matches_mxnet(mode, monkeypatch):
    y, g = run(mode, monkeypatch, X.T.copy(), LENGTH, OG.T.copy(), axis=0)
    np.testing.assert_allclose(y, np.transpose(Y_MX), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, np.transpose(G_MX), rtol=1e-5, atol=1e-7)


@MODES
def test_3d_float64_int64_lengths_match_mxnet(mode, monkeypatch):
    rng = np.random.RandomState(2)
    x, og = rng.randn(2, 3, 2), rng.randn(2, 3, 2)
    y, g = run(mode, monkeypatch, x, np.array([[1, 3], [0, 2]], np.int64), og, axis=1,
               temperature=0.5)
    assert y.dtype == g.dtype == np.float64
    np.testing.assert_allclose(y, [[[1, 0.03229435], [0, 0.96099342], [0, 0.00671223]],
                                   [[0, 0.33792364], [0, 0.66207636], [0, 0]]], rtol=1e-6)
    np.testing.assert_allclose(g, [[[0, -0.0333797], [0, 0.00953622], [0, 0.02384349]],
                                   [[0, 0.07403689], [0, -0.07403689], [0, 0]]], rtol=1e-6)


@MODES
def test_masked_positions_take_no_part(mode, monkeypatch):
    """NaN and inf past a row's length change nothing, nor does a NaN head gradient there
    (MXNet's loops stop at the length)."""
    x, og = X.copy(), OG.copy()
    x[0, 2], x[0, 3], og[0, 3], og[2, 0] = np.inf, np.nan, np.nan, np.inf
    y, g = run(mode, monkeypatch, x, LENGTH, og)
    np.testing.assert_allclose(y, Y_MX, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, G_MX, rtol=1e-5, atol=1e-7)


@MODES
def test_length_beyond_the_axis_keeps_the_row_and_negative_keeps_nothing(mode, monkeypatch):
    """(MXNet reads past the row for a length beyond the axis; here it is the whole row.)"""
    y, g = run(mode, monkeypatch, X, np.array([9, -3, 4], np.int32), OG)
    full = np.exp(X - X.max(1, keepdims=True))
    full /= full.sum(1, keepdims=True)
    np.testing.assert_allclose(y[[0, 2]], full[[0, 2]], rtol=1e-6)
    assert not y[1].any() and not g[1].any()


@pytest.mark.parametrize("dtype", ["float32", "uint8", "int8"])
def test_lengths_must_be_int32_or_int64(dtype):
    with pytest.raises(TypeError, match=f"length is {dtype}.*int32 or int64"):
        nd.softmax(nd.array(X), nd.array(LENGTH, dtype=dtype), use_length=True)


def test_a_length_is_never_ignored():
    with pytest.raises(ValueError, match="use_length=True needs a length input"):
        nd.softmax(nd.array(X), use_length=True)
    with pytest.raises(ValueError, match="a length input needs use_length=True"):
        nd.softmax(nd.array(X), nd.array(LENGTH, dtype="int32"))
    with pytest.raises(ValueError, match=r"length must have shape \(3,\).*got \(4,\)"):
        nd.softmax(nd.array(X), nd.array([1, 2, 3, 4], dtype="int32"), use_length=True)
    with pytest.raises(ValueError, match="log_softmax has no length input"):
        nd.log_softmax(nd.array(X), use_length=True)


def test_mxnet_graph_with_a_length_input_loads_and_runs():
    text = """{"nodes": [{"op": "null", "name": "x", "inputs": []},
                         {"op": "null", "name": "l", "inputs": []},
                         {"op": "softmax", "name": "softmax3", "attrs": {"use_length": "True"},
                          "inputs": [[0, 0, 0], [1, 0, 0]]}],
               "arg_nodes": [0, 1], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]],
               "attrs": {"mxnet_version": ["int", 10901]}}"""  # as MXNet 1.9.1 exports it
    block = mg.gluon.SymbolBlock(graph_json.load_json(text), [mg.sym.var("x"), mg.sym.var("l")])
    out = block(nd.array(X), nd.array(LENGTH, dtype="int32")).asnumpy()
    np.testing.assert_allclose(out, Y_MX, rtol=1e-6, atol=1e-7)
