"""mg.nd: array creation and dtypes, Python operators, and the registry-generated functions."""
import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError, ShapeError
from minigluon.ops import AttrError, canonical_ops

nd = mg.nd


def f32(x):
    return nd.array(x)


def f64(x):
    return nd.array(x, dtype="float64")


# --- creation and dtype rules -----------------------------------------------------------------

def test_lists_and_scalars_default_to_float32():
    a = nd.array([1, 2, 3])
    assert isinstance(a, nd.NDArray)
    assert a.dtype == np.float32 and a.shape == (3,)
    np.testing.assert_array_equal(a.asnumpy(), [1, 2, 3])
    b = nd.array([[1.5, 2], [3, 4]])
    assert b.dtype == np.float32 and b.shape == (2, 2) and b.ndim == 2 and b.size == 4
    s = nd.array(3.5)  # MXNet 1.x has no 0-d arrays
    assert s.shape == (1,) and s.asscalar() == 3.5


def test_numpy_sources_become_float32_unless_dtype_given():
    # MXNet 1.x nd.array: "default dtype is source_array.dtype if source_array is an NDArray,
    # float32 otherwise" -- a float64 or int numpy array becomes float32
    src = np.array([[0.1, 0.2], [0.3, 0.4]])
    a = nd.array(src)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a.asnumpy(), src.astype(np.float32))
    assert nd.array(np.array([1, 2], np.int32)).dtype == np.float32
    assert nd.array(np.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype,want", [("float64", np.float64), (np.float64, np.float64),
                                        ("int32", np.int32), (np.int64, np.int64),
                                        ("float16", np.float16), ("uint8", np.uint8)])
def test_dtype_argument_wins(dtype, want):
    for src in ([1, 2, 3], np.array([1.0, 2.0, 3.0]), np.array([1, 2, 3], np.int8)):
        a = nd.array(src, dtype=dtype)
        assert a.dtype == want
        np.testing.assert_array_equal(a.asnumpy(), [1, 2, 3])


def test_ndarray_source_keeps_its_dtype():
    i = nd.array([1, 2], dtype="int32")
    assert nd.array(i).dtype == np.int32
    assert nd.array(i, dtype="float64").dtype == np.float64
    d = nd.array(np.array([0.1]), dtype="float64")
    assert nd.array(d).asnumpy()[0] == 0.1  # no float32 round trip


def test_unsupported_dtype_is_rejected():
    with pytest.raises(TypeError, match="int16"):
        nd.array([1, 2], dtype="int16")
    with pytest.raises(TypeError):
        nd.array([1, 2], dtype="no_such_type")


def test_zeros_ones_full_empty():
    z = nd.zeros((2, 3))
    assert z.shape == (2, 3) and z.dtype == np.float32
    np.testing.assert_array_equal(z.asnumpy(), np.zeros((2, 3)))
    assert nd.zeros(4).shape == (4,)
    o = nd.ones((2,), dtype="int32")
    assert o.dtype == np.int32
    np.testing.assert_array_equal(o.asnumpy(), [1, 1])
    assert nd.ones((1, 2), dtype="float16").dtype == np.float16
    f = nd.full((2, 2), 7)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f.asnumpy(), [[7, 7], [7, 7]])
    g = nd.full((3,), 0.1, dtype="float64")
    assert g.dtype == np.float64 and g.asnumpy()[0] == 0.1
    assert nd.empty((2, 5)).shape == (2, 5)
    with pytest.raises(ShapeError, match="negative"):
        nd.zeros((2, -1))


