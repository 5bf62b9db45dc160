"""The op registry: completeness, MXNet attribute strings, MXNet shape rules, and agreement
between each op's shape/dtype inference and what its numpy kernel really returns."""
import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError, ShapeError
from minigluon.ops import OPS, Attr, AttrError, DTypeError, canonical_ops, get_op
from minigluon.ops.registry import _KINDS, REQUIRED, Op
from minigluon.ops.shape import mxnet_reshape

CANONICAL = canonical_ops()
ATTR_OPS = [op for op in CANONICAL if op.attrs]


def _ids(ops):
    return [op.name for op in ops]


def _required_strings(op: Op) -> dict:
    """A valid JSON string for every required attribute of op (so one attr can be tested alone)."""
    sample = {"int": "1", "float": "0.5", "shape": "(1,)", "opt_shape": "(0,)", "bool": "False",
              "dtype": "float32", "axes": "0", "opt_int": "None", "opt_float": "None"}
    out = {}
    for key, spec in op.attrs.items():
        if spec.default is REQUIRED:
            out[key] = spec.choices[0] if spec.choices else sample[spec.kind]
    return out


def run_checked(name: str, *arrays, **attrs):
    """Run an op's kernel after inferring; assert inference matches the kernel's real output."""
    op = get_op(name)
    parsed = op.parse_attrs(attrs)
    shapes, dtypes = op.infer(parsed, [a.shape for a in arrays], [a.dtype.name for a in arrays])
    with np.errstate(all="ignore"):
        outs = op.run(parsed, list(arrays))
    assert len(outs) == op.n_outputs(attrs)
    got_shapes = [np.asarray(o).shape for o in outs]
    got_dtypes = [np.asarray(o).dtype.name for o in outs]
    assert got_shapes == shapes, f"{name}{attrs}: inferred {shapes}, kernel gave {got_shapes}"
    assert got_dtypes == dtypes, f"{name}{attrs}: inferred {dtypes}, kernel gave {got_dtypes}"
    return outs[0] if len(outs) == 1 else outs


# --- completeness -------------------------------------------------------------------------

def test_canonical_ops_are_unique_and_cover_the_table():
    names = [op.name for op in CANONICAL]
    assert len(names) == len(set(names))
    assert len(CANONICAL) > 100
    # every table entry (canonical name or alias) is one of the canonical ops
    ids = {id(op) for op in CANONICAL}
    assert all(id(op) in ids for op in OPS.values())
    assert len(OPS) == sum(1 + len(op.aliases) for op in CANONICAL)
    for must in ("Reshape", "log_softmax", "softmax", "pick", "one_hot", "norm", "CTCLoss",
                 "elemwise_add", "broadcast_add", "_plus_scalar", "sum", "mean", "dot", "Cast"):
        assert must in OPS


@pytest.mark.parametrize("op", CANONICAL, ids=_ids(CANONICAL))
def test_every_op_has_name_shape_function_and_kernel(op):
    assert isinstance(op.name, str) and op.name
    assert callable(op.shape) and callable(op.compute)
    assert op.dtype is None or callable(op.dtype)
    assert isinstance(op.inputs, tuple) and all(isinstance(i, str) and i for i in op.inputs)
    assert OPS[op.name] is op and get_op(op.name) is op
    for alias in op.aliases:
        assert OPS[alias] is op
    if isinstance(op.num_outputs, int):
        assert op.num_outputs >= 1
    else:
        assert callable(op.num_outputs)  # a rule of the attributes (split's num_outputs)
    if isinstance(op.num_visible, int) and isinstance(op.num_outputs, int):
        assert 1 <= op.num_visible <= op.num_outputs
    assert op.name_hint and op.name_hint == op.name_hint.lower()
    for key, spec in op.attrs.items():
        assert isinstance(spec, Attr) and spec.kind in _KINDS, (op.name, key)
        if spec.default is not REQUIRED:
            # every default is itself a valid value of its attribute
            assert spec.value(spec.default) == spec.default, (op.name, key)


def test_get_op_unknown_name():
    with pytest.raises(MXNetError, match="FancyOp"):
        get_op("FancyOp")


# --- attribute parsing from MXNet graph-JSON strings ----------------------------------------

PARSE_CASES = [
    ("Reshape", "shape", "(-1, 1)", (-1, 1)),
    ("Reshape", "shape", "(4,)", (4,)),
    ("Reshape", "shape", "[2, 3]", (2, 3)),
    ("Reshape", "shape", "(0, -3, -2)", (0, -3, -2)),
    ("Reshape", "reverse", "True", True),
    ("Reshape", "reverse", "False", False),
    ("Reshape", "reverse", "1", True),
    ("Reshape", "reverse", "0", False),
    ("_mul_scalar", "scalar", "-1.0", -1.0),
    ("_plus_scalar", "scalar", "1e-12", 1e-12),
    ("_rminus_scalar", "scalar", "1", 1.0),
    ("_full", "value", "1e-12", 1e-12),
    ("_full", "dtype", "float32", "float32"),
    ("Cast", "dtype", "float64", "float64"),
    ("Cast", "dtype", "int32", "int32"),
    ("softmax", "dtype", "None", None),
    ("softmax", "temperature", "None", None),
    ("softmax", "temperature", "2.5", 2.5),
    ("log_softmax", "axis", "-1", -1),
    ("sum", "axis", "None", None),
    ("sum", "axis", "0", 0),
    ("sum", "axis", "(0, 2)", (0, 2)),
    ("sum", "axis", "()", ()),
    ("mean", "exclude", "True", True),
    ("slice", "begin", "(None, 1)", (None, 1)),
    ("slice_axis", "end", "None", None),
    ("slice_axis", "end", "-1", -1),
    ("Activation", "act_type", "softrelu", "softrelu"),
    ("pick", "mode", "wrap", "wrap"),
    ("pick", "keepdims", "True", True),
    ("norm", "ord", "1", 1),
    ("one_hot", "depth", "10", 10),
    ("SwapAxis", "dim2", "1", 1),
]


