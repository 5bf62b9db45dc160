"""Pooling's and Pad's shape rules and refusals as MXNet 1.9.1's (numbers below were read
off MXNet 1.9.1), the corner values of its kernel (a window with no input in it, lp's
signed roots), eagerly and compiled."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import MXNetError
from minigluon.compiler.pipeline import compile_graph

nd, sym = mg.nd, mg.sym


@pytest.mark.parametrize("attrs,shape,want", [
    ({"kernel": (3, 3), "stride": (2, 2), "pooling_convention": "full"}, (2, 3, 7, 6), (2, 3, 3, 3)),
    ({"kernel": (3, 3), "pad": (2, 2)}, (2, 3, 7, 6), (2, 3, 9, 8)),
    ({"kernel": (3, 3), "pad": (3, 3)}, (2, 3, 7, 6), (2, 3, 11, 10)),
    ({"kernel": (3, 3), "layout": "NHWC"}, (2, 3, 7, 6), (2, 1, 5, 6)),
    ({"global_pool": True}, (2, 3, 7, 6), (2, 3, 1, 1)),
    ({"kernel": (3, 3), "global_pool": True, "pooling_convention": "full"}, (2, 3, 7, 6),
     (2, 3, 1, 1)),
    ({"kernel": (3,)}, (1, 1, 7), (1, 1, 5)),
])
def test_output_shapes_are_mxnets(attrs, shape, want):
    assert nd.Pooling(nd.ones(shape), **attrs).shape == want
    assert sym.Pooling(sym.var("x", shape=shape), **attrs).infer_shape()[1] == [want]


@pytest.mark.parametrize("attrs,shape,message", [
    ({"kernel": (3,)}, (1, 7), r"3D \(batch, channel, x\).*got shape \(1, 7\)"),
    ({"kernel": (9, 3)}, (2, 3, 7, 6), r"kernel size \(9\) exceeds input \(7 padded to 7\)"),
    ({"kernel": (3,)}, (2, 3, 7, 6), r"kernel \(3,\) must have 2 entries"),
    ({}, (2, 3, 7, 6), r"kernel \(\) must have 2 entries"),
    ({"kernel": (3, 3), "stride": (0, 1)}, (2, 3, 7, 6), "stride must be positive"),
    ({"kernel": (3, 3), "stride": (1,)}, (2, 3, 7, 6), r"stride \(1,\) must have 2 entries"),
    ({"kernel": (3,), "pooling_convention": "same"}, (1, 1, 7), "'same' does not work"),
    ({"kernel": (2, 2), "pool_type": "lp"}, (1, 1, 4, 4), "p_value 1, 2 or 3, got None"),
    ({"kernel": (2, 2), "pool_type": "lp", "p_value": 4}, (1, 1, 4, 4), "got 4"),
    ({"kernel": (2, 2), "layout": "NCW"}, (1, 1, 4, 4), "layout 'NCW' does not fit 4D"),
])
def test_bad_arguments_are_refused_naming_them(attrs, shape, message):
    with pytest.raises(MXNetError, match=message):
        nd.Pooling(nd.ones(shape), **attrs)


def test_integer_data_is_refused_as_mxnet():
    with pytest.raises(TypeError, match="int32.*floating-point"):
        nd.Pooling(nd.ones((1, 1, 4), dtype="int32"), kernel=(2,))
    with pytest.raises(TypeError, match="int32.*floating-point"):
        nd.Pad(nd.ones((1, 1, 2, 2), dtype="int32"), mode="edge", pad_width=(0,) * 8)


def _both(fn, x):
    """fn's result eagerly and compiled, both checked to be equal, and returned."""
    eager = fn(nd, nd.array(x, dtype=x.dtype)).asnumpy()
    v = sym.var("x", shape=x.shape, dtype=str(x.dtype))
    exe = compile_graph(fn(sym, v), ["x"])
    assert not exe.interpreted
    np.testing.assert_allclose(exe.run([x])[0], eager, rtol=1e-6)
    return eager


@pytest.mark.parametrize("pool_type,include,want", [
    ("max", True, [1.0, 5.0, np.finfo(np.float32).min]),
    ("avg", True, [0.5, 4.5, 0.0]),
    ("avg", False, [1.0, 4.5, 0.0]),
    ("sum", True, [1.0, 9.0, 0.0]),
])
def test_a_window_past_the_input_gives_mxnets_value(pool_type, include, want):
    """'full' with stride 4 > kernel 2: the last window starts at 7, past 5 + pad 1."""
    x = np.arange(1.0, 6.0, dtype=np.float32).reshape(1, 1, 5)
    got = _both(lambda F, v: F.Pooling(v, kernel=(2,), stride=(4,), pad=(1,),
                                       pool_type=pool_type, pooling_convention="full",
                                       count_include_pad=include), x)
    np.testing.assert_array_equal(got.ravel(), np.asarray(want, np.float32))


