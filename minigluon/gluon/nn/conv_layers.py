"""MXNet 1.9.1's convolution layers: Conv1D/2D/3D and their transposes, each one
``Convolution`` or ``Deconvolution`` call (and an optional activation)."""
from __future__ import annotations

from typing import Any

from ..block import HybridBlock
from .activations import Activation


def _tuple(value: Any, n: int) -> tuple:
    """An int as n copies of itself; a tuple or list as a tuple."""
    return (value,) * n if isinstance(value, int) else tuple(value)


class _Conv(HybridBlock):
    """``activation(op(x, weight, bias))`` for op Convolution or Deconvolution.

    Data is (batch, in_channels, *spatial) in the layout given; the weight is
    (channels, in_channels / groups, *kernel_size) for a convolution and
    (in_channels, channels / groups, *kernel_size) for a transposed one, the bias
    (channels,).  ``in_channels=0`` leaves the weight's shape to the first call."""

    def __init__(self, channels: int, kernel_size: tuple, strides: Any, padding: Any,
                 dilation: Any, groups: int, layout: str, in_channels: int = 0,
                 activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros",
                 op_name: str = "Convolution", adj: Any = None, prefix: str | None = None,
                 params: Any = None):
        super().__init__(prefix=prefix, params=params)
        n = len(kernel_size)
        with self.name_scope():
            self._channels = channels
            self._in_channels = in_channels
            self._op_name = op_name
            self._kwargs = {
                "kernel": tuple(kernel_size), "stride": _tuple(strides, n),
                "dilate": _tuple(dilation, n), "pad": _tuple(padding, n),
                "num_filter": channels, "num_group": groups, "no_bias": not use_bias,
                "layout": layout}
            if adj is not None:
                self._kwargs["adj"] = adj
            # what hybrid_forward reads: a tuple, which the trace guards compare by value
            self._op_kwargs = tuple(self._kwargs.items())
            if op_name == "Convolution":
                wshape = (channels, in_channels // groups) + tuple(kernel_size)
            else:
                wshape = (in_channels, channels // groups) + tuple(kernel_size)
            self.weight = self.params.get("weight", shape=wshape, init=weight_initializer,
                                          allow_deferred_init=True)
            if use_bias:
                self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                            allow_deferred_init=True)
            else:
                self.bias = None
            self.act = Activation(activation, prefix=activation + "_") \
                if activation is not None else None

    def hybrid_forward(self, F, x, weight, bias=None):
        op = getattr(F, self._op_name)
        args = (x, weight) if bias is None else (x, weight, bias)
        out = op(*args, name="fwd", **dict(self._op_kwargs))
        return self.act(out) if self.act is not None else out

    def _alias(self) -> str:
        return "conv"

    def __repr__(self) -> str:
        kw, n = self._kwargs, len(self._kwargs["kernel"])
        parts = [f"kernel_size={kw['kernel']}", f"stride={kw['stride']}"]
        if kw["pad"] != (0,) * n:
            parts.append(f"padding={kw['pad']}")
        if kw["dilate"] != (1,) * n:
            parts.append(f"dilation={kw['dilate']}")
        # MXNet's repr looks for an attribute none of its layers sets: output_padding
        # never shows
        if kw["num_group"] != 1:
            parts.append(f"groups={kw['num_group']}")
        if self.bias is None:
            parts.append("bias=False")
        if self.act:
            parts.append(repr(self.act))
        shape = self.weight.shape
        return f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]}, " \
               f"{', '.join(parts)})"


def _kernel(kernel_size: Any, n: int) -> tuple:
    k = _tuple(kernel_size, n)
    assert len(k) == n, f"kernel_size must be a number or a list of {n} ints"
    return k


