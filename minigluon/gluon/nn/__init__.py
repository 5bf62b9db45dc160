"""``mg.gluon.nn``: the layers of MXNet 1.9.1's ``gluon.nn`` that an MLP needs."""
from .activations import Activation
from .basic_layers import Dense, Dropout, Flatten, HybridLambda, HybridSequential, Lambda, Sequential

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "HybridLambda", "HybridSequential",
           "Lambda", "Sequential"]
