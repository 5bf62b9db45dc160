"""Symbol: a node in a traced graph.  Shape-specialized: when a symbol's inputs have known
shapes (always while a HybridBlock traces), its own shape and dtype are inferred at once,
so ``x.shape`` works and shape errors surface at the line that caused them."""
from __future__ import annotations

import contextvars
import itertools
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..base import DEFAULT_DTYPE, MXNetError, fmt_type, normalize_dtype, postorder
from ..context import Context, cpu
from ..ops.frontend import OperatorMixin, make_creators, op_error, populate, track
from ..ops.registry import Op


class Node:
    """One graph node: an operator application, or a variable when ``op`` is None."""

    __slots__ = ("attrs", "dtypes", "inputs", "name", "op", "seq", "shapes", "var_attrs")

    def __init__(self, op: Op | None, name: str, attrs: dict, inputs: list,
                 shapes: list, dtypes: list, var_attrs: dict | None = None):
        self.op = op
        self.name = name
        self.attrs = attrs  # explicit attributes, parsed to Python values
        self.inputs = inputs  # [(Node, output index)]
        self.shapes = shapes  # per output; None when unknown
        self.dtypes = dtypes
        self.var_attrs = var_attrs or {}  # variables: __shape__, __dtype__ ... as strings
        self.seq = next(_CREATED)  # creation order: after every node it reads (trace_order)

    @property
    def is_variable(self) -> bool:
        return self.op is None

    @property
    def num_outputs(self) -> int:
        return 1 if self.op is None else self.op.n_outputs(self.attrs)


_CREATED = itertools.count()


def trace_order(nodes: list[Node]) -> list[Node]:
    """nodes (a topological order) with the ops in the order they were created, where a
    random op is among them: a graph then draws random numbers in the order the same code
    draws them eagerly.  Creation order is topological (a node is made after its inputs);
    variables keep their places first, so the input order does not change."""
    if not any(n.op is not None and "random" in n.op.traits for n in nodes):
        return nodes
    return [n for n in nodes if n.is_variable] + sorted(
        (n for n in nodes if not n.is_variable), key=lambda n: n.seq)


# --- automatic node names: prefix + hint + per-hint counter, as MXNet's NameManager ----------
_SCOPE: contextvars.ContextVar[tuple[str, dict]] = contextvars.ContextVar(
    "name_scope", default=("", {}))


@contextmanager
def name_scope(prefix: str):
    """Name the nodes created inside ``{prefix}{hint}{n}`` with counters starting at 0, and
    a node given ``name=`` ``{prefix}{name}``, as MXNet's ``name.Prefix``: a block's
    ``F.Activation(x, name='fwd')`` becomes ``dense0_fwd``, unique per block."""
    token = _SCOPE.set((prefix, {}))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _auto_name(hint: str) -> str:
    prefix, counters = _SCOPE.get()
    n = counters.get(hint, 0)
    counters[hint] = n + 1
    return f"{prefix}{hint}{n}"


