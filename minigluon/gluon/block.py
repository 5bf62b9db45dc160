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
import threading
import types
import warnings
import weakref
from collections import OrderedDict, defaultdict
from typing import Any, NamedTuple

import numpy as np

from .. import initializer, jit
from .. import ndarray as nd
from .. import symbol as sym
from ..base import CompileError, ForkSafeLock, MXNetError, TracingError, fmt_type, reworded
from ..cached_op import CachedOp
from ..ndarray import NDArray, save
from ..ops.frontend import (
    argument_names,
    raising_user_line,
    running,
    user_line,
    user_stacklevel,
)
from ..symbol import Symbol
from ..symbol.graph_json import to_json
from ..symbol.interpreter import Plan
from ..symbol.symbol import name_scope
from .parameter import Parameter, ParameterDict, load_named
from .parameter import _version as _param_version

_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)
_COUNTER_LOCK = ForkSafeLock()
_LOG = logging.getLogger("minigluon")

# bumped by every Block.__setattr__: a cached graph re-checks the attributes it read while
# tracing only when this moved, so an unchanged block pays one comparison per call
_attr_version = 0


class InputError(MXNetError, TypeError, ValueError):
    """Inputs a HybridBlock cannot take: MXNet 1.9.1 raises ValueError, a wrong type is a
    TypeError; either catches it."""


class _BlockScope:
    """``with block.name_scope():``: blocks created inside are named ``block.prefix +
    hint + count`` (``net0_dense0_``), counted per scope, and their parameters live in
    ParameterDicts under that prefix, as MXNet 1.9.1's ``_BlockScope``."""

    _current = threading.local()

    def __init__(self, block: Block):
        self._block = block
        self._counter: dict[str, int] = {}
        self._old: _BlockScope | None = None

    @staticmethod
    def create(prefix: str | None, params: ParameterDict | None,
               hint: str) -> tuple[str, ParameterDict]:
        current = getattr(_BlockScope._current, "value", None)
        if current is None:
            if prefix is None:
                with _COUNTER_LOCK:
                    prefix = f"{hint}{next(_COUNTERS[hint])}_"
            return prefix, ParameterDict(prefix if params is None else params.prefix, params)
        if prefix is None:
            count = current._counter.get(hint, 0)
            current._counter[hint] = count + 1
            prefix = f"{hint}{count}_"
        if params is None:
            parent = current._block._params
            params = ParameterDict(parent.prefix + prefix, parent._shared)
        else:
            params = ParameterDict(params.prefix, params)
        return current._block.prefix + prefix, params

    def __enter__(self) -> _BlockScope:
        if self._block._empty_prefix:
            return self
        self._old = getattr(_BlockScope._current, "value", None)
        _BlockScope._current.value = self
        return self

    def __exit__(self, *exc) -> None:
        if self._block._empty_prefix:
            return
        _BlockScope._current.value = self._old
        self._old = None


class HookHandle:
    """What ``register_forward_hook`` returns: ``detach()`` removes the hook (also as a
    context manager's exit)."""

    def __init__(self):
        self._hooks_ref = None
        self._id: int | None = None

    def attach(self, hooks: dict, hook) -> None:
        assert self._hooks_ref is None, "The same handle cannot be attached twice."
        self._id = id(hook)
        hooks[self._id] = hook
        self._hooks_ref = weakref.ref(hooks)

    def detach(self) -> None:
        hooks = self._hooks_ref() if self._hooks_ref is not None else None
        if hooks is not None:
            hooks.pop(self._id, None)

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.detach()


def _indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0]] + [" " * spaces + line for line in lines[1:]])


