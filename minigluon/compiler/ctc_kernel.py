"""A hand-written LLVM kernel for ``CTCLoss``: the loss (alpha recursion) and, when it is
used, its gradient (beta recursion), in log space.

The loop IR describes one element per output index, which does not fit CTC's dynamic
programme over time, so the op is marked ``extern_kernel`` and ``compiler/extern.py`` maps
it to this emitter (the op's ``validate``, ``ops.ctc_reference.validate_ctc``, checks the
input values before the kernel runs).  For
each sample ``n`` of ``[start, end)`` the kernel

* reads the label length (``label_lengths`` or the first padding value) and the data
  length ``T_n`` (``data_lengths`` or T); the extended label sequence is
  ``l' = (blank, l_1, blank, ..., l_len, blank)``, ``S_n = 2 len + 1``, and a skip
  ``s-2 -> s`` is allowed onto a real label different from ``l'_{s-2}``;
* computes, for blocks of ``TB`` frames at once, the stable log-softmax of each
  ``data[t, n, :]`` (max, then log of the sum of exp(x - max)); or, in the compiler's
  form of CTCLoss (the ``ctc`` pass, ``ctc_rewrite.py``: the internal op
  ``_ctc_loss_lse``), is given that log-sum-exp ``lse[t, n]`` by a fused row reduction and
  takes ``log y_t(c) = data[t, n, c] - lse[t, n]``, reading only the classes it uses,
  with data in TNC or NTC layout (the gradient is (T, N, C) either way);
* runs ``alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [skip] alpha_{t-1}(s-2))
  + log y_t(l'_s)`` for ``t < T_n`` starting from a virtual state log 1 at s = 0, with
  alpha split into a blank row (even s: two terms) and a label row (odd s: three terms),
  double-buffered on the stack; both cell loops are vectorized;
* writes ``-logaddexp(alpha(S_n-1), alpha(S_n-2))``: +inf when no alignment exists, NaN
  when ``data[t, n, :]`` holds a NaN (or +inf) for some ``t < T_n``, for that sample only.

When the schedule passes a second output (the op's d loss / d data, shape (T, N, C): the
graph reads it, as a hybridized backward does), the kernel also writes ``grad[:, n, :]``:
alpha is then kept for every frame (on the heap, see ``emit_ctc_kernel``), beta runs
backward from ``T_n - 1`` (``beta_t(s)`` excludes the emission at t, as the reference's),
and ``grad[t, n, c] = y_t(c) - sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - log p)`` for
``t < T_n``, 0 for later frames; 0 on every frame when no alignment exists (loss +inf),
NaN on the frames ``t < T_n`` when the loss is NaN.

This is ``ctc_loss`` of ``minigluon.ops.ctc_reference`` (MXNet 1.9.1 semantics), computed in
float64 also for float32 data, as the reference does.  logaddexp is
``max + log1p(exp(-|a-b|))``, the three-term one ``max + log1p(exp(mid-max) + exp(lo-max))``,
both returning the max itself when it is not finite (never inf - inf).

Values are never trusted for addressing, whatever validation let through (nor are the
log-sum-exps: any value only changes results): ``start``/``end``
are clamped to [0, N], lengths to [0, T] / [0, L] and every label to [0, C-1]
(``minnum``/``maxnum`` before ``fptosi``, so NaN and huge floats are never converted), so
the kernel reads only inside its inputs, its stack arrays and its heap block, and writes
only ``loss[start:end]`` and ``grad[:, start:end, :]``.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from . import mathlib

__all__ = ["emit_ctc_kernel", "emit_ctc_lse_kernel", "MAX_STACK_BYTES",
           "MAX_HEAP_BYTES"]

I64 = ir.IntType(64)
I8 = ir.IntType(8)
F64 = ir.DoubleType()
FLOATS = {"float32": ir.FloatType(), "float64": F64}
INTS = {"int64": (64, True), "int32": (32, True), "int8": (8, True), "uint8": (8, False),
        "bool": (8, False)}
# alpha rows, labels and skip flags live on the stack: keep them far below the smallest
# thread stack we run on (longer labels fall back to the interpreter)
MAX_STACK_BYTES = 1 << 20
# the gradient's heap block (alpha for every frame); a compile-time bound well clear of
# any size overflow, the real limit is what malloc gives at run time
MAX_HEAP_BYTES = 1 << 36
FM = ("contract",)  # FMA fusion only: no flag assumes away NaN or inf
# The dtype the recursion runs in, per data dtype.  float32 data in float64 keeps the loss
# within ~1e-7 of the float64 reference; float32 arithmetic would be ~1.4x faster here.
COMPUTE = {"float32": "float64", "float64": "float64"}
# The cell loops: forced vectorization (LLVM's cost model gives up on trip counts <= 8,
# twice as slow for short labels), 256-bit vectors, and two vector iterations side by side
# (each cell is a long exp/log1p chain): 4.5 ms instead of 6.4 at T=100 N=64 C=30 L=20.
WIDTH = {"float64": 4, "float32": 8}
INTERLEAVE = 2
SMALL_LOOP = {"vectorize": False}  # short set-up loops: vector code there only costs compile time
TB = 32  # frames whose log-softmax is computed together, vectorized across the frames
NEG_INF = -math.inf


# ----------------------------------------------------------------------------- helpers

def _c(v: float, ty: ir.Type = F64) -> ir.Constant:
    return ir.Constant(ty, v)


def _i(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _intr(b: ir.IRBuilder, name: str, *args):
    from .codegen import call_intrinsic
    return call_intrinsic(b, name, *args)


def _clamp_i(b: ir.IRBuilder, v, lo: int, hi: int):
    """An i64 clamped to [lo, hi] (hi >= lo)."""
    v = b.select(b.icmp_signed("<", v, _i(lo)), _i(lo), v)
    return b.select(b.icmp_signed(">", v, _i(hi)), _i(hi), v)


def _to_index(b: ir.IRBuilder, raw, dtype: str, lo: int, hi: int):
    """A stored value (any supported dtype) as an i64 in [lo, hi], whatever its value."""
    if dtype in FLOATS:
        ty = FLOATS[dtype]
        # minnum/maxnum return the bound for NaN: fptosi never sees NaN or an overflow
        f = _intr(b, "llvm.maxnum", _intr(b, "llvm.minnum", raw, ir.Constant(ty, float(hi))),
                  ir.Constant(ty, float(lo)))
        # float32 rounds bounds above 2^24: clamp the integer too (free next to the rest)
        return _clamp_i(b, b.fptosi(f, I64), lo, hi)
    return _clamp_i(b, _widen(b, raw, dtype), lo, hi)


def _widen(b: ir.IRBuilder, raw, dtype: str):
    width, signed = INTS[dtype]
    if width == 64:
        return raw
    return b.sext(raw, I64) if signed else b.zext(raw, I64)


def _is_pad(b: ir.IRBuilder, raw, dtype: str, pad: int):
    """label value == pad, compared as numpy compares ``label.astype(float64) == pad``."""
    if dtype in FLOATS:
        return b.fcmp_ordered("==", raw, ir.Constant(FLOATS[dtype], float(pad)))
    return b.icmp_signed("==", _widen(b, raw, dtype), _i(pad))


def _for(b: ir.IRBuilder, lo, hi, name: str, init: list, body, **hints) -> list:
    """``for i in [lo, hi)`` with loop-carried values: ``body(i, values) -> new values``.

    Returns the carried values after the loop (init when it runs zero times).  The builder
    is left positioned after the loop.  ``hints`` become loop metadata for LLVM's
    vectorizer: ``interleave=k`` (``llvm.loop.interleave.count``), ``vectorize=False``.
    """
    fn = b.function
    pre = b.block
    head = fn.append_basic_block(f"{name}.head")
    loop = fn.append_basic_block(f"{name}.body")
    done = fn.append_basic_block(f"{name}.done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(lo, pre)
    phis = []
    for v in init:
        p = b.phi(v.type)
        p.add_incoming(v, pre)
        phis.append(p)
    b.cbranch(b.icmp_signed("<", i, hi), loop, done)
    b.position_at_end(loop)
    new = body(i, phis) or []
    i.add_incoming(b.add(i, _i(1), flags=["nsw"]), b.block)
    for p, v in zip(phis, new):
        p.add_incoming(v, b.block)
    br = b.branch(head)
    if hints:
        _loop_hints(b.module, br, f"{fn.name}.{name}", hints)
    b.position_at_end(done)
    return phis


_HINTS = {"interleave": ("llvm.loop.interleave.count", ir.IntType(32)),
          "vectorize": ("llvm.loop.vectorize.enable", ir.IntType(1)),
          "width": ("llvm.loop.vectorize.width", ir.IntType(32))}


def _loop_hints(module: ir.Module, br, tag: str, hints: dict) -> None:
    """Loop metadata on a loop's back edge.  A loop ID is a node whose first operand is
    itself: made from a node unique to this loop (tag), then pointed at itself."""
    nodes = []
    for key, value in hints.items():
        md_name, ty = _HINTS[key]
        nodes.append(module.add_metadata([ir.MetaDataString(module, md_name),
                                          ir.Constant(ty, int(value))]))
    loop_id = module.add_metadata([ir.MetaDataString(module, tag)])
    loop_id.operands = (loop_id, *nodes)
    br.set_metadata("llvm.loop", loop_id)


def _finite(b: ir.IRBuilder, x):
    return b.fcmp_ordered("<", _intr(b, "llvm.fabs", x), _c(math.inf, x.type))


def _max(b: ir.IRBuilder, x, y):
    return b.select(b.fcmp_ordered(">", x, y), x, y)  # one vmaxpd; NaN is handled apart


def _min(b: ir.IRBuilder, x, y):
    return b.select(b.fcmp_ordered("<", x, y), x, y)


def _logaddexp(b: ir.IRBuilder, x, y):
    """log(e^x + e^y) = m + log1p(exp(-|x - y|)), m = max; m itself when m is not finite
    (both -inf gives -inf, an inf gives inf, a NaN gives NaN: never inf - inf)."""
    m = _max(b, x, y)  # NaN only when y is: then m is returned; a NaN x makes d NaN
    d = b.fneg(_intr(b, "llvm.fabs", b.fsub(x, y, flags=FM)))
    r = b.fadd(m, mathlib.emit_log1p(b, mathlib.emit_exp(b, d)), flags=FM)
    # a NaN x next to y = -inf (or inf) leaves m = y: x must win (an empty label's only
    # state, fed by the -inf slot, would otherwise drop a NaN frame and give +inf)
    return b.select(_finite(b, m), r, b.select(b.fcmp_unordered("uno", x, x), x, m))


def _logaddexp3(b: ir.IRBuilder, x, y, z):
    """log(e^x + e^y + e^z) = m + log1p(exp(mid - m) + exp(lo - m)) with m, mid, lo the
    sorted operands (compare and select, no arithmetic), so one exp fewer than two
    pairwise logaddexps; m itself when m is not finite (all -inf, or an inf), NaN when an
    operand is NaN."""
    mx, mn = _max(b, x, y), _min(b, x, y)
    m = _max(b, mx, z)
    mid = _max(b, mn, _min(b, mx, z))
    lo = _min(b, mn, z)
    s = b.fadd(mathlib.emit_exp(b, b.fsub(mid, m, flags=FM)),
               mathlib.emit_exp(b, b.fsub(lo, m, flags=FM)), flags=FM)
    r = b.fadd(m, mathlib.emit_log1p(b, s), flags=FM)
    r = b.select(_finite(b, m), r, m)
    nan = b.or_(b.fcmp_unordered("uno", x, y), b.fcmp_unordered("uno", z, z))
    return b.select(nan, _c(math.nan, x.type), r)


# ----------------------------------------------------------------------------- the kernel

def emit_ctc_kernel(module: ir.Module, name: str, attrs: dict, inputs: list,
                    outputs: list) -> ir.Function:
    """``CTCLoss``'s kernel (see ``_emit``): the log-softmax computed here, data (T, N, C)."""
    return _emit(module, name, attrs, inputs, outputs, with_lse=False)


