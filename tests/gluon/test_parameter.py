"""Parameter, Constant and ParameterDict: MXNet 1.9.1's signatures, argument checks and
messages (tests/fixtures/block-api/mxnet.json), sharing and bulk operations."""
import json
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg

nd = mg.nd
MX = json.loads((Path(__file__).parent.parent / "fixtures" / "block-api" / "mxnet.json")
                .read_text(encoding="utf-8"))


def _raises_as_mxnet(case, fn):
    kind, msg = MX[case]
    with pytest.raises(Exception) as e:
        fn()
    assert kind in [c.__name__ for c in type(e.value).__mro__]
    assert str(e.value) == msg


def test_argument_checks_raise_as_mxnets():
    _raises_as_mxnet("stype", lambda: mg.gluon.Parameter("w", stype="invalid"))
    _raises_as_mxnet("grad_stype", lambda: mg.gluon.Parameter("w", grad_stype="invalid"))
    _raises_as_mxnet("grad_req", lambda: mg.gluon.Parameter("w", grad_req="sometimes"))
    p = mg.gluon.Parameter("w", shape=(2,))
    with pytest.raises(AssertionError, match="grad_req must be one of"):
        p.grad_req = "always"


def test_sparse_storage_is_named_but_refused_at_initialize():
    p = mg.gluon.Parameter("w", shape=(2,), stype="row_sparse")
    assert p.stype == "row_sparse" and p.grad_stype == "default"
    with pytest.raises(mg.MXNetError, match="dense storage only"):
        p.initialize()


def test_signature_defaults_and_multipliers():
    p = mg.gluon.Parameter("w", shape=3)
    assert p.shape == (3,) and p.dtype == "float32" and p.grad_req == "write"
    assert (p.lr_mult, p.wd_mult, p.init) == (1.0, 1.0, None)
    q = mg.gluon.Parameter("b", grad_req="null", shape=(2,), dtype="float64", lr_mult=2.0,
                           wd_mult=0.0, init="ones", differentiable=True)
    q.initialize()
    assert q.data().dtype == np.float64 and (q.lr_mult, q.wd_mult) == (2.0, 0.0)
    with pytest.raises(RuntimeError, match="grad_req='null'"):
        q.grad()
    frozen = mg.gluon.Parameter("f", shape=(2,), differentiable=False)
    assert frozen.grad_req == "null"
    frozen.grad_req = "write"  # not differentiable: stays null, as MXNet
    assert frozen.grad_req == "null"


def test_grad_req_switches_the_gradient_buffer():
    p = mg.gluon.Parameter("w", shape=(2,))
    p.initialize(mg.init.One())
    assert p.list_grad()[0].shape == (2,) and p.list_data()[0] is p.data()
    p.grad_req = "null"
    with pytest.raises(RuntimeError):
        p.grad()
    p.grad_req = "add"
    with mg.autograd.record():
        y = (p.data() * 3).sum()
    y.backward()
    with mg.autograd.record():
        y = (p.data() * 3).sum()
    y.backward()
    np.testing.assert_array_equal(p.grad().asnumpy(), [6.0, 6.0])
    p.zero_grad()
    np.testing.assert_array_equal(p.grad().asnumpy(), [0.0, 0.0])


def test_parameter_dict_get_merges_unknown_dims_and_refuses_mismatches():
    pd = mg.gluon.ParameterDict("p_")
    w = pd.get("w", shape=(2, 0))
    _raises_as_mxnet("get_mismatch", lambda: pd.get("w", shape=(3, 4)))
    assert list(pd.get("w", shape=(0, 5)).shape) == MX["get_merged"]
    assert pd.get("w") is w and pd.get("w", dtype=np.float32) is w
    with pytest.raises(AssertionError, match="attribute 'dtype'"):
        pd.get("w", dtype="float64")
    assert pd.get("v", lr_mult=0.5).lr_mult == 0.5
    pd.get("v", init="zeros")  # an attribute not set before is set
    assert pd["p_v"].init == "zeros"


def test_constants():
    pd = mg.gluon.ParameterDict("p_")
    pd.get("w", shape=(2, 5))
    _raises_as_mxnet("const_missing", lambda: pd.get_constant("c"))
    c = pd.get_constant("c", [[1.0, 2.0]])
    assert isinstance(c, mg.gluon.Constant)
    assert repr(c) == MX["const_repr"] and c.grad_req == MX["const_grad_req"]
    assert repr(pd) == MX["pd_repr"]
    assert pd.get_constant("c") is c and pd.get_constant("c", [[1.0, 2.0]]) is c
    with pytest.raises(AssertionError, match="doesn't match new value"):
        pd.get_constant("c", [[1.0, 3.0]])
    with pytest.raises(AssertionError, match="is not a constant"):
        pd.get_constant("w", [1.0])
    with pytest.warns(UserWarning, match='does not support grad_req other than "null"'):
        c.grad_req = "write"
    assert c.grad_req == "null"


