"""Pass 3, fuse: decide which values are stored in memory; everything else is computed
inside the kernel that needs it, so a chain of elementwise ops and the reductions that
consume them read each input once and write only the result.

A node is *stored* (``materialize=True``) when it is a graph output, feeds an op that
runs outside the loop IR (no ``lower`` in the registry: an external or special kernel),
is itself such an op, is used by two different kernels (so it is computed once), or is a
reduction producing a matrix that a later reduction reads (SDMLLoss's distances).
Each stored op node is the root of one kernel; ``kernel`` on a node names the kernel(s)
that compute it.
"""
from __future__ import annotations

import networkx as nx

from .graph import inputs_of


def lowerable(d: dict) -> bool:
    """Computed inside the loop IR (a hand-written or external kernel needs stored inputs)."""
    return d["kind"] == "op" and d["op"].lower is not None and not d["op"].extern_kernel


def _is_matrix_reduction(d: dict) -> bool:
    """A reduction whose result is itself a matrix (not one value per row): evaluated inside
    a later reduction's loop it would be recomputed for every use, so it is stored."""
    return (d["kind"] == "op" and "reduction" in d["op"].traits and not d["attrs"].get("keepdims")
            and sum(1 for n in d["shape"] if n > 1) >= 2)


def _feeds_reduction(G: nx.MultiDiGraph, n: int) -> bool:
    stack, seen = list(G.successors(n)), set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        d = G.nodes[v]
        if d["kind"] == "op" and d["op"].traits & {"reduction", "row_reduction"}:
            return True
        stack.extend(G.successors(v))
    return False


def fuse(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    for n, _ in G.graph["outputs"]:
        G.nodes[n]["materialize"] = True
    for n in G:
        if _is_matrix_reduction(G.nodes[n]) and _feeds_reduction(G, n):
            G.nodes[n]["materialize"] = True
    for n in G:
        d = G.nodes[n]
        if d["kind"] == "op" and not lowerable(d):
            d["materialize"] = True
            for u in inputs_of(G, n):
                G.nodes[u]["materialize"] = True
    # walk consumers-first: a node belongs to the kernels of its consumers
    owners: dict[int, set] = {}
    for n in reversed(list(nx.topological_sort(G))):
        d = G.nodes[n]
        if d["kind"] == "input":
            continue
        if d.get("materialize"):
            owners[n] = {n}
        else:
            roots = set()
            for v in G.successors(n):
                roots |= owners[v] if not G.nodes[v].get("materialize") else {v}
            if len(roots) > 1:
                d["materialize"] = True
                owners[n] = {n}
            else:
                owners[n] = roots
    order = {n: i for i, n in enumerate(n for n in nx.topological_sort(G)
                                        if G.nodes[n].get("materialize") and G.nodes[n]["kind"] == "op")}
    for n, roots in owners.items():
        G.nodes[n]["kernel"] = ",".join(str(order[r]) for r in sorted(roots, key=order.get))
    return G
