"""The ``minigluon`` command: ``demo`` runs every loss eager and hybridized (compiled) side
by side; ``explain LOSS`` (or ``explain SYMBOL.json --input ...``) prints each compiler stage;
``run SYMBOL.json`` runs an exported graph (MXNet's or minigluon's) compiled on ``.npy``
inputs."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .. import jit, nd
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
    print(f"{'loss':<22}{'output':>10}{'eager µs':>11}{'hybrid µs':>11}{'runs on':>10}"
          f"{'compile ms':>12}{'max |diff|':>12}")
    worst = 0.0
    for name in EXAMPLES:
        block, arrays = example(name, batch, classes)
        inputs = [nd.array(a) for a in arrays]
        eager = block(*inputs).asnumpy()
        t_eager = _per_call_us(lambda b=block, x=inputs: b(*x))
        block.hybridize()
        jit.reset_stats()
        hybrid = block(*inputs).asnumpy()
        compile_ms = jit.stats()["compile_seconds"] * 1e3
        t_hybrid = _per_call_us(lambda b=block, x=inputs: b(*x))
        runs_on = "interp" if jit.stats()["interpreted_calls"] else "native"
        diff = float(np.nanmax(np.abs(eager - hybrid) / np.maximum(1, np.abs(eager))))
        worst = max(worst, diff)
        shape = "x".join(map(str, hybrid.shape))
        print(f"{name:<22}{shape:>10}{t_eager:>11.1f}{t_hybrid:>11.1f}{runs_on:>10}"
              f"{compile_ms:>12.1f}{diff:>12.2e}")
    block, arrays = example("SoftmaxCELoss", batch, classes)
    block.hybridize()
    print("\nThe graph SoftmaxCELoss traces (F = sym), one line per node:\n")
    print(block.cached_graph(*[nd.array(a) for a in arrays]).debug_str())
    print("\n`minigluon explain SoftmaxCELoss` shows how it becomes one fused native kernel.")
    if worst > 1e-5:
        print(f"\neager and hybridized outputs differ by {worst:.2e}", file=sys.stderr)
        return 1
    print("\neager and hybridized outputs agree for every loss.")
    return 0


def explain(args: argparse.Namespace) -> int:
    if args.loss.endswith(".json"):  # an exported graph, on the given inputs
        block, arrays = _imported(args.loss, args.params, args.input)
    elif args.loss not in EXAMPLES:
        print(f"unknown loss {args.loss!r}; choose from {', '.join(EXAMPLES)}, or give a "
              f"SYMBOL.json with --input NAME=FILE.npy", file=sys.stderr)
        return 2
    else:
        block, arrays = example(args.loss, args.batch, args.classes)
        arrays = [nd.array(a) for a in arrays]
    block.hybridize()
    text = block.explain(*arrays)
    if args.stage:
        parts = text.split("\n== ")
        keep = [p for p in parts if p.lower().startswith(args.stage.lower())]
        if not keep:
            print(f"no stage {args.stage!r}; stages: traced, "
                  + ", ".join(p.split(" ==")[0] for p in parts[1:]), file=sys.stderr)
            return 2
        text = "\n== ".join([""] + keep).lstrip("\n")
    print(text)
    return 0


def _imported(symbol: str, params: str | None, inputs: list[str]):
    """A SymbolBlock for an exported graph and its inputs from NAME=FILE.npy arguments."""
    from ..gluon import SymbolBlock
    names, arrays = [], []
    for item in inputs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--input {item!r}: expected NAME=FILE.npy, e.g. data0=x.npy")
        if name in names:
            raise ValueError(f"--input {name!r} is given twice")
        names.append(name)
        arrays.append(np.load(path, allow_pickle=False))  # data only, never pickled code
    block = SymbolBlock.imports(symbol, names, params)
    return block, [nd.array(a, dtype=a.dtype) for a in arrays]


def _summary(k: int, out: np.ndarray) -> str:
    flat = out.reshape(-1)
    head = np.array2string(flat[:6], precision=6, separator=", ")
    more = f" ... ({flat.size} values)" if flat.size > 6 else ""
    return f"output {k}: {out.dtype}{list(out.shape)} {head}{more}"


def run(args: argparse.Namespace) -> int:
    block, arrays = _imported(args.symbol, args.params, args.input)
    if not args.eager:
        block.hybridize()
    jit.reset_stats()
    out = block(*arrays)
    outs = [o.asnumpy() for o in (out if isinstance(out, list) else [out])]
    st = jit.stats()
    how = "eagerly (numpy)" if args.eager else (
        "on the numpy interpreter" if st["interpreted_calls"] else
        f"compiled ({st['kernels_compiled']} kernels built in {st['compile_seconds'] * 1e3:.0f} ms"
        f"{', from the cache' if st['cache_hits'] else ''})")
    print(f"{args.symbol}: ran {how}")
    for k, o in enumerate(outs):
        print(_summary(k, o))
    if args.output:
        if len(outs) == 1:
            np.save(args.output, outs[0])
        else:
            np.savez(args.output, **{f"out{k}": o for k, o in enumerate(outs)})
        print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minigluon", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run every loss eager and hybridized and show a traced graph")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.set_defaults(func=demo)
    p = sub.add_parser("explain", help="print every compiler stage for one loss: traced graph, "
                                       "passes, schedule, LLVM IR")
    p.add_argument("loss", help="a loss class name, e.g. SoftmaxCELoss, or an exported "
                                "SYMBOL.json (then give --input, and --params if it has any)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--stage", help="print only the stages whose title starts with this, "
                                   "e.g. 'after fuse', 'schedule', 'LLVM IR (optimized'")
    p.add_argument("--params", help="the .params file of an exported graph")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an exported graph's input and the .npy file holding it (repeat)")
    p.set_defaults(func=explain)
    p = sub.add_parser("run", help="run an exported graph (SYMBOL.json + params) compiled")
    p.add_argument("symbol", help="a *-symbol.json file (MXNet 1.x graph JSON)")
    p.add_argument("--params", help="its .params file (MXNet NDArray-list format)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="a graph input and the .npy file holding it (repeat, in call order)")
    p.add_argument("--output", help="save the output to this .npy file (.npz if several)")
    p.add_argument("--eager", action="store_true", help="run op by op instead of compiled")
    p.set_defaults(func=run)
    for p in sub.choices.values():
        p.add_argument("--traceback", action="store_true",
                       help="on an error, show Python's traceback instead of one line")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # a file from anywhere must end in one clear line, never a traceback
        if args.traceback:
            raise
        print(f"minigluon {args.command}: {_one_line(e)}", file=sys.stderr)
        return 2


def _one_line(e: Exception) -> str:
    """What went wrong, on one line: the message of an error in the input (a bad graph,
    file or value), or, for anything else, the exception type as well, since it is a bug."""
    from ..base import MXNetError
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, (MXNetError, ValueError, TypeError, OSError, ArithmeticError, MemoryError)):
        return text
    return f"internal error ({type(e).__name__}: {text}); rerun with --traceback to see where"


if __name__ == "__main__":
    sys.exit(main())
