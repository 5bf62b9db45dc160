"""``mg.gluon``: Block, HybridBlock, SymbolBlock, Parameter, Trainer and the losses."""
from . import contrib, loss, model_zoo, nn, rnn, utils
from .block import Block, HybridBlock
from .parameter import Constant, Parameter, ParameterDict
from .symbol_block import SymbolBlock
from .trainer import Trainer

__all__ = ["Block", "HybridBlock", "SymbolBlock", "Constant", "Parameter", "ParameterDict",
           "Trainer", "contrib", "loss", "model_zoo", "nn", "rnn", "utils"]
