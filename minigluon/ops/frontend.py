"""What `nd` and `sym` share: turning a Python call into (op, inputs, attrs), operator
overloading, and error messages that name the arguments at fault.

Both front ends build their functions from the registry with :func:`make_function`;
they differ only in what ``invoke`` does (run the numpy kernel now, or add a graph node).
"""
from __future__ import annotations

import contextvars
import linecache
import numbers
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from types import FrameType, SimpleNamespace, TracebackType
from typing import Any

import numpy as np

from ..base import MXNetError, ShapeError, TracingError, fmt_type, normalize_dtype
from ..context import data_context
from .elemwise import BINARY
from .registry import REQUIRED, AttrError, Op, canonical_ops, get_op

# id-keys of the arrays/symbols a block was called with -> the argument's name
_ARG_NAMES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("arg_names", default=None)


# the hybrid_forward running now, as "SoftmaxCELoss.hybrid_forward", or None
_IN_BLOCK: contextvars.ContextVar[str | None] = contextvars.ContextVar("in_block", default=None)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def running(label: str):
    """Mark the code inside as a block's hybrid_forward (for in-place ops and errors)."""
    token = _IN_BLOCK.set(label)
    try:
        yield
    finally:
        _IN_BLOCK.reset(token)


def in_hybrid_forward() -> bool:
    return _IN_BLOCK.get() is not None


def is_argument(x: Any) -> str | None:
    """The block argument name x is bound to, if x is one of the call's inputs."""
    return (_ARG_NAMES.get() or {}).get(x.ident())


def _outside_package(frame: FrameType) -> bool:
    return not os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)


def _show_line(filename: str, lineno: int) -> str:
    code = linecache.getline(filename, lineno).strip()
    if "#" in code and not any(q in code.split("#")[0] for q in "'\""):
        code = code.split("#")[0].rstrip()  # the code, not its comment
    return f"{filename}:{lineno}" + (f": `{code}`" if code else "")


def user_line() -> str:
    """``file.py:12: `if x > 0:``` for the innermost frame outside minigluon."""
    frame = sys._getframe(1)
    while frame is not None and not _outside_package(frame):
        frame = frame.f_back
    if frame is None:
        return "<unknown line>"
    return _show_line(frame.f_code.co_filename, frame.f_lineno)


