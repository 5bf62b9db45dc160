"""Optional: exported Dense and Flatten layers loaded and run by real MXNet 1.9.1 (skipped
without it; see tests/gluon/test_mxnet_crosscheck.py for the environment)."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from tests.gluon.test_mxnet_crosscheck import RUNNER, _mxnet_python

nn = mg.gluon.nn
LAYERS = {
    "dense_relu": (lambda: nn.Dense(3, activation="relu", in_units=8, prefix="a_"), (4, 2, 4)),
    "dense_last_axis_no_bias": (lambda: nn.Dense(3, use_bias=False, flatten=False, in_units=4,
                                                 prefix="b_"), (2, 3, 4)),
    "flatten": (nn.Flatten, (2, 3, 2)),
    "activations": (lambda: _activations(), (2, 3, 2)),
}


def _activations():
    """The activation layers over the LeakyReLU op, one after the other (not GELU: it has
    no compiled form yet, and this suite's strict mode refuses the interpreter)."""
    net = nn.HybridSequential(prefix="act_")
    with net.name_scope():
        net.add(nn.PReLU(in_channels=3), nn.LeakyReLU(0.2), nn.ELU(0.5), nn.SELU(), nn.Swish(beta=1.5))
    net.initialize()
    return net


def test_mxnet_runs_minigluon_exports_of_the_layers(tmp_path):
    exe = _mxnet_python()
    if exe is None:
        pytest.skip("MXNet 1.9.1 is not installed (set MINIGLUON_MXNET_PYTHON)")
    rng = np.random.default_rng(4)
    cases, expected = [], {}
    for name, (make, shape) in sorted(LAYERS.items()):
        block = make()
        for p in block.collect_params().values():
            p.set_data(rng.uniform(-1, 1, p.shape).astype("float32"))
        block.hybridize()
        x = rng.uniform(-1, 1, shape).astype("float32")
        expected[name] = block(mg.nd.array(x)).asnumpy()
        sym_file, params_file = block.export(str(tmp_path / name))
        np.savez(tmp_path / f"{name}-in.npz", data=x)
        cases.append({"symbol": sym_file, "params": params_file,
                      "inputs": str(tmp_path / f"{name}-in.npz"),
                      "outputs": str(tmp_path / f"{name}-out.npz")})
    (tmp_path / "manifest.json").write_text(json.dumps(cases))
    run = subprocess.run([exe, str(RUNNER), str(tmp_path / "manifest.json")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [r["error"] for r in results] == [""] * len(cases)
    for name in sorted(LAYERS):
        got = np.load(Path(tmp_path) / f"{name}-out.npz")["out0"]
        np.testing.assert_allclose(got, expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
