"""The loop IR's op vocabulary: one enum, groups that partition it, and no op named by a
string where the loop IR or the compiler tests an op."""
import pathlib
import re

import pytest

from minigluon.loopir import Expr, GroupOp, Ops, const, load, reduce_expr, var
from minigluon.loopir.opcodes import REDUCE_BY_NAME, REDUCE_NAME, as_op

ROOT = pathlib.Path(__file__).resolve().parents[2] / "minigluon"


def test_every_op_is_in_exactly_one_kind():
    for op in Ops:
        kinds = [k for k in GroupOp.KINDS if op in k]
        assert len(kinds) == 1, op


def test_the_kinds_hold_nothing_but_ops():
    assert set().union(*GroupOp.KINDS) == set(Ops)


def test_derived_groups_are_made_of_the_kinds():
    assert GroupOp.FloatOnly <= GroupOp.Unary | GroupOp.Binary
    assert GroupOp.Reduce <= GroupOp.Binary
    assert GroupOp.Float16AsIs <= set(Ops)
    assert set(REDUCE_BY_NAME.values()) == GroupOp.Reduce
    assert all(REDUCE_NAME[op] == name for name, op in REDUCE_BY_NAME.items())


def test_a_printed_name_becomes_its_member():
    assert as_op("log1p_unit") is Ops.LOG1P_UNIT
    assert as_op(Ops.ADD) is Ops.ADD
    assert Expr("exp", (load(0, var(3, "i"), "float32"),), "float32").op is Ops.EXP


def test_an_unknown_name_is_refused_when_the_expression_is_built():
    with pytest.raises(ValueError, match="'expo' is not a loop-IR op"):
        Expr("expo", (const(1.0, "float32"),), "float32")


def test_a_reduction_combines_with_a_reducing_op_only():
    body = load(0, var(3, "r"), "float32")
    assert reduce_expr("sum", body, (var(3, "r"),)).args[0] is Ops.ADD
    with pytest.raises(ValueError, match="cannot combine with div"):
        reduce_expr(Ops.DIV, body, (var(3, "r"),))


# the op names registry lowerings pass to the loop IR's builders
_NAMED_OP = re.compile(r'(?:\.map|\balu|\bcmp|\bunary|\bbinary|\bcompare|\bscalar)\("(\w+)"')
_NAMED_REDUCTION = re.compile(r'\.reduce\("(\w+)"')


def test_every_op_name_a_lowering_uses_is_an_op():
    names, reductions = set(), set()
    for path in (ROOT / "ops").glob("*.py"):
        text = path.read_text()
        names |= set(_NAMED_OP.findall(text))
        reductions |= set(_NAMED_REDUCTION.findall(text))
    assert {"exp", "sub", "max", "lt", "and"} <= names  # the scan sees the lowerings
    for name in names:
        as_op(name)
    assert reductions and reductions <= set(REDUCE_BY_NAME)


# an op tested by its name: `.op == "add"`, `op in ("lt", ...)`, `op == "sum"`
_STRING_TEST = re.compile(r'\bop\s*(?:==|!=|in|not in)\s*\(?\s*"')


@pytest.mark.parametrize("path", sorted((ROOT / "loopir").glob("*.py")) +
                         [ROOT / "compiler" / name for name in ("codegen.py", "kernel_print.py")],
                         ids=lambda p: p.name)
def test_ops_are_tested_as_members_never_as_strings(path):
    hits = [line.strip() for line in path.read_text().splitlines() if _STRING_TEST.search(line)]
    assert not hits
