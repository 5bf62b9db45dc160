"""Reverse-mode automatic differentiation for NDArrays, MXNet style.

Inside ``with autograd.record():`` every op whose inputs include an array with
``attach_grad()`` (or computed from one) is recorded on a tape.  ``y.backward()`` walks
the tape backwards; each op's gradient is defined once, in the registry, with F-API ops
(``Op.grad``), so the same definition can later be traced into a graph.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

from . import ndarray as nd
from . import symbol as sym
from .base import MXNetError, postorder
from .ops import random as _random_ops
from .ops.gradients import unbroadcast  # public here, as before; defined beside its users
from .symbol.symbol import Node, Symbol, topo_order

_STATE = threading.local()
# id -> variable whose .grad backward() wrote since Trainer.step last used it (MXNet's
# _fresh_grad); NDArray has __slots__, and a weak map forgets variables nobody holds
_FRESH: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def is_recording() -> bool:
    return getattr(_STATE, "recording", False)


def is_training() -> bool:
    return getattr(_STATE, "training", False)


_random_ops.set_training_probe(is_training)  # Dropout asks at run time, eager or compiled


@contextmanager
def _scope(recording: bool, training: bool):
    prev = (is_recording(), is_training())
    _STATE.recording, _STATE.training = recording, training
    try:
        yield
    finally:
        _STATE.recording, _STATE.training = prev


def record(train_mode: bool = True):
    """Record ops for ``backward()`` inside this block."""
    return _scope(True, train_mode)


def pause(train_mode: bool = False):
    """Stop recording inside this block (e.g. for metrics)."""
    return _scope(False, train_mode)


def train_mode():
    """Training behaviour (Dropout drops) inside this block; recording stays as it is."""
    return _scope(is_recording(), True)


def predict_mode():
    """Inference behaviour (Dropout is the identity) inside this block; recording stays as
    it is."""
    return _scope(is_recording(), False)


def set_recording(is_recording: bool) -> bool:
    """Turn recording on or off outside any scope; returns the previous state."""
    prev = getattr(_STATE, "recording", False)
    _STATE.recording = bool(is_recording)
    return prev


def set_training(train_mode: bool) -> bool:
    """Turn training mode on or off outside any scope; returns the previous state."""
    prev = is_training()
    _STATE.training = bool(train_mode)
    return prev


class TapeNode:
    """One recorded op: what ran, on what, producing what.

    The op is a registry ``Op`` or any object with a ``name``, ``full_attrs(attrs)`` and
    ``grad(F, attrs, inputs, outputs, output_grads)`` (a hybridized block's CachedOp).  An
    op whose gradients are arrays nothing else holds declares ``grad_is_fresh = True``, so
    ``.grad`` takes them without a copy; one whose gradient cannot be recorded raises from
    ``grad`` while recording (``create_graph=True``).  What it keeps for its gradient
    belongs in ``attrs``, which backward drops when it frees the node.
    """

    __slots__ = ("attrs", "inputs", "op", "outputs", "freed")

    def __init__(self, op, attrs, inputs, outputs):
        self.op, self.attrs, self.inputs, self.outputs = op, attrs, inputs, outputs
        self.freed = False


def needs_grad(x) -> bool:
    return x._ag is not None


def _snapshot(x):
    """The value x has now, as the tape keeps it: an in-place update (``y += 1`` or
    ``y[0] = 2`` while recording) gives x a new value and a new tape entry, never changes
    this one.  Variables stay themselves: backward writes their ``.grad``."""
    if x._ag == "leaf":
        return x
    snap = type(x)(x._data)
    snap._ag = x._ag
    return snap


def _key(x):
    """Gradients are summed per value: a tape entry (node, output), or a variable."""
    return x._ag if isinstance(x._ag, tuple) else id(x)


def record_op(op, attrs: dict, inputs: list, outputs: list) -> None:
    """Called by ``nd`` for every op run while recording."""
    if not any(needs_grad(x) for x in inputs):
        return
    node = TapeNode(op, attrs, [_snapshot(x) for x in inputs], [])
    for k, out in enumerate(outputs):
        out._ag = (node, k)
    node.outputs = [_snapshot(out) for out in outputs]


def _topo(heads: list) -> list[TapeNode]:
    """Tape nodes reachable from heads, each after the nodes that produced its inputs."""
    def producers(node):
        return [x._ag[0] for x in node.inputs if isinstance(x._ag, tuple)]
    return postorder([h._ag[0] for h in heads if isinstance(h._ag, tuple)], producers)


def _run_backward(heads: list, head_grads: list, retain_graph: bool,
                  create_graph: bool = False) -> dict:
    """Gradient of sum(head * head_grad) for every array reached: key -> (array, grad).
    With create_graph the gradient ops are themselves recorded, to be differentiated again."""
    grads: dict[int, list] = {}
    for h, g in zip(heads, head_grads):
        if h._ag is None:
            raise ValueError(f"cannot differentiate: this {h.dtype}{list(h.shape)} array was not "
                             f"computed from an array with attach_grad() inside autograd.record()")
        _accumulate(grads, h, _head_grad(h, g))
    with _scope(create_graph, is_training()):
        for node in reversed(_topo(heads)):
            if node.freed:
                raise RuntimeError("backward() through a graph that was already freed; pass "
                                   "retain_graph=True to the first backward() to go twice")
            for x in node.inputs:
                # a variable the heads depend on gets a gradient even where none flows
                # (ones_like(y) reads only y's shape): zeros, as MXNet writes
                if x._ag == "leaf":
                    grads.setdefault(_key(x), (x, None, False))
            ograds = [grads.get(_key(o), (o, None, False))[1] for o in node.outputs]
            if all(g is None for g in ograds):
                continue
            # a compiled gradient reads each buffer as the output's type: an ograd that some
            # op's gradient rule returned in another dtype is converted, never reinterpreted
            ograds = [nd.zeros(o.shape, dtype=o.dtype) if g is None else _as_dtype_of(g, o)
                      for o, g in zip(node.outputs, ograds)]
            if node.op.grad is None:
                raise RuntimeError(f"operator {node.op.name} has no gradient")
            in_grads = node.op.grad(nd, node.op.full_attrs(node.attrs), node.inputs,
                                    node.outputs, ograds)
            fresh = getattr(node.op, "grad_is_fresh", False)
            for x, g in zip(node.inputs, in_grads):
                if g is not None and needs_grad(x):
                    _accumulate(grads, x, g, fresh)
            if not retain_graph:
                # what the op kept for its gradient (a CachedOp's forward values) goes
                # with the graph
                node.freed, node.attrs = True, None
    return grads


def _head_grad(head, g):
    """The head gradient as the head's own type: MXNet converts another dtype (float64,
    uint8, int32 for a float32 head) to the head's; another shape is refused."""
    if g is None:
        return nd.ones(head.shape, dtype=head.dtype)
    if not isinstance(g, nd.NDArray):
        raise TypeError(f"head gradient must be an NDArray, got {type(g).__name__}")
    if tuple(g.shape) != tuple(head.shape):
        raise ValueError(f"head gradient shape {tuple(g.shape)} differs from the head's "
                         f"{tuple(head.shape)}")
    return _as_dtype_of(g, head)


