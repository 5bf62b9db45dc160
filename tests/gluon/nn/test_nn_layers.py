"""gluon.nn's layers one at a time: MXNet 1.9.1's parameters, names and reprs, each layer's
numbers against its formula, and eager and hybridized giving the same outputs and
parameter gradients."""
import warnings

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.base import MXNetError

nd, nn = mg.nd, mg.gluon.nn
RNG = np.random.default_rng(21)


def _x(*shape, dtype="float32"):
    return nd.array(RNG.standard_normal(shape), dtype=dtype)


def _run(block, x, hybrid: bool):
    """block(x)'s output and, after backward with a fixed head, x's and every parameter's
    gradient, with the block hybridized or not."""
    block.hybridize(hybrid)
    x = x.copy()
    x.attach_grad()
    with autograd.record():
        y = block(x)
    head = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(nd.array(head, dtype=y.dtype))
    grads = {k: p.grad().asnumpy().copy() for k, p in block.collect_params().items()}
    return y.asnumpy(), x.grad.asnumpy(), grads


def _same_both_ways(block, x, rtol=1e-5):
    y0, gx0, gp0 = _run(block, x, False)
    y1, gx1, gp1 = _run(block, x, True)
    np.testing.assert_allclose(y1, y0, rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(gx1, gx0, rtol=rtol, atol=1e-6)
    assert gp1.keys() == gp0.keys()
    for k in gp0:
        np.testing.assert_allclose(gp1[k], gp0[k], rtol=rtol, atol=1e-6, err_msg=k)
    return y0


# --- Dense -----------------------------------------------------------------------------------

def test_dense_declares_mxnet_parameters():
    d = nn.Dense(5, in_units=3, prefix="d_")
    params = d.collect_params()
    assert list(params) == ["d_weight", "d_bias"]
    assert params["d_weight"].shape == (5, 3) and params["d_bias"].shape == (5,)
    assert d.weight is params["d_weight"] and d.bias is params["d_bias"]
    assert list(nn.Dense(5, use_bias=False, prefix="n_").collect_params()) == ["n_weight"]
    assert nn.Dense(4, prefix="u_").weight.shape == (4, 0)  # in_units unknown until called
    assert nn.Dense(2, dtype="float64", in_units=2).weight.dtype == "float64"


def test_dense_repr_as_mxnet():
    assert repr(nn.Dense(5, in_units=3, activation="relu")) == "Dense(3 -> 5, Activation(relu))"
    assert repr(nn.Dense(5)) == "Dense(None -> 5, linear)"
    assert repr(nn.Dense(2, in_units=7, activation="tanh")) == "Dense(7 -> 2, Activation(tanh))"


def test_dense_initializers_are_the_parameters_own():
    d = nn.Dense(3, in_units=2, weight_initializer=mg.init.One(), bias_initializer=2.5)
    d.collect_params().initialize(mg.init.Zero())  # the layer's own initializers win
    np.testing.assert_array_equal(d.weight.data().asnumpy(), np.ones((3, 2)))
    np.testing.assert_array_equal(d.bias.data().asnumpy(), np.full(3, 2.5))
    default = nn.Dense(3, in_units=2)
    default.collect_params().initialize(mg.init.One())
    np.testing.assert_array_equal(default.bias.data().asnumpy(), np.zeros(3))  # 'zeros'


@pytest.mark.parametrize("kwargs,shape,out", [
    ({"units": 4, "in_units": 6}, (3, 2, 3), (3, 4)),
    ({"units": 4, "in_units": 3, "flatten": False}, (3, 2, 3), (3, 2, 4)),
    ({"units": 2, "in_units": 5, "use_bias": False, "activation": "sigmoid"}, (4, 5), (4, 2)),
    ({"units": 3, "in_units": 4, "activation": "softrelu", "dtype": "float64"}, (2, 4), (2, 3)),
])
def test_dense_is_its_formula_eager_and_hybridized(kwargs, shape, out):
    dtype = kwargs.get("dtype", "float32")
    d = nn.Dense(**kwargs)
    d.collect_params().initialize(mg.init.Xavier())
    x = _x(*shape, dtype=dtype)
    y = _same_both_ways(d, x)
    assert y.shape == out and y.dtype == np.dtype(dtype)
    w = d.weight.data().asnumpy()
    rows = x.asnumpy().reshape(-1, w.shape[1])
    want = rows @ w.T + (d.bias.data().asnumpy() if d.bias is not None else 0)
    act = {None: lambda v: v, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
           "softrelu": lambda v: np.log1p(np.exp(v))}[kwargs.get("activation")]
    np.testing.assert_allclose(y.reshape(-1, out[-1]), act(want), rtol=1e-5, atol=1e-6)


def test_dense_hybridized_runs_compiled_code_only():
    d = nn.Dense(8, activation="relu", in_units=16)
    d.collect_params().initialize()
    x = _x(4, 16)
    d.hybridize()
    jit.reset_stats()
    with autograd.record():
        y = d(x)
    y.backward()
    assert jit.stats()["interpreted_calls"] == 0
    assert jit.stats()["compiled_calls"] >= 1


def test_dense_refuses_data_that_does_not_fit_its_weight():
    d = nn.Dense(3, in_units=4)
    d.collect_params().initialize()
    with pytest.raises(MXNetError, match=r"weight must have shape \(3, 5\).*got \(3, 4\)"):
        d(_x(2, 5))


# --- Activation, Flatten, Dropout ---------------------------------------------------------

ACTS = {"relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "tanh": np.tanh, "softrelu": lambda v: np.log1p(np.exp(v)),
        "softsign": lambda v: v / (1 + np.abs(v))}


@pytest.mark.parametrize("act", sorted(ACTS))
def test_activation_layer_is_its_function(act):
    layer = nn.Activation(act)
    assert repr(layer) == f"Activation({act})"
    x = _x(3, 4)
    y = _same_both_ways(layer, x)
    np.testing.assert_allclose(y, ACTS[act](x.asnumpy()), rtol=1e-5, atol=1e-6)


def test_activation_layer_refuses_an_unknown_function_when_called():
    layer = nn.Activation("gelu")  # MXNet checks act_type in the operator
    with pytest.raises(MXNetError, match="gelu"):
        layer(_x(2, 2))


def test_flatten_layer():
    layer = nn.Flatten()
    assert repr(layer) == "Flatten"
    x = _x(2, 3, 4)
    y = _same_both_ways(layer, x)
    np.testing.assert_array_equal(y, x.asnumpy().reshape(2, 12))
    assert layer(_x(5)).shape == (5, 1)  # MXNet: one axis becomes (n, 1)


def test_dropout_repr():
    assert repr(nn.Dropout(0.3)) == "Dropout(p = 0.3, axes=())"
    assert repr(nn.Dropout(0.5, axes=(1,))) == "Dropout(p = 0.5, axes=(1,))"


def _needs_dropout():
    if not hasattr(nd, "Dropout"):
        pytest.skip("the Dropout registry op is not on this branch (it comes with the random "
                    "part of issue 13)")


def test_dropout_is_identity_outside_training_and_with_rate_zero():
    _needs_dropout()
    x = _x(4, 5)
    for layer in (nn.Dropout(0.5), nn.Dropout(0.0)):
        for hybrid in (False, True):
            layer.hybridize(hybrid)
            y = layer(x)
            np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())
            assert not np.shares_memory(y._data, x._data)


