"""Store or recompute: which forward values a compiled backward reads from memory.

The gradient graph of a hybridized call refers to values of the forward graph (a sigmoid,
a row's log-sum-exp, CTC's gradient output).  Each one is either *stored* (the forward
returns it as a hidden extra output, the backward reads it) or *recomputed* inside the
backward's fused kernels from the inputs.  The choice is made per value with a cost model
in element-operations:

* recompute: the op's ``cost`` (registry; by default every element read and written),
  plus that of every operand that is not available itself, recursively;
* store: writing it in the forward and reading it back, ``MEMORY`` per element each way,
  plus, when the forward would otherwise fuse it away, reading that kernel's inputs once
  more (storing splits a kernel in two).

A value is stored when recomputing it costs more.  Graph outputs are available for free
(the forward returns them anyway).  Elementwise chains and row reductions come out
recomputed (the backward re-reads inputs it needs anyway); ``CTCLoss``'s gradient and
matrix products come out stored.
"""
from __future__ import annotations

import math

from ..symbol import Symbol, var
from ..symbol.symbol import Node, topo_order

# a float read from or written to DRAM costs about as much as this many vectorized
# element operations on this class of machine (2 cores, ~10 GB/s, AVX2/AVX-512)
MEMORY = 8


def op_cost(node: Node) -> float:
    """Element-operations to compute node once (the registry's ``cost``, or its traffic)."""
    in_shapes = [src.shapes[i] for src, i in node.inputs]
    if node.op.cost is not None:
        return float(node.op.cost(node.op.full_attrs(node.attrs), in_shapes, node.shapes))
    return float(sum(math.prod(s) for s in in_shapes) + sum(math.prod(s) for s in node.shapes))


def _fused_away(node: Node) -> bool:
    """Would the forward compile this value inside another kernel (not store it)?"""
    return node.op.lower is not None and not node.op.extern_kernel


def choose_saved(outputs: list[tuple[Node, int]], grads: list[Symbol]) -> list[tuple[Node, int]]:
    """The forward values (node, output) the backward graph should read instead of
    recomputing: forward outputs it uses, and the values worth storing."""
    forward = topo_order(n for n, _ in outputs)
    in_forward = {id(n) for n in forward}
    free = {(id(n), i) for n, i in outputs}
    # values the gradient-only part of the graph reads from the forward
    needed: set = set()
    for node in topo_order(n for g in grads for n, _ in g._outputs):
        if id(node) not in in_forward:
            needed |= {(id(s), i) for s, i in node.inputs if id(s) in in_forward}
    needed |= {(id(n), i) for g in grads for n, i in g._outputs if id(n) in in_forward}

    available = set(free)
    cost: dict[int, float] = {}  # recompute cost of each forward node, given `available`
    leaves: dict[int, float] = {}  # elements of available values its kernel reads
    for node in forward:
        if node.is_variable:
            cost[id(node)], leaves[id(node)] = 0.0, float(math.prod(node.shapes[0]))
            available.add((id(node), 0))
            continue
        c, reads = op_cost(node), 0.0
        for src, i in node.inputs:
            if (id(src), i) in available:
                reads += math.prod(src.shapes[i])
            else:
                c += cost[id(src)]
                reads += leaves[id(src)]
        cost[id(node)], leaves[id(node)] = c, reads
        for i, shape in enumerate(node.shapes):
            if (id(node), i) in available:
                continue
            store = 2 * MEMORY * math.prod(shape) + (MEMORY * reads if _fused_away(node) else 0)
            # a random draw is stored whenever backward needs it: recomputing it would
            # draw other numbers (and move the generator on)
            if (c > store or "random" in node.op.traits) and _reaches(node, i, needed, forward):
                available.add((id(node), i))
    # keep only what the backward reaches without passing through another available value
    saved, seen = [], set()
    stack = [(n, i) for n in forward for i in range(n.num_outputs) if (id(n), i) in needed]
    while stack:
        n, i = stack.pop()
        if (id(n), i) in seen or n.is_variable:
            continue
        seen.add((id(n), i))
        if (id(n), i) in available:
            saved.append((n, i))
        else:
            stack.extend(n.inputs)
    order = {id(n): k for k, n in enumerate(forward)}
    return sorted(saved, key=lambda r: (order[id(r[0])], r[1]))


def _reaches(node: Node, out: int, needed: set, forward: list[Node]) -> bool:
    """Does the backward use (node, out), directly or through forward values it needs?"""
    if (id(node), out) in needed:
        return True
    users = {(id(node), out)}
    for n in forward:
        if any((id(s), i) in users for s, i in n.inputs):
            if any((id(n), k) in needed for k in range(n.num_outputs)):
                return True
            users |= {(id(n), k) for k in range(n.num_outputs)}
    return False


def substitute(grads: list[Symbol], saved: list[tuple[Node, int]]) -> tuple[list[Symbol], list]:
    """The gradient graph with each saved value replaced by a variable ``saved{k}``:
    (new gradient symbols, the variables in saved's order)."""
    variables = [var(f"saved{k}", shape=n.shapes[i], dtype=n.dtypes[i])
                 for k, (n, i) in enumerate(saved)]
    swap = {(id(n), i): v._outputs[0] for (n, i), v in zip(saved, variables)}
    copies: dict[int, Node] = {}

    def ref(src: Node, i: int):
        return swap.get((id(src), i)) or (copies[id(src)], i)

    for node in topo_order(n for g in grads for n, _ in g._outputs):
        if node.is_variable:
            copies[id(node)] = node
            continue
        copies[id(node)] = Node(node.op, node.name, node.attrs, [ref(s, i) for s, i in node.inputs],
                                node.shapes, node.dtypes)
    return [Symbol([ref(n, i) for n, i in g._outputs]) for g in grads], variables
