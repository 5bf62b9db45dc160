"""Tests for the numpy CTC reference kernel (MXNet 1.9.1 CTCLoss semantics)."""
import itertools
import pathlib

import numpy as np
import pytest

from minigluon.ops.ctc_reference import ctc_loss

ROOT = pathlib.Path(__file__).resolve().parents[2]

ORACLE = ROOT / "tests" / "fixtures" / "mxnet-1.9.1" / "oracle.npz"


def brute_force(x, labels, blank):
    """Enumerate all paths of one sample x (T, C); returns (loss, grad) in float64."""
    T, C = x.shape
    y = np.exp(x - x.max(1, keepdims=True))
    y /= y.sum(1, keepdims=True)
    p = 0.0
    occ = np.zeros((T, C))  # sum of P(path) over matching paths with path[t] == k
    for path in itertools.product(range(C), repeat=T):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if collapsed == list(labels):
            pp = np.prod(y[np.arange(T), path])
            p += pp
            occ[np.arange(T), path] += pp
    if p == 0.0:
        return np.inf, np.zeros((T, C))
    return -np.log(p), y - occ / p


def random_case(rng, blank_label):
    T, C, N = rng.integers(1, 5), rng.integers(2, 4), 3
    L = rng.integers(0, 3)
    lo, hi, pad = (1, C - 1, 0) if blank_label == "first" else (0, C - 2, -1)
    x = rng.normal(size=(T, N, C)) * 2
    label = np.full((N, L), pad, np.float32)
    lens = rng.integers(0, L + 1, size=N)
    for n in range(N):
        label[n, :lens[n]] = rng.integers(lo, hi + 1, size=lens[n])
    return x, label, lens


def check_against_brute(x, label, dlens, llens, blank_label):
    loss, grad = ctc_loss(x, label, dlens, llens, blank_label)
    T, N, C = x.shape
    blank = 0 if blank_label == "first" else C - 1
    for n in range(N):
        tn = T if dlens is None else int(dlens[n])
        ln = int(llens[n])
        ref_l, ref_g = brute_force(x[:tn, n], label[n, :ln].astype(int), blank)
        np.testing.assert_allclose(loss[n], ref_l, rtol=1e-9)
        np.testing.assert_allclose(grad[:tn, n], ref_g, rtol=1e-7, atol=1e-10)
        assert np.all(grad[tn:, n] == 0)


