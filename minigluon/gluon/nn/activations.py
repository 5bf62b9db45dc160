"""Activation layers (MXNet 1.9.1 ``gluon.nn.activations``): Activation, LeakyReLU, PReLU,
ELU, SELU, GELU, Swish."""
from __future__ import annotations

from typing import Any

from ... import initializer
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


class LeakyReLU(HybridBlock):
    """x where x > 0, else ``alpha * x`` (MXNet's ``LeakyReLU`` op, act_type 'leaky').
    ``alpha`` must be >= 0 (an AssertionError, as MXNet's).  Same shape out as in."""

    def __init__(self, alpha: float, **kwargs: Any):
        assert alpha >= 0, "Slope coefficient for LeakyReLU must be no less than 0."
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="leaky", slope=self._alpha, name="fwd")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._alpha})"


class PReLU(HybridBlock):
    """x where x > 0, else ``alpha * x`` with ``alpha`` a learned parameter of shape
    ``(in_channels,)``: one slope per channel (axis 1), or one for all (in_channels=1)."""

    def __init__(self, alpha_initializer: Any = None, in_channels: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        if alpha_initializer is None:  # MXNet's default, Constant(0.25), made per layer
            alpha_initializer = initializer.Constant(0.25)
        with self.name_scope():
            self.alpha = self.params.get("alpha", shape=(in_channels,), init=alpha_initializer)

    def hybrid_forward(self, F, x, alpha):
        return F.LeakyReLU(x, gamma=alpha, act_type="prelu", name="fwd")


class ELU(HybridBlock):
    """x where x > 0, else ``alpha * (exp(x) - 1)``.  Same shape out as in."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="elu", slope=self._alpha)


class SELU(HybridBlock):
    """``lambda * (x if x > 0 else alpha * (exp(x) - 1))`` with MXNet's constants."""

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="selu", name="fwd")


class GELU(HybridBlock):
    """``x * Phi(x)`` with Phi the standard normal CDF (the erf form, as MXNet 1.9.1)."""

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="gelu", name="fwd")


class Swish(HybridBlock):
    """``x * sigmoid(beta * x)``.  Same shape out as in."""

    def __init__(self, beta: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self._beta = beta

    def hybrid_forward(self, F, x):
        return x * F.sigmoid(self._beta * x, name="fwd")
