"""The loop-IR stage of `minigluon explain`: one SSA line per value, each shared value
once, each placed in the loop codegen computes it in."""
import re

import minigluon as mg
from minigluon.compiler.pipeline import explain

sym = mg.sym


def _loop_ir(graph, names):
    text = explain(graph, names)
    return text.split("== loop IR ==\n")[1].split("\n\n== LLVM IR")[0]


def test_log_softmax_row_max_is_one_value_computed_once_per_row():
    x = sym.var("x", shape=(8, 5), dtype="float32")
    text = _loop_ir(sym.log_softmax(x, axis=-1), ["x"])
    lines = text.splitlines()
    assert lines[0] == "kernel kernel0: for o0 < 8 o1 < 5:"
    maxes = [ln for ln in lines if "reduce_max" in ln]
    assert len(maxes) == 1  # hash-consed: the row max is one node, used by every element
    assert maxes[0].endswith("@ o0")  # hoisted out of the element loop o1
    summed = re.search(r"reduce_sum\((%\d+)\) over (r\S+)", text)
    body = next(ln for ln in lines if ln.strip().startswith(summed.group(1) + " "))
    assert body.endswith(f"@ o0.{summed.group(2)}")  # inside the row's reduction loop
    assert lines[-1].startswith("  store buf1[o0, o1] = %")


def test_every_value_is_defined_before_it_is_used():
    x = sym.var("x", shape=(4, 3), dtype="float32")
    y = sym.var("y", shape=(4, 3), dtype="float32")
    text = _loop_ir(sym.sum(sym.exp(x) * y + sym.max(x, axis=1, keepdims=True), axis=1), ["x", "y"])
    defined = set()
    for line in text.splitlines()[1:]:
        for used in re.findall(r"%\d+", line.split("=", 1)[1]):
            assert used in defined, line
        m = re.match(r"\s+(%\d+) = ", line)
        if m:
            defined.add(m.group(1))
    assert defined


def test_hand_written_kernels_are_named():
    data = sym.var("data0", shape=(6, 2, 5), dtype="float32")
    label = sym.var("data1", shape=(2, 3), dtype="float32")
    text = _loop_ir(mg.gluon.loss.CTCLoss(layout="TNC")(data, label), ["data0", "data1"])
    assert "kernel kernel1: hand-written (_ctc_loss_lse)" in text.splitlines()


def _llvm_ir(graph, names):
    return explain(graph, names).split("== LLVM IR (generated) ==\n")[1].split("\n\n== ")[0]


def test_the_llvm_ir_names_loops_and_values_as_the_loop_ir_does():
    x = sym.var("x", shape=(8, 5), dtype="float32")
    graph = sym.log_softmax(x, axis=-1)
    loop, llvm = _loop_ir(graph, ["x"]), _llvm_ir(graph, ["x"])
    reduction_loops = sorted(set(re.findall(r"over (r\d+_\d+)", loop)))
    assert reduction_loops == ["r0_1", "r1_1"]  # numbered within the kernel
    for index in ["o0", "o1", *reduction_loops]:  # every loop of the loop IR, by its name
        assert re.search(rf'%"{index}" = phi\s+i64', llvm), index
        assert f"\n{index}.head:" in llvm
    for value in ("max", "sum"):  # the accumulators, named after their reduction
        assert re.search(rf'%"{value}" = phi\s+float', llvm), value
    for value in ("exp", "log", "where", "load", "affine"):  # values, named after their op
        assert re.search(rf'%"{value}" = ', llvm), value
    assert 'float* noalias %"buf0"' in llvm and 'float* noalias %"buf1"' in llvm


def test_names_do_not_depend_on_what_compiled_before():
    x = sym.var("x", shape=(3, 4), dtype="float32")
    graph = sym.sum(sym.exp(x - sym.max(x, axis=1, keepdims=True)), axis=1)
    first = _loop_ir(graph, ["x"])
    _loop_ir(sym.log_softmax(x, axis=0), ["x"])  # lowers more reductions in between
    assert _loop_ir(graph, ["x"]) == first


def test_every_op_but_loops_and_indices_has_a_code_generation_rule():
    from minigluon.compiler.codegen import _RULES
    from minigluon.loopir import Ops
    assert set(Ops) - set(_RULES) == {Ops.VAR, Ops.REDUCE}  # KernelEmitter.emit's own
