"""``mg.nd``: eager NDArrays and one function per registry op (``nd.log_softmax(x, axis=-1)``)."""
from types import SimpleNamespace as _SimpleNamespace

from . import ndarray as _impl
from . import random
from .io import ParamsFormatError, load, load_frombuffer, save
from .ndarray import NDArray, _internal, arange, array, empty, eye, full, ones, reset_arrays, waitall, zeros

globals().update(_impl._public_ops)
# MXNet's F.contrib: its _contrib_* operators under their short names
contrib = _SimpleNamespace(**{_n[len("_contrib_"):]: _f for _n, _f in vars(_internal).items()
                              if _n.startswith("_contrib_")})

__all__ = ["NDArray", "random", "array", "zeros", "ones", "full", "empty", "eye", "arange", "waitall",
           "reset_arrays",
           "_internal", "contrib", "save", "load", "load_frombuffer", "ParamsFormatError"]
__all__.extend(sorted(_impl._public_ops))
