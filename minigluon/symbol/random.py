"""``mg.sym.random``: random nodes in a traced graph (MXNet 1.9.1's ``mx.sym.random``)."""
from __future__ import annotations

from typing import Any

from ..ops.random import random_functions
from .symbol import Symbol, invoke


def _finish(result: Symbol, ctx: Any, out: Any) -> Symbol:
    return result  # a graph has no device and no output buffer


_made = random_functions(invoke, lambda x: isinstance(x, Symbol), _finish)
(uniform, normal, randn, poisson, exponential, gamma, randint, multinomial, shuffle,
 uniform_like, normal_like, exponential_like, gamma_like, poisson_like) = (
    _made[k] for k in ("uniform", "normal", "randn", "poisson", "exponential", "gamma",
                       "randint", "multinomial", "shuffle", "uniform_like", "normal_like",
                       "exponential_like", "gamma_like", "poisson_like"))

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "randint",
           "multinomial", "shuffle", "uniform_like", "normal_like", "exponential_like",
           "gamma_like", "poisson_like"]
