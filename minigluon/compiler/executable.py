"""Running a compiled schedule: allocate buffers, call kernels (split across threads when
the work is large), run external steps.

Kernels receive each buffer's address as an integer.  Reading it through numpy's
``ctypes`` attribute costs about 1.5 µs per array, more than the whole kernel at small
sizes, so when this CPython/numpy lays ndarrays out as checked below the kernel is given
the array object's address and reads the data pointer itself.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from ..base import ForkSafeLock
from ..ops import get_op
from .errors import CompileError
from .schedule import Schedule

PARALLEL_MIN_WORK = 1 << 17  # elements touched; below this a thread costs more than it saves
CHUNKS_PER_THREAD = 1  # one contiguous range per thread streams memory best (measured)


def _data_offset() -> int | None:
    """Byte offset of the data pointer inside an ndarray object, if it is where C expects."""
    probe = np.arange(4.0)
    for off in (16,):
        if ctypes.c_void_p.from_address(id(probe) + off).value == probe.ctypes.data:
            return off
    return None


DATA_OFFSET = _data_offset()


def buffer_arg(a: np.ndarray) -> int:
    return id(a) if DATA_OFFSET is not None else a.ctypes.data


def _extent(shape: tuple) -> int:
    """The outermost loop's extent of a kernel writing shape: a 0-d value is one element,
    as codegen emits it."""
    return shape[0] if shape else 1


def num_threads() -> int:
    env = os.environ.get("MINIGLUON_NUM_THREADS")
    return max(1, int(env)) if env and env.isdigit() else (os.cpu_count() or 1)


_POOL = None
_POOL_LOCK = ForkSafeLock()


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's worker threads: start new ones on first use."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def pool():
    """The process's native thread pool (see parallel.py), started on first use."""
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                from .parallel import Pool
                _POOL = Pool(num_threads())
    return _POOL


