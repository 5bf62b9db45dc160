"""``mg.nd.save`` / ``mg.nd.load``: MXNet 1.x's NDArray-list file format (``mx.nd.save``, ``.params``).

Layout, all little-endian, no padding: u64 0x112, u64 0 (reserved), u64 N, N array records,
u64 K (0 or N), K x (u64 length + UTF-8 name).  A dense V2/V3 record: u32 magic, i32 storage
type (0), i32 ndim + ndim x i64 dims, i32 dev_type, i32 dev_id, i32 dtype flag, the data in C order.
V1 records have no storage type; pre-V1 records start with u32 ndim and u32 dims instead of magic.

Files are untrusted data: nothing is evaluated, every size is checked against the bytes left
before anything is allocated, and every defect raises ``ParamsFormatError`` naming the source,
the byte offset and the entry.
"""
from __future__ import annotations

import contextlib
import os
import struct
import uuid

import numpy as np

from ..base import MXNetError
from ..util import is_np_shape
from .ndarray import NDArray

__all__ = ["ParamsFormatError", "save", "load", "load_frombuffer"]

_LIST_MAGIC = 0x112
_V1, _V2, _V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
_MAX_NDIM = 32
_DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]  # index = flag
_FLAGS = {name: flag for flag, name in enumerate(_DTYPES)}
_UNSUPPORTED = {8: "int16", 9: "uint16", 10: "uint32", 11: "uint64", 12: "bfloat16"}
_SPARSE = {1: ("row_sparse", 1), 2: ("csr", 2)}  # storage type -> (name, number of aux arrays)
_MIN_RECORD = 20  # smallest record that loads: pre-V1, ndim 1, dim 0, ctx, dtype flag
_MAX_BYTES = np.iinfo(np.intp).max  # numpy refuses shapes beyond this even when one dim is 0


class ParamsFormatError(MXNetError, ValueError):
    """A malformed NDArray file, or one holding arrays minigluon cannot represent."""


# --- save -------------------------------------------------------------------------------------

def save(fname, data) -> None:
    """Save an NDArray, a list/tuple of NDArrays or a dict str -> NDArray, as ``mx.nd.save`` does.

    Records are V2 (MXNet's default shape mode), dense, context cpu(0).  MXNet 1.x reads a V2
    record with ndim 0 as "no array" and refuses V3 records outside np-shape mode, so a 0-d
    array is written with shape (1,), the way MXNet 1.x itself represents scalars.  Inside
    ``mg.util.np_shape(True)`` records are V3 and 0-d arrays stay 0-d, as MXNet writes them.  The file is
    written to a temporary name and renamed, so a failed save leaves no partial file behind.
    """
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        for key in data:
            if not isinstance(key, str):
                raise TypeError(f"save: dict keys must be str, got {type(key).__name__} {key!r}")
        labels, values = list(data), list(data.values())
    elif isinstance(data, (list, tuple)):
        labels, values = list(range(len(data))), list(data)
    else:
        raise TypeError("save only accepts an NDArray, a list of NDArrays or a dict str -> NDArray, "
                        f"got {type(data).__name__}")
    np_mode = is_np_shape()  # MXNet writes V3 records, with real 0-d arrays, in that mode
    records = []  # everything is checked before the file is touched
    for label, value in zip(labels, values):
        if not isinstance(value, NDArray):
            raise TypeError(f"save: entry {label!r} must be an NDArray, got {type(value).__name__}")
        x = np.asarray(value._data)
        flag = _FLAGS.get(x.dtype.name)
        if flag is None:
            raise TypeError(f"save: entry {label!r} has dtype {x.dtype}, which the MXNet format cannot "
                            f"hold here (supported: {', '.join(_DTYPES)})")
        shape = x.shape if np_mode else x.shape or (1,)
        if len(shape) > _MAX_NDIM:
            raise ValueError(f"save: entry {label!r} has {len(shape)} dimensions (MXNet allows {_MAX_NDIM})")
        header = struct.pack(f"<Iii{len(shape)}qiii", _V3 if np_mode else _V2, 0, len(shape), *shape,
                             1, 0, flag)
        flat = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<")).reshape(-1)
        records.append((header, flat.view(np.uint8)))
    names = []
    if isinstance(data, dict):
        for key in labels:
            try:
                names.append(key.encode("utf-8"))
            except UnicodeEncodeError:
                raise ValueError(f"save: key {key!r} cannot be encoded as UTF-8") from None

    target = os.path.realpath(os.fspath(fname))  # like MXNet, write through a symlink
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex[:12]}.tmp")
    # O_EXCL: never follow or clobber anything at the temporary name; 0o666 lets the umask apply
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<QQQ", _LIST_MAGIC, 0, len(records)))
            for header, raw in records:
                f.write(header)
                f.write(raw)
            f.write(struct.pack("<Q", len(names)))
            for name in names:
                f.write(struct.pack("<Q", len(name)) + name)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- load -------------------------------------------------------------------------------------

