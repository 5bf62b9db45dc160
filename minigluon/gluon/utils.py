"""``gluon.utils``: splitting a batch across contexts, global gradient-norm clipping and a
file checksum, as MXNet 1.9.1's.  ``split_and_load`` puts one slice on each context (a
copy, except a slice along axis 0 already on its context, which views the batch as in
MXNet); with one context it returns the whole batch, as MXNet's."""
from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np

from .. import ndarray as nd
from ..base import MXNetError
from ..ndarray import NDArray


def split_data(data: NDArray, num_slice: int, batch_axis: int = 0,
               even_split: bool = True) -> list[NDArray]:
    """``num_slice`` slices of ``data`` along ``batch_axis`` (a list even for one).  With
    ``even_split`` the axis must divide evenly; otherwise the first ``size % num_slice``
    slices get one extra element (``np.array_split``'s sizes).  Slices along axis 0 share
    ``data``'s memory, as MXNet's do; along other axes they are copies."""
    if not isinstance(num_slice, int) or num_slice < 1:
        raise ValueError(f"split_data: num_slice must be a positive int, got {num_slice!r}")
    if not -data.ndim <= batch_axis < data.ndim:
        raise ValueError(f"split_data: batch_axis {batch_axis} is out of range for data with "
                         f"shape {data.shape}")
    axis = batch_axis % data.ndim
    size = data.shape[axis]
    if even_split and size % num_slice != 0:
        raise ValueError(f"data with shape {data.shape} cannot be evenly split into {num_slice} "
                         f"slices along axis {batch_axis}. Use a batch size that's multiple of "
                         f"{num_slice} or set even_split=False to allow uneven partitioning of "
                         f"data.")
    each, extras = divmod(size, num_slice)
    bounds = np.cumsum([0] + [each + 1] * extras + [each] * (num_slice - extras)).tolist()
    if axis == 0:
        return [data[bounds[i]:bounds[i + 1]] for i in range(num_slice)]
    return [nd.slice_axis(data, axis=axis, begin=bounds[i], end=bounds[i + 1])
            for i in range(num_slice)]


def split_and_load(data: Any, ctx_list: list, batch_axis: int = 0,
                   even_split: bool = True) -> list[NDArray]:
    """``data`` (an NDArray, or anything ``nd.array`` takes) split into ``len(ctx_list)``
    slices, one per context.  One context: ``[data]`` itself, as MXNet returns."""
    if not isinstance(ctx_list, (list, tuple)) or not ctx_list:
        raise ValueError(f"split_and_load: ctx_list must be a non-empty list of contexts, got "
                         f"{ctx_list!r}")
    if not isinstance(data, NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [s.as_in_context(ctx) for s, ctx in zip(slices, ctx_list)]


def clip_global_norm(arrays: list, max_norm: float, check_isfinite: bool = True) -> Any:
    """Scale ``arrays`` in place so that their joint 2-norm ``sqrt(sum ||a||^2)`` is at most
    ``max_norm`` (by ``max_norm / (norm + 1e-8)`` when it is above).  Returns the norm
    before scaling: a Python float, or with ``check_isfinite=False`` an NDArray of shape
    (1,).  A nan or inf norm warns (with ``check_isfinite``); the scaling is then
    undefined, as in MXNet."""
    if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
        raise AssertionError("clip_global_norm: arrays must be a non-empty list of NDArrays")
    for i, a in enumerate(arrays):
        if not isinstance(a, NDArray):
            raise TypeError(f"clip_global_norm: arrays[{i}] is a {type(a).__name__}, not an "
                            f"NDArray")
        if a.dtype != arrays[0].dtype:
            raise MXNetError(f"clip_global_norm: arrays[{i}] is {a.dtype}, arrays[0] is "
                             f"{arrays[0].dtype}: the arrays must share a dtype")
    dtype = arrays[0].dtype
    squares = [np.dot(a._data.reshape(-1), a._data.reshape(-1)) for a in arrays]
    total = np.sqrt(np.sum(np.array(squares, dtype=dtype), dtype=dtype)).astype(dtype)
    if check_isfinite and not np.isfinite(total):
        warnings.warn(UserWarning("nan or inf is detected. Clipping results will be undefined."),
                      stacklevel=2)
    scale = dtype.type(max_norm) / (total + dtype.type(1e-8))
    scale = min(scale, dtype.type(1))
    with np.errstate(invalid="ignore", over="ignore"):  # a nan/inf norm warned above
        for a in arrays:
            if not a._data.flags.writeable:
                a._data = a._data.copy()
            a._data *= scale
    if check_isfinite:
        return float(total)
    return NDArray(np.array([total], dtype=dtype))


def check_sha1(filename: str, sha1_hash: str) -> bool:
    """Whether the SHA-1 of the file's content is ``sha1_hash`` (hex digits)."""
    sha1 = hashlib.sha1()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    return sha1.hexdigest() == sha1_hash


__all__ = ["split_data", "split_and_load", "clip_global_norm", "check_sha1"]
