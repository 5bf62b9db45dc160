"""How a compiled convolution runs: the ``conv`` pass's choice between the direct loop and
im2col + BLAS, the bias and activation fused into one loop either way, and both forms
agreeing with the numpy reference."""
import numpy as np
import pytest

import minigluon as mg
from minigluon.compiler import conv_rewrite
from minigluon.compiler.graph import format_graph
from minigluon.compiler.pipeline import build_schedule, compile_graph
from minigluon.ops.conv import DIRECT_MAX_REDUCTION, gemm_wins

sym = mg.sym
RNG = np.random.default_rng(3)


def _conv_relu(dshape, nf, kernel, **attrs):
    x = sym.var("x", shape=dshape)
    w = sym.var("w", shape=(nf, dshape[1] // attrs.get("num_group", 1)) + kernel)
    b = sym.var("b", shape=(nf,))
    return sym.relu(sym.Convolution(x, w, b, kernel=kernel, num_filter=nf, **attrs))


def _steps(sched, kind):
    return [s for s in sched.steps if s.kind == kind]


def test_a_large_reduction_runs_blas_then_one_loop_for_bias_and_relu():
    y = _conv_relu((2, 8, 6, 6), 4, (3, 3))  # 72 products per output element
    G, sched = build_schedule(y, ["x", "w", "b"])
    printed = sched.format()
    blas, loops = _steps(sched, "external"), _steps(sched, "kernel")
    assert [s.op for s in blas] == ["_convolution_gemm"], printed
    assert "# BLAS" in printed
    assert len(loops) == 1, printed  # bias add and relu: one loop over the GEMM's output
    assert blas[0].writes[0] in loops[0].reads
    graph = format_graph(G)
    add = next(line for line in graph.splitlines() if "broadcast_add" in line)
    relu = next(line for line in graph.splitlines() if "relu" in line)
    assert add.split("# kernel")[1].split()[0] == relu.split("# kernel")[1].split()[0]


def test_a_small_reduction_is_one_direct_loop_with_bias_and_relu():
    y = _conv_relu((2, 1, 8, 8), 3, (5, 5))  # LeNet's first layer: 25 products
    _, sched = build_schedule(y, ["x", "w", "b"])
    assert not _steps(sched, "external"), sched.format()
    assert len(_steps(sched, "kernel")) == 1, sched.format()


def test_the_size_rule():
    assert not gemm_wins({}, (64, 1, 28, 28), (20, 1, 5, 5))
    assert gemm_wins({}, (64, 20, 12, 12), (50, 20, 5, 5))
    assert gemm_wins({}, (32, 64, 56, 56), (64, 64, 3, 3))
    assert not gemm_wins({}, (1, 32, 8, 8), (32, 1, 3, 3))  # depthwise
    assert gemm_wins({}, (1, 1, 9, 9), (1, 1, 9, 9)) == (81 > DIRECT_MAX_REDUCTION)


def _reference(x, w, b, stride, pad, dilate, groups):
    """The convolution by its definition, one output element at a time."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dilate[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilate[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    for i, o, r, q in np.ndindex(n, f, oh, ow):
        g = o // (f // groups)
        patch = xp[i, g * cg:(g + 1) * cg, r * stride[0]:r * stride[0] + dilate[0] * (kh - 1) + 1:dilate[0],
                   q * stride[1]:q * stride[1] + dilate[1] * (kw - 1) + 1:dilate[1]]
        out[i, o, r, q] = (patch * w[o]).sum() + b[o]
    return out


@pytest.mark.parametrize("form", ["direct", "gemm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_forms_match_the_definition(form, dtype, monkeypatch):
    monkeypatch.setattr(conv_rewrite, "gemm_wins", lambda *a: form == "gemm")
    monkeypatch.setenv("MINIGLUON_CACHE_MAX_BYTES", "0")
    from minigluon.compiler import pipeline
    pipeline._MEMORY.clear()
    attrs = dict(stride=(2, 1), pad=(1, 2), dilate=(1, 2), num_group=2)
    dshape, nf, k = (2, 4, 7, 6), 4, (3, 2)
    x = sym.var("x", shape=dshape, dtype=dtype)
    w = sym.var("w", shape=(nf, 2) + k, dtype=dtype)
    b = sym.var("b", shape=(nf,), dtype=dtype)
    y = sym.Convolution(x, w, b, kernel=k, num_filter=nf, **attrs) * 2.0
    exe = compile_graph(y, ["x", "w", "b"])
    pipeline._MEMORY.clear()
    assert sum(s.kind == "external" for s in exe.schedule.steps) == (form == "gemm")
    xs = [RNG.uniform(-1, 1, s).astype(dtype) for s in (dshape, (nf, 2) + k, (nf,))]
    got = exe.run(xs)[0]
    assert got.dtype == np.dtype(dtype)
    want = 2.0 * _reference(*xs, attrs["stride"], attrs["pad"], attrs["dilate"], 2)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-5 if dtype == "float32" else 1e-12)


def test_deconvolution_bias_leaves_the_blas_step_and_fuses_with_the_activation():
    x = sym.var("x", shape=(1, 2, 3, 3))
    w = sym.var("w", shape=(2, 3, 2, 2))
    b = sym.var("b", shape=(3,))
    y = sym.Activation(sym.Deconvolution(x, w, b, kernel=(2, 2), stride=(2, 2), num_filter=3,
                                         no_bias=False), act_type="tanh")
    _, sched = build_schedule(y, ["x", "w", "b"])
    blas = _steps(sched, "external")
    assert [s.op for s in blas] == ["Deconvolution"] and len(blas[0].reads) == 2
    assert len(_steps(sched, "kernel")) == 1, sched.format()
