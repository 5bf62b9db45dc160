"""``mg.lr_scheduler``: learning rate as a function of the update count, as MXNet 1.9.1.

A scheduler is called with ``num_update``, the largest number of updates any weight has
received, and returns the learning rate for the next update.  Schedulers keep state (the
step-wise ones advance ``base_lr`` as the count passes each step), so they are meant to be
called with a count that never decreases, which is how an optimizer calls them.
"""
from __future__ import annotations

import math


class LRScheduler:
    """Base class: ``warmup_steps`` updates from ``warmup_begin_lr`` to ``base_lr``, either
    rising in equal increments (``warmup_mode='linear'``) or held (``'constant'``); then a
    subclass's decay."""

    def __init__(self, base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear"):
        if not isinstance(warmup_steps, int):
            raise AssertionError(f"warmup_steps must be an int, got {warmup_steps!r}")
        if warmup_begin_lr > base_lr:
            raise ValueError(f"Base lr has to be higher than warmup_begin_lr "
                             f"(base_lr={base_lr}, warmup_begin_lr={warmup_begin_lr})")
        if warmup_steps < 0:
            raise ValueError(f"Warmup steps has to be positive or 0, got {warmup_steps}")
        if warmup_mode not in ("linear", "constant"):
            raise ValueError(f"Supports only linear and constant modes of warmup, got "
                             f"warmup_mode={warmup_mode!r}")
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update: int) -> float:
        """The learning rate at ``num_update < warmup_steps``."""
        if num_update >= self.warmup_steps:
            raise AssertionError(f"num_update {num_update} is past warmup_steps "
                                 f"{self.warmup_steps}")
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        rise = (self.warmup_final_lr - self.warmup_begin_lr) * float(num_update) / float(
            self.warmup_steps)
        return self.warmup_begin_lr + rise

    def __call__(self, num_update: int) -> float:
        raise NotImplementedError("an LRScheduler subclass defines __call__(num_update)")


class FactorScheduler(LRScheduler):
    """``base_lr * factor ** floor((num_update - 1) / step)`` after warmup (MXNet changes
    the rate once the count *exceeds* a multiple of ``step``), never below
    ``stop_factor_lr``."""

    def __init__(self, step: int, factor: float = 1, stop_factor_lr: float = 1e-8,
                 base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise ValueError(f"Schedule step must be greater or equal than 1 round, got {step}")
        if factor > 1.0:
            raise ValueError(f"Factor must be no more than 1 to make lr reduce, got {factor}")
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while num_update > self.count + self.step:
            self.count += self.step
            # multiplied step by step, not pow(): the same float as MXNet after each change
            self.base_lr = max(self.base_lr * self.factor, self.stop_factor_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` each time the count passes an entry of the
    increasing list ``step``."""

    def __init__(self, step: list, factor: float = 1, base_lr: float = 0.01,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or not step:
            raise AssertionError(f"step must be a non-empty list of ints, got {step!r}")
        for i, s in enumerate(step):
            if i and s <= step[i - 1]:
                raise ValueError(f"Schedule step must be an increasing integer list, got {step}")
            if s < 1:
                raise ValueError(f"Schedule step must be greater or equal than 1 round, got {step}")
        if factor > 1.0:
            raise ValueError(f"Factor must be no more than 1 to make lr reduce, got {factor}")
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
        return self.base_lr


class _Annealed(LRScheduler):
    """A rate that moves from ``base_lr`` to ``final_lr`` over the ``T = max_update -
    warmup_steps`` updates after warmup (``t`` counts them), then holds."""

    def __init__(self, max_update: int, base_lr: float, final_lr: float, warmup_steps: int,
                 warmup_begin_lr: float, warmup_mode: str):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(max_update, int):
            raise AssertionError(f"max_update must be an int, got {max_update!r}")
        if max_update < 1:
            raise ValueError(f"maximum number of updates must be strictly positive, got "
                             f"{max_update}")
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def _rate(self, t: int) -> float:  # pragma: no cover - subclasses override
        raise NotImplementedError

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self._rate(num_update - self.warmup_steps)
        return self.base_lr


class PolyScheduler(_Annealed):
    """``final_lr + (base_lr - final_lr) * (1 - t / T) ** pwr``."""

    def __init__(self, max_update: int, base_lr: float = 0.01, pwr: float = 2, final_lr: float = 0,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        self.power = pwr

    def _rate(self, t: int) -> float:
        left = 1 - float(t) / float(self.max_steps)
        return self.final_lr + (self.base_lr_orig - self.final_lr) * pow(left, self.power)


class CosineScheduler(_Annealed):
    """``final_lr + (base_lr - final_lr) * (1 + cos(pi * t / T)) / 2``."""

    def __init__(self, max_update: int, base_lr: float = 0.01, final_lr: float = 0,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode)

    def _rate(self, t: int) -> float:
        return self.final_lr + (self.base_lr_orig - self.final_lr) * (
            1 + math.cos(math.pi * t / self.max_steps)) / 2


__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler",
           "CosineScheduler"]