@pytest.mark.parametrize("op_name,key,text,want", PARSE_CASES,
                         ids=[f"{c[0]}.{c[1]}={c[2]}" for c in PARSE_CASES])
def test_attribute_strings_parse(op_name, key, text, want):
    op = get_op(op_name)
    parsed = op.parse_attrs({**_required_strings(op), key: text})
    assert parsed[key] == want
    assert type(parsed[key]) is type(want)  # True stays bool, -1 an int, -1.0 a float
    # full_attrs fills the rest with defaults
    full = op.full_attrs(parsed)
    assert set(full) == set(op.attrs)


def test_parse_of_a_whole_mxnet_node():
    attrs = get_op("_full").parse_attrs({"dtype": "float32", "shape": "(1, 1)", "value": "1e-12"})
    assert attrs == {"dtype": "float32", "shape": (1, 1), "value": 1e-12}
    attrs = get_op("mean").parse_attrs({"axis": "0", "exclude": "True"})
    assert attrs == {"axis": 0, "exclude": True}
    attrs = get_op("CTCLoss").parse_attrs({"blank_label": "last", "use_data_lengths": "False",
                                           "use_label_lengths": "False"})
    assert attrs == {"blank_label": "last", "use_data_lengths": False, "use_label_lengths": False}


BAD_CASES = [
    ("Reshape", "shape", "(1, x)"),
    ("Reshape", "shape", "(1.5, 2)"),
    ("Reshape", "shape", "(1, 2"),
    ("Reshape", "reverse", "maybe"),
    ("Reshape", "reverse", "2"),
    ("_mul_scalar", "scalar", "abc"),
    ("_mul_scalar", "scalar", ""),
    ("sum", "axis", "1.5"),
    ("sum", "axis", "x"),
    ("sum", "keepdims", "yes"),
    ("Cast", "dtype", "float99"),
    ("Cast", "dtype", "complex128"),
    ("softmax", "temperature", "hot"),
    ("Activation", "act_type", "gelu"),
    ("norm", "ord", "3"),
    ("pick", "mode", "raise"),
    ("expand_dims", "axis", "None"),
    ("slice_axis", "begin", "one"),
    ("one_hot", "depth", "3.0"),
]


@pytest.mark.parametrize("op_name,key,text", BAD_CASES,
                         ids=[f"{c[0]}.{c[1]}={c[2]}" for c in BAD_CASES])
def test_unparsable_attribute_strings_are_rejected(op_name, key, text):
    op = get_op(op_name)
    with pytest.raises(AttrError) as info:
        op.parse_attrs({**_required_strings(op), key: text})
    msg = str(info.value)
    assert op_name in msg and key in msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, MXNetError)


@pytest.mark.parametrize("op_name,key,value", [
    ("sum", "keepdims", 2), ("sum", "axis", 1.5), ("_mul_scalar", "scalar", True),
    ("Reshape", "shape", "abc"), ("Reshape", "shape", (1, 2.5)), ("one_hot", "depth", None),
    ("Activation", "act_type", 3), ("Cast", "dtype", "no_such_dtype"),
])
def test_bad_python_attribute_values_are_rejected(op_name, key, value):
    op = get_op(op_name)
    with pytest.raises(AttrError, match=f"{op_name}.*{key}"):
        op.parse_attrs({**_required_strings(op), key: value})


@pytest.mark.parametrize("op", ATTR_OPS, ids=_ids(ATTR_OPS))
def test_unknown_attribute_names_are_rejected(op):
    with pytest.raises(AttrError) as info:
        op.parse_attrs({**_required_strings(op), "no_such_attr": "1"})
    msg = str(info.value)
    assert op.name in msg and "no_such_attr" in msg
    # the message lists the attributes that do exist
    assert all(k in msg for k in op.attrs)


@pytest.mark.parametrize("op", [op for op in ATTR_OPS if any(
    a.default is REQUIRED for a in op.attrs.values())], ids=lambda op: op.name)
def test_missing_required_attributes_are_rejected(op):
    with pytest.raises(AttrError, match=f"{op.name} needs attribute"):
        op.parse_attrs({})


def test_attribute_free_ops_reject_attributes_unless_loose():
    with pytest.raises(AttrError, match="relu has no attribute 'axis'"):
        get_op("relu").parse_attrs({"axis": "1"})
    # MXNet stores stray attributes on its param-less binary ops; they are ignored
    assert get_op("broadcast_maximum").parse_attrs({"axis": "1"}) == {}
    assert get_op("elemwise_add").parse_attrs({"foo": "bar"}) == {}


