"""SymbolBlock: a block made from a graph (``SymbolBlock.imports`` of an exported model).

Its ``hybrid_forward`` walks the graph once per call, applying each node's registry op
through ``F``: with ``F = nd`` that runs the graph eagerly (and records it for autograd),
with ``F = sym`` it re-traces the graph with shape-specialized inputs, which a hybridized
SymbolBlock caches as a CachedOp per input signature, like any other HybridBlock.  The variables that are not
inputs are the block's parameters.
"""
from __future__ import annotations

import warnings
from typing import Any

from .. import ndarray as nd
from .. import symbol as sym
from ..base import MXNetError, reworded
from ..ndarray.ndarray import invoke as nd_invoke
from ..symbol import Symbol
from ..symbol.symbol import invoke as sym_invoke
from ..symbol.symbol import topo_order
from .block import HybridBlock
from .parameter import Parameter


class SymbolBlock(HybridBlock):
    """``SymbolBlock(outputs, inputs, params=None)``: run the graph ``outputs`` on ``inputs``
    (variables); every other variable of the graph is a Parameter (from ``params`` if given).
    An input the graph does not read is accepted, with a warning, as in MXNet: an exported
    block that ignores an input has no variable for it."""

    _watch_attributes = False  # its graph is fixed: nothing to guard

    def __init__(self, outputs: Symbol | list, inputs: Symbol | list, params: Any = None):
        super().__init__(prefix="")
        outputs = sym.Group(outputs) if isinstance(outputs, (list, tuple)) else outputs
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._graph = outputs
        args = outputs.list_inputs()
        names = []
        for x in inputs:
            if not isinstance(x, Symbol) or len(x._outputs) != 1 or not x._outputs[0][0].is_variable:
                raise TypeError(f"SymbolBlock: inputs must be variables (sym.var), got {x!r}")
            names.append(x.name)
        if len(set(names)) != len(names):
            raise ValueError(f"SymbolBlock: input names repeat: {names}")
        unread = [n for n in names if n not in args]
        if unread:
            warnings.warn(f"SymbolBlock: the graph does not read input(s) {unread} (its "
                          f"variables: {args}); they are accepted and ignored", stacklevel=2)
        self._sig = (names, len(names), None)
        given = params if params is not None else {}
        for name in args:
            if name in names:
                continue
            p = given[name] if name in given else None
            node = next(n for n in outputs.topo_nodes() if n.is_variable and n.name == name)
            self._reg_params[name] = p if p is not None else Parameter(
                name, shape=node.shapes[0], dtype=node.dtypes[0] or "float32")
        self._nodes = topo_order(n for n, _ in outputs._outputs)

    @staticmethod
    def imports(symbol_file: str, input_names: str | list, param_file: str | None = None,
                ctx: Any = None, allow_missing: bool = False,
                ignore_extra: bool = False) -> SymbolBlock:
        """Load ``symbol_file`` (MXNet graph JSON) and, if given, its ``.params`` file."""
        graph = sym.load(symbol_file)
        names = [input_names] if isinstance(input_names, str) else list(input_names)
        args = graph.list_inputs()
        unread = [n for n in names if n not in args]
        # a name the graph lacks is most often a misspelt input: say so if anything fails
        hint = (f"; the graph has no input {unread[0]!r} (its variables: {args})"
                if unread else "")
        block = SymbolBlock(graph, [sym.var(n) for n in names])
        if param_file is not None:
            try:
                block.collect_params().load(param_file, ctx, allow_missing, ignore_extra)
            except ValueError as e:
                again = reworded(e, f"{e}{hint}") if unread else None
                if again is None:
                    raise
                raise again from e
        elif block._reg_params and not allow_missing:
            raise ValueError(f"{symbol_file}: variables {sorted(block._reg_params)} are "
                             f"neither inputs (given: {names}) nor loaded: pass them as "
                             f"inputs, or a param_file holding them{hint}")
        return block

    def hybrid_forward(self, F, *args, **params):
        env = dict(zip(self._signature[0], args)) | params
        invoke = nd_invoke if F is nd else sym_invoke
        values: dict[int, list] = {}
        for node in self._nodes:
            if node.is_variable:
                values[id(node)] = [env[node.name]]
                continue
            ins = [values[id(src)][i] for src, i in node.inputs]
            try:
                out = invoke(node.op, ins, dict(node.attrs), node.name)
            except (MXNetError, ValueError, TypeError) as e:
                again = reworded(e, f"node {node.name!r} ({node.op.name}): {e}")
                if again is None:
                    raise
                raise again from e
            values[id(node)] = out._split() if isinstance(out, Symbol) else (
                list(out) if isinstance(out, list) else [out])
        outs = [values[id(n)][i] for n, i in self._graph._outputs]
        return outs[0] if len(outs) == 1 else outs
