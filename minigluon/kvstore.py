"""Key-value stores, as MXNet 1.9.1's ``mx.kv`` on one machine: what a Trainer uses to
sum the gradients of a parameter's copies (one per context) and, with
``update_on_kvstore``, to update one stored weight that every copy then pulls.

``mx.kv.create('local')`` and ``'device'`` behave the same here (every context is numpy
memory); ``'teststore'`` is MXNet's store for tests, which sums but cannot run an
optimizer.  Distributed stores ('dist_sync', 'horovod', ...) are refused: minigluon runs
in one process.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import optimizer as opt
from .base import MXNetError
from .ndarray import NDArray

_LOCAL = ("local", "device", "local_update_cpu", "local_allreduce_cpu",
          "local_allreduce_device")


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _pairs(key: Any, value: Any) -> list[tuple[Any, list[NDArray]]]:
    """(key, arrays) pairs: one key with an array or a list of arrays (one per device), or
    a list of keys with one value (an array or a list) each."""
    if isinstance(key, (list, tuple)):
        values = list(value) if isinstance(value, (list, tuple)) else None
        if values is None or len(values) != len(key):
            raise ValueError(f"kvstore: {len(key)} keys need as many values, got "
                             f"{len(values) if values is not None else type(value).__name__}")
        return [(k, _as_list(v)) for k, v in zip(key, values)]
    return [(key, _as_list(value))]


def _summed(key: Any, arrays: list[NDArray]) -> np.ndarray:
    for a in arrays:
        if not isinstance(a, NDArray):
            raise TypeError(f"kvstore: the values of key {key!r} must be NDArrays, got "
                            f"{type(a).__name__}")
        if a.shape != arrays[0].shape:
            raise ValueError(f"kvstore: the values of key {key!r} have shapes "
                             f"{[x.shape for x in arrays]}; they must agree")
    total = arrays[0]._data.copy()
    for a in arrays[1:]:
        total += a._data
    return total


class KVStoreBase:
    """What every store offers: its ``type`` and ``is_capable(capability)``."""

    OPTIMIZER = "optimizer"

    def is_capable(self, capability: str) -> bool:
        """Whether the store can do ``capability`` (``KVStoreBase.OPTIMIZER``: run the
        optimizer on the stored weights)."""
        return False

    @property
    def rank(self) -> int:
        return 0

    @property
    def num_workers(self) -> int:
        return 1


class KVStore(KVStoreBase):
    """A single-machine store ('local' or 'device').  ``push`` sums the values given for
    a key (one per device) and, with an optimizer set, updates the stored value by that
    sum, else replaces it; ``pull`` copies the stored value into each output."""

    def __init__(self, kind: str = "local"):
        self._type = kind
        self._store: dict[Any, NDArray] = {}
        self._updater: Any = None

    @property
    def type(self) -> str:
        return self._type

    def is_capable(self, capability: str) -> bool:
        return capability.lower() == self.OPTIMIZER

    def init(self, key: Any, value: Any) -> None:
        """Store a copy of value (the first array when a list is given) under key."""
        for k, arrays in _pairs(key, value):
            self._store[k] = NDArray(arrays[0]._data.copy())

    def _stored(self, key: Any) -> NDArray:
        if key not in self._store:
            raise MXNetError(f"kvstore: key {key!r} has not been initialized (call init "
                             f"first)")
        return self._store[key]

    def push(self, key: Any, value: Any, priority: int = 0) -> None:
        """Sum the arrays given for each key into its stored value (through the
        optimizer, when one is set)."""
        for k, arrays in _pairs(key, value):
            stored = self._stored(k)
            total = _summed(k, arrays)
            if total.shape != stored.shape:
                raise ValueError(f"kvstore.push: key {k!r} holds shape {stored.shape}, got "
                                 f"{total.shape}")
            if self._updater is not None:
                self._updater(k, NDArray(total.astype(stored.dtype, copy=False)), stored)
            else:
                stored._data[...] = total

    def pull(self, key: Any, out: Any = None, priority: int = 0,
             ignore_sparse: bool = True) -> None:
        """Copy each key's stored value into its outputs."""
        if out is None:
            raise ValueError("kvstore.pull: out is required")
        for k, arrays in _pairs(key, out):
            stored = self._stored(k)
            for a in arrays:
                a._data[...] = stored._data

    def pushpull(self, key: Any, value: Any, out: Any = None, priority: int = 0) -> None:
        """``push`` then ``pull`` into ``out`` (None: back into ``value``)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key: Any, value: Any, out: Any, priority: int = 0) -> None:
        """``init`` key with value, then ``pull`` it into out."""
        self.init(key, value)
        self.pull(key, out, priority)

    def set_optimizer(self, optimizer: opt.Optimizer) -> None:
        """Run ``optimizer`` on the stored values at each push."""
        self._set_updater(opt.get_updater(optimizer))

    def _set_updater(self, updater: Any) -> None:
        self._updater = updater

    def set_gradient_compression(self, compression_params: dict) -> None:
        raise MXNetError(f"kvstore {self._type!r}: gradient compression "
                         f"({compression_params!r}) is not supported by minigluon")

    def save_optimizer_states(self, fname: str, dump_optimizer: bool = False) -> None:
        """Write the optimizer's states (as ``Trainer.save_states``)."""
        assert self._updater is not None, "Cannot save states for distributed training"
        with open(fname, "wb") as f:
            f.write(self._updater.get_states(dump_optimizer))

    def load_optimizer_states(self, fname: str) -> None:
        """Read what :meth:`save_optimizer_states` wrote."""
        assert self._updater is not None, "Cannot load states for distributed training"
        with open(fname, "rb") as f:
            self._updater.set_states(f.read())


class TestStore(KVStoreBase):
    """MXNet's 'teststore': ``pushpull`` and ``broadcast`` without stored state, and no
    optimizer (a Trainer with ``update_on_kvstore=True`` refuses it)."""

    __test__ = False  # not a pytest class

    @property
    def type(self) -> str:
        return "teststore"

    def broadcast(self, key: Any, value: Any, out: Any, priority: int = 0) -> None:
        for (k, src), (_, outs) in zip(_pairs(key, value), _pairs(key, out)):
            for a in outs:
                a._data[...] = src[0]._data

    def pushpull(self, key: Any, value: Any, out: Any = None, priority: int = 0) -> None:
        for (k, arrays), (_, outs) in zip(_pairs(key, value),
                                          _pairs(key, value if out is None else out)):
            total = _summed(k, arrays)
            for a in outs:
                a._data[...] = total

    def set_optimizer(self, optimizer: Any) -> None:
        raise MXNetError("teststore cannot run an optimizer (is_capable('optimizer') is "
                         "False)")


def create(name: str = "local") -> KVStoreBase:
    """A store by type: 'local' or 'device' (and MXNet's other single-machine local_*
    names), or 'teststore'.  Distributed types raise MXNetError."""
    if not isinstance(name, str):
        raise TypeError(f"kvstore.create: name must be a str, got {type(name).__name__}")
    kind = name.lower()
    if kind in _LOCAL:
        return KVStore(kind)
    if kind == "teststore":
        return TestStore()
    if kind.startswith("dist") or kind in ("horovod", "byteps", "nccl"):
        raise MXNetError(f"kvstore {name!r}: distributed and GPU stores are not supported "
                         f"(minigluon runs in one process on the CPU); use 'local' or "
                         f"'device'")
    raise ValueError(f"kvstore.create: unknown type {name!r}; expected one of "
                     f"{list(_LOCAL) + ['teststore']}")


__all__ = ["KVStoreBase", "KVStore", "TestStore", "create"]