def test_hidden_and_bookkeeping_attributes_are_skipped():
    op = get_op("sum")
    assert op.parse_attrs({"__shape__": "(2, 3)", "__lr_mult__": "1", "axis": "1"}) == {"axis": 1}
    assert get_op("Concat").parse_attrs({"num_args": "3", "dim": "0"}) == {"dim": 0}
    assert get_op("add_n").parse_attrs({"num_args": "2"}) == {}


# --- MXNet Reshape codes ---------------------------------------------------------------------

RESHAPES = [
    # 0 copies a dim, plain values consume one input dim each
    ((2, 3, 4), (4, 0, 2), False, (4, 3, 2)),
    ((2, 3, 4), (2, 0, 0), False, (2, 3, 4)),
    # -1 infers one dim
    ((2, 3, 4), (6, 1, -1), False, (6, 1, 4)),
    ((2, 3, 4), (3, -1, 8), False, (3, 1, 8)),
    ((2, 3, 4), (-1,), False, (24,)),
    # -2 copies all remaining dims
    ((2, 3, 4), (-2,), False, (2, 3, 4)),
    ((2, 3, 4), (2, -2), False, (2, 3, 4)),
    ((2, 3, 4), (-2, 1, 1), False, (2, 3, 4, 1, 1)),
    # -3 merges two consecutive dims
    ((2, 3, 4), (-3, 4), False, (6, 4)),
    ((2, 3, 4, 5), (-3, -3), False, (6, 20)),
    ((2, 3, 4), (0, -3), False, (2, 12)),
    ((2, 3, 4), (-3, -2), False, (6, 4)),
    # -4 splits one dim in two (one of them may be -1)
    ((2, 3, 4), (-4, 1, 2, -2), False, (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), False, (2, 1, 3, 4)),
    ((6, 4), (-4, 2, 3, 0), False, (2, 3, 4)),
    # reverse: special values are matched from the right
    ((10, 5, 4), (-1, 0), False, (40, 5)),
    ((10, 5, 4), (-1, 0), True, (50, 4)),
    ((10, 5, 4), (0, -1), True, (5, 40)),
    ((2, 3, 4, 5), (-1, 0, 0), False, (10, 3, 4)),
    ((2, 3, 4, 5), (-1, 0, 0), True, (6, 4, 5)),
    ((2, 3, 4), (0, -3), True, (2, 12)),
]


@pytest.mark.parametrize("src,spec,reverse,want", RESHAPES,
                         ids=[f"{s}->{c}{'-rev' if r else ''}" for s, c, r, _ in RESHAPES])
def test_mxnet_reshape_codes(src, spec, reverse, want):
    assert mxnet_reshape(src, spec, reverse) == want
    # the op's shape function and its kernel agree with the helper
    x = np.arange(np.prod(src), dtype=np.float32).reshape(src)
    out = run_checked("Reshape", x, shape=spec, reverse=reverse)
    assert out.shape == want
    np.testing.assert_array_equal(out.ravel(), x.ravel())  # row-major order is kept


@pytest.mark.parametrize("src,spec", [
    ((2, 3, 4), (5, -1)),        # 24 not divisible by 5
    ((2, 3, 4), (-1, -1)),       # two -1
    ((2, 3, 4), (7,)),           # wrong element count
    ((2, 3, 4), (-4, 5, -1, -2)),  # 2 cannot split into 5 x ?
    ((2, 3, 4), (-4, -1, -1, -2)),
    ((2, 3, 4), (-4, 1)),        # -4 needs two values after it
    ((2, 3, 4), (-5,)),          # no such code
    ((2, 3), (0, 0, 0)),         # 0 past the end of the input
    ((2, 3), (-3, -3)),          # -3 past the end of the input
])
def test_mxnet_reshape_rejects_bad_specs(src, spec):
    with pytest.raises(ShapeError) as info:
        mxnet_reshape(src, spec)
    assert isinstance(info.value, ValueError)
    assert str(spec) in str(info.value) or str(src) in str(info.value)


# --- reductions ----------------------------------------------------------------------------

REDUCERS = {"sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
            "nansum": np.nansum, "nanprod": np.nanprod}

# (attributes, the axes MXNet reduces (by hand), MXNet's output shape) for input (2, 3, 4)
REDUCE_CASES = [
    ({}, (0, 1, 2), (1,)),                       # everything -> (1,): MXNet 1.x has no 0-d
    ({"keepdims": True}, (0, 1, 2), (1, 1, 1)),
    ({"axis": 1}, (1,), (2, 4)),
    ({"axis": -1}, (2,), (2, 3)),
    ({"axis": (0, 2)}, (0, 2), (3,)),
    ({"axis": (2, 0), "keepdims": True}, (0, 2), (1, 3, 1)),
    ({"axis": (0, 1, 2)}, (0, 1, 2), (1,)),
    ({"axis": ()}, (0, 1, 2), (1,)),
    ({"axis": 1, "keepdims": True}, (1,), (2, 1, 4)),
    ({"axis": 1, "exclude": True}, (0, 2), (3,)),
    ({"axis": (0, 2), "exclude": True}, (1,), (2, 4)),
    ({"axis": (-3, -2), "exclude": True}, (2,), (2, 3)),
    ({"axis": 1, "exclude": True, "keepdims": True}, (0, 2), (1, 3, 1)),
]


