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
