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
