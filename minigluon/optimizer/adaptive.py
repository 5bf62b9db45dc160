"""Adam, RMSProp, AdaGrad and AdaDelta, as MXNet 1.9.1 computes them.

Adam and RMSProp follow MXNet's fused kernels (weight decay added to the gradient before
clipping); AdaGrad and AdaDelta follow its Python rules (weight decay applied to the
weight, clipping whenever ``clip_gradient`` is not None).  Arithmetic is in the weight's
dtype, scalars rounded to it first, in the kernels' order of operations.  States are in
the weight's dtype (MXNet allocates AdaGrad's, RMSProp's and AdaDelta's as float32, which
is the same for the float32 weights it supports them on).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from ..ndarray import NDArray
from .optimizer import Optimizer, check_pair, clip, kernel_scalar, memory, register, zeros_like


def _decayed_grad(opt: Optimizer, w: np.ndarray, grad: np.ndarray, wd: Any) -> np.ndarray:
    """``clip(rescale_grad * grad + wd * w, clip_gradient)``, the fused kernels' gradient."""
    t = partial(kernel_scalar, w.dtype.type)
    g = grad * t(opt.rescale_grad) + w * wd
    return clip(g, t(opt.clip_gradient)) if opt.clip_gradient else g


@register
class Adam(Optimizer):
    """Adam, with the bias correction folded into the rate (MXNet's form)::

        g = clip(rescale_grad * grad + wd * w, clip_gradient)
        mean = beta1 * mean + (1 - beta1) * g;  var = beta2 * var + (1 - beta2) * g * g
        lr_t = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)    (t: this weight's count)
        w = w - lr_t * mean / (sqrt(var) + epsilon)

    State: ``(mean, var)``.  ``lazy_update`` only matters for sparse gradients.
    """

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, lazy_update: bool = True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lazy_update = lazy_update

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray]:
        return zeros_like(weight), zeros_like(weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        count = self._index_update_count[index]
        # in double precision, before the kernel rounds it to the weight's dtype
        lr *= math.sqrt(1.0 - self.beta2 ** count) / (1.0 - self.beta1 ** count)
        w = memory(weight)
        t = partial(kernel_scalar, w.dtype.type)
        b1, b2 = t(self.beta1), t(self.beta2)
        g = _decayed_grad(self, w, grad._data, t(wd))
        mean, var = memory(state[0]), memory(state[1])
        mean[...] = b1 * mean + (t(1) - b1) * g
        var[...] = b2 * var + (t(1) - b2) * g * g
        w[...] = w - t(lr) * mean / (np.sqrt(var) + t(self.epsilon))


@register
class RMSProp(Optimizer):
    """RMSProp: Tieleman and Hinton's (``centered=False``, state ``(n,)``)::

        g = clip(rescale_grad * grad + wd * w, clip_gradient)
        n = (1 - gamma1) * g * g + gamma1 * n;  w = w - lr * g / sqrt(n + epsilon)

    or Graves's (``centered=True``, state ``(n, mean_g, delta)``)::

        n = (1 - gamma1) * g * g + gamma1 * n;  mean_g = (1 - gamma1) * g + gamma1 * mean_g
        delta = gamma2 * delta - lr * g / sqrt(n - mean_g ** 2 + epsilon);  w = w + delta

    then ``w`` is clipped to ``[-clip_weights, clip_weights]`` when that is set.
    """

    def __init__(self, learning_rate: float = 0.001, gamma1: float = 0.9, gamma2: float = 0.9,
                 epsilon: float = 1e-8, centered: bool = False, clip_weights: float | None = None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered = centered
        self.clip_weights = clip_weights

    def create_state(self, index: Any, weight: NDArray) -> tuple:
        return tuple(zeros_like(weight) for _ in range(3 if self.centered else 1))

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        check_pair(weight, grad)
        self._update_count(index)
        w = memory(weight)
        t = partial(kernel_scalar, w.dtype.type)
        lr, wd = t(self._get_lr(index)), t(self._get_wd(index))
        g1, eps = t(self.gamma1), t(self.epsilon)
        g = _decayed_grad(self, w, grad._data, wd)
        n = memory(state[0])
        # the two kernels group their products differently; float32 results depend on it
        if self.centered:
            mean_g, delta = memory(state[1]), memory(state[2])
            n[...] = (t(1) - g1) * g * g + g1 * n
            mean_g[...] = (t(1) - g1) * g + g1 * mean_g
            delta[...] = t(self.gamma2) * delta - lr * g / np.sqrt(n - mean_g * mean_g + eps)
            new_w = w + delta
        else:
            n[...] = (t(1) - g1) * (g * g) + g1 * n
            new_w = w - lr * (g / np.sqrt(n + eps))
        w[...] = clip(new_w, t(self.clip_weights)) if self.clip_weights else new_w


@register
class AdaGrad(Optimizer):
    """AdaGrad (state: the sum of squared gradients)::

        g = clip(rescale_grad * grad, clip_gradient)
        history += g * g;  w = w - lr * (g / sqrt(history + eps) + wd * w)
    """

    def __init__(self, eps: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index: Any, weight: NDArray) -> NDArray:
        return zeros_like(weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        check_pair(weight, grad)
        self._update_count(index)
        w = memory(weight)
        t = w.dtype.type
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = grad._data * t(self.rescale_grad)
        if self.clip_gradient is not None:
            g = clip(g, t(self.clip_gradient))
        history = memory(state)
        history += np.square(g)
        div = g / np.sqrt(history + t(self.float_stable_eps))
        w += (div + w * t(wd)) * t(-lr)


@register
class AdaDelta(Optimizer):
    """AdaDelta (state: ``(acc_grad, acc_delta)``; no learning rate)::

        g = clip(rescale_grad * grad, clip_gradient)
        acc_grad = rho * acc_grad + (1 - rho) * g * g
        delta = sqrt(acc_delta + epsilon) / sqrt(acc_grad + epsilon) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        w = w - (delta + wd * w)

    MXNet also scales the caller's gradient array by ``rescale_grad`` in place; minigluon
    leaves the gradient as it is.
    """

    def __init__(self, rho: float = 0.90, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.epsilon = rho, epsilon

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray]:
        return zeros_like(weight), zeros_like(weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        check_pair(weight, grad)
        wd = self._get_wd(index)
        self._update_count(index)
        w = memory(weight)
        t = w.dtype.type
        g = grad._data * t(self.rescale_grad)
        if self.clip_gradient is not None:
            g = clip(g, t(self.clip_gradient))
        acc_g, acc_delta = memory(state[0]), memory(state[1])
        rho, eps, keep = t(self.rho), t(self.epsilon), t(1.0 - self.rho)
        acc_g *= rho
        acc_g += keep * g * g
        delta = np.sqrt(acc_delta + eps) / np.sqrt(acc_g + eps) * g
        acc_delta *= rho
        acc_delta += keep * delta * delta
        w -= delta + t(wd) * w
