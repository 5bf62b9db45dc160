"""The fourteen Gluon losses, each a few F-API lines (F is ``nd`` or ``sym``).

Numbers follow Apache MXNet 1.9.1; where 1.9.1 could not hybridize a loss
(PoissonNLLLoss with compute_full, SDMLLoss) the same code works in both modes here,
because traced symbols know their shapes.
"""
from __future__ import annotations

import math
import numbers

from .block import HybridBlock

__all__ = [
    "CTCLoss",
    "CosineEmbeddingLoss",
    "HingeLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "L2Loss",
    "LogisticLoss",
    "Loss",
    "PoissonNLLLoss",
    "SDMLLoss",
    "SigmoidBCELoss",
    "SigmoidBinaryCrossEntropyLoss",
    "SoftmaxCELoss",
    "SoftmaxCrossEntropyLoss",
    "SquaredHingeLoss",
    "TripletLoss",
]


def _number(cls: str, name: str, value, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{cls}: {name} must be a number{' or None' if allow_none else ''}, "
                        f"got {value!r}")
    return value


def _apply_weighting(F, loss, weight=None, sample_weight=None):
    """Multiply by a per-element sample_weight (broadcast) and a global scalar weight."""
    if sample_weight is not None:
        loss = F.broadcast_mul(loss, sample_weight)
    if weight is not None:
        loss = loss * weight
    return loss


