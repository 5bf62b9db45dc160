"""The compiler's typed graph (compiler/graph.py): its classes are the schema every pass
uses, its order puts producers first, and it prints as the symbol printer does."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import minigluon as mg
from minigluon import sym
from minigluon.compiler import pipeline
from minigluon.compiler.graph import Graph, Node, format_graph, from_symbol
from minigluon.ops import get_op

COMPILER = Path(mg.__file__).parent / "compiler"
# a node field read through a string key (the networkx form: G.nodes[n]["op"],
# d.get("shapes", ...)): the schema would live in a docstring again
STRING_KEYED = re.compile(r"""\[\s*["'](kind|op|attrs|name|shape|shapes|dtype|dtypes|kernel|"""
                          r"""materialize)["']\s*\]|\.get\(\s*["'](shapes|dtypes|kernel|"""
                          r"""materialize)["']""")


@pytest.mark.parametrize("path", sorted(COMPILER.glob("*.py")), ids=lambda p: p.name)
def test_no_compiler_module_reads_node_fields_by_string_key(path):
    text = path.read_text()
    hits = [f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
            for m in STRING_KEYED.finditer(text)]
    assert hits == []
    assert "networkx" not in text


def test_a_node_has_only_its_declared_fields():
    node = Node("input", "x", [(2,)], ["float32"])
    assert (node.shape, node.dtype, node.kernel, node.materialize) == ((2,), "float32", "", False)
    with pytest.raises(AttributeError):
        node.stored = True  # a misspelt annotation fails at once


def test_topo_order_puts_producers_first_whatever_their_ids():
    G = Graph()
    x = G.add(Node("input", "x", [(3,)], ["float32"]))
    G.inputs = [x]
    e = G.add(Node("op", "e", [(3,)], ["float32"], get_op("exp"), {}, [(x, 0)]))
    G.outputs = [(e, 0)]
    # a node added later (a higher id) that e now reads
    n = G.add(Node("op", "n", [(3,)], ["float32"], get_op("negative"), {}, [(x, 0)]))
    G[e].inputs = [(n, 0)]
    assert G.topo_order() == [x, n, e]
    assert G.users() == {x: [n], e: [], n: [e]}


def test_ids_are_never_reused():
    x = sym.var("x", shape=(3,))
    G = from_symbol(sym.exp(sym.negative(x)), ["x"])
    top = max(G)
    G.outputs = [(G.inputs[0], 0)]
    G.remove_dead()
    assert list(G) == G.inputs
    assert G.add(Node("input", "y", [(3,)], ["float32"])) == top + 1


def test_a_multi_output_node_prints_as_the_symbol_printer_prints_it():
    data = sym.var("d", shape=(5, 2, 4))
    label = sym.var("l", shape=(2, 2))
    loss = sym.CTCLoss(data, label)
    G = from_symbol(loss, ["d", "l"])
    assert format_graph(G) == loss.debug_str()
    assert "  %0, %1 = CTCLoss(%d, %l) : float32[2], float32[5,2,4]" in format_graph(G)


def test_the_fused_graph_adds_only_the_kernel_column():
    x = sym.var("x", shape=(4, 3))
    y = sym.sum(sym.exp(x), axis=1)
    G, _ = pipeline.build_schedule(y, ["x"])
    lines = format_graph(G, "fuse").splitlines()
    assert lines[1] == "  %0 = exp(%x) : float32[4,3]   # kernel 0"
    assert lines[2] == "  %1 = sum(%0, axis=1) : float32[4]   # kernel 0 (stored)"


def test_simplify_keeps_which_output_a_removed_node_passed_on():
    """BlockGrad of CTCLoss's gradient output (output 1) and a duplicate CTCLoss: both are
    removed, and their consumers read output 1 of the one CTCLoss left, not output 0."""
    import numpy as np

    from minigluon.ops.ctc_reference import ctc_loss
    data, label = sym.var("d", shape=(5, 2, 4)), sym.var("l", shape=(2, 2))
    first, again = sym.CTCLoss(data, label), sym.CTCLoss(data, label)
    grad_of = lambda loss: sym.Symbol([(loss._outputs[0][0], 1)])  # noqa: E731
    out = sym.Group([first, sym.BlockGrad(grad_of(first)) * 2, grad_of(again) * 3])
    G, _ = pipeline.build_schedule(out, ["d", "l"])
    assert sum(1 for n in G if not G[n].is_input and "ctc" in G[n].op.name.lower()) == 1
    x = np.random.default_rng(3).normal(size=(5, 2, 4)).astype(np.float32)
    lab = np.array([[1, 2], [3, 0]], np.float32)
    loss, twice, thrice = pipeline.compile_graph(out, ["d", "l"]).run([x, lab])
    ref_loss, ref_grad = ctc_loss(x, lab)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(twice, 2 * ref_grad, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(thrice, 3 * ref_grad, rtol=1e-4, atol=1e-6)
