"""The classic Gluon hybridize traps: each user block runs eagerly and hybridized (compiled)
with the same result, or fails in both modes with a message that says why."""
import inspect
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.base import TracingError

nd, sym = mg.nd, mg.sym
RNG = np.random.default_rng(11)


def both_modes(block_cls, *arrays, **kwargs):
    """(eager output, hybridized output) of fresh blocks; the hybridized one compiled."""
    outs = []
    for hybridize in (False, True):
        block = block_cls(**kwargs)
        block.hybridize(hybridize)
        jit.reset_stats()
        out = block(*[nd.array(a, dtype=a.dtype) for a in arrays])
        outs.append(out.asnumpy())
        if hybridize:
            assert jit.stats()["compiled_calls"] == 1 and jit.stats()["interpreted_calls"] == 0
    return outs


def assert_same(block_cls, *arrays, expected=None, **kwargs):
    eager, hybrid = both_modes(block_cls, *arrays, **kwargs)
    np.testing.assert_allclose(hybrid, eager, rtol=1e-6, atol=1e-6)
    if expected is not None:
        np.testing.assert_allclose(eager, expected, rtol=1e-6, atol=1e-6)
    return eager


# --- a symbol knows its shape -----------------------------------------------------------------
class ShapeAware(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        rows, cols = x.shape
        assert x.ndim == 2 and x.size == rows * cols and len(x) == rows
        assert x.dtype == np.float32 and str(x.dtype) == "float32"  # a numpy dtype in both
        return F.sum(x, axis=1) / cols + rows


def test_shape_ndim_size_dtype_len_are_concrete_and_a_new_shape_retraces():
    for shape in [(4, 3), (2, 5)]:
        x = RNG.normal(size=shape).astype(np.float32)
        assert_same(ShapeAware, x, expected=x.mean(axis=1) + shape[0])
    block = ShapeAware()
    block.hybridize()
    for shape in [(4, 3), (2, 5), (4, 3)]:
        block(nd.ones(shape))
    assert len(block._cache) == 2


# --- operators broadcast in both modes -------------------------------------------------------
class Broadcasting(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, a, b):
        return (a + b) * (a > b) - b / (a * a + 1) + (b <= 0.5)


def test_arithmetic_and_comparison_broadcast_in_both_modes():
    a, b = RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=(1, 3)).astype(np.float32)
    expected = (a + b) * (a > b) - b / (a * a + 1) + (b <= 0.5)
    assert_same(Broadcasting, a, b, expected=expected)


# --- slicing means the same in both modes ----------------------------------------------------
SLICES = {
    "row": lambda x: x[1],
    "last_row": lambda x: x[-1],
    "range_and_step": lambda x: x[1:3, ::2],
    "negative_step": lambda x: x[::-1, 3:0:-2],
    "ellipsis_last": lambda x: x[..., -1],
    "new_axis": lambda x: x[None],
    "new_axis_inside": lambda x: x[:, None, 1:],
    "element": lambda x: x[2, 3],
    "three_d": lambda x: x.reshape((2, 3, 4))[1, :, ::3],
}


