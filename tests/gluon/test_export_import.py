"""Exported graphs both ways: MXNet 1.9.1's exports run in minigluon (eager and compiled),
minigluon's exports reload with the same numbers, and SymbolBlock's parameters work."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.cli.main import main as cli
from minigluon.examples import EXAMPLES, example
from tests.conftest import FIXTURES, fixture_cases

nd, sym = mg.nd, mg.sym
EXPORTED = [c for c in fixture_cases() if c["symbol"]]


def _inputs(case, oracle):
    return [oracle[f"{case['name']}/in/{n}"] for n in case["inputs"] if n not in case["none_inputs"]]


@pytest.mark.parametrize("hybridize", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("case", EXPORTED, ids=[c["name"] for c in EXPORTED])
def test_mxnet_exports_run_and_match(case, oracle, hybridize):
    arrays = _inputs(case, oracle)
    names = [f"data{k}" for k in range(len(arrays))]
    block = mg.gluon.SymbolBlock.imports(str(FIXTURES / case["symbol"]), names,
                                         str(FIXTURES / f"{case['name']}-0000.params"))
    if hybridize:
        block.hybridize()
    jit.reset_stats()
    out = block(*[nd.array(a, dtype=a.dtype) for a in arrays])
    want = oracle[f"{case['name']}/out_hybrid"]
    assert out.shape == want.shape
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-4, atol=1e-5)
    st = jit.stats()
    assert (st["compiled_calls"], st["interpreted_calls"]) == ((1, 0) if hybridize else (0, 0))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_loss_exports_and_reloads(name, tmp_path):
    block, arrays = example(name, 6, 5, seed=4)
    block.hybridize()
    inputs = [nd.array(a, dtype=a.dtype) for a in arrays]
    want = block(*inputs).asnumpy()
    sym_file, params_file = block.export(str(tmp_path / "m"), epoch=3)
    assert params_file.endswith("m-0003.params")
    graph = json.loads(open(sym_file).read())
    assert set(graph) >= {"nodes", "arg_nodes", "node_row_ptr", "heads", "attrs"}
    assert graph["attrs"]["mxnet_version"][0] == "int"
    variables = [graph["nodes"][i]["name"] for i in graph["arg_nodes"]]
    assert sorted(variables) == [f"data{k}" for k in range(len(arrays))]
    for node in graph["nodes"]:
        assert all(len(e) == 3 for e in node["inputs"])
        assert all(isinstance(v, str) for v in node.get("attrs", {}).values())
    assert nd.load(params_file) == []  # losses have no parameters: MXNet's empty file
    for hybridize in (False, True):
        again = mg.gluon.SymbolBlock.imports(sym_file, [f"data{k}" for k in range(len(arrays))],
                                             params_file)
        if hybridize:
            again.hybridize()
        np.testing.assert_allclose(again(*inputs).asnumpy(), want, rtol=1e-6, atol=1e-6)


def test_inputs_passed_as_none_are_skipped_in_the_names(tmp_path):
    block = mg.gluon.loss.SigmoidBCELoss()
    block.hybridize()
    pred, label, pos = nd.array([[0.5, -1.0]]), nd.array([[1.0, 0.0]]), nd.array([[2.0, 3.0]])
    want = block(pred, label, None, pos).asnumpy()
    sym_file, params_file = block.export(str(tmp_path / "bce"))
    assert sorted(sym.load(sym_file).list_arguments()) == ["data0", "data1", "data2"]
    again = mg.gluon.SymbolBlock.imports(sym_file, ["data0", "data1", "data2"], params_file)
    np.testing.assert_allclose(again(pred, label, pos).asnumpy(), want, rtol=1e-6)


def test_export_needs_a_hybridized_call(tmp_path):
    block = mg.gluon.loss.L2Loss()
    with pytest.raises(RuntimeError, match="hybridize"):
        block.export(str(tmp_path / "l2"))
    block.hybridize()
    with pytest.raises(RuntimeError, match="at least once"):
        block.export(str(tmp_path / "l2"))


def _affine_graph():
    x, w, b = sym.var("x"), sym.var("w"), sym.var("b")
    return sym.broadcast_add(sym.broadcast_mul(x, w), b), x


def test_symbol_block_parameters_train_and_round_trip(tmp_path):
    graph, x = _affine_graph()
    block = mg.gluon.SymbolBlock(graph, x)
    params = block.collect_params()
    assert sorted(params) == ["b", "w"]
    with pytest.raises(mg.MXNetError, match="not been initialized"):
        block(nd.array([[1.0, 2.0]]))
    params["w"].set_data(nd.array([[2.0, 3.0]]))
    params["b"].set_data(nd.array([0.5]))
    data = nd.array([[1.0, 2.0], [3.0, 4.0]])
    want = np.array([[2.5, 6.5], [6.5, 12.5]])
    grads = []
    for hybridize in (False, True):
        block.hybridize(hybridize)
        np.testing.assert_allclose(block(data).asnumpy(), want)
        params.zero_grad()
        with autograd.record():
            out = block(data)
        out.backward()
        grads.append((params["w"].grad().asnumpy().copy(), params["b"].grad().asnumpy().copy()))
    for gw, gb in grads:  # d sum(x*w + b)/dw = column sums of x; /db = element count
        np.testing.assert_allclose(gw, [[4.0, 6.0]])
        np.testing.assert_allclose(gb, [4.0])
    sym_file, params_file = block.export(str(tmp_path / "affine"))
    saved = nd.load(params_file)
    assert sorted(saved) == ["arg:b", "arg:w"]
    again = mg.gluon.SymbolBlock.imports(sym_file, ["data"], params_file)
    again.hybridize()
    np.testing.assert_allclose(again(data).asnumpy(), want)


def test_params_file_must_match_the_graph(tmp_path):
    graph, x = _affine_graph()
    path = str(tmp_path / "g-symbol.json")
    graph.save(path)
    good = {"arg:w": nd.array([[1.0, 1.0]]), "arg:b": nd.array([0.0])}
    nd.save(str(tmp_path / "extra.params"), {**good, "arg:zz": nd.array([1.0])})
    with pytest.raises(ValueError, match="'zz' loaded from file .* is not present"):
        mg.gluon.SymbolBlock.imports(path, ["x"], str(tmp_path / "extra.params"))
    nd.save(str(tmp_path / "missing.params"), {"arg:w": good["arg:w"]})
    with pytest.raises(ValueError, match="Parameter 'b' is missing in file"):
        mg.gluon.SymbolBlock.imports(path, ["x"], str(tmp_path / "missing.params"))
    with pytest.raises(ValueError, match="neither inputs"):
        mg.gluon.SymbolBlock.imports(path, ["x"])
    with pytest.raises(ValueError, match="no input 'data0'"), \
            pytest.warns(UserWarning, match=r"does not read input\(s\) \['data0'\]"):
        mg.gluon.SymbolBlock.imports(path, ["data0"])
    block = mg.gluon.SymbolBlock.imports(path, ["x"], str(tmp_path / "extra.params"),
                                         ignore_extra=True)
    with pytest.raises(ValueError, match=r"'w': expected shape \(3,\) is incompatible with "
                                         r"given shape \(1, 2\)"):
        block.collect_params()["w"].set_data(nd.array([1.0, 2.0, 3.0]))


def test_wrong_inputs_name_the_node_at_fault():
    block = mg.gluon.SymbolBlock.imports(str(FIXTURES / "l2_basic-symbol.json"), ["data0", "data1"])
    for hybridize in (False, True):
        block.hybridize(hybridize)
        with pytest.raises(ValueError, match=r"SymbolBlock: node '\w+' \(reshape_like\): "
                                             r".*data1: float32\[4,5\], data0: float32\[4,3\]"):
            block(nd.ones((4, 3)), nd.ones((4, 5)))
        with pytest.raises(TypeError, match="at most 2 inputs"):
            block(nd.ones((4, 3)), nd.ones((4, 3)), nd.ones((4, 3)))


def test_cli_run_prints_a_summary_and_saves(tmp_path, oracle, capsys):
    case = next(c for c in EXPORTED if c["name"] == "sce_sparse")
    args = ["run", str(FIXTURES / case["symbol"]), "--params",
            str(FIXTURES / "sce_sparse-0000.params")]
    for k, a in enumerate(_inputs(case, oracle)):
        np.save(tmp_path / f"x{k}.npy", a)
        args += ["--input", f"data{k}={tmp_path / f'x{k}.npy'}"]
    assert cli(args + ["--output", str(tmp_path / "out.npy")]) == 0
    printed = capsys.readouterr().out
    want = oracle["sce_sparse/out_hybrid"]
    assert "ran compiled" in printed and f"output 0: float32[{want.shape[0]}]" in printed
    assert f"{want[0]:.4f}"[:5] in printed
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), want, rtol=1e-4, atol=1e-5)
    assert cli(args[:4] + ["--input", "data0"]) == 2
    assert "expected NAME=FILE.npy" in capsys.readouterr().err


def test_cli_explain_shows_every_stage_of_an_exported_graph(tmp_path, oracle, capsys):
    case = next(c for c in EXPORTED if c["name"] == "l2_basic")
    args = ["explain", str(FIXTURES / case["symbol"])]
    for k, a in enumerate(_inputs(case, oracle)):
        np.save(tmp_path / f"x{k}.npy", a)
        args += ["--input", f"data{k}={tmp_path / f'x{k}.npy'}"]
    assert cli(args) == 0
    text = capsys.readouterr().out
    for stage in ("after infer", "after simplify", "after fuse", "schedule", "LLVM IR (optimized"):
        assert f"== {stage}" in text
    rows, cols = _inputs(case, oracle)[0].shape
    assert f"%data0 : float32[{rows},{cols}]" in text
    assert cli(["explain", str(FIXTURES / case["symbol"])]) == 2  # its inputs are needed
    assert "neither inputs" in capsys.readouterr().err
