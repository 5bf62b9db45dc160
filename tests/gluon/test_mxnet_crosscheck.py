"""Optional: minigluon's exports of every loss, loaded and run by real MXNet 1.9.1.

MXNet 1.9.1 needs numpy < 1.24, so it lives in its own virtual environment:

    python3 -m venv /tmp/mxvenv && /tmp/mxvenv/bin/pip install "numpy<1.24" mxnet==1.9.1

and is found through ``MINIGLUON_MXNET_PYTHON`` (default ``/tmp/mxvenv/bin/python``).
Without it this test is skipped.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon.examples import EXAMPLES, example

RUNNER = Path(__file__).parent.parent / "tools" / "mxnet_runner.py"


def _mxnet_python():
    exe = os.environ.get("MINIGLUON_MXNET_PYTHON", "/tmp/mxvenv/bin/python")
    if not Path(exe).exists():
        return None
    probe = subprocess.run([exe, "-c", "import mxnet; print(mxnet.__version__)"],
                           capture_output=True, text=True, timeout=120)
    return exe if probe.returncode == 0 and probe.stdout.strip() == "1.9.1" else None


def test_mxnet_runs_minigluon_exports_of_every_loss(tmp_path):
    exe = _mxnet_python()
    if exe is None:
        pytest.skip("MXNet 1.9.1 is not installed (set MINIGLUON_MXNET_PYTHON)")
    cases, expected = [], {}
    for name in sorted(EXAMPLES):
        block, arrays = example(name, 6, 5, seed=8)
        block.hybridize()
        inputs = [mg.nd.array(a, dtype=a.dtype) for a in arrays]
        expected[name] = block(*inputs).asnumpy()
        sym_file, params_file = block.export(str(tmp_path / name))
        np.savez(tmp_path / f"{name}-in.npz", **{f"data{k}": a for k, a in enumerate(arrays)})
        cases.append({"symbol": sym_file, "params": params_file,
                      "inputs": str(tmp_path / f"{name}-in.npz"),
                      "outputs": str(tmp_path / f"{name}-out.npz")})
    # and a graph with parameters: our .params file read by MXNet's loader
    x, w, b = mg.sym.var("x"), mg.sym.var("w"), mg.sym.var("b")
    block = mg.gluon.SymbolBlock(mg.sym.broadcast_add(mg.sym.broadcast_mul(x, w), b), x)
    block.collect_params()["w"].set_data(mg.nd.array([[2.0, -3.0, 0.5]]))
    block.collect_params()["b"].set_data(mg.nd.array([0.25]))
    block.hybridize()
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected["affine"] = block(mg.nd.array(data)).asnumpy()
    sym_file, params_file = block.export(str(tmp_path / "affine"))
    np.savez(tmp_path / "affine-in.npz", data=data)  # a lone input is "data", as in MXNet 1.9.1
    cases.append({"symbol": sym_file, "params": params_file, "inputs": str(tmp_path / "affine-in.npz"),
                  "outputs": str(tmp_path / "affine-out.npz")})
    (tmp_path / "manifest.json").write_text(json.dumps(cases))
    run = subprocess.run([exe, str(RUNNER), str(tmp_path / "manifest.json")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    refused = {}
    assert len(results) == len(cases)
    for name, res in zip(sorted(EXAMPLES) + ["affine"], results):
        if not res["ok"]:
            refused[name] = res["error"]
            continue
        got = np.load(tmp_path / f"{name}-out.npz")["out0"]
        np.testing.assert_allclose(got, expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    print(f"MXNet 1.9.1 accepted {len(cases) - len(refused)} of {len(cases)} exports",
          file=sys.stderr)
    assert refused == {}, refused
