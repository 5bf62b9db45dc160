"""Convolution's and Deconvolution's shape rules and refusals, as MXNet 1.9.1 gives them
(each expected shape or refusal below was read off MXNet 1.9.1 on the same call), and
the dtypes MXNet's CPU kernels take."""
import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError
from minigluon.compiler.pipeline import compile_graph
from minigluon.ops import get_op
from minigluon.ops.registry import DTypeError

nd, sym = mg.nd, mg.sym

X, W, B = (2, 4, 7, 7), (6, 4, 3, 3), (6,)
XD, WD = (2, 6, 5, 5), (6, 4, 3, 3)


def _conv(x=X, w=W, b=B, **attrs):
    args = [nd.ones(s) for s in (x, w, b) if s is not None]
    return nd.Convolution(*args, **{"kernel": (3, 3), "num_filter": 6, **attrs})


def _deconv(x=XD, w=WD, **attrs):
    return nd.Deconvolution(nd.ones(x), nd.ones(w), **{"kernel": (3, 3), "num_filter": 4, **attrs})


@pytest.mark.parametrize("attrs,shape", [
    ({}, (2, 6, 5, 5)),
    ({"layout": "NCHW"}, (2, 6, 5, 5)),
    ({"stride": (2, 1), "pad": (1, 0)}, (2, 6, 4, 5)),
    ({"dilate": (2, 3)}, (2, 6, 3, 1)),
    ({"workspace": 512, "cudnn_tune": "fastest", "cudnn_off": True}, (2, 6, 5, 5)),
])
def test_convolution_shapes(attrs, shape):
    assert _conv(**attrs).shape == shape


@pytest.mark.parametrize("attrs,shape", [
    ({}, (2, 4, 7, 7)),
    ({"stride": (2, 2), "adj": (1, 1)}, (2, 4, 12, 12)),
    ({"stride": (2, 2), "target_shape": (10, 11)}, (2, 4, 10, 11)),
    ({"stride": (2, 2), "pad": (1, 1), "target_shape": (9, 9)}, (2, 4, 9, 9)),
    ({"stride": (2, 2), "target_shape": (9, 0)}, (2, 4, 9, 0)),
    ({"pad": (3, 3)}, (2, 4, 1, 1)),
    ({"dilate": (2, 2)}, (2, 4, 9, 9)),
])
def test_deconvolution_shapes(attrs, shape):
    assert _deconv(**attrs).shape == shape


@pytest.mark.parametrize("call,match", [
    (lambda: _conv(kernel=(9, 9)), "larger than the padded input"),
    (lambda: _conv(w=(6, 2, 3, 3), num_group=3), "num_group 3 must divide"),
    (lambda: _conv(w=(6, 2, 3, 3), num_filter=5, num_group=2, b=(5,)), "must divide"),
    (lambda: _conv(w=(6, 3, 3, 3)), r"weight must have shape \(6, 4, 3, 3\)"),
    (lambda: _conv(kernel=(3,)), "data must have 3 axes"),
    (lambda: _conv(stride=(0, 1)), "stride must be positive"),
    (lambda: _conv(stride=(2,)), "one entry per kernel axis"),
    (lambda: _conv(b=None), "expects 3 inputs"),
    (lambda: _conv(layout="NHWC"), "layout 'NHWC' is not supported"),
    (lambda: _conv(x=(2, 4, 7, 7, 7, 7), w=(6, 4, 3, 3, 3, 3), kernel=(3, 3, 3, 3)),
     "only 1-d, 2-d and 3-d"),
    (lambda: _deconv(stride=(2, 2), adj=(2, 2)), "adj .* must be smaller than stride"),
    (lambda: _deconv(stride=(2, 2), target_shape=(12, 12)), "too big"),
    (lambda: _deconv(layout="NHWC"), "layout 'NHWC' is not supported"),
    (lambda: nd.Deconvolution(nd.ones(XD), nd.ones(WD), nd.ones((4,)), kernel=(3, 3),
                              num_filter=4), "expects 2 inputs"),
])
def test_refusals_name_what_is_wrong(call, match):
    with pytest.raises(MXNetError, match=match):
        call()


def test_layout_must_be_one_mxnet_knows():
    with pytest.raises(MXNetError, match="NWC"):
        _conv(x=(2, 4, 7), w=(6, 4, 3), kernel=(3,), layout="NWC")


def test_mixed_dtypes_are_refused():
    with pytest.raises(DTypeError, match="weight is float64"):
        nd.Convolution(nd.ones(X), nd.ones(W, dtype="float64"), nd.ones(B), kernel=(3, 3),
                       num_filter=6)


@pytest.mark.parametrize("dtype", ["int32", "float16"])
def test_int32_and_float16_run_eagerly_and_compiled(dtype):
    rng = np.random.default_rng(1)
    xs = [rng.integers(-3, 4, s).astype(dtype) for s in ((1, 2, 4, 4), (3, 2, 2, 2), (3,))]
    want = nd.Convolution(*[nd.array(a, dtype="float64") for a in xs], kernel=(2, 2),
                          num_filter=3).asnumpy()  # small integers: exact in every dtype
    got = nd.Convolution(*[nd.array(a, dtype=dtype) for a in xs], kernel=(2, 2), num_filter=3)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.asnumpy(), want.astype(dtype))
    vs = [sym.var(n, shape=a.shape, dtype=dtype) for n, a in zip("xwb", xs)]
    exe = compile_graph(sym.Convolution(*vs, kernel=(2, 2), num_filter=3), ["x", "w", "b"])
    assert not exe.interpreted
    np.testing.assert_array_equal(exe.run(xs)[0], want.astype(dtype))


def test_weight_and_bias_shapes_are_deduced_from_data_for_deferred_parameters():
    attrs = {"kernel": (3, 3), "num_filter": 6, "num_group": 2}
    conv = get_op("Convolution")
    full = conv.full_attrs(conv.parse_attrs(attrs))
    assert conv.fill_shapes(full, [(1, 4, 5, 5), None, (6, 0)]) == \
        [(1, 4, 5, 5), (6, 2, 3, 3), (6,)]
    assert conv.fill_shapes(full, [(0, 0, 5, 5), None, None]) == [(0, 0, 5, 5), None, None]
    deconv = get_op("Deconvolution")
    full = deconv.full_attrs(deconv.parse_attrs(attrs))
    assert deconv.fill_shapes(full, [(1, 4, 5, 5), (0, 3, 3, 3)]) == [(1, 4, 5, 5), (4, 3, 3, 3)]
