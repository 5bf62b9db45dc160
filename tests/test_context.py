"""Contexts: MXNet's Context API on a CPU-only library (a GPU is refused when used)."""
import numpy as np
import pytest

import minigluon as mg

nd = mg.nd


def test_context_repr_equality_and_fields():
    c = mg.cpu(1)
    assert repr(c) == str(c) == "cpu(1)"
    assert (c.device_type, c.device_id) == ("cpu", 1)
    assert mg.cpu() == mg.Context("cpu", 0) == mg.Context(mg.cpu(0))
    assert mg.cpu(0) != mg.cpu(1) and mg.cpu(0) != mg.gpu(0) and mg.cpu(0) != "cpu(0)"
    assert len({mg.cpu(0), mg.cpu(), mg.cpu(1)}) == 2
    assert repr(mg.gpu(2)) == "gpu(2)" and mg.num_gpus() == 0
    assert mg.context.Context is mg.Context


def test_bad_context_arguments():
    with pytest.raises(ValueError, match="device_type"):
        mg.Context("tpu")
    with pytest.raises(ValueError, match="device_id"):
        mg.cpu(-1)
    with pytest.raises(ValueError, match="ctx"):
        nd.zeros((2,), ctx=3)


def test_with_scope_sets_current_context_and_restores_it():
    assert mg.current_context() == mg.cpu(0)
    with mg.cpu(3) as c:
        assert c == mg.cpu(3) and mg.current_context() == mg.cpu(3)
        with mg.cpu(4):
            assert mg.current_context() == mg.cpu(4)
        assert nd.zeros((2,)).context == mg.cpu(3)
    assert mg.current_context() == mg.cpu(0)


@pytest.mark.parametrize("make", [
    lambda ctx: nd.array([1, 2], ctx=ctx), lambda ctx: nd.zeros((2,), ctx=ctx),
    lambda ctx: nd.ones(2, ctx=ctx), lambda ctx: nd.full((2,), 3.0, ctx=ctx),
    lambda ctx: nd.empty((2,), ctx=ctx), lambda ctx: nd.arange(2, ctx=ctx),
    lambda ctx: nd.eye(2, ctx=ctx)])
def test_creation_functions_take_ctx(make):
    assert make(mg.cpu(1)).context == mg.cpu(1)
    assert make(None).ctx == mg.cpu(0)
    with pytest.raises(mg.MXNetError, match="CPU only"):
        make(mg.gpu(0))


def test_gpu_refused_inside_with_scope_and_for_ops():
    with mg.gpu(0):
        with pytest.raises(mg.MXNetError, match="CPU only"):
            nd.array([1.0])
    x = nd.ones((2,))
    with pytest.raises(mg.MXNetError, match="CPU only"):
        nd.zeros_like(x, ctx=mg.gpu(0))
    with pytest.raises(mg.MXNetError, match="CPU only"):
        x.as_in_context(mg.gpu(0))


def test_as_in_context_same_is_self_other_is_a_copy():
    x = nd.array([1.0, 2.0])
    assert x.as_in_context(mg.cpu(0)) is x
    y = x.as_in_context(mg.cpu(1))
    assert y is not x and y.context == mg.cpu(1)
    y[0] = 5.0
    assert x.asnumpy()[0] == 1.0
    assert "@cpu(1)" in repr(y)


def test_copyto_context_and_array():
    x = nd.array([[1.0, 2.0]])
    y = x.copyto(mg.cpu(0))
    assert y is not x and np.array_equal(y.asnumpy(), x.asnumpy())
    y[0, 0] = 7.0
    assert x.asnumpy()[0, 0] == 1.0
    z = nd.zeros((1, 2), dtype="float64")
    assert x.copyto(z) is z and z.dtype == np.float64
    assert np.array_equal(z.asnumpy(), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="shape"):
        x.copyto(nd.zeros((2, 1)))


def test_positional_ctx_follows_mxnet_signatures():
    assert nd.zeros((2,), mg.cpu(1)).context == mg.cpu(1)
    ones = nd.ones(2, mg.cpu(), "float64")
    assert ones.dtype == np.float64 and ones.context == mg.cpu(0)
    full = nd.full((2,), 3, mg.cpu(2))
    assert full.context == mg.cpu(2) and full.asnumpy().tolist() == [3, 3]
    assert nd.full((1,), val=4, dtype="int32").asnumpy().tolist() == [4]
    assert nd.array([1], mg.cpu(1), "float16").dtype == np.float16
    assert nd.array([1], "float64").dtype == np.float64  # a dtype second is still read
    with pytest.raises(TypeError, match="positionally"):
        nd.zeros((2,), mg.cpu(), "float32", 5)


def test_results_of_ops_stay_on_their_inputs_context():
    x = nd.ones((2,), ctx=mg.cpu(2))
    assert (x + 1).context == mg.cpu(2) and nd.exp(x).context == mg.cpu(2)
    assert (nd.ones((2,)) * 2).context == mg.cpu(0)
