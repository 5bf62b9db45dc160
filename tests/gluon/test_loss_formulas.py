"""Every Gluon loss, eager and hybridized, against independent float64 numpy formulas.

The expected values below are computed here from the textbook definitions (following
MXNet 1.9.1's conventions), never by calling minigluon.  float32 inputs are compared
with rtol 1e-4, float64 inputs with rtol 1e-10 (and the output must stay float64).
"""
from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import minigluon as mg

L = mg.gluon.loss

MODES = pytest.mark.parametrize("hybridize", [False, True], ids=["eager", "hybrid"])
TOL = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def run(block, hybridize, *inputs, **kw_inputs):
    """Call a fresh block (hybridized or not) on numpy inputs; returns a numpy array."""
    if hybridize:
        block.hybridize()
    # dtype explicitly: like MXNet, mg.nd.array turns a float64 numpy array into float32
    to_nd = lambda a: None if a is None else mg.nd.array(a, dtype=a.dtype)  # noqa: E731
    out = block(*[to_nd(a) for a in inputs], **{k: to_nd(v) for k, v in kw_inputs.items()})
    if hybridize:
        assert len(block._cache) == 1
    return out.asnumpy()


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) % (2 ** 31)


def softplus(x):
    return np.logaddexp(0.0, x)


def log_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def mean_except(x, batch_axis):
    axes = tuple(a for a in range(x.ndim) if a != batch_axis % x.ndim)
    return x.mean(axis=axes) if axes else x


def sum_except(x, batch_axis):
    axes = tuple(a for a in range(x.ndim) if a != batch_axis % x.ndim)
    return x.sum(axis=axes) if axes else x


def weighted(loss, sample_weight=None, weight=None):
    if sample_weight is not None:
        loss = loss * sample_weight
    if weight is not None:
        loss = loss * weight
    return loss


# --------------------------------------------------------------------------------------
# independent reference formulas (float64)
# --------------------------------------------------------------------------------------
def ref_l2(pred, label, sw=None, weight=1.0, batch_axis=0):
    d = label.reshape(pred.shape) - pred
    scale = 0.5 if weight is None else weight / 2
    return mean_except(weighted(d ** 2, sw, scale), batch_axis)


def ref_l1(pred, label, sw=None, weight=None, batch_axis=0):
    d = np.abs(label.reshape(pred.shape) - pred)
    return mean_except(weighted(d, sw, weight), batch_axis)


def ref_bce(pred, label, sw=None, pos_weight=None, from_sigmoid=False, weight=None,
            batch_axis=0):
    z = label.reshape(pred.shape)
    pw = 1.0 if pos_weight is None else pos_weight
    if from_sigmoid:
        eps = 1e-12
        loss = -(pw * z * np.log(pred + eps) + (1 - z) * np.log(1 - pred + eps))
    else:
        # -[pw z log sigmoid(x) + (1 - z) log(1 - sigmoid(x))]
        loss = pw * z * softplus(-pred) + (1 - z) * softplus(pred)
    return mean_except(weighted(loss, sw, weight), batch_axis)


def ref_sce(pred, label, sw=None, axis=-1, sparse_label=True, from_logits=False, weight=None,
            batch_axis=0):
    logp = pred if from_logits else log_softmax(pred, axis)
    ax = axis % pred.ndim
    if sparse_label:
        kept = pred.shape[:ax] + (1,) + pred.shape[ax + 1:]
        idx = label.reshape(kept).astype(np.int64)
        loss = -np.take_along_axis(logp, idx, axis=ax)
    else:
        loss = -np.sum(logp * label.reshape(pred.shape), axis=ax, keepdims=True)
    return mean_except(weighted(loss, sw, weight), batch_axis)


def ref_kl(pred, label, sw=None, from_logits=True, axis=-1, weight=None, batch_axis=0):
    logp = pred if from_logits else log_softmax(pred, axis)
    loss = label * (np.log(label + 1e-12) - logp)
    return sum_except(weighted(loss, sw, weight), batch_axis)


def ctc_nll(x, labels, blank):
    """-log p(labels | x) for one sample, x (T, C) activations; plain alpha recursion."""
    logp = log_softmax(x, axis=1)
    ext = [blank]
    for k in labels:
        ext += [int(k), blank]
    S, T = len(ext), x.shape[0]
    alpha = np.full(S, -np.inf)
    alpha[0] = logp[0, blank]
    if S > 1:
        alpha[1] = logp[0, ext[1]]
    for t in range(1, T):
        new = np.full(S, -np.inf)
        for s in range(S):
            acc = alpha[s]
            if s >= 1:
                acc = np.logaddexp(acc, alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                acc = np.logaddexp(acc, alpha[s - 2])
            new[s] = acc + logp[t, ext[s]]
        alpha = new
    total = alpha[S - 1] if S == 1 else np.logaddexp(alpha[S - 1], alpha[S - 2])
    return -total


def ctc_brute(x, labels, blank):
    """-log p(labels | x) by enumerating every path (tiny T and C only)."""
    y = np.exp(log_softmax(x, axis=1))
    T, C = x.shape
    p = 0.0
    for path in itertools.product(range(C), repeat=T):
        out = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if out == list(labels):
            p += np.prod(y[np.arange(T), path])
    return -np.log(p)


def ref_ctc(pred, label, pred_lengths=None, label_lengths=None, sw=None, layout="NTC",
            label_layout="NT", weight=None):
    x = pred if layout == "NTC" else pred.transpose(1, 0, 2)        # (N, T, C)
    lab = label if label_layout == "NT" else label.T                 # (N, L)
    N, T, C = x.shape
    out = np.empty(N)
    for n in range(N):
        tn = T if pred_lengths is None else int(pred_lengths[n])
        row = lab[n]
        if label_lengths is not None:
            seq = row[: int(label_lengths[n])]
        else:
            pads = np.nonzero(row == -1)[0]
            seq = row[: pads[0]] if len(pads) else row
        out[n] = ctc_nll(x[n, :tn], [int(v) for v in seq], blank=C - 1)
    return weighted(out, sw, weight)


def ref_huber(pred, label, sw=None, rho=1.0, weight=None, batch_axis=0):
    d = np.abs(label.reshape(pred.shape) - pred)
    loss = np.where(d > rho, d - 0.5 * rho, d ** 2 / (2 * rho))
    return mean_except(weighted(loss, sw, weight), batch_axis)


def ref_hinge(pred, label, sw=None, margin=1.0, weight=None, batch_axis=0, squared=False):
    loss = np.maximum(0.0, margin - pred * label.reshape(pred.shape))
    if squared:
        loss = loss ** 2
    return mean_except(weighted(loss, sw, weight), batch_axis)


def ref_logistic(pred, label, sw=None, label_format="signed", weight=None, batch_axis=0):
    y = label.reshape(pred.shape)
    if label_format == "binary":
        y = 2 * y - 1
    loss = softplus(-pred * y)  # log(1 + exp(-pred * y))
    return mean_except(weighted(loss, sw, weight), batch_axis)


def ref_triplet(pred, pos, neg, margin=1.0, weight=None, batch_axis=0):
    d = sum_except((pos.reshape(pred.shape) - pred) ** 2, batch_axis) - \
        sum_except((neg.reshape(pred.shape) - pred) ** 2, batch_axis)
    return weighted(np.maximum(0.0, d + margin), None, weight)


def ref_poisson(pred, target, sw=None, from_logits=True, compute_full=False, epsilon=1e-8,
                weight=None):
    t = target.reshape(pred.shape)
    if from_logits:
        loss = np.exp(pred) - t * pred
    else:
        loss = pred - t * np.log(pred + epsilon)
    if compute_full:
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t)
        loss = loss + np.where(t > 1, stirling, 0.0)
    return np.array([weighted(loss, sw, weight).mean()])


