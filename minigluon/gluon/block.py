"""Block and HybridBlock: the same ``hybrid_forward(F, ...)`` runs eagerly (F = nd) or is
traced once per input signature into a cached graph (F = sym) after ``hybridize()``."""
from __future__ import annotations

import inspect
import itertools
import os
import re
import threading
import warnings
from collections import defaultdict
from typing import Any

from .. import autograd, jit
from .. import ndarray as nd
from .. import symbol as sym
from ..base import MXNetError, fmt_type
from ..ndarray import NDArray
from ..ops.frontend import argument_names
from ..symbol import Symbol
from ..symbol.interpreter import Plan
from ..symbol.symbol import name_scope

_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)
_COUNTER_LOCK = threading.Lock()


def _default_prefix(cls: type) -> str:
    base = cls.__name__.lower()
    with _COUNTER_LOCK:
        return f"{base}{next(_COUNTERS[base])}_"


class Block:
    """Base class of all layers and losses."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        self._prefix = prefix if prefix is not None else _default_prefix(type(self))
        self._children: dict[str, Block] = {}

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def name(self) -> str:
        return self._prefix.removesuffix("_")

    def name_scope(self):
        """Kept for MXNet compatibility; children are named by their own prefixes."""
        from contextlib import nullcontext
        return nullcontext(self)

    def __setattr__(self, key: str, value: Any) -> None:
        if isinstance(value, Block) and "_children" in self.__dict__:
            self._children[key] = value
        super().__setattr__(key, value)

    def collect_params(self, select: str | None = None) -> dict:
        """Parameters of this block and its children (losses have none)."""
        params: dict = {}
        for child in self._children.values():
            params.update(child.collect_params(select))
        if select is not None:
            pattern = re.compile(select)
            params = {k: v for k, v in params.items() if pattern.match(k)}
        return params

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - subclasses override
        raise NotImplementedError


class HybridBlock(Block):
    """A block whose ``hybrid_forward(F, x, *args)`` works with ``F = nd`` and ``F = sym``.

    After ``hybridize()``, a call looks up the graph cached for its input signature
    (shapes, dtypes, which optional inputs are None), traces a new one on a miss,
    and runs it.
    """

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix, params)
        self._active = False
        self._cache: dict[tuple, tuple] = {}  # signature -> (runner, output structure)
        self._fast: dict[tuple, tuple] = {}  # the same entries keyed by positional NDArrays
        self._cache_lock = threading.Lock()
        self._signature = _input_signature(self)

    def hybridize(self, active: bool = True, **kwargs) -> None:
        """Trace and cache graphs from the next call on (``active=False`` goes back)."""
        self._active = active
        self._cache.clear()
        self._fast.clear()
        for child in self._children.values():
            if isinstance(child, HybridBlock):
                child.hybridize(active, **kwargs)

    def hybrid_forward(self, F, x, *args, **kwargs):  # pragma: no cover - subclasses override
        raise NotImplementedError

    def _bind(self, args: tuple, kwargs: dict) -> list:
        """Arguments in hybrid_forward's order (None for omitted optional inputs)."""
        names, required = self._signature
        label = f"{type(self).__name__}({', '.join(names)})"
        if len(args) > len(names):
            raise TypeError(f"{label} takes at most {len(names)} inputs, got {len(args)}")
        values = list(args) + [None] * (len(names) - len(args))
        for key, val in kwargs.items():
            if key not in names:
                raise TypeError(f"{label} has no input named {key!r}; constants such as "
                                f"epsilon are constructor arguments")
            if names.index(key) < len(args):
                raise TypeError(f"{label} got input {key!r} twice")
            values[names.index(key)] = val
        for name, val in zip(names[:required], values):
            if val is None:
                raise TypeError(f"{label} is missing its input {name!r}")
        return values

    def _checked(self, values: list, kind: type) -> None:
        names = self._signature[0]
        for name, val in zip(names, values):
            if val is not None and not isinstance(val, kind):
                raise TypeError(f"{type(self).__name__}: input {name!r} must be an "
                                f"{kind.__name__}, got {type(val).__name__}")

    def forward(self, *args, **kwargs):
        if self._active and not kwargs and not autograd.is_recording():
            # the hot path of a hybridized call: positional NDArrays seen before
            try:
                key = tuple([(a._data.shape, a._data.dtype) for a in args])
            except AttributeError:
                key = None
            entry = self._fast.get(key) if key is not None else None
            if entry is not None:
                return self._run_cached(entry, [a._data for a in args], args)
        values = self._bind(args, kwargs)
        names = self._signature[0]
        if any(isinstance(v, Symbol) for v in values):
            self._checked(values, Symbol)
            with name_scope(self.prefix), argument_names(_names(names, values)):
                return self._run(sym, values)
        self._checked(values, NDArray)
        if self._active and autograd.is_recording() and any(
                v is not None and v._ag is not None for v in values):
            return self._call_recorded(values)
        if not self._active:
            with argument_names(_names(names, values)):
                return self._run(nd, values)
        return self._call_cached(values, args)

    def _run(self, F, values: list):
        try:
            return self.hybrid_forward(F, *values)
        except (MXNetError, ValueError, TypeError) as e:
            if str(e).startswith(f"{type(self).__name__}: "):
                raise
            raise type(e)(f"{type(self).__name__}: {e}") from None

    def _cached(self, key: tuple, make):
        """The cache entry for key, made (once, even with concurrent callers) if missing."""
        entry = self._cache.get(key)
        if entry is None:
            with self._cache_lock:
                entry = self._cache.get(key) or make()
                self._cache[key] = entry
        return entry

    def _call_cached(self, values: list, args: tuple):
        key = tuple(None if v is None else (v._data.shape, v._data.dtype) for v in values)
        entry = self._cached(key, lambda: self._trace(values))
        if all(isinstance(a, NDArray) for a in args):  # what the hot path looks up
            self._fast[tuple((a._data.shape, a._data.dtype) for a in args)] = entry
        return self._run_cached(entry, [v._data for v in values if v is not None], values)

    def _call_recorded(self, values: list):
        """A hybridized call under autograd.record(): the compiled forward now, and on the
        tape one node whose gradient is the compiled gradient graph of the same trace."""
        present = [v for v in values if v is not None]
        needs = [v._ag is not None for v in present]
        key = ("grad", tuple(needs)) + tuple(
            None if v is None else (v._data.shape, v._data.dtype) for v in values)
        forward, backward, template = self._cached(
            key, lambda: self._trace_with_grad(values, needs))
        outs = self._outputs(forward, [v._data for v in present], values)
        autograd.record_op(autograd.GraphOp(f"{type(self).__name__}_backward", backward, needs),
                           {}, present, outs)
        return outs[0] if template is None else _regroup(template, outs)

    def gradient_graph(self, *args) -> Symbol:
        """The graph a recorded call's backward runs: gradients with respect to the
        inputs that have ``attach_grad()``, given a head gradient per output."""
        values = self._bind(args, {})
        needs = [v._ag is not None for v in values if v is not None]
        return self._trace_with_grad(values, needs)[1].runner.symbol

    def _trace_with_grad(self, values: list, needs: list):
        forward, template = self._trace(values)
        graph = forward.symbol
        names = sorted(graph.list_arguments(), key=lambda n: int(n[len("data"):]))
        by_name = {n.name: n for n in graph.topo_nodes() if n.is_variable}
        inputs = [sym.Symbol([(by_name[f"data{k}"], 0)]) if f"data{k}" in by_name
                  else sym.var(f"data{k}", shape=v._data.shape, dtype=v._data.dtype)
                  for k, v in enumerate(v for v in values if v is not None)]
        outputs = list(graph)
        heads = [sym.var(f"head_grad{k}", shape=o.shape, dtype=o.dtype)
                 for k, o in enumerate(outputs)]
        wrt = [x for x, need in zip(inputs, needs) if need]
        grads = autograd.symbolic_grad(outputs, wrt, heads)
        grads = [sym.zeros_like(x) if g is None else g for x, g in zip(wrt, grads)]
        group = sym.Group(grads)
        # the gradient may not read every input (a label, or a head gradient of a sum)
        used = set(group.list_arguments())
        names = [x.name for x in inputs + heads]
        picks = [k for k, n in enumerate(names) if n in used]
        return forward, _Picked(_runner(group, [names[k] for k in picks]), picks), template

    def _outputs(self, runner, arrays: list, values) -> list:
        """Run a cached graph; its errors name the block and its inputs."""
        try:
            return [nd.NDArray(o) for o in runner.run(arrays)]
        except (MXNetError, ValueError, TypeError) as e:
            # value errors (a CTC label out of range) surface only when the graph runs
            args = ", ".join(f"{n}: {fmt_type(v.shape, v.dtype.name)}"
                             for n, v in zip(self._signature[0], values) if v is not None)
            raise type(e)(f"{type(self).__name__}: {type(self).__name__}({args}): {e}") from None

    def _run_cached(self, entry, arrays: list, values):
        runner, out_template = entry
        outs = self._outputs(runner, arrays, values)
        return outs[0] if out_template is None else _regroup(out_template, outs)

    def _trace(self, values: list):
        """Trace hybrid_forward with shape-specialized variables named data0, data1, ..."""
        inputs, input_names = [], []
        for v in values:
            if v is None:
                inputs.append(None)
                continue
            name = f"data{len(input_names)}"
            input_names.append(name)
            inputs.append(sym.var(name, shape=v.shape, dtype=v.dtype))
        names = self._signature[0]
        with name_scope(self.prefix), argument_names(_names(names, inputs)):
            out = self._run(sym, inputs)
        flat, template = _flatten(out)
        return _runner(sym.Group(flat), input_names), template

    def cached_graph(self, *args) -> Symbol:
        """The graph a hybridized call with these inputs runs (traced if not cached yet)."""
        values = self._bind(args, {})
        key = tuple(None if v is None else (v.shape, v.dtype.name) for v in values)
        entry = self._cache.get(key) or self._trace(values)
        return entry[0].symbol

    def explain(self, *args) -> str:
        """Every compiler stage for a call with these inputs: traced graph, passes, IR."""
        from ..compiler.pipeline import explain
        graph = self.cached_graph(*args)
        names = sorted(graph.list_arguments(), key=lambda n: int(n[len("data"):]))
        return explain(graph, names)