@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("attrs,axes,want", REDUCE_CASES, ids=[str(c[0]) for c in REDUCE_CASES])
def test_reduction_shapes_and_values(name, attrs, axes, want):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32)
    out = run_checked(name, x, **attrs)
    assert out.shape == want
    expect = REDUCERS[name](x.astype(np.float64), axis=axes, keepdims=True).reshape(want)
    np.testing.assert_allclose(out, expect, rtol=1e-5)


def test_reduction_attributes_from_mxnet_json():
    # the per-sample mean every Gluon loss ends with: mean(axis=0, exclude=True) keeps the batch
    op = get_op("mean")
    attrs = op.parse_attrs({"axis": "0", "exclude": "True"})
    assert op.infer(attrs, [(8, 5)], ["float32"]) == ([(8,)], ["float32"])
    assert op.infer(attrs, [(8, 5, 3)], ["float64"]) == ([(8,)], ["float64"])
    attrs = get_op("sum").parse_attrs({"axis": "-1", "keepdims": "True"})
    assert get_op("sum").infer(attrs, [(8, 10)], ["float32"]) == ([(8, 1)], ["float32"])


def test_reduce_empty_axis_with_exclude_reduces_everything():
    x = np.ones((2, 3, 4), np.float32)
    out = run_checked("sum", x, axis=(), exclude=True)
    assert out.shape == (1,)
    assert out[0] == 24


@pytest.mark.parametrize("attrs", [{"axis": 3}, {"axis": -4}, {"axis": (1, 1)}, {"axis": (0, 5)}])
def test_reduction_rejects_bad_axes(attrs):
    op = get_op("sum")
    with pytest.raises(ShapeError, match="axis"):
        op.infer(op.parse_attrs(attrs), [(2, 3, 4)], ["float32"])


def test_norm_shapes():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert run_checked("norm", x).shape == (1,)
    assert run_checked("norm", x, keepdims=True).shape == (1, 1, 1)
    assert run_checked("norm", x, axis=-1).shape == (2, 3)
    assert run_checked("norm", x, axis=(0, 1), keepdims=True).shape == (1, 1, 4)
    np.testing.assert_allclose(run_checked("norm", x), [np.sqrt((x.astype(np.float64) ** 2).sum())],
                               rtol=1e-6)


def test_argmax_argmin_shapes_and_values():
    x = np.array([[1, 9, 3], [7, 2, 8]], np.float32)
    np.testing.assert_array_equal(run_checked("argmax", x, axis=1), [1, 2])
    np.testing.assert_array_equal(run_checked("argmin", x, axis=0), [0, 1, 0])
    out = run_checked("argmax", x, axis=-1, keepdims=True)
    assert out.shape == (2, 1) and out.dtype == np.float32  # MXNet returns indices as floats
    np.testing.assert_array_equal(run_checked("argmax", x), [1])  # flattened
    np.testing.assert_array_equal(run_checked("argmin", x), [0])


def test_argmax_global_keepdims_keeps_rank():
    x = np.array([[1, 9, 3], [7, 2, 8]], np.float32)
    assert run_checked("argmax", x, keepdims=True).shape == (1, 1)


# --- inferred shape/dtype == what the kernel returns -----------------------------------------

