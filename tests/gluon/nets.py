"""Small networks of custom blocks, declared the MXNet 1.x way, for any Gluon: ``define(mg)``
in the tests, ``define(mx)`` in the tool that records what MXNet 1.9.1 does with them."""
from types import SimpleNamespace


def define(lib) -> SimpleNamespace:
    class Lin(lib.gluon.HybridBlock):
        """x @ weight.T + bias, with params.get in a name scope."""

        def __init__(self, units, in_units, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.weight = self.params.get("weight", shape=(units, in_units))
                self.bias = self.params.get("bias", shape=(units,), init="zeros")

        def hybrid_forward(self, F, x, weight, bias):
            return F.broadcast_add(F.dot(x, weight, transpose_b=True), bias)

    class Net(lib.gluon.HybridBlock):
        """Three Lin children, the last sharing the second's parameters."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.a = Lin(4, 3)
                self.b = Lin(2, 4)
                self.c = Lin(2, 4, params=self.b.collect_params())

        def hybrid_forward(self, F, x):
            h = F.relu(self.a(x))
            return self.b(h) + self.c(h)

    return SimpleNamespace(Lin=Lin, Net=Net)