def _as_dtype_of(g, like):
    """g converted to like's dtype (a copy), or g itself when the dtypes already match."""
    return g if g._data.dtype == like._data.dtype else type(g)(g._data.astype(like._data.dtype))


def _accumulate(grads: dict, x, g, fresh: bool = False) -> None:
    """grads[key] = (x, sum so far, whether that sum is an array nobody else holds)."""
    k = _key(x)
    if k in grads and grads[k][1] is not None:
        grads[k] = (x, grads[k][1] + g, True)
    else:
        grads[k] = (x, g, fresh)


def backward(heads, head_grads=None, retain_graph: bool = False, train_mode: bool = True) -> None:
    """Write d sum(heads) / d x into ``x.grad`` for every x with ``attach_grad()``."""
    heads = heads if isinstance(heads, (list, tuple)) else [heads]
    if head_grads is None:
        head_grads = [None] * len(heads)
    elif not isinstance(head_grads, (list, tuple)):
        head_grads = [head_grads]
    grads = _run_backward(list(heads), list(head_grads), retain_graph)
    taken: set[int] = set()  # a fresh array goes to one .grad only; others get copies
    for x, g, fresh in grads.values():
        if x._ag != "leaf":
            continue
        if g is None:
            g, fresh = nd.zeros(x.shape, dtype=x.dtype), True
        fresh = fresh and id(g._data) not in taken
        x._write_grad(g, fresh)
        if fresh:
            taken.add(id(g._data))
        _FRESH[id(x)] = x


def grad_is_fresh(x) -> bool:
    """Whether backward() wrote x.grad since :func:`mark_stale` (Trainer.step) last ran."""
    return _FRESH.get(id(x)) is x


def mark_stale(x) -> None:
    _FRESH.pop(id(x), None)


def grad(heads, variables, head_grads=None, retain_graph: bool = False,
         create_graph: bool = False, train_mode: bool = True) -> list:
    """The gradients of heads with respect to variables, returned (``.grad`` untouched).
    ``create_graph=True`` records them, so they can be differentiated again."""
    single = not isinstance(variables, (list, tuple))
    variables = [variables] if single else list(variables)
    heads = heads if isinstance(heads, (list, tuple)) else [heads]
    hg = head_grads if isinstance(head_grads, (list, tuple)) else [head_grads] * len(heads)
    grads = _run_backward(list(heads), list(hg), retain_graph or create_graph, create_graph)
    out, taken = [], set()
    with _scope(create_graph, is_training()):
        for v in variables:
            _, g, fresh = grads.get(_key(v), (v, None, False))
            if g is None:
                g = nd.zeros(v.shape, dtype=v.dtype)
            elif not fresh or id(g._data) in taken:
                g = g.copy()  # never hand back a head gradient or another result's array
            taken.add(id(g._data))
            out.append(g)
    return out[0] if single else out


