"""Block and HybridBlock: the same ``hybrid_forward(F, ...)`` runs eagerly (F = nd) or is
traced once per input signature into a cached graph (F = sym) after ``hybridize()``."""
from __future__ import annotations

import contextlib
import contextvars
import enum
import inspect
import itertools
import logging
import numbers
import re
import types
import warnings
import weakref
from collections import defaultdict
from typing import Any, NamedTuple

import numpy as np

from .. import jit
from .. import ndarray as nd
from .. import symbol as sym
from ..base import CompileError, ForkSafeLock, MXNetError, TracingError, fmt_type, reworded
from ..cached_op import CachedOp
from ..ndarray import NDArray
from ..ops.frontend import (
    argument_names,
    raising_user_line,
    running,
    user_line,
    user_stacklevel,
)
from ..symbol import Symbol
from ..symbol.graph_json import to_json
from ..symbol.symbol import name_scope
from .parameter import Parameter, ParameterDict

_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)
_COUNTER_LOCK = ForkSafeLock()
_LOG = logging.getLogger("minigluon")

# bumped by every Block.__setattr__: a cached graph re-checks the attributes it read while
# tracing only when this moved, so an unchanged block pays one comparison per call
_attr_version = 0


class InputError(MXNetError, TypeError, ValueError):
    """Inputs a HybridBlock cannot take: MXNet 1.9.1 raises ValueError, a wrong type is a
    TypeError; either catches it."""


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
        global _attr_version
        if isinstance(value, Block) and "_children" in self.__dict__:
            self._children[key] = value
            self._clear_cached_op()
        if isinstance(value, Parameter) and "_reg_params" in self.__dict__:
            self._reg_params[key] = value
            self._clear_cached_op()
        super().__setattr__(key, value)
        _attr_version += 1

    def _clear_cached_op(self) -> None:
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


class _CacheEntry(NamedTuple):
    """What a hybridized block keeps for one input signature."""
    op: CachedOp  # the traced graph, its compiled runner and its gradient
    out_format: Any  # how _regroup rebuilds hybrid_forward's outputs (None: a single one)
    guards: _Guards | None  # the block attributes the trace read; last, as the hot path reads


