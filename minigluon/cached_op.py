"""CachedOp: a traced graph run as one op, as MXNet's ``CachedOp``.

A hybridized block's call is one CachedOp call.  The CachedOp owns the traced graph and
its input names, the runner of its forward (the graph compiled to native kernels, or the
numpy interpreter where the compiler cannot, announced once), and its gradient: for each
set of inputs that want one, the forward/backward split (which forward values the
backward keeps) and the compiled gradient graph.  Runners are built on first use.

Under ``autograd.record()`` a call records one tape node whose op is the CachedOp itself,
with a ``grad(F, attrs, inputs, outputs, ograds)`` like any registry op, so autograd
needs no case of its own for it.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import autograd, jit
from . import symbol as sym
from .base import CompileError, ForkSafeLock, MXNetError, ShapeError, fmt_type
from .compiler import remat
from .ndarray import NDArray
from .ops.frontend import user_stacklevel
from .ops.registry import OPS, Op
from .symbol import Symbol
from .symbol.interpreter import Plan
from .symbol.symbol import Node


class _Gradient(NamedTuple):
    """How a recorded call with gradients for some inputs runs."""
    # the visible outputs, then the forward values the backward keeps; None: the op's own
    # forward, when all it keeps are outputs (not the op itself: that would be a cycle)
    forward: CachedOp | None
    backward: CachedOp  # (read inputs, kept values, a head gradient per output) -> gradients
    kept_from: list[int]  # the forward output each kept value is


class CachedOp:
    """``CachedOp(graph, input_names, owner)``: graph as one op taking an array per name.

    ``op(inputs)`` takes a list of NDArrays, one per input name, of the shapes and dtypes
    the graph was traced with (the caller guarantees them: it looked the graph up by
    them), and returns the graph's outputs as a list of new NDArrays.  Inputs the graph
    does not read are accepted and ignored (an input used only for its shape).  ``owner``
    names the block in warnings and errors.
    """

    # backward returns arrays no one else holds: .grad may take them without a copy
    grad_is_fresh = True

    def __init__(self, graph: Symbol, input_names: list[str], owner: str,
                 inline_limit: int = 2):
        self.graph = graph
        self.input_names = input_names
        self.owner = owner
        # autograd.get_symbol shows a graph of at most this many ops inlined (MXNet's)
        self.inline_limit = inline_limit
        self.name = f"hybridized {owner}"
        read = set(graph.list_inputs())
        # positions of the inputs the graph reads: those are compiled, and go on the tape
        self.reads = [k for k, n in enumerate(input_names) if n in read]
        self._run = None  # numpy arrays -> numpy arrays; built by the first call
        self.exe = None  # the compiled executable, once built (None: interpreted)
        self._gradients: dict[tuple[bool, ...], _Gradient | None] = {}
        self._lock = ForkSafeLock()
        self._op: Op | None = None  # as_op(), built on first use
        self._plan: Plan | None = None
        # a graph with an op that runs otherwise in training mode (BatchNorm) or writes
        # some of its inputs (an aux state) runs, per mode, the form stateful_form gives:
        # a CachedOp of its own, built on first use
        self._stateful = any(n.op.training is not None or n.op.update is not None
                             for n in graph.topo_nodes() if not n.is_variable)
        self._forms: dict[bool, tuple[CachedOp | None, list[int]]] = {}

    def __repr__(self) -> str:
        return f"CachedOp({self.owner}, inputs={self.input_names})"

    def call(self, inputs: list[NDArray]) -> list[NDArray]:
        """The outputs for these inputs; recorded when autograd is recording and an input
        wants a gradient."""
        if self._stateful:
            form, targets = self._form(autograd.is_training())
            if form is not None:
                return self._call_stateful(form, targets, inputs)
        if autograd.is_recording() and any(x._ag is not None for x in inputs):
            return self._call_recorded(inputs)
        run = self._run or self._build_runner()  # not self.run: this is the hot path
        return [NDArray(o) for o in run([x._data for x in inputs])]

    __call__ = call  # op(inputs), as MXNet's; a hot caller saves time with op.call(inputs)

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs for one numpy array per input name (unrecorded)."""
        run = self._run or self._build_runner()
        return run(arrays)

    def _form(self, training: bool) -> tuple[CachedOp | None, list[int]]:
        """The CachedOp this graph runs as in this mode, and the input each of its extra
        outputs is written into; (None, []) where that is this graph unchanged."""
        if training not in self._forms:
            with self._lock:
                if training not in self._forms:
                    graph, targets, same = stateful_form(self.graph, training)
                    form = None if same else CachedOp(graph, self.input_names, self.owner,
                                                      self.inline_limit)
                    if form is not None:
                        form._stateful = False  # its ops are already this mode's
                    self._forms[training] = (form, [self.input_names.index(t) for t in targets])
        return self._forms[training]

    def _call_stateful(self, form: CachedOp, targets: list[int],
                       inputs: list[NDArray]) -> list[NDArray]:
        """The form's outputs; the new values of the inputs it updates, its extra outputs,
        are written into those inputs (the Parameters' arrays), as MXNet's BatchNorm
        updates its moving statistics in place."""
        outs = form.call(inputs)
        n = len(self.graph._outputs)
        for k, new in zip(targets, outs[n:]):
            dst = inputs[k]
            if dst._data.flags.writeable:
                np.copyto(dst._data, new._data)
            else:
                dst._data = new._data.copy()
        return outs[:n]

    def full_attrs(self, attrs: dict) -> dict:
        return attrs

    def grad(self, F, attrs: dict, ins: list, outs: list, ograds: list) -> list:
        """Gradients of the inputs on the tape (those the graph reads): the compiled
        gradient graph run on them, the forward values kept in attrs, and ograds.  Refused
        while recording (``create_graph=True``): native kernels are not recorded ops."""
        if autograd.is_recording():
            raise NotImplementedError(
                f"create_graph=True through the {self.name}: its compiled gradient is not "
                f"recorded; call the block without hybridize() to differentiate twice")
        wrt = attrs["wrt"]
        arrays = [x._data for x in ins] + attrs["kept"] + [g._data for g in ograds]
        results = iter(self._gradients[wrt].backward.run(arrays))
        return [F.NDArray(next(results)) if need else None for need in wrt]

    def recorded_outputs(self, refs: list, make: Callable[..., Any]) -> list:
        """This call as autograd.get_symbol shows it, given a node ref per input on the
        tape (the inputs the graph reads) and ``make(op, attrs, refs, shapes, dtypes)``
        that adds a node: the graph's ops inlined when there are at most ``inline_limit``
        of them, else one ``_CachedOp`` node, as MXNet records.  Returns a ref per output."""
        ops = [n for n in self.graph.topo_nodes() if not n.is_variable]
        outputs = self.graph._outputs
        if len(ops) > self.inline_limit:
            node = make(self.as_op(), {}, refs, [n.shapes[i] for n, i in outputs],
                        [n.dtypes[i] for n, i in outputs])
            return [(node, i) for i in range(len(outputs))]
        by_name = dict(zip((self.input_names[k] for k in self.reads), refs))
        done: dict = {}
        for n in self.graph.topo_nodes():
            if n.is_variable:
                done[id(n)] = [by_name[n.name]]
            else:
                new = make(n.op, n.attrs, [done[id(src)][i] for src, i in n.inputs],
                           n.shapes, n.dtypes)
                done[id(n)] = [(new, i) for i in range(n.num_outputs)]
        return [done[id(n)][i] for n, i in outputs]

    def as_op(self) -> Op:
        """This CachedOp as a graph operator named ``_CachedOp`` (as MXNet writes it into
        graph JSON), taking the inputs the graph reads.  Not in the registry: its rules are
        this graph's, so JSON naming it cannot be loaded ("unknown operator '_CachedOp'");
        in memory it evaluates by interpreting the graph, and has no gradient or lowering."""
        if self._op is None:
            graph, names = self.graph, [self.input_names[k] for k in self.reads]
            variables = {n.name: n for n in graph.topo_nodes() if n.is_variable}
            outputs = graph._outputs

            def shape(attrs, in_shapes):
                for name, s in zip(names, in_shapes):
                    if tuple(s) != tuple(variables[name].shapes[0]):
                        raise ShapeError(f"_CachedOp of {self.owner}: input {name} has shape "
                                         f"{tuple(s)}, the graph was traced with "
                                         f"{variables[name].shapes[0]}")
                return [n.shapes[i] for n, i in outputs]

            def compute(attrs, *arrays):
                if self._plan is None:
                    self._plan = Plan(graph)
                return self._plan.run(dict(zip(names, arrays)))

            self._op = Op("_CachedOp", tuple(names), shape, compute,
                          dtype=lambda attrs, dts: [n.dtypes[i] for n, i in outputs],
                          num_outputs=len(outputs), hint="_cachedop")
        return self._op

    def gradient(self, wrt: tuple[bool, ...]) -> _Gradient | None:
        """The forward/backward split for gradients of the inputs the graph reads for
        which wrt is True (one flag per read input); None when wrt has none."""
        if wrt not in self._gradients:
            with self._lock:
                if wrt not in self._gradients:
                    self._gradients[wrt] = self._split(wrt) if any(wrt) else None
        return self._gradients[wrt]

    def _call_recorded(self, inputs: list[NDArray]) -> list[NDArray]:
        read = [inputs[k] for k in self.reads]
        wrt = tuple(x._ag is not None for x in read)
        split = self.gradient(wrt)
        if split is None:  # the graph reads no input that wants a gradient
            return [NDArray(o) for o in self.run([x._data for x in inputs])]
        arrays = (split.forward or self).run([x._data for x in inputs])
        outs = [NDArray(o) for o in arrays[:len(self.graph._outputs)]]
        autograd.record_op(self, {"wrt": wrt, "kept": [arrays[k] for k in split.kept_from]},
                           read, outs)
        return outs

    def _split(self, wrt: tuple[bool, ...]) -> _Gradient:
        """The gradient graph of wrt's inputs, given a head gradient per output, and the
        forward values it reads rather than recomputes (remat chooses)."""
        graph = self.graph
        by_name = {n.name: n for n in graph.topo_nodes() if n.is_variable}
        inputs = [sym.Symbol([(by_name[self.input_names[k]], 0)]) for k in self.reads]
        outputs = graph._split()
        heads = [sym.var(f"head_grad{k}", shape=o.shape, dtype=o.dtype)
                 for k, o in enumerate(outputs)]
        targets = [x for x, need in zip(inputs, wrt) if need]
        grads = autograd.symbolic_grad(outputs, targets, heads)
        grads = [sym.zeros_like(x) if g is None else g for x, g in zip(targets, grads)]
        kept = remat.choose_saved(graph._outputs, grads)
        grads, kept_vars = remat.substitute(grads, kept)
        produced = [(id(n), i) for n, i in graph._outputs]
        extras = [r for r in kept if (id(r[0]), r[1]) not in produced]
        produced += [(id(n), i) for n, i in extras]
        forward = None if not extras else CachedOp(
            sym.Group(outputs + [sym.Symbol([r]) for r in extras]), self.input_names,
            self.owner)
        backward = CachedOp(sym.Group(grads), [x.name for x in inputs + kept_vars + heads],
                            f"{self.owner}.backward")
        return _Gradient(forward, backward, [produced.index((id(n), i)) for n, i in kept])

    def _build_runner(self):
        with self._lock:
            if self._run is None:
                self._run = self._make_runner()
        return self._run

    def _make_runner(self):
        """The graph compiled, else run by the numpy interpreter.  Wherever the
        interpreter runs any of it, a RuntimeWarning says so once per block and graph,
        naming the block, the op and why; MINIGLUON_JIT_STRICT=1 makes that an error."""
        if not jit.enabled():
            return self._interpreter()
        # a graph made by autograd.get_symbol may hold a _CachedOp node: its kernel is
        # another graph, which the compiler (it knows registry ops only) cannot inline
        foreign = sorted({n.op.name for n in self.graph.topo_nodes()
                          if not n.is_variable and n.op.name not in OPS})
        if foreign:
            if os.environ.get("MINIGLUON_JIT_STRICT"):
                raise CompileError(f"{self.owner} cannot be compiled: it holds "
                                   f"{', '.join(foreign)}, not a registry op")
            self._announce(f"runs on the numpy interpreter, not compiled: "
                           f"{', '.join(foreign)} (a recorded hybridized call) is not a "
                           f"registry op")
            return self._interpreter()
        # the compiler's code generator loads llvmlite: only when a graph first compiles
        from .compiler.pipeline import compile_graph
        names = [self.input_names[k] for k in self.reads]
        strict = os.environ.get("MINIGLUON_JIT_STRICT")
        try:
            exe = compile_graph(self.graph, names, jit.count)
        except Exception as e:  # a compiler failure must not fail a computation numpy can do
            jit.count("compile_failures")
            if strict:
                raise
            why = str(e) if isinstance(e, CompileError) else (
                f"the compiler failed ({type(e).__name__}), a bug in minigluon: "
                f"MINIGLUON_JIT_STRICT=1 raises it with its traceback")
            self._announce(f"runs on the numpy interpreter, not compiled: {why}")
            return self._interpreter()
        if exe.interpreted:
            ops = "; ".join(dict.fromkeys(f"{s.op} ({s.why})"
                                          for s in exe.schedule.interpreted_steps))
            if strict:
                raise CompileError(f"{self.owner} would run partly on the numpy interpreter: "
                                   f"{ops}")
            self._announce(f"runs partly on the numpy interpreter: {ops}")
        self.exe = exe
        counter = "interpreted_calls" if exe.interpreted else "compiled_calls"
        count, run = jit.count, exe.run_trusted
        if len(names) == len(self.input_names):
            def run_compiled(arrays):
                count(counter)
                return run(arrays)
        else:
            picks = self.reads

            def run_compiled(arrays):
                count(counter)
                return run([arrays[k] for k in picks])
        return run_compiled

    def _interpreter(self):
        plan, names = Plan(self.graph), self.input_names

        def interpret(arrays):
            jit.count("interpreted_calls")
            return plan.run(dict(zip(names, arrays)))
        return interpret

    def _announce(self, what: str) -> None:
        """One RuntimeWarning per block and graph, at the user's line that called it."""
        from .compiler.pipeline import canonical_text  # loaded by the compile that failed
        names = [self.input_names[k] for k in self.reads]
        key = (self.owner, hash(canonical_text(self.graph, names)))
        if key in _ANNOUNCED:
            return
        _ANNOUNCED.add(key)
        sig = {n.name: fmt_type(n.shapes[0], n.dtypes[0])
               for n in self.graph.topo_nodes() if n.is_variable}
        warnings.warn(f"minigluon: {self.owner}({', '.join(sig[n] for n in names)}) {what}",
                      RuntimeWarning, stacklevel=user_stacklevel())


