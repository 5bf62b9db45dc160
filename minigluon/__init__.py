"""minigluon: MXNet Gluon's hybridization model, small and readable.

``import minigluon as mg`` gives ``mg.nd`` (eager arrays), ``mg.sym`` (traced graphs) and
``mg.gluon`` (blocks and losses).
"""
from . import autograd, gluon, jit, lr_scheduler, ndarray, optimizer, symbol
from . import initializer as init
from . import ndarray as nd
from . import symbol as sym
from .base import MXNetError

__version__ = "0.1.0"
__all__ = ["MXNetError", "__version__", "autograd", "gluon", "init", "jit", "lr_scheduler", "nd",
           "ndarray", "optimizer", "sym", "symbol"]
