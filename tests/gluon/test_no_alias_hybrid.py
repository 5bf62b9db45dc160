"""A hybridized block's outputs are arrays of their own: never the caller's inputs (or a
view of them), never a parameter's data, never each other; compiled or interpreted
(``MINIGLUON_JIT=0``), recorded by autograd or not.  Run eagerly, a block is a sequence of
``nd`` calls and shares memory exactly where MXNet 1.9.1's ``nd`` does (returning ``x``,
``x.reshape``, ``x[0]``).

MXNet itself differs here: its hybridized block returns the caller's array for
``return x`` and a view for ``x[0]`` (docs/mxnet-differences.md).
"""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.compiler.pipeline import compile_graph

nd, sym = mg.nd, mg.sym

# name -> (hybrid_forward body, does the eager result share memory with x as in MXNet's nd)
BODIES = {
    "return x": (lambda F, x: x, True),
    "F.identity": (lambda F, x: F.identity(x), False),
    "F.BlockGrad": (lambda F, x: F.BlockGrad(x), False),
    "x.detach()": (lambda F, x: x.detach(), True),
    "F.reshape": (lambda F, x: F.reshape(x, shape=(-1,)), False),
    "F.reshape same shape": (lambda F, x: F.reshape(x, shape=(4, 3)), False),
    "x.reshape": (lambda F, x: x.reshape((3, 4)), True),
    "F.transpose": (lambda F, x: F.transpose(x), False),
    "x.T.T": (lambda F, x: x.T.T, False),
    "F.expand_dims": (lambda F, x: F.expand_dims(x, axis=0), False),
    "F.Flatten": (lambda F, x: F.Flatten(x), False),
    "F.squeeze": (lambda F, x: F.squeeze(x), False),
    "F.broadcast_to same": (lambda F, x: F.broadcast_to(x, shape=(4, 3)), False),
    "F.Cast same dtype": (lambda F, x: F.Cast(x, dtype="float32"), False),
    "x.astype copy=False": (lambda F, x: x.astype("float32", copy=False), True),
    "x * 1": (lambda F, x: x * 1, False),
    "F.slice_axis": (lambda F, x: F.slice_axis(x, axis=0, begin=1, end=3), False),
    "x[0]": (lambda F, x: x[0], True),
    "x[1:3]": (lambda F, x: x[1:3], True),
    "x[:, 1]": (lambda F, x: x[:, 1], False),
    "(x, x)": (lambda F, x: (x, x), True),
    "(x.reshape, x)": (lambda F, x: (x.reshape((-1,)), x), True),
    "(y, y)": (lambda F, x: (lambda y: (y, y))(x * 2), False),
    "(y, y.reshape)": (lambda F, x: (lambda y: (y, y.reshape((-1,))))(x * 2), False),
    "(y.reshape, y)": (lambda F, x: (lambda y: (F.reshape(y, shape=(-1,)), y))(x + 1), False),
    "[x, F.BlockGrad(x) * 2]": (lambda F, x: [x, F.BlockGrad(x) * 2], True),
}


class Body(mg.gluon.HybridBlock):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def hybrid_forward(self, F, x):
        return self.body(F, x)


def _outs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _assert_own_memory(outs, ins, what):
    for k, o in enumerate(outs):
        for j, a in enumerate(ins):
            assert not np.shares_memory(o._data, a._data), f"{what}: output {k} is input {j}'s memory"
        for j, p in enumerate(outs[:k]):
            assert not np.shares_memory(o._data, p._data), f"{what}: outputs {j} and {k} share memory"


def _run(body, mode, monkeypatch, record=False):
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = Body(body)
    block.hybridize(mode != "eager")
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    x = nd.array(data)
    jit.reset_stats()
    if record:
        x.attach_grad()
        with autograd.record():
            out = block(x)
    else:
        out = block(x)
    if mode != "eager":
        key = "interpreted_calls" if mode == "interpreted" else "compiled_calls"
        assert jit.stats()[key] == 1, jit.stats()
    return x, data, _outs(out)


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
@pytest.mark.parametrize("name", sorted(BODIES))
def test_hybridized_outputs_have_memory_of_their_own(name, mode, monkeypatch):
    body, _ = BODIES[name]
    _, _, eager = _run(body, "eager", monkeypatch)
    x, data, outs = _run(body, mode, monkeypatch)
    _assert_own_memory(outs, [x], f"{name} ({mode})")
    for o, e in zip(outs, eager):
        np.testing.assert_array_equal(o.asnumpy(), e.asnumpy())
    for o in outs:
        o += 100  # MXNet's own check: nothing the caller holds changes
    np.testing.assert_array_equal(x.asnumpy(), data)
    for o, e in zip(outs, eager):
        np.testing.assert_array_equal(o.asnumpy(), e.asnumpy() + 100)


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
@pytest.mark.parametrize("name", sorted(BODIES))
def test_recorded_hybridized_outputs_have_memory_of_their_own(name, mode, monkeypatch):
    body, _ = BODIES[name]
    x, _, outs = _run(body, mode, monkeypatch, record=True)
    _assert_own_memory(outs, [x], f"{name} ({mode}, recorded)")