def _rand(shape, dtype="float32", seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(dtype)


def _index(shape, high, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.float32)


# (op, attrs, inputs); inputs are shapes (random positive floats) or ready arrays
TABLE = [
    ("_zeros", {"shape": (2, 3)}, []),
    ("_ones", {"shape": (4,), "dtype": "int32"}, []),
    ("_full", {"shape": (2, 2), "value": 3.5, "dtype": "float64"}, []),
    ("_eye", {"N": 3, "M": 4, "k": 1}, []),
    ("_eye", {"N": 2}, []),
    ("_arange", {"start": 2, "stop": 11, "step": 3, "repeat": 2, "dtype": "float64"}, []),
    ("_arange", {"start": 5}, []),
    ("_arange", {"start": 1, "stop": -2, "step": -0.5}, []),
    ("Activation", {"act_type": "softrelu"}, [(2, 3)]),
    ("Activation", {"act_type": "sigmoid"}, [(4,)]),
    ("LeakyReLU", {"act_type": "prelu"}, [(2, 3, 4), (3,)]),
    ("LeakyReLU", {"act_type": "prelu"}, [(5,), (1,)]),
    ("LeakyReLU", {"act_type": "gelu"}, [(2, 3)]),
    ("clip", {"a_min": 0.7, "a_max": 1.5}, [(2, 3)]),
    ("add_n", {}, [(2, 3), (2, 3), (2, 3)]),
    ("where", {}, [_index((2, 3), 2), (2, 3), (2, 3)]),
    ("where", {}, [_index((2,), 2), (2, 3), (2, 3)]),
    ("dot", {}, [(2, 3), (3, 4)]),
    ("dot", {}, [(3,), (3,)]),
    ("dot", {}, [(4,), (4, 5)]),
    ("dot", {}, [(2, 3, 4), (4, 5)]),
    ("dot", {"transpose_a": True}, [(3, 2), (3, 4)]),
    ("dot", {"transpose_b": True}, [(2, 3), (4, 3)]),
    ("batch_dot", {}, [(2, 3, 4), (2, 4, 5)]),
    ("batch_dot", {"transpose_a": True, "transpose_b": True}, [(2, 4, 3), (2, 5, 4)]),
    ("FullyConnected", {"num_hidden": 4}, [(2, 3, 2), (4, 6), (4,)]),
    ("FullyConnected", {"num_hidden": 4, "flatten": False}, [(2, 3, 2), (4, 2), (4,)]),
    ("FullyConnected", {"num_hidden": 2, "no_bias": True}, [(5,), (2, 1)]),
    ("FullyConnected", {"num_hidden": 3}, [(0, 4), (3, 4), (3,)]),
    ("sum", {"axis": (0, 2), "keepdims": True}, [(2, 3, 4)]),
    ("norm", {"axis": 1}, [(2, 3)]),
    ("norm", {"ord": 1, "axis": -1, "keepdims": True}, [(2, 3)]),
    ("argmax", {"axis": 1}, [(2, 3)]),
    ("argmin", {"axis": 0, "keepdims": True}, [(2, 3)]),
    ("softmax", {"axis": 0}, [(2, 3)]),
    ("softmax", {"dtype": "float64"}, [(2, 3)]),
    ("log_softmax", {"temperature": 2.0}, [(2, 3, 4)]),
    ("pick", {}, [(3, 4), _index((3,), 4)]),
    ("pick", {"axis": 0, "keepdims": True}, [(3, 4), _index((4,), 3)]),
    ("pick", {"axis": 1}, [(3, 4), _index((3, 1), 4)]),
    ("take", {}, [(3, 4), _index((2, 2), 5)]),
    ("take", {"axis": -1, "mode": "wrap"}, [(2, 3), np.array([-1, 4, 2], np.float32)]),
    ("one_hot", {"depth": 5}, [_index((2, 3), 5)]),
    ("one_hot", {"depth": 3, "dtype": "int32"}, [_index((4,), 3)]),
    ("CTCLoss", {}, [(5, 2, 4), np.array([[1, 2], [2, 0]], np.float32)]),
    ("CTCLoss", {"use_data_lengths": True, "use_label_lengths": True, "blank_label": "last"},
     [(5, 2, 4), np.array([[1, 2], [2, 0]], np.float32), np.array([5, 4], np.float32),
      np.array([2, 1], np.float32)]),
    ("_ctc_loss_lse", {"layout": "NTC"}, [(2, 5, 4), (2, 5), np.array([[1, 2], [2, 0]], np.float32)]),
    ("Reshape", {"shape": (-1, 0)}, [(2, 3, 4)]),
    ("Reshape", {"shape": (-4, 1, -1, -2)}, [(2, 3, 4)]),
    ("reshape_like", {}, [(2, 3), (3, 2)]),
    ("Flatten", {}, [(2, 3, 4)]),
    ("Flatten", {}, [(5,)]),
    ("expand_dims", {"axis": -1}, [(2, 3)]),
    ("expand_dims", {"axis": 0}, [(2, 3)]),
    ("SwapAxis", {"dim1": 0, "dim2": 2}, [(2, 3, 4)]),
    ("transpose", {}, [(2, 3, 4)]),
    ("transpose", {"axes": (1, 0, 2)}, [(2, 3, 4)]),
    ("broadcast_to", {"shape": (2, 0, 4)}, [(1, 3, 1)]),
    ("broadcast_like", {}, [(1, 3), (2, 3)]),
    ("broadcast_axis", {"axis": (0, 2), "size": (2, 4)}, [(1, 3, 1)]),
    ("squeeze", {}, [(1, 3, 1)]),
    ("squeeze", {"axis": 0}, [(1, 3, 1)]),
    ("squeeze", {}, [(1, 1)]),
    ("slice", {"begin": (0, 1), "end": (2, None)}, [(3, 4)]),
    ("slice", {"begin": (None,), "end": (None,), "step": (-2,)}, [(5, 3)]),
    ("_slice_assign", {"begin": (1, None), "end": (None, None), "step": (2, -2)}, [(5, 4), (2, 2)]),
    ("_slice_assign", {"begin": (3,), "end": (3,)}, [(5, 4), (0, 4)]),
    ("_slice_assign_scalar", {"begin": (None, 1), "end": (None, 3), "scalar": -2.5}, [(3, 4)]),
    ("slice_axis", {"axis": 1, "begin": 1, "end": None}, [(2, 4)]),
    ("slice_axis", {"axis": -1, "begin": -3, "end": -1}, [(2, 4)]),
    ("tile", {"reps": (2, 3)}, [(2, 3)]),
    ("tile", {"reps": (2, 1, 1)}, [(2, 3)]),
    ("Concat", {"dim": 0}, [(2, 3), (1, 3)]),
    ("Concat", {}, [(2, 3), (2, 1), (2, 2)]),
    ("stack", {"axis": 1}, [(2, 3), (2, 3)]),
    ("stack", {"axis": -1}, [(2, 3), (2, 3)]),
    ("Cast", {"dtype": "float64"}, [(2, 3)]),
    ("Cast", {"dtype": "int32"}, [(2, 3)]),
    ("broadcast_add", {}, [(2, 1, 4), (3, 1)]),
    ("where", {}, [_index((2, 3), 2), _rand((2, 3), "float64"), _rand((2, 3), "float64")]),
    ("_random_uniform", {"shape": (2, 3), "low": -1.0, "high": 2.0}, []),
    ("_random_uniform", {}, []),
    ("_random_normal", {"shape": (4,), "dtype": "float64"}, []),
    ("_random_exponential", {"shape": (2, 2), "lam": 3.0}, []),
    ("_random_gamma", {"shape": (3,), "alpha": 2.0, "dtype": "float16"}, []),
    ("_random_poisson", {"shape": (2, 1), "lam": 4.0}, []),
    ("_random_randint", {"shape": (5,), "low": -3, "high": 3}, []),
    ("_random_randint", {"shape": (2,), "low": 0, "high": 9, "dtype": "int64"}, []),
    ("_sample_uniform", {"shape": (2,)}, [(3,), (3,)]),
    ("_sample_normal", {}, [(2, 3), (2, 3)]),
    ("_sample_exponential", {"shape": (2, 2)}, [(3,)]),
    ("_sample_gamma", {"dtype": "float64"}, [(3,), (3,)]),
    ("_sample_poisson", {"shape": 4}, [(2,)]),
    ("_sample_multinomial", {"shape": (3,)}, [(2, 4)]),
    ("_sample_multinomial", {}, [(4,)]),
    ("_shuffle", {}, [(4, 2)]),
    ("Dropout", {"p": 0.3, "mode": "always"}, [(4, 2)]),
    ("Dropout", {"p": 0.3, "mode": "always", "axes": (0,)}, [(4, 2)]),
    ("Dropout", {}, [(3,)]),
    ("_random_uniform_like", {"low": 2.0, "high": 3.0}, [(2, 3)]),
    ("_random_normal_like", {}, [(4,)]),
    ("_random_exponential_like", {"lam": 2.0}, [(2, 2)]),
    ("_random_gamma_like", {"alpha": 2.0}, [(3,)]),
    ("_random_poisson_like", {"lam": 3.0}, [(3, 1)]),
    ("repeat", {"repeats": 2}, [(2, 3)]),
    ("repeat", {"repeats": 3, "axis": -1}, [(2, 3)]),
    ("repeat", {"repeats": 0, "axis": 0}, [(2, 3)]),
    ("SequenceMask", {}, [(3, 2, 4)]),
    ("SequenceMask", {"use_sequence_length": True, "value": -1.0},
     [(3, 2, 4), np.array([1, 3], np.float32)]),
    ("SequenceMask", {"use_sequence_length": True, "axis": 1},
     [(2, 3), np.array([0, 2], np.float32)]),
    ("SequenceLast", {}, [(3, 2, 4)]),
    ("SequenceLast", {"use_sequence_length": True, "axis": 1},
     [(2, 3, 4), np.array([1, 3], np.float32)]),
    ("L2Normalization", {}, [(2, 3, 4)]),
    ("L2Normalization", {"mode": "channel"}, [(2, 3)]),
    ("L2Normalization", {"mode": "spatial", "eps": 1e-3}, [(2, 3, 2, 2)]),
    ("shape_array", {}, [(2, 3, 4)]),
    ("size_array", {}, [(2, 3)]),
    ("_contrib_arange_like", {}, [(2, 3)]),
    ("_contrib_arange_like", {"start": 1.0, "step": 0.5, "repeat": 2, "axis": 1}, [(2, 5)]),
    ("MakeLoss", {"normalization": "valid", "grad_scale": 2.0}, [(2, 3)]),
    ("make_loss", {}, [(3,)]),
    ("sort", {}, [(2, 3)]),
    ("sort", {"axis": None, "is_ascend": False}, [(2, 3)]),
    ("argsort", {"axis": 0, "dtype": "int64"}, [(2, 3)]),
    ("argsort", {"axis": None}, [(2, 3)]),
    ("topk", {}, [(2, 3)]),
    ("topk", {"k": 2, "ret_typ": "value", "axis": 0}, [(3, 2)]),
    ("topk", {"k": 0, "ret_typ": "indices", "dtype": "int32"}, [(2, 3)]),
    ("topk", {"k": 2, "ret_typ": "mask", "axis": None}, [(2, 3)]),
    ("topk", {"k": 2, "ret_typ": "both", "dtype": "int32"}, [(2, 3)]),
    ("gather_nd", {}, [(3, 4), np.array([[0, 2], [1, -1]], np.float32)]),
    ("gather_nd", {}, [(3, 4, 2), np.array([[[0, 2]]], np.float32)]),
    ("BatchNorm", {}, [(2, 3, 2), (3,), (3,), (3,), (3,)]),
    ("BatchNorm", {"axis": -1, "output_mean_var": True}, [(2, 3), (3,), (3,), (3,), (3,)]),
    ("BatchNorm", {"axis": 0}, [(3,), (3,), (3,), (3,), (3,)]),
    ("_BatchNorm_train", {"fix_gamma": False}, [(4, 2), (2,), (2,), (2,), (2,)]),
    ("LayerNorm", {"axis": 1}, [(2, 3, 2), (3,), (3,)]),
    ("InstanceNorm", {}, [(2, 3, 2, 2), (3,), (3,)]),
    ("GroupNorm", {"num_groups": 3}, [(2, 6, 2), (3,), (3,)]),
    ("SliceChannel", {"num_outputs": 2}, [(3, 4)]),
    ("softmax_cross_entropy", {}, [(3, 4), np.array([0, 3, 1], np.float32)]),
    ("SliceChannel", {"num_outputs": 3, "axis": 0, "squeeze_axis": True}, [(3, 2)]),
    ("split", {"num_outputs": 1, "axis": -1}, [(2, 5)]),
]


def _inputs(spec, dtype="float32"):
    return [s if isinstance(s, np.ndarray) else _rand(s, dtype, seed=i) for i, s in enumerate(spec)]


@pytest.mark.parametrize("name,attrs,spec", TABLE, ids=[f"{n}-{i}" for i, (n, _, _) in
                                                          enumerate(TABLE)])
def test_inferred_shape_matches_kernel(name, attrs, spec):
    run_checked(name, *_inputs(spec), **attrs)


def _simple(kind):
    out = []
    for op in CANONICAL:
        if kind == "unary" and op.inputs == ("data",) and not op.attrs and op.dtype is None:
            out.append(op.name)
        elif kind == "scalar" and set(op.attrs) == {"scalar", "is_int"}:
            out.append(op.name)
        elif kind == "binary" and op.inputs == ("lhs", "rhs") and op.loose_attrs:
            out.append(op.name)
    return out


UNARY, SCALAR, BINARY = _simple("unary"), _simple("scalar"), _simple("binary")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_elementwise_ops_infer_what_their_kernels_return(dtype):
    x, y, row = _rand((2, 3), dtype, 1), _rand((2, 3), dtype, 2), _rand((1, 3), dtype, 3)
    for name in UNARY:
        assert run_checked(name, x).dtype == dtype
    for name in SCALAR:
        assert run_checked(name, x, scalar=2.0).dtype == dtype
    for name in BINARY:
        if name.startswith("broadcast_"):
            same = run_checked(name, x, y)
            assert run_checked(name, x, row).shape == (2, 3)
            assert run_checked(name, row, x[:, :1]).shape == (2, 3)
        else:
            same = run_checked(name, x, y)
        assert same.dtype == dtype


def test_every_canonical_op_has_a_consistency_case():
    covered = set(UNARY) | set(SCALAR) | set(BINARY) | {n for n, _, _ in TABLE}
    covered |= set(REDUCERS)
    missing = sorted(op.name for op in CANONICAL if op.name not in covered)
    assert missing == []


def test_broadcast_and_elemwise_kernels_agree_on_equal_shapes():
    x, y = _rand((2, 3), seed=1), _rand((2, 3), seed=2)
    for name in BINARY:
        if name.startswith("broadcast_"):
            continue
        twin = get_op(name.replace("elemwise_", "broadcast_") if name.startswith("elemwise_")
                      else "broadcast" + name)
        np.testing.assert_array_equal(run_checked(name, x, y), run_checked(twin.name, x, y))


def test_elemwise_rejects_different_shapes_broadcast_accepts_them():
    op = get_op("elemwise_add")
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(1, 3\)"):
        op.infer({}, [(2, 3), (1, 3)], ["float32", "float32"])
    with pytest.raises(ShapeError, match="cannot be broadcast"):
        get_op("broadcast_add").infer({}, [(2, 3), (4, 3)], ["float32", "float32"])


@pytest.mark.parametrize("name", ["Concat", "stack"])
def test_mixed_dtype_concat_is_rejected(name):
    """MXNet requires equal dtypes; minigluon says so instead of promoting silently."""
    with pytest.raises(DTypeError, match="same dtype"):
        getattr(mg.nd, name)(mg.nd.array(_rand((2, 3), "float32")),
                             mg.nd.array(_rand((2, 3), "float64"), dtype="float64"))


# --- pick ------------------------------------------------------------------------------------

DATA = np.arange(12, dtype=np.float32).reshape(3, 4)  # rows [0..3], [4..7], [8..11]


@pytest.mark.parametrize("mode,index,want", [
    ("clip", [0, 1, 3], [0, 5, 11]),
    ("clip", [0, 5, -1], [0, 7, 8]),       # above range -> last, below -> first
    ("clip", [100, -100, 2], [3, 4, 10]),
    ("wrap", [0, 5, -1], [0, 5, 11]),      # 5 % 4 == 1, -1 % 4 == 3
    ("wrap", [8, -5, 6], [0, 7, 10]),
    ("clip", [0.9, 2.7, 1.2], [0, 6, 9]),  # float labels are truncated, as MXNet casts
])
def test_pick_modes(mode, index, want):
    out = run_checked("pick", DATA, np.array(index, np.float32), mode=mode)
    np.testing.assert_array_equal(out, want)
    kept = run_checked("pick", DATA, np.array(index, np.float32), mode=mode, keepdims=True)
    assert kept.shape == (3, 1)
    np.testing.assert_array_equal(kept[:, 0], want)


def test_pick_along_axis_0():
    out = run_checked("pick", DATA, np.array([2, 0, 1, 9], np.float32), axis=0)
    np.testing.assert_array_equal(out, [8, 1, 6, 11])
    wrapped = run_checked("pick", DATA, np.array([2, 0, 1, 4], np.float32), axis=0, mode="wrap")
    np.testing.assert_array_equal(wrapped, [8, 1, 6, 7])  # 4 % 3 == 1


def test_pick_nan_index_poisons_only_its_row():
    for mode in ("clip", "wrap"):
        out = run_checked("pick", DATA, np.array([1, np.nan, 2], np.float32), mode=mode)
        assert out[0] == 1 and np.isnan(out[1]) and out[2] == 10


def test_pick_rejects_mismatched_index_shape():
    with pytest.raises(ShapeError, match="pick"):
        get_op("pick").infer(get_op("pick").full_attrs({}), [(3, 4), (2,)], ["float32"] * 2)


# --- one_hot ----------------------------------------------------------------------------------

def test_one_hot_out_of_range_and_nan_give_all_off_rows():
    out = run_checked("one_hot", np.array([0, 3, -1, 2, np.nan, 1.9], np.float32), depth=3)
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0],
                                        [0, 1, 0]])
    assert out.dtype == np.float32


