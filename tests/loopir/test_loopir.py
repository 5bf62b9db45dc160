"""The loop IR on its own: interning, folding, index arithmetic, range analysis, views and
printing."""
import gc
import itertools
import math
import re
import weakref

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigluon.compiler.errors import CompileError
from minigluon.loopir import (
    Expr,
    GroupOp,
    Lazy,
    Ops,
    alu,
    binary,
    bounds,
    cast,
    compare,
    const,
    iadd,
    iconst,
    idiv,
    imod,
    imul,
    load,
    ravel,
    var,
    walk,
    where,
)

F32 = "float32"


def value_of(e: Expr, env: dict) -> int:
    """An integer index expression evaluated with Python's own arithmetic (env: var -> int)."""
    if e.op is Ops.VAR:
        return env[e]
    if e.op is Ops.CONST:
        return e.args[0]
    if e.op is Ops.AFFINE:
        terms, c = e.args
        return c + sum(k * value_of(atom, env) for atom, k in terms)
    if e.op is Ops.IDIV:
        return value_of(e.args[0], env) // e.args[1]
    if e.op is Ops.IMOD:
        return value_of(e.args[0], env) % e.args[1]
    raise AssertionError(f"unexpected {e.op}")


def assignments(vs: list):
    for values in itertools.product(*(range(v.args[1]) for v in vs)):
        yield dict(zip(vs, values))


# --- interning ---------------------------------------------------------------------------------
def test_the_same_expression_built_twice_is_one_node():
    def build():
        i, j = var(4, "i"), var(5, "j")
        x = load(0, ravel((i, j), (4, 5)), F32)
        return alu("mul", alu("add", x, const(2.0, F32)), x)
    assert build() is build()


def test_affine_forms_do_not_depend_on_the_order_terms_were_added():
    i, j = var(4, "i"), var(5, "j")
    assert iadd(i, imul(j, 3), 2) is iadd(2, imul(j, 3), i)
    assert iadd(i, i) is imul(i, 2)


def test_nodes_differing_only_in_dtype_are_distinct():
    assert const(1, "int32") is not const(1, "int64")
    assert const(1, "int32") is const(1, "int32")


def test_a_negative_zero_constant_keeps_its_sign():
    const(0.0, F32)
    assert math.copysign(1, const(-0.0, F32).args[0]) == -1


# --- constants and folding ---------------------------------------------------------------------
def test_float_constants_fold():
    assert alu("add", const(1.5, F32), const(2.0, F32)) is const(3.5, F32)
    assert alu("mul", const(1.5, "float64"), const(4.0, "float64")) is const(6.0, "float64")
    assert alu("sub", const(1.0, F32), const(3.0, F32)) is const(-2.0, F32)


def test_multiplying_by_one_vanishes_on_either_side():
    x = load(0, var(3, "i"), F32)
    assert alu("mul", x, const(1.0, F32)) is x
    assert alu("mul", const(1.0, F32), x) is x


def test_adding_zero_vanishes_for_integers_but_not_floats():
    n = load(0, var(3, "i"), "int32")
    assert alu("add", n, const(0, "int32")) is n
    x = load(0, var(3, "i"), F32)
    # -0.0 + 0.0 is +0.0: dropping the add would keep the sign of a negative zero
    assert alu("add", x, const(0.0, F32)).op is Ops.ADD
    assert alu("sub", x, const(0.0, F32)) is x


def test_float16_constants_round_as_numpy_does():
    assert const(0.1, "float16").args[0] == float(np.float16(0.1))
    assert const(70000.0, "float16").args[0] == math.inf


def test_integer_constants_out_of_range_are_refused():
    with pytest.raises(CompileError, match="no exact uint8"):
        const(-1, "uint8")
    with pytest.raises(CompileError, match="no exact int8"):
        const(128, "int8")
    assert const(127, "int8").args == (127,)


def test_casts_of_constants_fold_and_casts_to_the_same_dtype_vanish():
    assert cast(const(3, "int32"), F32) is const(3.0, F32)
    x = load(0, var(3, "i"), F32)
    assert cast(x, F32) is x
    assert cast(x, "float64").op is Ops.CAST


def test_where_with_a_constant_condition_picks_a_branch():
    a, b = load(0, var(3, "i"), F32), load(1, var(3, "i"), F32)
    assert where(const(True, "bool"), a, b) is a
    assert where(const(False, "bool"), a, b) is b


def test_integer_index_constants_fold():
    i = var(4, "i")
    assert iadd(2, 3) is iconst(5)
    assert iadd(i, imul(i, -1)) is iconst(0)
    assert iadd(i, 0) is i
    assert imul(iadd(i, 1), 0) is iconst(0)


