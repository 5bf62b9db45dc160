"""``mg.nd.sparse``: sparse storage (row_sparse, csr) is not implemented; any use says so.

The module exists so that code importing ``mxnet.ndarray.sparse`` at the top (as MXNet
1.9.1's own tests do) still loads and can run its dense parts.
"""
from __future__ import annotations

from ..base import MXNetError


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise MXNetError(f"mx.nd.sparse.{name}: minigluon supports dense storage only "
                     f"(stype 'default'); row_sparse and csr arrays are not available")