def test_dropout_while_training_zeroes_a_fraction_and_scales_the_rest():
    _needs_dropout()
    x = nd.ones((200, 50))
    layer = nn.Dropout(0.25)
    with autograd.record(train_mode=True):
        y = layer(x).asnumpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)


def test_dropout_rate_zero_is_an_identity_without_the_op():
    x = _x(3, 2)
    layer = nn.Dropout(0)
    y = layer(x)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())
    assert not np.shares_memory(y._data, x._data)


# --- Lambda, HybridLambda ------------------------------------------------------------------

def test_lambda_takes_an_nd_name_or_a_function():
    x = _x(2, 3)
    np.testing.assert_allclose(nn.Lambda("tanh")(x).asnumpy(), np.tanh(x.asnumpy()), rtol=1e-6)
    twice = nn.Lambda(lambda a, b: a + 2 * b)
    np.testing.assert_allclose(twice(x, x).asnumpy(), 3 * x.asnumpy(), rtol=1e-6)
    assert repr(nn.Lambda("tanh")) == "Lambda(tanh)"
    assert repr(twice) == "Lambda(<lambda>)"


def test_lambda_refusals_are_mxnets():
    with pytest.raises(AssertionError, match="no_such_op is not found in ndarray"):
        nn.Lambda("no_such_op")
    with pytest.raises(ValueError, match="Unrecognized function in lambda: 3"):
        nn.Lambda(3)
    with pytest.raises(AssertionError, match="not found in symbol/ndarray"):
        nn.HybridLambda("no_such_op")
    with pytest.raises(ValueError, match="Unrecognized function"):
        nn.HybridLambda(None)


@pytest.mark.parametrize("function,want", [
    ("tanh", np.tanh),
    (lambda F, x: F.relu(x) * 2, lambda v: np.maximum(v, 0) * 2),
])
def test_hybrid_lambda_same_eager_and_hybridized(function, want):
    layer = nn.HybridLambda(function)
    x = _x(3, 4)
    y = _same_both_ways(layer, x)
    np.testing.assert_allclose(y, want(x.asnumpy()), rtol=1e-5, atol=1e-6)
    assert repr(layer) == ("HybridLambda(tanh)" if function == "tanh" else "HybridLambda(<lambda>)")


def test_hybrid_lambda_passes_extra_inputs():
    layer = nn.HybridLambda(lambda F, x, y: F.broadcast_mul(x, y))
    a, b = _x(2, 3), _x(1, 3)
    eager = layer(a, b).asnumpy()
    layer.hybridize()
    np.testing.assert_allclose(layer(a, b).asnumpy(), eager, rtol=1e-6)
    np.testing.assert_allclose(eager, a.asnumpy() * b.asnumpy(), rtol=1e-6)


