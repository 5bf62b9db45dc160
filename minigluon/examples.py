"""Typical inputs for each loss, shared by the demo and the benchmarks."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .gluon import loss as L


def _pair(rng, n, c):
    return [rng.standard_normal((n, c)), rng.standard_normal((n, c))]


def _signed(rng, n, c):
    return [rng.standard_normal((n, c)), np.where(rng.random((n, c)) < 0.5, -1.0, 1.0)]


def _ctc(rng, n, c):
    t, labels = max(c, 4), max(1, min(c // 2, 4))
    label = rng.integers(0, c - 1, (n, labels)).astype(float)
    label[:, labels - 1:] = -1  # pad the tail
    return [rng.standard_normal((n, t, c)), label]


# name -> (constructor, inputs(rng, batch, classes) as float64 numpy arrays)
EXAMPLES: dict[str, tuple[Callable, Callable]] = {
    "L2Loss": (L.L2Loss, _pair),
    "L1Loss": (L.L1Loss, _pair),
    "SigmoidBCELoss": (L.SigmoidBCELoss,
                       lambda r, n, c: [r.standard_normal((n, c)), (r.random((n, c)) < .5) * 1.0]),
    "SoftmaxCELoss": (L.SoftmaxCELoss,
                      lambda r, n, c: [r.standard_normal((n, c)), r.integers(0, c, n) * 1.0]),
    "KLDivLoss": (lambda: L.KLDivLoss(from_logits=False),
                  lambda r, n, c: [r.standard_normal((n, c)), r.dirichlet(np.ones(c), n)]),
    "CTCLoss": (L.CTCLoss, _ctc),
    "HuberLoss": (L.HuberLoss, _pair),
    "HingeLoss": (L.HingeLoss, _signed),
    "SquaredHingeLoss": (L.SquaredHingeLoss, _signed),
    "LogisticLoss": (L.LogisticLoss, _signed),
    "TripletLoss": (L.TripletLoss, lambda r, n, c: _pair(r, n, c) + [r.standard_normal((n, c))]),
    "PoissonNLLLoss": (lambda: L.PoissonNLLLoss(compute_full=True),
                       lambda r, n, c: [r.standard_normal((n, c)), r.poisson(3.0, (n, c)) * 1.0]),
    "CosineEmbeddingLoss": (L.CosineEmbeddingLoss,
                            lambda r, n, c: _pair(r, n, c) + [np.where(r.random(n) < .5, -1., 1.)]),
    "SDMLLoss": (L.SDMLLoss, _pair),
}


def example(name: str, batch: int, classes: int, seed: int = 0, dtype: str = "float32"):
    """(loss block, list of numpy inputs) for one loss."""
    make, inputs = EXAMPLES[name]
    rng = np.random.default_rng(seed)
    return make(), [a.astype(dtype) for a in inputs(rng, batch, classes)]
