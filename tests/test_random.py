"""mg.random: seeding, the distributions' statistics, MXNet's signatures and graph names,
and the same draws eager, compiled and interpreted under one seed."""
import json
import warnings

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.gluon import HybridBlock

nd, sym = mg.nd, mg.sym
N = 20000

DRAWS = {
    "uniform": lambda: mg.random.uniform(-1, 3, shape=(4, 5)),
    "normal": lambda: nd.random.normal(2, 0.5, shape=(4, 5)),
    "randn": lambda: nd.random.randn(4, 5),
    "randint": lambda: nd.random.randint(-5, 5, shape=(4, 5)),
    "poisson": lambda: nd.random.poisson(3, shape=(4, 5)),
    "exponential": lambda: nd.random.exponential(2, shape=(4, 5)),
    "gamma": lambda: nd.random.gamma(2, 3, shape=(4, 5)),
    "multinomial": lambda: nd.random.multinomial(nd.array([[0.2, 0.3, 0.5]] * 4), shape=5),
    "shuffle": lambda: nd.random.shuffle(nd.arange(20).reshape((20, 1))),
    "sample_normal": lambda: nd.random.normal(nd.zeros((4,)), nd.ones((4,)), shape=5),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_same_seed_same_numbers_other_seed_other_numbers(name):
    mg.random.seed(11)
    a, b = DRAWS[name]().asnumpy(), DRAWS[name]().asnumpy()
    mg.random.seed(11)
    again = DRAWS[name]().asnumpy()
    mg.random.seed(12)
    other = DRAWS[name]().asnumpy()
    assert np.array_equal(a, again)
    assert not np.array_equal(a, b) and not np.array_equal(a, other)


def test_seed_with_a_cpu_context_and_bad_seeds():
    mg.random.seed(3, ctx=mg.cpu(0))
    a = nd.random.uniform(shape=(3,)).asnumpy()
    mg.random.seed(3)
    assert np.array_equal(a, nd.random.uniform(shape=(3,)).asnumpy())
    with pytest.raises(ValueError, match="seed_state"):
        mg.random.seed(1.5)
    with pytest.raises(mg.MXNetError, match="CPU only"):
        mg.random.seed(1, ctx=mg.gpu(0))


def test_distribution_statistics():
    mg.random.seed(0)
    u = nd.random.uniform(-1, 3, shape=(N,)).asnumpy()
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1) < 0.03
    x = nd.random.normal(2, 0.5, shape=(N,)).asnumpy()
    assert abs(x.mean() - 2) < 0.02 and abs(x.std() - 0.5) < 0.02
    r = nd.random.randn(100, 200).asnumpy()
    assert r.shape == (100, 200) and abs(r.mean()) < 0.03 and abs(r.std() - 1) < 0.03
    e = nd.random.exponential(2, shape=(N,)).asnumpy()
    assert e.min() >= 0 and abs(e.mean() - 2) < 0.08
    g = nd.random.gamma(2, 3, shape=(N,)).asnumpy()
    assert abs(g.mean() - 6) < 0.2 and abs(g.var() - 18) < 1.5
    p = nd.random.poisson(3, shape=(N,)).asnumpy()
    assert np.array_equal(p, np.round(p)) and abs(p.mean() - 3) < 0.08
    k = nd.random.randint(-5, 5, shape=(N,)).asnumpy()
    assert k.min() == -5 and k.max() == 4 and abs(k.mean() + 0.5) < 0.1


def test_multinomial_frequencies_and_shapes():
    mg.random.seed(1)
    probs = nd.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])
    s = nd.random.multinomial(probs, shape=N).asnumpy()
    assert s.shape == (2, N) and s.dtype == np.int32
    freq = np.bincount(s[0], minlength=3) / N
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.015)
    assert (s[1] == 0).all()
    assert nd.random.multinomial(nd.array([0.5, 0.5])).shape == (1,)  # as MXNet 1.x
    assert nd.random.multinomial(probs, dtype="int64").dtype == np.int64
    with pytest.raises(mg.MXNetError, match="get_prob"):
        nd.random.multinomial(probs, get_prob=True)


def test_shuffle_permutes_the_first_axis_only():
    mg.random.seed(2)
    x = nd.arange(12).reshape((6, 2))
    y = nd.random.shuffle(x).asnumpy()
    rows = sorted(map(tuple, y))
    assert rows == sorted(map(tuple, x.asnumpy())) and not np.array_equal(y, x.asnumpy())
    assert (y[:, 1] - y[:, 0] == 1).all()  # each row moved whole


