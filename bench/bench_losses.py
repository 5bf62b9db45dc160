#!/usr/bin/env python
"""Benchmark minigluon's fourteen Gluon losses: eager, hybridized (compiled once the JIT in
``mg.jit`` exists, else the graph interpreter) and peers (numpy, torch, torch.compile,
jax.jit), with a correctness check against the numpy formulas written here; with
``--backward`` also one forward + backward per call, gradients checked against torch's.

    python bench/bench_losses.py                       # all losses, 64x10, 4096x1000, 3d
    python bench/bench_losses.py --quick               # smoke run, a few seconds per loss
    python bench/bench_losses.py --sizes 64x10,3d --losses L2Loss,SoftmaxCELoss \\
        --repeat 21 --threads 2 --markdown docs_table.md
    python bench/bench_losses.py --backward            # also forward + backward w.r.t. pred

torch and jax are optional: a peer that does not import gets '—' everywhere.
See bench/README.md for what each column means.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import metadata

# ---------------------------------------------------------------------------------------
# Threads must be fixed before numpy (and its BLAS) is imported: read --threads early.
# ---------------------------------------------------------------------------------------


def _early_threads(argv: list[str]) -> int:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--threads", type=int, default=2)
    ns, _ = p.parse_known_args(argv)
    return max(1, ns.threads)


THREADS = _early_threads(sys.argv[1:])
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "MINIGLUON_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
if THREADS == 1:  # XLA's CPU client has no thread-count knob except "one" (intra-op off)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1").strip()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # benchmark the checkout this script lives in

import numpy as np  # noqa: E402

DASH = "—"
SIZE_3D = (64, 32, 100)
CTC_CAP = 1 << 23    # elements of CTC's (N, T, C) activations at most (32 MiB float32)
SDML_CAP = 1 << 25   # elements of SDMLLoss's (N, N, C) eager temporary at most (128 MiB float32)
SDML_MAX_BATCH = 512
RTOL, ATOL = 1e-3, 1e-5
CHILD_MARK = "BENCH_CHILD_JSON "

# =======================================================================================
# Reference formulas, written from the loss docstrings (minigluon/gluon/loss.py) with the
# constructor arguments minigluon.examples uses.  ``xp`` is numpy or jax.numpy.
# =======================================================================================


def _rest(x):
    """Every axis but the batch axis 0."""
    return tuple(range(1, x.ndim))


def _log_softmax(xp, x, axis=-1):
    z = x - xp.max(x, axis=axis, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def _softplus_neg_abs(xp, x):
    return xp.log1p(xp.exp(-xp.abs(x)))


def xp_l2(xp, pred, label):
    return 0.5 * xp.mean(xp.square(label - pred), axis=_rest(pred))


def xp_l1(xp, pred, label):
    return xp.mean(xp.abs(label - pred), axis=_rest(pred))


def xp_sigmoid_bce(xp, pred, label):
    loss = xp.maximum(pred, 0) - pred * label + _softplus_neg_abs(xp, pred)
    return xp.mean(loss, axis=_rest(pred))


def xp_softmax_ce(xp, pred, label):
    logp = _log_softmax(xp, pred, -1)
    picked = xp.take_along_axis(logp, label.astype(xp.int32)[..., None], axis=-1)
    return xp.mean(-picked, axis=_rest(picked))


def xp_kldiv(xp, pred, label):  # from_logits=False: pred are logits
    logp = _log_softmax(xp, pred, -1)
    return xp.sum(label * (xp.log(label + 1e-12) - logp), axis=_rest(pred))


def xp_huber(xp, pred, label, rho=1.0):
    d = xp.abs(label - pred)
    return xp.mean(xp.where(d > rho, d - 0.5 * rho, (0.5 / rho) * d * d), axis=_rest(pred))


def xp_hinge(xp, pred, label):
    return xp.mean(xp.maximum(1.0 - pred * label, 0), axis=_rest(pred))


def xp_squared_hinge(xp, pred, label):
    r = xp.maximum(1.0 - pred * label, 0)
    return xp.mean(r * r, axis=_rest(pred))


def xp_logistic(xp, pred, label):  # signed labels -1/1
    z = (label + 1.0) / 2.0
    loss = xp.maximum(pred, 0) - pred * z + _softplus_neg_abs(xp, pred)
    return xp.mean(loss, axis=_rest(pred))


def xp_triplet(xp, pred, pos, neg):
    d = xp.sum(xp.square(pos - pred) - xp.square(neg - pred), axis=_rest(pred))
    return xp.maximum(d + 1.0, 0)


def xp_poisson(xp, pred, target):  # from_logits=True, compute_full=True
    loss = xp.exp(pred) - target * pred
    big = target > 1
    t = xp.where(big, target, 1.0)  # log() only where Stirling's term is used
    stirling = t * xp.log(t) - t + 0.5 * xp.log(2 * math.pi * t)
    loss = loss + xp.where(big, stirling, 0.0)
    return xp.reshape(xp.mean(loss), (1,))


def xp_cosine(xp, x, y, label):  # margin 0, output (batch, 1)
    dot = xp.sum(x * y, axis=-1)
    norms = xp.sqrt(xp.sum(x * x, axis=-1)) * xp.sqrt(xp.sum(y * y, axis=-1))
    cos = dot / xp.maximum(norms, 1e-12)
    loss = xp.where(label == 1, 1.0 - cos, 0.0) + xp.maximum(xp.where(label == -1, cos, 0.0), 0)
    return xp.reshape(loss, (-1, 1))


def xp_sdml(xp, x1, x2, s=0.3):
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matmul, no (N, N, C) temporary
    n = x1.shape[0]
    d = (xp.sum(x1 * x1, axis=1)[:, None] + xp.sum(x2 * x2, axis=1)[None, :]
         - 2.0 * (x1 @ x2.T))
    logp = _log_softmax(xp, -d, 1)
    eye = xp.eye(n, dtype=x1.dtype)
    labels = eye * (1 - s) + (1 - eye) * (s / (n - 1))
    return xp.sum(labels * (xp.log(labels + 1e-12) - logp), axis=1)


def np_ctc(pred, label):
    """CTC negative log-likelihood, forward (alpha) recursion in log space, float32.
    pred (N, T, C) activations, blank = C-1; label (N, L) padded with -1."""
    n, t_max, c = pred.shape
    blank = c - 1
    logp = _log_softmax(np, pred, -1)
    lab = label.astype(np.int64)
    width = lab.shape[1]
    pad = lab < 0
    llen = np.where(pad.any(axis=1), pad.argmax(axis=1), width)
    s_max = 2 * width + 1
    ext = np.full((n, s_max), blank, np.int64)           # blank, l1, blank, l2, ..., blank
    ext[:, 1::2] = np.where(np.arange(width) < llen[:, None], lab, blank)
    slen = 2 * llen + 1
    skip = np.zeros((n, s_max), bool)                    # s-2 -> s allowed
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    rows = np.arange(n)
    emit = logp[rows[:, None, None], np.arange(t_max)[None, :, None], ext[:, None, :]]
    emit = np.where((np.arange(s_max) < slen[:, None])[:, None, :], emit, -np.inf)
    neg = np.float32(-np.inf)
    alpha = np.full((n, s_max), neg, np.float32)
    alpha[:, :2] = emit[:, 0, :2]
    with np.errstate(invalid="ignore"):
        for t in range(1, t_max):
            a1 = np.concatenate([np.full((n, 1), neg), alpha[:, :-1]], axis=1)
            a2 = np.concatenate([np.full((n, 2), neg), alpha[:, :-2]], axis=1)
            alpha = np.logaddexp(np.logaddexp(alpha, a1), np.where(skip, a2, neg)) + emit[:, t]
        last = alpha[rows, slen - 1]
        second = np.where(llen > 0, alpha[rows, np.maximum(slen - 2, 0)], neg)
        return -np.logaddexp(last, second)


XP_FORMULAS = {
    "L2Loss": xp_l2, "L1Loss": xp_l1, "SigmoidBCELoss": xp_sigmoid_bce,
    "SoftmaxCELoss": xp_softmax_ce, "KLDivLoss": xp_kldiv, "HuberLoss": xp_huber,
    "HingeLoss": xp_hinge, "SquaredHingeLoss": xp_squared_hinge, "LogisticLoss": xp_logistic,
    "TripletLoss": xp_triplet, "PoissonNLLLoss": xp_poisson,
    "CosineEmbeddingLoss": xp_cosine, "SDMLLoss": xp_sdml,
}


def numpy_formula(name):
    if name == "CTCLoss":
        return np_ctc
    f = XP_FORMULAS[name]
    return lambda *xs: f(np, *xs)


def jax_formula(name, jnp):
    if name not in XP_FORMULAS:
        return None  # CTC: no jax.numpy formulation here
    f = XP_FORMULAS[name]
    return lambda *xs: f(jnp, *xs)


def torch_formulas(torch):
    F = torch.nn.functional

    def rest(x):
        return tuple(range(1, x.dim()))

    def softplus_neg_abs(x):
        return torch.log1p(torch.exp(-x.abs()))

    def l2(p, l):
        return 0.5 * ((l - p) ** 2).mean(dim=rest(p))

    def l1(p, l):
        return (l - p).abs().mean(dim=rest(p))

    def sbce(p, l):
        return (F.relu(p) - p * l + softplus_neg_abs(p)).mean(dim=rest(p))

    def sce(p, l):
        picked = F.log_softmax(p, dim=-1).gather(-1, l.long().unsqueeze(-1))
        return (-picked).mean(dim=rest(picked))

    def kl(p, l):
        return (l * (torch.log(l + 1e-12) - F.log_softmax(p, dim=-1))).sum(dim=rest(p))

    def ctc(p, l):
        n, t, c = p.shape
        logp = F.log_softmax(p, dim=-1).transpose(0, 1)          # (T, N, C)
        target_lengths = (l >= 0).sum(dim=1)                    # labels are tail-padded
        input_lengths = torch.full((n,), t, dtype=torch.long)
        return F.ctc_loss(logp, l.long().clamp(min=0), input_lengths, target_lengths,
                          blank=c - 1, reduction="none", zero_infinity=False)

    def huber(p, l):
        d = (l - p).abs()
        return torch.where(d > 1.0, d - 0.5, 0.5 * d * d).mean(dim=rest(p))

    def hinge(p, l):
        return F.relu(1.0 - p * l).mean(dim=rest(p))

    def sqhinge(p, l):
        return (F.relu(1.0 - p * l) ** 2).mean(dim=rest(p))

    def logistic(p, l):
        z = (l + 1.0) / 2.0
        return (F.relu(p) - p * z + softplus_neg_abs(p)).mean(dim=rest(p))

    def triplet(p, pos, neg):
        return F.relu(((pos - p) ** 2 - (neg - p) ** 2).sum(dim=rest(p)) + 1.0)

    def poisson(p, t):
        big = t > 1
        tt = torch.where(big, t, torch.ones_like(t))
        stirling = tt * torch.log(tt) - tt + 0.5 * torch.log(2 * math.pi * tt)
        loss = torch.exp(p) - t * p + torch.where(big, stirling, torch.zeros_like(t))
        return loss.mean().reshape(1)

    def cosine(x, y, label):
        dot = (x * y).sum(dim=-1)
        norms = x.norm(dim=-1) * y.norm(dim=-1)
        cos = dot / torch.clamp(norms, min=1e-12)
        zero = torch.zeros_like(cos)
        loss = torch.where(label == 1, 1.0 - cos, zero) + F.relu(torch.where(label == -1, cos, zero))
        return loss.reshape(-1, 1)

    def sdml(x1, x2, s=0.3):
        n = x1.shape[0]
        d = (x1 * x1).sum(1)[:, None] + (x2 * x2).sum(1)[None, :] - 2.0 * (x1 @ x2.T)
        logp = F.log_softmax(-d, dim=1)
        eye = torch.eye(n, dtype=x1.dtype)
        labels = eye * (1 - s) + (1 - eye) * (s / (n - 1))
        return (labels * (torch.log(labels + 1e-12) - logp)).sum(dim=1)

    return {"L2Loss": l2, "L1Loss": l1, "SigmoidBCELoss": sbce, "SoftmaxCELoss": sce,
            "KLDivLoss": kl, "CTCLoss": ctc, "HuberLoss": huber, "HingeLoss": hinge,
            "SquaredHingeLoss": sqhinge, "LogisticLoss": logistic, "TripletLoss": triplet,
            "PoissonNLLLoss": poisson, "CosineEmbeddingLoss": cosine, "SDMLLoss": sdml}


# =======================================================================================
# Cases: which shape each loss runs at for a requested size
# =======================================================================================


def parse_size(tok: str) -> tuple[int, ...]:
    tok = tok.strip().lower()
    if tok == "3d":
        return SIZE_3D
    try:
        dims = tuple(int(d) for d in tok.split("x"))
    except ValueError:
        raise SystemExit(f"bad size {tok!r}: use NxC, AxBxC or 3d") from None
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise SystemExit(f"bad size {tok!r}: use NxC, AxBxC or 3d")
    return dims


def size_label(size) -> str:
    return "x".join(map(str, size))


def case_for(name: str, size: tuple[int, ...]):
    """(shape, note) the loss runs at for a requested size, or (None, why) if it can't."""
    if name == "CTCLoss":
        if len(size) == 3:
            return size, "(N,T,C)"
        n, c = size
        t = max(c, 4)                      # minigluon.examples' CTC: T = max(C, 4)
        if n * t * c <= CTC_CAP:
            return (n, t, c), "(N,T,C)"
        t = min(t, 64)
        n_cap = 1 << int(math.log2(max(1, CTC_CAP // (t * c))))
        return (min(n, n_cap), t, c), "(N,T,C) capped"
    if name in ("SDMLLoss", "CosineEmbeddingLoss") and len(size) == 3:
        return None, "2-D only"
    if name == "SDMLLoss":
        n, c = size
        if n * n * c <= SDML_CAP:
            return size, ""
        n = min(n, SDML_MAX_BATCH)
        return (n, max(1, min(c, SDML_CAP // (n * n)))), "capped: eager (N,N,C) temporary"
    return size, ""


def make_case(name: str, shape: tuple[int, ...], seed: int = 0):
    """(block constructor, float32 numpy inputs) for one loss at one shape."""
    from minigluon.examples import EXAMPLES, example
    make, gen = EXAMPLES[name]
    rng = np.random.default_rng(seed)
    if name == "CTCLoss":  # minigluon.examples' CTC inputs with T chosen freely
        n, t, c = shape
        width = max(1, min(c // 2, 4))
        label = rng.integers(0, c - 1, (n, width)).astype(float)
        label[:, width - 1:] = -1
        xs = [rng.standard_normal((n, t, c)), label]
    elif len(shape) == 2:
        _, xs = example(name, shape[0], shape[1], seed=seed, dtype="float64")
    else:  # 3-D: the 2-D example with N*T rows, folded back to (N, T, ...)
        n, t, c = shape
        xs = [x.reshape((n, t) + x.shape[1:]) if x.shape[:1] == (n * t,) else x
              for x in gen(rng, n * t, c)]
    return make, [np.ascontiguousarray(x, dtype=np.float32) for x in xs]


def shape_label(name, shape, note) -> str:
    if name == "CTCLoss":
        n, t, c = shape
        return f"N{n} T{t} C{c}" + (" (capped)" if "capped" in note else "")
    return size_label(shape) + (" (capped)" if "capped" in note else "")


# =======================================================================================
# Timing
# =======================================================================================


def measure(fn, budget: float, repeat: int | None, min_samples: int = 7,
            max_samples: int = 300) -> tuple[float, int]:
    """Median seconds per call of an already warmed-up fn, and how many calls were timed.
    Calls are grouped so one timed sample lasts at least ~1 ms (timer overhead)."""
    t0 = time.perf_counter()
    fn()
    est = time.perf_counter() - t0
    if est < 0.02:  # cheap: one more call for a steadier estimate
        t0 = time.perf_counter()
        fn()
        est = min(est, time.perf_counter() - t0)
    est = max(est, 1e-7)
    inner = max(1, min(2000, int(1e-3 / est)))
    if repeat:
        samples = repeat
    else:
        floor_n = min_samples if est < 0.05 else 5  # slow calls: 5 samples are enough
        samples = int(min(max_samples, max(floor_n, budget / (est * inner))))
    times = []
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(samples):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times), samples * inner


def fmt_time(s) -> str:
    if s is None:
        return DASH
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(n) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def fmt_ratio(a, b) -> str:
    if a is None or b is None or b <= 0:
        return DASH
    return f"{a / b:.2f}"


# =======================================================================================
# minigluon JIT hooks (mg.jit may not exist yet)
# =======================================================================================

STAT_KEYS = ("compiled_calls", "interpreted_calls", "kernels_compiled", "cache_hits",
             "compile_seconds", "compile_failures")


def jit_module(mg):
    jit = getattr(mg, "jit", None)
    return jit if jit is not None and callable(getattr(jit, "stats", None)) else None


def jit_stats(mg):
    jit = jit_module(mg)
    if jit is None:
        return None
    try:
        return dict(jit.stats())
    except Exception:  # a half-landed compiler must not stop the benchmark
        return None


def stats_delta(before, after):
    if before is None or after is None:
        return None
    return {k: after.get(k, 0) - before.get(k, 0) for k in STAT_KEYS
            if k in before or k in after}


def hybrid_mode(delta) -> str:
    """'compiled' only when every timed call ran compiled code."""
    if delta and delta.get("interpreted_calls", 1) == 0 and delta.get("compiled_calls", 0) > 0:
        return "compiled"
    return "interp"


def first_hybrid_call(mg, make, nd_inputs):
    """A fresh hybridized block, its first call timed (trace + compile + run)."""
    block = make()
    block.hybridize()
    before = jit_stats(mg)
    t0 = time.perf_counter()
    out = block(*nd_inputs)
    elapsed = time.perf_counter() - t0
    return block, out, elapsed, stats_delta(before, jit_stats(mg))


# =======================================================================================
# Child process: first hybridized call per loss with whatever MINIGLUON_CACHE_DIR holds
# =======================================================================================


def warm_up_jit(mg) -> None:
    """Run one tiny hybridized graph (pays LLVM's one-off initialization)."""
    warm = mg.gluon.loss.L2Loss()
    warm.hybridize()
    warm(mg.nd.array(np.ones((2, 3), np.float32)), mg.nd.array(np.zeros((2, 3), np.float32)))


def child_first_calls(losses: list[str], size: tuple[int, ...]) -> None:
    import minigluon as mg
    jit = jit_module(mg)
    # One tiny unrelated graph first, so process-wide start-up (LLVM initialization and
    # the like) is not charged to whichever loss happens to come first.
    warm_up_jit(mg)
    if jit is not None and callable(getattr(jit, "reset_stats", None)):
        jit.reset_stats()
    result = {}
    for name in losses:
        shape, _ = case_for(name, size)
        if shape is None:
            continue
        make, xs = make_case(name, shape)
        nds = [mg.nd.array(x) for x in xs]
        try:
            _, _, elapsed, delta = first_hybrid_call(mg, make, nds)
            result[name] = {"first": elapsed, "stats": delta}
        except Exception as e:  # report, don't die
            result[name] = {"error": f"{type(e).__name__}: {e}"}
    print(CHILD_MARK + json.dumps(result), flush=True)


def run_children(losses: list[str], size: tuple[int, ...], threads: int):
    """Two fresh processes sharing one fresh MINIGLUON_CACHE_DIR: (cold, warm) results."""
    cache = tempfile.mkdtemp(prefix="minigluon-bench-cache-")
    env = dict(os.environ, MINIGLUON_CACHE_DIR=cache)
    cmd = [sys.executable, os.path.abspath(__file__), "--child-first-call",
           "--losses", ",".join(losses), "--sizes", size_label(size), "--threads", str(threads)]
    runs = []
    try:
        for _ in range(2):
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            except subprocess.TimeoutExpired:
                runs.append({"_error": "timed out"})
                continue
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_MARK)]
            if proc.returncode != 0 or not lines:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                runs.append({"_error": f"exit {proc.returncode}: {tail[0]}"})
                continue
            runs.append(json.loads(lines[-1][len(CHILD_MARK):]))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return runs


# =======================================================================================
# Tables
# =======================================================================================


def render_text(headers, rows, right_from: int) -> str:
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i >= right_from else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def render_markdown(headers, rows, right_from: int) -> str:
    def esc(c):
        return str(c).replace("|", "\\|")
    out = ["| " + " | ".join(esc(h) for h in headers) + " |",
           "|" + "|".join("---:" if i >= right_from else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# =======================================================================================
# Machine
# =======================================================================================


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_lines(mg, threads, jit_present, imported) -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    vers = ", ".join(f"{d} {version_of(d)}" + (" (not imported)" if imported.get(d) is False
                                                 and version_of(d) != "not installed" else "")
                     for d in ("numpy", "torch", "jax", "jaxlib", "llvmlite"))
    jit_env = os.environ.get("MINIGLUON_JIT")
    return [
        f"CPU: {cpu_model()}; {os.cpu_count()} logical cores ({usable} usable); "
        f"threads: {threads}",
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}; "
        f"minigluon {getattr(mg, '__version__', '?')}; {vers}",
        "minigluon JIT: " + ("mg.jit present" if jit_present else "absent (hybridized = "
                             "graph interpreter)")
        + (f"; MINIGLUON_JIT={jit_env}" if jit_env is not None else ""),
    ]


# =======================================================================================
# Main benchmark
# =======================================================================================


def check(tag, got, ref, warnings_out, where, what="output", against="the numpy formula",
          atol=ATOL):
    """got against a reference within rtol RTOL; a mismatch is printed and collected."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        msg = f"{where}: {tag} {what} shape {got.shape} != {ref.shape} of {against}"
    elif np.allclose(got, ref, rtol=RTOL, atol=atol, equal_nan=True):
        return True
    else:
        err = np.abs(got - ref) / np.maximum(np.abs(ref), atol)
        msg = (f"{where}: {tag} {what} differs from {against} beyond rtol {RTOL:g} "
               f"(max rel err {np.nanmax(err):.3g})")
    warnings_out.append(msg)
    print(f"WARNING: {msg}", flush=True)
    return False


def load_peers(threads, want_torch, want_jax):
    torch = jax = None
    if want_torch:
        try:
            import torch
            torch.set_num_threads(threads)
            try:
                torch.set_num_interop_threads(threads)
            except RuntimeError:
                pass
        except Exception:
            torch = None
    if want_jax:
        try:
            import jax
            import jax.numpy  # noqa: F401
        except Exception:
            jax = None
    return torch, jax


def warm_peers(torch, jax, log):
    """Pay one-off library start-up (inductor's import, XLA's client) outside the table."""
    if torch is not None:
        t0 = time.perf_counter()
        try:
            torch.compile(lambda x: x * 2 + 1)(torch.ones(8))
            log(f"torch.compile start-up: {time.perf_counter() - t0:.1f} s (not in the table)")
        except Exception as e:
            log(f"torch.compile unusable ({type(e).__name__}: {e}); its column will be '{DASH}'")
            return False
    if jax is not None:
        jax.jit(lambda x: x * 2 + 1)(jax.numpy.ones(8)).block_until_ready()
    return True


def bench_case(name, shape, mg, torch, jax, tc_ok, opts, warns, log):
    """Every column for one loss at one shape."""
    where = f"{name} {size_label(shape)}"
    make, xs = make_case(name, shape)
    res = {}
    ref = numpy_formula(name)(*xs)
    nds = [mg.nd.array(x) for x in xs]

    def cell(key, fn):
        try:
            res[key], res[key + "_n"] = measure(fn, opts.budget, opts.repeat)
        except Exception as e:
            warns.append(f"{where}: {key} failed: {type(e).__name__}: {e}")
            print(f"WARNING: {warns[-1]}", flush=True)
            res[key] = None

    # numpy formula
    np_fn = numpy_formula(name)
    cell("numpy", lambda: np_fn(*xs))

    # minigluon eager
    try:
        eager = make()
        check("minigluon eager", eager(*nds).asnumpy(), ref, warns, where)
        cell("eager", lambda: eager(*nds))
    except Exception as e:
        warns.append(f"{where}: minigluon eager failed: {type(e).__name__}: {e}")
        print(f"WARNING: {warns[-1]}", flush=True)
        res["eager"] = None

    # minigluon hybridized: first call = trace (+ compile); then timed calls
    try:
        block, out, res["first"], res["first_stats"] = first_hybrid_call(mg, make, nds)
        check("minigluon hybridized", out.asnumpy(), ref, warns, where)
        before = jit_stats(mg)
        cell("hybrid", lambda: block(*nds))
        res["hybrid_stats"] = stats_delta(before, jit_stats(mg))
        res["mode"] = hybrid_mode(res["hybrid_stats"])
        if (res["first_stats"] or {}).get("compile_failures", 0) > 0:
            res["mode"] += " (compile failed)"
    except Exception as e:
        warns.append(f"{where}: minigluon hybridized failed: {type(e).__name__}: {e}")
        print(f"WARNING: {warns[-1]}", flush=True)
        res["hybrid"], res["mode"] = None, DASH

    # torch eager and torch.compile
    if torch is not None:
        tfn = TORCH_FNS[name]
        with torch.no_grad():
            ts = [torch.from_numpy(x) for x in xs]
            try:
                check("torch", tfn(*ts).numpy(), ref, warns, where)
                cell("torch", lambda: tfn(*ts))
            except Exception as e:
                warns.append(f"{where}: torch failed: {type(e).__name__}: {e}")
                print(f"WARNING: {warns[-1]}", flush=True)
            if tc_ok:
                try:
                    reset = getattr(getattr(torch, "_dynamo", None), "reset", None)
                    if reset is not None:
                        reset()  # compile for this shape alone (no dynamic-shape recompiles)
                    cfn = torch.compile(tfn)
                    t0 = time.perf_counter()
                    out = cfn(*ts)
                    res["tc_first"] = time.perf_counter() - t0
                    check("torch.compile", out.numpy(), ref, warns, where)
                    cell("tc", lambda: cfn(*ts))
                except Exception as e:
                    warns.append(f"{where}: torch.compile failed: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''}")
                    print(f"WARNING: {warns[-1]}", flush=True)
                    res["tc"] = None

    # jax.jit
    if jax is not None:
        jf = jax_formula(name, jax.numpy)
        if jf is not None:
            try:
                js = [jax.device_put(x) for x in xs]
                jfn = jax.jit(jf)
                t0 = time.perf_counter()
                out = jfn(*js).block_until_ready()
                res["jax_first"] = time.perf_counter() - t0
                check("jax.jit", np.asarray(out), ref, warns, where)
                cell("jax", lambda: jfn(*js).block_until_ready())
            except Exception as e:
                warns.append(f"{where}: jax.jit failed: {type(e).__name__}: {e}")
                print(f"WARNING: {warns[-1]}", flush=True)
                res["jax"] = None
    return res, xs


BACKWARD_DEFAULT_LOSSES = "L2Loss,SoftmaxCELoss,SigmoidBCELoss"
BACKWARD_DEFAULT_SIZE = "4096x1000"
GRAD_ATOL = 1e-8  # gradients at 4096x1000 are ~1/C: a loss-sized atol would hide errors


def check_grad(tag, got, ref, ref_tag, warnings_out, where):
    """A gradient against the reference gradient (torch eager's, else jax's)."""
    return check(tag, got, ref, warnings_out, where, what="gradient", against=f"{ref_tag}'s",
                 atol=GRAD_ATOL)


def bench_backward_case(name, shape, mg, torch, jax, tc_ok, opts, warns):
    """One forward + backward w.r.t. the first input (pred), every column, one loss/shape."""
    where = f"{name} {size_label(shape)} backward"
    make, xs = make_case(name, shape)
    res, grads = {}, {}   # grads: tag -> numpy gradient w.r.t. pred

    def cell(key, fn):
        try:
            res[key], res[key + "_n"] = measure(fn, opts.budget, opts.repeat)
        except Exception as e:
            warns.append(f"{where}: {key} failed: {type(e).__name__}: {e}")
            print(f"WARNING: {warns[-1]}", flush=True)
            res[key] = None

    def failed(tag, e, key):
        msg = str(e).splitlines()[0] if str(e) else ""
        warns.append(f"{where}: {tag} failed: {type(e).__name__}: {msg}")
        print(f"WARNING: {warns[-1]}", flush=True)
        res[key] = None

    # minigluon: pred gets attach_grad(); out.backward() writes d sum(out) / d pred
    def mg_step(block, pred, rest):
        with mg.autograd.record():
            out = block(pred, *rest)
        out.backward()
        return pred

    for key, tag, hybrid in (("eager", "minigluon eager", False),
                             ("hybrid", "minigluon hybridized", True)):
        try:
            block = make()
            if hybrid:
                block.hybridize()
            pred, rest = mg.nd.array(xs[0]), [mg.nd.array(x) for x in xs[1:]]
            pred.attach_grad()
            grads[tag] = mg_step(block, pred, rest).grad.asnumpy()  # hybrid: trace + compile
            before = jit_stats(mg)
            cell(key, lambda: mg_step(block, pred, rest))
            if hybrid:
                res["hybrid_stats"] = stats_delta(before, jit_stats(mg))
                res["mode"] = hybrid_mode(res["hybrid_stats"])
        except Exception as e:
            failed(tag, e, key)
            res.setdefault("mode", DASH)

    # torch eager: a leaf with requires_grad, grad set to None before each backward
    if torch is not None:
        tfn = TORCH_FNS[name]
        tp = torch.from_numpy(xs[0].copy()).requires_grad_(True)
        trest = [torch.from_numpy(x) for x in xs[1:]]

        def torch_step():
            tp.grad = None
            tfn(tp, *trest).sum().backward()
            return tp.grad

        try:
            grads["torch eager"] = torch_step().numpy().copy()
            cell("torch", torch_step)
        except Exception as e:
            failed("torch", e, "torch")
        # torch.compile: the compiled function returns loss.sum(); .backward() then runs
        # the backward graph AOTAutograd compiled alongside the forward
        if tc_ok:
            try:
                reset = getattr(getattr(torch, "_dynamo", None), "reset", None)
                if reset is not None:
                    reset()
                csum = torch.compile(lambda p, *r: tfn(p, *r).sum())

                def tc_step():
                    tp.grad = None
                    csum(tp, *trest).backward()
                    return tp.grad

                t0 = time.perf_counter()
                grads["torch.compile"] = tc_step().numpy().copy()
                res["tc_first"] = time.perf_counter() - t0
                cell("tc", tc_step)
            except Exception as e:
                failed("torch.compile", e, "tc")

    # jax.jit(jax.value_and_grad(sum of the loss)) w.r.t. pred
    if jax is not None:
        jf = jax_formula(name, jax.numpy)
        if jf is not None:
            try:
                js = [jax.device_put(x) for x in xs]
                vg = jax.jit(jax.value_and_grad(lambda p, *r: jf(p, *r).sum()))

                def jax_step():
                    return jax.block_until_ready(vg(*js))

                t0 = time.perf_counter()
                grads["jax.jit"] = np.asarray(jax_step()[1])
                res["jax_first"] = time.perf_counter() - t0
                cell("jax", jax_step)
            except Exception as e:
                failed("jax.jit", e, "jax")

    # gradient check against torch eager's gradient computed in float64 (torch's float32
    # CTC gradient is itself off by ~0.5% at 100 classes), else jax's
    if torch is not None and "torch eager" in grads:
        try:
            t64 = torch.from_numpy(xs[0].astype(np.float64)).requires_grad_(True)
            r64 = [torch.from_numpy(x.astype(np.float64) if x.dtype == np.float32 else x)
                   for x in xs[1:]]
            TORCH_FNS[name](t64, *r64).sum().backward()
            grads["torch eager float64"] = t64.grad.numpy()
        except Exception as e:
            failed("torch eager float64", e, "torch64")
    ref_tag = next((t for t in ("torch eager float64", "torch eager", "jax.jit") if t in grads),
                   None)
    res["grad_ref"] = ref_tag
    if ref_tag is not None:
        for tag, g in grads.items():
            if tag != ref_tag and not (tag.startswith("torch") and ref_tag.startswith("torch")):
                check_grad(tag, g, grads[ref_tag], ref_tag, warns, where)
    return res


def table_rows(results, sizes, losses, times, ratios):
    """(name, shape, result, table row) per size and loss: eager, hybrid and mode, the peers'
    times, then the hybrid time's ratio to each peer in ratios (r is None for n/a cells)."""
    for size in sizes:
        for name in losses:
            shape, note, r = results[(name, size)]
            if shape is None:
                width = 3 + len(times) + len(ratios)
                yield name, shape, None, [name, f"{size_label(size)}: n/a ({note})"] + [DASH] * width
                continue
            hyb = r.get("hybrid")
            yield name, shape, r, ([name, shape_label(name, shape, note), fmt_time(r.get("eager")),
                                   fmt_time(hyb), r.get("mode", DASH)]
                                  + [fmt_time(r.get(k)) for k in times]
                                  + [fmt_ratio(hyb, r.get(k)) for k in ratios])


def floor_time(a, b, repeat=50):
    """Min over repeats of one BLAS dot over both arrays: each element of both inputs read
    once, nothing written. A lower bound for any loss that must read both inputs."""
    x, y = a.ravel(), b.ravel()
    best = math.inf
    np.dot(x, y)
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.dot(x, y)
        best = min(best, time.perf_counter() - t0)
    return best


TORCH_FNS: dict = {}


def main(argv=None) -> int:
    from minigluon.examples import EXAMPLES
    ap = argparse.ArgumentParser(
        description="Benchmark minigluon's losses against numpy, torch, torch.compile, jax.jit.")
    ap.add_argument("--sizes", default=None,
                    help="comma list of NxC, AxBxC or 3d (=64x32x100); default 64x10,4096x1000,3d")
    ap.add_argument("--losses", default=None,
                    help="comma list of loss names; default all 14 of minigluon.examples.EXAMPLES")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed samples per cell (median reported); default adaptive, "
                         "at least 7, filling --budget")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed calls per cell when --repeat is not given (default 0.2)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for numpy's BLAS, OpenMP, torch (default 2)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 3 losses, 64x10 and 512x100, short budget")
    ap.add_argument("--no-torch", action="store_true", help="skip torch and torch.compile")
    ap.add_argument("--no-jax", action="store_true", help="skip jax.jit")
    ap.add_argument("--no-subprocess", action="store_true",
                    help="skip the two fresh processes measuring disk-cache compile time")
    ap.add_argument("--backward", action="store_true",
                    help="also time one forward + backward w.r.t. pred (off by default: it adds "
                         "a minute or more, mostly torch.compile building backward graphs)")
    ap.add_argument("--backward-losses", default=None,
                    help=f"comma list of losses for --backward; default {BACKWARD_DEFAULT_LOSSES}")
    ap.add_argument("--child-first-call", action="store_true", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    opts.threads = THREADS

    default_sizes = "64x10,512x100" if opts.quick else "64x10,4096x1000,3d"
    default_losses = "L2Loss,SoftmaxCELoss,CTCLoss" if opts.quick else ",".join(EXAMPLES)
    sizes = [parse_size(s) for s in (opts.sizes or default_sizes).split(",") if s.strip()]
    losses = [s.strip() for s in (opts.losses or default_losses).split(",") if s.strip()]
    unknown = [n for n in losses if n not in EXAMPLES]
    if unknown:
        ap.error(f"unknown loss {', '.join(unknown)}; choose from {', '.join(EXAMPLES)}")
    if opts.budget is None:
        opts.budget = 0.05 if opts.quick else 0.2
    # --backward: its own losses; --sizes if given, else one large size
    opts.backward_losses = [s.strip() for s in (opts.backward_losses or BACKWARD_DEFAULT_LOSSES)
                            .split(",") if s.strip()]
    unknown = [n for n in opts.backward_losses if n not in EXAMPLES]
    if unknown:
        ap.error(f"unknown --backward-losses {', '.join(unknown)}; "
                 f"choose from {', '.join(EXAMPLES)}")
    opts.backward_sizes = sizes if opts.sizes else [
        parse_size("512x100" if opts.quick else BACKWARD_DEFAULT_SIZE)]

    if opts.child_first_call:
        child_first_calls(losses, sizes[0])
        return 0

    # A fresh on-disk kernel cache for this process: first calls compile from scratch.
    own_cache = tempfile.mkdtemp(prefix="minigluon-bench-cache-")
    os.environ["MINIGLUON_CACHE_DIR"] = own_cache
    try:
        return run(opts, sizes, losses)
    finally:
        shutil.rmtree(own_cache, ignore_errors=True)


def run(opts, sizes, losses) -> int:
    import minigluon as mg
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    torch, jax = load_peers(opts.threads, not opts.no_torch, not opts.no_jax)
    jit_present = jit_module(mg) is not None
    machine = machine_lines(mg, opts.threads, jit_present,
                            {"torch": torch is not None, "jax": jax is not None})
    if load is not None:
        machine.append(f"Load average before the run: {load:.2f} on {os.cpu_count()} cores")
    for line in machine:
        print(line)
    print(flush=True)

    if torch is not None:
        TORCH_FNS.update(torch_formulas(torch))
    tc_ok = warm_peers(torch, jax, log)
    warm_up_jit(mg)  # LLVM start-up is not any loss's first call

    warns: list[str] = []
    if load is not None and load > 0.5:
        warns.append(f"load average {load:.2f} before the run: other processes are using the "
                     f"CPU, so timings (multi-threaded ones most) are noisy")
        print(f"WARNING: {warns[-1]}", flush=True)
    results = {}   # (name, size) -> (shape, note, res)
    floor = None
    total = len(sizes) * len(losses)
    k = 0
    for size in sizes:
        for name in losses:
            k += 1
            shape, note = case_for(name, size)
            if shape is None:
                results[(name, size)] = (None, note, {})
                continue
            log(f"[{k}/{total}] {name} {shape_label(name, shape, note)}")
            res, xs = bench_case(name, shape, mg, torch, jax, tc_ok, opts, warns, log)
            results[(name, size)] = (shape, note, res)
            if name == "L2Loss" and len(shape) == 2 and (
                    floor is None or math.prod(shape) > math.prod(floor[0])):
                floor = (shape, floor_time(xs[0], xs[1]), xs[0].nbytes + xs[1].nbytes)

    bw_results = {}   # (name, size) -> (shape, note, res)
    if opts.backward:
        bw_total = len(opts.backward_sizes) * len(opts.backward_losses)
        k = 0
        for size in opts.backward_sizes:
            for name in opts.backward_losses:
                k += 1
                shape, note = case_for(name, size)
                if shape is None:
                    bw_results[(name, size)] = (None, note, {})
                    continue
                log(f"[backward {k}/{bw_total}] {name} {shape_label(name, shape, note)}")
                res = bench_backward_case(name, shape, mg, torch, jax, tc_ok, opts, warns)
                bw_results[(name, size)] = (shape, note, res)

    # ---- main table --------------------------------------------------------------------
    headers = ["loss", "shape", "mg eager", "mg hybrid", "hybrid ran", "numpy", "torch",
               "torch.compile", "jax.jit", "mg/tc", "mg/jax", "mg/np"]
    rows = []
    for name, shape, r, row in table_rows(results, sizes, losses, ("numpy", "torch", "tc", "jax"),
                                          ("tc", "jax", "numpy")):
        rows.append(row)
        if r is not None and floor is not None and name == "L2Loss" and shape == floor[0]:
            rows.append(["L2Loss floor", size_label(shape) + " read once", DASH, DASH, DASH,
                         fmt_time(floor[1]), DASH, DASH, DASH, DASH, DASH,
                         fmt_ratio(r.get("hybrid"), floor[1])])

    # ---- forward + backward table --------------------------------------------------------
    b_headers = ["loss", "shape", "mg eager", "mg hybrid", "hybrid ran", "torch",
                 "torch.compile", "jax.jit", "mg/tc", "mg/jax"]
    b_rows = [row for *_, row in table_rows(
        bw_results, opts.backward_sizes if opts.backward else [], opts.backward_losses,
        ("torch", "tc", "jax"), ("tc", "jax"))]

    # ---- first-call table ----------------------------------------------------------------
    first_size = max((s for s in sizes if len(s) == 2), key=math.prod, default=sizes[0])
    children = []
    if not opts.no_subprocess:
        log(f"first calls in two fresh processes at {size_label(first_size)} ...")
        children = run_children([n for n in losses if case_for(n, first_size)[0] is not None],
                                first_size, opts.threads)
    f_headers = ["loss", "shape", "first call", "kernels", "compile s",
                 "new proc, cold cache", "new proc, warm cache", "warm kernels",
                 "torch.compile 1st", "jax.jit 1st"]
    f_rows = []

    def stat(d, key, fmt="{}"):
        if not d or key not in d:
            return DASH
        return fmt.format(d[key])

    for name in losses:
        shape, note, r = results[(name, first_size)]
        if shape is None:
            continue
        child = []
        for run_ in children:
            c = run_.get(name, {}) if "_error" not in run_ else {}
            child.append(c)
        while len(child) < 2:
            child.append({})
        f_rows.append([name, shape_label(name, shape, note), fmt_time(r.get("first")),
                       stat(r.get("first_stats"), "kernels_compiled"),
                       stat(r.get("first_stats"), "compile_seconds", "{:.3f}"),
                       fmt_time(child[0].get("first")), fmt_time(child[1].get("first")),
                       stat(child[1].get("stats"), "kernels_compiled"),
                       fmt_time(r.get("tc_first")), fmt_time(r.get("jax_first"))])
    for run_ in children:
        if "_error" in run_:
            warns.append(f"first-call subprocess: {run_['_error']}")
        for name, c in run_.items():
            if isinstance(c, dict) and "error" in c:
                warns.append(f"first-call subprocess, {name}: {c['error']}")

    # ---- notes -------------------------------------------------------------------------
    notes = [
        "Times are medians per call (time.perf_counter, warmed up, calls grouped so a sample "
        "lasts >= 1 ms), float32, inputs prepared once outside the timed call.",
        "'hybrid ran' = 'compiled' only if mg.jit.stats() counted the timed calls as compiled "
        "and none as interpreted; otherwise 'interp' (graph interpreter).",
        "Ratios use the 'mg hybrid' column: mg/tc = minigluon hybridized / torch.compile, "
        "mg/jax = / jax.jit, mg/np = / the numpy formula (below 1: minigluon is faster).",
        f"CTCLoss runs at (N, T, C) = (batch, frames, classes) with T = max(C, 4) for NxC sizes; "
        f"capped to at most {CTC_CAP:,} activations. jax has no CTC formulation here ({DASH}).",
        f"SDMLLoss eager builds an (N, N, C) temporary: capped to N <= {SDML_MAX_BATCH} and "
        f"N*N*C <= {SDML_CAP:,}. Its numpy/torch/jax formulas use |a|^2+|b|^2-2a.b (one matmul).",
        "SDMLLoss and CosineEmbeddingLoss are 2-D only (n/a at 3-D sizes).",
    ]
    if floor is not None:
        shape, t, nbytes = floor
        notes.append(
            f"L2Loss floor: min over 50 repeats of np.dot(pred.ravel(), label.ravel()) at "
            f"{size_label(shape)}: one pass reading both inputs ({fmt_bytes(nbytes)}), nothing "
            f"written; {nbytes / t / 1e9:.1f} GB/s. Its mg/np cell is mg hybrid / floor.")
    if opts.backward:
        refs = sorted({r.get("grad_ref") or "none" for _, _, r in bw_results.values() if r})
        notes.append(
            "Forward + backward: one call = loss forward + gradient of the loss's sum w.r.t. "
            "pred (the first input). mg: pred.attach_grad(); with autograd.record(): "
            "out = block(pred, ...); out.backward() ('mg hybrid': forward and backward graphs "
            "compiled, 2 jit calls per step; 'hybrid ran' as above). torch: leaf pred with "
            "requires_grad, grad = None, loss.sum().backward(). torch.compile: compiled "
            "p -> loss(p, ...).sum(), then .backward() (AOTAutograd's compiled backward). "
            "jax.jit: jax.jit(jax.value_and_grad(lambda p: loss(p, ...).sum())). "
            f"Ratios use 'mg hybrid'. Gradients checked against {', '.join(refs)} "
            f"(rtol {RTOL:g}, atol {GRAD_ATOL:g}).")
    notes.append(
        f"First calls at {size_label(first_size)}: 'first call' = a fresh hybridized block's first "
        "call in this process (trace + compile + run; fresh MINIGLUON_CACHE_DIR); 'kernels' and "
        "'compile s' are mg.jit.stats() deltas of that call. " + (
            "'new proc' columns: skipped (--no-subprocess)." if opts.no_subprocess else
            "'new proc' columns: the same in two fresh processes sharing one fresh "
            "MINIGLUON_CACHE_DIR (a tiny warm-up graph runs first in each); the second one's "
            "time is the warm-disk-cache compile time, 'warm kernels' what it still had to "
            "compile."))

    # ---- output ------------------------------------------------------------------------
    print("Per-call time")
    print(render_text(headers, rows, right_from=2))
    print()
    cpu = time.process_time()
    wall = time.perf_counter() - started
    if opts.backward:
        print("Forward + backward per call")
        print(render_text(b_headers, b_rows, right_from=2))
        print()
    print(f"First hybridized call at {size_label(first_size)}")
    print(render_text(f_headers, f_rows, right_from=2))
    print()
    notes.append(f"Whole run: {wall:.0f} s wall, {cpu:.0f} s CPU in this process.")
    for n in notes:
        print(f"- {n}")
    print()
    if warns:
        print(f"{len(warns)} warning(s):")
        for w in warns:
            print(f"  WARNING: {w}")
    else:
        print("All outputs match the numpy formulas (rtol 1e-3)"
              + ("; all gradients match the reference gradient." if opts.backward else "."))
    log("done")

    if opts.markdown:
        md = ["## Loss benchmark", "", *[f"{ln}  " for ln in machine], "",
              "Per-call time:", "", render_markdown(headers, rows, right_from=2), "",
              *(["Forward + backward per call:", "",
                 render_markdown(b_headers, b_rows, right_from=2), ""] if opts.backward else []),
              f"First hybridized call at {size_label(first_size)}:", "",
              render_markdown(f_headers, f_rows, right_from=2), "",
              *[f"- {n}" for n in notes], ""]
        if warns:
            md += ["Warnings:", "", *[f"- {w}" for w in warns], ""]
        with open(opts.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(md))
        print(f"Markdown written to {opts.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
