"""The compiler end to end: every loss runs compiled, stats, caches, safety."""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minigluon as mg
from minigluon import jit
from minigluon.base import CompileError
from minigluon.compiler.codegen import emit_kernel
from minigluon.loopir import Lazy
from tests.conftest import fixture_cases

nd = mg.nd
CASES = fixture_cases()


def _inputs(case, oracle):
    return [None if n in case["none_inputs"] else nd.array(oracle[f"{case['name']}/in/{n}"])
            for n in case["inputs"]]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_cases_run_fully_compiled(case, oracle):
    block = getattr(mg.gluon.loss, case["cls"])(**case["kwargs"])
    block.hybridize()
    args = _inputs(case, oracle)
    jit.reset_stats()
    out = block(*args)
    out = block(*args)
    st = jit.stats()
    assert st["interpreted_calls"] == 0 and st["compiled_calls"] == 2
    key = f"{case['name']}/out_hybrid" if f"{case['name']}/out_hybrid" in oracle.files \
        else f"{case['name']}/out"
    np.testing.assert_allclose(out.asnumpy(), oracle[key], rtol=1e-4, atol=1e-6)


def test_jit_off_uses_the_interpreter(monkeypatch):
    monkeypatch.setenv("MINIGLUON_JIT", "0")
    block = mg.gluon.loss.L2Loss()
    block.hybridize()
    jit.reset_stats()
    out = block(nd.ones((4, 3)), nd.zeros((4, 3)))
    assert jit.stats()["interpreted_calls"] == 1 and jit.stats()["compiled_calls"] == 0
    np.testing.assert_allclose(out.asnumpy(), [0.5] * 4)


def test_stats_count_compiles_and_memory_cache_hits():
    x, y = nd.array(np.random.rand(7, 13)), nd.array(np.random.rand(7, 13))
    jit.reset_stats()
    a = mg.gluon.loss.HuberLoss(rho=0.37)  # a graph no other test compiles
    a.hybridize()
    a(x, y)
    st = jit.stats()
    assert st["kernels_compiled"] == 1 and st["cache_hits"] == 0 and st["compile_seconds"] > 0
    b = mg.gluon.loss.HuberLoss(rho=0.37)  # other block, same graph: no new kernel
    b.hybridize()
    np.testing.assert_array_equal(b(x, y).asnumpy(), a(x, y).asnumpy())
    st = jit.stats()
    assert st["kernels_compiled"] == 1 and st["cache_hits"] == 1


def test_new_shape_retraces_and_recompiles():
    block = mg.gluon.loss.L1Loss()
    block.hybridize()
    for shape in [(3, 4), (5, 2), (3, 4)]:
        p, q = np.random.rand(*shape).astype(np.float32), np.random.rand(*shape).astype(np.float32)
        np.testing.assert_allclose(block(nd.array(p), nd.array(q)).asnumpy(),
                                   np.abs(p - q).mean(1), rtol=1e-6)
    assert len(block._cache) == 2


_CHILD = """
import numpy as np, minigluon as mg
from minigluon import jit
b = mg.gluon.loss.LogisticLoss(label_format='binary', weight=0.25)
b.hybridize()
out = b(mg.nd.array(np.linspace(-3, 3, 40).reshape(8, 5)), mg.nd.ones((8, 5)))
s = jit.stats()
print(s['kernels_compiled'], s['cache_hits'], s['interpreted_calls'], float(out.asnumpy().sum()))
"""


def test_disk_cache_lets_a_second_process_skip_llvm(tmp_path):
    env = {**os.environ, "MINIGLUON_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0][:3] == ["1", "0", "0"]  # compiled once
    assert runs[1][:3] == ["0", "1", "0"]  # loaded from disk
    assert runs[0][3] == runs[1][3]
    assert any(p.suffix == ".kernel" for p in tmp_path.iterdir())


def test_damaged_disk_cache_is_ignored(tmp_path):
    env = {**os.environ, "MINIGLUON_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", _CHILD], env=env, check=True, capture_output=True)
    for p in tmp_path.glob("*.kernel"):
        p.write_bytes(p.read_bytes()[:100])  # truncated
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[:3] == ["1", "0", "0"]  # recompiled instead of loading a broken object