class WithConstant(mg.gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.params.get("w", shape=(2,), init=mg.init.One())
        self.c = self.params.get_constant("c", [10.0, 20.0])

    def hybrid_forward(self, F, x, w, c):
        return x * w + c


@pytest.mark.parametrize("hybridize", [False, True])
def test_a_constant_in_a_block_is_an_input_without_gradient(hybridize):
    block = WithConstant()
    block.initialize()
    block.hybridize(hybridize)
    x = nd.array([1.0, 2.0])
    with mg.autograd.record():
        y = block(x)
    y.backward()
    np.testing.assert_array_equal(y.asnumpy(), [11.0, 22.0])
    np.testing.assert_array_equal(block.w.grad().asnumpy(), [1.0, 2.0])
    with pytest.raises(RuntimeError):
        block.c.grad()


def test_update_setattr_and_sharing():
    a, b = mg.gluon.ParameterDict("a_"), mg.gluon.ParameterDict("a_")
    a.get("w", shape=(1,))
    b.get("w", shape=(1,))
    with pytest.raises(AssertionError, match="different Parameters with the same name 'a_w'"):
        a.update(b)
    shared = mg.gluon.ParameterDict("a_", shared=a)
    assert shared.get("w") is a["a_w"]
    a.setattr("lr_mult", 0.25)
    assert a["a_w"].lr_mult == 0.25
    a.setattr("grad_req", "null")
    assert a["a_w"].grad_req == "null"


def test_cast_var_and_shape_checks():
    p = mg.gluon.Parameter("w", shape=(2, 3))
    assert p.var().name == "w" and p.var().shape == (2, 3)
    p.initialize(mg.init.One())
    p.cast("float16")
    assert p.dtype == "float16" and p.data().dtype == np.float16 and p.grad().dtype == np.float16
    with pytest.raises(AssertionError, match=r"expected shape \(3, 3\) is incompatible"):
        p.set_data(nd.ones((3, 3)))
    p.set_data(np.full((2, 3), 4.0))
    np.testing.assert_array_equal(p.data().asnumpy(), np.full((2, 3), 4.0, np.float16))


def test_save_and_load_a_parameter_dict(tmp_path):
    pd = mg.gluon.ParameterDict("net_")
    pd.get("w", shape=(2,), init=mg.init.Constant(3.0))
    pd.initialize()
    pd.save(str(tmp_path / "p.params"), strip_prefix="net_")
    assert sorted(nd.load(str(tmp_path / "p.params"))) == ["w"]
    with pytest.raises(ValueError, match="Prefix 'x_' is to be striped before saving"):
        pd.save(str(tmp_path / "q.params"), strip_prefix="x_")
    other = mg.gluon.ParameterDict("net_")
    other.get("w", shape=(0,), allow_deferred_init=True)
    other.load(str(tmp_path / "p.params"), restore_prefix="net_")
    np.testing.assert_array_equal(other["net_w"].data().asnumpy(), [3.0, 3.0])
    with pytest.raises(AssertionError, match="restore_prefix is 'y_'"):
        other.load(str(tmp_path / "p.params"), restore_prefix="y_")


def test_a_parameter_without_a_shape_takes_the_loaded_arrays_shape_and_dtype():
    pd = mg.gluon.ParameterDict()
    pd.get("w")  # as SymbolBlock declares a graph's variable of unknown type
    pd.get("v", shape=(0, 2))
    pd.load_dict({"arg:w": nd.ones((2, 3), dtype="float64"), "arg:v": nd.ones((3, 2))})
    assert pd["w"].shape == (2, 3) and pd["w"].data().dtype == np.float64
    assert pd["v"].shape == (3, 2)
    with pytest.raises(AssertionError, match="shape incompatible expected"):
        pd.load_dict({"w": nd.ones((2, 4), dtype="float64"), "v": nd.ones((3, 2))})


def test_row_sparse_accessors_refuse_a_dense_parameter():
    p = mg.gluon.Parameter("w", shape=(2, 2))
    p.initialize()
    with pytest.raises(RuntimeError, match="storage type is default. Please use data"):
        p.row_sparse_data(nd.array([0, 1]))
    with pytest.raises(RuntimeError, match="list_row_sparse_data"):
        p.list_row_sparse_data(nd.array([0, 1]))


def test_loading_onto_a_gpu_context_is_refused(tmp_path):
    pd = mg.gluon.ParameterDict()
    pd.get("w", shape=(2,))
    with pytest.raises(mg.MXNetError, match="CPU only"):
        pd.load_dict({"w": nd.ones((2,))}, ctx=mg.gpu())
