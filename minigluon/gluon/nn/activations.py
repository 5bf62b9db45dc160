"""Activation layers (MXNet 1.9.1 ``gluon.nn.Activation``)."""
from __future__ import annotations

from typing import Any

from ..block import HybridBlock


class Activation(HybridBlock):
    """``F.Activation(x, act_type=activation)``: one of relu, sigmoid, tanh, softrelu,
    softsign (the registry op checks the name when the layer is called, as MXNet's).

    Input and output have the same shape."""

    def __init__(self, activation: str, **kwargs: Any):
        self._act_type = activation
        super().__init__(**kwargs)

    def _alias(self) -> str:
        """MXNet names an unnamed Activation block after its function (``relu0_``)."""
        return self._act_type

    def hybrid_forward(self, F, x):
        return F.Activation(x, act_type=self._act_type, name="fwd")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._act_type})"
