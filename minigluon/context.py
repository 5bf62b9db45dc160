"""Devices, as MXNet 1.9.1's ``mx.Context``: ``mg.cpu()``, ``mg.gpu()``, ``with ctx:``.

minigluon computes on the CPU only.  A GPU context can be created and compared (code that
builds a context list runs), but asking for data on one raises an MXNetError that says so.
Several CPU contexts (``cpu(1)``) are accepted: a context is a label on numpy memory, and a
parameter initialized on several keeps one separate copy on each, as in MXNet.
"""
from __future__ import annotations

import threading
from typing import Any

from .base import MXNetError

_TYPES = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
_NAMES = {v: k for k, v in _TYPES.items()}


class Context:
    """A device: ``Context('cpu', 0)``, or a copy of another Context.

    ``with ctx:`` makes it the default of every creation function in the block.
    """

    _default = threading.local()
    devtype2str = dict(_NAMES)
    devstr2type = dict(_TYPES)

    def __init__(self, device_type: Any, device_id: int = 0):
        if isinstance(device_type, Context):
            self.device_typeid, self.device_id = device_type.device_typeid, device_type.device_id
            return
        if device_type not in _TYPES:
            raise ValueError(f"device_type must be one of {sorted(_TYPES)}, got {device_type!r}")
        if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
            raise ValueError(f"device_id must be a non-negative int, got {device_id!r}")
        self.device_typeid = _TYPES[device_type]
        self.device_id = device_id

    @property
    def device_type(self) -> str:
        return _NAMES[self.device_typeid]

    def __hash__(self) -> int:
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and (self.device_typeid, self.device_id) == \
            (other.device_typeid, other.device_id)

    def __str__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __enter__(self) -> Context:
        stack = _stack()
        stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack().pop()

    def empty_cache(self) -> None:
        """Kept for MXNet compatibility: numpy owns the memory here."""


def _stack() -> list:
    stack = getattr(Context._default, "stack", None)
    if stack is None:
        stack = Context._default.stack = []
    return stack


def cpu(device_id: int = 0) -> Context:
    """A CPU context (every ``device_id`` computes on the same CPU)."""
    return Context("cpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    return Context("cpu_pinned", device_id)


def gpu(device_id: int = 0) -> Context:
    """A GPU context: it can be created, but data on it is refused (minigluon is CPU only)."""
    return Context("gpu", device_id)


def num_gpus() -> int:
    """0: minigluon never uses a GPU."""
    return 0


def current_context() -> Context:
    """The context of the innermost ``with ctx:``, else ``cpu(0)``."""
    stack = _stack()
    return stack[-1] if stack else Context("cpu", 0)


def data_context(ctx: Any = None) -> Context:
    """The context new data is placed on for a ``ctx=`` argument (None: the current one);
    raises MXNetError for a GPU and ValueError for something that is not a context."""
    if ctx is None:
        ctx = current_context()
    elif isinstance(ctx, str):  # 'cpu', 'cpu(1)'
        kind, _, rest = ctx.partition("(")
        try:
            ctx = Context(kind.strip(), int(rest.rstrip(")") or 0))
        except ValueError:
            raise ValueError(f"ctx: cannot read a context from {ctx!r} (expected e.g. "
                             f"'cpu(0)' or mg.cpu())") from None
    if not isinstance(ctx, Context):
        raise ValueError(f"ctx must be a Context such as mg.cpu(), got {type(ctx).__name__} "
                         f"{ctx!r}")
    if ctx.device_type == "gpu":
        raise MXNetError(f"ctx={ctx}: minigluon runs on the CPU only; use mg.cpu() (a GPU "
                         f"context can be created but not hold data)")
    return ctx


__all__ = ["Context", "cpu", "cpu_pinned", "gpu", "num_gpus", "current_context"]