# --- range analysis and index arithmetic ---------------------------------------------------------
def test_bounds_of_an_affine_index_are_exact():
    i, j = var(4, "i"), var(5, "j")
    assert bounds(iadd(imul(i, 3), imul(j, -2), 5)) == (-3, 14)
    assert bounds(i) == (0, 3)
    assert bounds(iconst(-7)) == (-7, -7)


def test_division_and_modulo_simplify_when_the_range_allows():
    i, j = var(6, "i"), var(4, "j")
    flat = iadd(imul(i, 4), j)  # row-major (6, 4)
    assert idiv(flat, 4) is i
    assert imod(flat, 4) is j
    assert idiv(j, 4) is iconst(0)
    assert idiv(flat, 3).op is Ops.IDIV


@st.composite
def index_expressions(draw):
    extents = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    vs = [var(n, f"v{k}") for k, n in enumerate(extents)]
    leaves = st.sampled_from(vs) | st.integers(-6, 6).map(iconst)
    e = draw(st.recursive(leaves, lambda kids: st.one_of(
        st.tuples(kids, kids).map(lambda t: iadd(*t)),
        st.tuples(kids, st.integers(-4, 4)).map(lambda t: imul(*t)),
        st.tuples(kids, st.integers(1, 5)).map(lambda t: idiv(*t)),
        st.tuples(kids, st.integers(1, 5)).map(lambda t: imod(*t))), max_leaves=8))
    return vs, e


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_expressions())
def test_bounds_never_under_approximate(case):
    vs, e = case
    values = [value_of(e, env) for env in assignments(vs)]
    lo, hi = bounds(e)
    assert lo <= min(values) and max(values) <= hi
    if e.op in GroupOp.Leaf or e.op is Ops.AFFINE and all(a.op is Ops.VAR for a, _ in e.args[0]):
        # each variable appears once and ranges independently: the extremes are reached
        assert (lo, hi) == (min(values), max(values))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_expressions(), st.integers(1, 7))
def test_idiv_and_imod_are_python_floor_division(case, m):
    vs, e = case
    q, r = idiv(e, m), imod(e, m)
    for env in assignments(vs):
        x = value_of(e, env)
        assert value_of(q, env) == x // m
        assert value_of(r, env) == x % m


# --- lazy views --------------------------------------------------------------------------------
def test_broadcasting_reads_a_size_one_axis_at_zero():
    a = Lazy.buffer(0, (3, 1), F32).broadcast_to((2, 3, 4))
    i, j, k = var(2, "i"), var(3, "j"), var(4, "k")
    assert a.shape == (2, 3, 4)
    assert a((i, j, k)) is load(0, j, F32)


def test_a_transpose_swaps_the_strides():
    a = Lazy.buffer(0, (2, 3), F32).permute((1, 0))
    i, j = var(3, "i"), var(2, "j")
    assert a.shape == (3, 2)
    assert a((i, j)) is load(0, iadd(imul(j, 3), i), F32)


def test_a_strided_slice_is_affine():
    a = Lazy.buffer(0, (10,), F32).slice((1,), (3,), (3,))
    i = var(3, "i")
    assert a((i,)) is load(0, iadd(imul(i, 3), 1), F32)