def load(fname):
    """Load a file written by ``mx.nd.save`` / ``save``: a dict name -> NDArray if it has names,
    else a list (``[]`` for an empty file, as in MXNet)."""
    with open(fname, "rb") as f:
        buf = f.read()
    return _parse(memoryview(buf), repr(os.fspath(fname)))


def load_frombuffer(buf):
    """``load`` from bytes already in memory."""
    if isinstance(buf, str):
        raise TypeError("load_frombuffer needs a bytes-like object, got str")
    return _parse(memoryview(buf).cast("B"), "<buffer>")


class _Reader:
    def __init__(self, buf: memoryview, src: str):
        self.buf, self.src, self.pos, self.where = buf, src, 0, "header"

    def fail(self, msg: str, at: int | None = None):
        at = self.pos if at is None else at
        raise ParamsFormatError(f"invalid NDArray file {self.src}: byte offset {at} (0x{at:x}), "
                                f"{self.where}: {msg}")

    def left(self) -> int:
        return len(self.buf) - self.pos

    def take(self, n: int, what: str) -> memoryview:
        if n > self.left():
            self.fail(f"truncated {what}: needs {n} bytes, {self.left()} left")
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def shape(self, what: str, legacy_ndim: int | None = None) -> tuple:
        """i32 ndim + ndim x i64 dims; pre-V1 records have read ndim already and use u32 dims."""
        at = self.pos
        ndim = self.unpack("<i", f"{what} ndim")[0] if legacy_ndim is None else legacy_ndim
        if not 0 <= ndim <= _MAX_NDIM:
            self.fail(f"{what} has ndim {ndim} (must be 0..{_MAX_NDIM})", at)
        dims = self.unpack(f"<{ndim}{'q' if legacy_ndim is None else 'I'}", f"{what} dims")
        if any(d < 0 for d in dims):
            self.fail(f"{what} {dims} has a negative dimension", at)
        return dims

    def dtype(self, flag: int, at: int) -> np.dtype:
        if 0 <= flag < len(_DTYPES):
            return np.dtype(_DTYPES[flag])
        if flag in _UNSUPPORTED:
            self.fail(f"dtype flag {flag} ({_UNSUPPORTED[flag]}) is not supported", at)
        self.fail(f"unknown dtype flag {flag}", at)

    def data(self, dims: tuple, dtype: np.dtype, what: str, at: int) -> memoryview:
        count = 1
        for d in dims:  # stop as soon as the size is absurd: no huge products, no allocation
            count *= d or 1
            if count * dtype.itemsize > _MAX_BYTES:
                self.fail(f"{what} {dims} is too large", at)
        nbytes = 0 if 0 in dims else count * dtype.itemsize
        if nbytes > self.left():
            self.fail(f"{what} {dims} of {dtype} needs {nbytes} data bytes, only {self.left()} left", at)
        return self.take(nbytes, "data")

    def record(self):
        """One array as a numpy array, or (storage name, offset) for a sparse one."""
        at = self.pos
        magic = self.unpack("<I", "array magic")[0]
        if magic in (_V2, _V3):
            stype = self.unpack("<i", "storage type")[0]
            if stype in _SPARSE:
                return self.skip_sparse(stype, at)
            if stype != 0:
                self.fail(f"unknown storage type {stype}", at + 4)
            dims = self.shape("shape")
        elif magic == _V1:
            dims = self.shape("shape")
        elif magic <= _MAX_NDIM:  # pre-V1 layout: the u32 is ndim
            dims = self.shape("shape", legacy_ndim=magic)
        else:
            self.fail(f"unknown array magic 0x{magic:08x}", at)
        if not dims and magic != _V3:  # only V3 has real 0-d arrays; elsewhere ndim 0 means "none"
            self.fail("ndim 0 marks an uninitialised (none) array, which cannot be loaded", at)
        flag_at = self.pos + 8
        flag = self.unpack("<iii", "context and dtype")[2]  # the context is ignored: load to cpu
        dtype = self.dtype(flag, flag_at)
        raw = self.data(dims, dtype, "shape", at)
        if dtype == np.bool_:  # normalise bytes other than 0/1
            return np.frombuffer(raw, np.uint8).astype(np.bool_).reshape(dims)
        return np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(dims)  # astype copies

    def skip_sparse(self, stype: int, at: int):
        # walk the whole record so the error can name the entry once the names are read
        kind, naux = _SPARSE[stype]
        storage = self.shape("storage shape")
        self.shape("shape")
        flag_at = self.pos + 8
        parts = [(storage, self.dtype(self.unpack("<iii", "context and dtype")[2], flag_at))]
        for _ in range(naux):
            flag_at = self.pos
            flag = self.unpack("<i", "aux dtype")[0]
            parts.append((self.shape("aux shape"), self.dtype(flag, flag_at)))
        for dims, dtype in parts:
            self.data(dims, dtype, f"{kind} part", at)
        return kind, at


