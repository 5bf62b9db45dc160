"""The compiler as a list of named passes, and the entry point the blocks call.

    infer -> simplify -> ctc -> conv -> fuse -> schedule -> (loop IR) -> codegen -> link

``explain()`` runs them one by one and prints what each produced; ``compile_graph()``
runs them all, or, when this graph was compiled before (in this process or, through the
disk cache, in another), skips straight to loading the machine code.
"""
from __future__ import annotations

import dataclasses
import time
import weakref
from collections import OrderedDict

from .. import jit
from ..base import ForkSafeLock
from ..ops import format_attr
from ..symbol import Symbol
from ..symbol.symbol import trace_order
from . import link
from .codegen import codegen, loop_ir
from .conv_rewrite import conv_rewrite
from .ctc_rewrite import ctc_rewrite
from .errors import CompileError
from .executable import DATA_OFFSET, Executable
from .fuse import fuse
from .graph import Graph, format_graph, from_symbol
from .infer import infer
from .schedule import Schedule, Step, schedule
from .simplify import simplify
from .verify import checks_enabled, verify

GRAPH_PASSES = [("infer", infer), ("simplify", simplify), ("ctc", ctc_rewrite),
                ("conv", conv_rewrite), ("fuse", fuse)]


class MemoryCache:
    """Compiled executables by cache key, in this process.

    It holds every executable some block still uses, weakly, and the ``size`` used most
    recently, strongly: a loss built anew each step still skips LLVM, and the machine code
    of shapes no block calls any more is released instead of growing without bound.
    """

    def __init__(self, size: int):
        self.size = size
        self.live: weakref.WeakValueDictionary[str, Executable] = weakref.WeakValueDictionary()
        self.recent: OrderedDict[str, Executable] = OrderedDict()
        self.lock = ForkSafeLock()

    def get(self, key: str) -> Executable | None:
        with self.lock:
            exe = self.live.get(key)
            if exe is not None:
                self._keep(key, exe)
            return exe

    def put(self, key: str, exe: Executable) -> None:
        with self.lock:
            self.live[key] = exe
            self._keep(key, exe)

    def _keep(self, key: str, exe: Executable) -> None:
        self.recent[key] = exe
        self.recent.move_to_end(key)
        while len(self.recent) > self.size:
            self.recent.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.live.clear()
            self.recent.clear()


_MEMORY = MemoryCache(jit.memory_cache_size())


def canonical_text(symbol: Symbol, input_names: list[str]) -> str:
    """The graph without node names: what the machine code depends on."""
    nodes = trace_order(symbol.topo_nodes())  # the order random draws happen in matters
    index = {id(n): i for i, n in enumerate(nodes)}
    lines = [f"inputs {input_names}", f"data-offset {DATA_OFFSET}"]
    for n in nodes:
        if n.is_variable:
            lines.append(f"var {n.name} {n.shapes[0]} {n.dtypes[0]}")
        else:
            attrs = sorted((k, format_attr(v)) for k, v in n.attrs.items())
            ins = [(index[id(s)], i) for s, i in n.inputs]
            lines.append(f"{n.op.name} {attrs} {ins}")
    lines.append(f"outputs {[(index[id(n)], i) for n, i in symbol._outputs]}")
    return "\n".join(lines)


def build_schedule(symbol: Symbol, input_names: list[str]) -> tuple[Graph, Schedule]:
    """Run the graph passes and the schedule (verifying the graph after each pass when
    ``MINIGLUON_CHECK_PASSES=1``, see ``verify.py``)."""
    check = checks_enabled()
    G = from_symbol(symbol, input_names)
    for name, run in GRAPH_PASSES:
        G = run(G)
        if check:
            verify(G, after=name)
    return G, schedule(G)


def _kernel_arity(sched: Schedule) -> dict:
    return {s.name: 2 + len(s.reads) + len(s.writes) for s in sched.steps if s.kind == "kernel"}


def _schedule_to_json(sched: Schedule) -> dict:
    return {"buffers": [[list(s), d] for s, d in sched.buffers], "inputs": sched.inputs,
            "outputs": sched.outputs, "steps": [dataclasses.asdict(s) for s in sched.steps]}


def _schedule_from_json(data: dict) -> Schedule:
    return Schedule([(tuple(s), d) for s, d in data["buffers"]], data["inputs"], data["outputs"],
                    [Step(**s) for s in data["steps"]])


def _executable(sched: Schedule, obj: bytes | None) -> Executable:
    arity = _kernel_arity(sched)
    lib = link.Library(obj) if arity else None
    fns = {name: lib.function(name, n) for name, n in arity.items()} if lib else {}
    return Executable(sched, lib, fns)


def compile_graph(symbol: Symbol, input_names: list[str], stats=None) -> Executable:
    """Compile a traced graph (memory cache, then disk cache, then LLVM)."""
    key = link.cache_key(canonical_text(symbol, input_names))
    hit = _MEMORY.get(key)
    if hit is not None:
        if stats:
            stats("cache_hits", 1)
        return hit
    t0 = time.perf_counter()
    cached = link.load_cached(key)
    if cached is not None:
        obj, meta = cached
        exe = _executable(_schedule_from_json(meta["schedule"]), obj)
        if stats:
            stats("cache_hits", 1)
    else:
        G, sched = build_schedule(symbol, input_names)
        obj = None
        if any(s.kind == "kernel" for s in sched.steps):
            module = codegen(G, sched)
            obj, _ = link.compile_object(str(module))
        exe = _executable(sched, obj)
        if obj is not None:
            link.store_cached(key, obj, {"schedule": _schedule_to_json(sched)})
        if stats:
            stats("kernels_compiled", len(_kernel_arity(sched)))
    if stats:
        stats("compile_seconds", time.perf_counter() - t0)
    _MEMORY.put(key, exe)
    return exe


def explain(symbol: Symbol, input_names: list[str]) -> str:
    """Every stage of the compiler for one graph, as text: what `minigluon explain` prints."""
    out = [format_graph(from_symbol(symbol, input_names), "traced")]
    G = from_symbol(symbol, input_names)
    for name, run in GRAPH_PASSES:
        G = run(G)
        if checks_enabled():
            verify(G, after=name)
        out.append(f"\n== after {name} ==\n{format_graph(G, name)}")
    sched = schedule(G)
    out.append(f"\n== schedule ==\n{sched.format()}")
    if any(s.kind == "kernel" for s in sched.steps):
        out.append(f"\n== loop IR ==\n{loop_ir(G, sched)}")
        module = codegen(G, sched)
        out.append(f"\n== LLVM IR (generated) ==\n{module}")
        _, optimized = link.compile_object(str(module))
        out.append(f"\n== LLVM IR (optimized for {link.llvm.get_host_cpu_name()}) ==\n{optimized}")
    return "\n".join(out)


__all__ = ["CompileError", "GRAPH_PASSES", "build_schedule", "compile_graph", "explain"]