class Loss(HybridBlock):
    """Base class for losses: a global scalar ``weight`` and the ``batch_axis``."""

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self._weight = _number(name, "weight", weight)
        if isinstance(batch_axis, bool) or not isinstance(batch_axis, int):
            raise TypeError(f"{name}: batch_axis must be an int, got {batch_axis!r}")
        self._batch_axis = batch_axis

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_axis={self._batch_axis}, w={self._weight})"

    def _batch_mean(self, F, loss):
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class L2Loss(Loss):
    r"""Half the mean squared error: :math:`L = \frac{1}{2} \sum_i (label_i - pred_i)^2`,
    averaged over every axis but ``batch_axis``.  Inputs: pred, label, sample_weight=None."""

    def __init__(self, weight=1.0, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = F.reshape_like(label, pred)
        loss = F.square(label - pred)
        half = 0.5 if self._weight is None else self._weight / 2
        return self._batch_mean(F, _apply_weighting(F, loss, half, sample_weight))


class L1Loss(Loss):
    r"""Mean absolute error :math:`L = \sum_i |label_i - pred_i|`, averaged over non-batch axes."""

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = F.reshape_like(label, pred)
        loss = F.abs(label - pred)
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


class SigmoidBinaryCrossEntropyLoss(Loss):
    """Binary cross-entropy on logits (stable: relu(x) - x*z + softrelu(-|x|)) or, with
    ``from_sigmoid=True``, on probabilities.  Inputs: pred, label, sample_weight=None,
    pos_weight=None (MXNet 1.9.1's order; pos_weight broadcasts against label)."""

    def __init__(self, from_sigmoid=False, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = bool(from_sigmoid)

    def hybrid_forward(self, F, pred, label, sample_weight=None, pos_weight=None):
        label = F.reshape_like(label, pred)
        if not self._from_sigmoid:
            softplus_neg_abs = F.Activation(-F.abs(pred), act_type="softrelu")
            if pos_weight is None:
                loss = F.relu(pred) - pred * label + softplus_neg_abs
            else:
                log_weight = 1 + F.broadcast_mul(pos_weight - 1, label)
                loss = pred - pred * label + log_weight * (softplus_neg_abs + F.relu(-pred))
        else:
            eps = 1e-12
            pos_term = F.log(pred + eps) * label
            if pos_weight is not None:
                pos_term = F.broadcast_mul(pos_term, pos_weight)
            loss = -(pos_term + F.log(1.0 - pred + eps) * (1.0 - label))
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


class SoftmaxCrossEntropyLoss(Loss):
    """Softmax cross-entropy.  ``sparse_label=True``: label holds class indices (pred's
    shape without ``axis``); otherwise a distribution shaped like pred."""

    def __init__(self, axis=-1, sparse_label=True, from_logits=False, weight=None,
                 batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = axis
        self._sparse_label = bool(sparse_label)
        self._from_logits = bool(from_logits)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, self._axis)
        if self._sparse_label:
            loss = -F.pick(pred, label, axis=self._axis, keepdims=True)
        else:
            label = F.reshape_like(label, pred)
            loss = -F.sum(pred * label, axis=self._axis, keepdims=True)
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


SoftmaxCELoss = SoftmaxCrossEntropyLoss


class KLDivLoss(Loss):
    """Kullback-Leibler divergence sum(label * (log(label) - pred)) over non-batch axes
    (MXNet 1.9.1 sums); pred is log-probabilities, or logits with ``from_logits=False``."""

    def __init__(self, from_logits=True, axis=-1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = bool(from_logits)
        self._axis = axis

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, self._axis)
        loss = label * (F.log(label + 1e-12) - pred)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return F.sum(loss, axis=self._batch_axis, exclude=True)


class CTCLoss(Loss):
    """Connectionist Temporal Classification.  pred is NTC or TNC activations (blank is the
    last class), label NT or TN, padded with -1.  Inputs: pred, label, pred_lengths=None,
    label_lengths=None, sample_weight=None."""

    def __init__(self, layout="NTC", label_layout="NT", weight=None, **kwargs):
        if layout not in ("NTC", "TNC"):
            raise ValueError(f"CTCLoss: layout must be 'NTC' or 'TNC', got {layout!r}")
        if label_layout not in ("NT", "TN"):
            raise ValueError(f"CTCLoss: label_layout must be 'NT' or 'TN', got {label_layout!r}")
        self._layout = layout
        self._label_layout = label_layout
        super().__init__(weight, label_layout.find("N"), **kwargs)

    def hybrid_forward(self, F, pred, label, pred_lengths=None, label_lengths=None,
                       sample_weight=None):
        if self._layout == "NTC":
            pred = F.swapaxes(pred, 0, 1)
        if self._batch_axis == 1:
            label = F.swapaxes(label, 0, 1)
        loss = F.CTCLoss(pred, label, pred_lengths, label_lengths,
                         use_data_lengths=pred_lengths is not None,
                         use_label_lengths=label_lengths is not None, blank_label="last")
        return _apply_weighting(F, loss, self._weight, sample_weight)


class HuberLoss(Loss):
    """Smoothed L1: |d| - rho/2 where |d| > rho, else d^2 / (2 rho)."""

    def __init__(self, rho=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._rho = _number("HuberLoss", "rho", rho, allow_none=False)
        if self._rho <= 0:
            raise ValueError(f"HuberLoss: rho must be positive, got {rho!r}")

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = F.reshape_like(label, pred)
        loss = F.abs(label - pred)
        loss = F.where(loss > self._rho, loss - 0.5 * self._rho,
                       (0.5 / self._rho) * F.square(loss))
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


class HingeLoss(Loss):
    """max(0, margin - pred * label), labels -1 or 1."""

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = _number("HingeLoss", "margin", margin, allow_none=False)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = F.reshape_like(label, pred)
        loss = F.relu(self._margin - pred * label)
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


class SquaredHingeLoss(Loss):
    """max(0, margin - pred * label)^2, labels -1 or 1."""

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = _number("SquaredHingeLoss", "margin", margin, allow_none=False)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = F.reshape_like(label, pred)
        loss = F.square(F.relu(self._margin - pred * label))
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


class LogisticLoss(Loss):
    """log(1 + exp(-pred * label)) with labels -1/1 (``label_format='signed'``) or 0/1
    (``'binary'``), computed stably."""

    def __init__(self, weight=None, batch_axis=0, label_format="signed", **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        if label_format not in ("signed", "binary"):
            raise ValueError(f"LogisticLoss: label_format must be 'signed' or 'binary', "
                             f"got {label_format!r}")
        self._label_format = label_format

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = F.reshape_like(label, pred)
        if self._label_format == "signed":
            label = (label + 1.0) / 2.0
        loss = F.relu(pred) - pred * label + F.Activation(-F.abs(pred), act_type="softrelu")
        return self._batch_mean(F, _apply_weighting(F, loss, self._weight, sample_weight))


class TripletLoss(Loss):
    """max(0, |positive - pred|^2 - |negative - pred|^2 + margin), summed per sample."""

    def __init__(self, margin=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = _number("TripletLoss", "margin", margin, allow_none=False)

    def hybrid_forward(self, F, pred, positive, negative):
        positive = F.reshape_like(positive, pred)
        negative = F.reshape_like(negative, pred)
        loss = F.sum(F.square(positive - pred) - F.square(negative - pred),
                     axis=self._batch_axis, exclude=True)
        loss = F.relu(loss + self._margin)
        return _apply_weighting(F, loss, self._weight, None)


class PoissonNLLLoss(Loss):
    """Poisson negative log-likelihood, averaged over all elements (output shape (1,)).
    ``from_logits=True``: exp(pred) - target*pred; else pred - target*log(pred + epsilon).
    ``compute_full`` adds Stirling's term for targets > 1."""

    def __init__(self, weight=None, from_logits=True, batch_axis=0, compute_full=False,
                 epsilon=1e-08, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = bool(from_logits)
        self._compute_full = bool(compute_full)
        self._epsilon = _number("PoissonNLLLoss", "epsilon", epsilon, allow_none=False)

    def hybrid_forward(self, F, pred, target, sample_weight=None):
        target = F.reshape_like(target, pred)
        if self._from_logits:
            loss = F.exp(pred) - target * pred
        else:
            loss = pred - target * F.log(pred + self._epsilon)
        if self._compute_full:
            stirling = target * F.log(target) - target + 0.5 * F.log(2 * math.pi * target)
            # where(), not MXNet's multiply-by-mask: 0 * log(0) would turn targets of 0 into NaN
            loss = loss + F.where(target > 1, stirling, F.zeros_like(target))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return F.mean(loss)


class CosineEmbeddingLoss(Loss):
    """1 - cos(input1, input2) for label 1, max(0, cos - margin) for label -1; output
    shape (batch, 1) as in MXNet 1.9.1."""

    def __init__(self, weight=None, batch_axis=0, margin=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = _number("CosineEmbeddingLoss", "margin", margin, allow_none=False)

    def hybrid_forward(self, F, input1, input2, label, sample_weight=None):
        input1 = F.reshape_like(input1, input2)
        label = label.reshape((-1, 1))
        cos_sim = self._cosine_similarity(F, input1, input2)
        similar = (1 - cos_sim) * (label == 1)
        zero = F.zeros((1, 1), dtype=cos_sim.dtype)
        dissimilar = F.broadcast_maximum(zero, (label == -1) * (cos_sim - self._margin))
        loss = similar + dissimilar
        return _apply_weighting(F, loss, self._weight, sample_weight)

    @staticmethod
    def _cosine_similarity(F, x, y, axis=-1):
        x_norm = F.norm(x, axis=axis).reshape((-1, 1))
        y_norm = F.norm(y, axis=axis).reshape((-1, 1))
        x_dot_y = F.sum(x * y, axis=axis).reshape((-1, 1))
        eps = F.full((1, 1), 1e-12, dtype=x_dot_y.dtype)
        return x_dot_y / F.broadcast_maximum(x_norm * y_norm, eps)


class SDMLLoss(Loss):
    """Smoothed Deep Metric Learning loss (Bonadiman et al., 2019): KL divergence between
    softmax(-squared distances) of every x1 row to every x2 row and a smoothed identity."""

    def __init__(self, smoothing_parameter=0.3, weight=1.0, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        s = _number("SDMLLoss", "smoothing_parameter", smoothing_parameter, allow_none=False)
        if not 0 <= s < 1:
            raise ValueError(f"SDMLLoss: smoothing_parameter must be in [0, 1), got {s!r}")
        self.smoothing_parameter = s
        self.kl_loss = KLDivLoss(from_logits=True)

    def hybrid_forward(self, F, x1, x2):
        if len(x1.shape) != 2 or tuple(x1.shape) != tuple(x2.shape):
            raise ValueError(f"x1 and x2 must both be (batch_size, vector_dim), got "
                             f"{tuple(x1.shape)} and {tuple(x2.shape)}")
        batch_size = x1.shape[0]
        if batch_size < 2:
            raise ValueError(f"needs a batch of at least 2 pairs, got {batch_size}")
        distances = F.sum(F.square(F.expand_dims(x1, 1) - F.expand_dims(x2, 0)), axis=2)
        log_probabilities = F.log_softmax(-distances, axis=1)
        gold = F.eye(batch_size, dtype=x1.dtype)
        s = self.smoothing_parameter
        labels = gold * (1 - s) + (1 - gold) * (s / (batch_size - 1))
        return _apply_weighting(F, self.kl_loss(log_probabilities, labels), self._weight)
