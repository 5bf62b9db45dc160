"""``mg.random``: seed the generator every random op draws from, and draw eagerly.

``mg.random.seed(42)`` makes every later draw reproducible, eager or hybridized: random
ops in a compiled graph run in trace order from the same generator (see ops/random.py).
The functions are ``mg.nd.random``'s (``uniform``, ``normal``, ``randn``, ``randint``,
``poisson``, ``exponential``, ``gamma``, ``multinomial``, ``shuffle`` and the ``*_like``
forms).
"""
from __future__ import annotations

from typing import Any

from .context import data_context
from .ndarray.random import (
    exponential,
    exponential_like,
    gamma,
    gamma_like,
    multinomial,
    normal,
    normal_like,
    poisson,
    poisson_like,
    randint,
    randn,
    shuffle,
    uniform,
    uniform_like,
)
from .ops import random as _ops


def seed(seed_state: int, ctx: Any = "all") -> None:
    """Reset the generator to seed_state (an int).  ``ctx`` is ``"all"`` or a CPU context:
    minigluon's one generator serves every CPU context, so either seeds it."""
    if isinstance(seed_state, bool) or not isinstance(seed_state, int):
        raise ValueError(f"seed_state must be an int, got {type(seed_state).__name__} "
                         f"{seed_state!r}")
    if not isinstance(ctx, str) or ctx != "all":
        data_context(ctx)  # a GPU or a non-context is refused, as using one would be
    _ops.seed(seed_state & 0xFFFFFFFF if seed_state < 0 else seed_state)


__all__ = ["seed", "uniform", "normal", "randn", "randint", "poisson", "exponential", "gamma",
           "multinomial", "shuffle", "uniform_like", "normal_like", "exponential_like",
           "gamma_like", "poisson_like"]
