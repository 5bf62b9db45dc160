"""Pass 1, infer: every node's shapes and dtypes from the registry's rules.

Traced graphs already carry types; graphs loaded from JSON or rewritten by a pass are
re-checked here, so later passes can rely on ``shapes`` and ``dtypes`` being right.
"""
from __future__ import annotations

from ..base import MXNetError
from .errors import CompileError
from .graph import Graph, Node

# CompileError used to live here; the re-export keeps ``from .infer import CompileError`` working
__all__ = ["CompileError", "infer", "infer_node"]


def infer_node(G: Graph, node: Node) -> tuple[list, list]:
    """(shapes, dtypes) the registry's rules give an op node for its inputs' types."""
    ins = [G.type_of(ref) for ref in node.inputs]
    try:
        return node.op.infer(node.attrs, [s for s, _ in ins], [t for _, t in ins])
    except (MXNetError, ValueError, TypeError) as e:
        raise CompileError(f"node {node.name!r}: {e}") from None


def infer(G: Graph) -> Graph:
    for n in G.topo_order():
        node = G[n]
        if node.is_input:
            if node.shape is None:
                raise CompileError(f"input {node.name!r} has no shape")
            continue
        node.shapes, node.dtypes = infer_node(G, node)
    return G