def ref_cosine(x1, x2, label, sw=None, margin=0.0, weight=None):
    x1 = x1.reshape(x2.shape)
    dot = np.sum(x1 * x2, axis=-1)
    nrm = np.sqrt(np.sum(x1 ** 2, axis=-1)) * np.sqrt(np.sum(x2 ** 2, axis=-1))
    cos = (dot / np.maximum(nrm, 1e-12)).reshape(-1, 1)
    lab = label.reshape(-1, 1)
    loss = np.where(lab == 1, 1 - cos, 0.0) + np.where(lab == -1, np.maximum(0.0, cos - margin), 0.0)
    return weighted(loss, sw, weight)


def ref_sdml(x1, x2, s=0.3, weight=1.0):
    n = x1.shape[0]
    dist = np.sum((x1[:, None, :] - x2[None, :, :]) ** 2, axis=2)
    logp = log_softmax(-dist, axis=1)
    eye = np.eye(n)
    lab = eye * (1 - s) + (1 - eye) * s / (n - 1)
    loss = np.sum(lab * (np.log(lab + 1e-12) - logp), axis=1)
    return loss if weight is None else loss * weight


# --------------------------------------------------------------------------------------
# input generators (float64 numpy; the test casts them to the dtype under test)
# --------------------------------------------------------------------------------------
def randn(rng, *shape, scale=1.0):
    return rng.randn(*shape) * scale


def binary(rng, *shape):
    return rng.randint(0, 2, size=shape).astype(np.float64)


def signs(rng, *shape):
    return rng.choice([-1.0, 1.0], size=shape)


def probs(rng, *shape, axis=-1):
    return np.exp(log_softmax(rng.randn(*shape), axis))


def classes(rng, n, *shape):
    return rng.randint(0, n, size=shape).astype(np.float64)


def uniform(rng, lo, hi, *shape):
    return rng.uniform(lo, hi, size=shape)


def ctc_labels(rows, L, layout="NT"):
    lab = np.full((len(rows), L), -1.0)
    for i, r in enumerate(rows):
        lab[i, : len(r)] = r
    return lab if layout == "NT" else lab.T


@dataclass
class Case:
    name: str
    make: Callable          # () -> a fresh block
    gen: Callable           # rng -> list of numpy inputs (None for omitted ones)
    ref: Callable           # (*float64 inputs) -> expected output
    nan: tuple | None = (0, 0)   # (input index, its batch axis) to poison; None: skip
    kwargs: dict | None = None   # inputs passed by keyword: {name: index into gen()}


