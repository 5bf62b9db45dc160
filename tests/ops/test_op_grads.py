"""Every registry op's gradient against central differences, eagerly (tape) and traced
(``symbolic_grad``, compiled), and a check that no op is left without one."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import CompileError
from minigluon.compiler.pipeline import compile_graph
from minigluon.ops.registry import REQUIRED, canonical_ops

nd, sym = mg.nd, mg.sym
RNG = np.random.default_rng(7)


def _u(shape, lo=0.5, hi=1.5):
    return RNG.uniform(lo, hi, shape)


def _lse(x):
    """x's log-sum-exp over the last axis (what the compiler's ctc pass computes)."""
    m = x.max(axis=-1)
    return m + np.log(np.exp(x - m[..., None]).sum(axis=-1))


_CTC_X = np.random.default_rng(11).uniform(-1, 1, (5, 2, 4))  # RNG's sequence stays as it was
# op name -> (list of inputs, attrs); generated below for the regular families
CASES: dict[str, tuple[list, dict]] = {
    "Activation": ([_u((3, 4), -1, 1)], {"act_type": "softrelu"}),
    "clip": ([_u((3, 4), -1, 1)], {"a_min": -0.5, "a_max": 0.45}),
    "add_n": ([_u((3, 4)), _u((3, 4)), _u((3, 4))], {}),
    "where": ([np.array([[1.0, 0, 1, 0]] * 3), _u((3, 4)), _u((3, 4))], {}),
    "dot": ([_u((3, 4)), _u((4, 2))], {}),
    "dot/ta": ([_u((4, 3)), _u((4, 2))], {"transpose_a": True}),
    "dot/tb": ([_u((3, 4)), _u((2, 4))], {"transpose_b": True}),
    "dot/nd": ([_u((2, 3, 4)), _u((4, 5))], {}),
    "dot/vec": ([_u((4,)), _u((4,))], {}),
    "batch_dot": ([_u((2, 3, 4)), _u((2, 4, 5))], {}),
    "batch_dot/ta": ([_u((2, 4, 3)), _u((2, 4, 5))], {"transpose_a": True}),
    "batch_dot/tb": ([_u((2, 3, 4)), _u((2, 5, 4))], {"transpose_b": True}),
    "batch_dot/tab": ([_u((2, 4, 3)), _u((2, 5, 4))], {"transpose_a": True, "transpose_b": True}),
    "sum": ([_u((3, 4, 2))], {"axis": (0, 2)}),
    "mean": ([_u((3, 4))], {"axis": 1, "keepdims": True}),
    "prod": ([_u((3, 4))], {"axis": 0}),
    "nansum": ([np.where(np.eye(3, 4) > 0, np.nan, _u((3, 4)))], {"axis": 1}),
    "nanprod": ([np.where(np.eye(3, 4) > 0, np.nan, _u((3, 4)))], {"axis": 1}),
    "max": ([_u((3, 4))], {"axis": 1}),
    "min": ([_u((3, 4))], {"axis": 0, "keepdims": True}),
    "norm": ([_u((3, 4))], {"axis": 1, "ord": 2}),
    "argmax": ([_u((3, 4))], {"axis": 1}),
    "argmin": ([_u((3, 4))], {"axis": 0}),
    "log_softmax": ([_u((3, 4), -2, 2)], {"axis": -1}),
    "softmax": ([_u((3, 4), -2, 2)], {"axis": 0, "temperature": 2.0}),
    "pick": ([_u((3, 4)), np.array([0.0, 3, 1])], {"axis": 1}),
    "one_hot": ([np.array([0.0, 3, 1])], {"depth": 4}),
    # repeated, clipped and wrapped indices: their gradients add up in one row
    "take": ([_u((3, 4, 2)), np.array([[0.0, 2.7], [-1, 5]])], {"axis": 1}),
    "take/wrap": ([_u((3, 4)), np.array([1.0, -1, 7, 3])], {"axis": 0, "mode": "wrap"}),
    "CTCLoss": ([_u((5, 2, 4), -1, 1), np.array([[1.0, 2], [3, 0]])], {}),
    # the compiler's form of CTCLoss: data, its log-sum-exp over the classes, label
    "_ctc_loss_lse": ([_CTC_X, _lse(_CTC_X), np.array([[1.0, 2], [3, 0]])], {}),
    "_ctc_loss_lse/ntc": ([_CTC_X.swapaxes(0, 1).copy(), _lse(_CTC_X.swapaxes(0, 1)),
                           np.array([[1.0, 2], [3, 0]])], {"layout": "NTC"}),
    "Reshape": ([_u((3, 4))], {"shape": (2, -1)}),
    "reshape_like": ([_u((3, 4)), _u((6, 2))], {}),
    "Flatten": ([_u((2, 3, 2))], {}),
    "expand_dims": ([_u((3, 4))], {"axis": 1}),
    "SwapAxis": ([_u((2, 3, 4))], {"dim1": 0, "dim2": 2}),
    "transpose": ([_u((2, 3, 4))], {"axes": (1, 2, 0)}),
    "broadcast_to": ([_u((3, 1))], {"shape": (3, 4)}),
    "broadcast_like": ([_u((1, 4)), _u((3, 4))], {}),
    "broadcast_axis": ([_u((3, 1))], {"axis": 1, "size": 4}),
    "squeeze": ([_u((3, 1, 4))], {"axis": 1}),
    "slice": ([_u((5, 6))], {"begin": (1, None), "end": (4, None), "step": (2, -2)}),
    "slice/neg": ([_u((5, 6))], {"begin": (-1, 0), "end": (None, 3), "step": (-1, 1)}),
    "_slice_assign": ([_u((4, 6)), _u((2, 2))], {"begin": (1, None), "end": (None, None),
                                                 "step": (2, 3)}),
    "_slice_assign_scalar": ([_u((4, 6))], {"begin": (None, 1), "end": (None, 4), "scalar": 2.0}),
    "slice_axis": ([_u((3, 5))], {"axis": 1, "begin": 1, "end": -1}),
    "tile": ([_u((2, 3))], {"reps": (2, 1, 2)}),
    "Concat": ([_u((3, 2)), _u((3, 1)), _u((3, 3))], {"dim": 1}),
    "stack": ([_u((3, 2)), _u((3, 2))], {"axis": 1}),
    "Cast": ([_u((3, 4))], {"dtype": "float64"}),
    "expand_dims/neg": ([_u((3, 4))], {"axis": -1}),
    "arccosh": ([_u((3, 4), 1.2, 3)], {}),  # defined from 1 on
    "gammaln": ([np.array([[0.3, 1.5, 4.0, 12.5], [-0.4, -2.6, 25.0, 0.9]])], {}),
    # both branches: |x| beyond and within 1 / scalar^2 = 0.44
    "smooth_l1/both": ([np.array([[-2.0, -0.3, 0.1, 0.7], [1.5, -0.6, 0.35, -0.05]])],
                       {"scalar": 1.5}),
}
_FC = np.random.default_rng(13)  # a generator of its own: RNG's sequence stays as it was
CASES.update({
    "FullyConnected": ([_FC.uniform(-1, 1, s) for s in ((2, 3, 2), (4, 6), (4,))],
                       {"num_hidden": 4}),
    "FullyConnected/last_axis": ([_FC.uniform(-1, 1, s) for s in ((2, 3, 2), (4, 2), (4,))],
                                 {"num_hidden": 4, "flatten": False}),
    "FullyConnected/no_bias": ([_FC.uniform(-1, 1, s) for s in ((3, 5), (2, 5))],
                               {"num_hidden": 2, "no_bias": True}),
    "FullyConnected/1d": ([_FC.uniform(-1, 1, s) for s in ((3,), (2, 1), (2,))],
                          {"num_hidden": 2}),
})
# inputs that are not differentiable (labels, conditions, lengths)
NO_GRAD_INPUTS = {"where": {0}, "pick": {1}, "take": {1}, "CTCLoss": {1}, "_ctc_loss_lse": {1, 2},
                  "reshape_like": {1},
                  "broadcast_like": {1}}
# ops with nothing to differentiate: constants, no inputs (random draws among them)
CONSTANTS = {"_zeros", "_ones", "_full", "_eye", "_arange"} | {
    op.name for op in canonical_ops() if "random" in op.traits and not op.inputs}
# MXNet's _shuffle has no gradient either: backward through it raises (tests/test_random.py)
NO_GRADIENT = {"_shuffle"}
# piecewise-constant or stopped ops: their gradient is zero (as MXNet's), not what
# central differences say at every point (BlockGrad is the identity going forward)
ZERO_GRAD = {"BlockGrad", "sign", "floor", "ceil", "round", "trunc", "logical_not",
             "zeros_like", "ones_like", "argmax", "argmin", "one_hot",
             # random draws: MXNet passes no gradient to a distribution's parameters
             "_sample_uniform", "_sample_normal", "_sample_exponential", "_sample_gamma",
             "_sample_poisson", "_sample_multinomial", "_random_uniform_like",
             "_random_normal_like", "_random_exponential_like", "_random_gamma_like",
             "_random_poisson_like"}

CASES.update({
    "_sample_uniform": ([_u((2, 3)), _u((2, 3), 2, 3)], {"shape": (2,)}),
    "_sample_normal": ([_u((2, 3)), _u((2, 3))], {}),
    "_sample_exponential": ([_u((2, 3))], {"shape": 2}),
    "_sample_gamma": ([_u((2, 3)), _u((2, 3))], {}),
    "_sample_poisson": ([_u((2, 3))], {}),
    "_sample_multinomial": ([_u((2, 3))], {"shape": (2,)}),
    # p = 0: deterministic, so central differences apply (drawn masks: tests/test_random.py)
    "Dropout": ([_u((3, 4))], {"p": 0.0}),
    "LeakyReLU": ([_u((3, 4), -1, 1)], {"slope": 0.3}),
    "LeakyReLU/elu": ([_u((3, 4), -1, 1)], {"act_type": "elu", "slope": 0.7}),
    "LeakyReLU/selu": ([_u((3, 4), -1, 1)], {"act_type": "selu"}),
    "LeakyReLU/gelu": ([_u((3, 4), -2, 2)], {"act_type": "gelu"}),
    "LeakyReLU/prelu": ([_u((2, 3, 2), -1, 1), _u((3,), 0.1, 0.4)], {"act_type": "prelu"}),
    "LeakyReLU/prelu_shared": ([_u((2, 3), -1, 1), _u((1,), 0.1, 0.4)], {"act_type": "prelu"}),
})
_SEQ = np.random.default_rng(17)  # a generator of its own: RNG's sequence stays as it was
CASES.update({
    "repeat": ([_SEQ.uniform(-1, 1, (2, 3))], {"repeats": 2}),
    "repeat/axis": ([_SEQ.uniform(-1, 1, (2, 3, 2))], {"repeats": 3, "axis": -2}),
    "SequenceMask": ([_SEQ.uniform(-1, 1, (3, 2, 2)), np.array([1.0, 3.0])],
                     {"use_sequence_length": True, "value": -2.0}),
    "SequenceMask/batch_first": ([_SEQ.uniform(-1, 1, (2, 4)), np.array([2.0, 0.0])],
                                 {"use_sequence_length": True, "axis": 1}),
    "SequenceMask/off": ([_SEQ.uniform(-1, 1, (3, 2))], {}),
    "SequenceLast": ([_SEQ.uniform(-1, 1, (3, 2, 2)), np.array([1.0, 3.0])],
                     {"use_sequence_length": True}),
    "SequenceLast/batch_first": ([_SEQ.uniform(-1, 1, (2, 4))], {"axis": 1}),
    "L2Normalization": ([_SEQ.uniform(-1, 1, (2, 3, 2))], {}),
    "L2Normalization/channel": ([_SEQ.uniform(-1, 1, (2, 3, 2))], {"mode": "channel"}),
    "L2Normalization/spatial": ([_SEQ.uniform(-1, 1, (2, 2, 3))],
                                {"mode": "spatial", "eps": 1e-3}),
    "shape_array": ([_SEQ.uniform(-1, 1, (2, 3))], {}),
    "size_array": ([_SEQ.uniform(-1, 1, (2, 3))], {}),
    "_contrib_arange_like": ([_SEQ.uniform(-1, 1, (2, 3))], {"start": 1.0, "axis": 1}),
    "MakeLoss": ([_SEQ.uniform(-1, 1, (2, 3))], {"grad_scale": 3.0}),
    "MakeLoss/batch": ([_SEQ.uniform(-1, 1, (4, 3))], {"normalization": "batch"}),
    "MakeLoss/valid": ([_SEQ.uniform(-1, 1, (2, 3))], {"normalization": "valid",
                                                       "valid_thresh": 0.1}),
    "MakeLoss/none_valid": ([_SEQ.uniform(-1, 0, (2, 3))], {"normalization": "valid"}),
    "make_loss": ([_SEQ.uniform(-1, 1, (2, 3))], {}),
    "sort": ([_SEQ.uniform(-1, 1, (2, 3, 2))], {"axis": 1, "is_ascend": False}),
    "sort/flat": ([_SEQ.uniform(-1, 1, (2, 3))], {"axis": None}),
    "argsort": ([_SEQ.uniform(-1, 1, (2, 3))], {}),
    "topk": ([_SEQ.uniform(-1, 1, (3, 4))], {"k": 2, "ret_typ": "value", "axis": 0}),
    "topk/flat": ([_SEQ.uniform(-1, 1, (2, 3))], {"k": 3, "ret_typ": "value", "axis": None,
                                                  "is_ascend": True}),
    "topk/both": ([_SEQ.uniform(-1, 1, (3, 4))], {"k": 2, "ret_typ": "both", "dtype": "float64"}),
    "topk/mask": ([_SEQ.uniform(-1, 1, (2, 3))], {"k": 2, "ret_typ": "mask"}),
    # repeated and negative rows: their gradients add up in one element
    "gather_nd": ([_SEQ.uniform(-1, 1, (3, 4, 2)), np.array([[0.0, 2, -1, 2], [1, 3, 0, 3]])], {}),
    "gather_nd/all_axes": ([_SEQ.uniform(-1, 1, (3, 2)), np.array([[1.0, 0], [1, -2]])], {}),
    # wrapped (5, -1) and truncated (0.7) labels
    "softmax_cross_entropy": ([_SEQ.uniform(-1, 1, (4, 3)), np.array([2.0, 5, -1, 0.7])], {}),
    "SliceChannel": ([_SEQ.uniform(-1, 1, (2, 6))], {"num_outputs": 3}),
    "SliceChannel/squeeze": ([_SEQ.uniform(-1, 1, (2, 3, 2))],
                             {"num_outputs": 2, "axis": -1, "squeeze_axis": True}),
    "SliceChannel/one": ([_SEQ.uniform(-1, 1, (2, 3))], {"num_outputs": 1, "axis": 0}),
})
NO_GRAD_INPUTS.update({"SequenceMask": {1}, "SequenceLast": {1}, "gather_nd": {1},
                       "softmax_cross_entropy": {1}})
_NORM = np.random.default_rng(19)  # a generator of its own: RNG's sequence stays as it was


def _bn_inputs(shape, c):
    return [_NORM.uniform(-1, 1, shape), _NORM.uniform(0.5, 1.5, c), _NORM.uniform(-1, 1, c),
            _NORM.uniform(-1, 1, c), _NORM.uniform(0.5, 1.5, c)]


CASES.update({
    # BatchNorm itself is the moving-statistics form (under record() it would run as
    # _BatchNorm_train, the batch-statistics form, unless use_global_stats)
    "BatchNorm": (_bn_inputs((2, 3, 2), 3), {"use_global_stats": True, "fix_gamma": False}),
    "BatchNorm/fix_gamma": (_bn_inputs((3, 2), 2), {"use_global_stats": True, "axis": -1}),
    "_BatchNorm_train": (_bn_inputs((3, 2, 2), 2), {"fix_gamma": False}),
    "_BatchNorm_train/fix_gamma_axis": (_bn_inputs((2, 2, 3), 3), {"axis": 2}),
    "LayerNorm": ([_NORM.uniform(-1, 1, (2, 3)), _NORM.uniform(0.5, 1.5, 3),
                   _NORM.uniform(-1, 1, 3)], {}),
    "LayerNorm/axis0": ([_NORM.uniform(-1, 1, (3, 2)), _NORM.uniform(0.5, 1.5, 3),
                         _NORM.uniform(-1, 1, 3)], {"axis": 0, "eps": 1e-3}),
    "InstanceNorm": ([_NORM.uniform(-1, 1, (2, 2, 3)), _NORM.uniform(0.5, 1.5, 2),
                      _NORM.uniform(-1, 1, 2)], {}),
    "GroupNorm": ([_NORM.uniform(-1, 1, (2, 4, 2)), _NORM.uniform(0.5, 1.5, 2),
                   _NORM.uniform(-1, 1, 2)], {"num_groups": 2}),
})
NO_GRAD_INPUTS.update({"BatchNorm": {3, 4}, "_BatchNorm_train": {3, 4}})
ZERO_GRAD |= {"shape_array", "size_array", "_contrib_arange_like"}


def _make_loss_grad(arrays, attrs):
    """MXNet's MakeLoss ignores the head gradient: grad_scale, over the batch size or the
    count of elements above valid_thresh (at least one)."""
    x = arrays[0]
    g = np.full_like(x, attrs.get("grad_scale", 1.0))
    norm = attrs.get("normalization", "null")
    if norm == "batch":
        g /= x.shape[0]
    elif norm == "valid":
        g /= max(int((x > attrs.get("valid_thresh", 0.0)).sum()), 1)
    return g


# ops whose gradient is not the head's chain rule (MXNet's definition): the rule instead
HEAD_FREE = {"MakeLoss": _make_loss_grad, "make_loss": lambda arrays, attrs: np.ones_like(arrays[0])}

for op in canonical_ops():
    if op.name in CASES or op.name in CONSTANTS | NO_GRADIENT:
        continue
    req = [k for k, a in op.attrs.items() if a.default is REQUIRED]
    if op.inputs == ("data",) and req == ["scalar"]:
        lo, hi = (0.4, 0.6) if op.name == "_rmod_scalar" else (0.2, 0.4)
        CASES[op.name] = ([_u((3, 4), lo, hi)], {"scalar": 0.7})
    elif op.inputs == ("data",) and not req:
        lo, hi = (0.2, 0.4) if op.name not in ("tanh", "sigmoid", "softsign") else (-1, 1)
        CASES[op.name] = ([_u((3, 4), lo, hi)], {})
    elif op.inputs == ("lhs", "rhs") and not req:
        rhs = (1, 4) if op.name.startswith("broadcast_") else (3, 4)
        lo, hi = (2.0, 3.0) if op.name.endswith("mod") else (0.5, 1.5)
        CASES[op.name] = ([_u((3, 4)), _u(rhs, lo, hi)], {})


def _call(F, name, inputs, attrs):
    fn = getattr(F._internal, name) if name.startswith("_") else getattr(F, name)
    return fn(*inputs, **attrs)


def _listed(out):
    """An op's visible outputs as a list (split and topk 'both' give several)."""
    return out if isinstance(out, list) else [out]


