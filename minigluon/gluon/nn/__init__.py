"""``mg.gluon.nn``: the layers of MXNet 1.9.1's ``gluon.nn`` done so far."""
# MXNet's gluon.nn re-exports these three
from ..block import Block as Block
from ..block import HybridBlock as HybridBlock
from ..symbol_block import SymbolBlock as SymbolBlock
from .activations import ELU, GELU, SELU, Activation, LeakyReLU, PReLU, Swish
from .basic_layers import Dense, Dropout, Flatten, HybridLambda, HybridSequential, Lambda, Sequential
from .basic_layers import Embedding as Embedding
from .conv_layers import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose
from .norm_layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from .pool_layers import AvgPool1D as AvgPool1D
from .pool_layers import AvgPool2D as AvgPool2D
from .pool_layers import AvgPool3D as AvgPool3D
from .pool_layers import GlobalAvgPool1D as GlobalAvgPool1D
from .pool_layers import GlobalAvgPool2D as GlobalAvgPool2D
from .pool_layers import GlobalAvgPool3D as GlobalAvgPool3D
from .pool_layers import GlobalMaxPool1D as GlobalMaxPool1D
from .pool_layers import GlobalMaxPool2D as GlobalMaxPool2D
from .pool_layers import GlobalMaxPool3D as GlobalMaxPool3D
from .pool_layers import MaxPool1D as MaxPool1D
from .pool_layers import MaxPool2D as MaxPool2D
from .pool_layers import MaxPool3D as MaxPool3D
from .pool_layers import ReflectionPad2D as ReflectionPad2D

__all__ = ["ELU", "GELU", "SELU", "Activation", "Conv1D", "Conv1DTranspose", "Conv2D",
           "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "Dense", "Dropout", "Flatten", "HybridLambda",
           "HybridSequential", "Lambda", "LeakyReLU", "PReLU", "Sequential", "Swish"]
__all__ += ["BatchNorm", "GroupNorm", "InstanceNorm", "LayerNorm"]
__all__ += ["AvgPool1D", "AvgPool2D", "AvgPool3D", "Embedding", "GlobalAvgPool1D",
            "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
            "GlobalMaxPool3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "ReflectionPad2D"]