class Conv1D(_Conv):
    """1-d convolution: data (batch, in_channels, width) in layout 'NCW'."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, layout: str = "NCW",
                 activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros",
                 in_channels: int = 0, **kwargs: Any):
        assert layout == "NCW", "Only supports 'NCW' layout for now"
        super().__init__(channels, _kernel(kernel_size, 1), strides, padding, dilation, groups,
                         layout, in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, kwargs.pop("op_name", "Convolution"), **kwargs)


class Conv2D(_Conv):
    """2-d convolution: data (batch, in_channels, height, width) in layout 'NCHW'."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: Any = (0, 0), dilation: Any = (1, 1), groups: int = 1,
                 layout: str = "NCHW", activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros",
                 in_channels: int = 0, **kwargs: Any):
        assert layout in ("NCHW", "NHWC"), "Only supports 'NCHW' and 'NHWC' layout for now"
        super().__init__(channels, _kernel(kernel_size, 2), strides, padding, dilation, groups,
                         layout, in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, kwargs.pop("op_name", "Convolution"), **kwargs)


class Conv3D(_Conv):
    """3-d convolution: data (batch, in_channels, depth, height, width) in layout 'NCDHW'."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = (1, 1, 1),
                 padding: Any = (0, 0, 0), dilation: Any = (1, 1, 1), groups: int = 1,
                 layout: str = "NCDHW", activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros",
                 in_channels: int = 0, **kwargs: Any):
        assert layout in ("NCDHW", "NDHWC"), "Only supports 'NCDHW' and 'NDHWC' layout for now"
        super().__init__(channels, _kernel(kernel_size, 3), strides, padding, dilation, groups,
                         layout, in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, kwargs.pop("op_name", "Convolution"), **kwargs)


def _output_padding(value: Any, n: int) -> tuple:
    out = _tuple(value, n)
    assert len(out) == n, f"output_padding must be a number or a list of {n} ints"
    return out


class Conv1DTranspose(_Conv):
    """1-d transposed convolution (Deconvolution): data (batch, in_channels, width);
    ``output_padding`` adds to the output's width (below strides)."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 layout: str = "NCW", activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros",
                 in_channels: int = 0, **kwargs: Any):
        assert layout == "NCW", "Only supports 'NCW' layout for now"
        output_padding = _output_padding(output_padding, 1)
        super().__init__(channels, _kernel(kernel_size, 1), strides, padding, dilation, groups,
                         layout, in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, op_name=kwargs.pop("op_name", "Deconvolution"),
                         adj=output_padding, **kwargs)
        self.outpad = output_padding


class Conv2DTranspose(_Conv):
    """2-d transposed convolution (Deconvolution): data (batch, in_channels, height,
    width); ``output_padding`` adds to the output's height and width."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: Any = (0, 0), output_padding: Any = (0, 0), dilation: Any = (1, 1),
                 groups: int = 1, layout: str = "NCHW", activation: str | None = None,
                 use_bias: bool = True, weight_initializer: Any = None,
                 bias_initializer: Any = "zeros", in_channels: int = 0, **kwargs: Any):
        assert layout in ("NCHW", "NHWC"), "Only supports 'NCHW' and 'NHWC' layout for now"
        output_padding = _output_padding(output_padding, 2)
        super().__init__(channels, _kernel(kernel_size, 2), strides, padding, dilation, groups,
                         layout, in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, op_name=kwargs.pop("op_name", "Deconvolution"),
                         adj=output_padding, **kwargs)
        self.outpad = output_padding


class Conv3DTranspose(_Conv):
    """3-d transposed convolution (Deconvolution): data (batch, in_channels, depth,
    height, width); ``output_padding`` adds to the output's spatial axes."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = (1, 1, 1),
                 padding: Any = (0, 0, 0), output_padding: Any = (0, 0, 0),
                 dilation: Any = (1, 1, 1), groups: int = 1, layout: str = "NCDHW",
                 activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros",
                 in_channels: int = 0, **kwargs: Any):
        assert layout in ("NCDHW", "NDHWC"), "Only supports 'NCDHW' and 'NDHWC' layout for now"
        output_padding = _output_padding(output_padding, 3)
        super().__init__(channels, _kernel(kernel_size, 3), strides, padding, dilation, groups,
                         layout, in_channels, activation, use_bias, weight_initializer,
                         bias_initializer, op_name=kwargs.pop("op_name", "Deconvolution"),
                         adj=output_padding, **kwargs)
        self.outpad = output_padding
