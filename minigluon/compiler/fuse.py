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

from .graph import Graph, Node


def lowerable(node: Node) -> bool:
    """Computed inside the loop IR (a hand-written or external kernel needs stored inputs)."""
    return not node.is_input and node.op.lower is not None and not node.op.extern_kernel


def extra_outputs_read(G: Graph) -> set[int]:
    """The nodes an output beyond their first is read from (a consumer's or the graph's):
    a lowering computes output 0 only, so such a node runs outside the loop IR unless a
    hand-written kernel writes all its outputs (BatchNorm with output_mean_var)."""
    found = {u for node in G.nodes.values() for u, out in node.inputs if out > 0}
    return found | {n for n, i in G.outputs if i > 0}


def _is_matrix_reduction(node: Node) -> bool:
    """A reduction whose result is itself a matrix (not one value per row): evaluated inside
    a later reduction's loop it would be recomputed for every use, so it is stored."""
    return (not node.is_input and "reduction" in node.op.traits
            and not node.attrs.get("keepdims") and sum(1 for n in node.shape if n > 1) >= 2)


def _feeds_reduction(G: Graph, users: dict[int, list[int]], n: int) -> bool:
    stack, seen = list(users[n]), set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if G[v].op.traits & {"reduction", "row_reduction"}:
            return True
        stack.extend(users[v])
    return False


def fuse(G: Graph) -> Graph:
    users = G.users()
    extra = extra_outputs_read(G)
    for n, _ in G.outputs:
        G[n].materialize = True
    for n in G:
        node = G[n]
        if _is_matrix_reduction(node) and _feeds_reduction(G, users, n):
            node.materialize = True
        if not node.is_input and (not lowerable(node) or n in extra):
            node.materialize = True
            for u, _ in node.inputs:
                G[u].materialize = True
    # walk consumers-first: a node belongs to the kernels of its consumers
    order = G.topo_order()
    owners: dict[int, set] = {}
    for n in reversed(order):
        node = G[n]
        if node.is_input:
            continue
        if node.materialize:
            owners[n] = {n}
            continue
        roots = set()
        for v in users[n]:
            roots |= {v} if G[v].materialize else owners[v]
        if len(roots) > 1:
            node.materialize = True
            owners[n] = {n}
        else:
            owners[n] = roots
    number = {n: i for i, n in enumerate(n for n in order
                                         if G[n].materialize and not G[n].is_input)}
    for n, roots in owners.items():
        G[n].kernel = ",".join(str(number[r]) for r in sorted(roots, key=number.get))
    return G
