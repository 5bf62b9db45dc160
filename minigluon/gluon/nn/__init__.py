"""``mg.gluon.nn``: the layers of MXNet 1.9.1's ``gluon.nn`` done so far."""
# MXNet's gluon.nn re-exports these three
from ..block import Block as Block
from ..block import HybridBlock as HybridBlock
from ..symbol_block import SymbolBlock as SymbolBlock
from .activations import ELU, GELU, SELU, Activation, LeakyReLU, PReLU, Swish
from .basic_layers import Dense, Dropout, Flatten, HybridLambda, HybridSequential, Lambda, Sequential
from .norm_layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm

__all__ = ["ELU", "GELU", "SELU", "Activation", "Dense", "Dropout", "Flatten", "HybridLambda",
           "HybridSequential", "Lambda", "LeakyReLU", "PReLU", "Sequential", "Swish"]
__all__ += ["BatchNorm", "GroupNorm", "InstanceNorm", "LayerNorm"]
