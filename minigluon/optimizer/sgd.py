"""SGD (with momentum) and NAG, as MXNet 1.9.1's ``multi_sgd*`` and ``nag_mom`` kernels.

Each rule computes in the weight's dtype (float32 for a multi-precision master copy), with
the learning rate and the other scalars rounded to that dtype first, as the kernels do.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..ndarray import NDArray
from .optimizer import Optimizer, _warn_float16, check_pair, clip, kernel_scalar, memory, register, zeros_like


class _MomentumOptimizer(Optimizer):
    """Shared by SGD and NAG: a momentum buffer when ``momentum != 0``; with
    ``multi_precision`` and a float16 weight the state is ``(momentum, float32 master)``
    (MXNet's order for these two, the reverse of the base class's)."""

    def __init__(self, momentum: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index: Any, weight: NDArray) -> NDArray | None:
        return zeros_like(weight) if self.momentum != 0.0 else None

    def create_state_multi_precision(self, index: Any, weight: NDArray) -> Any:
        if self.multi_precision and weight.dtype == np.float16:
            master = NDArray(weight._data.astype(np.float32))
            return (self.create_state(index, master), master)
        if weight.dtype == np.float16:
            _warn_float16(type(self).__name__)
        return self.create_state(index, weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        if self._each(self.update, index, weight, grad, state):
            return
        check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        memory(weight)[...] = self._rule(weight._data, grad._data, state, lr, wd)

    def update_multi_precision(self, index: Any, weight: NDArray, grad: NDArray,
                               state: Any) -> None:
        if self._each(self.update_multi_precision, index, weight, grad, state):
            return
        if not (self.multi_precision and weight.dtype == np.float16
                and isinstance(state, (tuple, list))):
            self.update(index, weight, grad, state)
            return
        check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        mom, master = state
        w32 = self._rule(master._data, grad._data.astype(np.float32), mom, lr, wd)
        memory(master)[...] = w32
        memory(weight)[...] = w32.astype(np.float16)

    def _scaled_grad(self, grad: np.ndarray, t: Callable) -> np.ndarray:
        g = t(self.rescale_grad) * grad
        # MXNet passes clip_gradient to the kernel only when it is truthy
        return clip(g, t(self.clip_gradient)) if self.clip_gradient else g

    def _rule(self, w: np.ndarray, grad: np.ndarray, mom: NDArray | None, lr: float,
              wd: float) -> np.ndarray:
        raise NotImplementedError


@register
class SGD(_MomentumOptimizer):
    """Stochastic gradient descent with momentum and weight decay::

        g = clip(rescale_grad * grad, clip_gradient)
        momentum > 0:  mom = momentum * mom - lr * wd * w - lr * g;  w = w + mom
        otherwise:     w = w - (lr * wd * w + lr * g)

    ``lazy_update`` is accepted for MXNet's signature; it only matters for sparse
    gradients, which minigluon does not have.
    """

    def __init__(self, momentum: float = 0.0, lazy_update: bool = True, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.lazy_update = lazy_update

    def _rule(self, w, grad, mom, lr, wd):
        t = partial(kernel_scalar, w.dtype.type)
        lr, wd = t(lr), t(wd)
        g = self._scaled_grad(grad, t)
        if self.momentum > 0 and mom is not None:
            m = memory(mom)
            m[...] = t(self.momentum) * m - lr * wd * w - lr * g
            return w + m
        return w - (lr * wd * w + lr * g)


@register
class NAG(_MomentumOptimizer):
    """Nesterov accelerated gradient.  MXNet's kernel keeps the momentum scaled by the
    learning rate::

        g = clip(rescale_grad * grad, clip_gradient) + wd * w
        m = momentum * mom
        w = w - m + (momentum + 1) * (m - lr * g);   mom = m - lr * g

    which equals ``state = momentum * state + g; w -= lr * (g + momentum * state)`` at a
    constant rate.  Without momentum it is plain SGD: ``w = (1 - lr * wd) * w - lr * g``.
    """

    def _rule(self, w, grad, mom, lr, wd):
        t = partial(kernel_scalar, w.dtype.type)
        lr, wd = t(lr), t(wd)
        g = self._scaled_grad(grad, t)
        if self.momentum > 0 and mom is not None:
            mu = t(self.momentum)
            m = memory(mom)
            m[...] = mu * m
            new_w = w - m + (mu + t(1)) * (m - lr * (g + wd * w))
            # the kernel writes the weight in place first, so the momentum's decay term
            # reads the *updated* weight
            m[...] = m - lr * (g + wd * new_w)
            return new_w
        return (t(1) - lr * wd) * w - lr * g