class Block:
    """Base class of all layers and losses: ``Block(prefix=None, params=None)``.

    ``prefix`` names the block and its parameters (default: the class name in lower case
    and a count, ``dense0_``; inside a parent's ``name_scope()`` the parent's prefix comes
    first).  ``params`` shares parameters: a ParameterDict (``other.collect_params()``)
    whose parameters ``self.params.get`` returns instead of creating new ones."""

    def __init__(self, prefix: str | None = None, params: ParameterDict | None = None):
        self._empty_prefix = prefix == ""
        self._prefix, self._params = _BlockScope.create(prefix, params, self._alias())
        self._params._owner = self
        self._name = self._prefix[:-1] if self._prefix.endswith("_") else self._prefix
        self._scope = _BlockScope(self)
        self._children: dict[str, Block] = {}
        self._reg_params: dict[str, Parameter] = {}  # hybrid_forward keyword -> Parameter
        self._declared: set[str] = set()  # keywords params.get registered, not attributes
        # OrderedDicts: a HookHandle holds them by weak reference, which a dict refuses
        self._forward_hooks: OrderedDict[int, Any] = OrderedDict()
        self._forward_pre_hooks: OrderedDict[int, Any] = OrderedDict()

    def _alias(self) -> str:
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        children = "\n".join(f"  ({key}): {_indent(repr(block), 2)}"
                             for key, block in self.__dict__.items() if isinstance(block, Block))
        return f"{type(self).__name__}(\n{children}\n)"

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def name(self) -> str:
        return self._name

    def name_scope(self) -> _BlockScope:
        """``with self.name_scope():`` children created inside are named under this
        block's prefix (``model0_dense0_``)."""
        return self._scope

    def __setattr__(self, key: str, value: Any) -> None:
        global _attr_version
        state = self.__dict__
        if key in state:
            existing = state[key]
            if isinstance(existing, (Parameter, Block)) and not isinstance(value, type(existing)):
                raise TypeError(f"Changing attribute type for {key} from {type(existing)} to "
                                f"{type(value)} is not allowed.")
        if isinstance(value, Block) and "_children" in state:
            self.register_child(value, key)
        if isinstance(value, Parameter) and "_reg_params" in state:
            # declared through params.get under another keyword: the attribute's name wins
            for k in [k for k, p in self._reg_params.items()
                      if p is value and k != key and k in self._declared]:
                del self._reg_params[k]
            self._declared.discard(key)
            self._reg_params[key] = value
            self._clear_cached_op()
        super().__setattr__(key, value)
        _attr_version += 1

    def register_child(self, block: Block, name: str | None = None) -> None:
        """Make block a child (attributes that are blocks are registered by themselves);
        ``name`` defaults to the number of children so far."""
        if name is None:
            name = str(len(self._children))
        self._children[name] = block
        self._clear_cached_op()

    def _clear_cached_op(self) -> None:
        """Forget compiled graphs: a replaced child or parameter changes what they read."""

    @property
    def params(self) -> ParameterDict:
        """This block's own parameters, by name; ``self.params.get('w', shape=...)``
        declares one (in ``__init__``), passed to ``hybrid_forward`` as keyword ``w``."""
        for p in self._reg_params.values():  # also those assigned as attributes
            if p.name not in self._params:
                dict.__setitem__(self._params, p.name, p)
        return self._params

    def collect_params(self, select: str | None = None) -> ParameterDict:
        """This block's and its children's parameters by full name; ``select`` keeps the
        names a regular expression matches from their start (``'.*weight|.*bias'``)."""
        self._check_container_with_block()
        ret = ParameterDict(self._params.prefix)
        pattern = re.compile(select) if select else None
        ret.update({k: v for k, v in self.params.items() if pattern is None or pattern.match(k)})
        for child in self._children.values():
            ret.update(child.collect_params(select=select))
        return ret

    def share_parameters(self, shared: dict) -> Block:
        """Use ``shared``'s parameters in place of this block's and its children's own:
        each found under its attribute path (``a.weight``, as save_parameters writes it,
        MXNet 2's key) or its full name (a ``collect_params()`` key).  Returns self."""
        global _attr_version
        if shared is None:
            return self
        for block, key, path in self._param_paths(""):
            mine = block._reg_params[key]
            other = dict.get(shared, path, None) or dict.get(shared, mine.name, None)
            if other is None or other is mine:
                continue
            block._reg_params[key] = other
            if block.__dict__.get(key) is mine:
                block.__dict__[key] = other
            dict.pop(block._params, mine.name, None)
            dict.__setitem__(block._params, other.name, other)
            block._clear_cached_op()
        _attr_version += 1  # the graphs of parents that inlined these blocks trace again
        return self

    def _param_paths(self, prefix: str):
        """(block, keyword, attribute path) of every parameter in the tree."""
        for key in list(self._reg_params):
            yield self, key, prefix + key
        for name, child in self._children.items():
            yield from child._param_paths(f"{prefix}{name}.")

    def _check_container_with_block(self) -> None:
        children = set(map(id, self._children.values()))

        def unregistered(data) -> bool:
            if isinstance(data, (list, tuple)):
                return any(unregistered(x) for x in data)
            if isinstance(data, dict):
                return any(unregistered(x) for x in data.values())
            return isinstance(data, Block) and id(data) not in children

        for k, v in self.__dict__.items():
            if isinstance(v, (list, tuple, dict)) and not (k.startswith("__") or k in (
                    "_children", "_reg_params", "_forward_hooks", "_forward_pre_hooks")) \
                    and unregistered(v):
                warnings.warn(f'"{type(self).__name__}.{k}" is an unregistered container with '
                              f"Blocks. Note that Blocks inside the list, tuple or dict will "
                              f"not be registered automatically. Make sure to register them "
                              f"using register_child() or switching to "
                              f"nn.Sequential/nn.HybridSequential instead.", stacklevel=3)

    def _collect_params_with_prefix(self, prefix: str = "") -> dict[str, Parameter]:
        """Parameters keyed by their path of attribute names (``0.weight``), as
        save_parameters writes them."""
        if prefix:
            prefix += "."
        ret = {prefix + key: p for key, p in self._reg_params.items()}
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name))
        return ret

    def initialize(self, init: Any = initializer.Uniform(), ctx: Any = None,
                   verbose: bool = False, force_reinit: bool = False) -> None:
        """Initialize every parameter of this block and its children: each parameter's
        own ``init`` first, else ``init``.  A parameter with an unknown shape (a 0) and
        allow_deferred_init is initialized at the first call."""
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def hybridize(self, active: bool = True, **kwargs) -> None:
        """Hybridize the HybridBlocks among the children (a plain Block runs eagerly)."""
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def cast(self, dtype: Any) -> None:
        """Cast every parameter of this block and its children to dtype."""
        for child in self._children.values():
            child.cast(dtype)
        for p in self.params.values():
            p.cast(dtype)

    def zero_grad(self) -> None:
        self.collect_params().zero_grad()

    def reset_ctx(self, ctx: Any) -> None:
        self.collect_params().reset_ctx(ctx)

    def apply(self, fn) -> Block:
        """Call ``fn(block)`` on every child (recursively), then on this block."""
        for child in self._children.values():
            child.apply(fn)
        fn(self)
        return self

    def register_forward_pre_hook(self, hook) -> HookHandle:
        """``hook(block, inputs)`` runs before each call."""
        handle = HookHandle()
        handle.attach(self._forward_pre_hooks, hook)
        return handle

    def register_forward_hook(self, hook) -> HookHandle:
        """``hook(block, inputs, outputs)`` runs after each call."""
        handle = HookHandle()
        handle.attach(self._forward_hooks, hook)
        return handle

    def save_params(self, filename: str) -> None:
        """Deprecated (MXNet's too): ``collect_params().save`` without this prefix."""
        warnings.warn("save_params is deprecated. Please use save_parameters. Note that if "
                      "you want load from SymbolBlock later, please use export instead.",
                      DeprecationWarning, stacklevel=2)
        self.collect_params().save(filename, strip_prefix=self.prefix)

    def load_params(self, filename: str, ctx: Any = None, allow_missing: bool = False,
                    ignore_extra: bool = False) -> None:
        """Deprecated (MXNet's too): ``load_parameters``."""
        warnings.warn("load_params is deprecated. Please use load_parameters.",
                      DeprecationWarning, stacklevel=2)
        self.load_parameters(filename, ctx, allow_missing, ignore_extra)

    def save_parameters(self, filename: str, deduplicate: bool = False) -> None:
        """Every parameter into an MXNet ``.params`` file, keyed by its path of attribute
        names (``dense0.weight``); ``deduplicate`` writes a shared parameter once."""
        params = self._collect_params_with_prefix()
        if deduplicate:
            first: dict[int, str] = {}
            for k, p in params.items():
                first[id(p)] = k  # the last path wins, as MXNet's reversed dict
            params = {k: p for k, p in params.items() if first[id(p)] == k}
        save(filename, {k: p._reduce() for k, p in params.items()})

    def load_parameters(self, filename: str, ctx: Any = None, allow_missing: bool = False,
                        ignore_extra: bool = False, cast_dtype: bool = False,
                        dtype_source: str = "current") -> None:
        """Load a file written by ``save_parameters`` (or, without dots in its names, by
        ``collect_params().save``).  A parameter missing from the file, or a name in the
        file that this block lacks, is an error unless allowed."""
        loaded = load_named(filename)
        params = self._collect_params_with_prefix()
        if not loaded and not params:
            return
        if not any("." in k for k in loaded):
            # a file of full names (collect_params().save, or a block with parameters not
            # under its prefix, which MXNet refuses here)
            params = self.collect_params()
            prefix = self.prefix if all(k.startswith(self.prefix) for k in params) else ""
            params.load(filename, ctx, allow_missing, ignore_extra, prefix,
                        cast_dtype=cast_dtype, dtype_source=dtype_source)
            self.apply(lambda b: b._clear_cached_op())
            return
        if not allow_missing:
            paths: dict[int, list[str]] = defaultdict(list)
            for k, p in params.items():
                paths[id(p)].append(k)
            for name, p in params.items():
                assert any(k in loaded for k in paths[id(p)]), (
                    f"Parameter '{name}' is missing in file '{filename}', which contains "
                    f"parameters: {_brief(loaded)}. Set allow_missing=True to ignore missing "
                    f"parameters.")
        for name in loaded:
            if not ignore_extra and name not in params:
                raise ValueError(f"Parameter '{name}' loaded from file '{filename}' is not "
                                 f"present in ParameterDict, which contains parameters "
                                 f"{_brief(self._params)}. Set ignore_extra=True to ignore. ")
            if name in params:
                params[name]._load_init(loaded[name], ctx, cast_dtype=cast_dtype,
                                        dtype_source=dtype_source, source=filename)
        self.apply(lambda b: b._clear_cached_op())

    def register_op_hook(self, callback: Any, monitor_all: bool = False) -> None:
        """Install ``callback(node_name, op_name, array)`` on every HybridBlock below: see
        :meth:`HybridBlock.register_op_hook`."""
        for child in self._children.values():
            child.register_op_hook(callback, monitor_all)

    def summary(self, *inputs) -> None:
        """Print each block's output shape and parameter count for a call on inputs (the
        block must be initialized and not hybridized), as MXNet's table."""
        summary: dict[str, dict] = {}
        seen: set[int] = set()
        hooks: list[HookHandle] = []

        def shapes(value) -> str:
            def walk(v):
                if isinstance(v, (list, tuple)):
                    return [walk(x) for x in v]
                return v.shape if isinstance(v, NDArray) else v
            s = walk(value)
            return str(s)[1:-1] if isinstance(s, list) else str(s)

        def register(block: Block) -> None:
            assert not isinstance(block, HybridBlock) or not block._active, \
                f'"{block.name}" must not be hybridized to print summary.'

            def hook(block, _, outputs):
                key = f"{type(block).__name__}-{len(summary)}"
                row = summary[key] = {"output_shape": shapes(outputs), "trainable": 0,
                                      "shared": 0}
                total = 0
                for p in block.params.values():
                    size = p.list_data()[0].size
                    total += size
                    row["trainable"] += 0 if p.grad_req == "null" else size
                    if id(p) in seen:
                        row["shared"] += size
                    seen.add(id(p))
                row["n_params"] = total
            # containers print no row of their own (MXNet skips its nn.(Hybrid)Sequential)
            if not any(c.__name__ in ("Sequential", "HybridSequential") and
                       c.__module__.startswith("minigluon.gluon") for c in type(block).__mro__):
                hooks.append(block.register_forward_hook(hook))

        summary["Input"] = {"output_shape": shapes(inputs), "n_params": 0, "trainable": 0,
                            "shared": 0}
        try:
            self.apply(register)
            self(*inputs)
            fmt = "{:>20}  {:>42} {:>15}"
            print("-" * 80)
            print(fmt.format("Layer (type)", "Output Shape", "Param #"))
            print("=" * 80)
            total = trainable = shared = 0
            for layer, row in summary.items():
                print(fmt.format(layer, str(row["output_shape"]), row["n_params"]))
                total += row["n_params"]
                trainable += row["trainable"]
                shared += row["shared"]
            print("=" * 80)
            print("Parameters in forward computation graph, duplicate included")
            print("   Total params: " + str(total))
            print("   Trainable params: " + str(trainable))
            print("   Non-trainable params: " + str(total - trainable))
            print("Shared params in forward computation graph: " + str(shared))
            print("Unique parameters in model: " + str(total - shared))
            print("-" * 80)
        finally:
            for h in hooks:
                h.detach()

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):  # the hot path
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            hook(self, args)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            hook(self, args, out)
        return out

    def forward(self, *args, **kwargs):  # pragma: no cover - subclasses override
        raise NotImplementedError


