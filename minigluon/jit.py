"""JIT statistics and switches.

``stats()`` counts, since the last ``reset_stats()``: hybridized calls that ran fully
compiled (``compiled_calls``) or used the numpy interpreter for any part
(``interpreted_calls``), kernels built by LLVM, compiles served from a cache, and the
seconds spent compiling.  ``MINIGLUON_JIT=0`` makes hybridized blocks use the interpreter.
"""
from __future__ import annotations

import os

from .base import ForkSafeLock

_LOCK = ForkSafeLock()
_STATS = {"compiled_calls": 0, "interpreted_calls": 0, "kernels_compiled": 0, "cache_hits": 0,
          "compile_seconds": 0.0, "compile_failures": 0}


def enabled() -> bool:
    return os.environ.get("MINIGLUON_JIT", "1").strip().lower() not in ("0", "false", "no", "off")


def count(key: str, amount=1) -> None:
    # no lock: this runs on every call, and the GIL keeps a lost update rare and harmless
    _STATS[key] += amount


def stats() -> dict:
    with _LOCK:
        return dict(_STATS)


def reset_stats() -> None:
    with _LOCK:
        for k in _STATS:
            _STATS[k] = 0.0 if k == "compile_seconds" else 0


def memory_cache_size() -> int:
    """How many compiled graphs each block, and the process beyond the blocks alive, keep:
    ``MINIGLUON_MEMORY_CACHE`` (default 64).  A graph is compiled per input shape, so a
    block called with ever new batch sizes would otherwise keep machine code for each."""
    env = os.environ.get("MINIGLUON_MEMORY_CACHE", "").strip()
    return max(1, int(env)) if env.isdigit() else 64
