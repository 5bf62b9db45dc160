"""MXNet 1.9.1's normalization layers: BatchNorm, LayerNorm, InstanceNorm, GroupNorm, each
one registry op (``ops/norm.py``) over its parameters."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..block import HybridBlock


def _kwargs_repr(block: HybridBlock, kwargs: tuple, channels: int) -> str:
    body = ", ".join(f"{k}={v!r}" for k, v in kwargs)
    return f"{type(block).__name__}({body}, in_channels={channels if channels else None})"


class BatchNorm(HybridBlock):
    """Batch normalization (Ioffe and Szegedy, 2014) along ``axis`` (the channels).

    In training mode (``autograd.record()``) it normalizes with the batch's mean and
    (biased) variance and updates running_mean and running_var in place, running *
    momentum + batch * (1 - momentum); otherwise, or with ``use_global_stats``, it
    normalizes with the running statistics.  ``scale=False`` fixes gamma at 1 (MXNet's
    fix_gamma), ``center=False`` leaves beta untrained.  Same shape out as in;
    ``in_channels=0`` defers the parameters' shape (C,) to the first call."""

    def __init__(self, axis: int = 1, momentum: float = 0.9, epsilon: float = 1e-5,
                 center: bool = True, scale: bool = True, use_global_stats: bool = False,
                 beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 running_mean_initializer: Any = "zeros",
                 running_variance_initializer: Any = "ones", in_channels: int = 0,
                 **kwargs: Any):
        super().__init__(**kwargs)
        # a tuple, not a dict: the traced graph keeps these values (block attribute guards)
        self._kwargs = (("axis", axis), ("eps", epsilon), ("momentum", momentum),
                        ("fix_gamma", not scale), ("use_global_stats", use_global_stats))
        if in_channels != 0:
            self.in_channels = in_channels
        with self.name_scope():
            self.gamma = self.params.get("gamma", grad_req="write" if scale else "null",
                                         shape=(in_channels,), init=gamma_initializer,
                                         allow_deferred_init=True, differentiable=scale)
            self.beta = self.params.get("beta", grad_req="write" if center else "null",
                                        shape=(in_channels,), init=beta_initializer,
                                        allow_deferred_init=True, differentiable=center)
            self.running_mean = self.params.get("running_mean", grad_req="null",
                                                shape=(in_channels,),
                                                init=running_mean_initializer,
                                                allow_deferred_init=True, differentiable=False)
            self.running_var = self.params.get("running_var", grad_req="null",
                                               shape=(in_channels,),
                                               init=running_variance_initializer,
                                               allow_deferred_init=True, differentiable=False)

    def cast(self, dtype: Any) -> None:
        """As MXNet: float16 keeps the parameters float32 (what BatchNorm computes in)."""
        if np.dtype(dtype).name == "float16":
            dtype = "float32"
        super().cast(dtype)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        return F.BatchNorm(x, gamma, beta, running_mean, running_var, name="fwd",
                           **dict(self._kwargs))

    def __repr__(self) -> str:
        return _kwargs_repr(self, self._kwargs, self.gamma.shape[0])


class _AffineNorm(HybridBlock):
    """What LayerNorm, InstanceNorm and GroupNorm share: gamma and beta of one shape, each
    trained unless scale or center is False (MXNet still multiplies by gamma and adds beta:
    they keep their initial ones and zeros)."""

    def __init__(self, kwargs: tuple, shape: tuple, center: bool, scale: bool,
                 beta_initializer: Any, gamma_initializer: Any, prefix: str | None,
                 params: Any):
        super().__init__(prefix=prefix, params=params)
        self._kwargs = kwargs  # a tuple, not a dict: see BatchNorm
        with self.name_scope():
            self.gamma = self.params.get("gamma", grad_req="write" if scale else "null",
                                         shape=shape, init=gamma_initializer,
                                         allow_deferred_init=True)
            self.beta = self.params.get("beta", grad_req="write" if center else "null",
                                        shape=shape, init=beta_initializer,
                                        allow_deferred_init=True)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._kwargs)
        return f"{type(self).__name__}({body}, in_channels={self.gamma.shape[0]})"


class LayerNorm(_AffineNorm):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta``, statistics over ``axis`` of
    each sample; gamma and beta have the size of that axis (``in_channels=0``: deferred)."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-5, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", in_channels: int = 0,
                 prefix: str | None = None, params: Any = None):
        super().__init__((("eps", epsilon), ("axis", axis), ("center", center),
                          ("scale", scale)), (in_channels,), center, scale, beta_initializer,
                         gamma_initializer, prefix, params)
        self._axis, self._epsilon = axis, epsilon

    def hybrid_forward(self, F, data, gamma, beta):
        return F.LayerNorm(data, gamma=gamma, beta=beta, axis=self._axis, eps=self._epsilon)


class InstanceNorm(_AffineNorm):
    """Normalizes each sample's each channel (``axis``) over its remaining (spatial) axes;
    gamma and beta are per channel.  x has at least 3 axes."""

    def __init__(self, axis: int = 1, epsilon: float = 1e-5, center: bool = True,
                 scale: bool = False, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", in_channels: int = 0, **kwargs: Any):
        super().__init__((("eps", epsilon), ("axis", axis), ("center", center),
                          ("scale", scale)), (in_channels,), center, scale, beta_initializer,
                         gamma_initializer, kwargs.pop("prefix", None), kwargs.pop("params", None))
        self._axis, self._epsilon = axis, epsilon

    def hybrid_forward(self, F, x, gamma, beta):
        if self._axis == 1:
            return F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon)
        x = F.SwapAxis(x, dim1=1, dim2=self._axis)
        return F.SwapAxis(F.InstanceNorm(x, gamma, beta, name="fwd", eps=self._epsilon),
                          dim1=1, dim2=self._axis)


class GroupNorm(_AffineNorm):
    """Splits the channels (axis 1) into ``num_groups`` groups and normalizes each sample's
    each group; gamma and beta are per group (num_groups,), as in MXNet 1.9.1."""

    def __init__(self, num_groups: int = 1, epsilon: float = 1e-5, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", prefix: str | None = None,
                 params: Any = None):
        super().__init__((("eps", epsilon), ("num_groups", num_groups), ("center", center),
                          ("scale", scale)), (num_groups,), center, scale, beta_initializer,
                         gamma_initializer, prefix, params)
        self._num_groups, self._epsilon = num_groups, epsilon

    def hybrid_forward(self, F, data, gamma, beta):
        return F.GroupNorm(data, gamma=gamma, beta=beta, num_groups=self._num_groups,
                           eps=self._epsilon)

    def __repr__(self) -> str:
        return f"GroupNorm({', '.join(f'{k}={v!r}' for k, v in self._kwargs)})"
