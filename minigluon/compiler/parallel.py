"""A small native thread pool for splitting a kernel's outer loop across cores.

Waking a sleeping Python worker (a thread pool future) takes a few hundred microseconds
on some machines: more than a whole 4096x1000 loss.  So the workers here live in native
code.  Each one enters ``mg_worker`` once, through ctypes (which releases the GIL), and
from then on waits for jobs by spinning briefly, then sleeping in growing steps.  The
caller never waits for a sleeping worker: it claims chunks of the loop itself, and the
workers claim the chunks they reach in time.

A job is published in a control block of int64 words:

    0 claim   generation << 40 | chunks << 20 | next chunk    (one compare-and-swap claims)
    1 done    chunks finished
    2 task    address of the kernel's ``void task(i64 start, i64 end, i64* buffers)``
    3 args    address of the buffer-argument array
    4 extent  the outer loop's extent;   5 chunk: its chunk size;   6 stop

Because the chunk count and the generation share the claim word with the index, a worker
that wakes up late can never claim a chunk of a job other than the one it read.
"""
from __future__ import annotations

import atexit
import ctypes
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

I64, I32 = ir.IntType(64), ir.IntType(32)
FIELD_BITS = 20  # chunks per job and chunk index fit in 20 bits each
MAX_CHUNKS = (1 << FIELD_BITS) - 1


def _slot(b: ir.IRBuilder, cb, k: int):
    return b.gep(cb, [ir.Constant(I64, k)], inbounds=True)


def _pause(b: ir.IRBuilder) -> None:
    if llvm.get_process_triple().startswith(("x86_64", "i686")):
        fn = b.module.declare_intrinsic("llvm.x86.sse2.pause", [], ir.FunctionType(ir.VoidType(), []))
        b.call(fn, [])


def _work(module: ir.Module) -> ir.Function:
    """``i64 mg_work(i64* cb)``: claim and run chunks of the current job; returns how many."""
    fn = ir.Function(module, ir.FunctionType(I64, [I64.as_pointer()]), "mg_work")
    fn.linkage = "internal"
    cb = fn.args[0]
    entry, head, claim, run, out = (fn.append_basic_block(n) for n in
                                    ("entry", "head", "claim", "run", "out"))
    b = ir.IRBuilder(entry)
    b.branch(head)
    b.position_at_end(head)
    count = b.phi(I64)
    count.add_incoming(ir.Constant(I64, 0), entry)
    word = b.load_atomic(_slot(b, cb, 0), "acquire", 8)
    mask = ir.Constant(I64, MAX_CHUNKS)
    index = b.and_(word, mask)
    chunks = b.and_(b.lshr(word, ir.Constant(I64, FIELD_BITS)), mask)
    b.cbranch(b.icmp_unsigned("<", index, chunks), claim, out)
    b.position_at_end(claim)
    pair = b.cmpxchg(_slot(b, cb, 0), word, b.add(word, ir.Constant(I64, 1)), "acq_rel", "acquire")
    # lost the race: look again (the count is unchanged on this edge)
    b.cbranch(b.extract_value(pair, 1), run, head)
    count.add_incoming(count, claim)
    b.position_at_end(run)
    task = b.inttoptr(b.load(_slot(b, cb, 2)), ir.FunctionType(
        ir.VoidType(), [I64, I64, I64.as_pointer()]).as_pointer())
    args = b.inttoptr(b.load(_slot(b, cb, 3)), I64.as_pointer())
    extent, size = b.load(_slot(b, cb, 4)), b.load(_slot(b, cb, 5))
    lo = b.mul(index, size)
    hi = b.add(lo, size)
    hi = b.select(b.icmp_signed(">", hi, extent), extent, hi)
    b.call(task, [lo, hi, args])
    b.atomic_rmw("add", _slot(b, cb, 1), ir.Constant(I64, 1), "release")
    count.add_incoming(b.add(count, ir.Constant(I64, 1)), run)
    b.branch(head)
    b.position_at_end(out)
    b.ret(count)
    return fn


