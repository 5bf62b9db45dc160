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
