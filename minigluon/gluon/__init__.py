"""``mg.gluon``: Block, HybridBlock, SymbolBlock, Parameter and the losses."""
from . import loss
from .block import Block, HybridBlock
from .parameter import Parameter, ParameterDict
from .symbol_block import SymbolBlock

__all__ = ["Block", "HybridBlock", "SymbolBlock", "Parameter", "ParameterDict", "loss"]