def test_concurrent_calls_on_one_block():
    block = mg.gluon.loss.SoftmaxCELoss()
    block.hybridize()
    rng = np.random.default_rng(0)
    jobs = [(rng.standard_normal((300, 40)), rng.integers(0, 40, 300)) for _ in range(8)]
    want = [block(nd.array(p), nd.array(y)).asnumpy() for p, y in jobs]
    errors = []

    def worker(k):
        for _ in range(20):
            p, y = jobs[k]
            if not np.allclose(block(nd.array(p), nd.array(y)).asnumpy(), want[k], rtol=1e-6):
                errors.append(k)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_pick_out_of_range_labels_stay_in_bounds(mode):
    x = mg.sym.var("x", shape=(6, 5))
    i = mg.sym.var("i", shape=(6,))
    graph = mg.sym.pick(x, i, axis=-1, mode=mode)
    exe = _compile(graph, ["x", "i"])
    data = np.arange(30, dtype=np.float32).reshape(6, 5)
    labels = np.array([-7, 1e9, -1e9, 5, np.nan, 2.9], np.float32)
    got = exe.run([data, labels])[0]
    want = mg.nd.pick(nd.array(data), nd.array(labels), axis=-1, mode=mode).asnumpy()
    np.testing.assert_array_equal(got, want)


def test_a_load_that_could_leave_its_buffer_is_refused():
    from llvmlite import ir
    bad = Lazy.buffer(0, (4,), "float32").reshape((4,))
    shifted = Lazy((5,), "float32", lambda idx: bad((idx[0],)))  # reads element 4 of 4
    with pytest.raises(CompileError, match="outside"):
        emit_kernel(ir.Module("t"), "k", shifted, 1, [0], [((4,), "float32"), ((5,), "float32")])


def test_explain_shows_every_stage():
    block = mg.gluon.loss.SigmoidBCELoss()
    block.hybridize()
    text = block.explain(nd.ones((4, 3)), nd.zeros((4, 3)))
    for stage in ["traced(", "== after infer ==", "== after simplify ==", "== after fuse ==",
                  "== schedule ==", "== loop IR ==", "== LLVM IR (generated) ==",
                  "== LLVM IR (optimized"]:
        assert stage in text
    assert "# kernel 0 (stored)" in text
    assert "call float @expf" not in text and "call float @logf" not in text


def _ctc_schedule(block):
    (runner, *_), = block._cache.values()
    return runner.exe.schedule


def test_ctc_log_softmax_is_a_fused_row_reduction(tmp_path):
    """The ctc pass: CTCLoss's per-frame log-sum-exp is one fused, threaded row reduction
    that reads the NTC input itself (Gluon's SwapAxis is absorbed: no transposed copy), and
    the CTC kernel reads data and it; with the gradient used the kernel writes it too.
    The user's graph (export, eager, interpreter) still says CTCLoss."""
    from minigluon.ops.ctc_reference import ctc_loss
    rng = np.random.default_rng(0)
    N, T, C, L = 8, 12, 50, 3
    x = rng.normal(size=(N, T, C)).astype(np.float32) * 3
    lab = rng.integers(0, C - 1, size=(N, L)).astype(np.float32)
    block = mg.gluon.loss.CTCLoss()  # layout NTC
    block.hybridize()
    out = block(nd.array(x), nd.array(lab)).asnumpy()
    np.testing.assert_allclose(out, ctc_loss(x.swapaxes(0, 1), lab, blank_label="last")[0],
                               rtol=1e-5)
    sched = _ctc_schedule(block)
    data_slot = sched.inputs[0]
    lse_step, ctc_step = sched.steps
    assert lse_step.kind == "kernel" and not lse_step.op and lse_step.reads == [data_slot]
    assert sched.buffers[lse_step.writes[0]] == ((N, T), "float64")
    assert ctc_step.op == "_ctc_loss_lse" and ctc_step.attrs["layout"] == "NTC"
    assert ctc_step.reads[:2] == [data_slot, lse_step.writes[0]]
    text = block.explain(nd.array(x), nd.array(lab))
    after_ctc = text[text.index("== after ctc =="):text.index("== after fuse ==")]
    after_fuse = text[text.index("== after fuse =="):text.index("== schedule ==")]
    assert "SwapAxis" in text[:text.index("== after ctc ==")]  # traced, then gone
    assert "SwapAxis" not in after_ctc and "CTCLoss" not in after_ctc
    assert "_ctc_loss_lse(" in after_ctc and "layout=NTC" in after_ctc
    assert "= max(" in after_ctc and "= exp(" in after_ctc
    assert "# kernel 0 (stored)" in after_fuse and "# kernel 1 (stored)" in after_fuse
    assert "# kernel 2" not in after_fuse
    sym_file, _ = block.export(str(tmp_path / "ctc"))
    with open(sym_file) as f:
        ops = [n["op"] for n in json.load(f)["nodes"]]
    assert ops == ["null", "SwapAxis", "null", "CTCLoss"]

    # TNC, with the gradient: the kernel writes loss and d loss / d data (T, N, C)
    block = mg.gluon.loss.CTCLoss(layout="TNC")
    block.hybridize()
    pred = nd.array(x.swapaxes(0, 1).copy())
    pred.attach_grad()
    with mg.autograd.record():
        loss = block(pred, nd.array(lab))
    loss.backward()
    ref_loss, ref_grad = ctc_loss(x.swapaxes(0, 1), lab, blank_label="last")
    np.testing.assert_allclose(loss.asnumpy(), ref_loss, rtol=1e-5)
    np.testing.assert_allclose(pred.grad.asnumpy(), ref_grad, rtol=1e-4, atol=1e-6)
    entry, = block._cache.values()
    split = entry.op.gradient((True, False))
    steps = [s for r in (split.forward or entry.op, split.backward)  # stored or recomputed
             for s in r.exe.schedule.steps]
    ctc_steps = [s for s in steps if s.op == "_ctc_loss_lse"]
    assert ctc_steps and all(s.attrs["layout"] == "TNC" for s in ctc_steps)
    assert any(len(s.writes) == 2 for s in ctc_steps)


