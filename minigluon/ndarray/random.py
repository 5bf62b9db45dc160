"""``mg.nd.random``: random arrays drawn eagerly from mg.random's generator (MXNet 1.9.1's
``mx.nd.random`` signatures)."""
from __future__ import annotations

from typing import Any

from ..context import data_context
from ..ops.random import random_functions
from .ndarray import NDArray, _on, invoke


def _finish(result: NDArray, ctx: Any, out: NDArray | None) -> NDArray:
    result = _on(result, data_context(ctx))
    if out is None:
        return result
    if not isinstance(out, NDArray) or out.shape != result.shape:
        raise ValueError(f"out must be an NDArray of shape {result.shape}, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return result.copyto(out)


_made = random_functions(invoke, lambda x: isinstance(x, NDArray), _finish)
globals().update(_made)  # uniform, normal, ..., as ops/random.py names them
__all__: list[str] = []
__all__.extend(sorted(_made))