CASES = [
    # ---- L2Loss ----------------------------------------------------------------------
    Case("l2_basic", lambda: L.L2Loss(), lambda r: [randn(r, 8, 5), randn(r, 8, 5)], ref_l2),
    Case("l2_label_flat", lambda: L.L2Loss(), lambda r: [randn(r, 8, 5), randn(r, 40)], ref_l2),
    Case("l2_sw_n1", lambda: L.L2Loss(),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), uniform(r, 0, 2, 8, 1)], ref_l2),
    Case("l2_sw_full", lambda: L.L2Loss(),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), uniform(r, 0, 2, 8, 5)], ref_l2),
    Case("l2_weight", lambda: L.L2Loss(weight=2.5), lambda r: [randn(r, 8, 5), randn(r, 8, 5)],
         lambda p, l: ref_l2(p, l, weight=2.5)),
    Case("l2_weight_none", lambda: L.L2Loss(weight=None),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5)], lambda p, l: ref_l2(p, l, weight=None)),
    Case("l2_3d_sw", lambda: L.L2Loss(),
         lambda r: [randn(r, 4, 3, 5), randn(r, 4, 3, 5), uniform(r, 0, 2, 4, 1, 1)], ref_l2),
    Case("l2_batch_axis1", lambda: L.L2Loss(batch_axis=1),
         lambda r: [randn(r, 5, 8), randn(r, 5, 8)], lambda p, l: ref_l2(p, l, batch_axis=1),
         nan=(0, 1)),
    # ---- L1Loss ----------------------------------------------------------------------
    Case("l1_basic", lambda: L.L1Loss(), lambda r: [randn(r, 8, 5), randn(r, 8, 5)], ref_l1),
    Case("l1_sw_n1_weight", lambda: L.L1Loss(weight=0.7),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_l1(p, l, w, weight=0.7)),
    Case("l1_sw_full", lambda: L.L1Loss(),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), uniform(r, 0, 2, 8, 5)], ref_l1),
    Case("l1_3d", lambda: L.L1Loss(), lambda r: [randn(r, 4, 3, 5), randn(r, 4, 3, 5)], ref_l1),
    Case("l1_batch_axis1_3d", lambda: L.L1Loss(batch_axis=1),
         lambda r: [randn(r, 3, 6, 2), randn(r, 3, 6, 2)], lambda p, l: ref_l1(p, l, batch_axis=1),
         nan=(0, 1)),
    # ---- SigmoidBinaryCrossEntropyLoss ------------------------------------------------
    Case("bce_logits", lambda: L.SigmoidBinaryCrossEntropyLoss(),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5)], ref_bce),
    Case("bce_soft_labels", lambda: L.SigmoidBCELoss(),
         lambda r: [randn(r, 8, 5, scale=3), uniform(r, 0, 1, 8, 5)], ref_bce),
    Case("bce_logits_sw_n1_weight", lambda: L.SigmoidBCELoss(weight=1.5),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_bce(p, l, w, weight=1.5)),
    Case("bce_logits_sw_full", lambda: L.SigmoidBCELoss(),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5), uniform(r, 0, 2, 8, 5)], ref_bce),
    Case("bce_pos_weight_row", lambda: L.SigmoidBCELoss(),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5), None, uniform(r, 0.5, 3, 1, 5)],
         lambda p, l, sw, pw: ref_bce(p, l, sw, pw)),
    Case("bce_pos_weight_full_and_sw", lambda: L.SigmoidBCELoss(),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5), uniform(r, 0, 2, 8, 1),
                    uniform(r, 0.5, 3, 8, 5)],
         lambda p, l, sw, pw: ref_bce(p, l, sw, pw)),
    Case("bce_pos_weight_keyword", lambda: L.SigmoidBCELoss(),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5), uniform(r, 0.5, 3, 1, 5)],
         lambda p, l, pw: ref_bce(p, l, None, pw), kwargs={"pos_weight": 2}),
    Case("bce_from_sigmoid", lambda: L.SigmoidBCELoss(from_sigmoid=True),
         lambda r: [uniform(r, 0.01, 0.99, 8, 5), binary(r, 8, 5)],
         lambda p, l: ref_bce(p, l, from_sigmoid=True)),
    Case("bce_from_sigmoid_pos_weight_sw", lambda: L.SigmoidBCELoss(from_sigmoid=True),
         lambda r: [uniform(r, 0.01, 0.99, 8, 5), binary(r, 8, 5), uniform(r, 0, 2, 8, 1),
                    uniform(r, 0.5, 3, 1, 5)],
         lambda p, l, sw, pw: ref_bce(p, l, sw, pw, from_sigmoid=True)),
    Case("bce_from_sigmoid_edges", lambda: L.SigmoidBCELoss(from_sigmoid=True),
         lambda r: [np.array([[0.0, 1.0, 0.5, 1.0], [0.0, 0.25, 1.0, 0.0]]),
                    np.array([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])],
         lambda p, l: ref_bce(p, l, from_sigmoid=True), nan=None),
    Case("bce_3d", lambda: L.SigmoidBCELoss(),
         lambda r: [randn(r, 4, 3, 5, scale=3), binary(r, 4, 3, 5)], ref_bce),
    Case("bce_batch_axis1", lambda: L.SigmoidBCELoss(batch_axis=1),
         lambda r: [randn(r, 5, 8, scale=3), binary(r, 5, 8)],
         lambda p, l: ref_bce(p, l, batch_axis=1), nan=(0, 1)),
    # ---- SoftmaxCrossEntropyLoss --------------------------------------------------------
    Case("sce_sparse", lambda: L.SoftmaxCrossEntropyLoss(),
         lambda r: [randn(r, 8, 6, scale=2), classes(r, 6, 8)], ref_sce),
    Case("sce_sparse_label_n1", lambda: L.SoftmaxCELoss(),
         lambda r: [randn(r, 8, 6, scale=2), classes(r, 6, 8, 1)], ref_sce),
    Case("sce_sparse_sw_n1_weight", lambda: L.SoftmaxCELoss(weight=0.3),
         lambda r: [randn(r, 8, 6, scale=2), classes(r, 6, 8), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_sce(p, l, w, weight=0.3)),
    Case("sce_dense", lambda: L.SoftmaxCELoss(sparse_label=False),
         lambda r: [randn(r, 8, 6, scale=2), probs(r, 8, 6)],
         lambda p, l: ref_sce(p, l, sparse_label=False)),
    Case("sce_dense_sw_n1", lambda: L.SoftmaxCELoss(sparse_label=False),
         lambda r: [randn(r, 8, 6, scale=2), probs(r, 8, 6), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_sce(p, l, w, sparse_label=False)),
    Case("sce_from_logits_sparse", lambda: L.SoftmaxCELoss(from_logits=True),
         lambda r: [randn(r, 8, 6, scale=2), classes(r, 6, 8)],
         lambda p, l: ref_sce(p, l, from_logits=True)),
    Case("sce_from_logits_dense", lambda: L.SoftmaxCELoss(from_logits=True, sparse_label=False),
         lambda r: [log_softmax(randn(r, 8, 6), -1), probs(r, 8, 6)],
         lambda p, l: ref_sce(p, l, from_logits=True, sparse_label=False)),
    Case("sce_axis1_3d_sparse", lambda: L.SoftmaxCELoss(axis=1),
         lambda r: [randn(r, 4, 5, 3, scale=2), classes(r, 5, 4, 3)],
         lambda p, l: ref_sce(p, l, axis=1)),
    Case("sce_axis1_3d_sparse_sw_full", lambda: L.SoftmaxCELoss(axis=1),
         lambda r: [randn(r, 4, 5, 3, scale=2), classes(r, 5, 4, 3), uniform(r, 0, 2, 4, 1, 3)],
         lambda p, l, w: ref_sce(p, l, w, axis=1)),
    Case("sce_axis1_3d_dense", lambda: L.SoftmaxCELoss(axis=1, sparse_label=False),
         lambda r: [randn(r, 4, 5, 3, scale=2), probs(r, 4, 5, 3, axis=1)],
         lambda p, l: ref_sce(p, l, axis=1, sparse_label=False)),
    Case("sce_3d_last_axis", lambda: L.SoftmaxCELoss(),
         lambda r: [randn(r, 4, 3, 5, scale=2), classes(r, 5, 4, 3)], ref_sce),
    Case("sce_batch_axis1", lambda: L.SoftmaxCELoss(batch_axis=1),
         lambda r: [randn(r, 3, 4, 5, scale=2), classes(r, 5, 3, 4)],
         lambda p, l: ref_sce(p, l, batch_axis=1), nan=(0, 1)),
    # ---- KLDivLoss --------------------------------------------------------------------
    Case("kl_from_logits", lambda: L.KLDivLoss(),
         lambda r: [log_softmax(randn(r, 8, 6), -1), probs(r, 8, 6)], ref_kl),
    Case("kl_from_logits_zero_labels", lambda: L.KLDivLoss(),
         lambda r: [log_softmax(randn(r, 4, 3), -1),
                    np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])],
         ref_kl),
    Case("kl_softmax", lambda: L.KLDivLoss(from_logits=False),
         lambda r: [randn(r, 8, 6, scale=2), probs(r, 8, 6)],
         lambda p, l: ref_kl(p, l, from_logits=False)),
    Case("kl_sw_n1_weight", lambda: L.KLDivLoss(weight=3.0),
         lambda r: [log_softmax(randn(r, 8, 6), -1), probs(r, 8, 6), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_kl(p, l, w, weight=3.0)),
    Case("kl_sw_full", lambda: L.KLDivLoss(from_logits=False),
         lambda r: [randn(r, 8, 6), probs(r, 8, 6), uniform(r, 0, 2, 8, 6)],
         lambda p, l, w: ref_kl(p, l, w, from_logits=False)),
    Case("kl_3d_axis1", lambda: L.KLDivLoss(from_logits=False, axis=1),
         lambda r: [randn(r, 4, 5, 3), probs(r, 4, 5, 3, axis=1)],
         lambda p, l: ref_kl(p, l, from_logits=False, axis=1)),
    Case("kl_batch_axis1", lambda: L.KLDivLoss(from_logits=False, axis=0, batch_axis=1),
         lambda r: [randn(r, 6, 8), probs(r, 6, 8, axis=0)],
         lambda p, l: ref_kl(p, l, from_logits=False, axis=0, batch_axis=1), nan=(0, 1)),
    # ---- CTCLoss (blank = last class = 3; labels 0..2) -------------------------------------
    Case("ctc_ntc", lambda: L.CTCLoss(),
         lambda r: [randn(r, 3, 6, 4), ctc_labels([[0, 1], [2, 2, 1], [1]], 3)], ref_ctc),
    Case("ctc_tnc", lambda: L.CTCLoss(layout="TNC"),
         lambda r: [randn(r, 6, 3, 4), ctc_labels([[0, 1], [2, 0, 1], [1, 1]], 3)],
         lambda p, l: ref_ctc(p, l, layout="TNC"), nan=(0, 1)),
    Case("ctc_label_tn", lambda: L.CTCLoss(label_layout="TN"),
         lambda r: [randn(r, 3, 6, 4), ctc_labels([[0, 1], [2, 0, 1], [1]], 3, "TN")],
         lambda p, l: ref_ctc(p, l, label_layout="TN")),
    Case("ctc_tnc_tn", lambda: L.CTCLoss(layout="TNC", label_layout="TN"),
         lambda r: [randn(r, 6, 3, 4), ctc_labels([[0, 1], [2, 0, 1], []], 3, "TN")],
         lambda p, l: ref_ctc(p, l, layout="TNC", label_layout="TN"), nan=(0, 1)),
    Case("ctc_pred_lengths", lambda: L.CTCLoss(),
         lambda r: [randn(r, 3, 6, 4), ctc_labels([[0, 1], [2, 0, 1], [1, 1]], 3),
                    np.array([6.0, 4.0, 5.0])], ref_ctc),
    Case("ctc_label_lengths", lambda: L.CTCLoss(),
         # label_lengths override the -1 padding: row 1 uses only [2, 0]
         lambda r: [randn(r, 3, 6, 4), ctc_labels([[0, 1], [2, 0, 1], [1, 2, 2]], 3), None,
                    np.array([2.0, 2.0, 3.0])], ref_ctc),
    Case("ctc_both_lengths_sw_weight", lambda: L.CTCLoss(weight=0.5),
         lambda r: [randn(r, 3, 6, 4), ctc_labels([[0, 1], [2, 0, 1], [1]], 3),
                    np.array([5.0, 6.0, 3.0]), np.array([2.0, 3.0, 1.0]), uniform(r, 0, 2, 3)],
         lambda p, l, pl, ll, w: ref_ctc(p, l, pl, ll, w, weight=0.5)),
    Case("ctc_tnc_tn_lengths", lambda: L.CTCLoss(layout="TNC", label_layout="TN"),
         lambda r: [randn(r, 6, 3, 4), ctc_labels([[0, 1], [2, 0, 1], [1]], 3, "TN"),
                    np.array([4.0, 6.0, 2.0]), np.array([2.0, 3.0, 1.0])],
         lambda p, l, pl, ll: ref_ctc(p, l, pl, ll, layout="TNC", label_layout="TN"),
         nan=(0, 1)),
    # ---- HuberLoss --------------------------------------------------------------------
    Case("huber_rho1", lambda: L.HuberLoss(),
         lambda r: [randn(r, 8, 5, scale=2), randn(r, 8, 5)], ref_huber),
    Case("huber_rho_half_sw_weight", lambda: L.HuberLoss(rho=0.5, weight=2.0),
         lambda r: [randn(r, 8, 5, scale=2), randn(r, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_huber(p, l, w, rho=0.5, weight=2.0)),
    Case("huber_rho3_sw_full_3d", lambda: L.HuberLoss(rho=3),
         lambda r: [randn(r, 4, 3, 5, scale=4), randn(r, 4, 3, 5), uniform(r, 0, 2, 4, 3, 5)],
         lambda p, l, w: ref_huber(p, l, w, rho=3)),
    Case("huber_batch_axis1", lambda: L.HuberLoss(rho=0.7, batch_axis=1),
         lambda r: [randn(r, 5, 8, scale=2), randn(r, 5, 8)],
         lambda p, l: ref_huber(p, l, rho=0.7, batch_axis=1), nan=(0, 1)),
    # ---- HingeLoss / SquaredHingeLoss ---------------------------------------------------
    Case("hinge", lambda: L.HingeLoss(), lambda r: [randn(r, 8, 5), signs(r, 8, 5)], ref_hinge),
    Case("hinge_margin_sw_weight", lambda: L.HingeLoss(margin=0.5, weight=1.5),
         lambda r: [randn(r, 8, 5), signs(r, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_hinge(p, l, w, margin=0.5, weight=1.5)),
    Case("hinge_3d_sw_full", lambda: L.HingeLoss(margin=2),
         lambda r: [randn(r, 4, 3, 5), signs(r, 4, 3, 5), uniform(r, 0, 2, 4, 3, 5)],
         lambda p, l, w: ref_hinge(p, l, w, margin=2)),
    Case("hinge_batch_axis1", lambda: L.HingeLoss(batch_axis=1),
         lambda r: [randn(r, 5, 8), signs(r, 5, 8)],
         lambda p, l: ref_hinge(p, l, batch_axis=1), nan=(0, 1)),
    Case("sqhinge", lambda: L.SquaredHingeLoss(), lambda r: [randn(r, 8, 5), signs(r, 8, 5)],
         lambda p, l: ref_hinge(p, l, squared=True)),
    Case("sqhinge_margin_sw_weight", lambda: L.SquaredHingeLoss(margin=0.5, weight=1.5),
         lambda r: [randn(r, 8, 5), signs(r, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_hinge(p, l, w, margin=0.5, weight=1.5, squared=True)),
    Case("sqhinge_3d", lambda: L.SquaredHingeLoss(margin=2),
         lambda r: [randn(r, 4, 3, 5), signs(r, 4, 3, 5)],
         lambda p, l: ref_hinge(p, l, margin=2, squared=True)),
    Case("sqhinge_batch_axis1", lambda: L.SquaredHingeLoss(batch_axis=1),
         lambda r: [randn(r, 5, 8), signs(r, 5, 8)],
         lambda p, l: ref_hinge(p, l, batch_axis=1, squared=True), nan=(0, 1)),
    # ---- LogisticLoss -----------------------------------------------------------------
    Case("logistic_signed", lambda: L.LogisticLoss(),
         lambda r: [randn(r, 8, 5, scale=3), signs(r, 8, 5)], ref_logistic),
    Case("logistic_binary", lambda: L.LogisticLoss(label_format="binary"),
         lambda r: [randn(r, 8, 5, scale=3), binary(r, 8, 5)],
         lambda p, l: ref_logistic(p, l, label_format="binary")),
    Case("logistic_sw_weight", lambda: L.LogisticLoss(weight=0.5),
         lambda r: [randn(r, 8, 5, scale=3), signs(r, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, l, w: ref_logistic(p, l, w, weight=0.5)),
    Case("logistic_binary_3d_sw_full", lambda: L.LogisticLoss(label_format="binary"),
         lambda r: [randn(r, 4, 3, 5, scale=3), binary(r, 4, 3, 5), uniform(r, 0, 2, 4, 3, 5)],
         lambda p, l, w: ref_logistic(p, l, w, label_format="binary")),
    Case("logistic_batch_axis1", lambda: L.LogisticLoss(batch_axis=1),
         lambda r: [randn(r, 5, 8, scale=3), signs(r, 5, 8)],
         lambda p, l: ref_logistic(p, l, batch_axis=1), nan=(0, 1)),
    # ---- TripletLoss ------------------------------------------------------------------
    Case("triplet", lambda: L.TripletLoss(),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), randn(r, 8, 5)], ref_triplet),
    Case("triplet_margin_weight", lambda: L.TripletLoss(margin=0.3, weight=2.0),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), randn(r, 8, 5)],
         lambda a, p, n: ref_triplet(a, p, n, margin=0.3, weight=2.0)),
    Case("triplet_3d_flat_negative", lambda: L.TripletLoss(margin=3),
         lambda r: [randn(r, 4, 3, 2), randn(r, 4, 3, 2), randn(r, 4, 6)],
         lambda a, p, n: ref_triplet(a, p, n, margin=3)),
    Case("triplet_batch_axis1", lambda: L.TripletLoss(batch_axis=1),
         lambda r: [randn(r, 5, 8), randn(r, 5, 8), randn(r, 5, 8)],
         lambda a, p, n: ref_triplet(a, p, n, batch_axis=1), nan=(0, 1)),
    # ---- PoissonNLLLoss (one output for the whole batch: no per-row NaN check) ------------
    Case("poisson_logits", lambda: L.PoissonNLLLoss(),
         lambda r: [randn(r, 8, 5), classes(r, 6, 8, 5)], ref_poisson, nan=None),
    Case("poisson_rates", lambda: L.PoissonNLLLoss(from_logits=False),
         lambda r: [uniform(r, 0.1, 5, 8, 5), classes(r, 6, 8, 5)],
         lambda p, t: ref_poisson(p, t, from_logits=False), nan=None),
    Case("poisson_rates_zero_pred", lambda: L.PoissonNLLLoss(from_logits=False, epsilon=1e-3),
         lambda r: [np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([[0.0, 3.0], [1.0, 2.0]])],
         lambda p, t: ref_poisson(p, t, from_logits=False, epsilon=1e-3), nan=None),
    Case("poisson_full_logits", lambda: L.PoissonNLLLoss(compute_full=True),
         # targets 0, 1, 2, ... : Stirling term only where target > 1
         lambda r: [randn(r, 8, 5), classes(r, 6, 8, 5)],
         lambda p, t: ref_poisson(p, t, compute_full=True), nan=None),
    Case("poisson_full_rates_sw_weight",
         lambda: L.PoissonNLLLoss(from_logits=False, compute_full=True, weight=0.5),
         lambda r: [uniform(r, 0.1, 5, 8, 5), classes(r, 6, 8, 5), uniform(r, 0, 2, 8, 1)],
         lambda p, t, w: ref_poisson(p, t, w, from_logits=False, compute_full=True, weight=0.5),
         nan=None),
    Case("poisson_3d_sw_full", lambda: L.PoissonNLLLoss(),
         lambda r: [randn(r, 4, 3, 5), classes(r, 4, 4, 3, 5), uniform(r, 0, 2, 4, 3, 5)],
         ref_poisson, nan=None),
    # ---- CosineEmbeddingLoss -------------------------------------------------------------
    Case("cosine", lambda: L.CosineEmbeddingLoss(),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), signs(r, 8)], ref_cosine),
    Case("cosine_margin_sw_weight", lambda: L.CosineEmbeddingLoss(margin=0.3, weight=2.0),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), signs(r, 8), uniform(r, 0, 2, 8, 1)],
         lambda a, b, l, w: ref_cosine(a, b, l, w, margin=0.3, weight=2.0)),
    Case("cosine_negative_margin", lambda: L.CosineEmbeddingLoss(margin=-0.5),
         lambda r: [randn(r, 8, 5), randn(r, 8, 5), signs(r, 8, 1)],
         lambda a, b, l: ref_cosine(a, b, l, margin=-0.5)),
    # zero vectors (cos = 0) and tiny ones whose |x||y| < 1e-12, where the clamp changes cos
    Case("cosine_zero_and_tiny_vectors", lambda: L.CosineEmbeddingLoss(),
         lambda r: [np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0],
                              [1e-7, 0.0, 0.0], [1e-7, 0.0, 0.0]]),
                    np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0], [1.0, 1.0, 1.0],
                              [1e-7, 1e-7, 0.0], [1e-7, 1e-7, 0.0]]),
                    np.array([1.0, 1.0, -1.0, 1.0, -1.0])], ref_cosine, nan=None),
    # ---- SDMLLoss ---------------------------------------------------------------------
    Case("sdml", lambda: L.SDMLLoss(), lambda r: [randn(r, 5, 4), randn(r, 5, 4)], ref_sdml),
    Case("sdml_s01_weight", lambda: L.SDMLLoss(smoothing_parameter=0.1, weight=2.0),
         lambda r: [randn(r, 6, 3), randn(r, 6, 3)], lambda a, b: ref_sdml(a, b, 0.1, 2.0)),
    Case("sdml_s0", lambda: L.SDMLLoss(smoothing_parameter=0.0),
         lambda r: [randn(r, 4, 3, scale=0.5), randn(r, 4, 3, scale=0.5)],
         lambda a, b: ref_sdml(a, b, 0.0)),
]
CASE_IDS = [c.name for c in CASES]


