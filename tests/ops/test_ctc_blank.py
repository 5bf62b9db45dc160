"""CTCLoss with a label equal to the blank class, computed as MXNet 1.9.1 computes it: a
state of l' that emits the blank, which alpha may leave but not enter by a skip, and beta
may not leave by one.  Losses and gradients eager, compiled and on the interpreter, against
numbers obtained by running MXNet 1.9.1 (the expected arrays below are its outputs)."""
import numpy as np
import pytest

import minigluon as mg
from minigluon import autograd, jit
from minigluon.gluon import HybridBlock

nd = mg.nd
MODES = pytest.mark.parametrize("mode", ["eager", "compiled", "interpreted"])


def run(block, mode, monkeypatch, x, *rest):
    """(loss, d sum(loss) / d x) of block on x and the other inputs, in one mode."""
    if mode != "eager":
        monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
        block.hybridize()
    x = nd.array(x)
    x.attach_grad()
    jit.reset_stats()
    with autograd.record():
        loss = block(x, *[None if r is None else nd.array(r, dtype=np.asarray(r).dtype)
                          for r in rest])
    loss.backward()
    if mode == "compiled":
        assert jit.stats()["interpreted_calls"] == 0
    return loss.asnumpy(), x.grad.asnumpy()


# MXNet 1.9.1's own test_ctc_loss (tests/python/unittest/test_loss.py), the cases whose
# second sample holds a 3, the blank of Gluon's CTCLoss (blank_label='last', C = 4), on
# all-ones NTC data: the same losses as the labels [2, 1] and [2, 1, 1] give
GLUON_CASES = {
    "label_lengths": ((2, 20, 4), [[2, 1, 2, 2], [3, 2, 2, 2]], None, [2, 3]),
    "pred_lengths": ((2, 25, 4), [[2, 1, -1, -1], [3, 2, 2, -1]], [20, 20], None),
    "both_lengths": ((2, 25, 4), [[2, 1, 3, 3], [3, 2, 2, 3]], [20, 20], [2, 3]),
}
# x.grad[1, :3] and x.grad.sum(axis=1) in MXNet 1.9.1, alike for the three cases
GRAD_1 = [[0.25, 0.25, 0.25, -0.47727197], [0.25, 0.25, 0.23701297, -0.47727197],
          [0.25, 0.25, 0.20625421, -0.46838784]]
GRAD_SUMS = [[5.0, 0.39998817, 0.3999883, -5.8000145], [5.0, 5.0, -1.5714293, -6.7012978]]


@MODES
@pytest.mark.parametrize("case", list(GLUON_CASES))
def test_mxnet_test_ctc_loss_cases(case, mode, monkeypatch):
    shape, label, pred_lengths, label_lengths = GLUON_CASES[case]
    loss, grad = run(mg.gluon.loss.CTCLoss(), mode, monkeypatch, np.ones(shape, np.float32),
                     np.array(label, np.float32),
                     None if pred_lengths is None else np.array(pred_lengths, np.float32),
                     None if label_lengths is None else np.array(label_lengths, np.float32))
    np.testing.assert_allclose(loss, [18.82820702, 16.50581741], rtol=1e-6)
    np.testing.assert_allclose(grad[1, :3], GRAD_1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad.sum(axis=1), GRAD_SUMS, rtol=1e-5, atol=2e-5)
    assert not grad[:, 20:].any()  # frames past pred_lengths


class RawCTC(HybridBlock):
    """F.CTCLoss on TNC data with label_lengths."""

    def __init__(self, blank_label: str):
        super().__init__()
        self.blank_label = blank_label

    def hybrid_forward(self, F, data, label, label_lengths):
        return F.CTCLoss(data, label, None, label_lengths, use_label_lengths=True,
                         blank_label=self.blank_label)


X = np.random.RandomState(0).randn(5, 2, 4).astype(np.float32)
# labels equal to blank 0 ('first': only label_lengths can count a 0 as a label) or to
# blank 3 ('last'), first, in the middle and repeated; MXNet 1.9.1's gradients (T, N, C)
GRAD_FIRST = [
    [[0.141599, 0.07694629, 0.13723415, 0.484852], [-3.140688, -0.05600498, 0.2512014, 0.08349689]],
    [[-0.04441406, 0.19216523, -0.4491939, 0.5456788], [-2.089088, -1.2418567, 0.25040886, 0.22428243]],
    [[0.23405614, -0.05017515, -0.16964704, 0.06026702], [-0.05708139, -3.3453884, 0.48940763, 0.09815957]],
    [[0.06507105, -0.04260978, -0.09281927, 0.0703583], [-0.6009341, -0.54028463, 0.10061432, 0.1257769]],
    [[-0.037359, -0.7360252, 0.29120994, 0.48217425], [-0.5810331, 0.40743536, 0.08311088, 0.09048642]],
]
GRAD_LAST = [
    [[0.3009677, 0.07694629, -0.7244655, 0.34655207], [0.6287442, 0.03655759, 0.2512014, -0.9165022]],
    [[0.11495471, 0.19216523, -0.03024343, 0.40056774], [0.34387198, 0.18143669, 0.25040886, -0.77571756]],
    [[0.6307817, 0.11532135, 0.19362986, -0.08484403], [0.01605098, 0.39638188, 0.48940763, -0.9018414]],
    [[0.8210132, -0.36740664, 0.08881389, -0.07475276], [0.3990659, 0.37454283, 0.10061432, -0.87422216]],
    [[0.16972353, -0.5967527, 0.29120994, 0.13581967], [0.4189674, 0.40743536, 0.08311088, -0.9095136]],
]
RANDOM_CASES = {
    "first": ([[0, 2, 1], [1, 0, 0]], [5.4170184, 3.7506313], GRAD_FIRST),
    "last": ([[2, 3, 1], [3, 3, 0]], [8.991256, 8.066707], GRAD_LAST),
}


@MODES
@pytest.mark.parametrize("blank_label", list(RANDOM_CASES))
def test_random_activations_match_mxnet(blank_label, mode, monkeypatch):
    """MXNet's gradient for these labels is not the loss's exact one (beta forbids a skip
    that alpha allows: entries below -1 show it); the same numbers come out here."""
    label, want_loss, want_grad = RANDOM_CASES[blank_label]
    loss, grad = run(RawCTC(blank_label), mode, monkeypatch, X, np.array(label, np.float32),
                     np.array([3, 2], np.float32))
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


@MODES
def test_a_label_past_the_alphabet_is_still_refused(mode, monkeypatch):
    with pytest.raises(ValueError, match=r"label\[1, 0\] = 4 is not a valid label.*\[0, 3\]"):
        run(RawCTC("last"), mode, monkeypatch, X, np.array([[2, 3, 1], [4, 3, 0]], np.float32),
            np.array([3, 2], np.float32))
