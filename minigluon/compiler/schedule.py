"""Pass 4, schedule: turn the fused graph into an ordered list of steps over buffers.

Buffers are numbered slots: the inputs first, then one per stored value.  A step is
a generated kernel (``kernel``), a numpy kernel from the registry for an op the loop IR
does not cover (``external``; BLAS products count as compiled, a random op's draw from
mg.random's generator is a host step by design, anything else is interpreted), or a free
reshape of a stored buffer (``alias``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..ops import format_attr, get_op
from .extern import extern_kernel
from .graph import Graph, Ref


def _runs_blas(op_name: str) -> bool:
    """An op whose numpy kernel is a real library kernel (BLAS), not an interpreter fallback."""
    return "blas" in get_op(op_name).traits


def _host_step(op_name: str) -> bool:
    """A random op: numpy draws it from the generator eager code draws from, so that both
    give the same numbers.  A step of the design, not an interpreter fallback."""
    return "random" in get_op(op_name).traits


@dataclass
class Step:
    kind: str  # 'kernel' | 'external' | 'alias'
    node: int
    reads: list[int]
    writes: list[int]
    name: str = ""
    op: str = ""
    attrs: dict = field(default_factory=dict)
    parallel: int = 1  # extent of the outermost loop, split across threads
    work: int = 0  # elements read and written: decides whether threads pay off
    why: str = ""  # an external step: why numpy runs it, in words a user can act on

    def describe(self, buffers) -> str:
        ins = ", ".join(f"b{s}" for s in self.reads)
        outs = ", ".join(f"b{s}" for s in self.writes)
        if self.kind == "kernel":
            return f"{outs} = {self.name}({ins})   # parallel over {self.parallel}, {self.work} elements"
        if self.kind == "alias":
            return f"{outs} = reshape(b{self.reads[0]}) : {buffers[self.writes[0]]}"
        attrs = ", ".join(f"{k}={v}" for k, v in self.attrs.items())
        how = "BLAS" if _runs_blas(self.op) else "host step: draws from mg.random's " \
            "generator" if _host_step(self.op) else f"numpy interpreter: {self.why}"
        return f"{outs} = {self.op}({ins}{', ' if attrs else ''}{attrs})   # {how}"


@dataclass
class Schedule:
    buffers: list[tuple]  # (shape, dtype) per slot
    inputs: list[int]
    outputs: list[int]
    steps: list[Step]

    @property
    def interpreted_steps(self) -> list[Step]:
        """The steps numpy's reference kernels run (BLAS products are compiled code)."""
        return [s for s in self.steps if s.kind == "external" and not _runs_blas(s.op)
                and not _host_step(s.op)]

    @property
    def interpreted(self) -> bool:
        return bool(self.interpreted_steps)

    def format(self) -> str:
        lines = ["buffers:"]
        for i, (shape, dtype) in enumerate(self.buffers):
            role = "input" if i in self.inputs else "output" if i in self.outputs else "temp"
            lines.append(f"  b{i} : {dtype}{list(shape)}  ({role})")
        lines.append("steps:")
        lines += [f"  {s.describe(self.buffers)}" for s in self.steps]
        lines.append(f"return {', '.join(f'b{s}' for s in self.outputs)}")
        return "\n".join(lines)


def schedule(G: Graph) -> Schedule:
    slot: dict[Ref, int] = {}
    buffers: list[tuple] = []

    def new_slot(ref: Ref, shape, dtype) -> int:
        slot[ref] = len(buffers)
        buffers.append((tuple(shape), dtype))
        return slot[ref]

    for n in G.inputs:
        new_slot((n, 0), G[n].shape, G[n].dtype)
    # the nodes an output beyond their first is read from (a consumer's or the graph's)
    extra_outputs = {u for node in G.nodes.values() for u, out in node.inputs if out > 0}
    extra_outputs |= {n for n, i in G.outputs if i > 0}
    steps: list[Step] = []
    for n in G.topo_order():
        node = G[n]
        if node.is_input or not node.materialize:
            continue
        op = node.op
        attrs = {k: format_attr(v) for k, v in node.attrs.items()}
        # a hand-written kernel that can write all its outputs (``writes_all_outputs``)
        # stays a kernel when outputs beyond 0 are used; otherwise those need numpy
        extern = op.extern_kernel
        writes_all = n in extra_outputs and extern and extern_kernel(op).writes_all_outputs
        if extern and (n not in extra_outputs or writes_all):
            # hand-written kernel: reads stored inputs, writes output 0 (when it is the only
            # one used) or all outputs; threads split output 0's first axis
            reads = [slot[ref] for ref in node.inputs]
            outs = [new_slot((n, i), s, t) for i, (s, t) in enumerate(zip(node.shapes, node.dtypes))]
            writes = outs if writes_all else outs[:1]
            work = sum(math.prod(buffers[s][0]) for s in reads + writes[1:])
            steps.append(Step("kernel", n, reads, writes, name=f"kernel{len(steps)}",
                              op=op.name, attrs=attrs,
                              parallel=node.shape[0] if node.shape else 1, work=work))
            continue
        if op.lower is None or extern or n in extra_outputs:
            outs = [new_slot((n, i), s, t) for i, (s, t) in enumerate(zip(node.shapes, node.dtypes))]
            reads = [slot[ref] for ref in node.inputs]
            why = "no compiled kernel computes it" if op.lower is None and not extern else \
                "its compiled kernel does not write every output this graph uses"
            steps.append(Step("external", n, reads, outs, op=op.name, why=why, attrs=attrs))
            continue
        src = node.inputs[0] if node.inputs else None
        if "view" in op.traits and src in slot and src[1] == 0:
            out = new_slot((n, 0), node.shape, node.dtype)
            steps.append(Step("alias", n, [slot[src]], [out]))
            continue
        out = new_slot((n, 0), node.shape, node.dtype)
        reads = sorted({slot[ref] for ref in _stored_inputs(G, n, slot)})
        work = math.prod(node.shape) + sum(math.prod(buffers[s][0]) for s in reads)
        steps.append(Step("kernel", n, reads, [out], name=f"kernel{len(steps)}",
                          parallel=node.shape[0] if node.shape else 1, work=work))
    outputs = [slot[ref] for ref in G.outputs]
    return Schedule(buffers, [slot[(n, 0)] for n in G.inputs], outputs, steps)


def _stored_inputs(G: Graph, n: int, slot: dict[Ref, int]) -> set[Ref]:
    """Stored values the kernel rooted at n reads (the walk stops at stored nodes)."""
    found, seen = set(), set()
    stack = list(G[n].inputs)
    while stack:
        ref = stack.pop()
        if ref in seen:
            continue
        seen.add(ref)
        u = G[ref[0]]
        if ref in slot and (u.is_input or u.materialize):
            found.add(ref)
        else:
            stack.extend(u.inputs)
    return found