def test_mxnet_oracle_doc_example():
    d = np.load(ORACLE)
    pred = d["ctc_doc_ntc/in/pred"].swapaxes(0, 1)  # NTC -> TNC
    loss, grad = ctc_loss(pred, d["ctc_doc_ntc/in/label"], blank_label="last")
    assert loss.dtype == grad.dtype == np.float32
    np.testing.assert_allclose(loss, d["ctc_doc_ntc/out"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad.swapaxes(0, 1), d["ctc_doc_ntc/grad/pred"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("blank_label", ["first", "last"])
def test_brute_force_padding_lengths(blank_label):
    rng = np.random.default_rng(0 if blank_label == "first" else 1)
    for _ in range(25):
        x, label, lens = random_case(rng, blank_label)
        check_against_brute(x, label, None, lens, blank_label)  # lengths inferred from padding


@pytest.mark.parametrize("blank_label", ["first", "last"])
def test_brute_force_explicit_lengths(blank_label):
    rng = np.random.default_rng(2 if blank_label == "first" else 3)
    for _ in range(25):
        x, label, lens = random_case(rng, blank_label)
        lo = 1 if blank_label == "first" else 0
        # Fill entries past the length with valid labels: they must be ignored.
        label = np.where(np.arange(label.shape[1]) < lens[:, None], label, lo).astype(np.float32)
        dlens = rng.integers(0, x.shape[0] + 1, size=x.shape[1]).astype(np.float64)
        x[int(dlens[0]):, 0] = np.nan  # frames past data_lengths must be ignored
        check_against_brute(x, label, dlens, lens.astype(np.float32), blank_label)


def test_infeasible_is_inf_with_zero_grad():
    x = np.random.default_rng(4).normal(size=(2, 2, 3))
    # Repeated label needs a blank between: 3 frames minimum, only 2 here.
    loss, grad = ctc_loss(x, np.array([[1, 1], [1, 2]]))
    assert np.isposinf(loss[0]) and np.isfinite(loss[1])
    assert np.all(grad[:, 0] == 0) and np.any(grad[:, 1] != 0)
    # Label longer than the (explicit) data length.
    loss, grad = ctc_loss(x, np.array([[1, 2], [1, 2]]), data_lengths=np.array([1, 2]))
    assert np.isposinf(loss[0]) and np.isfinite(loss[1])
    assert np.all(grad[:, 0] == 0)


def test_empty_label_and_zero_length_data():
    x = np.random.default_rng(5).normal(size=(3, 3, 3))
    loss, grad = ctc_loss(x, np.ones((3, 1)), data_lengths=np.array([3, 0, 0]),
                          label_lengths=np.array([0, 0, 1]))
    logy = x - np.log(np.exp(x).sum(2, keepdims=True))
    np.testing.assert_allclose(loss[0], -logy[:, 0, 0].sum())  # all-blank path only
    assert loss[1] == 0 and np.isposinf(loss[2])                # empty/empty: p = 1
    assert np.all(grad[:, 1:] == 0)


def test_nan_isolated_to_its_sample():
    x = np.random.default_rng(6).normal(size=(4, 3, 3)).astype(np.float32)
    ref_loss, ref_grad = ctc_loss(x, np.array([[1], [2], [1]]))
    x[2, 1, 1] = np.nan
    loss, grad = ctc_loss(x, np.array([[1], [2], [1]]))
    assert np.isnan(loss[1])
    np.testing.assert_array_equal(loss[[0, 2]], ref_loss[[0, 2]])
    np.testing.assert_array_equal(grad[:, [0, 2]], ref_grad[:, [0, 2]])
    # NaN only in frames past data_lengths has no effect at all.
    loss, grad = ctc_loss(x, np.array([[1], [2], [1]]), data_lengths=np.array([4, 2, 4]))
    assert np.isfinite(loss).all() and np.isfinite(grad).all() and np.all(grad[2:, 1] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    x = np.random.default_rng(7).normal(size=(5, 2, 4)).astype(dtype)
    loss, grad = ctc_loss(x, np.array([[1, 2], [3, 0]]))
    assert loss.dtype == dtype and grad.dtype == dtype


def test_large_activations_are_stable():
    x = np.random.default_rng(8).normal(size=(6, 2, 4)) * 1e3
    loss, grad = ctc_loss(x, np.array([[1, 2], [3, 3]]))
    assert np.all(np.isfinite(grad)) and not np.any(np.isnan(loss))


def test_finite_difference_grad():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(6, 2, 4))
    label = np.array([[1, 2, 2], [3, 1, 0]])
    dlens = np.array([6, 5])
    _, grad = ctc_loss(x, label, data_lengths=dlens)
    num = np.zeros_like(x)
    eps = 1e-6
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (ctc_loss(xp, label, dlens)[0].sum() - ctc_loss(xm, label, dlens)[0].sum()) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)


X = np.zeros((3, 2, 4))


@pytest.mark.parametrize("kwargs, match", [
    (dict(data=np.zeros((3, 4)), label=np.ones((2, 1))), "data must be 3-D"),
    (dict(data=np.zeros((3, 2, 4), int), label=np.ones((2, 1))), "floating-point"),
    (dict(data=X, label=np.ones(2)), "label must be 2-D"),
    (dict(data=X, label=np.ones((3, 1))), "label must be 2-D"),
    (dict(data=X, label=np.array([[1, 4], [1, 2]])), r"label\[0, 1\] = 4 "),
    (dict(data=X, label=np.array([[1, 2], [1.5, 2]])), r"label\[1, 0\] = 1\.5"),
    (dict(data=X, label=np.array([[1, 2], [-1, 2]])), r"label\[1, 0\] = -1 "),
    (dict(data=X, label=np.array([[0, 2], [4, 2]]), blank_label="last"), r"label\[1, 0\] = 4 "),
    (dict(data=X, label=np.array([[0, 2], [-2, 2]]), blank_label="last"), r"label\[1, 0\] = -2 "),
    (dict(data=X, label=np.array([[1, -1], [1, 2]]), label_lengths=np.array([2, 2])),
     r"label\[0, 1\] = -1 "),
    (dict(data=X, label=np.ones((2, 2)), label_lengths=np.array([1, 3])), r"label_lengths\[1\] = 3"),
    (dict(data=X, label=np.ones((2, 2)), label_lengths=np.array([1.5, 1])), r"label_lengths\[0\] = 1\.5"),
    (dict(data=X, label=np.ones((2, 2)), label_lengths=np.array([1, 1, 1])), "label_lengths must have shape"),
    (dict(data=X, label=np.ones((2, 2)), data_lengths=np.array([-1, 3])), r"data_lengths\[0\] = -1"),
    (dict(data=X, label=np.ones((2, 2)), data_lengths=np.array([3, 4])), r"data_lengths\[1\] = 4"),
    (dict(data=X, label=np.ones((2, 2)), data_lengths=np.array([3, np.nan])), r"data_lengths\[1\] = nan"),
    (dict(data=X, label=np.ones((2, 2)), data_lengths=np.array([[3, 3]])), "data_lengths must have shape"),
    (dict(data=X, label=np.ones((2, 2)), blank_label="middle"), "blank_label must be"),
])
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ctc_loss(**kwargs)