class _Interpreted:
    """A cached graph run by the numpy interpreter (MINIGLUON_JIT=0, or not compilable)."""

    interpreted = True

    def __init__(self, symbol, input_names: list[str]):
        self.symbol = symbol
        self.plan = Plan(symbol)
        self.input_names = input_names

    def run(self, arrays: list) -> list:
        jit.count("interpreted_calls")
        return self.plan.run(dict(zip(self.input_names, arrays)))


class _Compiled:
    """A cached graph compiled to native kernels."""

    def __init__(self, symbol, exe):
        self.symbol = symbol
        self.exe = exe
        self.interpreted = exe.interpreted
        self._counter = "interpreted_calls" if exe.interpreted else "compiled_calls"

    def run(self, arrays: list) -> list:
        jit.count(self._counter)
        return self.exe.run_trusted(arrays)


class _Picked:
    """A runner given all of a call's arrays, passing on the ones its graph reads."""

    def __init__(self, runner, picks: list[int]):
        self.runner, self.picks = runner, picks
        self.interpreted = runner.interpreted

    def run(self, arrays: list) -> list:
        return self.runner.run([arrays[k] for k in self.picks])


def _runner(graph, input_names: list[str]):
    if jit.enabled():
        from ..compiler.pipeline import CompileError, compile_graph
        try:
            return _Compiled(graph, compile_graph(graph, input_names, jit.count))
        except Exception as e:  # a compiler failure must not fail a computation numpy can do
            jit.count("compile_failures")
            if os.environ.get("MINIGLUON_JIT_STRICT"):
                raise
            if not isinstance(e, CompileError):
                warnings.warn(f"minigluon: compiling this graph failed ({type(e).__name__}: {e}); "
                              f"it runs on the numpy interpreter", RuntimeWarning, stacklevel=4)
    return _Interpreted(graph, input_names)