def call_case(case: Case, hybridize: bool, arrays: list):
    block = case.make()
    kw_pos = case.kwargs or {}
    kw = {name: arrays[i] for name, i in kw_pos.items()}
    pos = [a for i, a in enumerate(arrays) if i not in kw_pos.values()]
    return run(block, hybridize, *pos, **kw)


def make_inputs(case: Case, dtype):
    raw = case.gen(np.random.RandomState(seed_of(case.name)))
    return [None if a is None else np.asarray(a, dtype=dtype) for a in raw]


# --------------------------------------------------------------------------------------
# every case x {eager, hybrid} x {float32, float64}
# --------------------------------------------------------------------------------------
@MODES
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_matches_formula(case, dtype, hybridize):
    arrays = make_inputs(case, dtype)
    want = case.ref(*[f64(a) for a in arrays])
    got = call_case(case, hybridize, arrays)
    assert got.shape == want.shape
    assert got.dtype == dtype
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, **TOL[dtype])


def test_every_loss_is_covered():
    covered = {type(c.make()).__name__ for c in CASES}
    assert covered == {"L2Loss", "L1Loss", "SigmoidBinaryCrossEntropyLoss",
                       "SoftmaxCrossEntropyLoss", "KLDivLoss", "CTCLoss", "HuberLoss",
                       "HingeLoss", "SquaredHingeLoss", "LogisticLoss", "TripletLoss",
                       "PoissonNLLLoss", "CosineEmbeddingLoss", "SDMLLoss"}


