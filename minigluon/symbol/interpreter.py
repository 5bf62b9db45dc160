"""Run a symbol graph with the registry's numpy kernels, and infer its shapes."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..base import MXNetError, ShapeError, fmt_type, reworded
from ..ops.registry import _parse_int_tuple, unshared
from .symbol import _DTYPE_CODES, Node, Symbol, trace_order

_CODE_DTYPES = {str(v): k for k, v in _DTYPE_CODES.items()}


def variable_type(node: Node, shapes: dict, dtypes: dict) -> tuple[Any, Any]:
    """A variable's shape and dtype: given by the caller, else declared on the variable."""
    shape = shapes.get(node.name, node.shapes[0])
    if shape is None and "__shape__" in node.var_attrs:
        shape = _parse_int_tuple(node.var_attrs["__shape__"])
    dtype = dtypes.get(node.name, node.dtypes[0])
    if dtype is None and "__dtype__" in node.var_attrs:
        dtype = _CODE_DTYPES.get(node.var_attrs["__dtype__"])
    return (None if shape is None else tuple(shape)), dtype or "float32"


def infer_graph(symbol: Symbol, shapes: dict, dtypes: dict,
                need_shapes: bool = True) -> tuple[dict, dict]:
    """Shapes and dtypes of every node output, keyed by (id(node), output index).
    With ``need_shapes=False`` only dtypes must be known; unknown shapes stay None."""
    out_shapes: dict = {}
    out_dtypes: dict = {}
    guessed: set = set()  # undeclared variables: float32 until an op ties them to a dtype
    for node in symbol.topo_nodes():
        if node.is_variable:
            shape, dtype = variable_type(node, shapes, dtypes)
            if shape is None and need_shapes:
                raise ShapeError(f"cannot infer shapes: variable {node.name!r} has no shape "
                                 f"(pass {node.name}=(...))")
            out_shapes[(id(node), 0)], out_dtypes[(id(node), 0)] = shape, dtype
            if node.name not in dtypes and node.dtypes[0] is None and "__dtype__" not in node.var_attrs:
                guessed.add((id(node), 0))
            continue
        ins = [(id(n), i) for n, i in node.inputs]
        in_shapes = [out_shapes[k] for k in ins]
        if guessed.intersection(ins):
            tied = node.op.tie_dtypes(node.attrs, [None if k in guessed else out_dtypes[k]
                                                   for k in ins])
            for k, d in zip(ins, tied):
                if k in guessed and d is not None:
                    out_dtypes[k] = d
                    guessed.discard(k)
        in_dtypes = [out_dtypes[k] for k in ins]
        try:
            if any(s is None for s in in_shapes):
                s = [None] * node.num_outputs
                d = node.op.infer_dtype(node.attrs, in_dtypes)
            else:
                s, d = node.op.infer(node.attrs, in_shapes, in_dtypes)
        except (MXNetError, ValueError, TypeError) as e:
            args = ", ".join(fmt_type(out_shapes[k], out_dtypes[k]) for k in ins)
            new = reworded(e, f"node {node.name!r} ({node.op.name}({args})): {e}")
            if new is None:
                raise
            raise new from e
        for i in range(node.num_outputs):
            out_shapes[(id(node), i)], out_dtypes[(id(node), i)] = s[i], d[i]
    return out_shapes, out_dtypes


