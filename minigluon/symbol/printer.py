"""One line per node, jaxpr-style: ``%3 = broadcast_mul(%1, %2) : float32[64,10]``."""
from __future__ import annotations

from ..base import fmt_type
from ..ops import format_attr
from .symbol import Symbol


def format_graph(symbol: Symbol) -> str:
    nodes = symbol.topo_nodes()
    names: dict = {}
    params, body = [], []
    for node in nodes:
        if node.is_variable:
            names[(id(node), 0)] = f"%{node.name}"
            params.append(f"%{node.name} : {fmt_type(node.shapes[0], node.dtypes[0] or '?')}")
            continue
        outs = []
        for i in range(node.op.num_outputs):
            names[(id(node), i)] = f"%{len(names) - len(params)}"
            outs.append(names[(id(node), i)])
        args = [names[(id(n), i)] for n, i in node.inputs]
        args += [f"{k}={format_attr(v)}" for k, v in node.attrs.items()]
        types = ", ".join(fmt_type(s, d or "?") for s, d in zip(node.shapes, node.dtypes))
        lhs = ", ".join(outs)
        body.append(f"  {lhs} = {node.op.name}({', '.join(args)}) : {types}")
    heads = ", ".join(names[(id(n), i)] for n, i in symbol._outputs)
    return "\n".join([f"graph({', '.join(params)}) {{", *body, f"  return {heads}", "}"])
