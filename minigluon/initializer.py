"""``mg.init``: how a Parameter's first value is drawn (MXNet's initializer names).

An initializer is called as ``init(name, shape, dtype)`` and returns a numpy array.  The
random ones draw from the generator every random op uses, so ``mg.random.seed`` makes them
repeatable, as ``mx.random.seed`` does MXNet's.
"""
from __future__ import annotations

import math

import numpy as np

from .ops.random import generator


class Initializer:
    def __call__(self, name: str, shape: tuple, dtype: str) -> np.ndarray:
        return np.asarray(self._generate(tuple(shape)), dtype=dtype).reshape(shape)

    def _generate(self, shape: tuple):  # pragma: no cover - subclasses override
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        """The same kind with the same arguments (MXNet compares initializers so)."""
        if not isinstance(other, Initializer):
            return NotImplemented
        mine, theirs = vars(self), vars(other)
        return type(self) is type(other) and mine.keys() == theirs.keys() and all(
            np.array_equal(mine[k], theirs[k]) for k in mine)

    __hash__ = object.__hash__


class Constant(Initializer):
    def __init__(self, value: float):
        self.value = value

    def _generate(self, shape):
        return np.full(shape, self.value)


class Zero(Constant):
    def __init__(self):
        super().__init__(0.0)


class One(Constant):
    def __init__(self):
        super().__init__(1.0)


class Uniform(Initializer):
    """U(-scale, scale); MXNet's default for parameters."""

    def __init__(self, scale: float = 0.07):
        self.scale = scale

    def _generate(self, shape):
        return generator().uniform(-self.scale, self.scale, shape)


class Normal(Initializer):
    def __init__(self, sigma: float = 0.01):
        self.sigma = sigma

    def _generate(self, shape):
        return generator().normal(0.0, self.sigma, shape)


class Xavier(Initializer):
    """Glorot: scale sqrt(magnitude / fan), fan from the first two axes as MXNet computes it."""

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3):
        if rnd_type not in ("uniform", "gaussian") or factor_type not in ("avg", "in", "out"):
            raise ValueError(f"Xavier: rnd_type must be 'uniform' or 'gaussian' and factor_type "
                             f"'avg', 'in' or 'out', got {rnd_type!r}, {factor_type!r}")
        self.rnd_type, self.factor_type, self.magnitude = rnd_type, factor_type, magnitude

    def _generate(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Xavier needs a parameter with at least 2 axes, got shape {shape}")
        hw = math.prod(shape[2:])
        fan_in, fan_out = shape[1] * hw, shape[0] * hw
        factor = {"avg": (fan_in + fan_out) / 2, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = math.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            return generator().uniform(-scale, scale, shape)
        return generator().normal(0.0, scale, shape)


def create(init) -> Initializer:
    """An Initializer from an instance, a number (Constant) or a name ('zeros', 'xavier', ...)."""
    if isinstance(init, Initializer):
        return init
    if isinstance(init, (int, float)) and not isinstance(init, bool):
        return Constant(float(init))
    names = {"zeros": Zero, "zero": Zero, "ones": One, "one": One, "uniform": Uniform,
             "normal": Normal, "xavier": Xavier}
    if isinstance(init, str) and init.lower() in names:
        return names[init.lower()]()
    raise TypeError(f"not an initializer: {init!r} (use mg.init.Uniform(), a number, or one of "
                    f"{sorted(names)})")


__all__ = ["Initializer", "Constant", "Zero", "One", "Uniform", "Normal", "Xavier", "create"]
