"""Every loss case MXNet 1.9.1 recorded: eager and hybridized outputs, values and shapes."""
import numpy as np
import pytest

import minigluon as mg
from tests.conftest import fixture_cases

CASES = fixture_cases()


def _call(case, oracle, hybridize):
    block = getattr(mg.gluon.loss, case["cls"])(**case["kwargs"])
    if hybridize:
        block.hybridize()
    args = [None if name in case["none_inputs"] else
            mg.nd.array(oracle[f"{case['name']}/in/{name}"]) for name in case["inputs"]]
    return block(*args)


@pytest.mark.parametrize("hybridize", [False, True], ids=["eager", "hybrid"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_mxnet(case, oracle, hybridize):
    out = _call(case, oracle, hybridize)
    want = oracle[f"{case['name']}/out_hybrid" if hybridize and f"{case['name']}/out_hybrid"
                  in oracle.files else f"{case['name']}/out"]
    got = out.asnumpy()
    assert got.shape == want.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_second_call_reuses_cached_graph(case, oracle):
    block = getattr(mg.gluon.loss, case["cls"])(**case["kwargs"])
    block.hybridize()
    args = [None if name in case["none_inputs"] else
            mg.nd.array(oracle[f"{case['name']}/in/{name}"]) for name in case["inputs"]]
    first = block(*args).asnumpy()
    assert len(block._cache) == 1
    second = block(*args).asnumpy()
    assert len(block._cache) == 1
    np.testing.assert_array_equal(first, second)


def test_seed_examples():
    nd = mg.nd
    ctc = mg.gluon.loss.CTCLoss()
    out = ctc(nd.ones((2, 20, 4)), nd.array([[1, 0, -1, -1], [2, 1, 1, -1]]))
    np.testing.assert_allclose(out.asnumpy(), [18.8282, 16.5058], rtol=1e-5)
    l1 = mg.gluon.loss.L1Loss()(nd.array([1, 2, 3, 4]), nd.array([1, 3, 5, 7]))
    assert l1.asnumpy().sum() == pytest.approx(6.0)
