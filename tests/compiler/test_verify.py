"""The graph verifier (compiler/verify.py): each rule catches a graph broken on purpose,
and the graphs the pipeline produces pass it after every pass."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import sym
from minigluon.base import CompileError
from minigluon.compiler import pipeline
from minigluon.compiler.graph import Node, from_symbol
from minigluon.compiler.verify import checks_enabled, verify
from minigluon.ops import get_op


def _passes_until(symbol, names, last):
    G = from_symbol(symbol, names)
    for name, run in pipeline.GRAPH_PASSES:
        G = run(G)
        if name == last:
            return G
    raise AssertionError(last)


def _small(last="fuse"):
    """x, y (4, 3) -> sum(exp(x) * y, axis=1) and argmax(x) (numpy-run): two kernels."""
    x, y = sym.var("x", shape=(4, 3)), sym.var("y", shape=(4, 3))
    out = sym.Group([sym.sum(sym.exp(x) * y, axis=1), sym.argmax(x, axis=1)])
    return _passes_until(out, ["x", "y"], last)


def _ctc(last="fuse"):
    data = sym.var("data0", shape=(6, 2, 5), dtype="float32")
    label = sym.var("data1", shape=(2, 3), dtype="float32")
    return _passes_until(mg.gluon.loss.CTCLoss(layout="TNC")(data, label), ["data0", "data1"],
                         last)


def _op(G, name):
    return next(n for n in G.topo_order() if not G[n].is_input and G[n].op.name == name)


def _fails(G, match, after="fuse"):
    with pytest.raises(CompileError, match=match) as e:
        verify(G, after=after)
    assert f"after pass {after}" in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("last", [name for name, _ in pipeline.GRAPH_PASSES])
def test_pipeline_graphs_pass_after_every_pass(last):
    assert verify(_small(last), after=last) is not None
    assert verify(_ctc(last), after=last) is not None


def test_the_suite_runs_with_checks_on_and_users_do_not(monkeypatch):
    assert checks_enabled()  # tests/conftest.py
    monkeypatch.delenv("MINIGLUON_CHECK_PASSES")
    assert not checks_enabled()


def test_the_pipeline_verifies_after_each_pass_when_enabled(monkeypatch):
    seen = []
    monkeypatch.setattr(pipeline, "verify", lambda G, after: seen.append(after))
    x = sym.var("x", shape=(3,))
    pipeline.build_schedule(sym.exp(x), ["x"])
    assert seen == [name for name, _ in pipeline.GRAPH_PASSES]
    seen.clear()
    monkeypatch.setenv("MINIGLUON_CHECK_PASSES", "0")
    pipeline.build_schedule(sym.exp(x), ["x"])
    assert seen == []


def test_a_broken_pass_is_named_with_the_node_it_broke(monkeypatch):
    def bad_simplify(G):  # claims exp's output is float64
        G[_op(G, "exp")].dtypes = ["float64"]
        return G

    passes = [(n, bad_simplify if n == "simplify" else run) for n, run in pipeline.GRAPH_PASSES]
    monkeypatch.setattr(pipeline, "GRAPH_PASSES", passes)
    x = sym.var("x", shape=(3,))
    with pytest.raises(CompileError) as e:
        pipeline.build_schedule(sym.exp(x) + 1, ["x"])
    msg = str(e.value)
    assert "after pass simplify" in msg and "exp(%x) : float64[3]" in msg
    assert "float32" in msg  # what the registry says


# --- structure --------------------------------------------------------------------------

def test_a_cycle():
    G = _small("simplify")
    e = _op(G, "exp")
    G[e].inputs = [(_op(G, "elemwise_mul"), 0)]
    _fails(G, "cycle", after="simplify")


def test_an_input_from_a_missing_node():
    G = _small("simplify")
    G[_op(G, "exp")].inputs = [(999, 0)]
    _fails(G, "reads node 999", after="simplify")


def test_an_input_from_a_missing_output():
    G = _small("simplify")
    G[_op(G, "exp")].inputs = [(G.inputs[0], 1)]
    _fails(G, "reads output 1 of 'x'", after="simplify")


def test_too_few_inputs():
    G = _small("simplify")
    m = _op(G, "elemwise_mul")
    G[m].inputs = G[m].inputs[:1]
    _fails(G, r"1 inputs do not fit elemwise_mul", after="simplify")


def test_output_types_for_each_output():
    G = _ctc("simplify")
    G[_op(G, "CTCLoss")].shapes.pop()
    _fails(G, "1 shapes but 2 dtypes", after="simplify")


def test_graph_inputs_are_the_input_nodes_in_call_order():
    G = _small("simplify")
    G.inputs = [G.inputs[0]]
    _fails(G, "are not its input nodes", after="simplify")
    G = _small("simplify")
    G.inputs = [G.inputs[0], G.inputs[0]]
    _fails(G, "are not its input nodes", after="simplify")


def test_graph_outputs_exist():
    G = _small("simplify")
    G.outputs = [(_op(G, "sum"), 1)]
    _fails(G, r"graph output \(\d+, 1\) does not exist", after="simplify")


def test_dead_code():
    G = _small("simplify")
    G.add(Node("op", "orphan", [(4, 3)], ["float32"], get_op("exp"), {}, [(G.inputs[0], 0)]))
    msg = _fails(G, "no output depends on this node", after="simplify")
    assert "%orphan = exp(%x) : float32[4,3]" in msg


# --- types --------------------------------------------------------------------------

def test_a_shape_the_registry_does_not_give():
    G = _small("infer")
    G[_op(G, "sum")].shapes = [(3,)]
    msg = _fails(G, r"the registry gives \[\(4,\)\]", after="infer")
    assert "%sum" in msg and ": float32[3]" in msg


def test_inputs_the_registry_refuses():
    G = _small("infer")
    x, y = G.inputs
    G[y].shapes = [(5, 3)]  # exp(x) * y no longer broadcasts
    _fails(G, "the registry refuses these inputs", after="infer")


# --- fuse's annotations -----------------------------------------------------------------

def test_every_op_node_names_its_kernel():
    G = _small()
    G[_op(G, "exp")].kernel = ""
    _fails(G, "no kernel computes this node")


def test_each_kernel_has_one_stored_root():
    G = _small()
    G[_op(G, "exp")].materialize = True  # stored, but still labelled the sum's kernel
    _fails(G, "has two stored roots")


def test_a_fused_node_is_in_its_consumers_kernels():
    G = _small()
    G[_op(G, "exp")].kernel = "1"
    _fails(G, "but its consumers are in 0")


def test_kernels_are_numbered_from_zero():
    G = _small()
    for n in G:
        if not G[n].is_input:
            G[n].kernel = ",".join(str(int(k) + 1) for k in G[n].kernel.split(","))
    _fails(G, r"kernels are not numbered 0\.\.1")


def test_graph_outputs_are_stored():
    G = _small()
    G.outputs = G.outputs + [(_op(G, "exp"), 0)]
    _fails(G, "a graph output is not stored")


def test_inputs_of_hand_written_kernels_are_stored():
    G = _ctc()
    ctc = _op(G, "_ctc_loss_lse")
    lse = G[ctc].inputs[1][0]
    assert G[lse].materialize
    # fused into the CTC kernel, as if that kernel computed it: only this rule is broken
    G[lse].materialize, G[lse].kernel = False, G[ctc].kernel
    _fails(G, "outside the loop IR is not stored")


def test_the_rewritten_ctc_is_typed_by_its_own_rule():
    G = _ctc("ctc")
    n = _op(G, "_ctc_loss_lse")
    assert G[n].attrs["layout"] == "TNC"
    assert [tuple(s) for s in G[n].shapes] == [(2,), (6, 2, 5)]
    G[G[n].inputs[1][0]].shapes = [(2, 6)]  # an lse in the other layout
    _fails(G, "the registry", after="ctc")


def test_the_printer_is_shared_with_the_symbol_printer():
    x = sym.var("x", shape=(4, 3))
    y = sym.exp(x) * 2
    traced = pipeline.explain(y, ["x"]).split("\n\n")[0]
    assert traced.replace("traced(", "graph(", 1) == y.debug_str()
    assert np.all(np.isfinite(y.eval(x=mg.nd.ones((4, 3)))[0].asnumpy()))
