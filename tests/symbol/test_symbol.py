"""mg.sym: shape-specialized symbols, graph JSON (round trips, MXNet 1.9.1 files, malformed
input), the typed graph printer and automatic node names."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError, ShapeError
from minigluon.ops import canonical_ops
from minigluon.symbol.symbol import name_scope

sym, nd = mg.sym, mg.nd
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mxnet-1.9.1"
SYMBOL_FILES = sorted(FIXTURES.glob("*-symbol.json"))
CASES = {c["symbol"]: c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]
         if c.get("symbol")}


def _ops(symbol):
    return [n.op.name for n in symbol.topo_nodes() if not n.is_variable]


# --- shape-specialized symbols ------------------------------------------------------------------

def test_var_with_shape_knows_its_type():
    x = sym.var("x", shape=(2, 3))
    assert x.shape == (2, 3) and x.dtype == "float32"
    assert x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.name == "x" and repr(x) == "<Symbol x : float32[2,3]>"
    assert x.list_arguments() == ["x"] and x.list_outputs() == ["x"]
    x64 = sym.var("x64", shape=[4], dtype=np.float64)
    assert x64.shape == (4,) and x64.dtype == "float64"


def test_shapes_and_dtypes_propagate_through_ops():
    x = sym.var("x", shape=(2, 3))
    row = sym.var("row", shape=(3,))
    w = sym.var("w", shape=(3, 4))
    i = sym.var("i", shape=(2,))
    checks = [
        (x * 2, (2, 3), "float32"),
        (x * 2 + row, (2, 3), "float32"),
        (1 - x, (2, 3), "float32"),
        (x > 0, (2, 3), "float32"),
        (sym.sum(x, axis=1), (2,), "float32"),
        (sym.sum(x), (1,), "float32"),
        (sym.mean(x, axis=0, exclude=True), (2,), "float32"),
        (sym.mean(x, axis=1, keepdims=True), (2, 1), "float32"),
        (sym.dot(x, w), (2, 4), "float32"),
        (x.reshape((-1,)), (6,), "float32"),
        (x.reshape(0, 3, 1), (2, 3, 1), "float32"),
        (sym.log_softmax(x), (2, 3), "float32"),
        (sym.pick(x, i), (2,), "float32"),
        (sym.one_hot(i, 5), (2, 5), "float32"),
        (x.astype("float64"), (2, 3), "float64"),
        (sym.Cast(x, dtype="int32") + 1, (2, 3), "int32"),
        (sym.softmax(x, dtype="float64"), (2, 3), "float64"),
        (sym.concat(x, x, dim=0), (4, 3), "float32"),
        (sym.swapaxes(x, 0, 1), (3, 2), "float32"),
        (sym.var("d", shape=(2, 3), dtype="float64") * x.astype("float64"), (2, 3), "float64"),
    ]
    for s, shape, dtype in checks:
        assert isinstance(s, sym.Symbol)
        assert (s.shape, s.dtype) == (shape, dtype), s.debug_str()


def test_binary_operator_picks_elemwise_or_broadcast_op():
    x, y, row = sym.var("x", shape=(2, 3)), sym.var("y", shape=(2, 3)), sym.var("r", shape=(3,))
    assert _ops(x + y) == ["elemwise_add"]
    assert _ops(x * row) == ["broadcast_mul"]
    assert _ops(x - 1) == ["_minus_scalar"]
    assert _ops(1 - x) == ["_rminus_scalar"]
    assert _ops(2 / x) == ["_rdiv_scalar"]
    assert _ops(2 ** x) == ["_rpower_scalar"]
    assert _ops(-x) == ["_mul_scalar"]
    u, v = sym.var("u"), sym.var("v")
    assert _ops(u + v) == ["elemwise_add"]  # unknown shapes: MXNet's default


def test_shape_errors_surface_where_the_op_is_applied():
    x = sym.var("x", shape=(2, 3))
    with pytest.raises(ShapeError, match=r"broadcast_add\(float32\[2,3\], float32\[4,5\]\)"):
        x + sym.var("z", shape=(4, 5))
    with pytest.raises(ShapeError, match=r"dot\(float32\[2,3\], float32\[2,3\]\)"):
        sym.dot(x, x)
    with pytest.raises(ShapeError, match="Reshape"):
        x.reshape(4, 4)


def test_var_without_shape():
    x = sym.var("x")
    assert x.shape is None and x.dtype is None and x.ndim is None and x.size is None
    y = sym.log_softmax(x * 2, axis=0)
    z = sym.sum(y, axis=1)
    assert y.shape is None and z.shape is None
    assert repr(z).endswith(": ?[?]>")
    with pytest.raises(TypeError, match="unknown"):
        len(z)
    assert z.infer_shape(x=(2, 3)) == ([(2, 3)], [(2,)], [])
    assert z.infer_shape((5, 4)) == ([(5, 4)], [(5,)], [])
    assert y.infer_shape(x=(2, 3))[1] == [(2, 3)]
    # the symbol itself stays unspecialized
    assert z.shape is None


def test_infer_shape_with_several_inputs_and_errors():
    a, b = sym.var("a"), sym.var("b")
    out = sym.sum(a + b, axis=1, keepdims=True)
    assert out.infer_shape(a=(2, 3), b=(2, 3)) == ([(2, 3), (2, 3)], [(2, 1)], [])
    assert out.list_arguments() == ["a", "b"]
    with pytest.raises(ShapeError, match="'b' has no shape"):
        out.infer_shape(a=(2, 3))
    with pytest.raises(ShapeError) as info:
        out.infer_shape(a=(2, 3), b=(3, 2))
    assert "_plus" in str(info.value) and "float32[2,3]" in str(info.value)
    # the rule's own error stays attached, with its traceback, as the cause
    cause = info.value.__cause__
    assert isinstance(cause, ShapeError) and cause.__traceback__ is not None
    assert str(cause) in str(info.value) and str(cause) != str(info.value)


def test_infer_type_with_known_shapes():
    x = sym.var("x", shape=(2, 3))
    y = sym.sum(x * 2, axis=1)
    assert y.infer_type(x="float64") == (["float64"], ["float64"], [])
    assert y.infer_type() == (["float32"], ["float32"], [])


def test_infer_type_without_shapes():
    y = sym.log_softmax(sym.var("u"))
    assert y.infer_type(u="float64") == (["float64"], ["float64"], [])


def test_every_registry_op_is_exposed_in_sym():
    for op in canonical_ops():
        for name in (op.name, *op.aliases):
            fn = getattr(sym._internal, name) if name.startswith("_") else getattr(sym, name)
            assert fn.__name__ == name


def test_eval_matches_eager_nd():
    rng = np.random.default_rng(0)
    xa, la = rng.normal(size=(4, 5)).astype(np.float32), rng.integers(0, 5, 4).astype(np.float32)

    def loss(F, x, label):
        return F.mean(-F.pick(F.log_softmax(x), label, keepdims=True), axis=0, exclude=True)

    eager = loss(nd, nd.array(xa), nd.array(la)).asnumpy()
    graph = loss(sym, sym.var("x", shape=(4, 5)), sym.var("label", shape=(4,)))
    assert graph.shape == eager.shape == (4,)
    out = graph.eval(x=nd.array(xa), label=nd.array(la))
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_array_equal(out[0].asnumpy(), eager)
    ref = -(xa - np.log(np.exp(xa).sum(1, keepdims=True)))[np.arange(4), la.astype(int)]
    np.testing.assert_allclose(eager, ref, rtol=1e-5)


def test_eval_keeps_output_dtypes():
    x = sym.var("x", shape=(2,))
    out = sym.Group([x.astype("float64"), x.astype("int32")]).eval(x=nd.array([1.5, 2.5]))
    assert [o.dtype for o in out] == [np.float64, np.int32]


# --- graph JSON round trip ------------------------------------------------------------------

def _graph():
    x, i = sym.var("x", shape=(2, 3, 4)), sym.var("i", shape=(2, 3))
    outs = [
        sym.Reshape(x, shape=(-1, 0), reverse=True),
        sym.slice(x, begin=(None, 1), end=(2, None)),
        sym.sum(x, axis=(0, 2), keepdims=True),
        sym.mean(x, axis=0, exclude=True),
        sym.softmax(x, axis=1, temperature=2.0),
        sym.clip(x, -0.5, 0.5) * 1e-12,
        sym.concat(x, x, dim=2),
        sym.one_hot(i, 4, on_value=2.0),
        sym.pick(x, i, axis=-1, mode="wrap", keepdims=True),
        sym.full((2, 3, 4), 0.25) + x,
        sym.transpose(x, axes=(2, 0, 1)),
        sym.Activation(x, act_type="softrelu") - sym.relu(x),
        sym.where(x > 0, x, sym.zeros_like(x)),
    ]
    return sym.Group(outs)


def _node_summary(s):
    return [(n.op.name if n.op else "null", n.name, n.attrs,
             [(s.topo_nodes().index(src), k) for src, k in n.inputs]) for n in s.topo_nodes()]


def test_tojson_load_json_round_trip():
    g = _graph()
    text = g.tojson()
    doc = json.loads(text)
    assert set(doc) >= {"nodes", "arg_nodes", "node_row_ptr", "heads", "attrs"}
    assert doc["attrs"]["mxnet_version"] == ["int", 10901]
    assert [doc["nodes"][k]["name"] for k in doc["arg_nodes"]] == ["x", "i"]
    assert all(isinstance(v, str) for n in doc["nodes"] for v in n.get("attrs", {}).values())
    assert doc["nodes"][0]["attrs"]["__shape__"] == "(2, 3, 4)"
    assert len(doc["node_row_ptr"]) == len(doc["nodes"]) + 1

    loaded = sym.load_json(text)
    assert _node_summary(loaded) == _node_summary(g)
    assert loaded.list_arguments() == g.list_arguments() == ["x", "i"]
    assert loaded.list_outputs() == g.list_outputs()
    assert loaded.tojson() == text  # a fixed point
    # the declared variable shapes come back through __shape__
    assert loaded.infer_shape()[1] == [s.shape for s in g]

    rng = np.random.default_rng(0)
    xa = rng.normal(size=(2, 3, 4)).astype(np.float32)
    ia = np.array([[0, 1, 5], [3, -1, 2]], np.float32)
    want = g.eval(x=nd.array(xa), i=nd.array(ia))
    got = loaded.eval(x=nd.array(xa), i=nd.array(ia))
    assert len(got) == len(want) == 13
    for w, o, s in zip(want, got, g, strict=True):
        assert o.shape == w.shape == s.shape
        np.testing.assert_array_equal(o.asnumpy(), w.asnumpy())
    # spot-check real values
    np.testing.assert_array_equal(got[3].asnumpy(), xa.mean(axis=(1, 2)).astype(np.float32))
    np.testing.assert_array_equal(got[7].asnumpy()[0, 2], [0, 0, 0, 0])  # index 5 is off
    np.testing.assert_array_equal(got[8].asnumpy()[1, 1, 0], xa[1, 1, 3])  # -1 wraps to 3


def test_round_trip_of_unshaped_and_typed_variables():
    x = sym.var("x")
    y = sym.var("y", shape=(3,), dtype="float64")
    s = sym.broadcast_mul(x, y)
    doc = json.loads(s.tojson())
    assert "attrs" not in doc["nodes"][0] or "__shape__" not in doc["nodes"][0]["attrs"]
    assert doc["nodes"][1]["attrs"] == {"__shape__": "(3,)", "__dtype__": "1"}
    loaded = sym.load_json(s.tojson())
    assert loaded.infer_shape(x=(2, 3)) == ([(2, 3), (3,)], [(2, 3)], [])
    assert [n.var_attrs for n in loaded.topo_nodes() if n.is_variable] == [
        {}, {"__shape__": "(3,)", "__dtype__": "1"}]
    out = loaded.eval(x=nd.array([[1, 2, 3], [4, 5, 6]]), y=nd.array([1, 0, -1]))
    np.testing.assert_array_equal(out[0].asnumpy(), [[1, 0, -3], [4, 0, -6]])


def test_save_and_load(tmp_path):
    x = sym.var("x", shape=(2, 2))
    s = sym.sum(sym.square(x), axis=1)
    path = tmp_path / "net-symbol.json"
    s.save(str(path))
    loaded = sym.load(str(path))
    assert _node_summary(loaded) == _node_summary(s)
    out = loaded.eval(x=nd.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(out[0].asnumpy(), [5, 25])


# --- the MXNet 1.9.1 fixture graphs -----------------------------------------------------------

def test_every_fixture_case_has_its_symbol_file():
    assert SYMBOL_FILES, FIXTURES
    assert {p.name for p in SYMBOL_FILES} == set(CASES)


@pytest.mark.parametrize("path", SYMBOL_FILES, ids=[p.name[:-len("-symbol.json")]
                                                     for p in SYMBOL_FILES])
def test_mxnet_fixture_graphs_evaluate_like_mxnet(path, oracle):
    case = CASES[path.name]
    s = sym.load(str(path))
    assert isinstance(s, sym.Symbol)
    names = [n for n in case["inputs"] if n not in case["none_inputs"]]
    feed = {f"data{k}": nd.array(oracle[f"{case['name']}/in/{n}"]) for k, n in enumerate(names)}
    assert sorted(s.list_arguments()) == sorted(feed)
    want = oracle[f"{case['name']}/out_hybrid"]
    assert s.infer_shape(**{k: v.shape for k, v in feed.items()})[1] == [want.shape]
    out = s.eval(**feed)
    assert len(out) == 1
    got = out[0].asnumpy()
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # and the graph survives a round trip through our own writer
    again = sym.load_json(s.tojson())
    assert _node_summary(again) == _node_summary(s)
    np.testing.assert_array_equal(again.eval(**feed)[0].asnumpy(), got)


def test_fixture_graph_attributes_are_parsed():
    s = sym.load(str(FIXTURES / "cosine_basic-symbol.json"))
    nodes = {n.name: n for n in s.topo_nodes()}
    assert nodes["cosineembeddingloss1__full0"].attrs == {"dtype": "float32", "shape": (1, 1),
                                                          "value": 1e-12}
    assert nodes["cosineembeddingloss1_reshape0"].attrs == {"shape": (-1, 1)}
    assert nodes["cosineembeddingloss1__rminusscalar0"].attrs == {"scalar": 1.0}
    # MXNet's stray axis=1 on broadcast_maximum is accepted and ignored
    assert nodes["cosineembeddingloss1_broadcast_maximum1"].attrs == {}
    ctc = sym.load(str(FIXTURES / "ctc_doc_ntc-symbol.json"))
    node = [n for n in ctc.topo_nodes() if not n.is_variable][-1]
    assert node.op.name == "CTCLoss"
    assert node.attrs == {"blank_label": "last", "use_data_lengths": False,
                          "use_label_lengths": False}


# --- the typed printer -------------------------------------------------------------------------

def test_debug_str_one_typed_line_per_node():
    pred, label = sym.var("pred", shape=(8, 5)), sym.var("label", shape=(8, 5))
    loss = sym.mean(sym.square(pred - label) * 0.5, axis=0, exclude=True)
    text = loss.debug_str()
    assert text.splitlines() == [
        "graph(%pred : float32[8,5], %label : float32[8,5]) {",
        "  %0 = elemwise_sub(%pred, %label) : float32[8,5]",
        "  %1 = square(%0) : float32[8,5]",
        "  %2 = _mul_scalar(%1, scalar=0.5) : float32[8,5]",
        "  %3 = mean(%2, axis=0, exclude=True) : float32[8]",
        "  return %3",
        "}",
    ]


def test_debug_str_multi_output_unknown_shapes_and_groups():
    d, lab = sym.var("d", shape=(5, 2, 4)), sym.var("l", shape=(2, 3))
    lines = sym.CTCLoss(d, lab).debug_str().splitlines()
    assert lines[1] == "  %0, %1 = CTCLoss(%d, %l) : float32[2], float32[5,2,4]"
    u = sym.var("u")
    assert (u * u).debug_str().splitlines()[:2] == ["graph(%u : ?[?]) {",
                                                   "  %0 = elemwise_mul(%u, %u) : ?[?]"]
    x = sym.var("x", shape=(2, 3), dtype="float64")
    g = sym.Group([sym.sum(x, axis=1), x])
    assert g.debug_str().splitlines()[-2:] == ["  return %0, %x", "}"]
    assert "float64[2]" in g.debug_str()
    fixture = sym.load(str(FIXTURES / "sce_sparse-symbol.json"))
    body = [ln for ln in fixture.debug_str().splitlines() if " = " in ln]
    assert len(body) == len([n for n in fixture.topo_nodes() if not n.is_variable]) == 4


# --- malformed graph JSON ---------------------------------------------------------------------

def _doc(nodes, heads=None):
    return json.dumps({"nodes": nodes, "arg_nodes": [], "node_row_ptr": [],
                       "heads": heads if heads is not None else [[len(nodes) - 1, 0, 0]]})


def _v(name):
    return {"op": "null", "name": name, "inputs": []}


def _relu(inputs, name="relu0"):
    return {"op": "relu", "name": name, "inputs": inputs}


BAD_GRAPHS = {
    "not_json": ("{nodes: [", "not valid JSON"),
    "not_an_object": ("[1, 2]", "'nodes' list"),
    "unknown_op": (_doc([_v("x"), {"op": "FancyOp", "name": "fancy0", "inputs": [[0, 0, 0]]}]),
                   "node 1 ('fancy0'): unknown operator 'FancyOp'"),
    "input_points_forward": (_doc([_v("x"), _relu([[2, 0, 0]]), _v("y")], [[1, 0, 0]]),
                             "node 1 ('relu0') input 0: refers to node 2"),
    "input_points_to_itself": (_doc([_v("x"), _relu([[1, 0, 0]])]),
                               "node 1 ('relu0') input 0: refers to node 1"),
    "input_out_of_range": (_doc([_v("x"), _relu([[99, 0, 0]])]),
                           "node 1 ('relu0') input 0: refers to node 99"),
    "input_negative": (_doc([_v("x"), _relu([[-1, 0, 0]])]),
                       "node 1 ('relu0') input 0: refers to node -1"),
    "input_missing_output": (_doc([_v("x"), _relu([[0, 1, 0]])]),
                             "node 1 ('relu0') input 0: output 1 of node 'x' does not exist"),
    "input_not_ints": (_doc([_v("x"), _relu([["0", 0, 0]])]),
                       "node 1 ('relu0') input 0: expected [node, index, version]"),
    "bad_attribute": (_doc([_v("x"), {"op": "log_softmax", "name": "ls0",
                                      "attrs": {"axis": "minus one"}, "inputs": [[0, 0, 0]]}]),
                      "node 1 ('ls0'): operator log_softmax, attribute axis"),
    "bad_bool_attribute": (_doc([_v("x"), {"op": "sum", "name": "s0",
                                           "attrs": {"keepdims": "maybe"},
                                           "inputs": [[0, 0, 0]]}]),
                           "node 1 ('s0'): operator sum, attribute keepdims"),
    "unknown_attribute": (_doc([_v("x"), {"op": "sum", "name": "s0", "attrs": {"axes": "1"},
                                          "inputs": [[0, 0, 0]]}]),
                          "node 1 ('s0'): operator sum has no attribute 'axes'"),
    "non_string_attribute": (_doc([_v("x"), {"op": "sum", "name": "s0", "attrs": {"axis": 1},
                                             "inputs": [[0, 0, 0]]}]),
                             "node 1 ('s0'): 'attrs' must map strings to strings"),
    "missing_required_attribute": (_doc([_v("x"), {"op": "Reshape", "name": "r0",
                                                   "inputs": [[0, 0, 0]]}]),
                                   "node 1 ('r0'): operator Reshape needs attribute 'shape'"),
    "head_missing_node": (_doc([_v("x"), _relu([[0, 0, 0]])], [[5, 0, 0]]),
                          "head 0: refers to node 5"),
    "head_hidden_output": (_doc([_v("d"), _v("l"), {"op": "CTCLoss", "name": "ctc0",
                                                    "inputs": [[0, 0, 0], [1, 0, 0]]}],
                                [[2, 1, 0]]),
                           "head 0: output 1 of node 'ctc0' does not exist"),
    "no_heads": (_doc([_v("x")], []), "'heads' must be a non-empty list"),
    "too_few_inputs": (_doc([_v("x"), {"op": "elemwise_add", "name": "add0",
                                       "inputs": [[0, 0, 0]]}]),
                       "node 1 ('add0'): operator elemwise_add takes 2 inputs, got 1"),
    "too_many_inputs": (_doc([_v("x"), _relu([[0, 0, 0], [0, 0, 0]])]),
                        "node 1 ('relu0'): operator relu takes 1 inputs, got 2"),
    "ctc_lengths_not_wired": (_doc([_v("d"), _v("l"), {
        "op": "CTCLoss", "name": "ctc0", "attrs": {"use_data_lengths": "True"},
        "inputs": [[0, 0, 0], [1, 0, 0]]}]), "node 2 ('ctc0'): operator CTCLoss takes 3 inputs"),
    "variadic_without_inputs": (_doc([_v("x"), {"op": "Concat", "name": "c0",
                                                "attrs": {"num_args": "0"}, "inputs": []}]),
                                "node 1 ('c0'): operator Concat takes 0 inputs"),
    "variable_with_inputs": (_doc([_v("x"), {"op": "null", "name": "y", "inputs": [[0, 0, 0]]}]),
                             "node 1 ('y'): a variable cannot have inputs"),
    "node_not_object": (_doc([_v("x"), 7]), "node 1: is not an object"),
    "node_without_op": (_doc([_v("x"), {"name": "n"}]), "node 1: needs string fields"),
    "huge_constant": (_doc([{"op": "_zeros", "name": "z0", "inputs": [],
                             "attrs": {"shape": "(100000, 100000, 1000)"}}]),
                      "node 0 ('z0'): _zeros(): shape (100000, 100000, 1000) has 10000000000000 elements"),
    "huge_broadcast": (_doc([{"op": "null", "name": "x", "inputs": [], "attrs": {"__shape__": "(1, 1)"}},
                             {"op": "broadcast_to", "name": "b0", "inputs": [[0, 0, 0]],
                              "attrs": {"shape": "(3000000, 3000000)"}}]),
                       "node 1 ('b0'): broadcast_to(float32[1,1]): the output shape (3000000, 3000000) has"),
    "huge_variable": (_doc([{"op": "null", "name": "x", "inputs": [],
                             "attrs": {"__shape__": "(4294967296, 4)"}}]),
                      "node 0 ('x'): bad __shape__"),
    "deeply_nested": ("[" * 100000 + "]" * 100000, "not valid JSON"),
}


@pytest.mark.parametrize("text,message", BAD_GRAPHS.values(), ids=list(BAD_GRAPHS))
def test_malformed_graph_json_is_rejected(text, message):
    with pytest.raises(sym.GraphFormatError) as info:
        sym.load_json(text, source="bad.json")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, MXNetError)
    assert str(err).startswith("bad.json: ")
    assert message in str(err)


def test_well_formed_documents_in_the_bad_table_load_when_fixed():
    # sanity: the helper documents are valid once the fault is removed
    s = sym.load_json(_doc([_v("x"), _relu([[0, 0, 0]])]))
    np.testing.assert_array_equal(s.eval(x=nd.array([-1, 2]))[0].asnumpy(), [0, 2])


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "broken-symbol.json"
    bad.write_text(_doc([_v("x"), {"op": "FancyOp", "name": "f0", "inputs": [[0, 0, 0]]}]))
    with pytest.raises(sym.GraphFormatError, match=r"broken-symbol\.json: node 1 \('f0'\)"):
        sym.load(str(bad))
    binary = tmp_path / "binary-symbol.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(sym.GraphFormatError, match="UTF-8"):
        sym.load(str(binary))


# --- automatic names ---------------------------------------------------------------------------

def test_auto_names_inside_name_scope():
    with name_scope("p_"):
        a = sym.var("a")
        s1 = a + a
        s2 = a * 2
        s3 = s1 + s2
        s4 = sym.relu(a)
        s5 = a - 1
        s6 = sym.log_softmax(a)
        s7 = sym.Reshape(a, shape=(-1,))
        s8 = sym.mean(a, name="explicit")
    assert [s.name for s in (s1, s2, s3, s4, s5, s6, s7, s8)] == [
        "p__plus0", "p__mulscalar0", "p__plus1", "p_relu0", "p__minusscalar0",
        "p_log_softmax0", "p_reshape0", "p_explicit"]  # MXNet's Prefix: given names too
    assert a.name == "a"  # variables keep their own names
    assert s3.list_outputs() == ["p__plus1_output"]
    assert [n["name"] for n in json.loads(s3.tojson())["nodes"]] == [
        "a", "p__plus0", "p__mulscalar0", "p__plus1"]
    with name_scope("q_"):  # a new scope counts from 0 again
        assert (a + a).name == "q__plus0"
        assert (a * 3).name == "q__mulscalar0"
    with name_scope("p_"):
        assert (a + a).name == "p__plus0"
