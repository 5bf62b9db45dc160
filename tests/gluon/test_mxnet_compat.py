"""Behaviours MXNet 1.9.1's own test_gluon.py relies on (checked here our way)."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, gluon, nd


def test_constant_from_list_or_int_array_is_float32():
    # MXNet builds a Constant's value with nd.array, which defaults to float32
    for value in ([[1, 2], [3, 4]], np.array([[1, 2], [3, 4]], dtype=np.int64)):
        c = gluon.Constant("c", value)
        assert c.dtype == np.float32
        c.initialize()
        assert c.data().dtype == np.float32
        np.testing.assert_array_equal(c.data().asnumpy(), [[1, 2], [3, 4]])


def test_constant_added_to_float_input_trains_nothing():
    class AddConst(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.const = self.params.get_constant("const", np.array([[1, 2], [3, 4]]))

        def hybrid_forward(self, F, x, const):
            return x + const

    for hybrid in (False, True):
        net = AddConst()
        net.initialize()
        if hybrid:
            net.hybridize()
        x = nd.ones((2, 2))
        x.attach_grad()
        with autograd.record():
            y = net(x)
        y.backward()
        np.testing.assert_array_equal(y.asnumpy(), [[2, 3], [4, 5]])
        np.testing.assert_array_equal(x.grad.asnumpy(), np.ones((2, 2)))


def test_parameter_dtype_equals_name_class_and_dtype():
    p = gluon.Parameter("w", shape=(2,), dtype="float16")
    assert p.dtype == "float16" and p.dtype == np.float16 and p.dtype == np.dtype("float16")
    assert p.dtype != np.float32
    p.initialize()
    p.cast(np.float64)
    assert p.dtype == np.float64 and p.data().dtype == np.float64
    assert "float64" in repr(p)


def test_load_with_saved_dtype_source_takes_the_file_dtype(tmp_path):
    net = gluon.nn.Dense(3, in_units=2)
    net.initialize()
    net.cast("float16")
    path = str(tmp_path / "w.params")
    net.save_parameters(path)
    net.cast("float32")
    net.load_parameters(path, cast_dtype=True, dtype_source="saved")
    assert net.weight.dtype == np.float16 and net.weight.data().dtype == np.float16


def test_private_grad_list_follows_grad_req():
    p = gluon.Parameter("w", shape=(2,))
    assert p._grad is None  # not initialized
    p.initialize()
    assert len(p._grad) == 1 and p._grad[0] is p.grad()
    p.grad_req = "null"
    assert p._grad is None
    p.grad_req = "write"
    assert p._grad is not None and p._grad[0].shape == (2,)


def test_train_and_predict_mode_switch_training_only():
    assert not autograd.is_training()
    with autograd.train_mode():
        assert autograd.is_training() and not autograd.is_recording()
        with autograd.record():
            with autograd.predict_mode():
                assert not autograd.is_training() and autograd.is_recording()
            assert autograd.is_training()
    assert not autograd.is_training()


def test_dropout_drops_under_train_mode_eager_and_hybridized():
    for hybrid in (False, True):
        drop = gluon.nn.Dropout(0.5)
        if hybrid:
            drop.hybridize()
        x = nd.ones((40, 40))
        np.testing.assert_array_equal(drop(x).asnumpy(), x.asnumpy())  # predicting
        with autograd.train_mode():
            y = drop(x).asnumpy()
        assert set(np.unique(y)) == {0.0, 2.0}
        with autograd.record(), autograd.predict_mode():
            np.testing.assert_array_equal(drop(x).asnumpy(), x.asnumpy())


def test_set_training_and_set_recording_return_the_previous_state():
    assert autograd.set_training(True) is False
    try:
        assert autograd.is_training()
        assert autograd.set_recording(True) is False
        assert autograd.is_recording()
        assert autograd.set_recording(False) is True
    finally:
        autograd.set_training(False)
    assert not autograd.is_training() and not autograd.is_recording()


def test_reset_arrays_zeroes_each_array_in_place():
    a, b = nd.ones((2, 3), dtype="float16"), nd.array([1.0, -2.0], dtype="float64")
    same_a = a
    nd.reset_arrays(a, b, num_arrays=2)
    assert same_a is a and a.dtype == np.float16 and b.dtype == np.float64
    assert not a.asnumpy().any() and not b.asnumpy().any()
    with pytest.raises(ValueError, match="num_arrays"):
        nd.reset_arrays(a, num_arrays=2)
    with pytest.raises(TypeError, match=r"data\[0\]"):
        nd.reset_arrays(np.ones(2), num_arrays=1)


def test_squeeze_inplace_is_a_view_and_default_a_copy():
    x = nd.ones((2, 1, 3))
    view, copy = x.squeeze(inplace=True), x.squeeze(axis=1)
    assert view.shape == copy.shape == (2, 3)
    view[0] = 5.0
    copy[1] = 7.0
    np.testing.assert_array_equal(x.asnumpy()[:, 0, 0], [5.0, 1.0])

    class Squeeze(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return x.squeeze(inplace=True)

    net = Squeeze()
    net.hybridize()
    assert net(nd.ones((3, 1))).shape == (3,)


def test_gluon_nn_exports_the_block_classes():
    assert gluon.nn.HybridBlock is gluon.HybridBlock and gluon.nn.Block is gluon.Block
    assert gluon.nn.SymbolBlock is gluon.SymbolBlock
    assert mg.gluon.nn.HybridBlock is mg.gluon.block.HybridBlock


def test_traced_layer_names_carry_the_block_prefix():
    # MXNet: hybrid_forward runs under the block's name prefix, given names included
    net = gluon.nn.Dense(4, activation="tanh", in_units=3, prefix="mlp_")
    out = net(mg.sym.var("data"))
    assert out.list_outputs() == ["mlp_tanh_fwd_output"]
    names = out.get_internals().list_outputs()
    assert "mlp_fwd_output" in names and len(names) == len(set(names))
    _, shapes, _ = out.infer_shape(data=(2, 3))
    assert shapes == [(2, 4)]

    class Twice(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.relu(x, name="fwd") + F.relu(x)

    names = Twice(prefix="t_")(mg.sym.var("x")).get_internals().list_outputs()
    assert names == ["x", "t_fwd_output", "t_relu0_output", "t__plus0_output"]


def test_hybridized_inputs_on_several_contexts_raise_value_error():
    class Add(gluon.HybridBlock):
        def hybrid_forward(self, F, a, b):
            return a + b

    net = Add()
    a, b = nd.ones((3,), ctx=mg.cpu(1)), nd.ones((3,), ctx=mg.cpu(2))
    np.testing.assert_array_equal(net(a, b).asnumpy(), np.full(3, 2.0))  # eager: any
    net.hybridize()
    with pytest.raises(ValueError, match=r"several contexts \(a: cpu\(1\), b: cpu\(2\)\)"):
        net(a, b)
    np.testing.assert_array_equal(net(a, b.as_in_context(mg.cpu(1))).asnumpy(), np.full(3, 2.0))


def test_take_truncates_then_clips_or_wraps():
    a = nd.arange(6).reshape((2, 3))
    idx = nd.array([-1.5, 2.7, 7])  # truncated to -1, 2, 7
    np.testing.assert_array_equal(nd.take(a, idx, axis=1, mode="wrap").asnumpy(),
                                  [[2, 2, 1], [5, 5, 4]])
    np.testing.assert_array_equal(a.take(idx, axis=1).asnumpy(), [[0, 2, 2], [3, 5, 5]])
    assert a.take(nd.array([[1, 0]])).shape == (1, 2, 3)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        nd.take(a, nd.array([3]), axis=1, mode="raise")


def test_take_gradient_adds_repeated_rows_eager_and_hybridized():
    class Rows(gluon.HybridBlock):
        def hybrid_forward(self, F, table, index):
            return table.take(index), index

    grads = []
    for hybrid in (False, True):
        net = Rows()
        if hybrid:
            net.hybridize()
        table = nd.arange(12).reshape((4, 3))
        table.attach_grad()
        with autograd.record():
            rows, _ = net(table, nd.array([2, 0, 2, 9]))  # 9 clips to row 3
        rows.backward(nd.ones((4, 3)) * nd.array([[1], [2], [3], [4]]))
        np.testing.assert_array_equal(rows.asnumpy()[:, 0], [6, 0, 6, 9])
        grads.append(table.grad.asnumpy())
    np.testing.assert_array_equal(grads[0], [[2] * 3, [0] * 3, [4] * 3, [4] * 3])
    np.testing.assert_array_equal(grads[0], grads[1])