class Executable:
    """A compiled graph: ``run(list of input arrays) -> list of output arrays``."""

    def __init__(self, sched: Schedule, library, functions: dict):
        self.schedule = sched
        self.library = library  # keeps the machine code alive
        self.in_types = [(sched.buffers[s][0], np.dtype(sched.buffers[s][1])) for s in sched.inputs]
        self.threads = num_threads()
        self.plan = []
        for step in sched.steps:
            if step.kind == "kernel":
                fn = functions[step.name]
                chunks = None
                if self.threads > 1 and step.work >= PARALLEL_MIN_WORK and step.parallel >= 2:
                    # (task address, extent, chunk size)
                    chunks = (library.address(step.name + "_task"), step.parallel,
                              max(1, -(-step.parallel // (CHUNKS_PER_THREAD * self.threads))))
                if step.op and get_op(step.op).validate is not None:  # hand-written kernel
                    op = get_op(step.op)
                    attrs = op.full_attrs(op.parse_attrs(step.attrs))
                    self.plan.append(("validate", (op.validate, attrs), step.reads, [], None))
                self.plan.append(("kernel", fn, step.reads + step.writes, step.writes, chunks))
            elif step.kind == "alias":
                self.plan.append(("alias", None, step.reads, step.writes, None))
            else:
                op = get_op(step.op)
                attrs = op.full_attrs(op.parse_attrs(step.attrs))
                self.plan.append(("external", (op, attrs), step.reads, step.writes, None))
        self.interpreted = sched.interpreted
        self.outputs = sched.outputs
        self.num_slots = len(sched.buffers)
        self.alloc = [(s, sched.buffers[s]) for st in sched.steps if st.kind != "alias"
                      for s in st.writes]
        # the common case, one kernel and nothing else, gets a path without loops
        only = self.plan[0] if len(self.plan) == 1 and self.plan[0][0] == "kernel" else None
        self.single = None
        self.copied, self.checked = _output_copies(sched)
        if only is not None and only[4] is None and len(self.outputs) == 1 and \
                only[3] == self.outputs:  # its one new buffer is the output: nothing to copy
            shape, dtype = sched.buffers[self.outputs[0]]
            self.single = (only[1], [sched.inputs.index(s) if s in sched.inputs else None
                                     for s in only[2][:-1]], shape, np.dtype(dtype))

    def check(self, arrays: list) -> list:
        if len(arrays) != len(self.in_types):
            raise CompileError(f"compiled graph takes {len(self.in_types)} inputs, got {len(arrays)}")
        out = []
        for k, (a, (shape, dtype)) in enumerate(zip(arrays, self.in_types)):
            if a.shape != shape or a.dtype != dtype:
                raise ValueError(f"input {k}: expected {dtype.name}{list(shape)}, got "
                                 f"{a.dtype.name}{list(a.shape)}")
            out.append(a)
        return out

    def run(self, arrays: list) -> list:
        """Run on arrays of the compiled shapes and dtypes (checked)."""
        return self.run_trusted(self.check(arrays))

    def run_trusted(self, arrays: list) -> list:
        """Run on arrays the caller guarantees have the compiled shapes and dtypes."""
        arrays = [np.ascontiguousarray(a) for a in arrays]  # kept alive for the kernels
        if self.single is not None:
            fn, picks, shape, dtype = self.single
            out = np.empty(shape, dtype)
            fn(0, _extent(shape), *[buffer_arg(arrays[p]) for p in picks], buffer_arg(out))
            return [out]
        buf: list = [None] * self.num_slots
        for s, a in zip(self.schedule.inputs, arrays):
            buf[s] = a
        for s, (shape, dtype) in self.alloc:
            if buf[s] is None:
                buf[s] = np.empty(shape, dtype)
        for kind, what, reads, writes, chunks in self.plan:
            if kind == "kernel":
                args = [buffer_arg(buf[s]) for s in reads]
                if chunks is None:
                    what(0, _extent(self.schedule.buffers[writes[0]][0]), *args)
                else:
                    task, extent, chunk = chunks
                    argv = np.array(args, dtype=np.int64)  # alive until the job is done
                    pool().run(task, argv.ctypes.data, extent, chunk)
            elif kind == "alias":
                buf[writes[0]] = buf[reads[0]].reshape(self.schedule.buffers[writes[0]][0])
            elif kind == "validate":
                check, attrs = what
                check(attrs, *[buf[s] for s in reads])
            else:
                op, attrs = what
                with np.errstate(all="ignore"):
                    res = op.compute(attrs, *[buf[s] for s in reads])
                res = res if isinstance(res, (tuple, list)) else (res,)
                for s, r in zip(writes, res):
                    buf[s] = np.ascontiguousarray(r, dtype=self.schedule.buffers[s][1])
        outs = [buf[s] for s in self.outputs]
        for k in self.copied:
            outs[k] = outs[k].copy()
        for k in self.checked:
            o = outs[k]
            others = [*arrays, *outs[:k], *outs[k + 1:]]
            if o.base is not None or any(o is a for a in others):
                if any(np.may_share_memory(o, a) for a in others):
                    outs[k] = o.copy()
        return outs


def _output_copies(sched: Schedule) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Which outputs run_trusted copies so that none shares memory with an input or with
    another output: (always: a chain of reshapes reaches an input or an earlier output's
    buffer, or the same buffer is returned twice; checked per run: a numpy step's result,
    which may be a view of what it read).  Outputs in buffers of their own cost nothing."""
    owner = {s: s for s in sched.inputs}  # slot -> the buffer whose memory it is
    numpy_made: set = set()  # slots an external step wrote, or reshapes of one
    for st in sched.steps:
        for w in st.writes:
            if st.kind == "alias":
                owner[w] = owner[st.reads[0]]
                if st.reads[0] in numpy_made:
                    numpy_made.add(w)
            else:
                owner[w] = w
                if st.kind == "external":
                    numpy_made.add(w)
    copied, checked, held = [], [], set(sched.inputs)
    for k, s in enumerate(sched.outputs):
        if s in numpy_made:
            checked.append(k)  # against everything else, after the others are final
        elif owner[s] in held:
            copied.append(k)
        else:
            held.add(owner[s])
    return tuple(copied), tuple(checked)