def test_eye():
    np.testing.assert_array_equal(nd.eye(3).asnumpy(), np.eye(3))
    assert nd.eye(3).dtype == np.float32
    np.testing.assert_array_equal(nd.eye(3, 4, 1).asnumpy(),
                                  [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(nd.eye(2, k=-1).asnumpy(), [[0, 0], [1, 0]])
    e = nd.eye(2, dtype="int32")
    assert e.dtype == np.int32 and e.asnumpy().tolist() == [[1, 0], [0, 1]]


def test_arange():
    a = nd.arange(5)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a.asnumpy(), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(nd.arange(1, 2, 0.25).asnumpy(), [1, 1.25, 1.5, 1.75])


def test_asnumpy_returns_a_copy():
    a = nd.array([[1, 2], [3, 4]])
    n = a.asnumpy()
    assert isinstance(n, np.ndarray)
    n[0, 0] = 99
    assert a.asnumpy()[0, 0] == 1
    assert a.asnumpy() is not a.asnumpy()


def test_asscalar():
    v = nd.array([5]).asscalar()
    assert v == 5.0 and isinstance(v, float)
    i = nd.array([[7]], dtype="int32").asscalar()
    assert i == 7 and isinstance(i, int)
    assert float(nd.array([2.5])) == 2.5 and int(nd.array([3])) == 3
    with pytest.raises(ValueError, match="one element"):
        nd.array([1, 2]).asscalar()


# --- reshape --------------------------------------------------------------------------------

X24 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("args,kwargs,want", [
    (((6, 4),), {}, (6, 4)),
    ((6, 4), {}, (6, 4)),
    (([4, 6],), {}, (4, 6)),
    ((-1,), {}, (24,)),
    ((), {"shape": (4, 0, 2)}, (4, 3, 2)),
    (((0, -1),), {}, (2, 12)),
    ((-3, -2), {}, (6, 4)),
    ((-4, 1, 2, -2), {}, (1, 2, 3, 4)),
    ((2, -2), {}, (2, 3, 4)),
    (((-1, 0),), {"reverse": True}, (6, 4)),
    (((-1, 0),), {}, (8, 3)),
])
def test_reshape_tuple_varargs_and_mxnet_codes(args, kwargs, want):
    x = nd.array(X24)
    y = x.reshape(*args, **kwargs)
    assert y.shape == want and y.dtype == np.float32
    np.testing.assert_array_equal(y.asnumpy().ravel(), X24.ravel())
    assert x.shape == (2, 3, 4)  # the source is unchanged


def test_reshape_function_and_error():
    x = nd.array(X24)
    assert nd.reshape(x, shape=(3, -1)).shape == (3, 8)
    assert nd.Reshape(x, (0, -3)).shape == (2, 12)  # shape is the first attribute
    with pytest.raises(ShapeError) as info:
        x.reshape(5, 5)
    msg = str(info.value)
    assert "Reshape" in msg and "float32[2,3,4]" in msg and "24" in msg


# --- arithmetic ---------------------------------------------------------------------------------

A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
B = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -2.0]], np.float32)
ROW = np.array([10.0, 20.0, 30.0], np.float32)
COL = np.array([[1.0], [2.0]], np.float32)


@pytest.mark.parametrize("fn,want", [
    (lambda x: x + 1, A + 1), (lambda x: 1 + x, A + 1),
    (lambda x: x - 1.5, A - 1.5), (lambda x: 1 - x, 1 - A),
    (lambda x: x * 2, A * 2), (lambda x: 2 * x, A * 2),
    (lambda x: x / 4, A / 4), (lambda x: 2 / x, 2 / A),
    (lambda x: x ** 2, A ** 2), (lambda x: 2 ** x, 2 ** A),
    (lambda x: x % 4, np.fmod(A, 4)),
    (lambda x: -x, -A), (lambda x: abs(-x), A),
    (lambda x: x + np.float64(0.5), A + 0.5), (lambda x: x * True, A),
])
def test_scalar_arithmetic(fn, want):
    out = fn(nd.array(A))
    assert isinstance(out, nd.NDArray)
    assert out.dtype == np.float32  # the scalar takes the array's dtype
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6)


def test_scalar_arithmetic_on_int_arrays_stays_int():
    x = nd.array([1, 2, 7], dtype="int32")
    for out, want in [(x + 1, [2, 3, 8]), (x * 3, [3, 6, 21]), (-x, [-1, -2, -7]),
                      (10 - x, [9, 8, 3]), (x ** 2, [1, 4, 49])]:
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out.asnumpy(), want)


@pytest.mark.parametrize("fn,npfn", [
    (lambda x, y: x + y, np.add), (lambda x, y: x - y, np.subtract),
    (lambda x, y: x * y, np.multiply), (lambda x, y: x / y, np.divide),
    (lambda x, y: x ** y, np.power),
])
def test_array_arithmetic_same_shape_and_broadcast(fn, npfn):
    a, b = nd.array(A), nd.array(B)
    np.testing.assert_allclose(fn(a, b).asnumpy(), npfn(A, B), rtol=1e-6)
    # different shapes broadcast (MXNet's broadcast_* ops), both ways round
    np.testing.assert_allclose(fn(a, nd.array(ROW)).asnumpy(), npfn(A, ROW), rtol=1e-6)
    np.testing.assert_allclose(fn(nd.array(COL), a).asnumpy(), npfn(COL, A), rtol=1e-6)
    np.testing.assert_allclose(fn(nd.array(COL), nd.array(ROW)).asnumpy(), npfn(COL, ROW),
                               rtol=1e-6)
    assert fn(nd.array(COL), nd.array(ROW)).shape == (2, 3)


