"""Results never share memory with the caller's arrays, except where MXNet 1.9.1's do.

MXNet returns a new array from every operator (``nd.reshape``, ``transpose``, ``BlockGrad``,
``slice``, ...), while numpy hands back views for many of them: run eagerly, such a view
would let ``y += 1`` change the caller's ``x``.  MXNet's own views are the ``x.reshape``
method, basic indexing that selects one contiguous block of memory (``x[0]``, ``x[1:3]``,
``x[0, 1:]``, ``x[None]``), ``x.detach()`` and ``x.astype(same dtype, copy=False)``; those
must stay views.  The table below was checked against MXNet 1.9.1 (``y = f(x); y += 1``).
"""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import CompileError
from minigluon.compiler.pipeline import compile_graph
from minigluon.ops.registry import REQUIRED, canonical_ops, get_op, unshared
from minigluon.symbol.interpreter import Plan

nd, sym = mg.nd, mg.sym
RNG = np.random.default_rng(5)


def _u(*shape, lo=0.5, hi=1.5):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


# op name (or name/variant) -> (inputs, attrs); each variant tempts an op to hand back its
# input or a view of it (same shape, identity permutation, the whole axis, one input)
CASES: dict[str, tuple[list, dict]] = {
    "_zeros": ([], {"shape": (2, 3)}),
    "_ones": ([], {"shape": (2, 3)}),
    "_full": ([], {"shape": (2, 3), "value": 2.0}),
    "_eye": ([], {"N": 3}),
    "_arange": ([], {"start": 0.0, "stop": 4.0}),
    "Activation": ([_u(3, 4)], {"act_type": "relu"}),
    "clip": ([_u(3, 4)], {"a_min": -10.0, "a_max": 10.0}),
    "add_n": ([_u(3, 4), _u(3, 4)], {}),
    "add_n/one": ([_u(3, 4)], {}),
    "where": ([np.ones((3, 4), np.float32), _u(3, 4), _u(3, 4)], {}),
    "dot": ([_u(3, 4), _u(4, 2)], {}),
    "batch_dot": ([_u(2, 3, 4), _u(2, 4, 5)], {}),
    "sum": ([_u(3, 4)], {"axis": 1}),
    "sum/no_axes": ([_u(3, 4)], {"axis": ()}),
    "mean": ([_u(3, 4)], {"axis": 0}),
    "prod": ([_u(3, 4)], {"axis": 0}),
    "nansum": ([_u(3, 4)], {"axis": 1}),
    "nanprod": ([_u(3, 4)], {"axis": 1}),
    "max": ([_u(3, 4)], {"axis": 1}),
    "max/one_element_axis": ([_u(3, 1)], {"axis": 1, "keepdims": True}),
    "min": ([_u(3, 4)], {"axis": 0}),
    "norm": ([_u(3, 4)], {"axis": 1}),
    "argmax": ([_u(3, 4)], {"axis": 1}),
    "argmin": ([_u(3, 4)], {"axis": 0}),
    "log_softmax": ([_u(3, 4)], {}),
    "softmax": ([_u(3, 4)], {}),
    "pick": ([_u(3, 4), np.array([0, 3, 1], np.float32)], {"axis": 1}),
    "one_hot": ([np.array([0, 3, 1], np.float32)], {"depth": 4}),
    "take": ([_u(3, 4), np.array([0, 2, 2], np.float32)], {"axis": 1}),
    "CTCLoss": ([_u(5, 2, 4), np.array([[1, 2], [3, 0]], np.float32)], {}),
    "_ctc_loss_lse": ([_u(5, 2, 4), _u(5, 2), np.array([[1, 2], [3, 0]], np.float32)], {}),
    "Reshape": ([_u(3, 4)], {"shape": (2, -1)}),
    "Reshape/same": ([_u(3, 4)], {"shape": (3, 4)}),
    "reshape_like": ([_u(3, 4), _u(6, 2)], {}),
    "reshape_like/same": ([_u(3, 4), _u(3, 4)], {}),
    "Flatten": ([_u(2, 3, 2)], {}),
    "Flatten/2d": ([_u(3, 4)], {}),
    "expand_dims": ([_u(3, 4)], {"axis": 1}),
    "SwapAxis": ([_u(2, 3, 4)], {"dim1": 0, "dim2": 2}),
    "SwapAxis/same": ([_u(2, 3, 4)], {"dim1": 1, "dim2": 1}),
    "transpose": ([_u(2, 3, 4)], {}),
    "transpose/identity": ([_u(2, 3, 4)], {"axes": (0, 1, 2)}),
    "broadcast_to": ([_u(3, 1)], {"shape": (3, 4)}),
    "broadcast_to/same": ([_u(3, 4)], {"shape": (3, 4)}),
    "broadcast_like": ([_u(1, 4), _u(3, 4)], {}),
    "broadcast_like/same": ([_u(3, 4), _u(3, 4)], {}),
    "broadcast_axis": ([_u(3, 1)], {"axis": 1, "size": 4}),
    "broadcast_axis/none": ([_u(3, 4)], {}),
    "squeeze": ([_u(3, 1, 4)], {}),
    "squeeze/nothing": ([_u(3, 4)], {}),
    "slice": ([_u(5, 6)], {"begin": (1, None), "end": (4, None)}),
    "slice/whole": ([_u(5, 6)], {"begin": (None,), "end": (None,)}),
    "slice/step": ([_u(5, 6)], {"begin": (None, 1), "end": (None, 4), "step": (2, 1)}),
    "_slice_assign": ([_u(4, 6), _u(2, 6)], {"begin": (1,), "end": (3,)}),
    "_slice_assign_scalar": ([_u(4, 6)], {"begin": (0,), "end": (0,), "scalar": 2.0}),
    "slice_axis": ([_u(3, 5)], {"axis": 0, "begin": 1, "end": 2}),
    "slice_axis/whole": ([_u(3, 5)], {"axis": 0, "begin": 0, "end": None}),
    "tile": ([_u(2, 3)], {"reps": (2, 1)}),
    "tile/ones": ([_u(2, 3)], {"reps": (1, 1)}),
    "Concat": ([_u(3, 2), _u(3, 1)], {"dim": 1}),
    "Concat/one": ([_u(3, 2)], {"dim": 1}),
    "stack": ([_u(3, 2), _u(3, 2)], {"axis": 1}),
    "stack/one": ([_u(3, 2)], {}),
    "Cast": ([_u(3, 4)], {"dtype": "float64"}),
    "Cast/same": ([_u(3, 4)], {"dtype": "float32"}),
    "_copy": ([_u(3, 4)], {}),
    "BlockGrad": ([_u(3, 4)], {}),
    "_plus_scalar/zero": ([_u(3, 4)], {"scalar": 0.0}),
    "_mul_scalar/one": ([_u(3, 4)], {"scalar": 1.0}),
    # random draws: a sample of parameters equal to the output's shape must not hand them back
    "_random_uniform": ([], {"shape": (2, 3)}),
    "_random_normal": ([], {"shape": (2, 3)}),
    "_random_exponential": ([], {"shape": (2, 3)}),
    "_random_gamma": ([], {"shape": (2, 3)}),
    "_random_poisson": ([], {"shape": (2, 3)}),
    "_random_randint": ([], {"low": 0, "high": 5, "shape": (2, 3)}),
    "_sample_uniform": ([_u(3, 4), _u(3, 4) + 1], {}),
    "_sample_normal": ([_u(3, 4), _u(3, 4)], {}),
    "_sample_exponential": ([_u(3, 4)], {}),
    "_sample_gamma": ([_u(3, 4), _u(3, 4)], {}),
    "_sample_poisson": ([_u(3, 4)], {}),
    "_shuffle/one_row": ([_u(1, 4)], {}),
    "Dropout/identity": ([_u(3, 4)], {"p": 0.0}),
    "Dropout/always": ([_u(3, 4)], {"p": 0.5, "mode": "always", "axes": (1,)}),
    "LeakyReLU": ([_u(3, 4)], {}),
    "LeakyReLU/prelu": ([_u(2, 3), _u(3)], {"act_type": "prelu"}),
    "LeakyReLU/rrelu": ([_u(3, 4)], {"act_type": "rrelu"}),
}
_FC = np.random.default_rng(6)  # a generator of its own: RNG's sequence stays as it was
CASES.update({  # a (n, 1) data with one hidden unit and no bias has the shape of its output
    "FullyConnected": ([_FC.uniform(size=s).astype(np.float32) for s in ((2, 3), (4, 3), (4,))],
                       {"num_hidden": 4}),
    "FullyConnected/identity_shape": ([_FC.uniform(size=s).astype(np.float32)
                                       for s in ((3, 1), (1, 1))],
                                      {"num_hidden": 1, "no_bias": True}),
})
CASES.update({  # identities in some settings: a mask or repeat that changes nothing
    "repeat/once": ([_u(3, 4)], {"repeats": 1, "axis": 0}),
    "SequenceMask/off": ([_u(3, 4)], {}),
    "SequenceMask/full_lengths": ([_u(3, 4), np.full(4, 3, np.float32)],
                                  {"use_sequence_length": True}),
    "SequenceLast/one_step": ([_u(1, 4)], {}),
    "MakeLoss/valid": ([_u(3, 4)], {"normalization": "valid"}),
    "sort/sorted": ([np.arange(6, dtype=np.float32).reshape(2, 3)], {}),
    "topk/all": ([_u(3, 4)], {"k": 0, "ret_typ": "value"}),
    "topk/both": ([_u(3, 4)], {"k": 2, "ret_typ": "both"}),
    "gather_nd/row": ([_u(3, 4), np.array([[1]], np.float32)], {}),
    # the moving-statistics form returns moving_mean as its mean output: a copy
    "BatchNorm": ([_u(2, 3), _u(3), _u(3), _u(3), _u(3)], {"output_mean_var": True}),
    "_BatchNorm_train": ([_u(2, 3, 2), _u(3), _u(3), _u(3), _u(3)], {}),
    "LayerNorm": ([_u(2, 3), _u(3), _u(3)], {}),
    "InstanceNorm": ([_u(2, 3, 2), _u(3), _u(3)], {}),
    "GroupNorm": ([_u(2, 4, 1), _u(2), _u(2)], {"num_groups": 2}),
    # numpy's split gives views of the input: each part must be an array of its own
    "softmax_cross_entropy": ([_u(3, 4), np.array([0, 3, 1], np.float32)], {}),
    "SliceChannel": ([_u(2, 6)], {"num_outputs": 3}),
    "SliceChannel/one": ([_u(2, 6)], {"num_outputs": 1}),
    "SliceChannel/squeeze": ([_u(3, 2)], {"num_outputs": 3, "axis": 0, "squeeze_axis": True}),
})
for _op in canonical_ops():  # the regular families: one case each
    if any(c.split("/")[0] == _op.name for c in CASES):
        continue
    _req = [k for k, a in _op.attrs.items() if a.default is REQUIRED]
    if _op.inputs == ("data",) and _req == ["scalar"]:
        CASES[_op.name] = ([_u(3, 4)], {"scalar": 0.7})
    elif _op.inputs == ("data",) and not _req:
        CASES[_op.name] = ([_u(3, 4)], {})
    elif _op.inputs == ("lhs", "rhs") and not _req:
        CASES[_op.name] = ([_u(3, 4), _u(1, 4) if _op.name.startswith("broadcast_") else _u(3, 4)],
                           {})