# --------------------------------------------------------------------------------------
# NaN in one row: that row's output is NaN, the others finite and unchanged
# --------------------------------------------------------------------------------------
NAN_CASES = [c for c in CASES if c.nan is not None]


@MODES
@pytest.mark.parametrize("case", NAN_CASES, ids=[c.name for c in NAN_CASES])
def test_nan_stays_in_its_row(case, hybridize):
    arrays = make_inputs(case, np.float32)
    want = case.ref(*[f64(a) for a in arrays])
    which, axis = case.nan
    poisoned = [None if a is None else a.copy() for a in arrays]
    idx = [slice(None)] * poisoned[which].ndim
    idx[axis] = 1
    poisoned[which][tuple(idx)] = np.nan
    got = call_case(case, hybridize, poisoned)
    assert got.shape == want.shape
    assert np.all(np.isnan(got[1])), got
    rest = np.delete(np.arange(got.shape[0]), 1)
    assert np.all(np.isfinite(got[rest])), got
    np.testing.assert_allclose(got[rest], want[rest], **TOL[np.float32])


# NaN in a label / sample_weight / second input instead of pred: (case name, input index)
NAN_OTHER = [("l2_basic", 1), ("l2_sw_n1", 2), ("bce_logits", 1), ("bce_pos_weight_full_and_sw", 3),
             ("sce_sparse", 1), ("sce_dense", 1), ("sce_sparse_sw_n1_weight", 2),
             ("kl_softmax", 1), ("huber_rho1", 1), ("hinge", 1), ("logistic_binary", 1),
             ("triplet", 2), ("cosine", 1), ("ctc_both_lengths_sw_weight", 4)]


