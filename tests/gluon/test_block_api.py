"""The Block API as MXNet 1.9.1 has it: None for any positional input, ``*args``, Python values
in an un-hybridized call, input names in exports, and Trainer's stale-gradient check."""
import json

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.gluon.trainer import StaleGradientError

nd, sym = mg.nd, mg.sym


# --- None for a positional input (MXNet's test_hybrid_block_none_args, in 1.x form) -----------
def _either(a, b):
    if a is None and b is not None:
        return b
    if b is None and a is not None:
        return a
    if a is not None and b is not None:
        return a + b
    raise NotImplementedError


class Foo(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, a, b):
        return _either(a, b)


class FooDefault(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, a, b=None):
        return _either(a, b)


class FooNested(mg.gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.f1, self.f2, self.f3 = Foo(), Foo(), Foo()

    def hybrid_forward(self, F, a, b):
        data = self.f1(a, b)
        data = self.f2(a, data)
        return self.f3(data, b)


@pytest.mark.parametrize("args,expected", [((None, 1.0), 2.0), ((1.0, 1.0), 4.0),
                                           ((1.0, None), 2.0)])
def test_none_for_a_positional_input_works_eagerly_and_hybridized(args, expected):
    # MXNet 1.9.1 gives [2.], [4.], [2.] for these three, eagerly and hybridized
    arrays = [None if a is None else nd.ones((10,)) * a for a in args]
    hybrid, eager = FooNested(), FooNested()
    hybrid.hybridize()
    for _ in range(2):  # the second call runs the cached graph
        np.testing.assert_array_equal(hybrid(*arrays).asnumpy(), np.full(10, expected))
        np.testing.assert_array_equal(eager(*arrays).asnumpy(), np.full(10, expected))


@pytest.mark.parametrize("hybridize", [False, True])
def test_no_array_at_all_or_mixed_kinds_raise_value_error(hybridize):
    # MXNet 1.9.1: ValueError "there must be one NDArray or one Symbol in the input" and
    # "we do not support mixed NDArrays and Symbols types for the input"
    foo = FooNested()
    foo.hybridize(hybridize)
    with pytest.raises(ValueError, match="no input is an NDArray or a Symbol"):
        foo(None, None)
    with pytest.raises(ValueError, match=r"inputs mix NDArrays \('a'\) and Symbols \('b'\)"):
        foo(nd.ones((10,)), sym.var("a"))
    with pytest.raises(TypeError, match=r"mix NDArrays \('b'\) and Symbols \('a'\)"):
        foo(sym.var("a"), nd.ones((10,)))
    with pytest.raises(TypeError, match=r"FooNested\(a, b\) is missing its input 'b'"):
        foo(nd.ones((3,)))  # None may be passed, but a required input is not left out


def test_another_pattern_of_nones_is_refused_until_hybridize_again():
    # MXNet 1.9.1 refuses it too ("The argument structure of HybridBlock does not match the
    # cached version"): which inputs are None is fixed by the first hybridized call
    foo = FooNested()
    foo.hybridize()
    np.testing.assert_array_equal(foo(None, nd.ones((10,))).asnumpy(), np.full(10, 2.0))
    with pytest.raises(ValueError, match=r"cached \(a=None, b\), now \(a, b\)"):
        foo(nd.ones((10,)), nd.ones((10,)))
    np.testing.assert_array_equal(foo(None, nd.ones((4,))).asnumpy(), np.full(4, 2.0))
    foo.hybridize()  # clears the cache: the next call sets the pattern anew
    np.testing.assert_array_equal(foo(nd.ones((10,)), nd.ones((10,))).asnumpy(),
                                  np.full(10, 4.0))
    # an omitted optional input and an explicit None are the same call
    hybrid, eager = FooDefault(), FooDefault()
    hybrid.hybridize()
    x = nd.ones((10,))
    for out in (hybrid(x), eager(x), hybrid(x, None), eager(x, None)):
        np.testing.assert_array_equal(out.asnumpy(), np.ones(10))
    assert len(hybrid._cache) == 1
    with pytest.raises(ValueError, match=r"inputs given \(or None\) changed"):
        hybrid(x, x)
    np.testing.assert_array_equal(eager(x, x).asnumpy(), np.full(10, 2.0))  # eager: any


# --- hybrid_forward(self, F, *args) ---------------------------------------------------------
class SumAll(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, *args):
        return sum(args[1:], args[0])


class FirstPlusRest(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, *rest):
        return x if not rest else x + F.add_n(*rest)


@pytest.mark.parametrize("hybridize", [False, True])
def test_star_args_take_any_number_of_inputs(hybridize):
    block, first = SumAll(), FirstPlusRest()
    for n in (1, 3, 2):
        # hybridized, the number of inputs is fixed by the first call, as in MXNet 1.9.1
        block.hybridize(hybridize)
        first.hybridize(hybridize)
        arrays = [nd.ones((2, 3)) * (k + 1) for k in range(n)]
        want = np.full((2, 3), n * (n + 1) / 2)
        np.testing.assert_array_equal(block(*arrays).asnumpy(), want)
        np.testing.assert_array_equal(first(*arrays).asnumpy(), want)
    if hybridize:
        with pytest.raises(ValueError, match=r"cached \(args\[0\], args\[1\]\)"):
            block(nd.ones((2, 3)))
    else:
        np.testing.assert_array_equal(block(nd.ones((2, 3))).asnumpy(), np.ones((2, 3)))


def test_star_args_errors_name_the_input():
    block = SumAll()
    block.hybridize()
    with pytest.raises(ValueError, match=r"args\[1\]: float32\[4\]"):
        block(nd.ones((2, 3)), nd.ones((4,)), nd.ones((2, 3)))


# --- un-hybridized, a HybridBlock is a Block (MXNet's test_hybrid_block_hybrid_no_hybrid) ------
class FooHybrid(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, a, b):
        if isinstance(a, (list, tuple)):
            a = sum(a)
        if isinstance(b, (list, tuple)):
            b = sum(b)
        return a + b


@pytest.mark.parametrize("a,b,expected", [
    (nd.ones((10,)), 1, 2.0), (nd.ones((20,)), 2, 3.0),
    ([nd.ones((10,)), nd.ones((10,))], [nd.ones((10,)), nd.ones((10,)), nd.ones((10,))], 5.0),
    ([nd.ones((10,)), nd.ones((10,))], 3, 5.0)])
def test_un_hybridized_takes_python_scalars_and_lists(a, b, expected):
    # MXNet 1.9.1 gives [2.], [3.], [5.], [5.], as a plain Block does
    out = FooHybrid()(a, b)
    np.testing.assert_array_equal(out.asnumpy(), np.full(out.shape, expected))


@pytest.mark.parametrize("a,b", [(nd.ones((10,)), 1), ([nd.ones((10,)), nd.ones((10,))], 3)])
def test_hybridized_refuses_them_with_value_error(a, b):
    # MXNet 1.9.1: ValueError "When hybridized, the input of HybridBlock input must be
    # (nested) list of Symbol or NDArray, but got 1 of type <class 'int'>"
    block = FooHybrid()
    block.hybridize()
    with pytest.raises(ValueError, match="must be an NDArray .* when hybridized"):
        block(a, b)


# --- input names in exports ------------------------------------------------------------------
class Double(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return x * 2


class MaybeAdd(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, y=None):
        return x * 2 if y is None else x + y


def _exported_inputs(block, tmp_path, *args):
    block.hybridize()
    block(*args)
    sym_file, params_file = block.export(str(tmp_path / type(block).__name__))
    graph = json.loads(open(sym_file).read())
    return [graph["nodes"][i]["name"] for i in graph["arg_nodes"]], sym_file, params_file


@pytest.mark.parametrize("make,args,names", [
    (Double, (nd.ones((2,)),), ["data"]),
    (MaybeAdd, (nd.ones((2,)), nd.ones((2,))), ["data0", "data1"]),
    (MaybeAdd, (nd.ones((2,)), None), ["data"]),
    (MaybeAdd, (nd.ones((2,)),), ["data"])])
def test_a_lone_input_is_exported_as_data(make, args, names, tmp_path):
    # MXNet 1.9.1's exports of these four: ['data'], ['data0', 'data1'], ['data'], ['data']
    exported, sym_file, params_file = _exported_inputs(make(), tmp_path, *args)
    assert exported == names
    present = [a for a in args if a is not None]
    again = mg.gluon.SymbolBlock.imports(sym_file, names, params_file)
    for hybridize in (False, True):
        again.hybridize(hybridize)
        np.testing.assert_array_equal(again(*present).asnumpy(),
                                      make()(*args).asnumpy())


def test_a_file_from_before_with_data0_still_loads(tmp_path):
    # minigluon used to name a lone input data0: such a file loads with the name it has,
    # next to a new export of the same block
    exported, sym_file, params_file = _exported_inputs(Double(), tmp_path, nd.ones((3,)))
    old = json.loads(open(sym_file).read())
    old["nodes"][old["arg_nodes"][0]]["name"] = "data0"
    (tmp_path / "old-symbol.json").write_text(json.dumps(old))
    for path, name in [(sym_file, "data"), (str(tmp_path / "old-symbol.json"), "data0")]:
        again = mg.gluon.SymbolBlock.imports(path, [name], params_file)
        again.hybridize()
        np.testing.assert_array_equal(again(nd.ones((3,))).asnumpy(), np.full(3, 2.0))




# --- Trainer.step and stale gradients --------------------------------------------------------
class UsesW(mg.gluon.HybridBlock):
    """Declares w and v; uses only w."""

    def __init__(self):
        super().__init__()
        self.w = self.params.get("w", shape=(1, 3), init=mg.init.One())
        self.v = self.params.get("v", shape=(1, 3), init=mg.init.One())

    def hybrid_forward(self, F, x, w, v):
        return F.broadcast_mul(x, w)


def _trained(hybridize):
    block = UsesW()
    block.collect_params().initialize()
    block.hybridize(hybridize)
    trainer = mg.gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": 0.1})
    return block, trainer


def _backward(block):
    with autograd.record():
        out = block(nd.ones((2, 3)))
    out.backward()


@pytest.mark.parametrize("hybridize", [False, True])
def test_step_refuses_a_gradient_backward_did_not_update(hybridize):
    # MXNet 1.9.1 raises UserWarning("Gradient of Parameter `..._v` on context cpu(0) has
    # not been updated by backward since last `step`. ...") before any backward, and after
    # one that did not reach v; weights do not change
    block, trainer = _trained(hybridize)
    with pytest.raises(UserWarning, match="ignore_stale_grad=True"):
        trainer.step(1)
    _backward(block)
    with pytest.raises(StaleGradientError, match=f"{block.prefix}v has not been updated"):
        trainer.step(1)
    np.testing.assert_array_equal(block.w.data().asnumpy(), np.ones((1, 3)))


@pytest.mark.parametrize("hybridize", [False, True])
def test_ignore_stale_grad_skips_the_stale_ones(hybridize):
    # MXNet 1.9.1, lr 0.1, x = ones(2, 3): w 1 -> 0.8 -> 0.6 over two backward + step
    # rounds, v stays 1; a step with nothing fresh changes nothing
    block, trainer = _trained(hybridize)
    for want in (0.8, 0.6):
        _backward(block)
        trainer.step(1, ignore_stale_grad=True)
        np.testing.assert_allclose(block.w.data().asnumpy(), np.full((1, 3), want), rtol=1e-6)
        np.testing.assert_array_equal(block.v.data().asnumpy(), np.ones((1, 3)))
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_allclose(block.w.data().asnumpy(), np.full((1, 3), 0.6), rtol=1e-6)
    with pytest.raises(StaleGradientError, match=f"{block.prefix}w"):
        trainer.step(1)


def test_zero_grad_and_autograd_grad_do_not_make_a_gradient_fresh():
    # MXNet 1.9.1: after autograd.grad(...) or zero_grad(), step still raises
    block, trainer = _trained(False)
    block.v.grad_req = "null"
    with autograd.record():
        out = block(nd.ones((2, 3)))
    autograd.grad(out, [block.w.data()])
    block.collect_params().zero_grad()
    with pytest.raises(StaleGradientError):
        trainer.step(1)
