"""``minigluon demo``: every loss eager and hybridized, side by side, and one traced graph."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .. import nd
from ..examples import EXAMPLES, example


def _per_call_us(fn, repeat: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def demo(args: argparse.Namespace) -> int:
    batch, classes = args.batch, args.classes
    print(f"minigluon demo: every Gluon loss on {batch}x{classes} float32 inputs\n")
    print(f"{'loss':<22}{'output':>12}{'eager µs':>11}{'hybrid µs':>11}{'max |diff|':>12}")
    worst = 0.0
    for name in EXAMPLES:
        block, arrays = example(name, batch, classes)
        inputs = [nd.array(a) for a in arrays]
        eager = block(*inputs).asnumpy()
        t_eager = _per_call_us(lambda b=block, x=inputs: b(*x))
        block.hybridize()
        hybrid = block(*inputs).asnumpy()
        t_hybrid = _per_call_us(lambda b=block, x=inputs: b(*x))
        diff = float(np.max(np.abs(eager - hybrid)))
        worst = max(worst, diff)
        shape = "x".join(map(str, hybrid.shape))
        print(f"{name:<22}{shape:>12}{t_eager:>11.0f}{t_hybrid:>11.0f}{diff:>12.2e}")
    block, arrays = example("SoftmaxCELoss", batch, classes)
    block.hybridize()
    print("\nThe graph SoftmaxCELoss traces (F = sym), one line per node:\n")
    print(block.cached_graph(*[nd.array(a) for a in arrays]).debug_str())
    if worst > 1e-5:
        print(f"\neager and hybridized outputs differ by {worst:.2e}", file=sys.stderr)
        return 1
    print("\neager and hybridized outputs agree for every loss.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minigluon", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run every loss eager and hybridized and show a traced graph")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
