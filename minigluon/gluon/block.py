"""Block and HybridBlock: the same ``hybrid_forward(F, ...)`` runs eagerly (F = nd) or is
traced once per input signature into a cached graph (F = sym) after ``hybridize()``."""
from __future__ import annotations

import inspect
import itertools
import os
import re
import warnings
from collections import defaultdict
from typing import Any, NamedTuple

from .. import autograd, jit
from .. import ndarray as nd
from .. import symbol as sym
from ..base import ForkSafeLock, MXNetError, TracingError, fmt_type
from ..compiler import remat
from ..ndarray import NDArray
from ..ops.frontend import argument_names, running
from ..symbol import Symbol
from ..symbol.graph_json import to_json
from ..symbol.interpreter import Plan
from ..symbol.symbol import name_scope
from .parameter import Parameter, ParameterDict

_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)
_COUNTER_LOCK = ForkSafeLock()


def _default_prefix(cls: type) -> str:
    base = cls.__name__.lower()
    with _COUNTER_LOCK:
        return f"{base}{next(_COUNTERS[base])}_"


class Block:
    """Base class of all layers and losses."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        self._prefix = prefix if prefix is not None else _default_prefix(type(self))
        self._children: dict[str, Block] = {}
        self._reg_params: dict[str, Parameter] = {}  # hybrid_forward keyword -> Parameter
        self._params = ParameterDict(prefix=self._prefix, owner=self)

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
            self._clear_cached()
        if isinstance(value, Parameter) and "_reg_params" in self.__dict__:
            self._reg_params[key] = value
            self._clear_cached()
        super().__setattr__(key, value)

    def _clear_cached(self) -> None:
        """Forget compiled graphs: a replaced child or parameter changes what they read."""

    @property
    def params(self) -> ParameterDict:
        """This block's own parameters, by name; ``self.params.get('w', shape=...)``
        declares one (in ``__init__``), passed to ``hybrid_forward`` as keyword ``w``."""
        for p in self._reg_params.values():  # also those assigned as attributes
            self._params.setdefault(p.name, p)
        return self._params

    def collect_params(self, select: str | None = None) -> ParameterDict:
        """Parameters of this block and its children, by name (losses have none)."""
        params = ParameterDict(self.params, prefix=self._prefix)
        for child in self._children.values():
            params.update(child.collect_params())
        if select is not None:
            pattern = re.compile(select)
            params = ParameterDict(((k, v) for k, v in params.items() if pattern.match(k)),
                                   prefix=self._prefix)
        return params

    def save_parameters(self, filename: str) -> None:
        """Every parameter into an MXNet ``.params`` file, by name."""
        self.collect_params().save(filename)

    def load_parameters(self, filename: str, ctx: Any = None, allow_missing: bool = False,
                        ignore_extra: bool = False, **kwargs) -> None:
        self.collect_params().load(filename, ctx, allow_missing, ignore_extra)

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
        self._cache_lock = ForkSafeLock()
        self._sig: tuple | None = None

    @property
    def _signature(self) -> tuple[list[str], int]:
        """hybrid_forward's inputs: its arguments after F, less the parameters' keywords
        (read at the first call, after ``__init__`` has declared the parameters)."""
        if self._sig is None:
            self._sig = _input_signature(self, set(self._reg_params))
        return self._sig

    def _clear_cached(self) -> None:
        if "_cache" in self.__dict__:
            self._cache.clear()
            self._fast.clear()

    def hybridize(self, active: bool = True, **kwargs) -> None:
        """Trace and cache graphs from the next call on (``active=False`` goes back)."""
        self._active = active
        self._clear_cached()
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
            if key is not None and self._reg_params:
                # the compiled code reads parameters too: their types key it like inputs
                params = [p.data()._data for p in self._reg_params.values()]
                key += tuple([(a.shape, a.dtype) for a in params])
            entry = self._fast.get(key) if key is not None else None
            if entry is not None:
                arrays = [a._data for a in args]
                if self._reg_params:
                    arrays += params
                return self._run_cached(entry, arrays, args)
        values = self._bind(args, kwargs)
        names = self._signature[0]
        if any(isinstance(v, Symbol) for v in values):
            self._checked(values, Symbol)
            params = [sym.var(p.name, shape=p.shape, dtype=p.dtype)
                      for p in self._reg_params.values()]
            with name_scope(self.prefix), argument_names(_names(names, values)):
                return self._run(sym, values, params)
        self._checked(values, NDArray)
        params = [p.data() for p in self._reg_params.values()]
        if self._active and autograd.is_recording() and any(
                v is not None and v._ag is not None for v in values + params):
            return self._call_recorded(values, params)
        if not self._active:
            with argument_names(_names(names, values)):
                return self._run(nd, values, params)
        return self._call_cached(values, args, params)

    def _run(self, F, values: list, params: list = ()):
        try:
            with running(f"{type(self).__name__}.hybrid_forward"):
                return self.hybrid_forward(F, *values, **dict(zip(self._reg_params, params)))
        except (MXNetError, ValueError, TypeError) as e:
            if isinstance(e, TracingError) or str(e).startswith(f"{type(self).__name__}: "):
                raise
            raise type(e)(f"{type(self).__name__}: {e}") from None

    def _cached(self, key: tuple, make):
        """The cache entry for key, made (once, even with concurrent callers) if missing."""
        entry = self._cache.get(key)
        if entry is None:
            with self._cache_lock:
                entry = self._cache.get(key) or make()
                self._cache[key] = entry
                if len(self._cache) > jit.memory_cache_size():
                    self._evict_oldest()
        return entry

    def _evict_oldest(self) -> None:
        """Drop the graph traced first (its machine code goes once nothing else uses it)."""
        old = self._cache.pop(next(iter(self._cache)))
        for k in [k for k, e in self._fast.items() if e is old]:
            del self._fast[k]

    def _call_cached(self, values: list, args: tuple, params: list):
        entry = self._cached(_cache_key(values + params), lambda: self._trace(values))
        if all(isinstance(a, NDArray) for a in args):  # what the hot path looks up
            self._fast[tuple((a._data.shape, a._data.dtype) for a in list(args) + params)] = entry
        return self._run_cached(entry, [v._data for v in values if v is not None] +
                                [p._data for p in params], values)

    def _call_recorded(self, values: list, params: list):
        """A hybridized call under autograd.record(): the compiled forward now, and on the
        tape one node whose gradient is the compiled gradient graph of the same trace."""
        present = [v for v in values if v is not None] + params
        needs = [v._ag is not None for v in present]
        rec = self._cached(("grad", tuple(needs)) + _cache_key(values + params),
                           lambda: self._trace_with_grad(values, present, needs))
        arrays = self._outputs(rec.forward, [v._data for v in present], values)
        outs = arrays[:rec.visible]
        saved = [arrays[k]._data for k in rec.saved_from]
        autograd.record_op(autograd.GraphOp(f"{type(self).__name__}_backward", rec.backward,
                                            needs, saved), {}, present, outs)
        return outs[0] if rec.template is None else _regroup(rec.template, outs)

    def gradient_graph(self, *args) -> Symbol:
        """The graph a recorded call's backward runs: gradients with respect to the
        inputs that have ``attach_grad()``, given a head gradient per output (and the
        forward values it keeps, ``saved0``, ...)."""
        values = self._bind(args, {})
        present = [v for v in values if v is not None] + [
            p.data() for p in self._reg_params.values()]
        needs = [v._ag is not None for v in present]
        return self._trace_with_grad(values, present, needs).backward.runner.symbol

    def _trace_with_grad(self, values: list, present: list, needs: list) -> _Recorded:
        graph, input_names, template = self._trace_symbol(values)
        by_name = {n.name: n for n in graph.topo_nodes() if n.is_variable}
        inputs = [sym.Symbol([(by_name[n], 0)]) if n in by_name
                  else sym.var(n, shape=v._data.shape, dtype=v._data.dtype)
                  for n, v in zip(input_names, present)]
        outputs = graph._split()
        heads = [sym.var(f"head_grad{k}", shape=o.shape, dtype=o.dtype)
                 for k, o in enumerate(outputs)]
        wrt = [x for x, need in zip(inputs, needs) if need]
        grads = autograd.symbolic_grad(outputs, wrt, heads)
        grads = [sym.zeros_like(x) if g is None else g for x, g in zip(wrt, grads)]
        # forward values the backward reads rather than recomputes: outputs, or extra ones
        saved = remat.choose_saved(graph._outputs, grads)
        grads, saved_vars = remat.substitute(grads, saved)
        produced = [(id(n), i) for n, i in graph._outputs]
        extras = [r for r in saved if (id(r[0]), r[1]) not in produced]
        produced += [(id(n), i) for n, i in extras]
        forward = _runner(sym.Group(outputs + [sym.Symbol([r]) for r in extras]) if extras
                          else graph, input_names)
        group = sym.Group(grads)
        # the gradient may not read every input (a label, or a head gradient of a sum)
        used = set(group.list_arguments())
        names = [x.name for x in inputs + saved_vars + heads]
        picks = [k for k, n in enumerate(names) if n in used]
        backward = _Picked(_runner(group, [names[k] for k in picks]), picks)
        return _Recorded(forward, backward, template, len(outputs),
                         [produced.index((id(n), i)) for n, i in saved])

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

    def _trace_symbol(self, values: list):
        """Trace hybrid_forward with shape-specialized variables named data0, data1, ...:
        (graph, input names, output template)."""
        inputs, input_names = [], []
        for v in values:
            if v is None:
                inputs.append(None)
                continue
            name = f"data{len(input_names)}"
            input_names.append(name)
            inputs.append(sym.var(name, shape=v.shape, dtype=v.dtype))
        params = []
        for p in self._reg_params.values():
            input_names.append(p.name)
            data = p.data()  # the graph is specialized to the value it will be given
            params.append(sym.var(p.name, shape=data.shape, dtype=data.dtype))
        names = self._signature[0]
        with name_scope(self.prefix), argument_names(_names(names, inputs)):
            out = self._run(sym, inputs, params)
        flat, template = _flatten(out)
        self._last_graph = sym.Group(flat)
        return self._last_graph, input_names, template

    def _trace(self, values: list):
        graph, input_names, template = self._trace_symbol(values)
        return _runner(graph, input_names), template

    def cached_graph(self, *args) -> Symbol:
        """The graph a hybridized call with these inputs runs (traced if not cached yet)."""
        values = self._bind(args, {})
        params = [p.data() for p in self._reg_params.values()]
        entry = self._cache.get(_cache_key(values + params)) or self._trace(values)
        return entry[0].symbol

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> tuple[str, str]:
        """Write the graph of the last hybridized call to ``path-symbol.json`` (MXNet 1.x
        graph JSON, inputs data0, data1, ...) and its parameters to ``path-EPOCH.params``."""
        graph = getattr(self, "_last_graph", None)
        if not self._active or graph is None:
            raise RuntimeError(f"{type(self).__name__}.export: call hybridize() and then run "
                               f"the block at least once before export(), so that there is a "
                               f"traced graph to write")
        from ..ndarray import save
        sym_file, params_file = f"{path}-symbol.json", f"{path}-{epoch:04d}.params"
        with open(sym_file, "w", encoding="utf-8") as f:
            f.write(to_json(graph, shapes=False))
        args = set(graph.list_arguments())
        save(params_file, {f"arg:{name}": p.data() for name, p in self.collect_params().items()
                           if name in args})
        return sym_file, params_file

    def explain(self, *args) -> str:
        """Every compiler stage for a call with these inputs: traced graph, passes, IR."""
        from ..compiler.pipeline import explain
        graph = self.cached_graph(*args)
        params = [p.name for p in self._reg_params.values()]
        names = sorted((n for n in graph.list_arguments() if n not in params),
                       key=lambda n: int(n[len("data"):]))
        return explain(graph, names + params)


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


class _Recorded(NamedTuple):
    """What a recorded (autograd) call of a signature runs."""
    forward: Any  # runner: the visible outputs, then the extra values the backward keeps
    backward: Any  # runner of (inputs, saved values, head gradients) -> input gradients
    template: Any
    visible: int
    saved_from: list  # forward output index of each saved value


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


def _input_signature(block: HybridBlock, param_names: set) -> tuple[list[str], int]:
    """hybrid_forward's input names (after F) and how many are required."""
    params = list(inspect.signature(block.hybrid_forward).parameters.values())[1:]
    names, required = [], 0
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in param_names:
            continue
        if p.default is not p.empty and p.default is not None:
            continue  # a constant keyword such as PoissonNLLLoss's epsilon, not an input
        names.append(p.name)
        if p.default is p.empty:
            required = len(names)
    return names, required


def _cache_key(values: list) -> tuple:
    """A call's input signature: shape and dtype per input, None where omitted."""
    return tuple(None if v is None else (v._data.shape, v._data.dtype) for v in values)


def _names(names: list[str], values: list) -> dict:
    return {v.ident(): n for n, v in zip(names, values) if v is not None}


def _flatten(out) -> tuple[list[Symbol], Any]:
    """Outputs as a flat list plus a template to rebuild tuples (None: a single output)."""
    if isinstance(out, Symbol):
        return out._split(), None if len(out._outputs) == 1 else len(out._outputs)
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