def user_stacklevel() -> int:
    """The ``stacklevel`` at which a ``warnings.warn`` in the calling function points at
    the user's line (the innermost frame outside minigluon)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and not _outside_package(frame):
        frame, level = frame.f_back, level + 1
    return level


def raising_user_line(tb: TracebackType | None) -> str | None:
    """The user's line an exception came from: the innermost frame of its traceback
    outside minigluon (None when every frame of it is minigluon's)."""
    found = None
    while tb is not None:
        if _outside_package(tb.tb_frame):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return None if found is None else _show_line(*found)


def _where() -> str:
    block = _IN_BLOCK.get()
    return f"{block} at {user_line()}" if block else user_line()


def input_assignment_error(name: str) -> TracingError:
    return TracingError(
        f"{_where()}: assigning into the block's input {name!r} ({name}[...] = ...) would "
        f"change the caller's array when run eagerly but not when hybridized; assign into a "
        f"copy instead: {name} = {name}.copy()")


def tracing_error(x: Any, what: str) -> TracingError:
    """A traced value asked for its data: say where, why, and what to write instead."""
    return TracingError(
        f"{_where()}: {what} of a traced symbol {describe(x)} needs its value, which does not "
        f"exist while hybrid_forward is traced (F = sym); Python control flow on it would "
        f"silently bake one branch into the cached graph. Keep it in F ops: choose "
        f"elementwise with F.where(condition, x, y), reduce with F.sum/F.max first if you "
        f"need one value per row.")


@contextmanager
def argument_names(mapping: dict):
    token = _ARG_NAMES.set({**(_ARG_NAMES.get() or {}), **mapping})
    try:
        yield
    finally:
        _ARG_NAMES.reset(token)


def _type(x: Any) -> str:
    return fmt_type(getattr(x, "shape", None), str(getattr(x, "dtype", "?")))


def _origin(x: Any, names: dict) -> str | None:
    name = names.get(x.ident())
    return f"{name}: {_type(x)}" if name else getattr(x, "_origin", None)


def track(inputs: list, outputs: list) -> None:
    """Inside a block call, remember which argument each result derives from, so an error
    several ops later can still say ``float32[3,1] (from label: float32[3])``."""
    names = _ARG_NAMES.get()
    if not names or not inputs:
        return
    origins = {_origin(x, names) for x in inputs}
    if len(origins) == 1:
        (origin,) = origins
        for out in outputs:
            out._origin = origin


def describe(x: Any) -> str:
    """``label: float32[8,6]`` for a block argument, ``float32[8,6] (from label: ...)`` for a
    value computed from one argument only, ``float32[8,6]`` otherwise."""
    names = _ARG_NAMES.get() or {}
    name = names.get(x.ident())
    if name:
        return f"{name}: {_type(x)}"
    origin = getattr(x, "_origin", None)
    return f"{_type(x)} (from {origin})" if origin else _type(x)


def op_error(op: Op, inputs: list, err: Exception) -> Exception:
    """Re-raise a kernel/shape error with the op and its operands in the message."""
    args = ", ".join(describe(x) for x in inputs)
    cls = type(err) if isinstance(err, (MXNetError, ValueError, TypeError)) else ShapeError
    new = cls(f"{op.name}({args}): {err}")
    return new


def bind_call(op: Op, args: tuple, kwargs: dict, is_tensor: Callable[[Any], bool]):
    """Split a front-end call into (inputs, explicit attrs, node name).

    Positional arguments fill the op's inputs first (all of them for variadic ops),
    then its attributes in declared order, as MXNet's generated functions do.
    """
    kwargs = dict(kwargs)
    name = kwargs.pop("name", None)
    kwargs.pop("out", None)
    ctx = kwargs.pop("ctx", None)
    if ctx is not None:  # refused here when it is a GPU: data is made on the CPU
        data_context(ctx)
    attr_names = list(op.attrs)
    if op.variadic:
        n_in = len(args)
        while n_in and not is_tensor(args[n_in - 1]):
            n_in -= 1
        inputs, rest = list(args[:n_in]), args[n_in:]
        if not inputs:
            raise TypeError(f"{op.name} needs at least one input")
        kwargs.pop("num_args", None)
    else:
        slots = [n.rstrip("?") for n in op.inputs]
        given: dict[str, Any] = {}
        for slot, val in zip(slots, args):
            given[slot] = val
        rest = args[len(slots):]
        for slot in slots:
            if slot in kwargs:
                if slot in given:
                    raise TypeError(f"{op.name}() got multiple values for input {slot!r}")
                given[slot] = kwargs.pop(slot)
        inputs = []
        for raw in op.inputs:
            slot = raw.rstrip("?")
            val = given.get(slot)
            if val is None:
                if raw.endswith("?"):
                    continue
                raise TypeError(f"{op.name}() missing input {slot!r}")
            if not is_tensor(val):
                raise TypeError(f"{op.name}(): input {slot!r} must be an array, got "
                                f"{type(val).__name__}")
            inputs.append(val)
    if len(rest) > len(attr_names):
        raise TypeError(f"{op.name}() takes at most {len(attr_names)} attribute arguments "
                        f"({', '.join(attr_names)}), got {len(rest)}")
    raw_attrs = dict(zip(attr_names, rest))
    for key in list(kwargs):
        if key in raw_attrs:
            raise TypeError(f"{op.name}() got multiple values for attribute {key!r}")
        raw_attrs[key] = kwargs.pop(key)
    # None means "use the default", as in MXNet's generated functions
    raw_attrs = {k: v for k, v in raw_attrs.items() if v is not None or k not in op.attrs
                 or op.attrs[k].default is None or op.attrs[k].none_is_value}
    try:
        attrs = op.parse_attrs(raw_attrs)
    except AttrError as e:
        raise AttrError(str(e)) from None
    return inputs, attrs, name


def make_function(op: Op, invoke: Callable, is_tensor: Callable[[Any], bool], fname: str):
    def fn(*args, **kwargs):
        inputs, attrs, name = bind_call(op, args, kwargs, is_tensor)
        return invoke(op, inputs, attrs, name)
    fn.__name__ = fname
    fn.__qualname__ = fname
    ins = ", ".join(op.inputs)
    ats = ", ".join(f"{k}={'<required>' if a.default is REQUIRED else repr(a.default)}"
                    for k, a in op.attrs.items())
    fn.__doc__ = f"{fname}({ins}{', ' if ins and ats else ''}{ats}) -- MXNet operator `{op.name}`."
    return fn


def populate(invoke: Callable, is_tensor: Callable[[Any], bool]):
    """One function per registry name (aliases included) for a front end:
    (public functions by name, namespace of the ``_``-prefixed ones, MXNet's ``_internal``)."""
    public: dict[str, Callable] = {}
    internal = SimpleNamespace()
    for op in canonical_ops():
        for name in (op.name, *op.aliases):
            fn = make_function(op, invoke, is_tensor, name)
            if name.startswith("_"):
                setattr(internal, name, fn)
            else:
                public[name] = fn
    public.update(make_extrema(is_tensor))
    return public, internal


def make_extrema(is_tensor: Callable[[Any], bool]) -> dict[str, Callable]:
    """MXNet's ``maximum(lhs, rhs)`` and ``minimum(lhs, rhs)``: Python functions, not ops.
    An array or a number on either side: two arrays give ``_maximum`` (same shapes) or
    ``broadcast_maximum``, one number gives ``_maximum_scalar``, two numbers the Python
    result."""
    def extremum(key: str, pick: Callable[[Any, Any], Any]) -> Callable:
        def fn(lhs: Any, rhs: Any) -> Any:
            if is_tensor(lhs) or is_tensor(rhs):
                out = lhs._binary(key, rhs) if is_tensor(lhs) else rhs._binary(key, lhs, True)
                if out is not NotImplemented:
                    return out
            elif isinstance(lhs, numbers.Number) and isinstance(rhs, numbers.Number):
                return pick(lhs, rhs)
            raise TypeError(f"{key}(lhs, rhs): types ({type(lhs).__name__}, "
                            f"{type(rhs).__name__}) not supported")
        fn.__name__ = fn.__qualname__ = key
        fn.__doc__ = (f"{key}(lhs, rhs): elementwise {key} of arrays or numbers, broadcasting "
                      f"(MXNet's `{key}` function).")
        return fn
    return {"maximum": extremum("maximum", lambda a, b: a if a > b else b),
            "minimum": extremum("minimum", lambda a, b: a if a < b else b)}


def make_creators(invoke: Callable, place: Callable | None = None) -> dict[str, Callable]:
    """``zeros``, ``ones``, ``full`` and ``eye`` for a front end (MXNet's signatures);
    ``place(result, context)`` records the ``ctx=`` asked for on an eager result."""
    from ..base import DEFAULT_DTYPE, normalize_dtype
    from .registry import get_op

    def build(op_name: str, attrs: dict, name: str | None, ctx: Any = None):
        context = data_context(ctx)
        op = get_op(op_name)
        attrs["dtype"] = normalize_dtype(attrs.get("dtype") or DEFAULT_DTYPE)
        out = invoke(op, [], op.parse_attrs(attrs), name)
        return out if place is None else place(out, context)

    def shaped(op_name: str):
        def create(shape, *args, dtype: Any = None, ctx: Any = None, name: str | None = None,
                   **kwargs):
            # MXNet's positional order: zeros(shape, ctx, dtype), full(shape, val, ctx, dtype)
            value, args = (args[:1], args[1:]) if op_name == "_full" else ((), args)
            if len(args) > 2:
                raise TypeError(f"{op_name.strip('_')}() takes shape{', val' * bool(value)}, "
                                f"ctx and dtype positionally, got {len(args)} more")
            ctx = args[0] if args else ctx
            dtype = args[1] if len(args) > 1 else dtype
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            attrs = {"shape": shape, "dtype": dtype, **kwargs}
            if "val" in attrs:  # MXNet's keyword for full's value
                attrs["value"] = attrs.pop("val")
            if value:
                attrs["value"] = value[0]
            return build(op_name, attrs, name, ctx)
        create.__name__ = op_name.strip("_")
        return create

    def eye(N: int, M: int = 0, k: int = 0, dtype: Any = None, ctx: Any = None,
            name: str | None = None):
        return build("_eye", {"N": N, "M": M, "k": k, "dtype": dtype}, name, ctx)

    def arange(start: float, stop: float | None = None, step: float = 1.0, repeat: int = 1,
               infer_range: bool = False, ctx: Any = None, dtype: Any = None,
               name: str | None = None):
        return build("_arange", {"start": start, "stop": stop, "step": step, "repeat": repeat,
                                 "dtype": dtype}, name, ctx)

    zeros = shaped("_zeros")
    return {"zeros": zeros, "empty": zeros, "ones": shaped("_ones"), "full": shaped("_full"),
            "eye": eye, "arange": arange}


_SCALAR_OPS = {
    "add": ("_plus_scalar", "_plus_scalar"), "sub": ("_minus_scalar", "_rminus_scalar"),
    "mul": ("_mul_scalar", "_mul_scalar"), "div": ("_div_scalar", "_rdiv_scalar"),
    "power": ("_power_scalar", "_rpower_scalar"), "mod": ("_mod_scalar", "_rmod_scalar"),
    "maximum": ("_maximum_scalar", "_maximum_scalar"), "minimum": ("_minimum_scalar", "_minimum_scalar"),
    "equal": ("_equal_scalar", "_equal_scalar"), "not_equal": ("_not_equal_scalar", "_not_equal_scalar"),
    "greater": ("_greater_scalar", "_lesser_scalar"),
    "greater_equal": ("_greater_equal_scalar", "_lesser_equal_scalar"),
    "lesser": ("_lesser_scalar", "_greater_scalar"),
    "lesser_equal": ("_lesser_equal_scalar", "_greater_equal_scalar"),
}


class OperatorMixin:
    """Python operators and fluent methods for NDArray and Symbol alike.

    ``a + b`` is ``elemwise_add`` when the shapes match and ``broadcast_add`` when they
    differ, in both modes; a Python number gives the ``_plus_scalar`` family.
    Subclasses provide ``_invoke(op_name, inputs, attrs)`` and ``shape``.
    """

    __slots__ = ()
    # numpy defers to our reflected operators, as to MXNet's NDArray: np.float64(2.5) * x is
    # then _mul_scalar in x's dtype, not a float64 numpy array made through __array__
    __array_priority__ = 1000.0
    _backend: Callable  # the front end's invoke(op, inputs, attrs, name)
    _namespace: str  # the front end's module: "minigluon.ndarray" or "minigluon.symbol"

    def _invoke(self, op_name: str, inputs: list, attrs: dict):
        op = get_op(op_name)
        return self._backend(op, inputs, op.parse_attrs(attrs), None)

    def _view(self, op_name: str, inputs: list, attrs: dict):
        """The op where MXNet's result is a view of the input's memory (``x.reshape``,
        contiguous ``x[key]``); NDArray keeps numpy's view, a traced value has no memory."""
        return self._invoke(op_name, inputs, attrs)

    def _function(self, name: str) -> Callable:
        return getattr(sys.modules[self._namespace], name)

    def _binary(self, key: str, other: Any, reverse: bool = False):
        if isinstance(other, (numbers.Number, np.generic)) and not isinstance(other, bool):
            name = _SCALAR_OPS[key][1 if reverse else 0]
            return self._invoke(name, [self], {"scalar": float(other)})
        if isinstance(other, bool):
            return self._binary(key, int(other), reverse)
        if type(other) is not type(self):
            if hasattr(other, "_invoke"):
                raise TypeError(f"cannot combine {type(self).__name__} and {type(other).__name__} "
                                f"in one expression: use F (nd or sym) consistently")
            return NotImplemented
        lhs, rhs = (other, self) if reverse else (self, other)
        same, bcast = BINARY[key].same, BINARY[key].bcast
        same_shape = lhs.shape is None or rhs.shape is None or tuple(lhs.shape) == tuple(rhs.shape)
        return self._invoke(same if same_shape else bcast, [lhs, rhs], {})

    def __add__(self, o): return self._binary("add", o)
    def __radd__(self, o): return self._binary("add", o, True)
    def __sub__(self, o): return self._binary("sub", o)
    def __rsub__(self, o): return self._binary("sub", o, True)
    def __mul__(self, o): return self._binary("mul", o)
    def __rmul__(self, o): return self._binary("mul", o, True)
    def __truediv__(self, o): return self._binary("div", o)
    def __rtruediv__(self, o): return self._binary("div", o, True)
    def __pow__(self, o): return self._binary("power", o)
    def __rpow__(self, o): return self._binary("power", o, True)
    def __mod__(self, o): return self._binary("mod", o)
    def __rmod__(self, o): return self._binary("mod", o, True)
    def __eq__(self, o): return self._binary("equal", o)  # type: ignore[override]
    def __ne__(self, o): return self._binary("not_equal", o)  # type: ignore[override]
    def __gt__(self, o): return self._binary("greater", o)
    def __ge__(self, o): return self._binary("greater_equal", o)
    def __lt__(self, o): return self._binary("lesser", o)
    def __le__(self, o): return self._binary("lesser_equal", o)
    def __neg__(self): return self._invoke("_mul_scalar", [self], {"scalar": -1.0})
    def __abs__(self): return self._invoke("abs", [self], {})
    __hash__ = object.__hash__

    def __getitem__(self, key):
        from .indexing import get_item
        return get_item(self, key)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def copy(self):
        return self._invoke("_copy", [self], {})

    @property
    def T(self):
        """The transpose (all axes reversed), as ``x.T`` on an MXNet NDArray."""
        return self._invoke("transpose", [self], {})

    def reshape(self, *shape, **kwargs):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if "shape" in kwargs:
            shape = tuple(kwargs.pop("shape"))
        return self._view("Reshape", [self], {"shape": tuple(shape), **kwargs})

    def squeeze(self, axis=None, inplace: bool = False):
        """Size-1 axes removed; ``inplace=True`` gives a view of this array's memory, as
        MXNet's NDArray does (a traced value has no memory, so it is the same op there)."""
        if inplace:
            return self._view("squeeze", [self], {"axis": axis})
        return self._invoke("squeeze", [self], {"axis": axis})

    def astype(self, dtype, copy: bool = True):
        if not copy and self.dtype is not None and self.dtype == np.dtype(normalize_dtype(dtype)):
            return self  # as MXNet: nothing to convert and no copy asked for
        return self._invoke("Cast", [self], {"dtype": dtype})


def _fluent(name: str):
    def method(self, *args, **kwargs):
        return self._function(name)(self, *args, **kwargs)
    method.__name__ = name
    return method


for _op in canonical_ops():
    if _op.fluent:
        for _n in (_op.name, *_op.aliases):
            if _n[0].islower() and not hasattr(OperatorMixin, _n):
                setattr(OperatorMixin, _n, _fluent(_n))