class HybridBlock(Block):
    """A block whose ``hybrid_forward(F, x, *args)`` works with ``F = nd`` and ``F = sym``.

    After ``hybridize()``, a call follows MXNet's lifecycle, per input signature (shapes,
    dtypes, which optional inputs are None): ``_get_graph`` traces hybrid_forward into a
    graph, ``_build_cache`` makes it a :class:`CachedOp` (kept per signature), and
    ``_call_cached_op`` runs that on the call's arrays (under ``autograd.record()`` it
    records itself on the tape).  ``_clear_cached_op`` forgets them all: ``hybridize()``
    and replacing a child or a parameter call it.  Tracing also notes the attributes of
    the block that hybrid_forward reads (``self._gamma``): when one of them changes, the
    next call traces again.
    """

    _watch_attributes = True  # note the attributes hybrid_forward reads while traced

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix, params)
        self._active = False
        self._cache: dict[tuple, _CacheEntry] = {}  # by input signature, None where omitted
        self._fast: dict[tuple, _CacheEntry] = {}  # the same entries keyed by positional NDArrays
        self._cache_lock = ForkSafeLock()
        self._sig: tuple | None = None

    @property
    def _signature(self) -> tuple[list[str], int, str | None]:
        """hybrid_forward's inputs: its arguments after F, less the parameters' keywords;
        how many are required; the name of its ``*args``, if any (read at the first call,
        after ``__init__`` has declared the parameters)."""
        if self._sig is None:
            self._sig = _input_signature(self, set(self._reg_params))
        return self._sig

    def _input_names(self, count: int) -> list[str]:
        """The names of a call's inputs when count are given: ``args[0]``, ... past the
        named ones when hybrid_forward takes ``*args``."""
        names, _, var = self._signature
        return names + [f"{var}[{k}]" for k in range(count - len(names))] if var else names

    def hybridize(self, active: bool = True, **kwargs) -> None:
        """Trace and cache graphs from the next call on (``active=False`` goes back)."""
        self._active = active
        self._clear_cached_op()
        for child in self._children.values():
            if isinstance(child, HybridBlock):
                child.hybridize(active, **kwargs)

    def hybrid_forward(self, F, x, *args, **kwargs):  # pragma: no cover - subclasses override
        raise NotImplementedError

    def _bind(self, args: tuple, kwargs: dict) -> tuple[list, list[str]]:
        """The call's inputs in hybrid_forward's order (None for omitted optional ones) and
        their names.  As in MXNet, any input may be passed as None; a required one left
        out is an error."""
        names, required, var = self._signature
        label = f"{type(self).__name__}({', '.join(names + ([f'*{var}'] if var else []))})"
        if len(args) > len(names) and var is None:
            raise TypeError(f"{label} takes at most {len(names)} inputs, got {len(args)}")
        names = self._input_names(len(args))
        values = list(args) + [None] * (len(names) - len(args))
        for key, val in kwargs.items():
            if key not in names:
                raise TypeError(f"{label} has no input named {key!r}; constants such as "
                                f"epsilon are constructor arguments")
            if names.index(key) < len(args):
                raise TypeError(f"{label} got input {key!r} twice")
            values[names.index(key)] = val
        for k, name in enumerate(names[:required]):
            if k >= len(args) and name not in kwargs:
                raise TypeError(f"{label} is missing its input {name!r}")
        return values, names

    def _array_kind(self, values: list, names: list[str]) -> type:
        """NDArray or Symbol: what this call computes on.  As MXNet, at least one input
        (or an item of a list input) is one, and they are not mixed."""
        kinds: dict[type, str] = {}
        for name, value in zip(names, values):
            for leaf in _leaves(value):
                for kind in (NDArray, Symbol):
                    if isinstance(leaf, kind):
                        kinds.setdefault(kind, name)
        if len(kinds) == 1:
            return next(iter(kinds))
        cls = type(self).__name__
        if kinds:
            raise InputError(f"{cls}: inputs mix NDArrays ({kinds[NDArray]!r}) and Symbols "
                             f"({kinds[Symbol]!r}); a call takes one kind")
        got = ", ".join(f"{n}={type(v).__name__}" for n, v in zip(names, values))
        raise InputError(f"{cls}: no input is an NDArray or a Symbol ({got}); a HybridBlock "
                         f"needs at least one")

    def forward(self, *args, **kwargs):
        if self._active and not kwargs:
            # the hot path of a hybridized call: positional NDArrays of a signature seen before
            try:
                key = tuple([(a._data.shape, a._data.dtype) for a in args])
            except AttributeError:
                key = None
            if key is not None:
                inputs = args
                if self._reg_params:
                    # the compiled code reads parameters too: their types key it like inputs
                    params = [p.data() for p in self._reg_params.values()]
                    key += tuple([(p._data.shape, p._data.dtype) for p in params])
                    inputs = list(args) + params
                entry = self._fast.get(key)
                if entry is not None and ((g := entry[2]) is None or
                                          g.version == _attr_version or g.hold()):
                    return self._call_cached_op(entry, inputs, args)
        values, names = self._bind(args, kwargs)
        if self._array_kind(values, names) is Symbol:  # traced inside a hybridized parent
            params = [sym.var(p.name, shape=p.shape, dtype=p.dtype)
                      for p in self._reg_params.values()]
            with name_scope(self.prefix), argument_names(_names(names, values)):
                return self._run(sym, values, params, names)
        params = [p.data() for p in self._reg_params.values()]
        if not self._active:  # a plain Block's call: any Python value may be an input
            with argument_names(_names(names, values)):
                return self._run(nd, values, params, names)
        for name, value in zip(names, values):
            if value is not None and not isinstance(value, NDArray):
                raise InputError(f"{type(self).__name__}: input {name!r} must be an NDArray "
                                 f"(or None) when hybridized, got {type(value).__name__}; "
                                 f"without hybridize() it takes any Python value, as a Block")
        entry = self._build_cache(values, params)
        if all(isinstance(a, NDArray) for a in args):  # what the hot path looks up
            self._fast[tuple((a._data.shape, a._data.dtype) for a in list(args) + params)] = entry
        return self._call_cached_op(entry, [v for v in values if v is not None] + params, values)

    def _run(self, F, values: list, params: list = (), names: list[str] = ()):
        forward = self.hybrid_forward
        kwargs = dict(zip(self._reg_params, params))
        watch = F is sym and self._watch_attributes and _READS.get() is not None
        try:
            with running(f"{type(self).__name__}.hybrid_forward"):
                if not watch:
                    return forward(F, *values, **kwargs)
                with _watching(self):
                    return forward(F, *values, **kwargs)
        except (MXNetError, ValueError, TypeError, AttributeError, IndexError) as e:
            located = None if isinstance(e, TracingError) or getattr(e, "_located", False) \
                else self._located(e, values, names)
            if located is None:
                raise
            raise located from e

    def _located(self, e: Exception, values: list, names: list[str]) -> Exception | None:
        """e again, saying where: the line of hybrid_forward that raised it, or, for a block
        whose code is minigluon's (a loss, a SymbolBlock), the line that called the block."""
        cls = type(self).__name__
        notes = []
        if isinstance(e, (TypeError, AttributeError)):  # what a None or a list would cause
            notes = [f"input {n!r} missing (None)" if v is None else
                     f"input {n!r} a {type(v).__name__}, not an NDArray"
                     for k, (n, v) in enumerate(zip(names, values))
                     if (v is None and k < self._signature[1]) or
                     (v is not None and not isinstance(v, (NDArray, Symbol)))]
        hint = f" (with {', '.join(notes)})" if notes else ""
        where = raising_user_line(e.__traceback__)
        msg = (f"{cls}.hybrid_forward at {where}: {e}{hint}" if where else
               f"{cls}: {e}{hint} (called at {user_line()})")
        located = reworded(e, msg)
        if located is not None:
            located._located = True
        return located

    def _get_graph(self, values: list) -> tuple[Symbol, list[str], Any, _Guards | None]:
        """Trace hybrid_forward with shape-specialized variables named as MXNet 1.9.1 names
        them: ``data`` for a lone input, else data0, data1, ... in call order, skipping
        inputs passed as None, then the parameters by name.  Returns (graph, input names,
        output format, guards)."""
        lone = sum(v is not None for v in values) == 1
        inputs, input_names = [], []
        for v in values:
            if v is None:
                inputs.append(None)
                continue
            name = "data" if lone else f"data{len(input_names)}"
            input_names.append(name)
            inputs.append(sym.var(name, shape=v.shape, dtype=v.dtype))
        params = []
        for p in self._reg_params.values():
            input_names.append(p.name)
            data = p.data()  # the graph is specialized to the value it will be given
            params.append(sym.var(p.name, shape=data.shape, dtype=data.dtype))
        names = self._input_names(len(values))
        reads: list = []
        token = _READS.set(reads)
        try:
            with name_scope(self.prefix), argument_names(_names(names, inputs)):
                out = self._run(sym, inputs, params, names)
        finally:
            _READS.reset(token)
        flat, out_format = _flatten(out)
        return sym.Group(flat), input_names, out_format, _guards(reads)

    def _build_cache(self, values: list, params: list) -> _CacheEntry:
        """The cache entry of this call's signature, traced (once, even with concurrent
        callers) if missing or if an attribute its trace read has changed since."""
        key = _cache_key(values + params)
        entry = self._cache.get(key)
        if entry is None or not _holds(entry.guards):
            with self._cache_lock:
                entry = self._cache.get(key)
                if entry is None or not _holds(entry.guards):
                    if entry is not None:
                        _LOG.debug("%s: tracing again (%s)", type(self).__name__,
                                   entry.guards.changed())
                        self._forget(key)
                    entry = self._new_entry(values)
                    self._cache[key] = entry
                    if len(self._cache) > jit.memory_cache_size():
                        self._forget(next(iter(self._cache)))
        return entry

    def _new_entry(self, values: list) -> _CacheEntry:
        graph, input_names, out_format, guards = self._get_graph(values)
        return _CacheEntry(CachedOp(graph, input_names, type(self).__name__), out_format, guards)

    def _forget(self, key: tuple) -> None:
        """Drop a cached graph (its machine code goes once nothing else uses it)."""
        old = self._cache.pop(key)
        for k in [k for k, e in self._fast.items() if e is old]:
            del self._fast[k]

    def _call_cached_op(self, entry: _CacheEntry, inputs: list, values) -> Any:
        """Run a signature's CachedOp on the call's arrays (inputs present, then
        parameters); its errors name the block, its inputs and the calling line."""
        try:
            outs = entry.op.call(inputs)  # a method call costs less than calling an instance
        except CompileError:
            raise  # MINIGLUON_JIT_STRICT=1 refusing the graph: about no value of this call
        except (MXNetError, ValueError, TypeError) as e:
            # value errors (a CTC label out of range) surface only when the graph runs
            cls = type(self).__name__
            args = ", ".join(f"{n}: {fmt_type(v.shape, v.dtype.name)}"
                             for n, v in zip(self._input_names(len(values)), values)
                             if v is not None)
            again = reworded(e, f"{cls}: {cls}({args}): {e} (called at {user_line()})")
            if again is None:
                raise
            raise again from e
        self._ran(entry.op.graph)
        return outs[0] if entry.out_format is None else _regroup(entry.out_format, outs)

    def _clear_cached_op(self) -> None:
        """Forget every signature's CachedOp (and with it, once unused, its machine code)."""
        if "_cache" in self.__dict__:
            self._cache.clear()
            self._fast.clear()

    def _ran(self, graph: Symbol) -> None:
        """Note the graph a call ran: what export() writes.  Only calls note it, never
        cached_graph, explain or gradient_graph, which trace other shapes on request."""
        # not through Block.__setattr__: that bumps _attr_version, and every cached graph
        # would re-check its guards at the next call
        self.__dict__["_last_graph"] = graph

    def _cached_op_for(self, args: tuple) -> tuple[CachedOp, list]:
        """The CachedOp a hybridized call with these inputs runs, and the call's arrays;
        traced on request if not cached, without caching it."""
        values, _ = self._bind(args, {})
        params = [p.data() for p in self._reg_params.values()]
        entry = self._cache.get(_cache_key(values + params))
        if entry is None or not _holds(entry.guards):
            entry = self._new_entry(values)
        return entry.op, [v for v in values if v is not None] + params

    def cached_graph(self, *args) -> Symbol:
        """The graph a hybridized call with these inputs runs (traced if not cached yet)."""
        return self._cached_op_for(args)[0].graph

    def gradient_graph(self, *args) -> Symbol:
        """The graph a recorded call's backward runs: gradients with respect to the
        inputs that have ``attach_grad()``, given a head gradient per output (and the
        forward values it keeps, ``saved0``, ...)."""
        op, inputs = self._cached_op_for(args)
        split = op.gradient(tuple(inputs[k]._ag is not None for k in op.reads))
        if split is None:
            raise ValueError(f"{type(self).__name__}.gradient_graph: the outputs depend on no "
                             f"input with attach_grad(), so a recorded call has no gradient")
        return split.backward.graph

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> tuple[str, str]:
        """Write the graph of the last hybridized call to ``path-symbol.json`` (MXNet 1.x
        graph JSON; inputs ``data`` for one, else data0, data1, ...) and its parameters to
        ``path-EPOCH.params``.  As in MXNet, an input the graph does not read is not in the
        file; ``SymbolBlock.imports`` still takes its name."""
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
                       key=lambda n: int(n[len("data"):] or 0))
        return explain(graph, names + params)