@pytest.mark.parametrize("p,want", [(1, [-3.0, -1.0, 1.0, 3.0]),
                                    (3, [-2.0800838, -1.0, 1.0, 2.0800838])])
def test_lp_pooling_keeps_the_sign_as_mxnet(p, want):
    x = np.arange(-2.0, 3.0, dtype=np.float32).reshape(1, 1, 5)
    got = _both(lambda F, v: F.Pooling(v, kernel=(2,), pool_type="lp", p_value=p), x)
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-6)


def test_max_pooling_skips_nan_as_mxnet():
    """MXNet 1.9.1: [1, nan, 3, 0] pooled by 2 gives [1, 3, 3]; a window of NaN only
    gives the lowest float."""
    x = np.array([[[1.0, np.nan, 3.0, 0.0, np.nan, np.nan]]], np.float32)
    got = _both(lambda F, v: F.Pooling(v, kernel=(2,), stride=(1,)), x)
    np.testing.assert_array_equal(got.ravel(), [1, 3, 3, 0, np.finfo(np.float32).min])


def test_float64_stays_float64_and_max_gradient_goes_to_the_first_maximum():
    x = nd.array([[[2.0, 2.0, 1.0, 2.0]]], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.Pooling(x, kernel=(2,), stride=(1,))
    y.backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64
    # windows [2, 2], [2, 1], [1, 2] pick positions 0 (the first of a tie), 1 and 3
    np.testing.assert_array_equal(x.grad.asnumpy(), [[[1.0, 1.0, 0.0, 1.0]]])


def test_gradient_of_the_gradient_is_refused_as_mxnet():
    x = nd.array(np.random.default_rng(0).standard_normal((1, 1, 4, 4)))
    x.attach_grad()
    with autograd.record():
        y = nd.Pooling(x, kernel=(2, 2))
        g = autograd.grad(y, x, create_graph=True)[0]
        z = (g * x).sum()
    with pytest.raises(RuntimeError, match="_backward_Pooling has no gradient"):
        z.backward()


@pytest.mark.parametrize("attrs,shape,message", [
    ({"mode": "reflect", "pad_width": (0, 0, 0, 0, 3, 3, 1, 1)}, (2, 1, 3, 3),
     "reflect padding must be smaller"),
    ({"mode": "constant", "pad_width": (0, 0, 1, 0, 1, 1, 1, 1)}, (2, 1, 3, 3),
     "first two axes must be zero"),
    ({"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 1)}, (2, 1, 3, 3),
     r"2 entries per axis of data \(2, 1, 3, 3\) \(8\)"),
    ({"mode": "constant", "pad_width": (0, 0, 1, 1)}, (2, 9), "4-D or 5-D"),
    ({"mode": "constant", "pad_width": (0, 0, 0, 0, -1, 1, 1, 1)}, (2, 1, 3, 3), ">= 0"),
    ({"pad_width": (0,) * 8}, (2, 1, 3, 3), "needs attribute 'mode'"),
    ({"mode": "constant"}, (2, 1, 3, 3), "needs attribute 'pad_width'"),
])
def test_pad_refuses_what_mxnet_refuses(attrs, shape, message):
    with pytest.raises(MXNetError, match=message):
        nd.Pad(nd.ones(shape), **attrs)


def test_pad_values_and_its_lowercase_name_are_mxnets():
    x = np.arange(9.0, dtype=np.float32).reshape(1, 1, 3, 3)
    got = _both(lambda F, v: F.pad(v, mode="reflect", pad_width=(0, 0, 0, 0, 2, 2, 1, 1)), x)
    # MXNet 1.9.1's first 12 values of the same call
    np.testing.assert_array_equal(got.ravel()[:12], [7, 6, 7, 8, 7, 4, 3, 4, 5, 4, 1, 0])
    got = _both(lambda F, v: F.pad(v, mode="edge", pad_width=(0, 0, 0, 0, 5, 5, 1, 1)), x)
    assert got.shape == (1, 1, 13, 5)
    np.testing.assert_array_equal(got.ravel()[:12], [0, 0, 1, 2, 2, 0, 0, 1, 2, 2, 0, 0])
