"""Containers of MXNet 1.9.1's ``gluon.contrib.nn``: ``Concurrent`` and
``HybridConcurrent`` run every child on the same input and concatenate the outputs;
``Identity`` returns its input (a branch that skips, as in a residual block)."""
from __future__ import annotations

from typing import Any

from .... import ndarray as nd
from ...block import HybridBlock
from ...nn.basic_layers import HybridSequential, Sequential


class Concurrent(Sequential):
    """``Concurrent(axis=-1)``: ``concat([child(x) for child in children], dim=axis)``;
    the children's outputs must agree on every other axis."""

    def __init__(self, axis: int = -1, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def forward(self, x):
        return nd.concat(*[block(x) for block in self._children.values()], dim=self.axis)


class HybridConcurrent(HybridSequential):
    """``HybridConcurrent(axis=-1)``: :class:`Concurrent` of HybridBlocks; hybridized, one
    graph that feeds x to every branch."""

    def __init__(self, axis: int = -1, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def hybrid_forward(self, F, x):
        return F.concat(*[block(x) for block in self._layers()], dim=self.axis)


class Identity(HybridBlock):
    """Returns its input: eagerly the same NDArray, as MXNet's; hybridized, the compiled
    graph's output."""

    def __init__(self, prefix: str | None = None, params: Any = None):
        super().__init__(prefix=prefix, params=params)

    def hybrid_forward(self, F, x):
        return x