def _input_signature(block: HybridBlock, param_names: set) -> tuple[list[str], int, str | None]:
    """hybrid_forward's input names (after F), how many are required, and its ``*args``."""
    params = list(inspect.signature(block.hybrid_forward).parameters.values())[1:]
    names, required, var = [], 0, None
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            var = p.name
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in param_names or (
                var is not None and p.kind == p.KEYWORD_ONLY):
            continue
        if p.default is not p.empty and p.default is not None:
            continue  # a constant keyword such as PoissonNLLLoss's epsilon, not an input
        if p.default is None and any(q.name in param_names for q in params[:params.index(p)]):
            continue  # after a parameter, a parameter left out (Dense's bias=None), as MXNet
        names.append(p.name)
        if p.default is p.empty:
            required = len(names)
    return names, required, var


def _cache_key(values: list) -> tuple:
    """A call's input signature: shape and dtype per input, None where omitted."""
    return tuple(None if v is None else (v._data.shape, v._data.dtype) for v in values)


def _names(names: list[str], values: list) -> dict:
    return {v.ident(): n for n, v in zip(names, values) if isinstance(v, (NDArray, Symbol))}


def _leaves(value):
    """value, or the items of a (nested) list or tuple input."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# --- guards: the attributes of blocks that a trace read, and their values then ---------------
# the reads of the trace running now: (block, attribute name, value)
_READS: contextvars.ContextVar[list | None] = contextvars.ContextVar("traced_reads", default=None)
_WATCHERS: dict[type, type] = {}
_MISSING = object()
_WARNED: set = set()  # (class, attribute) pairs already warned about


def _watcher(cls: type) -> type:
    """A subclass of cls that reports every attribute read to _READS.  A block is one only
    while its hybrid_forward is traced, so ordinary calls pay nothing for it."""
    sub = _WATCHERS.get(cls)
    if sub is None:
        base_get = cls.__getattribute__

        def __getattribute__(self, name):
            value = base_get(self, name)
            reads = _READS.get()
            if reads is not None and name[:2] != "__":
                reads.append((self, name, value))
            return value

        def body(ns: dict) -> None:
            ns.update(__getattribute__=__getattribute__, __module__=cls.__module__,
                      __qualname__=cls.__qualname__, _watched_class=cls)

        sub = _WATCHERS[cls] = types.new_class(cls.__name__, (cls,), {}, body)
    return sub


@contextlib.contextmanager
def _watching(block: HybridBlock):
    cls = type(block)
    if "_watched_class" in cls.__dict__:  # already watched (a block traced inside itself)
        yield
        return
    object.__setattr__(block, "__class__", _watcher(cls))
    try:
        yield
    finally:
        object.__setattr__(block, "__class__", cls)


def _plain(value: Any) -> bool:
    """A value compared by ==: numbers, strings, None, and tuples of them."""
    if value is None or isinstance(value, (numbers.Number, str, bytes, np.generic, enum.Enum)):
        return True
    return isinstance(value, (tuple, frozenset)) and all(_plain(v) for v in value)


class _Guards:
    """The attributes a trace read, with their values then: the graph stands for the
    block while they hold.  Checked again only when some block attribute was set."""

    __slots__ = ("checks", "version")

    def __init__(self, checks: list):
        self.checks = checks  # (weak ref to the block, name, value, compared by ==)
        self.version = _attr_version

    def changed(self) -> str | None:
        """``Focal.gamma: 2.0 -> 3.0`` for an attribute that no longer holds, or None."""
        for ref, name, value, by_value in self.checks:
            block = ref()
            try:
                now = _MISSING if block is None else object.__getattribute__(block, name)
            except AttributeError:
                now = _MISSING
            if now is not value and not (by_value and type(now) is type(value) and now == value):
                return f"{type(block).__name__}.{name}: {value!r} -> {now!r}"
        return None

    def hold(self) -> bool:
        if self.changed() is not None:
            return False
        self.version = _attr_version
        return True


def _holds(guards: _Guards | None) -> bool:
    return guards is None or guards.version == _attr_version or guards.hold()


def _guards(reads: list) -> _Guards | None:
    """Guards for the attributes a trace read.  Numbers, strings and tuples are compared by
    value; another object by identity, with a warning (once) that changes inside it are
    not seen, except children and parameters (a change inside a child is guarded by the
    child's own reads).  Methods need none."""
    checks, seen = [], set()
    for block, name, value in reads:
        if (id(block), name) in seen:
            continue
        seen.add((id(block), name))
        state = object.__getattribute__(block, "__dict__")
        if name not in state and not _plain(value):
            continue  # a method, property or other machinery of the class, not state
        if isinstance(value, ParameterDict):
            continue  # replaced only with its block
        if isinstance(value, (Block, Parameter)):
            # replacing one clears the cache of the block that holds it, but the graph of
            # a parent inlines that block's trace: the parent must see the change too
            checks.append((weakref.ref(block), name, value, False))
            continue
        by_value = _plain(value)
        if not by_value and not callable(value) and not isinstance(value, types.ModuleType):
            _warn_unseen(block, name, value)
        checks.append((weakref.ref(block), name, value, by_value))
    return _Guards(checks) if checks else None


def _warn_unseen(block: HybridBlock, name: str, value: Any) -> None:
    cls = type(block).__dict__.get("_watched_class", type(block))
    if (cls, name) in _WARNED:
        return
    _WARNED.add((cls, name))
    warnings.warn(f"{cls.__name__}.hybrid_forward read self.{name} (a {type(value).__name__}) "
                  f"while it was traced: the cached graph keeps what it computed from it, so a "
                  f"change made inside it is not seen (assigning a new value is, and traces "
                  f"again). Make it a number, string or tuple, or call hybridize() again after "
                  f"changing it", UserWarning, stacklevel=user_stacklevel())


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
