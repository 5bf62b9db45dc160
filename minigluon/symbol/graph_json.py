"""MXNet 1.x graph JSON: ``nodes``/``arg_nodes``/``node_row_ptr``/``heads``, attrs as strings.

Loading treats the file as untrusted: every field is type-checked, attribute strings are
parsed by the registry's parsers (never ``eval``), and inputs may only point backwards,
so a loaded graph is acyclic by construction.
"""
from __future__ import annotations

import json
from typing import Any

from ..base import MXNetError
from ..ops import format_attr, get_op
from ..ops.creation import checked_shape
from ..ops.registry import OPS, AttrError
from .interpreter import variable_type
from .symbol import Node, Symbol, invoke, topo_order, var

MXNET_VERSION = 10901


class GraphFormatError(MXNetError, ValueError):
    """A graph file that is not valid MXNet graph JSON."""


def to_json(symbol: Symbol, shapes: bool = True) -> str:
    """The graph as MXNet JSON; ``shapes=False`` drops variables' ``__shape__``/``__dtype__``
    (an exported graph takes any input shape, as MXNet's exports do)."""
    nodes = topo_order(n for n, _ in symbol._outputs)
    index = {id(n): i for i, n in enumerate(nodes)}
    out_nodes = []
    for node in nodes:
        entry: dict[str, Any] = {"op": "null" if node.is_variable else node.op.name,
                                 "name": node.name}
        if node.is_variable:
            attrs = {k: v for k, v in node.var_attrs.items()
                     if shapes or k not in ("__shape__", "__dtype__")}
        else:
            attrs = {k: format_attr(v) for k, v in node.attrs.items()}
            if node.op.variadic:
                attrs["num_args"] = str(len(node.inputs))
        if attrs:
            entry["attrs"] = attrs
        entry["inputs"] = [[index[id(src)], i, 0] for src, i in node.inputs]
        out_nodes.append(entry)
    row_ptr = [0]
    for node in nodes:
        row_ptr.append(row_ptr[-1] + node.num_outputs)
    graph = {
        "nodes": out_nodes,
        "arg_nodes": [i for i, n in enumerate(nodes) if n.is_variable],
        "node_row_ptr": row_ptr,
        "heads": [[index[id(n)], i, 0] for n, i in symbol._outputs],
        "attrs": {"mxnet_version": ["int", MXNET_VERSION]},
    }
    return json.dumps(graph, indent=2)


def _fail(source: str, where: str, msg: str) -> GraphFormatError:
    return GraphFormatError(f"{source}: {where}: {msg}")


def _entry(source: str, where: str, value: Any, limit: int, nodes: list) -> tuple[Node, int]:
    if (not isinstance(value, list) or len(value) not in (2, 3)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise _fail(source, where, f"expected [node, index, version], got {value!r}")
    src, idx = value[0], value[1]
    if not 0 <= src < limit:
        raise _fail(source, where, f"refers to node {src}, which is not an earlier node")
    node = nodes[src]
    count = 1 if node.is_variable else node.op.n_visible(node.attrs)
    if not 0 <= idx < count:
        raise _fail(source, where, f"output {idx} of node {node.name!r} does not exist "
                    f"(it has {count})")
    return node, idx


def load_json(text: str, source: str = "<json>") -> Symbol:
    """Build a Symbol from MXNet graph JSON text."""
    try:
        graph = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise GraphFormatError(f"{source}: not valid JSON: {e}") from None
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise GraphFormatError(f"{source}: expected an object with a 'nodes' list")
    nodes: list[Node] = []
    for i, raw in enumerate(graph["nodes"]):
        where = f"node {i}"
        if not isinstance(raw, dict):
            raise _fail(source, where, "is not an object")
        op_name, name = raw.get("op"), raw.get("name")
        if not isinstance(op_name, str) or not isinstance(name, str):
            raise _fail(source, where, "needs string fields 'op' and 'name'")
        where = f"node {i} ({name!r})"
        attrs = raw.get("attrs", raw.get("param", {})) or {}
        if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in attrs.items()):
            raise _fail(source, where, "'attrs' must map strings to strings")
        inputs = raw.get("inputs", [])
        if not isinstance(inputs, list):
            raise _fail(source, where, "'inputs' must be a list")
        refs = [_entry(source, f"{where} input {j}", v, i, nodes) for j, v in enumerate(inputs)]
        if op_name == "null":
            if refs:
                raise _fail(source, where, "a variable cannot have inputs")
            node = var(name, attr=attrs)._outputs[0][0]
            try:  # a declared __shape__/__dtype__ makes the loaded graph shape-specialized
                shape, dtype = variable_type(node, {}, {})
                node.shapes[0] = None if shape is None else checked_shape(shape)
                if shape is not None or "__dtype__" in attrs:
                    node.dtypes[0] = dtype
            except (MXNetError, ValueError) as e:
                raise _fail(source, where, f"bad __shape__ or __dtype__: {e}") from None
            nodes.append(node)
            continue
        if op_name not in OPS:
            raise _fail(source, where, f"unknown operator {op_name!r}")
        op = get_op(op_name)
        try:
            parsed = op.parse_attrs(attrs)
        except AttrError as e:
            raise _fail(source, where, str(e)) from None
        expected = len(refs) if op.variadic else len(op.input_names(op.full_attrs(parsed)))
        if len(refs) != expected or (op.variadic and not refs):
            raise _fail(source, where, f"operator {op_name} takes {expected} inputs, got {len(refs)}")
        ins = [Symbol([r]) for r in refs]
        try:
            out = invoke(op, ins, parsed, name)
        except (MXNetError, ValueError, TypeError) as e:
            raise _fail(source, where, str(e)) from None
        nodes.append(out._outputs[0][0])
    heads = graph.get("heads")
    if not isinstance(heads, list) or not heads:
        raise GraphFormatError(f"{source}: 'heads' must be a non-empty list")
    outs = [_entry(source, f"head {k}", h, len(nodes), nodes) for k, h in enumerate(heads)]
    return Symbol(outs)


def load(fname: str) -> Symbol:
    """Load a ``*-symbol.json`` file."""
    try:
        with open(fname, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise GraphFormatError(f"{fname}: not UTF-8 text: {e}") from None
    return load_json(text, fname)
