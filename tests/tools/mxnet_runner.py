"""Run exported graphs in Apache MXNet 1.9.1 (started with the python of a virtual
environment that has mxnet; minigluon's tests never import mxnet themselves).

usage: python mxnet_runner.py MANIFEST.json

The manifest lists cases ``{"symbol", "params", "inputs", "outputs"}``: ``inputs`` is an
.npz whose keys are the graph's input names (data0, data1, ...), ``outputs`` the .npz to
write (out0, out1, ...).  Each case's result is printed as one JSON line
``{"case": i, "ok": bool, "error": str}``; a failing case does not stop the others.
"""
import json
import re
import sys
import warnings


def _natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def run_case(mx, np, case):
    with np.load(case["inputs"]) as z:
        names = sorted(z.files, key=_natural)
        arrays = [z[n] for n in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        block = mx.gluon.SymbolBlock.imports(case["symbol"], names, case["params"], ctx=mx.cpu())
    out = block(*[mx.nd.array(a, dtype=a.dtype, ctx=mx.cpu()) for a in arrays])
    outs = [out] if isinstance(out, mx.nd.NDArray) else list(out)
    np.savez(case["outputs"], **{f"out{k}": o.asnumpy() for k, o in enumerate(outs)})


def main(argv):
    import mxnet as mx
    import numpy as np
    with open(argv[1]) as f:
        cases = json.load(f)
    for i, case in enumerate(cases):
        try:
            run_case(mx, np, case)
            print(json.dumps({"case": i, "ok": True, "error": ""}), flush=True)
        except Exception as e:  # report MXNet's refusal as data
            print(json.dumps({"case": i, "ok": False, "error": f"{type(e).__name__}: {e}"[:2000]}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