def infer_variable_shapes(symbol: Symbol, known: dict[str, tuple]) -> dict[str, tuple | None]:
    """Every variable's shape: those in ``known`` or declared on the variable, and those
    an op that reads them deduces (``Op.fill_shapes``) from the shapes around it, passes
    repeated until nothing changes.  A shape with a 0 counts as unknown.  Unknown ones
    stay None."""
    def usable(s):
        return None if s is None or any(d <= 0 for d in s) else tuple(s)

    nodes = symbol.topo_nodes()
    var_shape = {n.name: usable(known.get(n.name, n.shapes[0])) for n in nodes if n.is_variable}
    changed = True
    while changed:
        changed = False
        shapes: dict = {}
        for node in nodes:
            if node.is_variable:
                shapes[(id(node), 0)] = var_shape[node.name]
                continue
            ins = [shapes[(id(n), i)] for n, i in node.inputs]
            attrs = node.op.full_attrs(node.attrs)
            if any(s is None for s in ins) and node.op.fill_shapes is not None:
                filled = node.op.fill_shapes(attrs, list(ins))
                for (src, _), old, new in zip(node.inputs, ins, filled):
                    new = usable(new)
                    if old is None and new is not None and src.is_variable:
                        var_shape[src.name] = new
                        changed = True
                ins = [usable(f) if s is None else s for s, f in zip(ins, filled)]
            outs = (node.op.shape(attrs, ins) if all(s is not None for s in ins)
                    else [None] * node.num_outputs)
            for i, s in enumerate(outs):
                shapes[(id(node), i)] = None if s is None else tuple(int(d) for d in s)
    return var_shape


class Plan:
    """A graph flattened to a list of kernel calls over numbered value slots."""

    def __init__(self, symbol: Symbol):
        self.symbol = symbol
        nodes = trace_order(symbol.topo_nodes())
        slot: dict = {}
        self.input_names: list[str] = []
        self.input_slots: list[int] = []
        self.steps: list[tuple] = []
        for node in nodes:
            if node.is_variable:
                if node.name in self.input_names:
                    raise MXNetError(f"two different variables are both named {node.name!r}")
                self.input_names.append(node.name)
                self.input_slots.append(len(slot))
                slot[(id(node), 0)] = len(slot)
                continue
            ins = [slot[(id(n), i)] for n, i in node.inputs]
            outs = []
            for i in range(node.num_outputs):
                slot[(id(node), i)] = len(slot)
                outs.append(slot[(id(node), i)])
            self.steps.append((node, node.op.full_attrs(node.attrs), ins, outs))
        self.num_slots = len(slot)
        self.outputs = [slot[(id(n), i)] for n, i in symbol._outputs]
        self._checked: set = set()

    def check(self, arrays: dict[str, np.ndarray]) -> None:
        """Shape-check the whole graph once per input signature, before any kernel runs."""
        sig = tuple((k, arrays[k].shape, arrays[k].dtype.name) for k in self.input_names)
        if sig in self._checked:
            return
        infer_graph(self.symbol, {k: a.shape for k, a in arrays.items()},
                    {k: a.dtype.name for k, a in arrays.items()})
        self._checked.add(sig)

    def run(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        missing = [n for n in self.input_names if n not in arrays]
        if missing:
            raise MXNetError(f"graph inputs not given: {missing} (inputs are {self.input_names})")
        self.check(arrays)
        values: list[Any] = [None] * self.num_slots
        for j, name in zip(self.input_slots, self.input_names):
            values[j] = arrays[name]
        with np.errstate(all="ignore"):  # inf/NaN are values here, as in MXNet, not warnings
            for node, attrs, ins, outs in self.steps:
                try:
                    res = node.op.compute(attrs, *[values[j] for j in ins])
                except (MXNetError, ValueError, TypeError) as e:
                    new = reworded(e, f"node {node.name!r} ({node.op.name}): {e}")
                    if new is None:
                        raise
                    raise new from e
                if not isinstance(res, (tuple, list)):
                    res = (res,)
                for j, r in zip(outs, res):
                    values[j] = r
        # kernels may pass an input through or view it (Reshape, BlockGrad, transpose):
        # only the graph's outputs need memory of their own
        return unshared([np.asarray(values[j]) for j in self.outputs],
                        [values[j] for j in self.input_slots])

    def run_nd(self, feed: dict) -> list:
        from ..ndarray import NDArray
        arrays = {k: (v._data if isinstance(v, NDArray) else np.asarray(v)) for k, v in feed.items()}
        return [NDArray(o) for o in self.run(arrays)]