def test_one_hot_values_dtype_and_shape():
    out = run_checked("one_hot", np.array([[1, 7], [0, 2]], np.float32), depth=3, on_value=5.0,
                      off_value=-1.0, dtype="int32")
    assert out.shape == (2, 2, 3) and out.dtype == np.int32
    np.testing.assert_array_equal(out, [[[-1, 5, -1], [-1, -1, -1]], [[5, -1, -1], [-1, -1, 5]]])


# --- softmax / log_softmax ----------------------------------------------------------------------

def _log_softmax64(x, axis):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


LOGITS = np.array([[1e4, 1e4 - 1, 1e4 - 5], [-1e4, 0.0, 1e4], [1e4, 1e4, 1e4],
                   [-1e4, -1e4 + 2, -1e4 + 1]], np.float32)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_family_is_stable_for_huge_logits(axis):
    ls = run_checked("log_softmax", LOGITS, axis=axis)
    sm = run_checked("softmax", LOGITS, axis=axis)
    assert ls.dtype == np.float32 and sm.dtype == np.float32
    assert np.all(np.isfinite(ls)) and np.all(np.isfinite(sm))
    ref = _log_softmax64(LOGITS, axis)
    np.testing.assert_allclose(ls, ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(sm, np.exp(ref), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sm.sum(axis=axis), 1.0, rtol=1e-6)


def test_softmax_known_values():
    sm = run_checked("softmax", LOGITS)
    np.testing.assert_allclose(sm[2], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(sm[1], [0, 0, 1], atol=1e-30)
    ls = run_checked("log_softmax", LOGITS)
    np.testing.assert_allclose(ls[1], [-2e4, -1e4, 0], rtol=1e-7)


def test_softmax_temperature_dtype_and_neg_inf():
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_allclose(run_checked("softmax", x, temperature=2.0),
                               np.exp(_log_softmax64(x / 2.0, -1)), rtol=1e-6)
    out = run_checked("softmax", x, dtype="float64")
    assert out.dtype == np.float64
    masked = run_checked("softmax", np.array([[-np.inf, 0.0, 0.0]], np.float32))
    np.testing.assert_array_equal(masked, [[0, 0.5, 0.5]])
    x64 = np.array([[1e300, -1e300, 0.0]])
    np.testing.assert_array_equal(run_checked("log_softmax", x64), [[0, -2e300, -1e300]])


def test_softmax_rejects_bad_axis():
    op = get_op("softmax")
    with pytest.raises(ShapeError, match="axis 2"):
        op.infer(op.parse_attrs({"axis": "2"}), [(2, 3)], ["float32"])


# --- norm -------------------------------------------------------------------------------------

def test_norm_does_not_overflow_float32():
    x = np.array([1e30, 1e30, -1e30], np.float32)  # squares overflow float32 (max ~3.4e38)
    out = run_checked("norm", x)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out, [np.sqrt(3) * 1e30], rtol=1e-6)
    rows = run_checked("norm", np.array([[3e30, 4e30], [0, 0], [-6e30, 8e30]], np.float32), axis=1)
    np.testing.assert_allclose(rows, [5e30, 0, 1e31], rtol=1e-6)


def test_norm_does_not_underflow_float32():
    rows = run_checked("norm", np.array([[3e-30, 4e-30], [1e-38, 0]], np.float32), axis=-1)
    np.testing.assert_allclose(rows, [5e-30, 1e-38], rtol=1e-5)


def test_norm_ord_1_and_zero_rows():
    x = np.array([[3.0, -4.0], [0.0, 0.0]], np.float32)
    np.testing.assert_array_equal(run_checked("norm", x, ord=1, axis=1), [7, 0])
    np.testing.assert_array_equal(run_checked("norm", x, axis=1), [5, 0])


def test_norm_out_dtype():
    out = run_checked("norm", np.array([3.0, 4.0], np.float32), out_dtype="float64")
    assert out.dtype == np.float64