def test_operators_dispatch_to_mxnet_ops(monkeypatch):
    import minigluon.ndarray.ndarray as impl
    seen = []
    real = impl.invoke

    def spy(op, inputs, attrs, name):
        seen.append(op.name)
        return real(op, inputs, attrs, name)

    monkeypatch.setattr(impl.NDArray, "_backend", staticmethod(spy))
    a, b, r = nd.array(A), nd.array(B), nd.array(ROW)
    for expr, op_name in [
        (lambda: a + b, "elemwise_add"), (lambda: a + r, "broadcast_add"),
        (lambda: a - b, "elemwise_sub"), (lambda: r - a, "broadcast_sub"),
        (lambda: a * b, "elemwise_mul"), (lambda: a * r, "broadcast_mul"),
        (lambda: a / b, "elemwise_div"), (lambda: a / r, "broadcast_div"),
        (lambda: a ** b, "_power"), (lambda: a ** r, "broadcast_power"),
        (lambda: a == b, "_equal"), (lambda: a > r, "broadcast_greater"),
        (lambda: a + 1, "_plus_scalar"), (lambda: 1 + a, "_plus_scalar"),
        (lambda: 1 - a, "_rminus_scalar"), (lambda: 2 / a, "_rdiv_scalar"),
        (lambda: 2 ** a, "_rpower_scalar"), (lambda: -a, "_mul_scalar"),
        (lambda: 3 < a, "_greater_scalar"), (lambda: 3 >= a, "_lesser_equal_scalar"),
    ]:
        expr()
        assert seen[-1] == op_name


def test_same_shape_uses_elemwise_and_different_shapes_use_broadcast_ops():
    with pytest.raises(ShapeError, match=r"broadcast_add\(float32\[2,3\], float32\[4,5\]\)"):
        nd.ones((2, 3)) + nd.ones((4, 5))
    with pytest.raises(ShapeError, match=r"broadcast_mul\(float32\[2,3\], float32\[2\]\)"):
        nd.ones((2, 3)) * nd.ones((2,))
    with pytest.raises(ShapeError, match=r"elemwise_add\(float32\[2,3\], float32\[3,2\]\)"):
        nd.elemwise_add(nd.ones((2, 3)), nd.ones((3, 2)))


def test_mod_follows_mxnet_sign_rule():
    x = nd.array([-1.0, 5.0, -7.0])
    np.testing.assert_array_equal((x % 3).asnumpy(), [2, 2, 2])
    np.testing.assert_array_equal(nd.broadcast_mod(x, nd.array([-3.0])).asnumpy(), [-1, -1, -1])
    np.testing.assert_array_equal((x % 0).asnumpy(), [0, 0, 0])


def test_reversed_mod():
    np.testing.assert_array_equal((7 % nd.array([2.0, 4.0])).asnumpy(), [1, 3])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_comparisons_give_0_1_in_the_input_dtype(dtype):
    x = nd.array([[1, 2, 3], [4, 5, 6]], dtype=dtype)
    y = nd.array([[3, 2, 1], [4, 0, 9]], dtype=dtype)
    r = nd.array([2, 5, 3], dtype=dtype)
    cases = [
        (x > 2, [[0, 0, 1], [1, 1, 1]]), (x >= 2, [[0, 1, 1], [1, 1, 1]]),
        (x < 2, [[1, 0, 0], [0, 0, 0]]), (x <= 2, [[1, 1, 0], [0, 0, 0]]),
        (x == 4, [[0, 0, 0], [1, 0, 0]]), (x != 4, [[1, 1, 1], [0, 1, 1]]),
        (2 < x, [[0, 0, 1], [1, 1, 1]]), (5 >= x, [[1, 1, 1], [1, 1, 0]]),
        (x == y, [[0, 1, 0], [1, 0, 0]]), (x > y, [[0, 0, 1], [0, 1, 0]]),
        (x <= y, [[1, 1, 0], [1, 0, 1]]), (x == r, [[0, 0, 1], [0, 1, 0]]),
        (x != r, [[1, 1, 0], [1, 0, 1]]),
    ]
    for out, want in cases:
        assert out.dtype == np.dtype(dtype)
        assert out.shape == (2, 3)
        np.testing.assert_array_equal(out.asnumpy(), want)


