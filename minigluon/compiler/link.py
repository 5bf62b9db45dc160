"""Pass 6, link: optimize the LLVM module for this CPU and turn it into callable code.

Optimization is LLVM's -O3 pipeline through the new pass manager with loop and SLP
vectorization, for the host CPU and its features (AVX2, AVX-512 where present).  The
machine code is kept as an object file; on disk (``MINIGLUON_CACHE_DIR``, else the user
cache directory) it lets a second process skip LLVM entirely.

Loading an entry runs its code, so the disk cache trusts only what this user wrote: a
directory and entries owned by this user and writable by no one else, and entries whose
HMAC under this user's secret key (``.key``, mode 0600) covers the cache key, the
schedule metadata and the object code together.  Anything else is compiled in memory.
Entries are written to a temporary name and renamed, so concurrent processes never see
half a file, and the least recently used ones are deleted past ``MINIGLUON_CACHE_MAX_BYTES``.
"""
from __future__ import annotations

import ctypes
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import struct
import warnings
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from ..base import ForkSafeLock
from .errors import CompileError

_LOCK = ForkSafeLock()


def _hold_llvm_across_fork() -> None:
    """llvmlite serializes every call into LLVM with one lock of its own.  A fork() taken
    while another thread is inside such a call would leave that lock held in the child
    for good, so fork waits for the call to end and the child starts with it free."""
    lock = getattr(getattr(llvm.ffi, "lib", None), "_lock", None)
    if lock is not None and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=lock.__enter__, after_in_parent=lambda: lock.__exit__(),
                            after_in_child=lambda: lock.__exit__())


_hold_llvm_across_fork()


def new_target_machine():
    """A target machine for this CPU. An execution engine takes ownership of the one it
    is given, so each engine gets its own; optimizing and emitting share a cached one."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, reloc="static", codemodel="jitdefault")


@lru_cache(maxsize=1)
def target_machine():
    return new_target_machine()


@lru_cache(maxsize=1)
def target_id() -> str:
    """What the machine code depends on besides the graph: CPU, features, versions, and
    the compiler's own source (so a changed lowering never loads a stale kernel)."""
    here = Path(__file__).resolve().parent
    source = hashlib.sha256()
    for f in sorted([*here.glob("*.py"), *(here.parent / "ops").glob("*.py")]):
        source.update(f.read_bytes())
    return "|".join([llvm.get_process_triple(), llvm.get_host_cpu_name(),
                     llvm.get_host_cpu_features().flatten(), llvmlite.__version__,
                     source.hexdigest()])


def optimize(ir_text: str) -> llvm.ModuleRef:
    tm = target_machine()
    mod = llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_process_triple()
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


class Library:
    """Machine code loaded into this process; functions by name as addresses."""

    def __init__(self, obj: bytes):
        empty = llvm.parse_assembly("")
        empty.triple = llvm.get_process_triple()
        self.engine = llvm.create_mcjit_compiler(empty, new_target_machine())
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        with _LOCK:
            self.engine.finalize_object()

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise CompileError(f"kernel {name!r} missing from the compiled object")
        return addr

    def function(self, name: str, nargs: int):
        proto = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * nargs))
        return proto(self.address(name))


def compile_object(ir_text: str) -> tuple[bytes, str]:
    """(object code, optimized IR text)."""
    mod = optimize(ir_text)
    return target_machine().emit_object(mod), str(mod)


