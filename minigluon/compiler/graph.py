"""The compiler's graph: a traced Symbol as a networkx MultiDiGraph.

Nodes are integers in topological order with attributes ``kind`` ('input' or 'op'),
``op`` (the registry Op), ``attrs`` (explicit, parsed), ``shape``, ``dtype`` and ``name``.
An edge ``u -> v`` carries ``pos`` (which input of v) and ``out`` (which output of u).
``G.graph['inputs']`` lists input nodes in call order, ``G.graph['outputs']`` the
(node, output) pairs the graph returns.  Every pass takes and returns such a graph.
"""
from __future__ import annotations

import networkx as nx

from ..base import fmt_type
from ..ops import format_attr
from ..symbol import Symbol


def from_symbol(symbol: Symbol, input_names: list[str]) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph()
    ids: dict = {}
    for node in symbol.topo_nodes():
        nid = len(ids)
        ids[id(node)] = nid
        if node.is_variable:
            G.add_node(nid, kind="input", op=None, attrs={}, name=node.name,
                       shape=node.shapes[0], dtype=node.dtypes[0])
            continue
        G.add_node(nid, kind="op", op=node.op, attrs=dict(node.attrs), name=node.name,
                   shape=node.shapes[0], dtype=node.dtypes[0], shapes=list(node.shapes),
                   dtypes=list(node.dtypes))
        for pos, (src, out) in enumerate(node.inputs):
            G.add_edge(ids[id(src)], nid, pos=pos, out=out)
    by_name = {G.nodes[n]["name"]: n for n in G if G.nodes[n]["kind"] == "input"}
    unread = [name for name in input_names if name not in by_name]
    if unread:  # a caller with inputs the graph ignores passes on only the ones it reads
        raise ValueError(f"the graph does not read input(s) {unread} (its inputs: "
                         f"{sorted(by_name)}); compile it with the inputs it reads")
    G.graph["inputs"] = [by_name[name] for name in input_names]
    G.graph["outputs"] = [(ids[id(n)], i) for n, i in symbol._outputs]
    return G


def inputs_of(G: nx.MultiDiGraph, n: int) -> list[int]:
    """Producer nodes of n's inputs, in input order."""
    edges = sorted(G.in_edges(n, data=True), key=lambda e: e[2]["pos"])
    return [u for u, _, _ in edges]


def replace_uses(G: nx.MultiDiGraph, old: int, new: int) -> None:
    """Point every consumer (and graph output) of old at new."""
    for _, v, key, data in list(G.out_edges(old, keys=True, data=True)):
        G.remove_edge(old, v, key)
        G.add_edge(new, v, **data)
    G.graph["outputs"] = [(new if n == old else n, i) for n, i in G.graph["outputs"]]


def format_graph(G: nx.MultiDiGraph, title: str = "graph") -> str:
    """One line per node, as the symbol printer, plus the kernel each node belongs to."""
    order = list(nx.topological_sort(G))
    label = {}
    params = []
    for n in G.graph["inputs"]:
        d = G.nodes[n]
        label[n] = f"%{d['name']}"
        params.append(f"%{d['name']} : {fmt_type(d['shape'], d['dtype'])}")
    lines = [f"{title}({', '.join(params)}) {{"]
    for n in order:
        d = G.nodes[n]
        if d["kind"] == "input":
            continue
        label[n] = f"%{len(label) - len(params)}"
        args = [label[u] for u in inputs_of(G, n)]
        args += [f"{k}={format_attr(v)}" for k, v in d["attrs"].items()]
        note = ""
        if "kernel" in d:
            note = f"   # kernel {d['kernel']}" + (" (stored)" if d.get("materialize") else "")
        lines.append(f"  {label[n]} = {d['op'].name}({', '.join(args)}) : "
                     f"{fmt_type(d['shape'], d['dtype'])}{note}")
    lines.append(f"  return {', '.join(label[n] for n, _ in G.graph['outputs'])}")
    lines.append("}")
    return "\n".join(lines)
