"""``mg.nd``: eager NDArrays and one function per registry op (``nd.log_softmax(x, axis=-1)``)."""
from . import ndarray as _impl
from . import random
from .io import ParamsFormatError, load, load_frombuffer, save
from .ndarray import NDArray, _internal, arange, array, empty, eye, full, ones, reset_arrays, waitall, zeros

globals().update(_impl._public_ops)

__all__ = ["NDArray", "random", "array", "zeros", "ones", "full", "empty", "eye", "arange", "waitall",
           "reset_arrays",
           "_internal", "save", "load", "load_frombuffer", "ParamsFormatError"]
__all__.extend(sorted(_impl._public_ops))
