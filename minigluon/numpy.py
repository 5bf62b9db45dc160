"""``mg.numpy`` (MXNet's ``mx.np``): not implemented; any use says so.

The module exists so that code importing ``mxnet.numpy`` at the top (as MXNet 1.9.1's own
tests do) still loads and can run its ``mx.nd`` parts.
"""
from __future__ import annotations

from .base import MXNetError


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise MXNetError(f"mx.np.{name}: minigluon implements MXNet's mx.nd API only; "
                     f"mx.np (NumPy-compatible arrays) is not available")
