"""The disk cache loads only code this user compiled, and stays under its size cap."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
from collections import Counter

import numpy as np
import pytest

import minigluon as mg
from minigluon.compiler import link, parallel, pipeline

X = np.arange(4, dtype=np.float32)
OTHER_UID = 12345


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("MINIGLUON_CACHE_DIR", str(d))
    monkeypatch.delenv("MINIGLUON_CACHE_MAX_BYTES", raising=False)
    return d


def compile_x(expr) -> tuple:
    """(output on X, cache key, stats) of expr(x) compiled from an empty memory cache."""
    x = mg.sym.var("x", shape=(4,), dtype="float32")
    graph = expr(x)
    counts = Counter()
    pipeline._MEMORY.clear()  # so that a compiled graph is looked up on disk
    exe = pipeline.compile_graph(graph, ["x"], stats=lambda k, v: counts.update({k: v}))
    key = link.cache_key(pipeline.canonical_text(graph, ["x"]))
    return exe.run([X])[0], key, counts


def entry(cache, key):
    return cache / (key + link.ENTRY_SUFFIX)


def refusals(fn) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def test_cache_dir_is_created_private(cache):
    old = os.umask(0o022)
    try:
        link.store_cached("a" * 64, b"obj", {})
    finally:
        os.umask(old)
    assert cache.stat().st_mode & 0o777 == 0o700
    assert (cache / link.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert link.load_cached("a" * 64) == (b"obj", {})


@pytest.mark.parametrize("spoil,reason", [
    (lambda d: os.chmod(d, 0o770), "writable by others (mode 0770)"),
    (lambda d: os.chmod(d, 0o707), "writable by others (mode 0707)"),
    (lambda d: os.chown(d, OTHER_UID, -1), f"owned by uid {OTHER_UID}")],
    ids=["group-writable", "world-writable", "other-owner"])
def test_cache_dir_others_control_is_refused_with_one_warning(cache, spoil, reason):
    out, key, _ = compile_x(lambda x: x + 1)
    spoil(cache)
    first = refusals(lambda: link.load_cached(key))
    assert len(first) == 1 and str(cache) in first[0] and reason in first[0]
    assert link.load_cached(key) is None
    again = refusals(lambda: compile_x(lambda x: x + 1))
    assert again == []  # one warning per directory and process
    out2, _, counts = compile_x(lambda x: x + 1)
    assert counts["cache_hits"] == 0 and counts["kernels_compiled"] == 1
    np.testing.assert_array_equal(out2, X + 1)


def test_entry_owned_by_another_user_is_refused(cache):
    _, key, _ = compile_x(lambda x: x + 1)
    for p in cache.glob(key + "*"):
        os.chown(p, OTHER_UID, -1)
    messages = refusals(lambda: link.load_cached(key))
    assert len(messages) == 1 and f"owned by uid {OTHER_UID}" in messages[0]
    assert link.load_cached(key) is None


def test_tampered_object_is_recompiled(cache):
    _, key, _ = compile_x(lambda x: x + 1)
    data = bytearray(entry(cache, key).read_bytes())
    data[-1] ^= 1  # the object code is the entry's tail
    entry(cache, key).write_bytes(bytes(data))
    assert link.load_cached(key) is None
    out, _, counts = compile_x(lambda x: x + 1)
    assert counts["cache_hits"] == 0 and counts["kernels_compiled"] == 1
    np.testing.assert_array_equal(out, X + 1)
    assert link.load_cached(key) is not None  # the recompile replaced the entry


def test_tampered_schedule_is_not_loaded(cache):
    _, key, _ = compile_x(lambda x: x + 1)
    data = entry(cache, key).read_bytes()
    assert b'"float32"' in data
    entry(cache, key).write_bytes(data.replace(b'"float32"', b'"float64"'))
    assert link.load_cached(key) is None
    out, _, counts = compile_x(lambda x: x + 1)
    assert counts["cache_hits"] == 0
    np.testing.assert_array_equal(out, X + 1)


def test_entry_copied_to_another_graphs_key_is_not_loaded(cache):
    _, key_a, _ = compile_x(lambda x: x + 1)
    _, key_b, _ = compile_x(lambda x: x * 2)
    for p in list(cache.glob(key_a + "*")):
        shutil.copyfile(p, cache / p.name.replace(key_a, key_b))
    assert link.load_cached(key_b) is None
    out, _, counts = compile_x(lambda x: x * 2)
    assert counts["cache_hits"] == 0
    np.testing.assert_array_equal(out, X * 2)


def test_entry_forged_with_a_plain_digest_is_refused(cache):
    key = "b" * 64
    link.store_cached("a" * 64, b"genuine", {})  # the cache and its key exist
    forged, meta = b"\x7fELF planted code", {"schedule": {}}
    # the previous layout: object plus JSON holding the object's sha256
    (cache / f"{key}.o").write_bytes(forged)
    (cache / f"{key}.json").write_text(json.dumps({**meta, "sha256": hashlib.sha256(forged).hexdigest()}))
    assert link.load_cached(key) is None
    # the current layout, with an unkeyed digest where the HMAC belongs
    meta_bytes = json.dumps(meta).encode()
    digest = hashlib.sha256(key.encode() + meta_bytes + forged).digest()
    header = link._HEADER.pack(link._MAGIC, digest, len(meta_bytes))
    entry(cache, key).write_bytes(header + meta_bytes + forged)
    assert link.load_cached(key) is None


@pytest.mark.parametrize("spoil,reason", [
    (lambda k: os.chmod(k, 0o644), "not private (mode 0644"),
    (lambda k: os.chown(k, OTHER_UID, -1), f"owned by uid {OTHER_UID}"),
    (lambda k: k.write_bytes(k.read_bytes()[:16]), "not 32 bytes")],
    ids=["mode-0644", "other-owner", "short"])
def test_untrusted_key_file_disables_the_cache(cache, spoil, reason):
    link.store_cached("a" * 64, b"obj", {})
    key_file = cache / link.KEY_FILE
    spoil(key_file)
    spoiled = key_file.read_bytes()
    messages = refusals(lambda: link.load_cached("a" * 64))
    assert len(messages) == 1 and reason in messages[0]
    link.store_cached("c" * 64, b"obj", {})
    assert key_file.read_bytes() == spoiled and not entry(cache, "c" * 64).exists()


def test_concurrent_stores_end_with_one_key(cache):
    keys = [f"{i:064x}" for i in range(12)]
    start = threading.Barrier(len(keys))

    def store(key):
        start.wait()
        link.store_cached(key, key.encode(), {})

    threads = [threading.Thread(target=store, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(link.load_cached(k) == (k.encode(), {}) for k in keys)
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) == [link.KEY_FILE]


_POOL_CHILD = """
from minigluon.compiler import parallel
pool = parallel.Pool(2)
assert pool.library.address("mg_run")
pool.close()
"""


def test_planted_parallel_runtime_is_not_loaded(cache):
    key = parallel.runtime_key(parallel.build_runtime())
    link.store_cached("a" * 64, b"obj", {})  # the cache and its key exist
    planted = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4
    (cache / f"{key}.o").write_bytes(planted)
    (cache / f"{key}.json").write_text(json.dumps({"sha256": hashlib.sha256(planted).hexdigest()}))
    entry(cache, key).write_bytes(link._HEADER.pack(link._MAGIC, bytes(32), 2) + b"{}" + planted)
    assert link.load_cached(key) is None
    # loading the planted object could crash the process: the pool starts in a child
    subprocess.run([sys.executable, "-c", _POOL_CHILD], env=dict(os.environ), check=True,
                   capture_output=True, timeout=120)
    obj, _ = link.load_cached(key)  # the child stored its own runtime under that key
    assert obj != planted


def test_lru_pruning_keeps_recently_used_entries_under_the_cap(cache, monkeypatch):
    keys = [f"{i:064x}" for i in range(3)]
    for i, key in enumerate(keys[:2]):
        link.store_cached(key, bytes(1000), {"n": i})
    legacy, notes = cache / ("d" * 64 + ".o"), cache / "notes.txt"
    legacy.write_bytes(b"unsigned entry of an older version")
    notes.write_text("not the cache's")
    for t, p in enumerate([legacy, entry(cache, keys[0]), entry(cache, keys[1])]):
        os.utime(p, (1000 + t, 1000 + t))
    assert link.load_cached(keys[0])  # a hit: keys[0] is now the most recently used
    size = entry(cache, keys[0]).stat().st_size
    cap = 2 * size + size // 2
    monkeypatch.setenv("MINIGLUON_CACHE_MAX_BYTES", str(cap))
    link.store_cached(keys[2], bytes(1000), {"n": 2})
    assert link.load_cached(keys[1]) is None and not legacy.exists()
    assert link.load_cached(keys[0]) == (bytes(1000), {"n": 0})
    assert link.load_cached(keys[2]) == (bytes(1000), {"n": 2})
    assert notes.exists()
    assert sum(p.stat().st_size for p in cache.iterdir() if p.name not in (link.KEY_FILE, notes.name)) <= cap


def test_zero_max_bytes_turns_the_disk_cache_off(cache, monkeypatch):
    monkeypatch.setenv("MINIGLUON_CACHE_MAX_BYTES", "0")
    link.store_cached("a" * 64, b"obj", {})
    out, key, _ = compile_x(lambda x: x + 1)
    np.testing.assert_array_equal(out, X + 1)
    assert not cache.exists() and link.load_cached(key) is None
