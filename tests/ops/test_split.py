"""split / SliceChannel: MXNet's JSON name, its checks, parts as arrays of their own, a
gradient that concatenates, and a compiled form in which each part is a fused view."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError
from minigluon.compiler.pipeline import compile_graph

nd, sym = mg.nd, mg.sym


def test_parts_equal_numpy_split_with_and_without_squeeze():
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    parts = nd.split(nd.array(x), num_outputs=3, axis=1)
    for got, want in zip(parts, np.split(x, 3, axis=1)):
        np.testing.assert_array_equal(got.asnumpy(), want)
    parts = nd.SliceChannel(nd.array(x), num_outputs=3, axis=-1, squeeze_axis=True)
    assert [p.shape for p in parts] == [(2, 6)] * 3
    np.testing.assert_array_equal(parts[2].asnumpy(), x[:, :, 2])


def test_one_part_is_one_array_not_a_list():
    out = nd.split(nd.ones((2, 4)), num_outputs=1)
    assert isinstance(out, nd.NDArray) and out.shape == (2, 4)


@pytest.mark.parametrize("attrs,match", [
    ({"num_outputs": 4, "axis": 1}, "does not evenly divide axis 1"),
    ({"num_outputs": 2, "axis": 1, "squeeze_axis": True}, "squeeze_axis=True"),
    ({"num_outputs": 2, "axis": 2}, "axis 2 is out of range"),
    ({"num_outputs": 0}, "at least 1"),
])
def test_bad_splits_name_the_problem(attrs, match):
    with pytest.raises(MXNetError, match=match):
        nd.split(nd.ones((2, 6)), **attrs)


def test_symbol_has_one_output_per_part_and_exports_as_slicechannel():
    s = sym.split(sym.var("d"), num_outputs=3, name="sp")
    assert s.list_outputs() == ["sp_output0", "sp_output1", "sp_output2"]
    graph = json.loads(s.tojson())
    assert graph["nodes"][1]["op"] == "SliceChannel"
    assert graph["node_row_ptr"] == [0, 1, 4]
    assert [h[:2] for h in graph["heads"]] == [[1, 0], [1, 1], [1, 2]]
    again = sym.load_json(s.tojson())
    assert again.list_outputs() == s.list_outputs()


def test_hybridized_split_compiles_to_views_with_the_eager_numbers():
    class Gates(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            i, f, g = F.split(x, num_outputs=3, axis=1)
            return F.sigmoid(i) * F.tanh(g) + f

    x = nd.array(np.random.default_rng(1).standard_normal((4, 9)))
    eager = Gates()(x).asnumpy()
    block = Gates()
    block.hybridize()
    before = mg.jit.stats()["interpreted_calls"]
    np.testing.assert_allclose(block(x).asnumpy(), eager, rtol=1e-6)
    assert mg.jit.stats()["interpreted_calls"] == before
    v = sym.var("x", shape=(4, 9))
    i, f, g = sym.split(v, num_outputs=3)
    exe = compile_graph(sym.sigmoid(i) * sym.tanh(g) + f, ["x"])
    assert not exe.interpreted
    # the parts are read in place: one fused kernel, no copies of them
    assert [st.kind for st in exe.schedule.steps] == ["kernel"]


def test_gradient_concatenates_the_parts_gradients():
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    x.attach_grad()
    with mg.autograd.record():
        a, _, c = nd.split(x, num_outputs=3, axis=1, squeeze_axis=True)
        y = a * 2 + c
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.tile([2.0, 0.0, 1.0], (2, 1)))
