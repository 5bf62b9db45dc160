"""The graph verifier: what every pass may assume, checked after each one (as JAX's
``check_jaxpr``).

``verify(G, after=pass)`` raises CompileError naming the pass and the node (in its
printed one-line form) at the first broken rule:

- structure: node ids, kinds and arities are what the node's op declares; every input
  reference names an existing output of an existing node; the graph is acyclic; the
  graph's inputs are its input nodes (each once, in call order) and its outputs exist;
  every node is an input or something an output depends on (no dead code);
- types: every op node's shapes and dtypes are what its registry rules give for its
  inputs' (pass infer set them; later passes must keep them true);
- fuse's annotations, once present: every op node names the kernel(s) computing it; each
  kernel has exactly one stored root; a stored node belongs to its own kernel only; any
  other node to exactly the kernels of its consumers; graph outputs, hand-written and
  numpy-run ops and their inputs are stored.

The pipeline runs it after every pass when ``MINIGLUON_CHECK_PASSES=1`` (the test suite
sets it); users pay nothing by default.
"""
from __future__ import annotations

import os

from ..symbol.printer import format_line
from .errors import CompileError
from .graph import Graph
from .infer import infer_node

CHECK_ENV = "MINIGLUON_CHECK_PASSES"


def checks_enabled() -> bool:
    """Whether the pipeline verifies the graph after every pass (``MINIGLUON_CHECK_PASSES``)."""
    return os.environ.get(CHECK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def describe(G: Graph, n: int) -> str:
    """Node n in one line, its values named after their nodes: ``%ctcloss0 = CTCLoss(...)``."""
    node = G[n]

    def label(ref) -> str:
        u, out = ref
        name = G[u].name if u in G.nodes else f"<missing node {u}>"
        return f"%{name}" + (f".{out}" if out else "")

    if node.is_input:
        return f"input %{node.name} : {node.shapes} {node.dtypes}"
    outs = [label((n, i)) for i in range(len(node.shapes))]
    return format_line(node, outs, [label(ref) for ref in node.inputs])


def verify(G: Graph, after: str) -> Graph:
    """G itself, unchanged, when every rule holds; else CompileError naming ``after``."""

    def fail(problem: str, n: int | None = None) -> CompileError:
        at = "" if n is None else f" at node {n}: {describe(G, n)}"
        return CompileError(f"graph invalid after pass {after}: {problem}{at}")

    _check_structure(G, fail)
    _check_types(G, fail)
    if any(node.kernel for node in G.nodes.values()):
        _check_fused(G, fail)
    return G


def _check_structure(G: Graph, fail) -> None:
    for n, node in G.nodes.items():
        if node.kind not in ("input", "op"):
            raise fail(f"unknown kind {node.kind!r}", n)
        if len(node.shapes) != len(node.dtypes):
            raise fail(f"{len(node.shapes)} shapes but {len(node.dtypes)} dtypes", n)
        if node.is_input:
            if node.op is not None or node.inputs or len(node.shapes) != 1:
                raise fail("an input node has an op, inputs or more than one output", n)
            continue
        if node.op is None:
            raise fail("an op node has no op", n)
        if len(node.shapes) != node.op.n_outputs(node.attrs):
            raise fail(f"{len(node.shapes)} output types, but {node.op.name} has "
                       f"{node.op.n_outputs(node.attrs)} outputs", n)
        _check_arity(node, n, fail)
        for u, out in node.inputs:
            if u not in G.nodes:
                raise fail(f"reads node {u}, which is not in the graph", n)
            if not 0 <= out < len(G[u].shapes):
                raise fail(f"reads output {out} of {G[u].name!r}, which has "
                           f"{len(G[u].shapes)}", n)
    try:
        G.topo_order()
    except CompileError as e:
        raise fail(str(e)) from None
    inputs = [n for n, node in G.nodes.items() if node.is_input]
    if len(set(G.inputs)) != len(G.inputs) or sorted(G.inputs) != sorted(inputs):
        raise fail(f"the graph's inputs {G.inputs} are not its input nodes {inputs}, each once")
    for n, out in G.outputs:
        if n not in G.nodes or not 0 <= out < len(G[n].shapes):
            raise fail(f"graph output ({n}, {out}) does not exist")
    dead = set(G.nodes) - G.upstream(*G.inputs, *(n for n, _ in G.outputs))
    if dead:
        raise fail("no output depends on this node", min(dead))


def _check_arity(node, n: int, fail) -> None:
    op = node.op
    if op.variadic:
        ok = len(node.inputs) >= 1
    elif op.active_inputs is not None:
        ok = len(node.inputs) == len(op.input_names(op.full_attrs(node.attrs)))
    else:
        required = sum(1 for name in op.inputs if not name.endswith("?"))
        ok = required <= len(node.inputs) <= len(op.inputs)
    if not ok:
        raise fail(f"{len(node.inputs)} inputs do not fit {op.name}{op.inputs}", n)


def _check_types(G: Graph, fail) -> None:
    for n in G.topo_order():
        node = G[n]
        if node.is_input:
            if node.shape is None or node.dtype is None:
                raise fail("an input has no shape or dtype", n)
            continue
        try:
            shapes, dtypes = infer_node(G, node)
        except CompileError as e:
            raise fail(f"the registry refuses these inputs ({e})", n) from None
        have = [tuple(s) for s in node.shapes], list(node.dtypes)
        if have != ([tuple(s) for s in shapes], list(dtypes)):
            raise fail(f"the registry gives {shapes} {dtypes}", n)


def _check_fused(G: Graph, fail) -> None:
    for n, _ in G.outputs:
        if not G[n].materialize:
            raise fail("a graph output is not stored", n)
    for n, node in G.nodes.items():
        if not node.is_input and (node.op.lower is None or node.op.extern_kernel):
            for u, _ in node.inputs:
                if not G[u].materialize:
                    raise fail(f"input {G[u].name!r} of an op outside the loop IR is not stored", n)
    users = G.users()
    roots: dict[str, int] = {}
    for n, node in G.nodes.items():
        if node.is_input:
            continue
        if not node.kernel:
            raise fail("no kernel computes this node", n)
        if node.materialize:
            if "," in node.kernel:
                raise fail(f"a stored node in several kernels ({node.kernel})", n)
            if node.kernel in roots:
                raise fail(f"kernel {node.kernel} has two stored roots, "
                           f"{G[roots[node.kernel]].name!r} and this one", n)
            roots[node.kernel] = n
            continue
        expected = set()
        for v in users[n]:
            expected |= {G[v].kernel} if G[v].materialize else set(G[v].kernel.split(","))
        if set(node.kernel.split(",")) != expected:
            raise fail(f"in kernel(s) {node.kernel}, but its consumers are in "
                       f"{','.join(sorted(expected))}", n)
        if not node.op.lower or node.op.extern_kernel:
            raise fail("an op without a loop-IR lowering is not stored", n)
    if sorted(roots, key=int) != [str(k) for k in range(len(roots))]:
        raise fail(f"kernels are not numbered 0..{len(roots) - 1}: {sorted(roots, key=int)}")
