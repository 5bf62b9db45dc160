"""``mg.sym.random``: random nodes in a traced graph (MXNet 1.9.1's ``mx.sym.random``)."""
from __future__ import annotations

from typing import Any

from ..ops.random import random_functions
from .symbol import Symbol, invoke


def _finish(result: Symbol, ctx: Any, out: Any) -> Symbol:
    return result  # a graph has no device and no output buffer


_made = random_functions(invoke, lambda x: isinstance(x, Symbol), _finish)
globals().update(_made)  # uniform, normal, ..., as ops/random.py names them
__all__: list[str] = []
__all__.extend(sorted(_made))
