"""Pass 2, simplify: remove what needs no code, fold constants, merge duplicates.

- identities: a reshape to the same shape, ``x * 1``, ``x + 0``, a cast to the same dtype,
  ``BlockGrad`` and copies vanish (their consumers read the input directly);
- ``reshape_like(x, y)`` becomes ``Reshape(x, shape=y.shape)``, so y is no longer read;
- common subexpressions (same op, attributes and inputs) are merged;
- a reduction over every axis of a large input is split in two (rows, then the row
  results), so its first half can run in parallel;
- dead code (nodes no output depends on) is removed.
"""
from __future__ import annotations

import math

import networkx as nx

from ..ops import format_attr, get_op
from .graph import inputs_of, replace_uses

SPLIT_MIN_ELEMENTS = 1 << 16


def _is_identity(G, n) -> bool:
    d = G.nodes[n]
    if d["kind"] != "op":
        return False
    op = d["op"]
    name = op.name
    src = inputs_of(G, n)[0] if G.in_degree(n) else None
    if src is None:
        return False
    s = G.nodes[src]
    if "identity" in op.traits:
        return True
    if op.neutral_scalar is not None:
        k = d["attrs"].get("scalar")  # x - (-0) is x + 0
        return k == op.neutral_scalar and math.copysign(1, k) > 0 and s["dtype"] == d["dtype"]
    if name == "transpose":
        perm = d["attrs"].get("axes") or ()
        return tuple(perm) == tuple(range(len(s["shape"])))
    if name == "SwapAxis":
        nd = len(s["shape"])
        a, b = d["attrs"].get("dim1", 0) % nd, d["attrs"].get("dim2", 0) % nd
        return a == b
    return "shape_identity" in op.traits and s["shape"] == d["shape"] and s["dtype"] == d["dtype"]


def _replace_node(G, n, op_name: str, attrs: dict, keep_inputs: int) -> None:
    for u, v, key, data in list(G.in_edges(n, keys=True, data=True)):
        if data["pos"] >= keep_inputs:
            G.remove_edge(u, v, key)
    G.nodes[n]["op"] = get_op(op_name)
    G.nodes[n]["attrs"] = attrs


def _split_full_reduction(G, n) -> bool:
    d = G.nodes[n]
    if d["kind"] != "op" or d["op"].name not in ("sum", "mean"):
        return False
    a = d["attrs"]
    src = inputs_of(G, n)[0]
    shape = G.nodes[src]["shape"]
    covers_all = a.get("axis") in (None, ()) and not a.get("exclude") and not a.get("keepdims")
    if not covers_all or len(shape) < 2 or shape[0] < 2 or math.prod(shape) < SPLIT_MIN_ELEMENTS:
        return False
    rows = max(G.nodes) + 1
    G.add_node(rows, kind="op", op=get_op("sum"), attrs={"axis": 0, "exclude": True},
               name=d["name"] + "_rows", shape=(shape[0],), dtype=d["dtype"], materialize=True)
    for u, v, key, data in list(G.in_edges(n, keys=True, data=True)):
        G.remove_edge(u, v, key)
        G.add_edge(u, rows, **data)
    G.add_edge(rows, n, pos=0, out=0)
    if d["op"].name == "mean":  # the mean of every element, not of the row sums
        d["attrs"] = {}
        d["op"] = get_op("sum")
        scale = max(G.nodes) + 1
        G.add_node(scale, kind="op", op=get_op("_mul_scalar"),
                   attrs={"scalar": 1.0 / math.prod(shape)}, name=d["name"] + "_scale",
                   shape=d["shape"], dtype=d["dtype"])
        replace_uses(G, n, scale)
        G.add_edge(n, scale, pos=0, out=0)
    return True


def _cse_key(G, n):
    d = G.nodes[n]
    attrs = tuple(sorted((k, format_attr(v)) for k, v in d["attrs"].items()))
    ins = tuple((u, data["out"]) for u, _, data in
                sorted(G.in_edges(n, data=True), key=lambda e: e[2]["pos"]))
    return d["op"].name, attrs, ins


def simplify(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    for n in list(nx.topological_sort(G)):
        d = G.nodes[n]
        if d["kind"] == "op" and d["op"].name == "reshape_like":
            _replace_node(G, n, "Reshape", {"shape": tuple(d["shape"])}, keep_inputs=1)
        if _is_identity(G, n):
            replace_uses(G, n, inputs_of(G, n)[0])
    for n in list(nx.topological_sort(G)):
        _split_full_reduction(G, n)
    seen: dict = {}
    for n in list(nx.topological_sort(G)):
        if G.nodes[n]["kind"] != "op":
            continue
        key = _cse_key(G, n)
        if key in seen:
            replace_uses(G, n, seen[key])
        else:
            seen[key] = n
    live = set(G.graph["inputs"])
    for n, _ in G.graph["outputs"]:
        live |= nx.ancestors(G, n) | {n}
    G.remove_nodes_from([n for n in list(G) if n not in live])
    return G