def _brief(names) -> str:
    """Names as MXNet's error messages list them: up to seven, else the first three and
    the last four around an ellipsis."""
    names = list(names)
    if len(names) > 7:
        return f"{_brief(names[:3])}, ..., {_brief(names[-4:])}"
    return ", ".join(f"'{n}'" for n in names)


class _CacheEntry(NamedTuple):
    """What a hybridized block keeps for one input signature."""
    op: CachedOp  # the traced graph, its compiled runner and its gradient
    out_format: Any  # how _regroup rebuilds hybrid_forward's outputs (None: a single one)
    # every Parameter of the tree the graph reads, in its input order after the arrays
    params: tuple[Parameter, ...]
    # their (shape, dtype) when traced, and the parameter._version they were last seen at
    param_types: tuple
    seen: list[int]
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
        """Trace and cache graphs from the next call on (``active=False`` goes back);
        children too.  A hybridized parent traces its children into its own graph."""
        self._active = active
        # MXNet inlines a cached graph of at most inline_limit ops into the recorded graph
        # (autograd.get_symbol), never with static_alloc
        self._inline_limit = -1 if kwargs.get("static_alloc") else int(kwargs.get("inline_limit", 2))
        self._clear_cached_op()
        if active and (self._forward_hooks or self._forward_pre_hooks):
            warnings.warn(f'"{self.name}" is being hybridized while still having forward '
                          f'hook/pre-hook. If "{self.name}" is a child of HybridBlock, the '
                          f"hooks will not take effect.", stacklevel=2)
        super().hybridize(active, **kwargs)

    def register_op_hook(self, callback: Any, monitor_all: bool = False) -> None:
        """Call ``callback(node_name, op_name, array)`` for each node's output (and, with
        ``monitor_all``, each of its inputs first) whenever this block runs hybridized, as
        MXNet's monitor: names are bytes such as ``b'dense0_fwd_output'`` or
        ``b'dense0_fwd_weight'``, op names as in the graph's JSON (``b'FullyConnected'``),
        and ``array`` a copy of the value as an NDArray (MXNet hands a raw handle).

        Fused compiled code has no intermediate values, so the values reported are those
        of the numpy reference kernels, node by node, on the call's inputs; the call's own
        result is unchanged.  Eager calls report nothing, as in MXNet."""
        if not callable(callback):
            raise TypeError(f"register_op_hook: callback must be callable, got "
                            f"{type(callback).__name__}")
        hook = (callback, bool(monitor_all))
        # not through __setattr__: a hook changes no traced graph
        self.__dict__["_op_hook"] = hook
        for child in self._children.values():
            child.__dict__["_op_hook"] = hook

    def register_child(self, block: Block, name: str | None = None) -> None:
        """As Block's; a HybridBlock's children are HybridBlocks (MXNet's ValueError)."""
        if not isinstance(block, HybridBlock):
            raise ValueError(f"Children of HybridBlock must also be HybridBlock, but {block} "
                             f"has type {type(block)}. If you are using Sequential, please "
                             f"try HybridSequential instead.")
        super().register_child(block, name)

    def cast(self, dtype: Any) -> None:
        self._clear_cached_op()
        super().cast(dtype)

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
                entry = self._fast.get(tuple([(a._data.shape, a._data.dtype) for a in args]))
            except AttributeError:
                entry = None
            if entry is not None and ((g := entry[5]) is None or
                                      g.version == _attr_version or g.hold()) and (
                    entry[4][0] == _param_version[0] or _types_hold(entry)):
                if entry.params:  # each parameter's copy on the inputs' context
                    ctx = args[0].context if args else None
                    inputs = list(args) + [p._data_on(ctx) for p in entry.params]
                else:
                    inputs = args
                return self._call_cached_op(entry, inputs, args)
        values, names = self._bind(args, kwargs)
        if self._array_kind(values, names) is Symbol:  # traced inside a hybridized parent
            # called on symbols by the user: one trace state, so that children share it
            token = _TRACE_PARAMS.set(({}, True)) if _TRACE_PARAMS.get() is None else None
            try:
                params = _param_symbols(self)
                with name_scope(self.prefix), argument_names(_names(names, values)):
                    return self._run(sym, values, params, names)
            finally:
                if token is not None:
                    _TRACE_PARAMS.reset(token)
        if not self._active:  # a plain Block's call: any Python value may be an input
            params = self._eager_params(values, names)
            with argument_names(_names(names, values)):
                return self._run(nd, values, params, names)
        for name, value in zip(names, values):
            if value is not None and not isinstance(value, NDArray):
                raise InputError(f"{type(self).__name__}: input {name!r} must be an NDArray "
                                 f"(or None) when hybridized, got {type(value).__name__}; "
                                 f"without hybridize() it takes any Python value, as a Block")
        self._check_hybrid_inputs(values, names)
        entry = self._build_cache(values)
        if all(isinstance(a, NDArray) for a in args):  # what the hot path looks up
            self._fast[tuple((a._data.shape, a._data.dtype) for a in args)] = entry
        ctx = _context_of(values)
        return self._call_cached_op(entry, [v for v in values if v is not None] +
                                    [p._data_on(ctx) for p in entry.params], values)

    def _check_hybrid_inputs(self, values: list, names: list[str]) -> None:
        """As MXNet's cached op: the inputs share one context, and which of them are None
        stays as in the first hybridized call until the cache is cleared (hybridize())."""
        ctxs = {str(v.context): name for name, v in zip(names, values) if v is not None}
        if len(ctxs) > 1:
            raise InputError(f"{type(self).__name__}: inputs on several contexts "
                             f"({', '.join(f'{n}: {c}' for c, n in ctxs.items())}); a "
                             f"hybridized block takes its inputs on one context")
        given = tuple(f"{n}=None" if v is None else n for n, v in zip(names, values))
        stored = self.__dict__.get("_in_format")
        if stored is None:
            # not through Block.__setattr__, which would invalidate every cached graph
            self.__dict__["_in_format"] = given
        elif given != stored:
            raise InputError(f"{type(self).__name__}: the inputs given (or None) changed since "
                             f"the first hybridized call: cached ({', '.join(stored)}), now "
                             f"({', '.join(given)}); call hybridize() again to trace anew")

    def _eager_params(self, values: list, names: list[str]) -> list[NDArray]:
        """This block's parameters' values for an eager call, first finishing the
        deferred initialization of those whose shape was unknown (MXNet infers it from
        the call's inputs)."""
        pending = [p for p in self._reg_params.values() if p._deferred_init is not None]
        if pending:
            self._deferred_infer_shape(values, names)
        ctx = _context_of(values)
        if ctx is None:  # no array among the inputs: the current context's copies
            return [p.data() for p in self._reg_params.values()]
        return [p._data_on(ctx) for p in self._reg_params.values()]

    def infer_shape(self, *args) -> None:
        """Infer the unknown parameter shapes of this block and the children it calls
        from these inputs, and finish their deferred initialization."""
        values, names = self._bind(args, {})
        self._deferred_infer_shape(values, names)

    def infer_type(self, *args) -> None:
        """Parameters take their declared dtypes (MXNet infers them from the inputs);
        checks that a call with these inputs traces."""
        values, _ = self._bind(args, {})
        self._get_graph(values, deferred_ok=True)

    def _deferred_infer_shape(self, values: list, names: list[str] | None = None) -> None:
        """Trace with the inputs' shapes, infer the unknown parameter shapes from the ops
        that read them (``Op.fill_shapes``), and initialize those parameters."""
        from ..symbol.interpreter import infer_variable_shapes
        graph, input_names, _, _, params = self._get_graph(values, deferred_ok=True)
        pending = [p for p in params if p._deferred_init is not None]
        if not pending:
            return
        known = {p.name: p.shape for p in params if p._deferred_init is None}
        try:
            shapes = infer_variable_shapes(graph, known)
        except (MXNetError, ValueError, TypeError) as e:
            raise ValueError(f"Deferred initialization failed because shape cannot be "
                             f"inferred. {e}") from e
        for p in pending:
            shape = shapes.get(p.name)
            if shape is None or not _shape_known(shape):
                raise ValueError(f"Deferred initialization failed because shape cannot be "
                                 f"inferred. {type(self).__name__}: parameter {p.name} has "
                                 f"shape {p.shape} and no op that reads it gives its "
                                 f"missing dimensions (known shapes: {known})")
            p._infer_shape(shape)
            p._finish_deferred_init()

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

    def _get_graph(self, values: list, deferred_ok: bool = False
                   ) -> tuple[Symbol, list[str], Any, _Guards | None, tuple[Parameter, ...]]:
        """Trace hybrid_forward with shape-specialized variables named as MXNet 1.9.1 names
        them: ``data`` for a lone input, else data0, data1, ... in call order, skipping
        inputs passed as None, then every Parameter of this block and of the children it
        calls (traced inline, into this one graph), by full name, in the order first read.
        Returns (graph, input names, output format, guards, parameters).  With
        ``deferred_ok`` a parameter of unknown shape is a variable of unknown shape."""
        lone = sum(v is not None for v in values) == 1
        inputs, input_names = [], []
        for v in values:
            if v is None:
                inputs.append(None)
                continue
            name = "data" if lone else f"data{len(input_names)}"
            input_names.append(name)
            inputs.append(sym.var(name, shape=v.shape, dtype=v.dtype))
        names = self._input_names(len(values))
        reads: list = []
        used: dict[int, tuple[Parameter, Symbol]] = {}
        token, ptoken = _READS.set(reads), _TRACE_PARAMS.set((used, deferred_ok))
        try:
            params = _param_symbols(self)
            with name_scope(self.prefix), argument_names(_names(names, inputs)):
                out = self._run(sym, inputs, params, names)
        finally:
            _READS.reset(token)
            _TRACE_PARAMS.reset(ptoken)
        flat, out_format = _flatten(out)
        graph = sym.Group(flat)
        read = set(graph.list_inputs())
        taken = tuple(p for p, _ in used.values() if p.name in read)
        return graph, input_names + [p.name for p in taken], out_format, _guards(reads), taken

    def _build_cache(self, values: list) -> _CacheEntry:
        """The cache entry of this call's signature, traced (once, even with concurrent
        callers) if missing or if an attribute its trace read has changed since."""
        key = _cache_key(values)
        entry = self._cache.get(key)
        if entry is None or not _holds(entry.guards) or not _types_hold(entry):
            with self._cache_lock:
                entry = self._cache.get(key)
                if entry is None or not _holds(entry.guards) or not _types_hold(entry):
                    if entry is not None:
                        _LOG.debug("%s: tracing again (%s)", type(self).__name__,
                                   entry.guards and entry.guards.changed() or "parameter types")
                        self._forget(key)
                    entry = self._new_entry(values)
                    self._cache[key] = entry
                    if len(self._cache) > jit.memory_cache_size():
                        self._forget(next(iter(self._cache)))
        return entry

    def _new_entry(self, values: list) -> _CacheEntry:
        try:
            graph, input_names, out_format, guards, params = self._get_graph(values)
        except _Deferred:
            # a parameter's shape is still unknown: infer it from this call, then trace
            self._deferred_infer_shape(values)
            graph, input_names, out_format, guards, params = self._get_graph(values)
        return _CacheEntry(CachedOp(graph, input_names, type(self).__name__,
                                    getattr(self, "_inline_limit", 2)), out_format,
                           params, _param_types(params), [_param_version[0]], guards)

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
        hook = self.__dict__.get("_op_hook")
        if hook is not None:
            _report_to_op_hook(entry.op, inputs, *hook)
        ctx = getattr(inputs[0], "_ctx", None) if inputs else None
        if ctx is not None:  # the outputs are on the inputs' context (cpu(0) is unlabelled)
            for o in outs:
                o._ctx = ctx
        return outs[0] if entry.out_format is None else _regroup(entry.out_format, outs)

    def _clear_cached_op(self) -> None:
        """Forget every signature's CachedOp (and with it, once unused, its machine code)."""
        self.__dict__.pop("_in_format", None)
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
        entry = self._cache.get(_cache_key(values))
        if entry is None or not _holds(entry.guards) or not _types_hold(entry):
            entry = self._new_entry(values)
        ctx = _context_of(values)
        return entry.op, [v for v in values if v is not None] + [p._data_on(ctx)
                                                                  for p in entry.params]

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
        sym_file, params_file = f"{path}-symbol.json", f"{path}-{epoch:04d}.params"
        with open(sym_file, "w", encoding="utf-8") as f:
            f.write(to_json(graph, shapes=False))
        args, aux = set(graph.list_arguments()), set(graph.list_auxiliary_states())
        save(params_file, {f"{'aux' if name in aux else 'arg'}:{name}": p._reduce()
                           for name, p in self.collect_params().items() if name in args | aux})
        return sym_file, params_file

    def explain(self, *args) -> str:
        """Every compiler stage for a call with these inputs: traced graph, passes, IR."""
        from ..compiler.pipeline import explain
        op = self._cached_op_for(args)[0]
        graph = op.graph
        params = [n for n in op.input_names if not re.fullmatch(r"data\d*", n)]
        names = sorted((n for n in graph.list_inputs() if n not in params),
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


# the Parameters a trace has made variables of (by id: one variable per Parameter, however
# many blocks read it), and whether an unknown shape is allowed (deferred inference)
_TRACE_PARAMS: contextvars.ContextVar[tuple[dict, bool] | None] = contextvars.ContextVar(
    "traced_params", default=None)


class _Deferred(Exception):
    """A trace met a parameter whose shape is unknown until inferred from the inputs."""


def _shape_known(shape) -> bool:
    return shape is not None and all(d > 0 for d in shape)


def _param_symbols(block: HybridBlock) -> list[Symbol]:
    """The variables standing for block's parameters in the trace running now (one per
    Parameter, shared by every block that reads it); outside a trace, new ones."""
    state = _TRACE_PARAMS.get()
    used, deferred_ok = state if state is not None else ({}, True)
    reads = _READS.get()
    if reads is not None and block._reg_params:  # share_parameters may replace them
        reads.append((block, "_reg_params", block._reg_params))
    out = []
    for p in block._reg_params.values():
        hit = used.get(id(p))
        if hit is None:
            clash = next((q for q, _ in used.values() if q.name == p.name), None)
            if clash is not None:
                raise MXNetError(f"{type(block).__name__}: two different parameters are both "
                                 f"named {p.name!r} in one graph; give the blocks distinct "
                                 f"prefixes, or share one Parameter (params=...)")
            if p._data is not None:
                shape, dtype = p._data.shape, p._data.dtype
            elif _shape_known(p.shape) and p._deferred_init is None:
                shape, dtype = p.shape, p.dtype
            elif deferred_ok:
                shape, dtype = (p.shape if _shape_known(p.shape) else None), p.dtype
            elif p._deferred_init is not None:
                raise _Deferred(p.name)
            else:
                p.data()  # raises: not initialized
            hit = used[id(p)] = (p, sym.var(p.name, shape=shape, dtype=dtype))
        out.append(hit[1])
    return out


def _param_types(params: tuple[Parameter, ...]) -> tuple:
    return tuple((p._data._data.shape, p._data._data.dtype) if p._data is not None else None
                 for p in params)


# MXNet names a node's inputs by the op's FListInputNames; an op without them (Activation)
# gets input0, input1, ... in the monitor's names
_UNNAMED_INPUTS = frozenset({"Activation"})


def _monitor_input_names(node: Any) -> list[str]:
    n = len(node.inputs)
    names = [x.rstrip("?") for x in node.op.inputs]
    if node.op.name in _UNNAMED_INPUTS or node.op.variadic or len(names) < n:
        return [f"input{i}" for i in range(n)]
    return names[:n]


def _report_to_op_hook(op: CachedOp, inputs: list, callback: Any, monitor_all: bool) -> None:
    """Walk op's graph with the numpy kernels on the call's inputs, handing each node's
    inputs (monitor_all) and outputs to callback (register_op_hook)."""
    plan = Plan(op.graph)
    arrays = {name: x._data for name, x in zip(op.input_names, inputs)}
    values: list = [None] * plan.num_slots
    for j, name in zip(plan.input_slots, plan.input_names):
        values[j] = arrays[name]
    with np.errstate(all="ignore"):
        for node, attrs, ins, outs in plan.steps:
            args = [values[j] for j in ins]
            op_name = node.op.name.encode()
            if monitor_all:
                for name, a in zip(_monitor_input_names(node), args):
                    callback(f"{node.name}_{name}".encode(), op_name, NDArray(np.array(a)))
            res = node.op.compute(attrs, *args)
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
            for j, r in zip(outs, res):
                values[j] = r
            shown = res[:node.op.n_visible(attrs)]
            for k, r in enumerate(shown):
                suffix = "output" if len(shown) == 1 else f"output{k}"
                callback(f"{node.name}_{suffix}".encode(), op_name, NDArray(np.array(r)))


def _context_of(values: list) -> Any:
    """The context of a call's first NDArray input (None: it has none): the copy of each
    parameter the call reads, as MXNet's blocks run where their input is."""
    for v in values:
        if isinstance(v, NDArray):
            return v.context
    return None


def _types_hold(entry: _CacheEntry) -> bool:
    """Whether the parameters still have the types the entry's graph was compiled for
    (a cast elsewhere, or a shared parameter cast through another block, changes them)."""
    now = _param_version[0]
    if entry.seen[0] == now:
        return True
    if _param_types(entry.params) != entry.param_types:
        return False
    entry.seen[0] = now
    return True


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
            if by_value == "blocks":
                blocks = _members(now)
                if blocks is None or len(blocks) != len(value) or any(
                        a[0] != b[0] or a[1] is not b[1] for a, b in zip(blocks, value)):
                    return f"{type(block).__name__}.{name}: its blocks changed"
                continue
            if now is not value and not (by_value and type(now) is type(value) and now == value):
                return f"{type(block).__name__}.{name}: {value!r} -> {now!r}"
        return None

    def hold(self) -> bool:
        if self.changed() is not None:
            return False
        self.version = _attr_version
        return True


def _members(value: Any) -> tuple | None:
    """(key, item) pairs of a non-empty list, tuple or dict of blocks or of parameters
    (a block's children, its ``_reg_params``), else None."""
    if isinstance(value, dict):
        items = tuple(value.items())
    elif isinstance(value, (list, tuple)):
        items = tuple(enumerate(value))
    else:
        return None
    return items if items and (all(isinstance(b, Block) for _, b in items) or
                               all(isinstance(b, Parameter) for _, b in items)) else None


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
        if _members(value) is not None:
            # children kept in a list or a dict (register_child, _children), or the
            # parameters a block hands hybrid_forward: the graph holds while it holds the
            # same ones; a change inside each child is guarded by that child's own reads
            checks.append((weakref.ref(block), name, _members(value), "blocks"))
            continue
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
