"""mg.test_utils: MXNet's tolerances and messages, checked against numpy."""
import os

import numpy as np
import pytest

from minigluon import nd
from minigluon import test_utils as tu


def test_tolerances_follow_the_looser_dtype():
    x = np.float32(1.0)
    tu.assert_almost_equal(nd.array([1.0]), nd.array([1.0 + 5e-5]))  # float32: rtol 1e-4
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(np.array([1.0]), np.array([1.0 + 5e-5]))  # float64: 1e-5
    # one float16 side loosens the comparison to float16's 1e-2 / 1e-1
    tu.assert_almost_equal(np.array([x], np.float16), np.array([1.05], np.float64))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(np.array([1], np.int32), np.array([2], np.int32))


def test_the_message_names_the_worst_element():
    a = np.zeros((3, 4), np.float32)
    b = a.copy()
    b[1, 2], b[2, 3] = 0.5, 0.01
    with pytest.raises(AssertionError) as info:
        tu.assert_almost_equal(a, b, names=("got", "want"))
    text = str(info.value)
    assert "(1, 2)" in text and "want=0.5" in text and "2 of 12" in text


def test_explicit_tolerances_broadcast_nan_and_shapes():
    tu.assert_almost_equal(np.ones((2, 3)), np.ones(3), rtol=0, atol=0)
    with pytest.raises(AssertionError, match="not equal"):
        tu.assert_almost_equal(np.ones((2, 3)), np.ones(3), use_broadcast=False)
    nan = np.array([np.nan, 1.0])
    tu.assert_almost_equal(nan, nan, equal_nan=True)
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(nan, nan)
    assert tu.almost_equal(np.ones(2), np.ones(2) + 1e-6) and not tu.same([1, 2], [1, 3])


def test_environment_sets_and_restores():
    os.environ.pop("MG_TEST_ENV_A", None)
    os.environ["MG_TEST_ENV_B"] = "kept"
    with tu.environment({"MG_TEST_ENV_A": "1", "MG_TEST_ENV_B": None}):
        assert os.environ["MG_TEST_ENV_A"] == "1" and "MG_TEST_ENV_B" not in os.environ
    assert "MG_TEST_ENV_A" not in os.environ and os.environ.pop("MG_TEST_ENV_B") == "kept"


def test_assert_exception():
    tu.assert_exception(lambda: 1 / 0, ZeroDivisionError)
    with pytest.raises(AssertionError, match="did not raise"):
        tu.assert_exception(lambda: 1, ZeroDivisionError)


def test_default_context_is_the_current_one():
    import minigluon as mg
    assert tu.default_context() == mg.cpu(0)
    with mg.cpu(1):
        assert tu.default_context() == mg.cpu(1)
