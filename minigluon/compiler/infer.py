"""Pass 1, infer: every node's shape and dtype from the registry's rules.

Traced graphs already carry types; graphs loaded from JSON or rewritten by a pass are
re-checked here, so later passes can rely on ``shape`` and ``dtype`` being right.
"""
from __future__ import annotations

import networkx as nx

from ..base import MXNetError
from .errors import CompileError

# CompileError used to live here; the re-export keeps ``from .infer import CompileError`` working
__all__ = ["CompileError", "infer"]


def infer(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    for n in nx.topological_sort(G):
        d = G.nodes[n]
        if d["kind"] == "input":
            if d["shape"] is None:
                raise CompileError(f"input {d['name']!r} has no shape")
            continue
        edges = sorted(G.in_edges(n, data=True), key=lambda e: e[2]["pos"])
        ins = [(G.nodes[u], data["out"]) for u, _, data in edges]
        try:
            shapes, dtypes = d["op"].infer(
                d["attrs"], [s.get("shapes", [s["shape"]])[k] for s, k in ins],
                [s.get("dtypes", [s["dtype"]])[k] for s, k in ins])
        except (MXNetError, ValueError, TypeError) as e:
            raise CompileError(f"node {d['name']!r}: {e}") from None
        d["shape"], d["dtype"] = shapes[0], dtypes[0]
        d["shapes"], d["dtypes"] = shapes, dtypes
    return G
