"""minigluon: MXNet Gluon's hybridization model, small and readable.

``import minigluon as mg`` gives ``mg.nd`` (eager arrays), ``mg.sym`` (traced graphs) and
``mg.gluon`` (blocks and losses).
"""
from . import autograd, context, gluon, jit, lr_scheduler, ndarray, optimizer, random, symbol
from . import initializer as init
from . import ndarray as nd
from . import symbol as sym
from .base import MXNetError
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus

__version__ = "0.1.0"
__all__ = ["Context", "MXNetError", "__version__", "autograd", "context", "cpu", "cpu_pinned",
           "current_context", "gluon", "gpu", "init", "jit", "lr_scheduler", "nd", "ndarray", "num_gpus",
           "optimizer", "random", "sym", "symbol"]
