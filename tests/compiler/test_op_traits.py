"""The compiler passes ask an op's traits, never a list of op names of their own: such a
list drifts from the registry (fuse once missed nansum and nanprod as reductions)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon.ops import OPS, canonical_ops
from minigluon.ops import reduce as reduce_ops
from minigluon.ops.registry import TRAITS
from tests.modes import Body

nd = mg.nd

COMPILER = Path(mg.__file__).parent / "compiler"
# codegen's names are loop-IR primitives (max, min), a vocabulary of their own
GRAPH_PASSES = [p for p in sorted(COMPILER.glob("*.py")) if p.name != "codegen.py"]
# a rewrite that names the ops it rewrites is a rule, not a copy of a registry fact
REWRITE_RULES = {("simplify.py", ("sum", "mean")),  # split a full sum or mean in two
                 ("conv_rewrite.py", ("Convolution", "Deconvolution"))}  # GEMM or direct, bias out


def _op_name_literals(path: Path) -> list[tuple[int, list[str]]]:
    """Set, tuple and list literals of two or more strings, all of them op names.  Dicts are
    left alone: codegen's tables are keyed by loop-IR primitives, some spelled like ops."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            continue
        elts = node.elts
        names = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(names) >= 2 and len(names) == len(elts) and all(n in OPS for n in names):
            found.append((node.lineno, names))
    return found


@pytest.mark.parametrize("path", GRAPH_PASSES, ids=lambda p: p.name)
def test_no_pass_keeps_a_list_of_op_names(path):
    found = [(line, names) for line, names in _op_name_literals(path)
             if (path.name, tuple(names)) not in REWRITE_RULES]
    assert found == [], "ask op.traits (ops/registry.py TRAITS) instead"


def test_the_scan_finds_a_list_of_op_names(tmp_path):
    f = tmp_path / "p.py"
    f.write_text('_R = {"sum", "mean"}\nOK = ("sum", "not an op")\n')
    assert _op_name_literals(f) == [(1, ["sum", "mean"])]


def test_every_reduction_in_reduce_py_carries_the_trait():
    registered_there = {op.name for op in canonical_ops()
                        if op.compute.__module__ == reduce_ops.__name__}
    # argmax and argmin return positions: no pass treats them as reductions (yet)
    reductions = registered_there - {"argmax", "argmin"}
    assert {"sum", "mean", "prod", "nansum", "nanprod", "max", "min", "norm"} <= reductions
    for name in sorted(reductions):
        assert "reduction" in OPS[name].traits, name


def test_traits_come_from_the_vocabulary():
    for op in canonical_ops():
        assert op.traits <= set(TRAITS), op.name


@pytest.mark.parametrize("name", ["nansum", "nanprod"])
def test_a_matrix_reduction_read_by_a_nan_reduction_is_stored(name, monkeypatch):
    """As when sum reads it: inside the nan-reduction's loop it would be recomputed per use."""
    body = Body(lambda F, x: getattr(F, name)(F.sum(x, axis=2) * 0.5, axis=1))
    x = np.random.RandomState(0).rand(3, 4, 5).astype("float32")
    x[0, 0, 0] = np.nan
    text = body.explain(nd.array(x))
    fused = text.split("== after fuse ==")[1].split("==")[0]
    assert "sum(%data, axis=2) : float32[3,4]   # kernel 0 (stored)" in fused, fused
    want = getattr(np, name)(x.sum(axis=2) * 0.5, axis=1)
    body.hybridize()
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    np.testing.assert_allclose(body(nd.array(x)).asnumpy(), want, rtol=1e-5, equal_nan=True)