@pytest.mark.parametrize("name", sorted(SLICES))
def test_slicing_gives_numpy_results_in_both_modes(name):
    take = SLICES[name]

    class Slicer(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return take(x) * 2.0

    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    want = np.array(take(x) * 2.0, ndmin=1)  # MXNet 1.x has no 0-d arrays: one element is (1,)
    out = assert_same(Slicer, x, expected=want)
    assert out.shape == want.shape


class SliceAndIterate(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        total = x[0] * 0
        for row in x:  # rows in both modes
            total = total + row
        return total + x[1:, 0:2].sum()


def test_slices_are_graph_ops_in_the_trace_and_in_the_export(tmp_path):
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    assert_same(SliceAndIterate, x, expected=x.sum(axis=0) + x[1:, 0:2].sum())
    block = SliceAndIterate()
    block.hybridize()
    block(nd.array(x))
    sym_file, params_file = block.export(str(tmp_path / "s"))
    ops = [n["op"] for n in json.loads(open(sym_file).read())["nodes"]]
    assert ops.count("slice") == 5  # x[0] twice (start, first row), two more rows, x[1:, 0:2]
    again = mg.gluon.SymbolBlock.imports(sym_file, ["data"], params_file)
    np.testing.assert_allclose(again(nd.array(x)).asnumpy(), x.sum(axis=0) + x[1:, 0:2].sum(),
                               rtol=1e-6)


@pytest.mark.parametrize("key,error", [
    ((0, 0, 0), IndexError), (5, IndexError), (-6, IndexError),
    ((slice(None, None, 0),), ValueError), ([0, 1], TypeError), ((Ellipsis, Ellipsis), IndexError)])
def test_bad_indices_fail_alike(key, error):
    class Bad(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x[key]

    for hybridize in (False, True):
        block = Bad()
        block.hybridize(hybridize)
        with pytest.raises(error):
            block(nd.ones((5, 3)))


# --- in-place forms -----------------------------------------------------------------------------
class InPlace(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, v):
        y = x * 1.0
        snapshot = y + 0.0  # a new value: sees no update
        y += 1.0  # rebinds y (as Python does for any immutable value)
        y *= v
        alias = y  # the same object as y: sees the assignments below, in both modes
        y[:, 0] = 0.0
        y[1] = v[0] * 10
        y[2:, 1:] = -1.0
        x += 100.0  # rebinding the name: the caller's array is not modified
        return F.stack(alias, snapshot, y, x, axis=0)


def test_in_place_updates_rebind_in_both_modes_and_leave_the_callers_array_alone():
    x, v = RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=(1, 3)).astype(np.float32)
    y = (x + 1.0) * v
    y[:, 0] = 0.0
    y[1] = v[0] * 10
    y[2:, 1:] = -1.0
    assert_same(InPlace, x, v, expected=np.stack([y, x * 1.0, y, x + 100.0]))
    caller = nd.array(x)
    for hybridize in (False, True):
        block = InPlace()
        block.hybridize(hybridize)
        block(caller, nd.array(v))
        np.testing.assert_array_equal(caller.asnumpy(), x)


class AssignsIntoInput(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        x[0] = 0.0
        return x


def test_assigning_into_an_input_is_refused_in_both_modes_with_a_fix():
    for hybridize in (False, True):
        block = AssignsIntoInput()
        block.hybridize(hybridize)
        with pytest.raises(TracingError, match=r"AssignsIntoInput.hybrid_forward at .*"
                                               r"test_hybridize_traps.py:\d+: `x\[0\] = 0.0`: "
                                               r"assigning into the block's input 'x'.*x = x.copy\(\)"):
            block(nd.ones((2, 2)))


class CopyThenAssign(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        x = x.copy()
        x[0] = 0.0
        return x * 2


def test_the_suggested_fix_works_and_is_differentiable():
    data = RNG.normal(size=(3, 2)).astype(np.float32)
    want = data * 2
    want[0] = 0
    assert_same(CopyThenAssign, data, expected=want)
    for hybridize in (False, True):
        block = CopyThenAssign()
        block.hybridize(hybridize)
        x = nd.array(data)
        x.attach_grad()
        with autograd.record():
            block(x).backward()
        np.testing.assert_array_equal(x.grad.asnumpy(), [[0, 0], [2, 2], [2, 2]])


def test_slicing_and_assignment_are_differentiable_eager_and_hybridized():
    class Block(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x, w):
            y = x * w
            y[:, 1] = y[:, 0] * 3.0  # overwrites column 1 with 3 * column 0
            return (y[::-1, 1:] ** 2).sum()

    a, b = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    grads = []
    for hybridize in (False, True):
        block = Block()
        block.hybridize(hybridize)
        x, w = nd.array(a, dtype="float64"), nd.array(b, dtype="float64")
        x.attach_grad()
        with autograd.record():
            block(x, w).backward()
        grads.append(x.grad.asnumpy())
    # loss = sum((3 x0 w0)^2) over rows: d/dx0 = 18 x0 w0^2, d/dx1 = 0
    want = np.stack([18 * a[:, 0] * b[:, 0] ** 2, np.zeros(3)], axis=1)
    for g in grads:
        np.testing.assert_allclose(g, want, rtol=1e-12)


# --- a traced value is not a Python value --------------------------------------------------------
class PythonIf(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        if x.sum() > 0:
            return x
        return -x


class PythonFloat(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return x * float(x.max())


class AsNumpy(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return x * x.asnumpy().mean()


@pytest.mark.parametrize("block_cls,line,what", [
    (PythonIf, "if x.sum() > 0:", r"bool\(\)"),
    (PythonFloat, "return x * float(x.max())", r"float\(\)"),
    (AsNumpy, "return x * x.asnumpy().mean()", r"\.asnumpy\(\)")])
def test_python_conversions_of_traced_values_name_the_line_and_suggest_where(block_cls, line, what):
    block = block_cls()
    assert block(nd.ones((2, 2))).shape == (2, 2)  # eagerly the value exists
    block.hybridize()
    src, start = inspect.getsourcelines(block_cls.hybrid_forward)
    lineno = start + next(i for i, s in enumerate(src) if line in s)
    with pytest.raises(TracingError) as info:
        block(nd.ones((2, 2)))
    msg = str(info.value)
    assert f"{block_cls.__name__}.hybrid_forward at " in msg
    assert f"test_hybridize_traps.py:{lineno}: `{line}`" in msg
    assert "F.where(condition, x, y)" in msg
    import re
    assert re.search(what, msg)


class WhereInstead(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        s = F.sum(x, axis=1, keepdims=True)
        return F.where(F.broadcast_greater(s, F.zeros_like(s)).broadcast_like(x), x, -x)


def test_the_suggested_where_gives_the_branch_per_row():
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    want = np.where(x.sum(axis=1, keepdims=True) > 0, x, -x)
    assert_same(WhereInstead, x, expected=want)


# --- NDArray outside hybrid_forward keeps MXNet's in-place semantics ----------------------------
def test_ndarray_in_place_outside_blocks_writes_memory_like_mxnet():
    w = nd.array([1.0, 2.0, 3.0])
    same = w
    w -= nd.array([0.5, 0.5, 0.5])
    w *= 2
    w[0] = 10.0
    w[1:] = nd.array([7.0, 8.0])
    assert same is w
    np.testing.assert_array_equal(same.asnumpy(), [10.0, 7.0, 8.0])
    idx = w[nd.array([0, 2], dtype="int64")]  # index arrays: numpy's advanced indexing
    np.testing.assert_array_equal(idx.asnumpy(), [10.0, 8.0])


def test_in_place_on_a_variable_while_recording_is_refused():
    x = nd.ones((2,))
    x.attach_grad()
    with autograd.record():
        with pytest.raises(ValueError, match="attach_grad"):
            x += 1
        with pytest.raises(ValueError, match="attach_grad"):
            x[0] = 3.0


def test_in_place_on_recorded_values_keeps_gradients_right():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = x * x
        z = y  # the same object
        y += x  # y = x^2 + x, recorded
        y[0] = 0.0
        out = y.sum() + z.sum()  # z is y
    out.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), [0.0, 2 * (2 * 2 + 1), 2 * (2 * 3 + 1)])


# --- an NDArray's methods exist on a Symbol ------------------------------------------------------
# autograd's handles on a concrete array: a traced value has no gradient buffer of its own
ND_ONLY_METHODS = {"attach_grad", "grad", "backward",
                   "copyto",  # into another array's memory: MXNet's Symbol has none either
                   "stype"}  # a storage type is an array's; MXNet's Symbol has none either


def test_every_ndarray_method_a_block_may_call_exists_on_symbol():
    nd_attrs = {a for a in dir(nd.NDArray) if not a.startswith("_")}
    sym_attrs = {a for a in dir(sym.Symbol) if not a.startswith("_")}
    assert sorted(nd_attrs - sym_attrs - ND_ONLY_METHODS) == []


class DeviceAndDetach(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        x.wait_to_read()
        y = x.as_in_context(x.context) * F.ones(x.shape, ctx=x.ctx, dtype=x.dtype) + x.T.T * 0
        return y * y.detach()  # d/dx = y (the detached factor is a constant)


def test_context_and_detach_mean_the_same_in_both_modes():
    data = RNG.normal(size=(3, 2))
    grads = []
    for hybridize in (False, True):
        block = DeviceAndDetach()
        block.hybridize(hybridize)
        x = nd.array(data, dtype="float64")
        x.attach_grad()
        with autograd.record():
            out = block(x)
        out.backward()
        np.testing.assert_allclose(out.asnumpy(), data * data)
        grads.append(x.grad.asnumpy())
    for g in grads:
        np.testing.assert_allclose(g, data)


# --- the two namespaces are one --------------------------------------------------------------------
# functions about data, not ops: arrays from Python/numpy data, files of arrays, waiting
ND_DATA_ONLY = {"array", "save", "load", "load_frombuffer", "waitall",
                "reset_arrays"}  # zeroes arrays in place: no graph value to name


def _functions(ns):
    return {n: getattr(ns, n) for n in dir(ns) if not n.startswith("__")
            and callable(getattr(ns, n)) and not inspect.isclass(getattr(ns, n))}


def test_every_nd_op_exists_in_sym_with_the_same_signature():
    nd_fns, sym_fns = _functions(mg.nd), _functions(mg.sym)
    missing = sorted(set(nd_fns) - set(sym_fns) - ND_DATA_ONLY)
    assert missing == []
    for name in sorted(set(nd_fns) - ND_DATA_ONLY):
        assert inspect.signature(nd_fns[name]) == inspect.signature(sym_fns[name]), name
    nd_int, sym_int = _functions(mg.nd._internal), _functions(mg.sym._internal)
    assert sorted(nd_int) == sorted(sym_int)
    for name in nd_int:
        assert inspect.signature(nd_int[name]) == inspect.signature(sym_int[name]), name
    assert len(nd_fns) > 100  # the registry's ops and their aliases, not an empty namespace


def test_every_nd_op_traces_to_the_same_values():
    # the creators (no inputs) are the ops both namespaces build from attributes alone
    cases = {"arange": ((2, 9, 3), {"repeat": 2}), "zeros": (((2, 3),), {}),
             "ones": (((3,),), {"dtype": "int32"}), "full": (((2, 2), 1.5), {}),
             "eye": ((3, 4, 1), {}), "empty": (((2,),), {})}
    for name, (args, kwargs) in cases.items():
        eager = getattr(nd, name)(*args, **kwargs)
        traced = getattr(sym, name)(*args, **kwargs)
        assert traced.shape == eager.shape and traced.dtype == str(eager.dtype)
        np.testing.assert_array_equal(traced.eval()[0].asnumpy(), eager.asnumpy())
