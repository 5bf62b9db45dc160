"""Trainer: apply an optimizer to a block's parameters after ``backward()``.

``trainer.step(batch_size)`` updates every parameter with a gradient in place (MXNet's
``rescale_grad = 1 / batch_size``).  Updates are numpy arithmetic on the parameters' memory,
outside autograd, as MXNet's are.  A parameter whose gradient backward() has not written
since the last step is stale: step refuses it, as MXNet does, unless
``ignore_stale_grad=True``, which skips it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import autograd
from ..base import MXNetError
from .parameter import Parameter


class StaleGradientError(MXNetError, UserWarning):
    """Trainer.step on a gradient backward() has not updated since the last step.  MXNet
    1.9.1 raises a UserWarning there; this is one, and an MXNetError."""


class Trainer:
    """``Trainer(params, 'sgd' | 'adam', {'learning_rate': ..., 'momentum': ..., 'wd': ...})``."""

    _DEFAULTS = {"sgd": {"learning_rate": 0.01, "momentum": 0.0, "wd": 0.0},
                 "adam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999,
                          "epsilon": 1e-8, "wd": 0.0}}

    def __init__(self, params: Any, optimizer: str = "sgd", optimizer_params: dict | None = None,
                 kvstore: Any = None):
        items = params.values() if isinstance(params, dict) else params
        self._params: list[Parameter] = list(items)
        if not all(isinstance(p, Parameter) for p in self._params):
            raise TypeError("Trainer: params must be Parameters (block.collect_params())")
        name = optimizer.lower()
        if name not in self._DEFAULTS:
            raise ValueError(f"Trainer: unknown optimizer {optimizer!r} (have: "
                             f"{', '.join(self._DEFAULTS)})")
        given = dict(optimizer_params or {})
        unknown = set(given) - set(self._DEFAULTS[name]) - {"rescale_grad", "clip_gradient"}
        if unknown:
            raise ValueError(f"Trainer: {optimizer} has no option {sorted(unknown)[0]!r} "
                             f"(options: {', '.join(self._DEFAULTS[name])})")
        self._name, self._opts = name, {**self._DEFAULTS[name], **given}
        self._state: dict[int, Any] = {}

    @property
    def learning_rate(self) -> float:
        return self._opts["learning_rate"]

    def set_learning_rate(self, lr: float) -> None:
        self._opts["learning_rate"] = float(lr)

    def step(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """One update from the gradients backward() wrote since the last step, scaled by
        1 / batch_size.  A parameter without one raises StaleGradientError, or, with
        ``ignore_stale_grad=True``, keeps its value."""
        scale = self._opts.get("rescale_grad", 1.0) / batch_size
        clip = self._opts.get("clip_gradient")
        params = [p for p in self._params if p.grad_req != "null"]
        for p in params:
            if p.data().grad is None:
                raise MXNetError(f"Trainer: parameter {p.name} has no gradient buffer")
        stale = [p.name for p in params if not autograd.grad_is_fresh(p.data())]
        if stale and not ignore_stale_grad:
            raise StaleGradientError(
                f"Trainer.step: the gradient of parameter(s) {', '.join(stale)} has not been "
                f"updated by backward since the last step. This could mean a bug in your "
                f"model that made it use only a subset of the parameters (blocks) for this "
                f"iteration. If you are intentionally only using a subset, call step with "
                f"ignore_stale_grad=True to skip updating the parameters with a stale gradient")
        for p in params:
            w = p.data()
            if p.name in stale:
                continue
            g = w.grad._data * scale
            if clip is not None:
                g = np.clip(g, -clip, clip)
            w._data[...] = self._update(id(p), w._data, g)
            autograd.mark_stale(w)

    def _update(self, key: int, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        o = self._opts
        g = g + o["wd"] * w
        if self._name == "sgd":
            if not o["momentum"]:
                return w - o["learning_rate"] * g
            mom = self._state.get(key, np.zeros_like(w))
            mom = o["momentum"] * mom - o["learning_rate"] * g
            self._state[key] = mom
            return w + mom
        m, v, t = self._state.get(key, (np.zeros_like(w), np.zeros_like(w), 0))
        m = o["beta1"] * m + (1 - o["beta1"]) * g
        v = o["beta2"] * v + (1 - o["beta2"]) * g * g
        t += 1  # this parameter's own count: a skipped (stale) step does not advance it
        self._state[key] = (m, v, t)
        # a Python float, so the update is computed in w's dtype (as MXNet), not float64
        lr = float(o["learning_rate"] * np.sqrt(1 - o["beta2"] ** t) / (1 - o["beta1"] ** t))
        return w - lr * m / (np.sqrt(v) + o["epsilon"])
