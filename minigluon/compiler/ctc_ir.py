"""A hand-written LLVM kernel for ``CTCLoss``: the forward (alpha) recursion in log space.

The loop IR describes one element per output index, which does not fit CTC's dynamic
programme over time, so the op registers this emitter as its ``kernel`` (and
``validate_ctc`` as its ``validate``, run on the input values before the kernel).  For
each sample ``n`` of ``[start, end)`` the kernel

* reads the label length (``label_lengths`` or the first padding value) and the data
  length ``T_n`` (``data_lengths`` or T); the extended label sequence is
  ``l' = (blank, l_1, blank, ..., l_len, blank)``, ``S_n = 2 len + 1``, and a skip
  ``s-2 -> s`` is allowed onto a real label different from ``l'_{s-2}``;
* computes, for blocks of ``TB`` frames at once, the stable log-softmax of each
  ``data[t, n, :]`` (max, then log of the sum of exp(x - max));
* runs ``alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [skip] alpha_{t-1}(s-2))
  + log y_t(l'_s)`` for ``t < T_n`` starting from a virtual state log 1 at s = 0, with
  alpha split into a blank row (even s: two terms) and a label row (odd s: three terms),
  double-buffered on the stack; both cell loops are vectorized;
* writes ``-logaddexp(alpha(S_n-1), alpha(S_n-2))``: +inf when no alignment exists, NaN
  when ``data[t, n, :]`` holds a NaN (or +inf) for some ``t < T_n``, for that sample only.

This is ``ctc_loss`` of ``minigluon.ops.ctc_kernel`` (MXNet 1.9.1 semantics) without the
gradient, computed in float64 also for float32 data, as the reference does.  logaddexp is
``max + log1p(exp(-|a-b|))``, the three-term one ``max + log1p(exp(mid-max) + exp(lo-max))``,
both returning the max itself when it is not finite (never inf - inf).

Values are never trusted for addressing, whatever validation let through: ``start``/``end``
are clamped to [0, N], lengths to [0, T] / [0, L] and every label to [0, C-1]
(``minnum``/``maxnum`` before ``fptosi``, so NaN and huge floats are never converted), so
the kernel reads only inside its inputs and its stack arrays and writes only
``out[start:end]``.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from ..ops.ctc_kernel import validate
from . import mathlib

__all__ = ["emit_ctc_kernel", "validate_ctc", "MAX_STACK_BYTES"]

I64 = ir.IntType(64)
I8 = ir.IntType(8)
F64 = ir.DoubleType()
FLOATS = {"float32": ir.FloatType(), "float64": F64}
INTS = {"int64": (64, True), "int32": (32, True), "int8": (8, True), "uint8": (8, False),
        "bool": (8, False)}
# alpha rows, labels and skip flags live on the stack: keep them far below the smallest
# thread stack we run on (longer labels fall back to the interpreter)
MAX_STACK_BYTES = 1 << 20
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


def validate_ctc(attrs: dict, data, label, *lengths) -> None:
    """Check CTCLoss's input values (the kernel does not report errors): ValueError naming
    the argument, with ``ctc_loss``'s messages.  ``lengths`` follow the op's active inputs:
    data_lengths if ``use_data_lengths``, then label_lengths if ``use_label_lengths``."""
    names = [k for k, on in (("data_lengths", attrs.get("use_data_lengths")),
                             ("label_lengths", attrs.get("use_label_lengths"))) if on]
    if len(lengths) != len(names):
        raise ValueError(f"CTCLoss expects {2 + len(names)} inputs with these attributes, "
                         f"got {2 + len(lengths)}")
    given = dict(zip(names, lengths))
    validate(data, label, given.get("data_lengths"), given.get("label_lengths"),
             attrs.get("blank_label", "first"))


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
    return b.select(_finite(b, m), r, m)


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
    """Add the CTC loss kernel ``void name(i64 start, i64 end, i64 buf...)`` to module.

    ``inputs``: (shape, dtype) of data (T, N, C), label (N, L), then data_lengths (N,) if
    ``attrs['use_data_lengths']`` and label_lengths (N,) if ``attrs['use_label_lengths']``;
    ``outputs``: [((N,), dtype)], the loss (further outputs, the gradient, are not
    written).  Buffers are passed in that order, inputs then the loss.
    """
    from .codegen import kernel_function
    from .infer import CompileError

    use_dl, use_ll = bool(attrs.get("use_data_lengths")), bool(attrs.get("use_label_lengths"))
    blank_label = attrs.get("blank_label", "first")
    if blank_label not in ("first", "last"):
        raise CompileError(f"CTCLoss: blank_label must be 'first' or 'last', got {blank_label!r}")
    if len(inputs) != 2 + use_dl + use_ll or not outputs:
        raise CompileError(f"CTCLoss kernel: expected {2 + use_dl + use_ll} inputs and a loss "
                           f"output, got {len(inputs)} and {len(outputs)}")
    (dshape, ddt), (lshape, ldt) = [(tuple(s), np.dtype(d).name) for s, d in inputs[:2]]
    if len(dshape) != 3 or len(lshape) != 2:
        raise CompileError(f"CTCLoss kernel: data must be 3-d and label 2-d, got {dshape}, {lshape}")
    T, N, C = dshape
    L = lshape[1]
    oshape, odt = tuple(outputs[0][0]), np.dtype(outputs[0][1]).name
    if lshape[0] != N or oshape != (N,):
        raise CompileError(f"CTCLoss kernel: label {lshape} / loss {oshape} do not match "
                           f"data {dshape}")
    extra = [(tuple(s), np.dtype(d).name) for s, d in inputs[2:]]
    for s, d in extra:
        if s != (N,):
            raise CompileError(f"CTCLoss kernel: lengths must have shape ({N},), got {s}")
    if ddt not in FLOATS or odt not in FLOATS:
        raise CompileError(f"CTCLoss kernel: data and loss must be float32 or float64, "
                           f"got {ddt} and {odt}")
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
    row_bytes = 8 * (2 * P + 1)
    if 2 * row_bytes + 9 * P + 2 * TB * 8 > MAX_STACK_BYTES:
        raise CompileError(f"CTCLoss kernel: label length {L} needs too much stack")

    dtypes = [ddt, ldt] + [d for _, d in extra] + [odt]
    body = kernel_function(module, name, dtypes)
    args = list(body.args)
    start_arg, end_arg, data, label = args[:4]
    dl_ptr = args[4] if use_dl else None
    ll_ptr = args[4 + use_dl] if use_ll else None
    dl_dt = extra[0][1] if use_dl else None
    ll_dt = extra[use_dl][1] if use_ll else None
    out = args[-1]

    b = ir.IRBuilder(body.append_basic_block("entry"))
    # never trust the caller's range
    start = _clamp_i(b, start_arg, 0, N)
    end = _clamp_i(b, end_arg, 0, N)
    if C < 1:  # no classes: no blank, nothing to read (validation rejects this anyway)
        def nan_row(n, _):
            b.store(ir.Constant(FLOATS[odt], math.nan), b.gep(out, [n], inbounds=True))
        _for(b, start, end, "n", [], nan_row)
        b.ret_void()
        return body

    ct = FLOATS[ct_name]
    neg_inf = _c(NEG_INF, ct)
    blank_rows = [b.alloca(ct, size=_i(P), name=f"blank{k}") for k in (0, 1)]
    label_rows = [b.alloca(ct, size=_i(P + 1), name=f"label{k}") for k in (0, 1)]
    lab_k = b.alloca(I64, size=_i(P), name="lab_k")  # label j as a class index in [0, C-1]
    skip = b.alloca(I8, size=_i(P), name="skip")  # may label j-1 -> label j skip a blank
    row_max = b.alloca(ct, size=_i(TB), name="row_max")  # per frame of a block of TB frames
    row_lse = b.alloca(ct, size=_i(TB), name="row_lse")  # log sum exp(x - max)
    blank, pad = (0, 0) if blank_label == "first" else (C - 1, -1)
    dty = FLOATS[ddt]

    def load_data(idx):
        v = b.load(b.gep(data, [idx], inbounds=True))
        if dty == ct:
            return v
        return b.fpext(v, ct) if ct == F64 else b.fptrunc(v, ct)

    def at(ptr, idx):
        return b.gep(ptr, [idx], inbounds=True)

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
        n_label = b.and_(b.add(ll, _i(VEC - 1), flags=["nsw"]), _i(-VEC))  # len rounded up

        # ---- labels as class indices (clamped to [0, C-1]) and skip flags, padded to P ----
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
            return [k]
        _for(b, _i(0), _i(P), "labels", [_i(blank)], fill_labels, **SMALL_LOOP)

        # ---- alpha before any frame: a virtual "nothing emitted" state, log 1 at s = 0 ----
        def clear(r, _):
            for k in (0, 1):
                b.store(neg_inf, at(blank_rows[k], r))
                b.store(neg_inf, at(label_rows[k], r))
        _for(b, _i(0), _i(P), "clear", [], clear, **SMALL_LOOP)
        for k in (0, 1):
            b.store(neg_inf, at(label_rows[k], _i(P)))
        b.store(_c(0.0, ct), at(blank_rows[0], _i(0)))

        def frame_base(t):  # flat index of data[t, n, 0]
            return b.mul(b.add(b.mul(t, _i(N), flags=["nsw"]), n, flags=["nsw"]), _i(C),
                         flags=["nsw"])

        def block(q, cur):
            # frames [t0, t1) of this block, t1 - t0 <= TB
            t0 = b.mul(q, _i(TB), flags=["nsw"])
            t1 = b.add(t0, _i(TB), flags=["nsw"])
            t1 = b.select(b.icmp_signed("<", t1, tl), t1, tl)
            cnt = b.sub(t1, t0, flags=["nsw"])

            # stable log-softmax of each frame: max, then log of the sum of exp(x - max),
            # computed class by class for all frames of the block at once (independent
            # frames side by side vectorize, a single frame's max/sum would be one chain).
            # maxnum skips NaN, but a NaN (or an inf minus an inf max) makes the sum NaN.
            def init(k, _):
                b.store(neg_inf, at(row_max, k))
                b.store(_c(0.0, ct), at(row_lse, k))
            _for(b, _i(0), cnt, "init", [], init, **SMALL_LOOP)

            def over_frames(c, update):
                def frame(k, _):
                    update(k, load_data(b.add(frame_base(b.add(t0, k, flags=["nsw"])), c,
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

            def step(k, cur):
                bl, la, bl_new, la_new = cur
                base = frame_base(b.add(t0, k, flags=["nsw"]))
                m = b.load(at(row_max, k))
                lse = b.load(at(row_lse, k))

                def log_y(cls):  # log y_t(cls) = (x - max) - log sum exp(x - max)
                    x = load_data(b.add(base, cls, flags=["nsw"]))
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
                return [bl_new, la_new, bl, la]
            return _for(b, _i(0), cnt, "t", cur, step)
        n_blocks = b.udiv(b.add(tl, _i(TB - 1), flags=["nsw"]), _i(TB))
        rows = _for(b, _i(0), n_blocks, "block",
                    [blank_rows[0], label_rows[0], blank_rows[1], label_rows[1]], block)
        bl, la = rows[:2]

        # ---- log p = logaddexp(alpha(S_n - 1), alpha(S_n - 2)) = (B[len], A[len-1]) --------
        last = b.load(at(bl, ll))
        second = b.load(at(la, ll))  # A[len-1]; the -inf slot when len = 0
        loss = b.fneg(_logaddexp(b, last, second))
        if loss.type != FLOATS[odt]:
            loss = b.fptrunc(loss, FLOATS[odt]) if ct == F64 else b.fpext(loss, FLOATS[odt])
        b.store(loss, at(out, n))

    _for(b, start, end, "n", [], sample)
    b.ret_void()
    return body
