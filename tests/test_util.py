"""The stand-ins for MXNet's NumPy mode and sparse storage: importable, and honest on use."""
import importlib

import pytest

import minigluon as mg
from minigluon import util
from minigluon.base import MXNetError, py_str


def test_numpy_mode_is_off_and_turning_it_on_is_refused():
    assert util.is_np_array() is False and util.is_np_shape() is False
    with pytest.raises(MXNetError, match="NumPy mode"):
        util.set_np()
    util.set_np(shape=False, array=False)  # asking for what already holds is fine
    util.reset_np()


def test_use_np_refuses_when_the_function_runs_not_when_it_is_decorated():
    @util.use_np
    def body():
        return 1
    assert body.__name__ == "body"
    with pytest.raises(MXNetError, match="legacy mx.nd"):
        body()


@pytest.mark.parametrize("module, name, words", [("minigluon.numpy", "zeros", "mx.np.zeros"),
                                                 ("minigluon.ndarray.sparse", "csr_matrix",
                                                  "row_sparse and csr")])
def test_unimplemented_namespaces_import_and_name_what_is_missing(module, name, words):
    mod = importlib.import_module(module)
    with pytest.raises(MXNetError, match=words):
        getattr(mod, name)
    with pytest.raises(AttributeError):  # introspection (copy, pickle, doctest) sees no magic
        mod.__wrapped__
    assert hasattr(mg.nd, "zeros")  # the real namespaces are untouched


def test_py_str_decodes_bytes_and_keeps_text():
    assert py_str(b"caf\xc3\xa9") == "café" and py_str("x") == "x"


def test_np_shape_is_a_scoped_switch_and_parameters_report_unknown_dims_as_minus_one():
    p = mg.gluon.Parameter("w", shape=(16, 0), allow_deferred_init=True)
    assert p.shape == (16, 0) and not mg.is_np_shape()
    with mg.np_shape(True):
        assert mg.is_np_shape() and p.shape == (16, -1)  # MXNet's unknown marker in that mode
        with mg.np_shape(False):
            assert p.shape == (16, 0)
    assert not mg.is_np_shape()

    @mg.use_np_shape
    def inside():
        return mg.is_np_shape()
    assert inside() and not mg.is_np_shape()
    util.set_np(shape=True, array=False)
    try:
        assert mg.is_np_shape()
    finally:
        util.reset_np()
    assert not mg.is_np_shape()


def test_a_deferred_dense_initializes_inside_np_shape():
    net = mg.gluon.nn.Dense(16)
    with mg.np_shape(True):
        net.initialize()
        out = net(mg.nd.zeros((2, 20)))
        assert out.shape == (2, 16) and net.weight.shape == (16, 20)


def test_save_writes_v3_records_with_real_scalars_inside_np_shape(tmp_path):
    import struct
    scalar = mg.nd.array(2.0).reshape(())
    legacy, numpy_shape = tmp_path / "v2.params", tmp_path / "v3.params"
    mg.nd.save(str(legacy), {"s": scalar})
    with mg.np_shape(True):
        mg.nd.save(str(numpy_shape), {"s": scalar})
    # after the 3 u64 header words and the count: u32 magic, i32 stype, i32 ndim
    magic2, _, ndim2 = struct.unpack_from("<IiI", legacy.read_bytes(), 24)
    magic3, _, ndim3 = struct.unpack_from("<IiI", numpy_shape.read_bytes(), 24)
    assert (magic2, ndim2) == (0xF993FAC9, 1) and (magic3, ndim3) == (0xF993FACA, 0)
    assert mg.nd.load(str(numpy_shape))["s"].shape == ()
    assert mg.nd.load(str(legacy))["s"].shape == (1,)
