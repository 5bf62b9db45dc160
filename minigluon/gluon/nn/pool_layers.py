"""MXNet 1.9.1's pooling layers and ReflectionPad2D, each one registry op (``Pooling``,
``pad``) with MXNet's signatures, defaults and ``__repr__``."""
from __future__ import annotations

import numbers
from typing import Any

from ..block import HybridBlock

_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


class _Pooling(HybridBlock):
    """``F.Pooling`` with MXNet's attributes: strides default to pool_size, an int
    padding or stride is used on every spatial axis, ceil_mode picks the 'full' output
    size rule (``ceil((n + 2 * pad - size) / stride) + 1``) over 'valid' (floor)."""

    def __init__(self, pool_size: tuple, strides: Any, padding: Any, ceil_mode: bool,
                 global_pool: bool, pool_type: str, layout: str,
                 count_include_pad: bool | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if strides is None:
            strides = pool_size
        if isinstance(strides, numbers.Integral):
            strides = (strides,) * len(pool_size)
        if isinstance(padding, numbers.Integral):
            padding = (padding,) * len(pool_size)
        attrs = {"kernel": pool_size, "stride": strides, "pad": padding,
                 "global_pool": global_pool, "pool_type": pool_type, "layout": layout,
                 "pooling_convention": "full" if ceil_mode else "valid"}
        if count_include_pad is not None:
            attrs["count_include_pad"] = count_include_pad
        # a tuple, not a dict: a traced graph keeps the values it read
        self._attrs = tuple(attrs.items())

    @property
    def _kwargs(self) -> dict:
        """Pooling's attributes, as MXNet's layer keeps them."""
        return dict(self._attrs)

    def _alias(self) -> str:
        return "pool"

    def hybrid_forward(self, F, x):
        return F.Pooling(x, name="fwd", **dict(self._attrs))

    def __repr__(self) -> str:
        k = self._kwargs
        return (f"{type(self).__name__}(size={k['kernel']}, stride={k['stride']}, "
                f"padding={k['pad']}, ceil_mode={k['pooling_convention'] == 'full'}, "
                f"global_pool={k['global_pool']}, pool_type={k['pool_type']}, "
                f"layout={k['layout']})")


def _window(pool_size: Any, layout: str, dims: int) -> tuple:
    """pool_size as a tuple of dims ints; MXNet asserts on a layout or size that does not
    fit (its tests expect AssertionError)."""
    first, last = _LAYOUTS[dims]
    assert layout in (first, last), \
        f"Only {first} and {last} layouts are valid for {dims}D Pooling"
    if isinstance(pool_size, numbers.Integral):
        pool_size = (pool_size,) * dims
    assert len(pool_size) == dims, f"pool_size must be a number or a list of {dims} ints"
    return tuple(pool_size)


class MaxPool1D(_Pooling):
    """Max over windows of pool_size along W of (N, C, W) data (layout 'NCW' or 'NWC')."""

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: Any = 0,
                 layout: str = "NCW", ceil_mode: bool = False, **kwargs: Any):
        super().__init__(_window(pool_size, layout, 1), strides, padding, ceil_mode, False,
                         "max", layout, **kwargs)


class MaxPool2D(_Pooling):
    """Max over pool_size windows of (N, C, H, W) data (layout 'NCHW' or 'NHWC')."""

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: Any = 0,
                 layout: str = "NCHW", ceil_mode: bool = False, **kwargs: Any):
        super().__init__(_window(pool_size, layout, 2), strides, padding, ceil_mode, False,
                         "max", layout, **kwargs)


class MaxPool3D(_Pooling):
    """Max over pool_size windows of (N, C, D, H, W) data (layout 'NCDHW' or 'NDHWC')."""

    def __init__(self, pool_size: Any = (2, 2, 2), strides: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, layout: str = "NCDHW", **kwargs: Any):
        super().__init__(_window(pool_size, layout, 3), strides, padding, ceil_mode, False,
                         "max", layout, **kwargs)


class AvgPool1D(_Pooling):
    """Mean over windows of pool_size along W; count_include_pad: padding counts in the
    divisor."""

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: Any = 0,
                 layout: str = "NCW", ceil_mode: bool = False, count_include_pad: bool = True,
                 **kwargs: Any):
        super().__init__(_window(pool_size, layout, 1), strides, padding, ceil_mode, False,
                         "avg", layout, count_include_pad, **kwargs)


class AvgPool2D(_Pooling):
    """Mean over pool_size windows of (N, C, H, W) data; count_include_pad: padding counts
    in the divisor."""

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, layout: str = "NCHW", count_include_pad: bool = True,
                 **kwargs: Any):
        super().__init__(_window(pool_size, layout, 2), strides, padding, ceil_mode, False,
                         "avg", layout, count_include_pad, **kwargs)


class AvgPool3D(_Pooling):
    """Mean over pool_size windows of (N, C, D, H, W) data; count_include_pad: padding
    counts in the divisor."""

    def __init__(self, pool_size: Any = (2, 2, 2), strides: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, layout: str = "NCDHW",
                 count_include_pad: bool = True, **kwargs: Any):
        super().__init__(_window(pool_size, layout, 3), strides, padding, ceil_mode, False,
                         "avg", layout, count_include_pad, **kwargs)


def _global(layout: str, dims: int) -> tuple:
    _window(1, layout, dims)
    return (1,) * dims


class GlobalMaxPool1D(_Pooling):
    """Max over the whole W axis: (N, C, W) -> (N, C, 1)."""

    def __init__(self, layout: str = "NCW", **kwargs: Any):
        super().__init__(_global(layout, 1), None, 0, True, True, "max", layout, **kwargs)


class GlobalMaxPool2D(_Pooling):
    """Max over H and W: (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, layout: str = "NCHW", **kwargs: Any):
        super().__init__(_global(layout, 2), None, 0, True, True, "max", layout, **kwargs)


class GlobalMaxPool3D(_Pooling):
    """Max over D, H and W: (N, C, D, H, W) -> (N, C, 1, 1, 1)."""

    def __init__(self, layout: str = "NCDHW", **kwargs: Any):
        super().__init__(_global(layout, 3), None, 0, True, True, "max", layout, **kwargs)


class GlobalAvgPool1D(_Pooling):
    """Mean over the whole W axis: (N, C, W) -> (N, C, 1)."""

    def __init__(self, layout: str = "NCW", **kwargs: Any):
        super().__init__(_global(layout, 1), None, 0, True, True, "avg", layout, **kwargs)


class GlobalAvgPool2D(_Pooling):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, layout: str = "NCHW", **kwargs: Any):
        super().__init__(_global(layout, 2), None, 0, True, True, "avg", layout, **kwargs)


class GlobalAvgPool3D(_Pooling):
    """Mean over D, H and W: (N, C, D, H, W) -> (N, C, 1, 1, 1)."""

    def __init__(self, layout: str = "NCDHW", **kwargs: Any):
        super().__init__(_global(layout, 3), None, 0, True, True, "avg", layout, **kwargs)


class ReflectionPad2D(HybridBlock):
    """(N, C, H, W) -> (N, C, H + 2 * padding, W + 2 * padding), the border mirrored
    (without repeating the edge); padding < H and < W.  An 8-tuple padding is ``pad``'s
    pad_width itself."""

    def __init__(self, padding: Any = 0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(padding, numbers.Integral):
            padding = (0, 0, 0, 0, padding, padding, padding, padding)
        assert len(padding) == 8, f"padding must be an int or 8 ints, got {padding!r}"
        self._padding = tuple(padding)

    def hybrid_forward(self, F, x):
        return F.pad(x, mode="reflect", pad_width=self._padding)
