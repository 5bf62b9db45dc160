"""The op registry: every operator minigluon knows is defined once, here.

An :class:`Op` holds everything the rest of the library needs about one MXNet
operator: its graph-JSON name, its inputs, how to parse its attributes, how to
infer output shapes and dtypes, and a numpy reference kernel.  ``nd``, ``sym``,
the interpreter and the JSON loader all read this table; nothing else keeps a
list of ops.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base import MXNetError, ShapeError, normalize_dtype

REQUIRED = object()
MAX_ELEMENTS = 1 << 31  # per array: far beyond any loss, and int64 index math stays exact

_INT = re.compile(r"^\s*[+-]?\d+\s*$")


class AttrError(MXNetError, ValueError):
    """An attribute value that does not parse or is out of range."""


class DTypeError(MXNetError, TypeError):
    """Input dtypes an operator refuses, as MXNet 1.9.1 refuses them."""


FLOATS = ("float16", "float32", "float64")

# The facts about an op that the compiler passes ask (``"reduction" in op.traits``), so
# that no pass keeps a list of op names of its own that drifts from the registry.
TRAITS = {
    "reduction": "reduces input 0 over the axes its attributes name (sum, max, norm, ...)",
    "row_reduction": "reduces over an axis internally, keeping the shape (softmax-like)",
    "view": "input 0's elements in the same order under a new shape: free at run time",
    "shape_identity": "returns input 0 itself when the output's shape and dtype equal its "
                      "own (views, broadcasts to the same shape, a cast to the same dtype)",
    "identity": "always returns input 0's value (_copy, BlockGrad)",
    "blas": "its numpy kernel is an external BLAS call: compiled code, not interpreted",
    "random": "draws from mg.random's one generator: a compiled graph runs it as a host "
              "(numpy) step in trace order, by design and not as a fallback; never merged "
              "with a twin, never recomputed for backward",
}


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise AttrError(f"expected a boolean, got {text!r}")


def _parse_int(text: str) -> int:
    if not _INT.match(text):
        raise AttrError(f"expected an integer, got {text!r}")
    return int(text)


def _parse_int_tuple(text: str) -> tuple[int, ...]:
    body = text.strip()
    if body[:1] in "([" and body[-1:] in ")]":
        body = body[1:-1]
    parts = [p for p in body.split(",") if p.strip()]
    return tuple(_parse_int(p) for p in parts)


# Each attribute kind: (parse from a JSON string, coerce a Python value).
def _coerce_int(v: Any) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise AttrError(f"expected an integer, got {v!r}")
    return int(v)


def _coerce_float(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise AttrError(f"expected a number, got {v!r}")
    return float(v)


def _coerce_bool(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_, int, np.integer)) and v in (0, 1):
        return bool(v)
    raise AttrError(f"expected a boolean, got {v!r}")


def _coerce_shape(v: Any) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),)
    if isinstance(v, (tuple, list)):
        return tuple(_coerce_int(x) for x in v)
    raise AttrError(f"expected a shape (tuple of ints), got {v!r}")


def _coerce_axes(v: Any) -> int | tuple[int, ...] | None:
    if v is None:
        return None
    if isinstance(v, (tuple, list)):
        return tuple(_coerce_int(x) for x in v)
    return _coerce_int(v)


def _parse_axes(text: str) -> int | tuple[int, ...] | None:
    t = text.strip()
    if t in ("None", ""):
        return None
    if t[:1] in "([":
        return _parse_int_tuple(t)
    return _parse_int(t)


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise AttrError(f"expected a number, got {text!r}") from None


def _parse_opt_float(text: str) -> float | None:
    return None if text.strip() == "None" else _parse_float(text)


def _coerce_opt_float(v: Any) -> float | None:
    return None if v is None else _coerce_float(v)


def _parse_opt_int(text: str) -> int | None:
    return None if text.strip() == "None" else _parse_int(text)


def _coerce_opt_int(v: Any) -> int | None:
    return None if v is None else _coerce_int(v)


def _parse_opt_shape(text: str) -> tuple:
    body = text.strip()
    if body[:1] in "([" and body[-1:] in ")]":
        body = body[1:-1]
    return tuple(_parse_opt_int(p) for p in body.split(",") if p.strip())


def _coerce_opt_shape(v: Any) -> tuple:
    if isinstance(v, (tuple, list)):
        return tuple(_coerce_opt_int(x) for x in v)
    return (_coerce_opt_int(v),)


def _coerce_dtype(v: Any) -> str | None:
    if v is None or v == "None":
        return None
    try:
        return normalize_dtype(v)
    except TypeError as e:
        raise AttrError(str(e)) from None


def _coerce_str(v: Any) -> str:
    if not isinstance(v, str):
        raise AttrError(f"expected a string, got {v!r}")
    return v


_KINDS: dict[str, tuple[Callable[[str], Any], Callable[[Any], Any]]] = {
    "int": (_parse_int, _coerce_int),
    "float": (_parse_float, _coerce_float),
    "opt_float": (_parse_opt_float, _coerce_opt_float),
    "opt_int": (_parse_opt_int, _coerce_opt_int),
    "opt_shape": (_parse_opt_shape, _coerce_opt_shape),
    "bool": (_parse_bool, _coerce_bool),
    "shape": (_parse_int_tuple, _coerce_shape),
    "axes": (_parse_axes, _coerce_axes),
    "dtype": (_coerce_dtype, _coerce_dtype),
    "str": (_coerce_str, _coerce_str),
}


@dataclass(frozen=True)
class Attr:
    """One operator attribute: its kind, default and allowed values."""

    kind: str
    default: Any = REQUIRED
    choices: tuple | None = None
    # a Python None passed for it is a value (topk's axis=None: the flattened array),
    # not "use the default" as for other attributes
    none_is_value: bool = False

    def value(self, raw: Any) -> Any:
        parse, coerce = _KINDS[self.kind]
        v = parse(raw) if isinstance(raw, str) and self.kind not in ("str", "dtype") else coerce(raw)
        if self.choices is not None and v not in self.choices:
            raise AttrError(f"expected one of {list(self.choices)}, got {raw!r}")
        return v


def format_attr(value: Any) -> str:
    """Render an attribute the way MXNet writes it into graph JSON."""
    if isinstance(value, (list, tuple)):
        return str(tuple(None if v is None else int(v) for v in value))
    return str(value)


@dataclass
class Op:
    """Everything minigluon knows about one operator.

    ``inputs`` lists input names; a trailing ``?`` marks an optional input
    (callers pass ``None`` to omit it).  ``shape(attrs, in_shapes)`` returns the
    output shapes, ``dtype(attrs, in_dtypes)`` the output dtypes (default: the
    first input's), and ``compute(attrs, *arrays)`` is the numpy kernel.
    """

    name: str
    inputs: tuple[str, ...]
    shape: Callable[[dict, list], list]
    compute: Callable[..., Any]
    attrs: dict[str, Attr] = field(default_factory=dict)
    dtype: Callable[[dict, list], list] | None = None
    # an int, or a rule of the op's full attributes (split's num_outputs; RNN's state
    # outputs); read them through n_outputs(attrs) / n_visible(attrs)
    num_outputs: int | Callable[[dict], int] = 1
    num_visible: int | Callable[[dict], int] | None = None
    variadic: bool = False
    hint: str | None = None
    aliases: tuple[str, ...] = ()
    fluent: bool = False
    loose_attrs: bool = False
    active_inputs: Callable[[dict], tuple[str, ...]] | None = None
    # lower(attrs, *inputs as loop-IR lazy tensors) -> lazy tensor; None: not compiled
    lower: Callable[..., Any] | None = None
    # or a hand-written kernel: the compiler owns it (compiler/extern.py, keyed by the op's
    # name), so that the registry never loads the code generator; validate(attrs, *arrays)
    # checks input values before it runs (it does not report errors)
    extern_kernel: bool = False
    validate: Callable[..., Any] | None = None
    # grad(F, attrs, inputs, outputs, output grads) -> one gradient (or None) per input,
    # written with F-API ops so it runs eagerly and can be traced
    grad: Callable[..., Any] | None = None
    # cost(attrs, in_shapes, out_shapes) -> element-operations to compute it once, for
    # choosing between storing and recomputing; None: the elements it reads and writes
    cost: Callable[..., float] | None = None
    # MXNet's dtype checks, made when the op is called or traced, before any kernel: the
    # inputs named in same_dtype must share one dtype ("*": every input), and each input
    # named in accepts must have one of its dtypes.  MXNet never promotes.
    same_dtype: tuple[str, ...] = ()
    accepts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # words from TRAITS: what the compiler passes may assume about this op
    traits: frozenset[str] = frozenset()
    # a scalar op (x op scalar) that returns x when its scalar is this value (x * 1)
    neutral_scalar: float | None = None
    # fill_shapes(attrs, in_shapes) -> in_shapes: the input shapes (None where unknown)
    # with what this op's rule deduces filled in (FullyConnected: weight from data), for
    # a parameter whose shape is inferred at the first call (deferred initialization)
    fill_shapes: Callable | None = None
    # training(full attrs) -> the name of the op this one runs as in autograd's training
    # mode (BatchNorm -> _BatchNorm_train: the batch's statistics), or None where the
    # mode changes nothing; eager calls and hybridized calls in training mode swap it in
    training: Callable[[dict], str | None] | None = None
    # MXNet's auxiliary states: inputs that are state, not arguments (list_auxiliary_states,
    # "aux:" in .params).  ``update(F, attrs, inputs) -> [(input name, new value), ...]``
    # names the inputs a call writes (the aux states; BatchNorm's fixed gamma, reset to 1):
    # an eager call writes them in place, a compiled graph returns them as extra outputs
    # that the CachedOp writes back after the run (docs/architecture.md)
    aux_inputs: tuple[str, ...] = ()
    update: Callable[..., list] | None = None
    # compose(F, attrs, inputs) -> outputs: a training form as F-ops (mean, square, ...),
    # what a hybridized training graph holds in its place, so that the statistics it shares
    # with its update rule are stored once, not recomputed inside every output loop
    compose: Callable[..., list] | None = None
    # expand(attrs, in_shapes) -> (steps, outputs): the op as a small graph of registry
    # ops, steps [(name, attrs, [ref, ...])] where a ref is ("in", k) for the op's input k
    # or (j, i) for output i of step j, and one ref per output.  The compiler's simplify
    # rewrites the op into them (split's parts become views that fuse into their readers)
    expand: Callable | None = None

    def n_outputs(self, attrs: dict) -> int:
        """How many outputs the op has with these (explicit or full) attributes, hidden
        ones (CTCLoss's gradient) included."""
        n = self.num_outputs
        return n if isinstance(n, int) else int(n(self.full_attrs(attrs)))

    def n_visible(self, attrs: dict) -> int:
        """How many of those outputs a caller sees."""
        n = self.num_visible
        if n is None:
            return self.n_outputs(attrs)
        return n if isinstance(n, int) else int(n(self.full_attrs(attrs)))

    @property
    def name_hint(self) -> str:
        return self.hint or self.name.lower()

    def parse_attrs(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate explicit attributes (strings from JSON or Python values)."""
        out: dict[str, Any] = {}
        for key, val in raw.items():
            if key.startswith("__") or (key == "num_args" and self.variadic):
                continue
            spec = self.attrs.get(key)
            if spec is None:
                if self.loose_attrs:
                    continue
                known = ", ".join(self.attrs) or "none"
                raise AttrError(f"operator {self.name} has no attribute {key!r} (known: {known})")
            try:
                out[key] = spec.value(val)
            except AttrError as e:
                raise AttrError(f"operator {self.name}, attribute {key}: {e}") from None
        for key, spec in self.attrs.items():
            if spec.default is REQUIRED and key not in out:
                raise AttrError(f"operator {self.name} needs attribute {key!r}")
        return out

    def full_attrs(self, explicit: dict[str, Any]) -> dict[str, Any]:
        full = {k: a.default for k, a in self.attrs.items()}
        full.update(explicit)
        return full

    def input_names(self, attrs: dict[str, Any]) -> tuple[str, ...]:
        if self.active_inputs is not None:
            return self.active_inputs(attrs)
        return tuple(n.rstrip("?") for n in self.inputs if not n.endswith("?"))

    def infer(self, attrs: dict, shapes: list, dtypes: list) -> tuple[list, list]:
        full = self.full_attrs(attrs)
        out_shapes = [tuple(int(d) for d in s) for s in self.shape(full, shapes)]
        for s in out_shapes:  # an attribute (broadcast_to's shape, tile's reps) can ask for
            if math.prod(s) > MAX_ELEMENTS:  # anything: refuse before anything is allocated
                raise ShapeError(f"the output shape {s} has {math.prod(s)} "
                                 f"elements, more than the {MAX_ELEMENTS} minigluon allows")
        return out_shapes, self.infer_dtype(attrs, dtypes)

    def infer_dtype(self, attrs: dict, dtypes: list) -> list:
        self.check_dtypes(attrs, dtypes)
        if self.dtype:
            return list(self.dtype(self.full_attrs(attrs), dtypes))
        return [dtypes[0]] * self.n_outputs(attrs)

    def _dtype_slots(self, attrs: dict, n: int) -> tuple[list[str], list[int]]:
        """The input names, and the positions of those that must share one dtype."""
        names = ([f"args[{i}]" for i in range(n)] if self.variadic
                 else list(self.input_names(self.full_attrs(attrs))))
        same = [i for i, name in enumerate(names[:n]) if self.same_dtype == ("*",) or
                name in self.same_dtype]  # names[:n]: a missing input is the shape rule's to report
        return names, same

    def check_dtypes(self, attrs: dict, dtypes: list) -> None:
        """Raise DTypeError where MXNet refuses these input dtypes."""
        if not (self.same_dtype or self.accepts):
            return
        names, same = self._dtype_slots(attrs, len(dtypes))
        for name, dt in zip(names, dtypes):
            allowed = self.accepts.get(name)
            if allowed and dt not in allowed:
                kind = "floating-point" if allowed == FLOATS else "/".join(allowed)
                raise DTypeError(f"{name} is {dt}, but MXNet's {self.name} takes {kind} "
                                 f"inputs only; cast it with .astype('float32')")
        for i in same[1:]:
            if dtypes[i] != dtypes[same[0]]:
                raise DTypeError(f"input dtypes differ: {names[same[0]]} is {dtypes[same[0]]}, "
                                 f"{names[i]} is {dtypes[i]} (MXNet requires the same dtype; "
                                 f"cast one with .astype())")

    def tie_dtypes(self, attrs: dict, dtypes: list) -> list:
        """dtypes with each unknown one (None) that must equal a known one set to it, as
        MXNet's type inference gives an undeclared variable the dtype its use requires."""
        _, same = self._dtype_slots(attrs, len(dtypes))
        known = [dtypes[i] for i in same if dtypes[i] is not None]
        return [known[0] if known and i in same and d is None else d
                for i, d in enumerate(dtypes)]

    def run(self, attrs: dict, arrays: list, views: bool = False) -> list[np.ndarray]:
        """The kernel's outputs, each in memory of its own as MXNet's operators return;
        ``views=True`` keeps the views numpy gives (what x.reshape and x[0] are in MXNet)."""
        out = self.compute(self.full_attrs(attrs), *arrays)
        outs = [np.asarray(o) for o in out] if isinstance(out, (tuple, list)) else [np.asarray(out)]
        return outs if views else unshared(outs, arrays)


def unshared(outs: list, given: list) -> list:
    """outs, with each one that may share memory with an array in given or with an earlier
    one replaced by a copy.  numpy's reshape, transpose, slices and identities return views
    of their input, so a caller's ``y += 1`` would write into x; MXNet's ops never do."""
    if len(outs) == 1 and outs[0].base is None:  # the common case, kept cheap: a new array
        for a in given:
            if a is outs[0]:
                break
        else:
            return outs
    taken = {id(a) for a in given}  # arrays, and the owners of views already returned
    res: list = []
    for o in outs:
        if o.base is None and id(o) not in taken:
            taken.add(id(o))
        elif o.base is not None and not any(np.may_share_memory(o, a) for a in (*given, *res)):
            taken.add(id(o.base))  # a later output that is this view's owner gets copied
        else:
            o = o.copy()
        res.append(o)
    return res


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    unknown = set(op.traits) - set(TRAITS)
    if unknown:
        raise RuntimeError(f"operator {op.name}: unknown traits {sorted(unknown)} (known: {list(TRAITS)})")
    op.traits = frozenset(op.traits)
    for name in (op.name, *op.aliases):
        if name in OPS:
            raise RuntimeError(f"operator {name} registered twice")
        OPS[name] = op
    return op


def get_op(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise MXNetError(f"unknown operator {name!r}") from None


def canonical_ops() -> list[Op]:
    """Each registered op once (aliases folded)."""
    seen: dict[int, Op] = {}
    for op in OPS.values():
        seen.setdefault(id(op), op)
    return list(seen.values())