def _input_signature(block: HybridBlock) -> tuple[list[str], int]:
    """hybrid_forward's input names (after F) and how many are required."""
    params = list(inspect.signature(block.hybrid_forward).parameters.values())[1:]
    names, required = [], 0
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is not p.empty and p.default is not None:
            continue  # a constant keyword such as PoissonNLLLoss's epsilon, not an input
        names.append(p.name)
        if p.default is p.empty:
            required = len(names)
    return names, required


def _names(names: list[str], values: list) -> dict:
    return {v.ident(): n for n, v in zip(names, values) if v is not None}


def _flatten(out) -> tuple[list[Symbol], Any]:
    """Outputs as a flat list plus a template to rebuild tuples (None: a single output)."""
    if isinstance(out, Symbol):
        return list(out), None if len(out._outputs) == 1 else len(out._outputs)
    if isinstance(out, (list, tuple)):
        flat, shape = [], []
        for item in out:
            f, t = _flatten(item)
            flat.extend(f)
            shape.append((len(f), t))
        return flat, (type(out), shape)
    raise TypeError(f"hybrid_forward must return symbols, got {type(out).__name__}")


def _regroup(template, outs: list):
    if isinstance(template, int):
        return outs
    kind, parts = template
    result, pos = [], 0
    for count, sub in parts:
        chunk = outs[pos:pos + count]
        pos += count
        result.append(chunk[0] if sub is None else _regroup(sub, chunk))
    return kind(result)
