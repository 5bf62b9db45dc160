"""Errors and dtype helpers shared by every layer."""
from __future__ import annotations

import os
import threading
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


# Here rather than in the compiler because the loop IR, a layer below the ops, raises it too.
class CompileError(MXNetError):
    """The compiler cannot handle this graph; the caller falls back to the interpreter."""


def py_str(x: bytes | str) -> str:
    """Text from bytes (UTF-8) or text, as MXNet's ``base.py_str``."""
    return x.decode("utf-8") if isinstance(x, bytes) else x


def reworded(e: Exception, msg: str) -> Exception | None:
    """e's type with a message that says more (where, which node), to raise ``from e`` so
    that e and its traceback stay attached as the cause; None for a type that takes other
    arguments than a message: the caller re-raises e as it is."""
    try:
        return type(e)(msg)
    except Exception:
        return None


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


_forks = 0  # how many times this process is a fork() child of one that imported minigluon


def _count_fork() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_count_fork)


class ForkSafeLock:
    """A lock that a fork()ed child never inherits held.

    A thread of the parent that held it at the fork does not exist in the child, so a
    plain ``threading.Lock`` would stay locked there forever; this one starts afresh in
    every child (``multiprocessing`` with fork, ``os.fork`` while a block compiles).
    """

    __slots__ = ("_lock", "_born")

    def __init__(self) -> None:
        self._lock, self._born = threading.Lock(), _forks

    def __enter__(self) -> bool:
        if self._born != _forks:
            self._lock, self._born = threading.Lock(), _forks
        return self._lock.acquire()

    def __exit__(self, *exc) -> None:
        self._lock.release()