@MODES
@pytest.mark.parametrize("name, which", NAN_OTHER, ids=[f"{n}-in{i}" for n, i in NAN_OTHER])
def test_nan_in_other_input_stays_in_its_row(name, which, hybridize):
    case = next(c for c in CASES if c.name == name)
    arrays = make_inputs(case, np.float32)
    want = case.ref(*[f64(a) for a in arrays])
    poisoned = [None if a is None else a.copy() for a in arrays]
    poisoned[which][1] = np.nan
    got = call_case(case, hybridize, poisoned)
    assert np.all(np.isnan(got[1])), got
    rest = np.delete(np.arange(got.shape[0]), 1)
    assert np.all(np.isfinite(got[rest])), got
    np.testing.assert_allclose(got[rest], want[rest], **TOL[np.float32])


@MODES
def test_cosine_label_neither_1_nor_minus_1_gives_zero(hybridize):
    """MXNet 1.9.1 masks with (label == 1) and (label == -1): any other label -- 0, 0.5 and
    also NaN -- selects neither branch, so that row's loss is 0 (not NaN)."""
    rng = np.random.RandomState(5)
    a, b = rng.randn(5, 4).astype(np.float32), rng.randn(5, 4).astype(np.float32)
    label = np.array([1.0, 0.0, np.nan, 0.5, -1.0], np.float32)
    got = run(L.CosineEmbeddingLoss(), hybridize, a, b, label)
    want = ref_cosine(f64(a), f64(b), f64(label))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[1:4], 0.0)
    np.testing.assert_allclose(got, want, **TOL[np.float32])