def test_unary_minus():
    for dtype in ("float32", "float64", "int32"):
        x = nd.array([[1, -2], [0, 3]], dtype=dtype)
        out = -x
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out.asnumpy(), [[-1, 2], [0, -3]])
    neg = -nd.array(A)
    np.testing.assert_array_equal((-neg).asnumpy(), A)


def test_mixing_ndarray_and_symbol_is_an_error():
    with pytest.raises(TypeError, match="consistently"):
        nd.ones((2,)) + mg.sym.var("x")


# --- the registry-generated functions ---------------------------------------------------------

ALL_NAMES = [(op, name) for op in canonical_ops() for name in (op.name, *op.aliases)]


@pytest.mark.parametrize("op,name", ALL_NAMES, ids=[n for _, n in ALL_NAMES])
def test_every_registry_op_is_exposed(op, name):
    if name.startswith("_"):
        fn = getattr(nd._internal, name)
        assert name not in nd.__all__
    else:
        fn = getattr(nd, name)
        assert name in nd.__all__
    assert callable(fn) and fn.__name__ == name
    assert f"`{op.name}`" in fn.__doc__


def test_generated_functions_run_the_registry_kernels():
    x = nd.array([[-1.0, 0.5], [2.0, -3.0]])
    np.testing.assert_array_equal(nd.relu(x).asnumpy(), [[0, 0.5], [2, 0]])
    np.testing.assert_array_equal(nd.abs(x).asnumpy(), [[1, 0.5], [2, 3]])
    np.testing.assert_array_equal(nd._internal._plus_scalar(x, scalar=1).asnumpy(),
                                  [[0, 1.5], [3, -2]])
    np.testing.assert_array_equal(nd._internal._rminus_scalar(x, 1.0).asnumpy(),
                                  [[2, 0.5], [-1, 4]])
    np.testing.assert_array_equal(nd.broadcast_plus(x, nd.array([1.0, 2.0])).asnumpy(),
                                  [[0, 2.5], [3, -1]])
    np.testing.assert_array_equal(nd.add_n(x, x, x).asnumpy(), 3 * x.asnumpy())
    np.testing.assert_array_equal(nd.stop_gradient(x).asnumpy(), x.asnumpy())
    z = nd._internal._zeros(shape=(2, 1), dtype="int32")
    assert z.dtype == np.int32 and z.shape == (2, 1)