class Symbol(OperatorMixin):
    """One or more outputs of graph nodes (``F = sym`` in ``hybrid_forward``)."""

    __slots__ = ("_origin", "_outputs")

    def __init__(self, outputs: list[tuple[Node, int]]):
        self._outputs = outputs
        self._origin = None  # set by frontend.track(): the block argument this derives from

    # --- what the op layer needs ---------------------------------------------------
    def ident(self):
        node, idx = self._single()
        return (id(node), idx)

    def _single(self) -> tuple[Node, int]:
        if len(self._outputs) != 1:
            raise MXNetError(f"this operation needs a single-output symbol, not a group of "
                             f"{len(self._outputs)}")
        return self._outputs[0]

    # --- shape-specialized properties ----------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...] | None:
        node, i = self._single()
        return node.shapes[i]

    @property
    def dtype(self) -> np.dtype | None:
        """A numpy dtype, as NDArray's (so ``x.dtype == np.float32`` means the same)."""
        node, i = self._single()
        return None if node.dtypes[i] is None else np.dtype(node.dtypes[i])

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def size(self) -> int | None:
        if self.shape is None:
            return None
        n = 1
        for d in self.shape:
            n *= d
        return n

    # --- what NDArray code in hybrid_forward also asks of a value -------------------------
    @property
    def context(self) -> Context:
        return cpu(0)

    ctx = context

    def as_in_context(self, ctx: Any) -> Symbol:
        return self

    def wait_to_read(self) -> None:
        """Nothing to wait for: kept so the same hybrid_forward runs in both modes."""

    def detach(self) -> Symbol:
        """The same value with no gradient flowing back (``BlockGrad``), as NDArray.detach."""
        return self._invoke("BlockGrad", [self], {})

    def __len__(self) -> int:
        if len(self._outputs) > 1:
            return len(self._outputs)
        if self.shape is None:
            raise TypeError("len() of a symbol whose shape is unknown (give its variables shapes)")
        return self.shape[0]

    @property
    def name(self) -> str:
        return self._single()[0].name

    def __iter__(self):
        """A group's outputs; a single symbol's rows (``x[0]``, ``x[1]``, ...), as NDArray's."""
        if len(self._outputs) > 1:
            return iter(self._split())
        return super().__iter__()

    def _split(self) -> list[Symbol]:
        return [Symbol([o]) for o in self._outputs]

    def __getitem__(self, index) -> Symbol:
        """A group's output by position or name; a single symbol is sliced like an NDArray
        (``x[0]``, ``x[1:3, ::2]``, ``x[..., -1]``, ``x[None]``), not asked for an output."""
        if isinstance(index, str):
            names = self.list_outputs()
            if index not in names:
                raise ValueError(f"no output named {index!r}; outputs are {names}")
            index = names.index(index)
            return Symbol([self._outputs[index]])
        if len(self._outputs) > 1:
            return Symbol([self._outputs[index]])
        return super().__getitem__(index)

    def __setitem__(self, key, value) -> None:
        """``x[key] = value`` while tracing: x now names a new node, ``_slice_assign`` of
        its old value (other symbols computed from the old x keep the old value)."""
        from ..ops.indexing import assigned
        new = assigned(self, key, value)
        self._outputs, self._origin = new._outputs, new._origin

    def __repr__(self) -> str:
        if len(self._outputs) > 1:
            return f"<Symbol group [{', '.join(n.name for n, _ in self._outputs)}]>"
        node, i = self._outputs[0]
        return f"<Symbol {node.name} : {fmt_type(node.shapes[i], node.dtypes[i] or '?')}>"

    # --- graph queries --------------------------------------------------------------
    def topo_nodes(self) -> list[Node]:
        return topo_order(n for n, _ in self._outputs)

    def list_arguments(self) -> list[str]:
        """The variables that are not auxiliary states."""
        aux = self._aux_ids()
        return [n.name for n in self.topo_nodes() if n.is_variable and id(n) not in aux]

    def list_inputs(self) -> list[str]:
        """Every variable: arguments and auxiliary states."""
        return [n.name for n in self.topo_nodes() if n.is_variable]

    def list_auxiliary_states(self) -> list[str]:
        """The variables ops hold state in (BatchNorm's moving mean and variance:
        ``Op.aux_inputs``), as MXNet lists them apart from the arguments."""
        aux = self._aux_ids()
        return [n.name for n in self.topo_nodes() if id(n) in aux]

    def _aux_ids(self) -> set[int]:
        found: set[int] = set()
        for n in self.topo_nodes():
            if n.op is not None and n.op.aux_inputs:
                names = n.op.input_names(n.op.full_attrs(n.attrs))
                found |= {id(src) for (src, _), name in zip(n.inputs, names)
                          if name in n.op.aux_inputs and src.is_variable}
        return found

    def list_outputs(self) -> list[str]:
        out = []
        for node, i in self._outputs:
            if node.is_variable:
                out.append(node.name)
            else:
                suffix = "output" if node.op.n_visible(node.attrs) == 1 else f"output{i}"
                out.append(f"{node.name}_{suffix}")
        return out

    def get_internals(self) -> Symbol:
        outs = []
        for n in self.topo_nodes():
            count = 1 if n.is_variable else n.op.n_visible(n.attrs)
            outs.extend((n, i) for i in range(count))
        return Symbol(outs)

    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes), as MXNet returns them."""
        from .interpreter import infer_graph
        shapes, _ = infer_graph(self, _named(self, args, kwargs), {})
        aux = self._aux_ids()
        return ([shapes[(id(n), 0)] for n in self.topo_nodes() if n.is_variable and id(n) not in aux],
                [shapes[(id(n), i)] for n, i in self._outputs],
                [shapes[(id(n), 0)] for n in self.topo_nodes() if id(n) in aux])

    def infer_type(self, *args, **kwargs):
        from .interpreter import infer_graph
        given = {k: normalize_dtype(v) for k, v in _named(self, args, kwargs).items()}
        _, dtypes = infer_graph(self, {}, given, need_shapes=False)
        aux = self._aux_ids()
        return ([dtypes[(id(n), 0)] for n in self.topo_nodes() if n.is_variable and id(n) not in aux],
                [dtypes[(id(n), i)] for n, i in self._outputs],
                [dtypes[(id(n), 0)] for n in self.topo_nodes() if id(n) in aux])

    def eval(self, ctx: Any = None, **kwargs) -> list:
        """Evaluate with the numpy interpreter: ``sym.eval(x=nd.array(...))``."""
        from .interpreter import Plan
        return Plan(self).run_nd(kwargs)

    def debug_str(self) -> str:
        """The graph, one typed line per node (see :mod:`minigluon.symbol.printer`)."""
        from .printer import format_graph
        return format_graph(self)

    def tojson(self) -> str:
        from .graph_json import to_json
        return to_json(self)

    def save(self, fname: str) -> None:
        with open(fname, "w") as f:
            f.write(self.tojson())


def _named(symbol: Symbol, args: tuple, kwargs: dict) -> dict:
    if args:
        names = symbol.list_arguments()
        kwargs = {**dict(zip(names, args)), **kwargs}
    return {k: v for k, v in kwargs.items() if v is not None}


def topo_order(heads: Iterable[Node]) -> list[Node]:
    """Nodes reachable from heads, inputs before users."""
    return postorder(heads, lambda node: [src for src, _ in node.inputs])


def invoke(op: Op, inputs: list, attrs: dict, name: str | None) -> Symbol:
    """Add one node to the graph, inferring its shape when its inputs' shapes are known."""
    for x in inputs:
        if len(x._outputs) != 1:
            raise MXNetError(f"{op.name}: an input is a group of {len(x._outputs)} outputs")
    refs = [x._outputs[0] for x in inputs]
    in_shapes = [n.shapes[i] for n, i in refs]
    in_dtypes = [n.dtypes[i] for n, i in refs]
    if all(s is not None for s in in_shapes) and all(d is not None for d in in_dtypes):
        try:
            shapes, dtypes = op.infer(attrs, in_shapes, in_dtypes)
        except (MXNetError, ValueError, TypeError) as e:
            raise op_error(op, inputs, e) from e
    else:
        shapes, dtypes = [None] * op.n_outputs(attrs), [None] * op.n_outputs(attrs)
    node = Node(op, _SCOPE.get()[0] + name if name else _auto_name(op.name_hint), attrs, refs,
                shapes, dtypes)
    out = Symbol([(node, i) for i in range(op.n_visible(attrs))])
    track(inputs, [out])
    return out