@MODES
def test_poisson_nan_poisons_the_single_output(hybridize):
    pred = np.random.RandomState(0).randn(4, 3).astype(np.float32)
    pred[2, 1] = np.nan
    got = run(L.PoissonNLLLoss(), hybridize, pred, np.ones((4, 3), np.float32))
    assert got.shape == (1,) and np.isnan(got[0])


@MODES
def test_sdml_nan_in_x2_row_reaches_every_row(hybridize):
    """x2 row j enters every row's softmax: the documented exception to row isolation."""
    rng = np.random.RandomState(1)
    x1, x2 = rng.randn(4, 3).astype(np.float32), rng.randn(4, 3).astype(np.float32)
    x2[2] = np.nan
    got = run(L.SDMLLoss(), hybridize, x1, x2)
    assert got.shape == (4,) and np.all(np.isnan(got))


@MODES
def test_ctc_nan_past_pred_length_is_ignored(hybridize):
    rng = np.random.RandomState(2)
    pred = rng.randn(2, 6, 4).astype(np.float32)
    label = ctc_labels([[0, 1], [2]], 2).astype(np.float32)
    lengths = np.array([4, 6], np.float32)
    want = ref_ctc(f64(pred), f64(label), f64(lengths))
    pred[0, 4:] = np.nan
    got = run(L.CTCLoss(), hybridize, pred, label, lengths)
    np.testing.assert_allclose(got, want, **TOL[np.float32])


# --------------------------------------------------------------------------------------
# extreme logits (|x| up to 1e4): finite, and equal to a stable float64 formula
# --------------------------------------------------------------------------------------
def extreme(rng, *shape):
    x = rng.uniform(-1e4, 1e4, size=shape)
    flat = x.reshape(-1)
    flat[:4] = [1e4, -1e4, 0.0, 1e4]
    return x


EXTREME = [
    Case("bce_logits", lambda: L.SigmoidBCELoss(),
         lambda r: [extreme(r, 6, 5), binary(r, 6, 5)], ref_bce),
    Case("bce_pos_weight", lambda: L.SigmoidBCELoss(),
         lambda r: [extreme(r, 6, 5), binary(r, 6, 5), None, uniform(r, 0.5, 3, 1, 5)],
         lambda p, l, sw, pw: ref_bce(p, l, sw, pw)),
    Case("logistic_signed", lambda: L.LogisticLoss(),
         lambda r: [extreme(r, 6, 5), signs(r, 6, 5)], ref_logistic),
    Case("logistic_binary", lambda: L.LogisticLoss(label_format="binary"),
         lambda r: [extreme(r, 6, 5), binary(r, 6, 5)],
         lambda p, l: ref_logistic(p, l, label_format="binary")),
    Case("sce_sparse", lambda: L.SoftmaxCELoss(),
         lambda r: [extreme(r, 6, 5), classes(r, 5, 6)], ref_sce),
    Case("sce_dense", lambda: L.SoftmaxCELoss(sparse_label=False),
         lambda r: [extreme(r, 6, 5), probs(r, 6, 5)],
         lambda p, l: ref_sce(p, l, sparse_label=False)),
    Case("sce_axis1_3d", lambda: L.SoftmaxCELoss(axis=1),
         lambda r: [extreme(r, 3, 5, 2), classes(r, 5, 3, 2)], lambda p, l: ref_sce(p, l, axis=1)),
    Case("kl_softmax", lambda: L.KLDivLoss(from_logits=False),
         lambda r: [extreme(r, 6, 5), probs(r, 6, 5)],
         lambda p, l: ref_kl(p, l, from_logits=False)),
    Case("ctc", lambda: L.CTCLoss(),
         lambda r: [extreme(r, 3, 5, 4), ctc_labels([[0, 1], [2, 2], [1]], 2)], ref_ctc),
    Case("hinge", lambda: L.HingeLoss(),
         lambda r: [extreme(r, 6, 5), signs(r, 6, 5)], ref_hinge),
    Case("huber", lambda: L.HuberLoss(),
         lambda r: [extreme(r, 6, 5), randn(r, 6, 5)], ref_huber),
]


