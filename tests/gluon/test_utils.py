"""gluon.utils: split_data / split_and_load (MXNet's slice sizes; one context returns the
batch itself), clip_global_norm (return value, in-place scaling, nan warning), check_sha1."""
import hashlib

import numpy as np
import pytest

import minigluon as mg

nd = mg.nd
utils = mg.gluon.utils


@pytest.mark.parametrize("num_slice,axis,even", [(4, 0, True), (3, 1, True), (4, 1, False),
                                                 (7, 1, False), (2, -1, True)])
def test_split_data_gives_array_splits_pieces(num_slice, axis, even):
    x = np.arange(8 * 9 * 2, dtype=np.float32).reshape(8, 9, 2)
    parts = utils.split_data(nd.array(x), num_slice, axis, even_split=even)
    want = np.array_split(x, num_slice, axis=axis)
    assert len(parts) == num_slice
    for got, ref in zip(parts, want):
        np.testing.assert_array_equal(got.asnumpy(), ref)


def test_split_data_refuses_an_uneven_split_and_bad_arguments():
    x = nd.zeros((8, 9))
    with pytest.raises(ValueError, match=r"shape \(8, 9\) cannot be evenly split into 4 slices "
                                         r"along axis 1.*even_split=False"):
        utils.split_data(x, 4, 1)
    with pytest.raises(ValueError, match="num_slice must be a positive int"):
        utils.split_data(x, 0)
    with pytest.raises(ValueError, match="batch_axis 2 is out of range"):
        utils.split_data(x, 2, batch_axis=2)


def test_split_along_the_batch_axis_shares_memory_as_mxnet():
    x = nd.zeros((4, 2))
    first = utils.split_data(x, 2)[0]
    first[:] = 1.0
    np.testing.assert_array_equal(x.asnumpy(), [[1, 1], [1, 1], [0, 0], [0, 0]])


def test_split_and_load_on_one_context_returns_the_batch():
    x = nd.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    out = utils.split_and_load(x, ["cpu(0)"])
    assert len(out) == 1 and out[0] is x  # MXNet: as_in_context of the same context
    loaded = utils.split_and_load(np.ones((3, 2)), ["cpu(0)"], even_split=False)
    assert loaded[0].dtype == np.float32 and loaded[0].shape == (3, 2)
    two = utils.split_and_load(x, ["cpu(0)", "cpu(0)"], even_split=False)
    assert [p.shape for p in two] == [(2, 2), (1, 2)]
    with pytest.raises(ValueError, match="ctx_list must be a non-empty list"):
        utils.split_and_load(x, [])


def test_clip_global_norm_scales_in_place_and_returns_the_norm():
    a, b = np.array([3.0, 0.0], np.float32), np.array([[4.0]], np.float32)
    arrays = [nd.array(a), nd.array(b)]
    keep = arrays[0]
    norm = utils.clip_global_norm(arrays, 1.0)
    assert isinstance(norm, float) and norm == pytest.approx(5.0)
    assert arrays[0] is keep
    scale = 1.0 / (5.0 + 1e-8)
    np.testing.assert_allclose(arrays[0].asnumpy(), a * scale, rtol=1e-6)
    np.testing.assert_allclose(arrays[1].asnumpy(), b * scale, rtol=1e-6)
    # below max_norm: unchanged; without the finiteness check the norm is an NDArray (1,)
    small = [nd.array([0.3, 0.4])]
    norm = utils.clip_global_norm(small, 10.0, check_isfinite=False)
    assert isinstance(norm, nd.NDArray) and norm.shape == (1,)
    np.testing.assert_allclose(norm.asnumpy(), [0.5], rtol=1e-6)
    np.testing.assert_allclose(small[0].asnumpy(), [0.3, 0.4], rtol=1e-6)


def test_clip_global_norm_of_random_gradients_matches_numpy():
    rng = np.random.default_rng(0)
    raw = [rng.normal(size=s) for s in [(3, 4), (5,), (2, 2, 2)]]
    arrays = [nd.array(r, dtype="float64") for r in raw]
    want = np.sqrt(sum((r ** 2).sum() for r in raw))
    assert utils.clip_global_norm(arrays, 1.5) == pytest.approx(want, rel=1e-12)
    for got, r in zip(arrays, raw):
        np.testing.assert_allclose(got.asnumpy(), r * 1.5 / (want + 1e-8), rtol=1e-12)
    assert np.sqrt(sum((g.asnumpy() ** 2).sum() for g in arrays)) == pytest.approx(1.5)


def test_clip_global_norm_warns_on_nan_and_checks_its_input():
    with pytest.warns(UserWarning, match="nan or inf is detected"):
        utils.clip_global_norm([nd.array([np.inf, 1.0])], 1.0)
    with pytest.raises(AssertionError, match="non-empty list"):
        utils.clip_global_norm([], 1.0)
    with pytest.raises(mg.MXNetError, match="arrays\\[1\\] is float64, arrays\\[0\\] is float32"):
        utils.clip_global_norm([nd.ones((2,)), nd.ones((2,), dtype="float64")], 1.0)
    with pytest.raises(TypeError, match="arrays\\[0\\] is a ndarray, not an NDArray"):
        utils.clip_global_norm([np.ones(2)], 1.0)


def test_clip_gradients_between_allreduce_and_update():
    p = mg.gluon.Parameter("w", shape=(2,))
    p.initialize(init=mg.init.Zero())
    trainer = mg.gluon.Trainer([p], "sgd", {"learning_rate": 1.0})
    with mg.autograd.record():
        y = (p.data() * nd.array([30.0, 40.0])).sum()
    y.backward()
    trainer.allreduce_grads()
    assert utils.clip_global_norm([p.grad()], 5.0) == pytest.approx(50.0)
    trainer.update(1)
    np.testing.assert_allclose(p.data().asnumpy(), [-3.0, -4.0], rtol=1e-6)


def test_check_sha1(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"minigluon" * 1000)
    assert utils.check_sha1(str(f), hashlib.sha1(b"minigluon" * 1000).hexdigest())
    assert not utils.check_sha1(str(f), "0" * 40)
