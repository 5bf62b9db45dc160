"""The one error every compiler pass raises.

It has a module of its own so that a pass can raise it without importing another pass, and a
reader meets it before any of the passes that use it.
"""
from __future__ import annotations

from ..base import MXNetError


class CompileError(MXNetError):
    """The compiler cannot handle this graph; the caller falls back to the interpreter."""


__all__ = ["CompileError"]
