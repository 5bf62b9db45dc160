"""The compiler's graph: typed nodes that name their inputs, numbered in one table.

A :class:`Node` is an input of the graph or one application of a registry op; its
``inputs`` are references ``(producer, output index)`` to other nodes of the same
:class:`Graph`.  The class definitions are the whole schema: every pass reads and writes
these fields, nothing else.  Every pass takes a graph and returns one (usually the same,
changed in place).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..ops import Op
from ..symbol import Symbol
from ..symbol.printer import format_nodes
from ..symbol.symbol import trace_order
from .errors import CompileError

Ref = tuple[int, int]  # (node id, output index): one value of the graph


@dataclass(slots=True, eq=False)
class Node:
    """One value-producing node.  ``kind`` is 'input' (op None, no inputs, one output) or
    'op'.  ``attrs`` are the op's explicit attributes, parsed; ``shapes`` and ``dtypes``
    hold one entry per output (checked against the registry by pass ``infer``)."""

    kind: str
    name: str
    shapes: list[tuple[int, ...]]
    dtypes: list[str]
    op: Op | None = None
    attrs: dict = field(default_factory=dict)
    inputs: list[Ref] = field(default_factory=list)  # in the op's input order
    # pass fuse: stored in a buffer of its own (a graph output, a kernel's root, a value
    # two kernels read ...); every other op node is computed inside its consumers' kernel
    materialize: bool = False
    # pass fuse: the kernel(s) computing this node, by number in the order kernels run
    # ("0", or "0,2" for a value two kernels recompute); "" before fuse
    kernel: str = ""

    @property
    def num_outputs(self) -> int:
        return len(self.shapes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Output 0's shape."""
        return self.shapes[0]

    @property
    def dtype(self) -> str:
        """Output 0's dtype."""
        return self.dtypes[0]

    @property
    def is_input(self) -> bool:
        return self.kind == "input"


class Graph:
    """Nodes by id, the input nodes in call order and the values the graph returns.

    Ids are never reused.  They follow the trace's order for traced nodes; a node a pass
    adds gets the next free id, so order nodes with :meth:`topo_order`, never by id.
    """

    __slots__ = ("_next_id", "inputs", "nodes", "outputs")

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.inputs: list[int] = []
        self.outputs: list[Ref] = []
        self._next_id = 0

    def __getitem__(self, n: int) -> Node:
        return self.nodes[n]

    def __iter__(self) -> Iterator[int]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, node: Node) -> int:
        """Add node under a new id and return the id."""
        n = self._next_id
        self._next_id += 1
        self.nodes[n] = node
        return n

    def type_of(self, ref: Ref) -> tuple[tuple[int, ...], str]:
        """(shape, dtype) of one value."""
        node = self.nodes[ref[0]]
        return node.shapes[ref[1]], node.dtypes[ref[1]]

    def topo_order(self) -> list[int]:
        """Every node, each after the nodes it reads: a depth-first walk over the nodes in
        id order, inputs in input order (the trace's own order for a traced graph)."""
        order: list[int] = []
        state: dict[int, int] = {}  # 1: on the walk's stack, 2: placed
        for root in self.nodes:
            if root in state:
                continue
            stack = [(root, iter(self.nodes[root].inputs))]
            state[root] = 1
            while stack:
                n, pending = stack[-1]
                for u, _ in pending:
                    s = state.get(u)
                    if s is None:
                        if u not in self.nodes:
                            raise CompileError(f"node {n} reads node {u}, which is not in "
                                               f"the graph")
                        state[u] = 1
                        stack.append((u, iter(self.nodes[u].inputs)))
                        break
                    if s == 1:
                        raise CompileError(f"the graph has a cycle through node {u} "
                                           f"({self.nodes[u].name!r})")
                else:
                    stack.pop()
                    state[n] = 2
                    order.append(n)
        return order

    def users(self) -> dict[int, list[int]]:
        """Each node's consumer nodes (a consumer reading it twice is listed twice)."""
        out: dict[int, list[int]] = {n: [] for n in self.nodes}
        for v, node in self.nodes.items():
            for u, _ in node.inputs:
                out[u].append(v)
        return out

    def upstream(self, *roots: int) -> set[int]:
        """roots and every node they read, directly or not."""
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(u for u, _ in self.nodes[n].inputs)
        return seen

    def remove_dead(self) -> None:
        """Remove every node no output depends on (inputs stay: they are the signature)."""
        keep = self.upstream(*self.inputs, *(n for n, _ in self.outputs))
        self.nodes = {n: node for n, node in self.nodes.items() if n in keep}


def from_symbol(symbol: Symbol, input_names: list[str]) -> Graph:
    """The compiler's graph of a traced symbol; input_names gives the call order."""
    G = Graph()
    ids: dict[int, int] = {}
    for node in trace_order(symbol.topo_nodes()):
        if node.is_variable:
            ids[id(node)] = G.add(Node("input", node.name, [node.shapes[0]], [node.dtypes[0]]))
        else:
            ids[id(node)] = G.add(Node("op", node.name, list(node.shapes), list(node.dtypes),
                                       node.op, dict(node.attrs),
                                       [(ids[id(src)], out) for src, out in node.inputs]))
    by_name = {G[n].name: n for n in G if G[n].is_input}
    unread = [name for name in input_names if name not in by_name]
    if unread:  # a caller with inputs the graph ignores passes on only the ones it reads
        raise ValueError(f"the graph does not read input(s) {unread} (its inputs: "
                         f"{sorted(by_name)}); compile it with the inputs it reads")
    G.inputs = [by_name[name] for name in input_names]
    G.outputs = [(ids[id(n)], i) for n, i in symbol._outputs]
    return G


def format_graph(G: Graph, title: str = "graph") -> str:
    """G in the symbol printer's one-line-per-node form, each op node annotated with the
    kernel(s) computing it once pass fuse has run."""
    nodes = [G[n] for n in G.inputs] + [G[n] for n in G.topo_order() if not G[n].is_input]
    return format_nodes(nodes, [(G[n], i) for n, i in G.outputs], title,
                        inputs_of=lambda node: [(G[u], out) for u, out in node.inputs],
                        note=_kernel_note)


def _kernel_note(node: Node) -> str:
    if not node.kernel:
        return ""
    return f"# kernel {node.kernel}" + (" (stored)" if node.materialize else "")