def test_dtypes_follow_mxnet():
    assert nd.random.uniform(shape=(2,)).dtype == np.float32
    assert nd.random.normal(shape=(2,), dtype="float64").dtype == np.float64
    assert nd.random.gamma(shape=(2,), dtype="float16").dtype == np.float16
    assert nd.random.poisson(shape=(2,)).dtype == np.float32
    assert nd.random.randint(0, 3, shape=(2,)).dtype == np.int32
    assert nd.random.randint(0, 3, shape=(2,), dtype="int64").dtype == np.int64
    assert nd.random.uniform().shape == (1,)  # MXNet 1.x: no shape is one element
    assert nd.random.uniform(shape=7).shape == (7,)
    with pytest.raises(mg.MXNetError, match="dtype"):
        nd.random.uniform(shape=(2,), dtype="int32")


def test_array_parameters_draw_one_distribution_per_element():
    mg.random.seed(4)
    lo, hi = nd.array([0.0, 10.0]), nd.array([1.0, 20.0])
    s = nd.random.uniform(lo, hi, shape=N).asnumpy()
    assert s.shape == (2, N)
    assert 0 <= s[0].min() and s[0].max() < 1 and 10 <= s[1].min() and s[1].max() < 20
    m = nd.random.normal(nd.array([[-5.0], [5.0]]), nd.array([[1.0], [2.0]]), shape=N).asnumpy()
    assert m.shape == (2, 1, N)
    np.testing.assert_allclose(m.mean(axis=-1).ravel(), [-5, 5], atol=0.05)
    np.testing.assert_allclose(m.std(axis=-1).ravel(), [1, 2], atol=0.05)
    ex = nd.random.exponential(nd.array([1.0, 4.0]), shape=N).asnumpy()
    np.testing.assert_allclose(ex.mean(axis=1), [1, 4], rtol=0.05)
    with pytest.raises(ValueError, match="all arrays or all numbers"):
        nd.random.uniform(nd.array([0.0]), 1.0)
    with pytest.raises(mg.MXNetError, match="same shape"):
        nd.random.uniform(nd.zeros((2,)), nd.ones((3,)))


def test_bad_parameters_raise_naming_them():
    with pytest.raises(mg.MXNetError, match="low must be less or equal to high"):
        nd.random.uniform(2, 1, shape=(2,))
    with pytest.raises(mg.MXNetError, match="low must be less than high"):
        nd.random.randint(3, 3, shape=(2,))
    with pytest.raises(ValueError, match="scale must be positive"):
        nd.random.exponential(0, shape=(2,))
    with pytest.raises(mg.MXNetError, match="alpha must be positive"):
        nd.random.gamma(-1, shape=(2,))
    with pytest.raises(mg.MXNetError, match="scale must be non-negative"):
        nd.random.normal(0, -1, shape=(2,))


def test_ctx_and_out_arguments():
    assert nd.random.uniform(shape=(2,), ctx=mg.cpu(1)).context == mg.cpu(1)
    mg.random.seed(5)
    before = nd.random.normal(shape=(3,)).asnumpy()
    mg.random.seed(5)
    with pytest.raises(mg.MXNetError, match="CPU only"):
        nd.random.normal(shape=(3,), ctx=mg.gpu(0))
    assert np.array_equal(nd.random.normal(shape=(3,)).asnumpy(), before)  # nothing drawn
    out = nd.zeros((3,))
    mg.random.seed(5)
    assert nd.random.normal(shape=(3,), out=out) is out
    assert np.array_equal(out.asnumpy(), before)
    with pytest.raises(ValueError, match="out must be"):
        nd.random.normal(shape=(3,), out=nd.zeros((4,)))


def test_symbols_use_mxnet_operator_names_and_round_trip():
    cases = {"_random_uniform": sym.random.uniform(-1, 1, shape=(2,)),
             "_random_normal": sym.random.normal(shape=(2,)),
             "_random_randint": sym.random.randint(0, 4, shape=(2,)),
             "_random_poisson": sym.random.poisson(2, shape=(2,)),
             "_random_exponential": sym.random.exponential(2, shape=(2,)),
             "_random_gamma": sym.random.gamma(2, 2, shape=(2,)),
             "_sample_normal": sym.random.normal(sym.var("m", shape=(2,)), sym.var("s", shape=(2,))),
             "_sample_multinomial": sym.random.multinomial(sym.var("p", shape=(2, 3))),
             "_shuffle": sym.random.shuffle(sym.var("d", shape=(3, 2)))}
    for op_name, s in cases.items():
        nodes = json.loads(s.tojson())["nodes"]
        assert nodes[-1]["op"] == op_name
        assert nodes[-1]["name"].startswith(op_name)
        assert json.loads(sym.load_json(s.tojson()).tojson())["nodes"][-1]["op"] == op_name
    # MXNet writes exponential's rate: scale 2 is lam 0.5
    lam = json.loads(cases["_random_exponential"].tojson())["nodes"][-1]["attrs"]["lam"]
    assert float(lam) == 0.5


