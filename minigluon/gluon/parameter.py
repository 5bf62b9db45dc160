"""Parameter and ParameterDict: named arrays a block owns (weights, or an imported graph's
constants), loaded from and saved to MXNet ``.params`` files."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..base import DEFAULT_DTYPE, MXNetError, fmt_type, normalize_dtype
from ..ndarray import NDArray


class Parameter:
    """A named array with a gradient buffer: ``data()``, ``set_data()``, ``grad()``.

    ``shape`` may be unknown (None) until data is loaded or set; once known it is fixed.
    """

    def __init__(self, name: str, grad_req: str = "write", shape: tuple | None = None,
                 dtype: Any = DEFAULT_DTYPE, init: Any = None, allow_deferred_init: bool = False,
                 **kwargs):
        self.name = name
        self.shape = None if shape is None else tuple(int(d) for d in shape)
        self.dtype = normalize_dtype(dtype)
        self._grad_req = grad_req
        self._data: NDArray | None = None
        self.init = init

    def __repr__(self) -> str:
        shape = "?" if self.shape is None else self.shape
        return f"Parameter {self.name} (shape={shape}, dtype={self.dtype})"

    @property
    def grad_req(self) -> str:
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req not in ("write", "add", "null"):
            raise ValueError(f"Parameter {self.name}: grad_req must be 'write', 'add' or "
                             f"'null', got {req!r}")
        self._grad_req = req
        if self._data is not None:
            self._attach()

    def _attach(self) -> None:
        if self._grad_req == "null":
            self._data._ag, self._data._grad = None, None
        else:
            self._data.attach_grad(self._grad_req)

    def initialize(self, init: Any = None, ctx: Any = None, default_init: Any = None,
                   force_reinit: bool = False) -> None:
        """Draw the first value: this parameter's own ``init``, else ``init``, else
        ``default_init``, else ``mg.init.Uniform()`` (MXNet's order and default)."""
        from .. import initializer
        if self._data is not None and not force_reinit:
            return
        if self.shape is None or any(d <= 0 for d in self.shape):
            raise MXNetError(f"Parameter {self.name}: cannot initialize with unknown shape "
                             f"{self.shape}; load or set its data instead")
        chosen = next((i for i in (self.init, init, default_init) if i is not None), None)
        make = initializer.create(chosen) if chosen is not None else initializer.Uniform()
        value = make(self.name, self.shape, self.dtype)
        if self._data is None:
            self.set_data(value)
        else:
            self._data._data[...] = value

    def data(self, ctx: Any = None) -> NDArray:
        if self._data is None:
            raise MXNetError(f"Parameter {self.name} has not been initialized: load it "
                             f"(load_parameters / SymbolBlock.imports with a params file) "
                             f"or call initialize()")
        return self._data

    def list_data(self) -> list[NDArray]:
        return [self.data()]

    def grad(self, ctx: Any = None) -> NDArray:
        data = self.data()
        if data.grad is None:
            raise MXNetError(f"Parameter {self.name} has no gradient (grad_req='null')")
        return data.grad

    def list_grad(self) -> list[NDArray]:
        return [self.grad()]

    def zero_grad(self) -> None:
        if self._data is not None and self._data.grad is not None:
            self._data.grad._data[...] = 0

    def set_data(self, data: Any, source: str = "set_data") -> None:
        """Replace the value (same shape once the shape is known; cast to the dtype)."""
        arr = data._data if isinstance(data, NDArray) else np.asarray(data)
        if self.shape is not None and tuple(arr.shape) != self.shape:
            raise ValueError(f"Parameter {self.name}: {source} gives shape {tuple(arr.shape)}, "
                             f"expected {self.shape}")
        if self._data is None:
            self.shape = tuple(arr.shape)
            self._data = NDArray(np.array(arr, dtype=self.dtype))
            self._attach()
        else:
            self._data._data[...] = arr

    def _load(self, arr: NDArray, source: str) -> None:
        """Take a loaded array: its shape and dtype define an unknown parameter's."""
        if self._data is None and self.shape is None:
            self.dtype = arr.dtype
        elif np.dtype(arr.dtype) != np.dtype(self.dtype):
            raise ValueError(f"{source}: parameter {self.name} is "
                             f"{fmt_type(arr.shape, arr.dtype)} in the file, expected "
                             f"{fmt_type(self.shape or (), self.dtype)}")
        self.set_data(arr, source)


class ParameterDict(dict):
    """Parameters by name (``collect_params()``), with MXNet's bulk operations.

    A block's own ``params`` is bound to it: ``get(name, shape=...)`` creates
    ``prefix + name`` on first use and hands it to ``hybrid_forward`` as keyword ``name``."""

    def __init__(self, items=(), prefix: str = "", owner: Any = None):
        super().__init__(items)
        self._prefix, self._owner = prefix, owner

    @property
    def prefix(self) -> str:
        return self._prefix

    def get(self, name: str, **kwargs) -> Parameter:
        """The parameter ``prefix + name``, created with kwargs (shape, init, ...) if new."""
        full = self._prefix + name
        p = self[full] if full in self else None
        if p is None:
            p = Parameter(full, **kwargs)
            self[full] = p
            if self._owner is not None:
                self._owner._reg_params[name] = p
        elif "shape" in kwargs and p.shape is not None and tuple(kwargs["shape"]) != p.shape:
            raise ValueError(f"Parameter {full} exists with shape {p.shape}, asked for "
                             f"{tuple(kwargs['shape'])}")
        return p

    def initialize(self, init: Any = None, ctx: Any = None, verbose: bool = False,
                   force_reinit: bool = False) -> None:
        for p in self.values():
            p.initialize(init, ctx, force_reinit=force_reinit)

    def zero_grad(self) -> None:
        for p in self.values():
            p.zero_grad()

    def setattr(self, name: str, value: Any) -> None:
        for p in self.values():
            setattr(p, name, value)

    def save(self, fname: str, strip_prefix: str = "") -> None:
        from ..ndarray import save
        out = {}
        for name, p in self.items():
            if strip_prefix and not name.startswith(strip_prefix):
                raise ValueError(f"prefix {strip_prefix!r} is not a prefix of parameter {name!r}")
            out[name[len(strip_prefix):]] = p.data()
        save(fname, out)

    def load(self, fname: str, ctx: Any = None, allow_missing: bool = False,
             ignore_extra: bool = False, restore_prefix: str = "") -> None:
        """Load a ``.params`` file (names with or without MXNet's ``arg:``/``aux:``)."""
        from ..ndarray import load
        loaded = load(fname)
        if isinstance(loaded, list):
            if loaded:
                raise ValueError(f"{fname}: the arrays have no names, so they cannot be "
                                 f"matched to parameters")
            loaded = {}
        arrays = {}
        for key, arr in loaded.items():
            name = restore_prefix + key.split(":", 1)[1] if key[:4] in ("arg:", "aux:") else \
                restore_prefix + key
            arrays[name] = arr
        checks = [(ignore_extra, set(arrays) - set(self), "is in the file but not in this block",
                   "ignore_extra=True to skip it"),
                  (allow_missing, set(self) - set(arrays), "is missing from the file",
                   "allow_missing=True to leave it as it is")]
        for allowed, names, what, how in checks:
            if names and not allowed:
                raise ValueError(f"{fname}: parameter {sorted(names)[0]!r} {what} (the file has "
                                 f"{sorted(arrays) or 'none'}, the block {sorted(self) or 'none'}); "
                                 f"pass {how}")
        for name, arr in arrays.items():
            if name in self:
                self[name]._load(arr, fname)