def _parse(buf: memoryview, src: str):
    r = _Reader(buf, src)
    magic, reserved, n = r.unpack("<QQQ", "file header")
    if magic != _LIST_MAGIC:
        r.fail(f"list magic 0x{magic:x} is not 0x{_LIST_MAGIC:x}: not an MXNet NDArray file", 0)
    if reserved:
        r.fail(f"reserved field is {reserved}, not 0", 8)
    if n and n > (r.left() - 8) // _MIN_RECORD:
        r.fail(f"header claims {n} arrays but only {r.left()} bytes follow", 16)
    arrays = []
    for i in range(n):
        r.where = f"entry {i}"
        arrays.append(r.record())
    r.where = "name table"
    at = r.pos
    k = r.unpack("<Q", "name count")[0]
    if k not in (0, n):
        r.fail(f"{k} names for {n} arrays (must be 0 or {n})", at)
    names: dict[str, int] = {}
    for i in range(k):
        r.where = f"entry {i} name"
        at = r.pos
        length = r.unpack("<Q", "name length")[0]
        if length > r.left():
            r.fail(f"name length {length} runs past the end of the file ({r.left()} bytes left)", at)
        raw = r.take(length, "name")
        try:
            name = str(raw, "utf-8")
        except UnicodeDecodeError:
            r.fail("name is not valid UTF-8", at)
        if name in names:
            r.fail(f"duplicate name {name!r} (also entry {names[name]})", at)
        names[name] = i
    if r.left():
        r.where = "end of file"
        r.fail(f"{r.left()} bytes of trailing garbage")
    labels = list(names)
    for i, a in enumerate(arrays):
        if isinstance(a, tuple):
            r.where = f"entry {i}" + (f" ({labels[i]!r})" if labels else "")
            r.fail(f"{a[0]} storage: sparse arrays are not supported", a[1])
    arrays = [NDArray(a) for a in arrays]
    return dict(zip(labels, arrays)) if labels else arrays
