#!/usr/bin/env python
"""Time a compiled Convolution + bias + relu both ways the compiler can run it: the direct
loop (the registry's loop-IR lowering) and im2col + BLAS (``_convolution_gemm``, the bias
and relu fused into one loop after it), on LeNet's and a ResNet layer's shapes.  The
numbers decide ``minigluon.ops.conv.gemm_wins`` (docs/performance.md, "Convolution").
Both forms are checked against the numpy reference before anything is timed.

    python bench/bench_conv.py                # all shapes, 2 threads
    python bench/bench_conv.py --quick        # the LeNet shapes only
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# bench_losses fixes the thread count before numpy loads and puts this checkout first
from bench_losses import THREADS, fmt_time, measure  # noqa: E402

# isort: split
import numpy as np  # noqa: E402

# name -> (data shape, num_filter, kernel, pad)
SHAPES = {
    "LeNet conv1 (64x1x28x28, 20 5x5)": ((64, 1, 28, 28), 20, (5, 5), (0, 0)),
    "LeNet conv2 (64x20x12x12, 50 5x5)": ((64, 20, 12, 12), 50, (5, 5), (0, 0)),
    "ResNet 3x3 (1x64x56x56, 64)": ((1, 64, 56, 56), 64, (3, 3), (1, 1)),
    "ResNet 3x3 (32x64x56x56, 64)": ((32, 64, 56, 56), 64, (3, 3), (1, 1)),
}


def compiled(form: str, dshape, nf, kernel, pad):
    """An executable of relu(conv(x, w) + b) forced to one form."""
    import minigluon as mg
    from minigluon.compiler import conv_rewrite, pipeline

    sym = mg.sym
    x = sym.var("x", shape=dshape)
    w = sym.var("w", shape=(nf, dshape[1]) + kernel)
    b = sym.var("b", shape=(nf,))
    y = sym.relu(sym.Convolution(x, w, b, kernel=kernel, pad=pad, num_filter=nf))
    saved = conv_rewrite.gemm_wins
    conv_rewrite.gemm_wins = lambda *a: form == "gemm"
    pipeline._MEMORY.clear()  # the two forms share one graph text: never reuse the other
    try:
        exe = pipeline.compile_graph(y, ["x", "w", "b"])
    finally:
        conv_rewrite.gemm_wins = saved
        pipeline._MEMORY.clear()
    blas = sum(1 for s in exe.schedule.steps if s.kind == "external")
    assert blas == (1 if form == "gemm" else 0), exe.schedule.format()
    assert not exe.interpreted
    return exe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)  # read by bench_losses on import
    ap.add_argument("--budget", type=float, default=1.0)
    args = ap.parse_args()
    os.environ["MINIGLUON_CACHE_MAX_BYTES"] = "0"  # forced forms must not enter the disk cache
    from minigluon.ops.conv import conv_forward

    rng = np.random.default_rng(0)
    print(f"threads: {THREADS}")
    print("| shape | direct loop | im2col + BLAS | direct/BLAS |")
    print("|---|---:|---:|---:|")
    for name, (dshape, nf, kernel, pad) in SHAPES.items():
        if args.quick and "LeNet" not in name:
            continue
        x = rng.uniform(-1, 1, dshape).astype(np.float32)
        w = rng.uniform(-0.1, 0.1, (nf, dshape[1]) + kernel).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, (nf,)).astype(np.float32)
        want = conv_forward(x, w, kernel, (1, 1), (1, 1), pad, 1) + b.reshape(1, -1, 1, 1)
        want = np.maximum(want, 0)
        times = []
        for form in ("direct", "gemm"):
            exe = compiled(form, dshape, nf, kernel, pad)
            got = exe.run([x, w, b])[0]
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
            times.append(measure(lambda: exe.run([x, w, b]), args.budget, None,
                                 min_samples=3)[0])
        print(f"| {name} | {fmt_time(times[0])} | {fmt_time(times[1])} | "
              f"{times[0] / times[1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
