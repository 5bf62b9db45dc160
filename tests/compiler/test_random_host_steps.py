"""Random ops in compiled graphs: host steps by design (trait ``random``), in trace order,
never merged, never recomputed; the rest of the graph still fuses around them."""
import numpy as np

import minigluon as mg
from minigluon import autograd
from minigluon.compiler.pipeline import build_schedule, canonical_text, compile_graph
from minigluon.gluon import HybridBlock

nd, sym = mg.nd, mg.sym


def test_a_draw_is_a_host_step_and_the_rest_fuses():
    x = sym.var("x", shape=(3, 4))
    u = sym.random.uniform(shape=(3, 4))
    y = sym.exp(sym.tanh(x) * u + 1)
    _, sched = build_schedule(y, ["x"])
    kinds = [(s.kind, s.op) for s in sched.steps]
    assert kinds == [("external", "_random_uniform"), ("kernel", "")]  # tanh, mul, +1, exp
    assert sched.interpreted_steps == [] and not sched.interpreted
    assert "host step" in sched.format() and "interpreter" not in sched.format()


def test_host_steps_are_exempt_other_numpy_steps_are_not():
    # the exemption is the random trait's: argmax (no kernel) still counts as interpreted
    x = sym.var("x", shape=(3, 4))
    y = sym.Dropout(sym.random.shuffle(x), p=0.5, mode="always") + 1
    _, sched = build_schedule(y, ["x"])
    assert [s.op for s in sched.steps if s.kind == "external"] == ["_shuffle", "Dropout"]
    assert not sched.interpreted
    _, sched = build_schedule(sym.argmax(y, axis=1), ["x"])
    assert [s.op for s in sched.interpreted_steps] == ["argmax"]


def test_two_identical_draws_are_not_merged():
    a = sym.random.uniform(shape=(50,))
    b = sym.random.uniform(shape=(50,))
    exe = compile_graph(a - b, [])
    mg.random.seed(0)
    d = exe.run([])[0]
    assert np.abs(d).max() > 0.1  # merged, a - b would be exactly 0
    # the same numbers as eager: a first, then b
    mg.random.seed(0)
    want = (nd.random.uniform(shape=(50,)) - nd.random.uniform(shape=(50,))).asnumpy()
    np.testing.assert_array_equal(d, want)


def test_trace_order_is_part_of_the_cache_key():
    def build(first_uniform):
        if first_uniform:
            a = sym.random.uniform(shape=(2,))
            b = sym.random.normal(shape=(2,))
        else:
            b = sym.random.normal(shape=(2,))
            a = sym.random.uniform(shape=(2,))
        return b + a
    assert canonical_text(build(True), []) != canonical_text(build(False), [])


class Scale(HybridBlock):
    def hybrid_forward(self, F, x):
        return F.sum(x * F.random.uniform(1, 2, shape=(5,)) * x)


def test_backward_reads_the_stored_draw_not_a_new_one():
    blk = Scale()
    blk.hybridize()
    x = nd.array([1.0, 2.0, -1.0, 0.5, 3.0])
    x.attach_grad()
    mg.random.seed(3)
    with autograd.record():
        y = blk(x)
    y.backward()
    mg.random.seed(3)
    u = nd.random.uniform(1, 2, shape=(5,)).asnumpy()
    np.testing.assert_allclose(y.asnumpy(), [(x.asnumpy() ** 2 * u).sum()], rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * u * x.asnumpy(), rtol=1e-6)
