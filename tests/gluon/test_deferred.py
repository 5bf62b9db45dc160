"""Deferred initialization: a Parameter whose shape holds 0 (unknown) and
allow_deferred_init=True is initialized at the block's first call, its shape inferred from
the ops that read it (``Op.fill_shapes``), eagerly and hybridized, as MXNet 1.9.1."""
import numpy as np
import pytest

import minigluon as mg
from minigluon.gluon.parameter import DeferredInitializationError
from minigluon.ops.registry import get_op

nd = mg.nd


def _same_as_known(attrs, shapes):
    """MXNet's rule for elementwise ops: an unknown input has the shape of a known one."""
    known = next((s for s in shapes if s is not None), None)
    return [known if s is None else s for s in shapes]


@pytest.fixture
def elementwise_fill(monkeypatch):
    # test-only: the elementwise ops' own fill_shapes belong to the op tables
    for name in ("elemwise_add", "broadcast_mul"):
        monkeypatch.setattr(get_op(name), "fill_shapes", _same_as_known)


class Shift(mg.gluon.HybridBlock):
    """(x + offset) * 2 with offset's shape unknown until the first call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.offset = self.params.get("offset", shape=(0, 0), init=mg.init.Constant(3.0),
                                      allow_deferred_init=True)

    def hybrid_forward(self, F, x, offset):
        return F.elemwise_add(x, offset) * 2


class Outer(mg.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.shift = Shift()
            self.scale = self.params.get("scale", shape=(0, 4), init=mg.init.One(),
                                         allow_deferred_init=True)

    def hybrid_forward(self, F, x, scale):
        return F.broadcast_mul(self.shift(x), scale)


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_deferred_shape_is_inferred_at_the_first_call(elementwise_fill, hybridize):
    block = Shift()
    block.initialize()
    with pytest.raises(DeferredInitializationError, match="initialization was deferred"):
        block.offset.data()
    assert block.offset.shape == (0, 0)
    block.hybridize(hybridize)
    x = nd.array(np.arange(12.0).reshape(3, 4))
    out = block(x)
    assert block.offset.shape == (3, 4)
    np.testing.assert_array_equal(block.offset.data().asnumpy(), np.full((3, 4), 3.0))
    np.testing.assert_array_equal(out.asnumpy(), (np.arange(12.0).reshape(3, 4) + 3) * 2)


@pytest.mark.parametrize("hybridize", [False, True])
def test_deferred_parameters_of_a_nested_network(elementwise_fill, hybridize):
    net = Outer()
    net.initialize()
    net.hybridize(hybridize)
    x = nd.ones((3, 4))
    out = net(x)
    assert net.scale.shape == (3, 4) and net.shift.offset.shape == (3, 4)
    np.testing.assert_array_equal(out.asnumpy(), np.full((3, 4), 8.0))
    with mg.autograd.record():
        y = net(x)
    y.backward()
    np.testing.assert_array_equal(net.scale.grad().asnumpy(), np.full((3, 4), 8.0))
    np.testing.assert_array_equal(net.shift.offset.grad().asnumpy(), np.full((3, 4), 2.0))


def test_set_data_before_the_first_call_is_the_value_taken(elementwise_fill):
    block = Shift()
    block.initialize()
    block.offset.set_data(nd.ones((2, 2)))
    assert block.offset.shape == (2, 2)
    np.testing.assert_array_equal(block(nd.zeros((2, 2))).asnumpy(), np.full((2, 2), 2.0))


class NoRule(mg.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.params.get("w", shape=(3, 0), allow_deferred_init=True)

    def hybrid_forward(self, F, x, w):
        return F.dot(x, w)


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_shape_no_op_can_infer_is_a_clear_error(hybridize):
    block = NoRule()
    block.initialize()
    block.hybridize(hybridize)
    with pytest.raises(ValueError, match=r"Deferred initialization failed because shape cannot "
                                         r"be inferred.*norule\d+_w has shape \(3, 0\)"):
        block(nd.ones((2, 3)))


def test_unknown_shape_without_allow_deferred_init_is_refused_at_initialize():
    p = mg.gluon.Parameter("w", shape=(0, 3))
    with pytest.raises(ValueError, match=r"Cannot initialize Parameter 'w' because it has "
                                         r"invalid shape: \(0, 3\)"):
        p.initialize()
    with pytest.raises(RuntimeError, match="has not been initialized"):
        p.data()


def test_infer_variable_shapes_fills_from_consumers_and_keeps_unknowns(elementwise_fill):
    from minigluon.symbol.interpreter import infer_variable_shapes
    x, w, v = mg.sym.var("x"), mg.sym.var("w"), mg.sym.var("v")
    graph = mg.sym.elemwise_add(x, w) + mg.sym.dot(x, v)
    shapes = infer_variable_shapes(graph, {"x": (2, 2)})
    assert shapes == {"x": (2, 2), "w": (2, 2), "v": None}
    assert infer_variable_shapes(graph, {"x": (2, 0)})["w"] is None  # a 0 is unknown


def test_infer_shape_finishes_deferred_initialization_without_a_call(elementwise_fill):
    net = Outer()
    net.initialize()
    net.infer_shape(nd.ones((2, 4)))
    assert net.scale.shape == (2, 4) and net.shift.offset.shape == (2, 4)
    np.testing.assert_array_equal(net.shift.offset.data().asnumpy(), np.full((2, 4), 3.0))


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_first_call_under_record_initializes_and_differentiates(elementwise_fill, hybridize):
    block = Shift()
    block.initialize()
    block.hybridize(hybridize)
    x = nd.ones((2, 3))
    x.attach_grad()
    with mg.autograd.record():
        y = block(x)
    y.backward()
    np.testing.assert_array_equal(block.offset.grad().asnumpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(x.grad.asnumpy(), np.full((2, 3), 2.0))