def stateful_form(graph: Symbol, training: bool) -> tuple[Symbol, list[str], bool]:
    """graph as it runs in this mode of autograd: in training mode each op with a training
    form swapped for it (``Op.training``: BatchNorm -> _BatchNorm_train); the new values of
    the inputs the ops update (``Op.update``: aux states) appended as outputs.  Returns
    that graph, per appended output the variable it is the new value of, and whether the
    graph is the one given (nothing swapped or appended).  A swapped-in op with a
    ``compose`` rule enters as that composition of registry ops, so that values it shares
    with the update rule (BatchNorm's batch mean and variance) are computed once."""
    done: dict[int, list] = {}  # a ref per output of each node of graph, in the new graph
    updates, targets = [], []
    swapped = False
    for n in graph.topo_nodes():
        if n.is_variable:
            done[id(n)] = [(n, 0)]
            continue
        op = n.op
        if training and op.training is not None:
            op = OPS[op.training(op.full_attrs(n.attrs)) or op.name]
            swapped |= op is not n.op
        ins = [done[id(src)][i] for src, i in n.inputs]
        full = op.full_attrs(n.attrs)
        if op is not n.op and op.compose is not None:  # registry ops the compiler fuses
            done[id(n)] = [o._outputs[0] for o in op.compose(sym, full, [Symbol([r]) for r in ins])]
        else:
            new = Node(op, n.name, n.attrs, ins, n.shapes, n.dtypes)
            done[id(n)] = [(new, i) for i in range(len(n.shapes))]
        if op.update is None:
            continue
        names = op.input_names(full)
        values = op.update(sym, full, [Symbol([ref]) for ref in ins])
        for name, value in values:
            src = ins[names.index(name)][0]
            if not src.is_variable:
                raise MXNetError(f"{n.name} ({op.name}): its {name} is an auxiliary state "
                                 f"and must be a variable (a Parameter), not the output of "
                                 f"{src.name}")
            updates.append(value._outputs[0])
            targets.append(src.name)
    outs = Symbol([done[id(n)][i] for n, i in graph._outputs] + updates)
    return outs, targets, not (swapped or updates)


_ANNOUNCED: set = set()  # (block, hash of the graph's text) pairs already announced