def build_runtime() -> str:
    module = ir.Module("minigluon_parallel")
    work = _work(module)
    usleep = ir.Function(module, ir.FunctionType(I32, [I32]), "usleep")
    cbp = I64.as_pointer()

    # void mg_worker(i64* cb): serve jobs until stop is set
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [cbp]), "mg_worker")
    cb = fn.args[0]
    entry, head, busy, idle, done = (fn.append_basic_block(n) for n in
                                     ("entry", "head", "busy", "idle", "done"))
    b = ir.IRBuilder(entry)
    b.branch(head)
    b.position_at_end(head)
    spins = b.phi(I64)
    spins.add_incoming(ir.Constant(I64, 0), entry)
    stop = b.load_atomic(_slot(b, cb, 6), "acquire", 8)
    b.cbranch(b.icmp_unsigned("!=", stop, ir.Constant(I64, 0)), done, busy)
    b.position_at_end(busy)
    got = b.call(work, [cb])
    spins.add_incoming(ir.Constant(I64, 0), busy)
    b.cbranch(b.icmp_unsigned(">", got, ir.Constant(I64, 0)), head, idle)
    b.position_at_end(idle)
    n = b.add(spins, ir.Constant(I64, 1))
    _pause(b)
    # spin a little after a job, then sleep 50 µs at a time, then (after ~0.1 s) 2 ms
    long_idle = b.icmp_unsigned(">", n, ir.Constant(I64, 4096 + 2000))
    micro = b.select(long_idle, ir.Constant(I32, 2000), ir.Constant(I32, 50))
    with b.if_then(b.icmp_unsigned(">=", n, ir.Constant(I64, 4096))):
        b.call(usleep, [micro])
    spins.add_incoming(n, b.block)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    # void mg_run(i64* cb, i64 task, i64 args, i64 extent, i64 chunk): post, help, wait
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [cbp, I64, I64, I64, I64]), "mg_run")
    cb, task, args, extent, chunk = fn.args
    entry, wait, spin, finish = (fn.append_basic_block(n) for n in ("entry", "wait", "spin", "fin"))
    b = ir.IRBuilder(entry)
    chunks = b.sdiv(b.add(extent, b.sub(chunk, ir.Constant(I64, 1))), chunk)
    for k, v in ((2, task), (3, args), (4, extent), (5, chunk)):
        b.store(v, _slot(b, cb, k))
    b.store_atomic(ir.Constant(I64, 0), _slot(b, cb, 1), "release", 8)
    old = b.load_atomic(_slot(b, cb, 0), "acquire", 8)
    gen = b.add(b.lshr(old, ir.Constant(I64, 2 * FIELD_BITS)), ir.Constant(I64, 1))
    word = b.or_(b.shl(gen, ir.Constant(I64, 2 * FIELD_BITS)),
                 b.shl(chunks, ir.Constant(I64, FIELD_BITS)))
    b.store_atomic(word, _slot(b, cb, 0), "release", 8)
    b.call(work, [cb])
    b.branch(wait)
    b.position_at_end(wait)
    finished = b.load_atomic(_slot(b, cb, 1), "acquire", 8)
    b.cbranch(b.icmp_signed("<", finished, chunks), spin, finish)
    b.position_at_end(spin)
    _pause(b)
    b.branch(wait)
    b.position_at_end(finish)
    b.ret_void()
    return str(module)


def runtime_key(text: str) -> str:
    """The disk-cache key of the runtime built from text."""
    from . import link
    return link.cache_key("parallel runtime\n" + text)


class Pool:
    """Native workers serving one control block; ``run`` splits a task's range over them."""

    def __init__(self, threads: int):
        from . import link
        text = build_runtime()
        key = runtime_key(text)
        cached = link.load_cached(key)  # only an entry signed with this user's secret
        if cached is None:
            obj, _ = link.compile_object(text)
            link.store_cached(key, obj, {})
        else:
            obj = cached[0]
        self.library = link.Library(obj)
        self.cb = np.zeros(8, dtype=np.int64)
        self.cb_addr = self.cb.ctypes.data
        self._run = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 5))(self.library.address("mg_run"))
        worker = ctypes.CFUNCTYPE(None, ctypes.c_int64)(self.library.address("mg_worker"))
        self._worker = worker
        self.lock = threading.Lock()  # one job at a time per control block
        self.threads = [threading.Thread(target=worker, args=(self.cb_addr,), daemon=True,
                                         name=f"minigluon-{i}") for i in range(threads - 1)]
        for t in self.threads:
            t.start()
        atexit.register(self.close)

    def run(self, task_addr: int, args_addr: int, extent: int, chunk: int) -> None:
        chunk = max(chunk, -(-extent // MAX_CHUNKS))
        with self.lock:
            self._run(self.cb_addr, task_addr, args_addr, extent, chunk)

    def close(self) -> None:
        self.cb[6] = 1
        for t in self.threads:
            t.join(timeout=1.0)