@pytest.mark.parametrize("name", sorted(BODIES))
def test_eager_blocks_share_memory_where_mxnet_nd_does(name, monkeypatch):
    body, shares = BODIES[name]
    x, _, outs = _run(body, "eager", monkeypatch)
    assert any(np.shares_memory(o._data, x._data) for o in outs) == shares


class ReturnsItsWeight(mg.gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.weight = self.params.get("weight", shape=(3,), init=mg.init.One())

    def hybrid_forward(self, F, x, weight):
        return weight, F.reshape(weight, shape=(1, 3)), x + weight


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_a_parameter_is_never_an_output_buffer(mode, monkeypatch):
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = ReturnsItsWeight()
    block.collect_params().initialize()
    block.hybridize()
    x = nd.ones((2, 3))
    outs = _outs(block(x))
    _assert_own_memory(outs, [x, block.weight.data()], mode)


class StopsGradient(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.BlockGrad(x) * x + F.BlockGrad(x * 2), F.BlockGrad(x)


@pytest.mark.parametrize("mode", ["eager", "compiled", "interpreted"])
def test_block_grad_is_a_copy_with_zero_gradient_in_every_mode(mode, monkeypatch):
    """As MXNet: the forward value is a copy of x, and no gradient flows back through it."""
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = StopsGradient()
    block.hybridize(mode != "eager")
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y, stopped = block(x)
    autograd.backward([y, stopped])
    np.testing.assert_array_equal(y.asnumpy(), [3, 8, 15])
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 2, 3])  # d(c * x)/dx = c = x
    assert not np.shares_memory(stopped._data, x._data)
    stopped += 1
    np.testing.assert_array_equal(x.asnumpy(), [1, 2, 3])


def _exe(fn, shape=(4, 3)):
    x = sym.var("x", shape=shape)
    return compile_graph(fn(x), ["x"])


def test_outputs_in_new_buffers_are_not_copied():
    """The common case pays nothing: a kernel's output, or a reshape of one, is returned
    as it is; the one-kernel fast path stays."""
    assert _exe(lambda x: x * 2).single is not None
    for fn in (lambda x: x * 2, lambda x: sym.reshape(x * 2, shape=(-1,)),
               lambda x: sym.Group([x * 2, x + 1])):
        exe = _exe(fn)
        assert (exe.copied, exe.checked) == ((), ())


@pytest.mark.parametrize("fn,copied", [
    (lambda x: x, (0,)),
    (lambda x: sym.reshape(x, shape=(-1,)), (0,)),
    (lambda x: sym.Group([x * 2, x * 2]), (1,)),  # one buffer after common subexpressions merge
    (lambda x: sym.Group([sym.reshape(x * 2, shape=(-1,)), x * 2]), (1,)),
    (lambda x: sym.Group([x, x * 2, sym.BlockGrad(x)]), (0, 2)),
])
def test_outputs_that_reach_an_input_or_another_output_are_copied(fn, copied):
    assert _exe(fn).copied == copied


def test_a_numpy_step_that_returns_a_view_is_copied_at_run_time():
    """Which numpy kernel returns a view is not known ahead: its outputs are checked per run."""
    from minigluon.compiler.executable import Executable
    from minigluon.compiler.schedule import Schedule, Step
    sched = Schedule(buffers=[((2, 3), "float32"), ((3, 2), "float32"), ((6,), "float32"),
                              ((2, 3), "float32")],
                     inputs=[0], outputs=[1, 2, 3],
                     steps=[Step("external", 1, [0], [1], op="Reshape", attrs={"shape": "(3, 2)"}),
                            Step("alias", 2, [1], [2]),
                            Step("external", 3, [0], [3], op="_copy")])
    exe = Executable(sched, None, {})
    assert (exe.copied, exe.checked) == ((), (0, 1, 2))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    outs = exe.run([x])
    for k, o in enumerate(outs):
        assert not np.shares_memory(o, x), k
        assert all(not np.shares_memory(o, p) for p in outs[:k]), k
    np.testing.assert_array_equal(outs[1], np.arange(6))
    np.testing.assert_array_equal(outs[2], x)
