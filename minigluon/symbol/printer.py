"""One line per node, jaxpr-style: ``%3 = broadcast_mul(%1, %2) : float32[64,10]``.

The one printer of graphs: ``print(symbol)`` and the compiler's stages (``minigluon
explain``, errors) both call :func:`format_nodes`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..base import fmt_type
from ..ops import format_attr
from .symbol import Symbol


def format_graph(symbol: Symbol) -> str:
    """The symbol's graph, its variables as parameters in the order the trace met them."""
    return format_nodes(symbol.topo_nodes(), symbol._outputs)


def format_nodes(nodes: Sequence[Any], outputs: Sequence[tuple[Any, int]], title: str = "graph",
                 inputs_of: Callable[[Any], list] | None = None,
                 note: Callable[[Any], str] | None = None) -> str:
    """Print a graph given as nodes in topological order.

    A node is any object with ``name``, ``op`` (None for a variable, which becomes a
    parameter), ``attrs``, ``shapes`` and ``dtypes`` (one per output); its inputs are
    ``inputs_of(node)`` (default ``node.inputs``) as (node, output index) pairs, and
    outputs lists the (node, output index) pairs returned.  ``note(node)``, when given and
    not empty, is appended to the node's line as a comment column.
    """
    names: dict = {}
    params, body = [], []
    for node in nodes:
        if node.op is None:
            names[(id(node), 0)] = f"%{node.name}"
            params.append(f"%{node.name} : {fmt_type(node.shapes[0], node.dtypes[0] or '?')}")
            continue
        outs = []
        for i in range(len(node.shapes)):  # symbol and compiler nodes alike
            names[(id(node), i)] = f"%{len(names) - len(params)}"
            outs.append(names[(id(node), i)])
        ins = node.inputs if inputs_of is None else inputs_of(node)
        line = format_line(node, outs, [names[(id(n), i)] for n, i in ins])
        comment = note(node) if note is not None else ""
        body.append(f"  {line}   {comment}" if comment else f"  {line}")
    heads = ", ".join(names[(id(n), i)] for n, i in outputs)
    return "\n".join([f"{title}({', '.join(params)}) {{", *body, f"  return {heads}", "}"])


def format_line(node: Any, outs: list[str], args: list[str]) -> str:
    """One op node's line, ``%3 = broadcast_mul(%1, %2) : float32[64,10]``, given the
    names of its outputs and of its inputs."""
    args = args + [f"{k}={format_attr(v)}" for k, v in node.attrs.items()]
    types = ", ".join(fmt_type(s, d or "?") for s, d in zip(node.shapes, node.dtypes))
    return f"{', '.join(outs)} = {node.op.name}({', '.join(args)}) : {types}"