VIEWS = [
    ((2, 3, 4), lambda t: t.permute((2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
    ((3, 1), lambda t: t.broadcast_to((2, 3, 5)), lambda a: np.broadcast_to(a, (2, 3, 5))),
    ((2, 6), lambda t: t.reshape((3, 4)), lambda a: a.reshape(3, 4)),
    ((2, 3, 4), lambda t: t.permute((1, 0, 2)).reshape((3, 8)),
     lambda a: a.transpose(1, 0, 2).reshape(3, 8)),
    ((4, 5), lambda t: t.slice((1, 4), (2, -1), (2, 3)), lambda a: a[1::2, 4::-1][:2, :3]),
]


@pytest.mark.parametrize("src, view, numpy_view", VIEWS)
def test_views_read_the_elements_numpy_views_read(src, view, numpy_view):
    lazy = view(Lazy.buffer(0, src, F32))
    expected = numpy_view(np.arange(math.prod(src)).reshape(src))
    assert lazy.shape == expected.shape
    vs = [var(n, f"o{d}") for d, n in enumerate(lazy.shape)]
    e = lazy(tuple(vs))
    assert e.op is Ops.LOAD and e.args[0] == 0
    for env in assignments(vs):
        assert value_of(e.args[1], env) == expected[tuple(env[v] for v in vs)]


# --- map and dtypes ----------------------------------------------------------------------------
def test_map_broadcasts_and_keeps_its_own_dtype_by_default():
    a, b = Lazy.buffer(0, (3, 1), F32), Lazy.buffer(1, (4,), F32)
    out = a.map("add", b)
    assert out.shape == (3, 4) and out.dtype == F32
    i, j = var(3, "i"), var(4, "j")
    assert out((i, j)) is Expr("add", (load(0, i, F32), load(1, j, F32)), F32)


def test_binary_ops_compute_in_numpys_promoted_dtype():
    a, b = Lazy.buffer(0, (3,), "int32"), Lazy.buffer(1, (3,), F32)
    i = var(3, "i")
    out = binary("add")({}, a, b)
    assert out.dtype == "float64"  # numpy: int32 with float32 is float64
    assert out((i,)) is Expr("add", (cast(load(0, i, "int32"), "float64"),
                                     cast(load(1, i, F32), "float64")), "float64")


def test_a_comparison_tests_in_the_promoted_dtype_and_gives_it_back():
    a, b = Lazy.buffer(0, (3,), "int32"), Lazy.buffer(1, (3,), F32)
    i = var(3, "i")
    test = a.map("lt", b, dtype="bool")((i,))
    assert test.dtype == "bool"
    assert [x.dtype for x in test.args] == ["float64", "float64"]
    out = compare("lt")({}, a, b)
    assert out.dtype == "float64"
    assert out((i,)) is where(test, const(1, "float64"), const(0, "float64"))


def test_walk_lists_each_node_once_children_first():
    i = var(3, "i")
    x = load(0, i, F32)
    root = alu("mul", alu("add", x, const(2.0, F32)), x)
    order = walk(root)
    assert len(order) == len(set(map(id, order)))
    assert order[-1] is root
    for k, e in enumerate(order):
        assert all(order.index(c) < k for c in e.children())


# --- weak interning -----------------------------------------------------------------------------
def _interned_loads(slot: int) -> list:
    return [e for e in list(Expr._interned.values()) if e.op is Ops.LOAD and e.args[0] == slot]


def test_an_expression_nothing_refers_to_leaves_the_table():
    e = alu("exp", load(9001, var(7, "weak_i"), F32))
    ref = weakref.ref(e)
    assert len(_interned_loads(9001)) == 1
    del e
    gc.collect()
    assert ref() is None
    assert _interned_loads(9001) == []  # nothing to clear by hand


def test_a_live_expression_is_found_again_and_a_dead_one_is_rebuilt_equal():
    i = var(5, "i")
    e = alu("add", load(0, i, F32), const(1.0, F32))
    assert alu("add", load(0, i, F32), const(1.0, F32)) is e
    text = repr(e)
    del e
    gc.collect()
    assert repr(alu("add", load(0, i, F32), const(1.0, F32))) == text


def test_equal_sub_expressions_of_different_roots_are_one_object():
    i = var(4, "i")
    a = alu("mul", alu("exp", load(0, i, F32)), const(2.0, F32))
    b = alu("add", alu("exp", load(0, i, F32)), const(2.0, F32))
    assert a.args[0] is b.args[0]


def test_positive_and_negative_zero_live_side_by_side():
    plus, minus = const(0.0, F32), const(-0.0, F32)
    assert plus is not minus
    assert math.copysign(1, plus.args[0]) == 1 and math.copysign(1, minus.args[0]) == -1
    assert const(-0.0, F32) is minus


# --- printing -------------------------------------------------------------------------------------
def test_a_leaf_prints_as_its_name_or_value():
    assert repr(var(3, "o0")) == "o0"
    assert repr(const(2.5, F32)) == "2.5"


def test_a_node_prints_in_ssa_form_operands_first():
    i = var(3, "i")
    e = alu("add", alu("exp", load(0, i, F32)), const(1.0, F32))
    assert repr(e).splitlines() == ["%0 = load buf0[i] : float32",
                                    "%1 = exp(%0) : float32",
                                    "%2 = add(%1, 1.0) : float32"]


def test_a_shared_dag_prints_in_text_linear_in_its_size():
    x = load(0, var(3, "i"), F32)
    for _ in range(60):  # a tree of 2^60 leaves, a DAG of 61 nodes
        x = alu("add", x, x)
    lines = repr(x).splitlines()
    assert len(lines) == 61
    assert len(repr(x)) < 61 * 40


def test_a_row_max_used_three_times_prints_once():
    o0 = var(4, "o0")
    row = Lazy.buffer(0, (4, 6), F32)
    top = row.reduce("max", (1,), keepdims=True)((o0, iconst(0)))
    shifted = alu("sub", alu("sub", load(1, o0, F32), top), alu("mul", top, top))
    assert sum("reduce_max" in line for line in repr(shifted).splitlines()) == 1
    assert re.search(r"reduce_max\(%\d+\) over r\d+_1 : float32", repr(shifted))