def emit_ctc_lse_kernel(module: ir.Module, name: str, attrs: dict, inputs: list,
                        outputs: list) -> ir.Function:
    """``_ctc_loss_lse``'s kernel, the compiler's form of CTCLoss (its ``ctc`` pass,
    ``ctc_rewrite.py``): the inputs are data, lse, label, lengths...; ``lse`` holds each
    frame's log-sum-exp over the classes (computed by a fused row reduction), so
    ``log y_t(c) = data[t, n, c] - lse[t, n]`` and the kernel reads only the classes it
    uses.  ``attrs['layout']`` is 'TNC' (data (T, N, C), lse (T, N)) or 'NTC' (data
    (N, T, C), lse (N, T): the SwapAxis of an NTC CTCLoss is absorbed); the gradient
    output is (T, N, C) either way."""
    return _emit(module, name, attrs, inputs, outputs, with_lse=True)


def _emit(module: ir.Module, name: str, attrs: dict, inputs: list, outputs: list,
          with_lse: bool) -> ir.Function:
    """Add the CTC kernel ``void name(i64 start, i64 end, i64 buf...)`` to module.

    ``inputs``: (shape, dtype) of data (T, N, C), label (N, L), then data_lengths (N,) if
    ``attrs['use_data_lengths']`` and label_lengths (N,) if ``attrs['use_label_lengths']``;
    ``with_lse``: data in the layout ``attrs['layout']``, then its log-sum-exp over the
    classes (data's first two axes), then label and lengths as before;
    ``outputs``: [((N,), dtype)], the loss, or [((N,), dtype), ((T, N, C), dtype)], the
    loss and its gradient with respect to data.  Buffers are passed in that order, inputs
    then outputs; samples ``[start, end)`` are computed: ``loss[n]`` and, with the
    gradient, ``grad[:, n, :]`` (all T frames) for each of them, nothing else.
    """
    from .codegen import kernel_function
    from .errors import CompileError

    use_dl, use_ll = bool(attrs.get("use_data_lengths")), bool(attrs.get("use_label_lengths"))
    layout = attrs["layout"] if with_lse else "TNC"
    if layout not in ("TNC", "NTC"):
        raise CompileError(f"CTCLoss kernel: layout must be 'TNC' or 'NTC', got {layout!r}")
    lse_in = None
    if with_lse:
        if len(inputs) < 2:
            raise CompileError("CTCLoss kernel: expected data and its log-sum-exp")
        lse_in = (tuple(inputs[1][0]), np.dtype(inputs[1][1]).name)
        inputs = [inputs[0]] + list(inputs[2:])
    blank_label = attrs.get("blank_label", "first")
    if blank_label not in ("first", "last"):
        raise CompileError(f"CTCLoss: blank_label must be 'first' or 'last', got {blank_label!r}")
    if len(inputs) != 2 + use_dl + use_ll or len(outputs) not in (1, 2):
        raise CompileError(f"CTCLoss kernel: expected {2 + use_dl + use_ll} inputs and a loss "
                           f"(and gradient) output, got {len(inputs)} and {len(outputs)}")
    (dshape, ddt), (lshape, ldt) = [(tuple(s), np.dtype(d).name) for s, d in inputs[:2]]
    if len(dshape) != 3 or len(lshape) != 2:
        raise CompileError(f"CTCLoss kernel: data must be 3-d and label 2-d, got {dshape}, {lshape}")
    T, N, C = dshape if layout == "TNC" else (dshape[1], dshape[0], dshape[2])
    tnc = (T, N, C)
    if with_lse and (lse_in[0] != dshape[:2] or lse_in[1] not in FLOATS):
        raise CompileError(f"CTCLoss kernel: log-sum-exp {lse_in} does not match data {dshape}")
    L = lshape[1]
    oshape, odt = tuple(outputs[0][0]), np.dtype(outputs[0][1]).name
    if lshape[0] != N or oshape != (N,):
        raise CompileError(f"CTCLoss kernel: label {lshape} / loss {oshape} do not match "
                           f"data {dshape}")
    with_grad = len(outputs) == 2
    gdt = np.dtype(outputs[1][1]).name if with_grad else None
    if with_grad and tuple(outputs[1][0]) != tnc:
        raise CompileError(f"CTCLoss kernel: gradient shape {tuple(outputs[1][0])} is not "
                           f"(T, N, C) = {tnc}")
    extra = [(tuple(s), np.dtype(d).name) for s, d in inputs[2:]]
    for s, d in extra:
        if s != (N,):
            raise CompileError(f"CTCLoss kernel: lengths must have shape ({N},), got {s}")
    if ddt not in FLOATS or odt not in FLOATS or (with_grad and gdt not in FLOATS):
        raise CompileError(f"CTCLoss kernel: data and outputs must be float32 or float64, "
                           f"got {ddt} and {odt}{'' if gdt is None else ', ' + gdt}")
    for d in [ldt] + [d for _, d in extra]:
        if d not in FLOATS and d not in INTS:
            raise CompileError(f"CTCLoss kernel: no code for {d} labels or lengths")
    # alpha is kept as two rows: blanks B[i] = alpha(2i), i <= len, and labels
    # A[j] = alpha(2j+1), j < len, stored at A[j+1] after a -inf slot (A[-1] for i = 0).
    # Loops run to len+1 / len rounded up to VEC: the cells past the end are never read
    # by the ones before (alpha flows to larger s only), and no scalar tail loop runs.
    ct_name = COMPUTE[ddt]
    VEC = WIDTH[ct_name] * INTERLEAVE  # cells per vector iteration
    cell_loop = {"vectorize": True, "width": WIDTH[ct_name], "interleave": INTERLEAVE}
    P = -(-(L + 1) // VEC) * VEC
    R = 2 * P + 1  # one frame's alpha: P blank cells, then the -inf slot and P label cells
    csize = np.dtype(ct_name).itemsize
    # labels and skip flags (P + 1 each), alpha (two rows of R), per-frame max and log-sum
    stack = 9 * (P + 1) + csize * (2 * R + 2 * TB)
    if with_grad:
        # a copy of one frame's alpha (R), beta (2 x 2 rows of P), occupancies (2 rows of
        # P), beta + log y (2 rows of P + 1) and one running sum per class; the heap holds
        # alpha and the max / log-sum of every frame; beta's skip flags (P + 1)
        stack += csize * (R + 8 * P + 2 + C) + P + 1
        heap_items = T * R + 2 * T
        if heap_items * csize > MAX_HEAP_BYTES:
            raise CompileError(f"CTCLoss kernel: T={T} and label length {L} need too much "
                               f"memory for the gradient")
    if stack > MAX_STACK_BYTES:
        raise CompileError(f"CTCLoss kernel: label length {L}"
                           f"{'' if not with_grad else f' and C={C}'} need too much stack")

    dtypes = [ddt] + ([lse_in[1]] if with_lse else []) + [ldt] + [d for _, d in extra] + \
        [odt] + ([gdt] if with_grad else [])
    body = kernel_function(module, name, dtypes)
    args = list(body.args)
    start_arg, end_arg, data = args[:3]
    lse_ptr = args[3] if with_lse else None
    args = args[:3] + args[3 + with_lse:]  # as without lse: label, lengths, outputs
    label = args[3]
    dl_ptr = args[4] if use_dl else None
    ll_ptr = args[4 + use_dl] if use_ll else None
    dl_dt = extra[0][1] if use_dl else None
    ll_dt = extra[use_dl][1] if use_ll else None
    out = args[2 + len(inputs)]
    gout = args[3 + len(inputs)] if with_grad else None

    b = ir.IRBuilder(body.append_basic_block("entry"))
    # never trust the caller's range
    start = _clamp_i(b, start_arg, 0, N)
    end = _clamp_i(b, end_arg, 0, N)
    if C < 1:  # no classes: no blank, nothing to read (validation rejects this anyway)
        def nan_row(n, _):  # (the gradient has no elements)
            b.store(ir.Constant(FLOATS[odt], math.nan), b.gep(out, [n], inbounds=True))
        _for(b, start, end, "n", [], nan_row)
        b.ret_void()
        return body

    ct = FLOATS[ct_name]
    neg_inf = _c(NEG_INF, ct)
    zero = _c(0.0, ct)
    lab_k = b.alloca(I64, size=_i(P + 1), name="lab_k")  # label j as a class index in [0, C-1]
    skip = b.alloca(I8, size=_i(P + 1), name="skip")  # may label j-1 -> label j skip a blank
    blank_rows = [b.alloca(ct, size=_i(P), name=f"blank{k}") for k in (0, 1)]
    label_rows = [b.alloca(ct, size=_i(P + 1), name=f"label{k}") for k in (0, 1)]
    row_max = b.alloca(ct, size=_i(TB), name="row_max")  # per frame of a block of TB frames
    row_lse = b.alloca(ct, size=_i(TB), name="row_lse")  # log sum exp(x - max)
    if with_grad:
        # Every cell loop reads and writes stack arrays only; alpha goes to and from the
        # heap by one memcpy per frame.  With heap rows in the loops LLVM leaves them
        # scalar: consecutive rows at a constant distance fail its dependence check, and
        # it does not prove malloc'ed memory apart from the output buffers.
        alpha_b = b.alloca(ct, size=_i(P), name="alpha_blank")  # alpha_t, copied from the heap
        alpha_l = b.alloca(ct, size=_i(P + 1), name="alpha_label")
        beta_b = [b.alloca(ct, size=_i(P), name=f"beta_blank{k}") for k in (0, 1)]
        beta_l = [b.alloca(ct, size=_i(P), name=f"beta_label{k}") for k in (0, 1)]
        occ_b = b.alloca(ct, size=_i(P), name="occ_blank")  # alpha beta / p of each state
        occ_l = b.alloca(ct, size=_i(P), name="occ_label")
        e_b = b.alloca(ct, size=_i(P + 1), name="e_blank")  # beta + log y of each state
        e_l = b.alloca(ct, size=_i(P + 1), name="e_label")
        class_sum = b.alloca(ct, size=_i(C), name="class_sum")  # 0 between frames
        # may beta skip from label j to label j+1: alpha's flag but for a label equal to
        # the blank, which MXNet's beta never leaves by a skip
        skip_out = b.alloca(I8, size=_i(P + 1), name="skip_out")
    blank, pad = (0, 0) if blank_label == "first" else (C - 1, -1)
    dty = FLOATS[ddt]

    def load_data(idx):
        v = b.load(b.gep(data, [idx], inbounds=True))
        if dty == ct:
            return v
        return b.fpext(v, ct) if ct == F64 else b.fptrunc(v, ct)

    def convert(v, ty):
        if v.type == ty:
            return v
        return b.fptrunc(v, ty) if v.type == F64 else b.fpext(v, ty)

    def at(ptr, idx):
        return b.gep(ptr, [idx], inbounds=True)

    def put(value, ptr, idx) -> None:  # a loop body's store (bodies return carried values)
        b.store(value, at(ptr, idx))

    def copy(dst, src, count: int) -> None:  # count elements of the compute type
        i8p = I8.as_pointer()
        fn = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, I64])
        b.call(fn, [b.bitcast(dst, i8p), b.bitcast(src, i8p), _i(count * csize),
                    ir.Constant(ir.IntType(1), 0)])

    def frame_base(t, n):  # flat index of grad[t, n, 0] (and of data[t, n, 0] for TNC)
        return b.mul(b.add(b.mul(t, _i(N), flags=["nsw"]), n, flags=["nsw"]), _i(C),
                     flags=["nsw"])

    def frame_row(t, n):  # flat index of lse's frame (t, n): t N + n, or n T + t for NTC
        if layout == "NTC":
            return b.add(b.mul(n, _i(T), flags=["nsw"]), t, flags=["nsw"])
        return b.add(b.mul(t, _i(N), flags=["nsw"]), n, flags=["nsw"])

    def data_base(t, n):  # flat index of frame (t, n)'s first class in data
        return b.mul(frame_row(t, n), _i(C), flags=["nsw"])

    def load_lse(t, n):
        v = b.load(b.gep(lse_ptr, [frame_row(t, n)], inbounds=True))
        return convert(v, ct)

    def fill_rows(n, t_lo, t_hi, value, tag):  # grad[t, n, :] = value for t in [t_lo, t_hi)
        def row(t, _):
            base = frame_base(t, n)
            _for(b, _i(0), _i(C), f"{tag}c", [],
                 lambda c, _: put(value, gout, b.add(base, c, flags=["nsw"])))
        _for(b, t_lo, t_hi, f"{tag}t", [], row)

    def sample(n, _):
        # ---- lengths ------------------------------------------------------------------
        if use_dl:
            tl = _to_index(b, b.load(at(dl_ptr, n)), dl_dt, 0, T)
        else:
            tl = _i(T)
        lab_row = b.mul(n, _i(L), flags=["nsw"])
        if use_ll:
            ll = _to_index(b, b.load(at(ll_ptr, n)), ll_dt, 0, L)
        else:  # the first padding value, L if none
            def scan(j, found):
                v = b.load(at(label, b.add(lab_row, j, flags=["nsw"])))
                hit = b.and_(_is_pad(b, v, ldt, pad), b.icmp_signed("==", found[0], _i(L)))
                return [b.select(hit, j, found[0])]
            ll = _for(b, _i(0), _i(L), "scan", [_i(L)], scan, **SMALL_LOOP)[0]
        n_blank = b.and_(b.add(ll, _i(VEC), flags=["nsw"]), _i(-VEC))  # len+1 rounded up, <= P
        # with the gradient every row of alpha is kept, so the label cells run as far as the
        # blank ones: each row then defines every cell the next row and beta read
        n_label = n_blank if with_grad else \
            b.and_(b.add(ll, _i(VEC - 1), flags=["nsw"]), _i(-VEC))  # len rounded up

        # ---- labels as class indices (clamped to [0, C-1]) and skip flags, padded to P+1 --
        def fill_labels(j, prev):
            k = _i(blank)
            if L > 0:  # j < len <= L for the labels used; clamped to the row all the same
                jj = _clamp_i(b, j, 0, L - 1)
                k = _to_index(b, b.load(at(label, b.add(lab_row, jj, flags=["nsw"]))), ldt, 0, C - 1)
                k = b.select(b.icmp_signed("<", j, ll), k, _i(blank))
            b.store(k, at(lab_k, j))
            # the reference's rule on l': onto a real label that differs from l'_{s-2}
            ok = b.and_(b.icmp_signed(">", j, _i(0)),
                        b.and_(b.icmp_signed("!=", k, _i(blank)), b.icmp_signed("!=", k, prev[0])))
            b.store(b.zext(ok, I8), at(skip, j))
            if with_grad:  # label j-1's flag (j = 0 writes a false one, overwritten next)
                out_ok = b.and_(b.icmp_signed("!=", prev[0], _i(blank)),
                                b.icmp_signed("!=", prev[0], k))
                b.store(b.zext(out_ok, I8), at(skip_out, _clamp_i(b, b.sub(j, _i(1)), 0, P)))
            return [k]
        _for(b, _i(0), _i(P + 1), "labels", [_i(blank)], fill_labels, **SMALL_LOOP)

        # ---- alpha before any frame: a virtual "nothing emitted" state, log 1 at s = 0 ----
        def clear(r, _):
            for k in (0, 1):
                b.store(neg_inf, at(blank_rows[k], r))
                b.store(neg_inf, at(label_rows[k], r))
        _for(b, _i(0), _i(P), "clear", [], clear, **SMALL_LOOP)
        for k in (0, 1):
            b.store(neg_inf, at(label_rows[k], _i(P)))
        b.store(zero, at(blank_rows[0], _i(0)))

        def self_softmax(t0, cnt):
            # stable log-softmax of each frame: max, then log of the sum of exp(x - max),
            # computed class by class for all frames of the block at once (independent
            # frames side by side vectorize, a single frame's max/sum would be one chain).
            # maxnum skips NaN, but a NaN (or an inf minus an inf max) makes the sum NaN.
            def init(k, _):
                b.store(neg_inf, at(row_max, k))
                b.store(zero, at(row_lse, k))
            _for(b, _i(0), cnt, "init", [], init, **SMALL_LOOP)

            def over_frames(c, update):
                def frame(k, _):
                    update(k, load_data(b.add(data_base(b.add(t0, k, flags=["nsw"]), n), c,
                                              flags=["nsw"])))
                _for(b, _i(0), cnt, "frame", [], frame)

            def upd_max(k, x):
                p = at(row_max, k)
                b.store(_intr(b, "llvm.maxnum", b.load(p), x), p)
            _for(b, _i(0), _i(C), "cmax", [], lambda c, _: over_frames(c, upd_max))

            def upd_sum(k, x):
                p = at(row_lse, k)
                e = mathlib.emit_exp(b, b.fsub(x, b.load(at(row_max, k)), flags=FM))
                b.store(b.fadd(b.load(p), e, flags=FM), p)
            _for(b, _i(0), _i(C), "csum", [], lambda c, _: over_frames(c, upd_sum))

            def to_log(k, _):
                p = at(row_lse, k)
                b.store(mathlib.emit_log(b, b.load(p)), p)
            _for(b, _i(0), cnt, "lse", [], to_log)

        def block(q, cur):
            # frames [t0, t1) of this block, t1 - t0 <= TB
            t0 = b.mul(q, _i(TB), flags=["nsw"])
            t1 = b.add(t0, _i(TB), flags=["nsw"])
            t1 = b.select(b.icmp_signed("<", t1, tl), t1, tl)
            cnt = b.sub(t1, t0, flags=["nsw"])

            # (with lse given, log y = x - lse: nothing to compute per frame beforehand)
            if not with_lse:
                self_softmax(t0, cnt)

            def step(k, cur):
                t = b.add(t0, k, flags=["nsw"])
                bl, la, bl_new, la_new = cur
                base = data_base(t, n)
                m = zero if with_lse else b.load(at(row_max, k))
                lse = load_lse(t, n) if with_lse else b.load(at(row_lse, k))

                def log_y(cls):  # log y_t(cls) = (x - max) - log sum exp(x - max)
                    x = load_data(b.add(base, cls, flags=["nsw"]))
                    if with_lse:
                        return b.fsub(x, lse, flags=FM)
                    return b.fsub(b.fsub(x, m, flags=FM), lse, flags=FM)
                lp_blank = log_y(_i(blank))

                def blank_cell(i, _):  # alpha(2i) from alpha(2i), alpha(2i-1)
                    stay, come = b.load(at(bl, i)), b.load(at(la, i))  # la[i] = A[i-1]
                    b.store(b.fadd(_logaddexp(b, stay, come), lp_blank, flags=FM), at(bl_new, i))
                _for(b, _i(0), n_blank, "bcell", [], blank_cell, **cell_loop)

                def label_cell(j, _):  # alpha(2j+1) from alpha(2j+1), alpha(2j), alpha(2j-1)
                    j1 = b.add(j, _i(1), flags=["nsw"])
                    stay, come = b.load(at(la, j1)), b.load(at(bl, j))
                    jump = b.load(at(la, j))
                    ok = b.icmp_unsigned("!=", b.load(at(skip, j)), ir.Constant(I8, 0))
                    jump = b.select(ok, jump, neg_inf)
                    cls = _clamp_i(b, b.load(at(lab_k, j)), 0, C - 1)  # clamped already
                    b.store(b.fadd(_logaddexp3(b, stay, come, jump), log_y(cls), flags=FM),
                            at(la_new, j1))
                _for(b, _i(0), n_label, "lcell", [], label_cell, **cell_loop)
                if with_grad:  # keep alpha_t, the frame's max and log-sum for the backward
                    hb, hl = heap_row(t)
                    copy(hb, bl_new, P)
                    copy(hl, la_new, P + 1)
                    b.store(m, at(max_all, t))
                    b.store(lse, at(lse_all, t))
                return [bl_new, la_new, bl, la]
            return _for(b, _i(0), cnt, "t", cur, step)
        n_blocks = b.udiv(b.add(tl, _i(TB - 1), flags=["nsw"]), _i(TB))
        rows = _for(b, _i(0), n_blocks, "block",
                    [blank_rows[0], label_rows[0], blank_rows[1], label_rows[1]], block)
        bl, la = rows[:2]

        # ---- log p = logaddexp(alpha(S_n - 1), alpha(S_n - 2)) = (B[len], A[len-1]) --------
        last = b.load(at(bl, ll))
        second = b.load(at(la, ll))  # A[len-1]; the -inf slot when len = 0
        log_p = _logaddexp(b, last, second)
        b.store(convert(b.fneg(log_p), FLOATS[odt]), at(out, n))
        if not with_grad:
            return

        # ---- the gradient: frames past T_n get 0; an infeasible sample (log p = -inf) 0
        # and a NaN one NaN on frames < T_n (the reference's einsum spreads a NaN
        # occupancy over every class); otherwise the forward-backward below
        gty = FLOATS[gdt]
        fill_rows(n, tl, _i(T), ir.Constant(gty, 0.0), "gz")
        with b.if_else(_finite(b, log_p)) as (normal, special):
            with normal:
                backward(n, tl, ll, n_blank, log_p)
            with special:
                nan_p = b.fcmp_unordered("uno", log_p, log_p)
                fill_rows(n, _i(0), tl, b.select(nan_p, ir.Constant(gty, math.nan),
                                                 ir.Constant(gty, 0.0)), "gs")

    def backward(n, tl, ll, n_blank, log_p):
        """grad[t, n, :] for t < T_n, log p finite (so no NaN and no +inf anywhere below).

        beta_t(s) (excluding the emission at t) runs backward from beta_{T_n-1} = log 1 on
        the two final states, through E_t(s) = beta_t(s) + log y_t(l'_s):
        beta_{t-1}(2i) = logaddexp(E_t(2i), E_t(2i+1)) and beta_{t-1}(2j+1) =
        logsumexp(E_t(2j+1), E_t(2j+2), [skip] E_t(2j+3)), the skip allowed from a label
        that is not the blank and differs from the next (MXNet's rule: for a label equal
        to the blank it is not alpha's, so the gradient is MXNet's, not the loss's exact
        one).  Rows are B[i] = beta(2i) and
        A[j] = beta(2j+1) (no offset: A[j+1] is read), double-buffered; every cell past
        the sample's states is -inf (beta flows to smaller s, so they are read).
        grad[t, c] = y_t(c) - sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - log p).
        """
        gty = FLOATS[gdt]

        def valid(i):  # blank i <= len, label i < len
            return b.icmp_signed("<=", i, ll), b.icmp_signed("<", i, ll)

        def init_beta(i, _):
            b.store(b.select(b.icmp_signed("==", i, ll), zero, neg_inf), at(beta_b[0], i))
            b.store(b.select(b.icmp_signed("==", b.add(i, _i(1), flags=["nsw"]), ll),
                             zero, neg_inf), at(beta_l[0], i))
        _for(b, _i(0), _i(P), "binit", [], init_beta, **SMALL_LOOP)

        def clear_e(i, _):
            b.store(neg_inf, at(e_b, i))
            b.store(neg_inf, at(e_l, i))
        _for(b, _i(0), _i(P + 1), "eclear", [], clear_e, **SMALL_LOOP)

        def label_class(j):
            return _clamp_i(b, b.load(at(lab_k, j)), 0, C - 1)  # clamped already

        def frame(k, cur):
            bb, ba, bb_new, ba_new = cur
            t = b.sub(b.sub(tl, _i(1), flags=["nsw"]), k, flags=["nsw"])  # T_n - 1 down to 0
            base = frame_base(t, n)  # grad's frame
            dbase = data_base(t, n)
            m = b.load(at(max_all, t))
            lse = b.load(at(lse_all, t))

            def log_y(idx):
                x = load_data(b.add(dbase, idx, flags=["nsw"]))
                if with_lse:
                    return b.fsub(x, lse, flags=FM)
                return b.fsub(b.fsub(x, m, flags=FM), lse, flags=FM)
            lp_blank = log_y(_i(blank))
            hb, hl = heap_row(t)  # alpha_t
            copy(alpha_b, hb, P)
            copy(alpha_l, hl, P + 1)

            def occupancy(i, _):
                vb, va = valid(i)
                beta_blank, beta_label = b.load(at(bb, i)), b.load(at(ba, i))
                a_blank = b.load(at(alpha_b, i))
                a_label = b.load(at(alpha_l, b.add(i, _i(1), flags=["nsw"])))
                for v, a, beta, dst in ((vb, a_blank, beta_blank, occ_b),
                                        (va, a_label, beta_label, occ_l)):
                    o = mathlib.emit_exp(b, b.fsub(b.fadd(a, beta, flags=FM), log_p, flags=FM))
                    b.store(b.select(v, o, zero), at(dst, i))
                b.store(b.select(vb, b.fadd(beta_blank, lp_blank, flags=FM), neg_inf), at(e_b, i))
                b.store(b.select(va, b.fadd(beta_label, log_y(label_class(i)), flags=FM), neg_inf),
                        at(e_l, i))
            _for(b, _i(0), n_blank, "occ", [], occupancy, **cell_loop)

            # per class: the blank states summed, each label's added to its class (repeats
            # add up); then one pass over the classes, and the touched sums back to 0
            tot = _for(b, _i(0), b.add(ll, _i(1), flags=["nsw"]), "occb", [zero],
                       lambda i, s: [b.fadd(s[0], b.load(at(occ_b, i)))], **SMALL_LOOP)[0]
            pb = at(class_sum, _i(blank))
            b.store(b.fadd(b.load(pb), tot), pb)

            def scatter(j, _):
                p = at(class_sum, label_class(j))
                b.store(b.fadd(b.load(p), b.load(at(occ_l, j))), p)
            _for(b, _i(0), ll, "occl", [], scatter, **SMALL_LOOP)

            def grad_cell(c, _):
                g = b.fsub(mathlib.emit_exp(b, log_y(c)), b.load(at(class_sum, c)), flags=FM)
                b.store(convert(g, gty), at(gout, b.add(base, c, flags=["nsw"])))
            # (forcing a vector width wider than a small constant C only earns a warning)
            _for(b, _i(0), _i(C), "gcell", [], grad_cell, **(cell_loop if C >= VEC else {}))
            b.store(zero, pb)
            _for(b, _i(0), ll, "unocc", [], lambda j, _: put(zero, class_sum, label_class(j)),
                 **SMALL_LOOP)

            def beta_cell(i, _):  # beta_{t-1} (also computed at t = 0, then unused)
                vb, va = valid(i)
                i1 = b.add(i, _i(1), flags=["nsw"])
                stay = b.load(at(e_l, i))
                ok = b.icmp_unsigned("!=", b.load(at(skip_out, i)), ir.Constant(I8, 0))
                jump = b.select(ok, b.load(at(e_l, i1)), neg_inf)
                new_b = _logaddexp(b, b.load(at(e_b, i)), stay)
                new_a = _logaddexp3(b, stay, b.load(at(e_b, i1)), jump)
                b.store(b.select(vb, new_b, neg_inf), at(bb_new, i))
                b.store(b.select(va, new_a, neg_inf), at(ba_new, i))
            _for(b, _i(0), n_blank, "beta", [], beta_cell, **cell_loop)
            return [bb_new, ba_new, bb, ba]
        _for(b, _i(0), tl, "tback", [beta_b[0], beta_l[0], beta_b[1], beta_l[1]], frame)

    if not with_grad:
        _for(b, start, end, "n", [], sample)
        b.ret_void()
        return body

    # ---- with the gradient: alpha of every frame is kept, in memory from malloc ----------
    # T rows of alpha can be far more than a thread's stack (T = 1000, L = 100 is 1.6 MB,
    # 8 MB for L = 500), and a stack overflow would be a crash, not an error: so the rows
    # and each frame's max and log-sum come from libc's malloc (resolved in the process by
    # MCJIT), once per call, i.e. per thread's chunk of samples, freed at the end.  If
    # malloc fails, every sample of the call gets NaN, loss and gradient, which the caller
    # sees instead of a crash.
    i8p = I8.as_pointer()
    malloc = module.globals.get("malloc") or ir.Function(module, ir.FunctionType(i8p, [I64]),
                                                         "malloc")
    free = module.globals.get("free") or ir.Function(module, ir.FunctionType(ir.VoidType(), [i8p]),
                                                     "free")
    raw = b.call(malloc, [_i(max(heap_items, 1) * csize)])  # malloc(0) may return NULL
    heap = b.bitcast(raw, ct.as_pointer())
    max_all = at(heap, _i(T * R))  # per frame t < T_n
    lse_all = at(heap, _i(T * R + T))

    def heap_row(t):  # (blank row, label row) of alpha_t, t in [0, T)
        row = at(heap, b.mul(t, _i(R), flags=["nsw"]))
        return row, at(row, _i(P))

    with b.if_else(b.icmp_unsigned("!=", raw, ir.Constant(i8p, None))) as (ok, failed):
        with ok:
            _for(b, _i(0), _i(C), "czero", [], lambda c, _: put(zero, class_sum, c),
                 **SMALL_LOOP)
            _for(b, start, end, "n", [], sample)
        with failed:
            def nan_sample(n, _):
                b.store(ir.Constant(FLOATS[odt], math.nan), at(out, n))
                fill_rows(n, _i(0), _i(T), ir.Constant(FLOATS[gdt], math.nan), "nf")
            _for(b, start, end, "nf", [], nan_sample)
    b.call(free, [raw])
    b.ret_void()
    return body