@MODES
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", EXTREME, ids=[c.name for c in EXTREME])
def test_extreme_logits(case, dtype, hybridize):
    arrays = make_inputs(case, dtype)
    want = case.ref(*[f64(a) for a in arrays])
    assert np.all(np.isfinite(want))
    got = call_case(case, hybridize, arrays)
    assert got.dtype == dtype and got.shape == want.shape
    assert np.all(np.isfinite(got)), got
    np.testing.assert_allclose(got, want, **TOL[dtype])


# --------------------------------------------------------------------------------------
# spot checks with hand-computed numbers (guards the reference formulas themselves)
# --------------------------------------------------------------------------------------
def test_ctc_reference_matches_brute_force():
    rng = np.random.RandomState(3)
    for labels in ([], [0], [1, 1], [0, 1], [2, 0, 2]):
        for T in (3, 4):
            x = rng.randn(T, 3 if max(labels, default=0) < 2 else 4)
            blank = x.shape[1] - 1
            if len(labels) + sum(a == b for a, b in zip(labels, labels[1:])) > T:
                continue
            assert ctc_nll(x, labels, blank) == pytest.approx(ctc_brute(x, labels, blank),
                                                             rel=1e-12)


@MODES
def test_ctc_brute_force_direct(hybridize):
    rng = np.random.RandomState(4)
    pred = rng.randn(2, 4, 3)                       # NTC, C=3: blank 2, labels 0..1
    label = np.array([[0, 0], [1, -1]], np.float64)
    got = run(L.CTCLoss(), hybridize, pred, label)
    want = [ctc_brute(pred[0], [0, 0], 2), ctc_brute(pred[1], [1], 2)]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10)


@MODES
def test_ctc_uniform_activations_closed_form(hybridize):
    # uniform softmax over C classes: p(path) = C**-T, loss = T log C - log(#paths)
    # label [0] with T=3: valid paths are 0bb? -> count of alignments of "0" in 3 frames
    # with blank b: {0bb, b0b, bb0, 00b, b00, 000} = 6
    got = run(L.CTCLoss(), hybridize, np.zeros((1, 3, 3), np.float32),
              np.array([[0.0, -1.0]], np.float32))
    np.testing.assert_allclose(got, [3 * math.log(3) - math.log(6)], rtol=1e-6)


@MODES
def test_hand_computed_values(hybridize):
    # L2: 0.5 * mean([1, 4]) = 1.25 ; L1: mean([1, 2]) = 1.5
    p, l = np.array([[0.0, 0.0]], np.float32), np.array([[1.0, -2.0]], np.float32)
    np.testing.assert_allclose(run(L.L2Loss(), hybridize, p, l), [1.25])
    np.testing.assert_allclose(run(L.L1Loss(), hybridize, p, l), [1.5])
    # Huber rho=1: |d|=1 -> 0.5 ; |d|=2 -> 1.5 ; mean 1.0
    np.testing.assert_allclose(run(L.HuberLoss(), hybridize, p, l), [1.0])
    # Hinge: label 1, pred 0.25 -> 0.75 ; label -1, pred 0.5 -> 1.5 ; mean 1.125
    hp, hl = np.array([[0.25, 0.5]], np.float32), np.array([[1.0, -1.0]], np.float32)
    np.testing.assert_allclose(run(L.HingeLoss(), hybridize, hp, hl), [1.125])
    np.testing.assert_allclose(run(L.SquaredHingeLoss(), hybridize, hp, hl),
                               [(0.75 ** 2 + 1.5 ** 2) / 2])
    # BCE with logit 0: log 2 whatever the label
    np.testing.assert_allclose(run(L.SigmoidBCELoss(), hybridize, np.zeros((2, 3), np.float32),
                                   np.array([[0, 1, 1], [1, 0, 0]], np.float32)),
                               [math.log(2)] * 2, rtol=1e-6)
    # Cosine: identical vectors, label 1 -> 0 ; opposite vectors, label -1 -> 0 ;
    # orthogonal, label 1 -> 1
    a = np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 0.0]], np.float32)
    b = np.array([[2.0, 4.0], [-3.0, 0.0], [0.0, 5.0]], np.float32)
    got = run(L.CosineEmbeddingLoss(), hybridize, a, b, np.array([1.0, -1.0, 1.0], np.float32))
    assert got.shape == (3, 1)
    np.testing.assert_allclose(got, [[0.0], [0.0], [1.0]], atol=1e-6)
    # Poisson (logits): mean(exp(0) - 2*0) = 1 ; shape (1,)
    got = run(L.PoissonNLLLoss(), hybridize, np.zeros((2, 2), np.float32),
              np.full((2, 2), 2.0, np.float32))
    assert got.shape == (1,)
    np.testing.assert_allclose(got, [1.0])
    # Triplet: |p - a|^2 = 1, |n - a|^2 = 4, margin 1 -> relu(1 - 4 + 1) = 0 ; swapped -> 4
    a, pos, neg = (np.array([[0.0, 0.0]], np.float32), np.array([[1.0, 0.0]], np.float32),
                   np.array([[0.0, 2.0]], np.float32))
    np.testing.assert_allclose(run(L.TripletLoss(), hybridize, a, pos, neg), [0.0])
    np.testing.assert_allclose(run(L.TripletLoss(), hybridize, a, neg, pos), [4.0])


@MODES
def test_sdml_identical_pairs_far_apart(hybridize):
    """x1 == x2 and the rows far apart: softmax is one-hot, so with s = 0 the loss is
    log(1 + 1e-12) ~ 1e-12 (MXNet's epsilon, computed with log, not log1p) and with s > 0
    it is dominated by the s/(n-1) mass on huge distances."""
    x = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], np.float64)
    got = run(L.SDMLLoss(smoothing_parameter=0.0), hybridize, x, x)
    np.testing.assert_allclose(got, [np.log(1.0 + 1e-12)] * 3, rtol=1e-10)
    assert np.all(got < 2e-12)
    got = run(L.SDMLLoss(smoothing_parameter=0.2), hybridize, x, x)
    np.testing.assert_allclose(got, ref_sdml(x, x, 0.2), rtol=1e-10)
    assert np.all(got > 1.0)