def _call(F, name, inputs, attrs):
    fn = getattr(F._internal, name) if name.startswith("_") else getattr(F, name)
    return fn(*inputs, **attrs)


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _assert_no_sharing(outs: list, ins: list, what: str):
    for k, o in enumerate(outs):
        for j, a in enumerate(ins):
            assert not np.shares_memory(o, a), f"{what}: output {k} shares memory with input {j}"
        for j, p in enumerate(outs[:k]):
            assert not np.shares_memory(o, p), f"{what}: output {k} shares memory with output {j}"


def test_every_registry_op_has_a_case():
    covered = {c.split("/")[0] for c in CASES}
    missing = [op.name for op in canonical_ops() if op.name not in covered]
    assert missing == [], f"ops without a no-alias case: {missing}"
    assert covered <= {op.name for op in canonical_ops()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_eager_results_are_new_arrays(case):
    name = case.split("/")[0]
    inputs, attrs = CASES[case]
    xs = [nd.array(a, dtype=a.dtype) for a in inputs]
    op = get_op(name)
    before = [x.asnumpy().copy() for x in xs]
    outs = _as_list(_call(nd, name, xs, attrs))
    if op.update is not None:  # it writes its auxiliary states (moving statistics), by design
        before = [x.asnumpy().copy() for x in xs]
    _assert_no_sharing([o._data for o in outs], [x._data for x in xs], case)
    for o in outs:  # MXNet's test: writing into a result leaves the inputs alone
        o += 1
    for x, b in zip(xs, before):
        np.testing.assert_array_equal(x.asnumpy(), b)
    # every output the kernel makes, also those only autograd keeps (CTCLoss's gradient)
    arrays = [x._data for x in xs]
    _assert_no_sharing(op.run(op.parse_attrs(attrs), arrays), arrays, f"{case} (all outputs)")


# runs on numpy only for now (rrelu draws its slopes; a hybridized block runs such a graph
# interpreted, with a warning); the compiler must refuse it plainly
NOT_COMPILED = {"LeakyReLU/rrelu"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_outputs_are_new_arrays_interpreted_and_compiled(case):
    name = case.split("/")[0]
    inputs, attrs = CASES[case]
    vs = [sym.var(f"x{k}", shape=a.shape, dtype=a.dtype) for k, a in enumerate(inputs)]
    graph = _call(sym, name, vs, attrs)
    names = [f"x{k}" for k in range(len(inputs))]
    got = Plan(graph).run(dict(zip(names, inputs)))
    _assert_no_sharing(got, inputs, f"{case} (interpreter)")
    if case in NOT_COMPILED:
        with pytest.raises(CompileError, match="no compiled form"):
            compile_graph(graph, names)
        return
    got = compile_graph(graph, names).run(inputs)
    _assert_no_sharing(got, inputs, f"{case} (compiled)")


# --- MXNet's views ---------------------------------------------------------------------------
# x is float32 (4, 3, 2); True: MXNet 1.9.1 returns a view of x's memory, False: a new array
METHODS = {
    "x.reshape(6, 4)": (lambda x: x.reshape(6, 4), True),
    "x.reshape(-1)": (lambda x: x.reshape(-1), True),
    "x.reshape(same shape)": (lambda x: x.reshape((4, 3, 2)), True),
    "x.reshape(shape=...)": (lambda x: x.reshape(shape=(12, 2)), True),
    "x[0]": (lambda x: x[0], True),
    "x[-1]": (lambda x: x[-1], True),
    "x[np.int64(1)]": (lambda x: x[np.int64(1)], True),
    "x[1:3]": (lambda x: x[1:3], True),
    "x[1:2]": (lambda x: x[1:2], True),
    "x[:]": (lambda x: x[:], True),
    "x[...]": (lambda x: x[...], True),
    "x[:, :]": (lambda x: x[:, :], True),
    "x[None]": (lambda x: x[None], True),
    "x[None, 1]": (lambda x: x[None, 1], True),
    "x[1, None]": (lambda x: x[1, None], True),
    "x[0, 1]": (lambda x: x[0, 1], True),
    "x[0][1]": (lambda x: x[0][1], True),
    "x[1:3][0]": (lambda x: x[1:3][0], True),
    "x[1, 1:3]": (lambda x: x[1, 1:3], True),
    "x[1:2, 1:2]": (lambda x: x[1:2, 1:2], True),
    "x[1, 1, 1]": (lambda x: x[1, 1, 1], True),
    "x[:, 0]": (lambda x: x[:, 0], False),
    "x[:, 1:3]": (lambda x: x[:, 1:3], False),
    "x[1, :, 1]": (lambda x: x[1, :, 1], False),
    "x[..., 0]": (lambda x: x[..., 0], False),
    "x[::2]": (lambda x: x[::2], False),
    "x[::-1]": (lambda x: x[::-1], False),
    "x[index array]": (lambda x: x[nd.array([0, 2], dtype="int64")], False),
    "x.detach()": (lambda x: x.detach(), True),
    "x.astype(same, copy=False)": (lambda x: x.astype("float32", copy=False), True),
    "x.astype(same)": (lambda x: x.astype("float32"), False),
    "x.copy()": (lambda x: x.copy(), False),
    "x.T": (lambda x: x.T, False),
    "x.transpose()": (lambda x: x.transpose(), False),
    "x.flatten()": (lambda x: x.flatten(), False),
    "x.expand_dims(0)": (lambda x: x.expand_dims(0), False),
    "x.squeeze()": (lambda x: x.squeeze(), False),
    "x.swapaxes(0, 1)": (lambda x: x.swapaxes(0, 1), False),
    "x.slice_axis(...)": (lambda x: x.slice_axis(axis=0, begin=0, end=1), False),
    "x.broadcast_to(same)": (lambda x: x.broadcast_to((4, 3, 2)), False),
    "nd.reshape(x)": (lambda x: nd.reshape(x, shape=(6, 4)), False),
    "nd.BlockGrad(x)": (lambda x: nd.BlockGrad(x), False),
    "nd.stop_gradient(x)": (lambda x: nd.stop_gradient(x), False),
    "nd.identity(x)": (lambda x: nd.identity(x), False),
    "nd.slice(x) first rows": (lambda x: nd.slice(x, begin=(0,), end=(1,)), False),
    "nd.crop(x)": (lambda x: nd.crop(x, begin=(0,), end=(1,)), False),
    "nd.concat(x) of one input": (lambda x: nd.concat(x, dim=0), False),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_views_exactly_where_mxnet_has_them(name):
    take, view = METHODS[name]
    data = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    x = nd.array(data)
    y = take(x)
    assert np.shares_memory(y._data, x._data) == view
    want = y.asnumpy() + 1
    y += 1
    np.testing.assert_array_equal(y.asnumpy(), want)
    if view:  # MXNet: the write went into x's memory
        assert not np.array_equal(x.asnumpy(), data)
    else:
        np.testing.assert_array_equal(x.asnumpy(), data)


def test_mxnet_returns_the_array_itself():
    x = nd.ones((2, 3))
    assert x.astype(np.float32, copy=False) is x
    assert x.astype("float64", copy=False) is not x
    assert x.as_in_context(x.context) is x


def test_a_view_and_writes_through_it_follow_mxnet():
    x = nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    x[0][1] = 10.0  # x[0] is a view, so the assignment reaches x
    row = x[1]
    row[:] = 7.0
    flat = x.reshape(-1)
    flat -= 1.0
    np.testing.assert_array_equal(x.asnumpy(), [[-1, 9, 1], [6, 6, 6]])


def test_views_are_recorded_for_autograd():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = nd.array(data)
    x.attach_grad()
    with autograd.record():
        y = x.reshape(-1) * 2.0
        z = x[1] * 3.0
        w = x[0:1].reshape(3) * 5.0
        out = y.sum() + z.sum() + w.sum()
    out.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[7, 7, 7], [5, 5, 5]])
    np.testing.assert_array_equal(x.asnumpy(), data)


def test_block_grad_is_a_copy_with_no_gradient():
    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = nd.BlockGrad(x)
        out = (y * x).sum()
    out.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 2, 3])  # y is a constant
    y += 1
    np.testing.assert_array_equal(x.asnumpy(), [1, 2, 3])


def test_unshared_copies_views_and_repeats_only():
    x = np.arange(6.0)
    y = np.arange(6.0)
    outs = unshared([y.reshape(2, 3), y, x, x[1:], y], [x])
    assert outs[0].base is y and outs[1] is not y  # y's view came first: y itself is copied
    assert outs[2] is not x and outs[3].base is None and outs[4] is not y
    _assert_no_sharing(outs, [x], "unshared")
    fresh = np.ones(3)
    assert unshared([fresh], [x])[0] is fresh  # a new array passes untouched