def get_symbol(x) -> Symbol:
    """The recorded computation that produced x, as a Symbol (MXNet's ``get_symbol``).

    Each recorded registry op becomes a node ``node_<k>`` with its attributes; an array no
    recorded op produced becomes a variable, ``var<k>`` if it has ``attach_grad()``, else
    ``null<k>`` (MXNet's names, numbered per call).  Variables carry their shape and dtype,
    so ``sym.eval(**{name: array})`` recomputes x.  A hybridized call is expanded by its
    CachedOp (``op.recorded_outputs``): inlined, or one ``_CachedOp`` node.  Raises
    MXNetError (as MXNet) for an array not computed under ``record()``, and once
    backward() has freed its graph.
    """
    if not isinstance(x, nd.NDArray):
        raise TypeError(f"get_symbol takes an NDArray, got {type(x).__name__}")
    if x._ag is None:
        raise MXNetError(f"get_symbol: this {x._data.dtype.name}{list(x.shape)} array is not "
                         f"part of a recorded computation: compute it inside "
                         f"autograd.record() from an array with attach_grad()")
    names = {"var": 0, "node": 0}
    variables: dict = {}

    def variable(a) -> tuple[Node, int]:
        # a variable is itself on every node that reads it; another array is a snapshot
        # sharing its memory, so its numpy buffer identifies it
        k = id(a) if a._ag == "leaf" else ("data", id(a._data))
        if k not in variables:
            label = "var" if a._ag == "leaf" else "null"
            # no __shape__/__dtype__ attrs: MXNet's JSON has none; the Node still knows them
            variables[k] = Node(None, f"{label}{names['var']}", {}, [], [tuple(a.shape)],
                                [a._data.dtype.name])
            names["var"] += 1
        return variables[k], 0

    def make(op, attrs: dict, refs: list, shapes: list, dtypes: list) -> Node:
        node = Node(op, f"node_{names['node']}", dict(attrs), refs, list(shapes), list(dtypes))
        names["node"] += 1
        return node

    if x._ag == "leaf":
        return Symbol([variable(x)])
    made: dict[int, list] = {}
    for node in _topo([x]):
        if node.freed or node.attrs is None:
            raise MXNetError("get_symbol after backward() freed the recorded graph; call it "
                             "before backward(), or pass retain_graph=True to backward()")
        refs = [made[id(a._ag[0])][a._ag[1]] if isinstance(a._ag, tuple) else variable(a)
                for a in node.inputs]
        expand = getattr(node.op, "recorded_outputs", None)
        if expand is not None:  # a hybridized call: its CachedOp knows its graph
            made[id(node)] = expand(refs, make)
        else:
            shapes = [tuple(o.shape) for o in node.outputs]
            dtypes = [o._data.dtype.name for o in node.outputs]
            new = make(node.op, node.attrs, refs, shapes, dtypes)
            made[id(node)] = [(new, i) for i in range(len(node.outputs))]
    return Symbol([made[id(x._ag[0])][x._ag[1]]])


__all__ = ["record", "pause", "train_mode", "predict_mode", "set_recording", "set_training",
           "is_recording", "is_training", "backward", "grad", "unbroadcast", "get_symbol"]


def symbolic_grad(outputs: list, wrt: list, head_grads: list) -> list:
    """Gradient symbols of sum(outputs * head_grads) with respect to the variables wrt.

    The same per-op gradients as eager backward, called with ``F = sym``: the result is a
    graph that the compiler fuses and compiles like any other.
    """
    grads: dict = {}

    def add(key, g):
        grads[key] = g if key not in grads else grads[key] + g

    for out, hg in zip(outputs, head_grads):
        add(out._outputs[0], hg)
    heads = [o._outputs[0][0] for o in outputs]
    for node in reversed(topo_order(heads)):
        if node.is_variable or not node.inputs:  # constants (_zeros, _eye) have no inputs
            continue
        n_out = node.num_outputs
        ogs = [grads.get((node, i)) for i in range(n_out)]
        if all(g is None for g in ogs):
            continue
        outs = [Symbol([(node, i)]) for i in range(n_out)]
        ogs = [sym.zeros_like(o) if g is None else g for o, g in zip(outs, ogs)]
        if node.op.grad is None:
            raise RuntimeError(f"operator {node.op.name} has no gradient")
        ins = [Symbol([ref]) for ref in node.inputs]
        for ref, g in zip(node.inputs, node.op.grad(sym, node.op.full_attrs(node.attrs), ins,
                                                     outs, ogs)):
            if g is not None:
                add(ref, g)
    return [grads.get(v._outputs[0]) for v in wrt]

