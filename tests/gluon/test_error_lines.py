"""Shape, dtype and attribute errors raised inside hybrid_forward name the user's line (file,
number and source), eagerly, compiled and interpreted, and keep the original as __cause__."""
import inspect

import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd
from minigluon.base import MXNetError, ShapeError
from tests.modes import MODES, make_block

nd, sym = mg.nd, mg.sym
HERE = __file__


def line_of(fn, text: str) -> int:
    """The line number of the first source line of fn containing text."""
    lines, start = inspect.getsourcelines(fn)
    return start + next(k for k, line in enumerate(lines) if text in line)



class BadShape(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, w):
        y = F.relu(x)
        return F.dot(y, w)  # (2, 3) . (4, 5)


class BadDtype(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, w):
        return x.astype("complex64") + w


class BadAttribute(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x, w):
        return F.relu(x, axis=1) + w


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls,text,error", [
    (BadShape, "return F.dot(y, w)", ShapeError),
    (BadDtype, 'return x.astype("complex64") + w', ValueError),
    (BadAttribute, "return F.relu(x, axis=1) + w", MXNetError)])
def test_an_error_in_hybrid_forward_names_its_line(cls, text, error, mode, monkeypatch):
    block = make_block(cls, mode, monkeypatch)
    with pytest.raises(error) as info:
        block(nd.ones((2, 3)), nd.ones((4, 5)))
    where = f"{HERE}:{line_of(cls.hybrid_forward, text)}: `{text}`"
    assert str(info.value).startswith(f"{cls.__name__}.hybrid_forward at {where}: ")
    cause = info.value.__cause__
    assert type(cause) is type(info.value) and str(cause) in str(info.value)


class Inner(mg.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.reshape(x, (7,))


class Outer(mg.gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        self.inner = Inner()

    def hybrid_forward(self, F, x):
        return self.inner(x) * 2


@pytest.mark.parametrize("mode", MODES)
def test_a_nested_block_names_the_innermost_users_line_once(mode, monkeypatch):
    block = make_block(Outer, mode, monkeypatch)
    with pytest.raises(ValueError) as info:
        block(nd.ones((2, 3)))
    msg = str(info.value)
    where = f"{HERE}:{line_of(Inner.hybrid_forward, 'F.reshape')}"
    assert msg.startswith(f"Inner.hybrid_forward at {where}: `return F.reshape(x, (7,))`: ")
    assert msg.count("hybrid_forward at") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_builtin_block_names_the_line_that_called_it(mode, monkeypatch):
    loss = make_block(mg.gluon.loss.L2Loss, mode, monkeypatch)
    with pytest.raises(ValueError) as info:
        loss(nd.ones((8, 5)), nd.ones((8, 6)))  # the call
    where = f"{HERE}:{line_of(test_a_builtin_block_names_the_line_that_called_it, '# the call')}"
    assert str(info.value).startswith("L2Loss: ")
    assert f"(called at {where}: `loss(nd.ones((8, 5)), nd.ones((8, 6)))`)" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("hybridize", [False, True])
def test_an_imported_graphs_errors_keep_their_cause(hybridize):
    x = sym.var("x")
    block = mg.gluon.SymbolBlock(sym.dot(x, x), x)
    block.hybridize(hybridize)
    with pytest.raises(ValueError) as info:
        block(nd.ones((2, 3)))
    assert "node " in str(info.value) and "(dot)" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert isinstance(info.value.__cause__.__cause__, ValueError)  # the op's own error


def test_an_error_when_a_compiled_graph_runs_keeps_its_cause():
    loss = mg.gluon.loss.CTCLoss()
    loss.hybridize()
    label = np.array([[1, 9]], np.float32)  # 9 is past the alphabet of 4
    with autograd.pause():
        with pytest.raises(ValueError) as info:
            loss(nd.ones((1, 5, 4)), nd.array(label))  # the call
    line = line_of(test_an_error_when_a_compiled_graph_runs_keeps_its_cause, "# the call")
    assert f"(called at {HERE}:{line}: " in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("mode", MODES)
def test_python_attribute_errors_name_the_line_too(mode, monkeypatch):
    class Typo(mg.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.rleu(x)

    block = make_block(Typo, mode, monkeypatch)
    with pytest.raises(AttributeError, match=r"Typo.hybrid_forward at .*: `return F.rleu\(x\)`: "
                                             r"module 'minigluon.\w+' has no attribute 'rleu'"):
        block(nd.ones((2,)))
