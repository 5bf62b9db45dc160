"""Pass 4, schedule: turn the fused graph into an ordered list of steps over buffers.

Buffers are numbered slots: the inputs first, then one per stored value.  A step is
a generated kernel (``kernel``), a numpy kernel from the registry for an op the loop IR
does not cover (``external``; BLAS products count as compiled, anything else as
interpreted), or a free reshape of a stored buffer (``alias``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from ..ops import format_attr, get_op
from .extern import extern_kernel
from .graph import inputs_of


def _runs_blas(op_name: str) -> bool:
    """An op whose numpy kernel is a real library kernel (BLAS), not an interpreter fallback."""
    return "blas" in get_op(op_name).traits


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
        how = "BLAS" if _runs_blas(self.op) else f"numpy interpreter: {self.why}"
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
        return [s for s in self.steps if s.kind == "external" and not _runs_blas(s.op)]

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


def schedule(G: nx.MultiDiGraph) -> Schedule:
    slot: dict[tuple, int] = {}
    buffers: list[tuple] = []

    def new_slot(key, shape, dtype) -> int:
        slot[key] = len(buffers)
        buffers.append((tuple(shape), dtype))
        return slot[key]

    for n in G.graph["inputs"]:
        new_slot((n, 0), G.nodes[n]["shape"], G.nodes[n]["dtype"])
    steps: list[Step] = []
    for n in nx.topological_sort(G):
        d = G.nodes[n]
        if d["kind"] == "input" or not d.get("materialize"):
            continue
        srcs = inputs_of(G, n)
        extra_outputs = any(data["out"] > 0 for _, _, data in G.out_edges(n, data=True)) or \
            any(m == n and i > 0 for m, i in G.graph["outputs"])
        # a hand-written kernel that can write all its outputs (``writes_all_outputs``)
        # stays a kernel when outputs beyond 0 are used; otherwise those need numpy
        extern = d["op"].extern_kernel
        writes_all = extra_outputs and extern and extern_kernel(d["op"]).writes_all_outputs
        if extern and (not extra_outputs or writes_all):
            # hand-written kernel: reads stored inputs, writes output 0 (when it is the only
            # one used) or all outputs; threads split output 0's first axis
            reads = [slot[(u, _out(G, u, n))] for u in srcs]
            outs = [new_slot((n, i), s, t) for i, (s, t) in enumerate(zip(d["shapes"], d["dtypes"]))]
            writes = outs if writes_all else outs[:1]
            work = sum(math.prod(buffers[s][0]) for s in reads + writes[1:])
            steps.append(Step("kernel", n, reads, writes, name=f"kernel{len(steps)}",
                              op=d["op"].name, attrs={k: format_attr(v) for k, v in d["attrs"].items()},
                              parallel=d["shape"][0] if d["shape"] else 1, work=work))
            continue
        if d["op"].lower is None or extern:
            outs = [new_slot((n, i), s, t) for i, (s, t) in enumerate(zip(d["shapes"], d["dtypes"]))]
            reads = [slot[(u, _out(G, u, n))] for u in srcs]
            why = "no compiled kernel computes it" if not extern else \
                "its compiled kernel does not write every output this graph uses"
            steps.append(Step("external", n, reads, outs, op=d["op"].name, why=why,
                              attrs={k: format_attr(v) for k, v in d["attrs"].items()}))
            continue
        if "view" in d["op"].traits and (srcs[0], 0) in slot:
            out = new_slot((n, 0), d["shape"], d["dtype"])
            steps.append(Step("alias", n, [slot[(srcs[0], 0)]], [out]))
            continue
        out = new_slot((n, 0), d["shape"], d["dtype"])
        reads = sorted({slot[k] for k in _stored_inputs(G, n, slot)})
        work = math.prod(d["shape"]) + sum(math.prod(buffers[s][0]) for s in reads)
        steps.append(Step("kernel", n, reads, [out], name=f"kernel{len(steps)}",
                          parallel=d["shape"][0] if d["shape"] else 1, work=work))
    outputs = [slot[(n, i)] for n, i in G.graph["outputs"]]
    return Schedule(buffers, [slot[(n, 0)] for n in G.graph["inputs"]], outputs, steps)


def _out(G, u, v) -> int:
    return next(data["out"] for _, w, data in G.out_edges(u, data=True) if w == v)


def _stored_inputs(G, n, slot) -> set:
    """Stored values (node, output) the kernel rooted at n reads (stops at stored nodes)."""
    found, seen = set(), set()
    stack = [(u, data["out"]) for u, _, data in G.in_edges(n, data=True)]
    while stack:
        u, out = stack.pop()
        if (u, out) in seen:
            continue
        seen.add((u, out))
        if (u, out) in slot and (G.nodes[u]["kind"] == "input" or G.nodes[u].get("materialize")):
            found.add((u, out))
        else:
            stack.extend((w, data["out"]) for w, _, data in G.in_edges(u, data=True))
    return found