def test_positional_attribute_arguments():
    x = nd.array(A)
    by_pos, by_kw = nd.log_softmax(x, 0), nd.log_softmax(x, axis=0)
    np.testing.assert_array_equal(by_pos.asnumpy(), by_kw.asnumpy())
    # axis 0 normalises columns, the default (-1) rows
    np.testing.assert_allclose(np.exp(by_pos.asnumpy()).sum(axis=0), [1, 1, 1], rtol=1e-6)
    assert not np.allclose(by_pos.asnumpy(), nd.log_softmax(x).asnumpy())
    sw = nd.swapaxes(x, 0, 1)
    assert sw.shape == (3, 2)
    np.testing.assert_array_equal(sw.asnumpy(), A.T)
    assert nd.SwapAxis(nd.array(X24), 0, 2).shape == (4, 3, 2)
    np.testing.assert_array_equal(nd.sum(x, 1).asnumpy(), [6, 15])
    np.testing.assert_array_equal(nd.sum(x, 1, True).asnumpy(), [[6], [15]])
    np.testing.assert_array_equal(nd.clip(x, 2, 4).asnumpy(), [[2, 2, 3], [4, 4, 4]])
    np.testing.assert_array_equal(nd.one_hot(nd.array([2, 0]), 3).asnumpy(),
                                  [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(nd.pick(x, nd.array([0, 1, 1]), 0).asnumpy(), [1, 5, 6])
    cat = nd.concat(x, x, 0)  # variadic: arrays first, then attributes
    assert cat.shape == (4, 3)
    assert nd.concat(x, x, dim=1).shape == (2, 6)
    assert nd.stack(x, x, x, axis=1).shape == (2, 3, 3)


def test_bad_calls_raise_type_errors():
    x = nd.array(A)
    with pytest.raises(TypeError, match="at most"):
        nd.swapaxes(x, 0, 1, 2)
    with pytest.raises(TypeError, match="multiple values"):
        nd.log_softmax(x, 0, axis=1)
    with pytest.raises(TypeError, match="missing input 'rhs'"):
        nd.elemwise_add(x)
    with pytest.raises(TypeError, match="must be an array"):
        nd.elemwise_add(x, A)
    with pytest.raises(AttrError, match="sum has no attribute 'axes'"):
        nd.sum(x, axes=1)
    with pytest.raises(AttrError, match="expected one of"):
        nd.Activation(x, act_type="gelu")


def test_fluent_methods():
    x = nd.array(A)
    np.testing.assert_array_equal(x.sum(axis=1).asnumpy(), [6, 15])
    np.testing.assert_array_equal(x.max(0).asnumpy(), [4, 5, 6])
    np.testing.assert_allclose(x.softmax().asnumpy().sum(axis=1), [1, 1], rtol=1e-6)
    np.testing.assert_allclose(x.exp().asnumpy(), np.exp(A), rtol=1e-6)
    assert x.astype("float64").dtype == np.float64
    assert x.expand_dims(0).shape == (1, 2, 3)
    assert x.transpose().shape == (3, 2)


@pytest.mark.parametrize("fn,want_shapes", [
    (lambda: nd.elemwise_add(nd.ones((2, 3)), nd.ones((3, 2))), ("[2,3]", "[3,2]")),
    (lambda: nd.dot(nd.ones((2, 3)), nd.ones((2, 3))), ("[2,3]", "[2,3]")),
    (lambda: nd.batch_dot(nd.ones((2, 3, 4)), nd.ones((3, 4, 5))), ("[2,3,4]", "[3,4,5]")),
    (lambda: nd.pick(nd.ones((3, 4)), nd.ones((2,))), ("[3,4]", "[2]")),
    (lambda: nd.Concat(nd.ones((2, 3)), nd.ones((3, 3)), dim=1), ("[2,3]", "[3,3]")),
    (lambda: nd.sum(nd.ones((2, 3)), axis=2), ("[2,3]",)),
    (lambda: nd.broadcast_to(nd.ones((2, 3)), shape=(4, 3)), ("[2,3]",)),
    (lambda: nd.softmax(nd.ones((2, 3)), axis=5), ("[2,3]",)),
])
def test_shape_errors_name_the_op_and_the_shapes(fn, want_shapes):
    with pytest.raises(ValueError) as info:
        fn()
    err = info.value
    assert isinstance(err, ShapeError) and isinstance(err, MXNetError)
    op_name = str(err).split("(")[0]
    assert op_name in {op.name for op in canonical_ops()}
    for s in want_shapes:
        assert f"float32{s}" in str(err)


# --- float64 stays float64 ---------------------------------------------------------------------

def test_float64_stays_float64():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    y = f64([[0.5, 0.25], [2.0, 8.0]])
    outs = {
        "add": x + y, "bcast": x + f64([1.0, 2.0]), "scalar": x * 3, "rscalar": 1 - x,
        "rdiv": 2 / x, "rpow": 2 ** x, "neg": -x, "cmp": x > 2, "exp": nd.exp(x),
        "softmax": nd.softmax(x), "log_softmax": nd.log_softmax(x, 0), "sum": nd.sum(x),
        "mean": x.mean(axis=1), "norm": nd.norm(x), "dot": nd.dot(x, y),
        "reshape": x.reshape(-1), "pick": nd.pick(x, f64([0, 1])), "where": nd.where(x > 2, x, y),
        "concat": nd.concat(x, y, dim=0), "clip": nd.clip(x, 0, 2), "copy": nd.array(x),
        "sigmoid": nd.sigmoid(x), "relu": nd.relu(x - 2),
    }
    for name, out in outs.items():
        assert out.dtype == np.float64, name
    # and carries float64 precision, which float32 would round away
    np.testing.assert_array_equal((f64([1.0]) + 1e-12).asnumpy() - 1.0, [1e-12 + 1.0 - 1.0])
    assert (f64([1.0]) + 1e-12).asnumpy()[0] != 1.0
    assert (f32([1.0]) + 1e-12).asnumpy()[0] == 1.0
    np.testing.assert_allclose(nd.norm(f64([1e200, 1e200])).asnumpy(), [np.sqrt(2) * 1e200])