def _numeric(name, arrays, attrs, k, w, eps=1e-6):
    x = arrays[k]
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        vals = []
        for d in (eps, -eps):
            moved = [a.copy() for a in arrays]
            moved[k][i] += d
            outs = _listed(_call(nd, name, [nd.array(a, dtype="float64") for a in moved], attrs))
            vals.append(sum(float((o.asnumpy() * wo).sum()) for o, wo in zip(outs, w)))
        g[i] = (vals[0] - vals[1]) / (2 * eps)
    return g


IDS = sorted(CASES)
# no compiled form yet: checked eagerly, and the compiler must refuse it plainly; drop a case
# from here when its lowering lands
NOT_COMPILED: set[str] = set()
# MXNet's backward is not the derivative of its forward (selu: lambda * (y + alpha) where
# x <= 0); minigluon keeps MXNet's numbers (tests/ops/test_leaky_relu.py checks them against
# MXNet's), so here the compiled gradient must equal the eager one
NOT_DERIVATIVE = {"LeakyReLU/selu"}


@pytest.mark.parametrize("case", IDS)
def test_gradient_matches_central_differences_eager_and_compiled(case):
    name = case.split("/")[0]
    arrays, attrs = CASES[case]
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    diff = [k for k in range(len(arrays)) if k not in NO_GRAD_INPUTS.get(name, set())]
    xs = [nd.array(a, dtype="float64") for a in arrays]
    for k in diff:
        xs[k].attach_grad()
    with autograd.record():
        outs = _listed(_call(nd, name, xs, attrs))
    w = [RNG.uniform(-1, 1, o.shape) for o in outs]
    autograd.backward(outs, [nd.array(wo, dtype="float64") for wo in w])
    expected = {k: (np.zeros_like(arrays[k]) if name in ZERO_GRAD
                    else HEAD_FREE[name](arrays, attrs) if name in HEAD_FREE
                    else _numeric(name, arrays, attrs, k, w)) for k in diff}
    if case in NOT_DERIVATIVE:
        expected = {k: xs[k].grad.asnumpy() for k in diff}
    for k in diff:
        np.testing.assert_allclose(xs[k].grad.asnumpy(), expected[k], rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case}: eager gradient of input {k}")

    # the same gradient traced with F = sym and compiled
    vs = [sym.var(f"x{k}", shape=a.shape, dtype="float64") for k, a in enumerate(arrays)]
    y = _call(sym, name, vs, attrs)
    ys = list(y) if len(y.list_outputs()) > 1 else [y]
    heads = [sym.var(f"head{i}", shape=o.shape, dtype="float64") for i, o in enumerate(ys)]
    grads = autograd.symbolic_grad(ys, [vs[k] for k in diff], heads)
    grads = [sym.zeros_like(vs[k]) if g is None else g for k, g in zip(diff, grads)]
    graph = sym.Group(grads)
    names = [n for n in [f"x{k}" for k in range(len(arrays))] + [f"head{i}" for i in range(len(ys))]
             if n in graph.list_arguments()]
    feed = {f"x{k}": a for k, a in enumerate(arrays)} | {f"head{i}": wo for i, wo in enumerate(w)}
    if case in NOT_COMPILED:
        with pytest.raises(CompileError, match="no compiled form"):
            compile_graph(graph, names)
        return
    exe = compile_graph(graph, names)
    for k, got in zip(diff, exe.run([feed[n] for n in names])):
        np.testing.assert_allclose(got, expected[k], rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case}: compiled gradient of input {k}")


def test_every_op_with_inputs_has_a_gradient_and_a_case():
    for op in canonical_ops():
        if op.name in CONSTANTS | NO_GRADIENT:
            continue
        assert op.grad is not None, f"{op.name} has no gradient"
        assert op.name in {c.split("/")[0] for c in CASES}, f"{op.name} has no gradient test"


def test_slice_gradient_is_compiled_not_interpreted():
    x = sym.var("x", shape=(6, 8))
    y = sym.slice(x, begin=(1, None), end=(None, None), step=(2, -3))
    head = sym.var("head", shape=y.shape)
    g, = autograd.symbolic_grad([y], [x], [head])
    assert not compile_graph(g, g.list_arguments()).interpreted
