"""minigluon: MXNet Gluon's hybridization model, small and readable.

``import minigluon as mg`` gives ``mg.nd`` (eager arrays), ``mg.sym`` (traced graphs) and
``mg.gluon`` (blocks and losses).
"""
from . import autograd, context, gluon, jit, lr_scheduler, ndarray, optimizer, random, symbol, util
from . import initializer as init
from . import kvstore as kv  # also binds mg.kvstore, the submodule
from . import ndarray as nd
from . import symbol as sym
from .base import MXNetError
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus
from .util import is_np_shape, np_shape, set_np_shape, use_np_shape

__version__ = "0.1.0"
__all__ = ["__version__", "autograd", "Context", "context", "cpu", "cpu_pinned", "current_context",
           "gluon", "gpu", "init", "is_np_shape", "jit", "lr_scheduler", "MXNetError", "nd", "ndarray",
           "np_shape", "num_gpus", "optimizer", "random", "set_np_shape", "sym", "symbol", "use_np_shape",
           "util"]
__all__ += ["kv", "kvstore"]
