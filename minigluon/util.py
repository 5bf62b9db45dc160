"""``mg.util``: the switches of MXNet's NumPy-compatible modes.

NumPy *shape* semantics (``np_shape``) are supported: minigluon's arrays always allow 0-d
and zero-size shapes, and the switch changes what MXNet's API reports and writes in that
mode: an unknown dimension of a Parameter's shape reads -1 instead of 0, and ``nd.save``
writes V3 records (0-d arrays stay 0-d).  NumPy *arrays* (``mx.np``, ``is_np_array``) are
not implemented: turning them on is refused rather than silently ignored.
"""
from __future__ import annotations

import contextlib
import functools
import threading

from .base import MXNetError

_NP_MODE_REFUSED = ("minigluon implements MXNet's legacy mx.nd semantics only; NumPy mode "
                    "(mx.np, set_np, use_np) is not available")
_STATE = threading.local()  # per thread, as MXNet's


def is_np_array() -> bool:
    return False


def is_np_shape() -> bool:
    """Whether NumPy shape semantics are on (``np_shape``/``set_np_shape``)."""
    return getattr(_STATE, "np_shape", False)


def set_np_shape(active: bool) -> bool:
    """Turn NumPy shape semantics on or off; returns the previous setting."""
    previous = is_np_shape()
    _STATE.np_shape = bool(active)
    return previous


@contextlib.contextmanager
def np_shape(active: bool = True):
    """``with np_shape(True):`` NumPy shape semantics inside the block only."""
    previous = set_np_shape(active)
    try:
        yield
    finally:
        set_np_shape(previous)


def use_np_shape(func):
    """Run ``func`` with NumPy shape semantics on."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np_shape(True):
            return func(*args, **kwargs)
    return wrapper


def set_np(shape: bool = True, array: bool = True, dtype: bool = False) -> None:
    """Only the shape semantics exist here: ``set_np(shape=True, array=False)`` works."""
    if array or dtype:
        raise MXNetError(_NP_MODE_REFUSED)
    set_np_shape(shape)


def reset_np() -> None:
    """Back to MXNet's legacy semantics."""
    set_np_shape(False)


def use_np(func):
    """MXNet's decorator that runs ``func`` in NumPy mode: refused when ``func`` runs."""
    def refused(*args, **kwargs):
        raise MXNetError(_NP_MODE_REFUSED)
    refused.__name__ = getattr(func, "__name__", "use_np")
    return refused
