"""``mg.test_utils``: the checks MXNet's tests are written with (``mx.test_utils``).

Tolerances follow MXNet 1.9.1: when ``rtol``/``atol`` are not given, each side's dtype
picks one (float16 1e-2/1e-1, float32 1e-4/1e-3, float64 1e-5/1e-20, integers and bool
exact) and the looser of the two sides is used.
"""
from __future__ import annotations

import contextlib
import numbers
import os
from typing import Any

import numpy as np

from .ndarray import NDArray
from .util import use_np  # noqa: F401  (MXNet's tests import it from here)

_RTOL = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-5}
_ATOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-20}


def default_context():
    """The context tests run in: the current one (always a CPU)."""
    from .context import current_context  # the context module is a layer below; kept lazy
    return current_context()


def set_default_context(ctx) -> None:
    from .context import Context
    Context._default_ctx.value = ctx


def default_dtype():
    return np.float32


def effective_dtype(dat: Any) -> np.dtype:
    """The dtype that sets comparison tolerances for dat: its own (MXNet lowers float32
    to float16 only for TF32 GPUs, which minigluon does not run on)."""
    return np.dtype(dat.dtype)


def _numpy(x: Any) -> np.ndarray:
    return x.asnumpy() if isinstance(x, NDArray) else np.asarray(x)


def _tolerance(x: Any, tol, table: dict) -> float:
    if isinstance(tol, numbers.Number):
        return float(tol)
    dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
    tol = tol or {}
    return tol.get(dtype, table.get(dtype, 0.0))


def get_rtol(rtol=None, dtype=np.dtype(np.float64)) -> float:
    return _RTOL.get(np.dtype(dtype), 0.0) if rtol is None else rtol


def get_atol(atol=None, dtype=np.dtype(np.float64)) -> float:
    return _ATOL.get(np.dtype(dtype), 0.0) if atol is None else atol


def same(a: Any, b: Any) -> bool:
    """Equal shapes and elements."""
    return bool(np.array_equal(_numpy(a), _numpy(b)))


def almost_equal(a: Any, b: Any, rtol=None, atol=None, equal_nan: bool = False,
                 use_broadcast: bool = True) -> bool:
    """``np.allclose`` with MXNet's defaults (those of float64 when a tolerance is None)."""
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol), equal_nan=equal_nan))


def assert_almost_equal(a: Any, b: Any, rtol=None, atol=None, names=("a", "b"),
                        equal_nan: bool = False, use_broadcast: bool = True,
                        mismatches=(10, 10)) -> None:
    """Raise AssertionError, naming the worst element, unless |a - b| <= atol + rtol * |b|
    everywhere (tolerances from the dtypes when not given, as the module docstring says)."""
    rtol = max(_tolerance(a, rtol, _RTOL), _tolerance(b, rtol, _RTOL))
    atol = max(_tolerance(a, atol, _ATOL), _tolerance(b, atol, _ATOL))
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        raise AssertionError(f"{names[0]}.shape = {a.shape} and {names[1]}.shape = {b.shape} "
                             f"are not equal")
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        np.testing.assert_equal(a, b)
        return
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    wa, wb = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.abs(wa - wb) / (atol + rtol * np.abs(wb))
    bad = ~np.isclose(wa, wb, rtol=rtol, atol=atol, equal_nan=equal_nan)
    excess = np.where(np.isnan(excess), np.inf, excess)
    index = np.unravel_index(np.argmax(np.where(bad, excess, -1.0)), wa.shape) if wa.ndim else ()
    raise AssertionError(
        f"{names[0]} and {names[1]} differ beyond rtol={rtol:g}, atol={atol:g} at "
        f"{int(bad.sum())} of {bad.size} elements; worst at {tuple(int(i) for i in index)}: "
        f"{names[0]}={float(wa[index])!r}, {names[1]}={float(wb[index])!r}")


def assert_allclose(a: Any, b: Any, rtol: float = 1e-07, atol: float = 0,
                    equal_nan: bool = True) -> None:
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_exception(f, exception_type, *args, **kwargs) -> None:
    """f(*args, **kwargs) raises exception_type."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)} did not raise {exception_type.__name__}")


@contextlib.contextmanager
def environment(*args):
    """``with environment(name, value)`` or ``environment({name: value, ...})``: set (None:
    unset) environment variables for the block, then restore them."""
    if len(args) == 1 and isinstance(args[0], dict):
        wanted = dict(args[0])
    elif len(args) == 2:
        wanted = {args[0]: args[1]}
    else:
        raise ValueError("environment() takes a name and a value, or one dict of them")
    before = {name: os.environ.get(name) for name in wanted}

    def apply(values):
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
    apply(wanted)
    try:
        yield
    finally:
        apply(before)