# --- Sequential, HybridSequential -----------------------------------------------------------

@pytest.mark.parametrize("cls", [nn.Sequential, nn.HybridSequential])
def test_stacks_add_index_slice_len_and_repr(cls):
    net = cls(prefix="net_")
    a, b, c = nn.Dense(4, in_units=3), nn.Activation("tanh"), nn.Dense(2, in_units=4)
    net.add(a, b)
    net.add(c)
    assert len(net) == 3
    assert net[0] is a and net[-1] is c
    part = net[1:]
    assert type(part) is cls and len(part) == 2 and part[0] is b and part[1] is c
    assert part.prefix == "net_"
    assert list(net._children) == ["0", "1", "2"]
    assert repr(net) == (f"{cls.__name__}(\n  (0): Dense(3 -> 4, linear)\n"
                         f"  (1): Activation(tanh)\n  (2): Dense(4 -> 2, linear)\n)")
    net.collect_params().initialize()
    x = _x(5, 3)
    want = c(b(a(x))).asnumpy()
    np.testing.assert_allclose(net(x).asnumpy(), want, rtol=1e-6)


def test_nested_stack_repr_indents_children():
    inner = nn.HybridSequential()
    inner.add(nn.Dense(2, in_units=2))
    outer = nn.HybridSequential()
    outer.add(inner, nn.Flatten())
    assert repr(outer) == ("HybridSequential(\n  (0): HybridSequential(\n"
                           "    (0): Dense(2 -> 2, linear)\n  )\n  (1): Flatten\n)")


def test_hybrid_sequential_takes_only_hybrid_blocks():
    with pytest.raises(ValueError, match="HybridBlock"):
        nn.HybridSequential().add(nn.Lambda("tanh"))
    net = nn.Sequential()
    net.add(nn.Lambda("tanh"), nn.Dense(2, in_units=3))  # a Sequential takes any Block
    assert len(net) == 2


def test_sequential_hybridize_reaches_its_children_and_suggests_hybrid_sequential():
    net = nn.Sequential(prefix="seq_")
    net.add(nn.Dense(3, in_units=2), nn.Activation("relu"))
    with pytest.warns(UserWarning, match="Consider using HybridSequential"):
        net.hybridize()
    assert all(child._active for child in net._children.values())
    mixed = nn.Sequential()
    mixed.add(nn.Lambda("tanh"), nn.Dense(3, in_units=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not every child hybridizes: no suggestion
        mixed.hybridize()
    assert mixed[1]._active


def test_hybridized_stack_sees_a_layer_added_after_its_first_call():
    net = nn.HybridSequential()
    net.add(nn.Activation("relu"))
    net.hybridize()
    x = _x(3, 4)
    np.testing.assert_allclose(net(x).asnumpy(), np.maximum(x.asnumpy(), 0), rtol=1e-6)
    net.add(nn.HybridLambda(lambda F, v: v * 3))
    np.testing.assert_allclose(net(x).asnumpy(), 3 * np.maximum(x.asnumpy(), 0), rtol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "compiled", "interpreted"])
def test_dense_and_flatten_agree_in_every_mode(mode, monkeypatch):
    """Hybridized on the numpy interpreter (MINIGLUON_JIT=0) too, as every layer is."""
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    layers = [nn.Flatten(), nn.Dense(3, activation="tanh", in_units=6, prefix="m_")]
    layers[1].collect_params().initialize(mg.init.One())
    x = nd.array(np.linspace(-1, 1, 12).reshape(2, 3, 2))
    for layer in layers:
        layer.hybridize(mode != "eager")
    y = layers[1](layers[0](x)).asnumpy()
    want = np.tanh(np.linspace(-1, 1, 12).reshape(2, 6).sum(axis=1, keepdims=True)) * np.ones(3)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flatten,data,out", [(False, (2, 3, 10), (2, 3, 128)),
                                              (True, (17, 2, 5, 1), (17, 128))])
def test_dense_called_on_a_symbol_builds_its_graph(flatten, data, out):
    d = nn.Dense(128, activation="tanh", in_units=data[-1] if not flatten else 10,
                 flatten=flatten, prefix="sym_")
    y = d(mg.sym.var("data"))
    assert y.list_arguments() == ["data", "sym_weight", "sym_bias"]
    args, outs, _ = y.infer_shape(data=data)
    assert outs == [out]
    assert args[1:] == [(128, data[-1] if not flatten else 10), (128,)]


@pytest.mark.parametrize("kwargs", [{"activation": "relu"}, {"use_bias": False, "flatten": False}])
def test_exported_dense_imports_as_a_symbol_block(kwargs, tmp_path):
    d = nn.Dense(3, in_units=4, prefix="e_", **kwargs)
    d.collect_params().initialize(mg.init.Xavier())
    d.hybridize()
    x = _x(2, 4)
    want = d(x).asnumpy()
    sym_file, params_file = d.export(str(tmp_path / "dense"))
    back = mg.gluon.SymbolBlock.imports(sym_file, ["data"], params_file)
    assert sorted(back.collect_params()) == sorted(d.collect_params())
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-6)
