"""Pass 2, simplify: remove what needs no code, merge duplicates, split full reductions.

- an op with an ``expand`` rule in the registry (split) becomes, per output, the chain of
  single-input ops its rule gives (slice_axis views), which then fuse like any view;
- identities: a reshape to the same shape, ``x * 1``, ``x + 0``, a cast to the same dtype,
  ``BlockGrad`` and copies vanish (their consumers read the input directly);
- ``reshape_like(x, y)`` becomes ``Reshape(x, shape=y.shape)``, so y is no longer read;
- common subexpressions (same op, attributes and inputs) are merged, random draws excepted;
- a reduction over every axis of a large input is split in two (rows, then the row
  results), so its first half can run in parallel;
- dead code (nodes no output depends on) is removed.
"""
from __future__ import annotations

import math

from ..ops import format_attr, get_op
from .graph import Graph, Node, Ref

SPLIT_MIN_ELEMENTS = 1 << 16


def _is_identity(G: Graph, node: Node) -> bool:
    """Does node return its input 0's value unchanged?"""
    if node.is_input or not node.inputs:
        return False
    op, a = node.op, node.attrs
    shape, dtype = G.type_of(node.inputs[0])
    if "identity" in op.traits:
        return True
    if op.neutral_scalar is not None:
        k = a.get("scalar")  # x - (-0) is x + 0
        return k == op.neutral_scalar and math.copysign(1, k) > 0 and dtype == node.dtype
    if op.name == "transpose":
        return tuple(a.get("axes") or ()) == tuple(range(len(shape)))
    if op.name == "SwapAxis":
        nd = len(shape)
        return a.get("dim1", 0) % nd == a.get("dim2", 0) % nd
    return "shape_identity" in op.traits and shape == node.shape and dtype == node.dtype


def _split_full_reduction(G: Graph, n: int) -> list[Ref] | None:
    """For a sum or mean of every element of a large matrix: nodes computing it as the sum
    of the row sums (stored), and the value that replaces n's; None when n is no such node."""
    node = G[n]
    if node.is_input or node.op.name not in ("sum", "mean"):
        return None
    a = node.attrs
    shape = G.type_of(node.inputs[0])[0]
    covers_all = a.get("axis") in (None, ()) and not a.get("exclude") and not a.get("keepdims")
    if not covers_all or len(shape) < 2 or shape[0] < 2 or math.prod(shape) < SPLIT_MIN_ELEMENTS:
        return None
    rows = G.add(Node("op", node.name + "_rows", [(shape[0],)], [node.dtype], get_op("sum"),
                      {"axis": 0, "exclude": True}, node.inputs, materialize=True))
    total = G.add(Node("op", node.name, node.shapes, node.dtypes, get_op("sum"), {},
                       [(rows, 0)]))
    if node.op.name == "sum":
        return [(total, 0)]
    # the mean of every element, not of the row sums
    return [(G.add(Node("op", node.name + "_scale", node.shapes, node.dtypes,
                        get_op("_mul_scalar"), {"scalar": 1.0 / math.prod(shape)},
                        [(total, 0)])), 0)]


def _cse_key(node: Node) -> tuple:
    attrs = tuple(sorted((k, format_attr(v)) for k, v in node.attrs.items()))
    return node.op.name, attrs, tuple(node.inputs)


def _rewrite(G: Graph, replace) -> None:
    """Walk the graph inputs first; ``replace(n)`` returns the values that take the place
    of node n's outputs, one per output (or None to keep n).  Consumers and graph outputs
    then read the replacements, and n is left dead."""
    moved: dict[Ref, Ref] = {}
    for n in G.topo_order():
        node = G[n]
        node.inputs = [moved.get(ref, ref) for ref in node.inputs]
        new = replace(n)
        if new is not None:
            moved.update(((n, i), ref) for i, ref in enumerate(new))
    G.outputs = [moved.get(ref, ref) for ref in G.outputs]


def _expanded(G: Graph, n: int) -> list[Ref] | None:
    """Node n's outputs computed by the small graph of its registry ``expand`` rule; None
    for an op without one."""
    node = G[n]
    if node.is_input or node.op.expand is None:
        return None
    steps, outs = node.op.expand(node.op.full_attrs(node.attrs),
                                 [G.type_of(r)[0] for r in node.inputs])
    made: list[int] = []
    for j, (name, attrs, refs) in enumerate(steps):
        ins = [node.inputs[r[1]] if r[0] == "in" else (made[r[0]], r[1]) for r in refs]
        op = get_op(name)
        parsed = op.parse_attrs(attrs)
        shapes, dtypes = op.infer(parsed, [G.type_of(r)[0] for r in ins],
                                  [G.type_of(r)[1] for r in ins])
        made.append(G.add(Node("op", f"{node.name}_{j}", shapes, dtypes, op, parsed, ins)))
    return [(made[j], i) for j, i in outs]


def simplify(G: Graph) -> Graph:
    _rewrite(G, lambda n: _expanded(G, n))

    def identity(n: int) -> list[Ref] | None:
        node = G[n]
        if node.is_input:
            return None
        if node.op.name == "reshape_like":  # y's shape is known: y need not be read
            node.op, node.attrs, node.inputs = get_op("Reshape"), {"shape": node.shape}, \
                node.inputs[:1]
        return [node.inputs[0]] if _is_identity(G, node) else None

    _rewrite(G, identity)
    G.remove_dead()
    _rewrite(G, lambda n: _split_full_reduction(G, n))
    seen: dict[tuple, int] = {}

    def duplicate(n: int) -> list[Ref] | None:
        node = G[n]
        if node.is_input or "random" in node.op.traits:  # two draws are two values
            return None
        key = _cse_key(node)
        if key in seen:
            return [(seen[key], i) for i in range(len(node.shapes))]
        seen[key] = n
        return None

    _rewrite(G, duplicate)
    G.remove_dead()
    return G