def test_mxnet_json_of_a_random_node_loads():
    text = json.dumps({"nodes": [{"op": "_random_uniform", "name": "u", "attrs": {
        "high": "2", "low": "1", "shape": "(3,)", "ctx": "cpu(0)", "dtype": "float64"},
        "inputs": []}], "arg_nodes": [], "heads": [[0, 0, 0]]})
    g = sym.load_json(text)
    out = sym.Plan(g).run({})[0]
    assert out.shape == (3,) and out.dtype == np.float64 and (1 <= out).all() and (out < 2).all()


def test_shuffle_has_no_gradient_multinomial_a_zero_one():
    x = nd.array([[0.3, 0.7]])
    x.attach_grad()
    with autograd.record():
        y = nd.random.shuffle(x)
    with pytest.raises(RuntimeError, match="_shuffle has no gradient"):
        y.backward()
    with autograd.record():
        s = nd.random.normal(x, x, shape=3)
    s.backward()
    assert np.array_equal(x.grad.asnumpy(), np.zeros((1, 2)))


class Noisy(HybridBlock):
    """Draws in an order the graph's topological walk would reverse (b is read first)."""

    def hybrid_forward(self, F, x):
        a = F.random.uniform(shape=(3, 4))
        b = F.random.normal(shape=(3, 4))
        c = F.random.randint(0, 10, shape=(3, 4)).astype("float32")
        return F.tanh(b + a * x) * c, F.random.exponential(2, shape=(3,))


def _run(hybridize, x0, record=False):
    blk = Noisy()
    if hybridize:
        blk.hybridize()
    x = nd.array(x0)
    x.attach_grad()
    mg.random.seed(21)
    if record:
        with autograd.record():
            y, z = blk(x)
        y.backward()
    else:
        y, z = blk(x)
    after = nd.random.uniform(shape=(2,))  # the generator moved on by the same draws
    return [y.asnumpy(), z.asnumpy(), after.asnumpy()] + ([x.grad.asnumpy()] if record else [])


@pytest.mark.parametrize("record", [False, True])
def test_hybridized_draws_equal_eager_draws_compiled_not_interpreted(record, monkeypatch):
    x0 = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    eager = _run(False, x0, record)
    mg.jit.reset_stats()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a host step is no interpreter fallback to announce
        compiled = _run(True, x0, record)
    stats = mg.jit.stats()
    assert stats["interpreted_calls"] == 0 and stats["compiled_calls"] >= 1
    monkeypatch.setenv("MINIGLUON_JIT", "0")
    interpreted = _run(True, x0, record)
    for e, c, i in zip(eager, compiled, interpreted):
        np.testing.assert_allclose(c, e, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(i, e, rtol=1e-6, atol=1e-6)


def test_like_forms_take_the_shape_and_dtype_of_data():
    x = nd.zeros((300, 40), dtype="float64")
    mg.random.seed(6)
    u = nd.random.uniform_like(x, low=2, high=3)
    assert u.shape == (300, 40) and u.dtype == np.float64
    assert 2 <= u.asnumpy().min() and u.asnumpy().max() < 3
    assert abs(nd.random.exponential_like(x, lam=4).asnumpy().mean() - 0.25) < 0.01
    assert abs(nd.random.gamma_like(x, alpha=2, beta=3).asnumpy().mean() - 6) < 0.2
    assert abs(nd.random.poisson_like(x, lam=2).asnumpy().mean() - 2) < 0.05
    assert abs(nd.random.normal_like(x, loc=1, scale=2).asnumpy().std() - 2) < 0.05
    mg.random.seed(6)
    assert np.array_equal(nd.random.uniform_like(x, low=2, high=3).asnumpy(), u.asnumpy())
    node = json.loads(sym.random.uniform_like(sym.var("d", shape=(2,))).tojson())["nodes"][-1]
    assert node["op"] == "_random_uniform_like"
