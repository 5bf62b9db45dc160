"""A hybridized block's compiled graphs are keyed by everything they read (inputs and
parameters), forgotten when a child or parameter is replaced, and bounded in number."""
import gc
import weakref

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigluon as mg
from minigluon.compiler import pipeline

nd = mg.nd


class Scale(mg.gluon.HybridBlock):
    def __init__(self, shape=(3,)):
        super().__init__()
        self.w = self.params.get("w", shape=shape)

    def hybrid_forward(self, F, x, w):
        return F.broadcast_mul(x, w) + 1


def _param(name, shape, dtype="float32", value=5.0):
    p = mg.gluon.Parameter(name, shape=shape, dtype=dtype)
    p.initialize(mg.init.Constant(value))
    return p


def _scale(shape=(3,)):
    b = Scale(shape)
    b.collect_params().initialize(mg.init.One())
    b.hybridize()
    return b


@pytest.mark.parametrize("shape,dtype", [((1,), "float32"), ((3,), "float64"), ((2, 3), "float32"),
                                         ((1, 1), "float64")])
def test_replaced_parameter_of_another_type_retraces(shape, dtype):
    """Tying or swapping a weight after the first call: the old kernel read past the new one."""
    b = _scale()
    b.w = _param("w0", (3,), dtype, 1.0)
    x = nd.array(np.arange(6.0).reshape(2, 3), dtype=dtype)
    np.testing.assert_array_equal(b(x).asnumpy(), np.arange(6.0).reshape(2, 3) + 1)
    b.w = _param("w_tied", shape, dtype)
    out = b(x)
    want = np.arange(6.0, dtype=dtype).reshape(2, 3) * np.full(shape, 5.0, dtype) + 1
    assert out.shape == want.shape and out.dtype == want.dtype
    np.testing.assert_array_equal(out.asnumpy(), want)


def test_parameter_types_key_the_graph_even_without_the_block():
    """A parameter cast on its own (not through the block that holds it) selects another
    graph: the compiled one read float32 where there is float64 now."""
    b = _scale()
    x = nd.ones((2, 3), dtype="float64")
    b.w.cast("float64")
    out = b(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 3), 2.0))
    b.w.set_data(nd.array(np.full((3,), 2.0)))
    b.w.cast("float16")
    with pytest.raises(mg.MXNetError, match="float16"):
        b(x)  # the graph for float64 is not run on float16: MXNet refuses mixed dtypes
    b.w.cast("float64")
    np.testing.assert_array_equal(b(x).asnumpy(), np.full((2, 3), 3.0))


def test_replaced_child_or_parameter_clears_the_cache():
    b = _scale()
    b(nd.ones((2, 3)))
    assert len(b._cache) == 1
    b.w = _param("w2", (3,))
    assert len(b._cache) == 0 and len(b._fast) == 0
    b(nd.ones((2, 3)))
    b.extra = Scale()
    assert len(b._cache) == 0


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(swaps=st.lists(st.tuples(st.sampled_from([(1,), (3,), (2, 1), (2, 3), (1, 3)]),
                                st.sampled_from(["float32", "float64"]),
                                st.integers(-4, 4)), min_size=1, max_size=5))
def test_parameter_swaps_agree_with_eager(swaps):
    hybrid, eager = _scale(), Scale()
    eager.collect_params().initialize(mg.init.One())
    for k, (shape, dtype, value) in enumerate(swaps):
        x = nd.array(np.arange(6.0).reshape(2, 3) - 2, dtype=dtype)
        p = _param(f"w{k}", shape, dtype, value)
        hybrid.w = eager.w = p
        want, got = eager(x), hybrid(x)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


def test_block_keeps_a_bounded_number_of_graphs(monkeypatch):
    monkeypatch.setenv("MINIGLUON_MEMORY_CACHE", "4")
    loss = mg.gluon.loss.L2Loss()
    loss.hybridize()
    for n in range(1, 11):
        out = loss(nd.ones((n, 2)), nd.zeros((n, 2)))
        np.testing.assert_array_equal(out.asnumpy(), np.full(n, 0.5))
    assert len(loss._cache) == 4 and len(loss._fast) <= 4
    # the newest shapes are the ones kept, and an evicted one comes back correct
    assert sorted(k[0][0][0] for k in loss._cache) == [7, 8, 9, 10]
    np.testing.assert_array_equal(loss(nd.ones((1, 2)), nd.zeros((1, 2))).asnumpy(), [0.5])


def test_machine_code_no_block_uses_is_released(monkeypatch):
    """Every batch size once kept its executable for the life of the process."""
    monkeypatch.setattr(pipeline, "_MEMORY", pipeline.MemoryCache(3))
    refs = []
    for n in range(1, 9):
        loss = mg.gluon.loss.L1Loss()
        loss.hybridize()
        loss(nd.ones((n, 3)), nd.zeros((n, 3)))
        refs.append(weakref.ref(loss._cache[next(iter(loss._cache))][0].exe))
        del loss
    gc.collect()
    alive = [r() is not None for r in refs]
    assert sum(alive) == 3 and alive[-3:] == [True] * 3
    assert len(pipeline._MEMORY.live) == 3


class CountedScale(Scale):
    traces = 0

    def hybrid_forward(self, F, x, w):
        if F is mg.sym:
            CountedScale.traces += 1  # not type(self): a traced block is a watching subclass
        return super().hybrid_forward(F, x, w)


def test_plain_and_recorded_calls_of_a_signature_share_one_trace():
    """One cache entry per signature: its CachedOp runs plain calls and records the others,
    whichever inputs want a gradient."""
    b = CountedScale()
    b.collect_params().initialize(mg.init.One())
    b.hybridize()
    x = nd.ones((2, 3))
    b(x)
    with mg.autograd.record():  # the parameter wants a gradient (Parameter's grad_req)
        y = b(x)
    y.backward()
    np.testing.assert_array_equal(b.w.data().grad.asnumpy(), [2.0, 2.0, 2.0])
    x.attach_grad()
    with mg.autograd.record():  # and now the input too
        y = b(x)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.ones((2, 3)))
    entry, = b._cache.values()
    assert CountedScale.traces == 1 and len(entry.op._gradients) == 2
    b.w = _param("w2", (3,))  # a replaced parameter: _clear_cached_op, then a new trace
    assert not b._cache
    b(x)
    assert CountedScale.traces == 2
