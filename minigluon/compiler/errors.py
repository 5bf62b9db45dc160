"""The one error every compiler pass raises.

It is defined in ``minigluon.base`` (the loop IR, which sits below the ops, raises it too);
this module keeps ``from .errors import CompileError`` working for the passes.
"""
from __future__ import annotations

from ..base import CompileError

__all__ = ["CompileError"]