def _compile(graph, names):
    from minigluon.compiler.pipeline import compile_graph
    return compile_graph(graph, names)


@pytest.mark.parametrize("loss,shape", [("L2Loss", (1024, 300)), ("SoftmaxCELoss", (777, 301))])
def test_large_kernels_split_across_native_threads(loss, shape):
    from minigluon.examples import example
    block, arrays = example(loss, *shape)
    want = block(*[nd.array(a) for a in arrays]).asnumpy()
    block.hybridize()
    ins = [nd.array(a) for a in arrays]
    for _ in range(5):  # repeated jobs reuse the same workers and control block
        np.testing.assert_allclose(block(*ins).asnumpy(), want, rtol=1e-5)
    exe = next(iter(block._cache.values()))[0].exe
    assert any(p[0] == "kernel" and p[4] is not None for p in exe.plan)  # took the threaded path


def test_pool_from_many_python_threads():
    from minigluon.examples import example
    block, arrays = example("HingeLoss", 2048, 200)
    want = block(*[nd.array(a) for a in arrays]).asnumpy()
    block.hybridize()
    ins = [nd.array(a) for a in arrays]
    bad = []

    def worker():
        for _ in range(10):
            if not np.allclose(block(*ins).asnumpy(), want, rtol=1e-5):
                bad.append(1)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_a_compiler_crash_falls_back_to_the_interpreter(monkeypatch):
    import minigluon.compiler.pipeline as pipeline
    monkeypatch.delenv("MINIGLUON_JIT_STRICT", raising=False)

    def boom(*a, **k):
        raise RuntimeError("LLVM exploded")
    monkeypatch.setattr(pipeline, "compile_graph", boom)
    block = mg.gluon.loss.L1Loss(weight=3.5)
    block.hybridize()
    jit.reset_stats()
    # plain words naming the block, not the internal exception's text
    with pytest.warns(RuntimeWarning, match=r"L1Loss\(float32\[2,3\], float32\[2,3\]\) runs on the "
                      r"numpy interpreter, not compiled: the compiler failed \(RuntimeError\)"):
        out = block(nd.ones((2, 3)), nd.zeros((2, 3)))
    np.testing.assert_allclose(out.asnumpy(), [3.5, 3.5])
    assert jit.stats()["compile_failures"] == 1 and jit.stats()["interpreted_calls"] == 1


def test_one_hot_compiled_matches_numpy_for_odd_labels():
    i = mg.sym.var("i", shape=(8,))
    exe = _compile(mg.sym.one_hot(i, depth=4) * 2, ["i"])
    labels = np.array([0, 3, 4, -1, np.nan, 2.7, -0.5, 1e20], np.float32)
    want = mg.nd.one_hot(nd.array(labels), depth=4).asnumpy() * 2
    np.testing.assert_array_equal(exe.run([labels])[0], want)
