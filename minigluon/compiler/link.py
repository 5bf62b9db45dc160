"""Pass 6, link: optimize the LLVM module for this CPU and turn it into callable code.

Optimization is LLVM's -O3 pipeline through the new pass manager with loop and SLP
vectorization, for the host CPU and its features (AVX2, AVX-512 where present).  The
machine code is kept as an object file; on disk (``MINIGLUON_CACHE_DIR``, else the user
cache directory) it lets a second process skip LLVM entirely.  Files are written to a
temporary name and renamed, so concurrent processes never see half a file, and a
digest guards against truncated or altered entries.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from .infer import CompileError

_LOCK = threading.Lock()


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


def cache_key(graph_text: str) -> str:
    return hashlib.sha256(f"{target_id()}\n{graph_text}".encode()).hexdigest()


def load_cached(key: str) -> tuple[bytes, dict] | None:
    """The object file and metadata stored for key, or None if absent or damaged."""
    d = cache_dir()
    try:
        meta = json.loads((d / f"{key}.json").read_text())
        obj = (d / f"{key}.o").read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("sha256") != hashlib.sha256(obj).hexdigest():
        return None
    return obj, meta


def store_cached(key: str, obj: bytes, meta: dict) -> None:
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        meta = {**meta, "sha256": hashlib.sha256(obj).hexdigest()}
        # object first, metadata last: an entry counts only once its metadata exists
        for suffix, data in ((".o", obj), (".json", json.dumps(meta).encode())):
            fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{key}", suffix=suffix)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, d / f"{key}{suffix}")
    except OSError:
        pass  # a read-only or full cache directory only costs the next process a compile
