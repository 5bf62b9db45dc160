"""``mg.util``: the switches of MXNet's NumPy-compatible mode, which minigluon does not have.

MXNet 1.9.1 code asks ``is_np_array()`` / ``is_np_shape()`` to pick between its legacy
``mx.nd`` semantics and ``mx.np``'s; minigluon has only the former, so both are False and
turning NumPy mode on is refused rather than silently ignored.
"""
from __future__ import annotations

from .base import MXNetError

_NP_MODE_REFUSED = ("minigluon implements MXNet's legacy mx.nd semantics only; NumPy mode "
                    "(mx.np, set_np, use_np) is not available")


def is_np_array() -> bool:
    return False


def is_np_shape() -> bool:
    return False


def set_np(shape: bool = True, array: bool = True, dtype: bool = False) -> None:
    if shape or array or dtype:
        raise MXNetError(_NP_MODE_REFUSED)


def reset_np() -> None:
    """NumPy mode is always off: nothing to reset."""


def use_np(func):
    """MXNet's decorator that runs ``func`` in NumPy mode: refused when ``func`` runs."""
    def refused(*args, **kwargs):
        raise MXNetError(_NP_MODE_REFUSED)
    refused.__name__ = getattr(func, "__name__", "use_np")
    return refused