def cache_dir() -> Path:
    env = os.environ.get("MINIGLUON_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "minigluon"


DEFAULT_MAX_BYTES = 256 << 20
ENTRY_SUFFIX = ".kernel"
KEY_FILE = ".key"
KEY_BYTES = 32
# magic, HMAC-SHA256, metadata length; then the metadata (JSON) and the object code
_HEADER = struct.Struct("<4s32sQ")
_MAGIC = b"MGK1"
# what pruning may delete: entries, and the unsigned .o/.json pairs of older versions
_PRUNABLE = re.compile(r"[0-9a-f]{64}(\.kernel|\.o|\.json)")
# without these the checks below cannot be made race-free (Windows): no disk cache
_CAN_CHECK = (hasattr(os, "geteuid") and hasattr(os, "O_NOFOLLOW")
              and {os.open, os.link, os.rename, os.unlink} <= os.supports_dir_fd
              and {os.scandir, os.utime} <= os.supports_fd)
_WARNED: set[str] = set()


class _Untrusted(Exception):
    """Why the cache directory, its key or an entry may hold code another user wrote."""


def cache_max_bytes() -> int:
    """The disk cache's size cap (``MINIGLUON_CACHE_MAX_BYTES``); 0 turns the cache off."""
    raw = os.environ.get("MINIGLUON_CACHE_MAX_BYTES", "").strip()
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        raise ValueError(f"MINIGLUON_CACHE_MAX_BYTES must be a number of bytes, got {raw!r}") from None


def cache_key(graph_text: str) -> str:
    return hashlib.sha256(f"{target_id()}\n{graph_text}".encode()).hexdigest()


def load_cached(key: str) -> tuple[bytes, dict] | None:
    """The object code and metadata stored for key, or None if absent, damaged, or not
    signed by this user's key."""
    return _in_cache(False, lambda d, secret: _read_entry(d, secret, key))


def store_cached(key: str, obj: bytes, meta: dict) -> None:
    """Sign and store an entry, then prune the cache to its size cap."""
    _in_cache(True, lambda d, secret: _write_entry(d, secret, key, obj, meta))


def _in_cache(create: bool, use):
    """use(directory fd, secret) in a cache directory only this user controls, or None.
    All access goes through the directory's fd, so the directory checked is the one used."""
    path = cache_dir()
    if not _CAN_CHECK or cache_max_bytes() <= 0:
        return None
    try:
        if create:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        d = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        _check_owner(os.fstat(d), "it")
        secret = _secret(d, create)
        return use(d, secret) if secret else None
    except _Untrusted as e:
        if str(path) not in _WARNED:
            _WARNED.add(str(path))
            warnings.warn(f"minigluon: not using the kernel cache {path}: {e}; compiling in memory",
                          RuntimeWarning)
    except OSError:
        pass  # a read-only or full cache directory only costs a compile
    finally:
        os.close(d)
    return None


def _check_owner(st: os.stat_result, what: str) -> None:
    if st.st_uid != os.geteuid():
        raise _Untrusted(f"{what} is owned by uid {st.st_uid}, not by this user ({os.geteuid()})")
    if st.st_mode & 0o022:
        raise _Untrusted(f"{what} is writable by others (mode {stat.S_IMODE(st.st_mode):04o})")


def _secret(d: int, create: bool) -> bytes | None:
    """This user's HMAC key, made on first store (None before that)."""
    try:
        fd = os.open(KEY_FILE, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=d)
    except FileNotFoundError:
        if not create:
            return None
        # linked into place, never replaced: racing processes all end up with the first key
        _place(d, KEY_FILE, os.urandom(KEY_BYTES), replace=False)
        fd = os.open(KEY_FILE, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=d)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        _check_owner(st, f"its key file {KEY_FILE}")
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
            raise _Untrusted(f"its key file {KEY_FILE} is not private "
                             f"(mode {stat.S_IMODE(st.st_mode):04o}, want 0600)")
        secret = f.read(KEY_BYTES + 1)
    if len(secret) != KEY_BYTES:
        raise _Untrusted(f"its key file {KEY_FILE} is not {KEY_BYTES} bytes")
    return secret


def _mac(secret: bytes, key: str, meta: bytes, obj: bytes) -> bytes:
    # the cache key is signed too, so a valid entry renamed to another graph's key never loads
    mac = hmac.new(secret, _MAGIC + struct.pack("<QQ", len(key), len(meta)), hashlib.sha256)
    for part in (key.encode(), meta, obj):
        mac.update(part)
    return mac.digest()


def _read_entry(d: int, secret: bytes, key: str) -> tuple[bytes, dict] | None:
    try:
        fd = os.open(key + ENTRY_SUFFIX, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=d)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        _check_owner(st, f"entry {key}{ENTRY_SUFFIX}")
        entry = _unpack(f.read(), secret, key) if stat.S_ISREG(st.st_mode) else None
        if entry:
            with suppress(OSError):  # a hit is a use, for pruning; a read-only cache still hits
                os.utime(fd)
    return entry


def _unpack(data: bytes, secret: bytes, key: str) -> tuple[bytes, dict] | None:
    if len(data) < _HEADER.size:
        return None
    magic, mac, n = _HEADER.unpack_from(data)
    meta, obj = data[_HEADER.size:_HEADER.size + n], data[_HEADER.size + n:]
    if magic != _MAGIC or len(meta) != n or not hmac.compare_digest(mac, _mac(secret, key, meta, obj)):
        return None
    return obj, json.loads(meta)


def _write_entry(d: int, secret: bytes, key: str, obj: bytes, meta: dict) -> None:
    meta_bytes = json.dumps(meta).encode()
    data = _HEADER.pack(_MAGIC, _mac(secret, key, meta_bytes, obj), len(meta_bytes)) + meta_bytes + obj
    cap = cache_max_bytes()
    if len(data) <= cap:
        _place(d, key + ENTRY_SUFFIX, data, replace=True)
        _prune(d, cap)


def _place(d: int, name: str, data: bytes, replace: bool) -> None:
    """Write data under a temporary name, then move it to name, so readers see all of it
    or nothing; without replace, an existing name (another process was first) is kept."""
    tmp = f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if replace:
            os.replace(tmp, name, src_dir_fd=d, dst_dir_fd=d)
        else:
            with suppress(FileExistsError):
                os.link(tmp, name, src_dir_fd=d, dst_dir_fd=d)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=d)


def _prune(d: int, cap: int) -> None:
    """Delete the least recently used entries (a hit touches its entry) past cap bytes."""
    with os.scandir(d) as it:
        files = [(e.stat(follow_symlinks=False), e.name) for e in it
                 if _PRUNABLE.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
    files.sort(key=lambda f: f[0].st_mtime_ns, reverse=True)
    total = 0
    for st, name in files:
        total += st.st_size
        if total > cap:
            with suppress(FileNotFoundError):  # another process pruned it first
                os.unlink(name, dir_fd=d)
