"""Errors and dtype helpers shared by every layer."""
from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_DTYPE = "float32"

_DTYPES = ("float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool")


class MXNetError(Exception):
    """Base class of minigluon's own errors (the name MXNet users catch)."""


class ShapeError(MXNetError, ValueError):
    """Input shapes an operator cannot accept."""


class TracingError(MXNetError, TypeError):
    """A traced value used as a Python value (``if x > 0:``, ``float(x)``, ``x.asnumpy()``)."""


def normalize_dtype(dtype: Any) -> str:
    """Turn ``np.float32``, ``'float32'`` or a numpy dtype into its name."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None
    if name not in _DTYPES:
        raise TypeError(f"unsupported dtype {name!r} (supported: {', '.join(_DTYPES)})")
    return name


def postorder(roots, children) -> list:
    """Everything reachable from roots, each item after all of its children; iterative, so
    deep graphs cannot overflow the Python stack.  Items are compared by identity."""
    order: list = []
    seen: set[int] = set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            item, expanded = stack.pop()
            if expanded:
                order.append(item)
                continue
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.append((item, True))
            stack.extend((c, False) for c in reversed(list(children(item))) if id(c) not in seen)
    return order


def fmt_type(shape: tuple, dtype: str) -> str:
    """``float32[8,5]``: the one-line type used in graphs and error messages."""
    dims = "?" if shape is None else ",".join(str(d) for d in shape)
    return f"{dtype}[{dims}]"