def is_tensor(x: Any) -> bool:
    return isinstance(x, Symbol)


_DTYPE_CODES = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5,
                "int64": 6, "bool": 7}


def var(name: str, attr: dict | None = None, shape: tuple | None = None, dtype: Any = None,
        **kwargs) -> Symbol:
    """A graph input.  With ``shape``/``dtype`` it is shape-specialized like a traced input."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"variable name must be a non-empty string, got {name!r}")
    var_attrs = {k: str(v) for k, v in (attr or {}).items()}
    shape = None if shape is None else tuple(int(d) for d in shape)
    dt = None if dtype is None else normalize_dtype(dtype)
    if shape is not None:
        var_attrs["__shape__"] = str(shape)
    if dt is not None:
        var_attrs["__dtype__"] = str(_DTYPE_CODES[dt])
    node = Node(None, name, {}, [], [shape], [dt or (DEFAULT_DTYPE if shape is not None else None)],
                var_attrs)
    return Symbol([(node, 0)])


Variable = var


def Group(symbols: list[Symbol]) -> Symbol:
    return Symbol([o for s in symbols for o in s._outputs])


# a traced value has no data: converting it to Python names the line and suggests F.where
_NO_VALUE = {"__bool__": "bool() (an `if`, `while`, `and`/`or` or `not` on it)",
             "__float__": "float()", "__int__": "int()", "__index__": "using it as an index",
             "__array__": "numpy conversion (np.asarray / a numpy function)",
             "asnumpy": ".asnumpy()", "asscalar": ".asscalar()", "item": ".item()",
             "tolist": ".tolist()"}


def _refuse(what: str):
    def method(self, *args, **kwargs):
        from ..ops.frontend import tracing_error
        raise tracing_error(self, what)
    return method


for _name, _what in _NO_VALUE.items():
    setattr(Symbol, _name, _refuse(_what))

Symbol._backend = staticmethod(invoke)
Symbol._namespace = __package__
_creators = make_creators(invoke)
zeros, ones, full, eye, empty, arange = (
    _creators[k] for k in ("zeros", "ones", "full", "eye", "empty", "arange"))
_public_ops, _internal = populate(invoke, is_tensor)
