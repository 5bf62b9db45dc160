"""mg.nd.save / load / load_frombuffer: MXNet 1.x's NDArray-list format (.params files).

The reference files in fixtures/mxnet-params were written by mxnet 1.9.1 (mx.nd.save); values.npz
holds what they contain, under "FILE/NAME" or "FILE/INDEX" (zero_legacy.params uses "zero/...").
"""
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError
from minigluon.ndarray import io as ndio

nd = mg.nd
Err = nd.ParamsFormatError
REF = Path(__file__).parent.parent / "fixtures" / "mxnet-params"
EXPORTED = Path(__file__).parent.parent / "fixtures" / "mxnet-1.9.1"
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]


@pytest.fixture(scope="module")
def values():
    with np.load(REF / "values.npz") as z:
        return {k: z[k] for k in z.files}


def ref_bytes(name):
    return (REF / f"{name}.params").read_bytes()


def record(shape, flag, data=b"", magic=V2, stype=0, ctx=(1, 0)):
    """One dense record; magic None gives the pre-V1 layout (u32 ndim, u32 dims)."""
    if magic is None:
        head = struct.pack(f"<I{len(shape)}I", len(shape), *shape)
    elif magic == V1:
        head = struct.pack(f"<Ii{len(shape)}q", V1, len(shape), *shape)
    else:
        head = struct.pack(f"<Iii{len(shape)}q", magic, stype, len(shape), *shape)
    return head + struct.pack("<iii", *ctx, flag) + data


def params(records, names=None, n=None, k=None):
    out = struct.pack("<QQQ", 0x112, 0, len(records) if n is None else n) + b"".join(records)
    names = [s.encode() if isinstance(s, str) else s for s in names or []]
    out += struct.pack("<Q", len(names) if k is None else k)
    return out + b"".join(struct.pack("<Q", len(s)) + s for s in names)


def f32(*vals):
    return np.array(vals, np.float32).tobytes()


def raises_at(buf, offset, *fragments):
    """load_frombuffer(buf) must fail with a ParamsFormatError naming the offset and fragments."""
    with pytest.raises(Err) as info:
        nd.load_frombuffer(buf)
    msg = str(info.value)
    assert isinstance(info.value, MXNetError) and isinstance(info.value, ValueError)
    assert "<buffer>" in msg and f"byte offset {offset} (0x{offset:x})" in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def patched(buf, offset, fmt, value):
    b = bytearray(buf)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def check_equal(got, expected):
    assert isinstance(got, nd.NDArray)
    a = got.asnumpy()
    assert a.dtype == expected.dtype and a.shape == expected.shape
    assert a.tobytes() == expected.tobytes()  # bit-exact (NaN payloads, -0.0, ...)


# --- the API ----------------------------------------------------------------------------------

def test_exported_from_mg_nd():
    assert nd.save is ndio.save and nd.load is ndio.load and nd.load_frombuffer is ndio.load_frombuffer
    assert nd.ParamsFormatError is ndio.ParamsFormatError
    assert {"save", "load", "load_frombuffer", "ParamsFormatError"} <= set(nd.__all__)
    assert issubclass(Err, MXNetError) and issubclass(Err, ValueError)


# --- files written by MXNet 1.9.1 -------------------------------------------------------------

@pytest.mark.parametrize("name, kind, keys", [
    ("dict", dict, ["arg:w", "aux:m", "arg:i", "arg:u8", "arg:i64", "arg:scalar", "arg:f16"]),
    ("list", list, [0, 1]),
    ("extra", dict, ["arg:i8", "arg:b"]),
    ("zero_legacy", dict, ["arg:z"]),  # V2 records: legacy shape mode
    ("zero", dict, ["arg:z"]),  # V3 records: np-shape mode
    ("npshape", dict, ["arg:w", "arg:s"]),  # V3, with a real 0-d scalar
])
def test_mxnet_reference_files_load_exactly(values, name, kind, keys):
    got = nd.load(REF / f"{name}.params")
    assert type(got) is kind
    assert (list(got) if kind is dict else list(range(len(got)))) == keys  # names keep file order
    prefix = "zero" if name == "zero_legacy" else name
    for key in keys:
        check_equal(got[key], values[f"{prefix}/{key}"])
    assert len(nd.load(str(REF / f"{name}.params"))) == len(keys)  # a str path works too


def test_reference_special_shapes(values):
    assert nd.load(REF / "npshape.params")["arg:s"].shape == ()
    assert nd.load(REF / "npshape.params")["arg:s"].asnumpy() == 2.0
    assert nd.load(REF / "zero.params")["arg:z"].shape == (0, 3)
    assert nd.load(REF / "dict.params")["arg:scalar"].shape == (1,)


def test_empty_files_load_as_empty_list():
    assert nd.load(REF / "empty.params") == []
    exported = sorted(EXPORTED.glob("*-0000.params"))  # what HybridBlock.export writes
    assert exported
    for path in exported:
        assert path.read_bytes() == ref_bytes("empty")
        assert nd.load(path) == []


def test_sparse_file_is_a_clear_error():
    with pytest.raises(Err) as info:
        nd.load(REF / "sparse.params")
    msg = str(info.value)
    assert "sparse arrays are not supported" in msg and "row_sparse" in msg
    assert "entry 0 ('arg:rs')" in msg and "byte offset 24 (0x18)" in msg and "sparse.params" in msg
    # the csr record is walked too: drop the row_sparse record and it is the one reported
    buf = ref_bytes("sparse")
    names_at = len(buf) - (8 + 8 + 6 + 8 + 7)  # K, then "arg:rs" and "arg:csr"
    csr_only = params([buf[buf.index(struct.pack("<I", V2), 28):names_at]], ["arg:csr"])
    raises_at(csr_only, 24, "entry 0 ('arg:csr')", "csr storage", "sparse arrays are not supported")


def test_sparse_in_list_file_names_index():
    buf = ref_bytes("sparse")
    end = len(buf) - (8 + 8 + 6 + 8 + 7)  # strip K and the two names
    raises_at(buf[:end] + struct.pack("<Q", 0), 24, "entry 0:", "row_sparse")


def test_load_frombuffer_matches_load_and_accepts_bytes_likes(values):
    buf = ref_bytes("dict")
    for b in (buf, bytearray(buf), memoryview(buf)):
        got = nd.load_frombuffer(b)
        assert list(got) == list(nd.load(REF / "dict.params"))
        check_equal(got["aux:m"], values["dict/aux:m"])
    with pytest.raises(TypeError):
        nd.load_frombuffer(buf.decode("latin-1"))


def test_loaded_arrays_own_their_data(values):
    buf = bytearray(ref_bytes("dict"))
    got = nd.load_frombuffer(buf)
    buf[0x40:0x58] = b"\xff" * 0x18  # overwrite arg:w's data in the source buffer
    check_equal(got["arg:w"], values["dict/arg:w"])
    data = got["arg:w"]._data
    assert data.flags.writeable and data.dtype.isnative
    data[0, 0] = 42  # and writing to it is fine
    assert got["arg:w"].asnumpy()[0, 0] == 42


# --- save -------------------------------------------------------------------------------------

def test_save_is_byte_identical_to_mxnet(tmp_path, values):
    for name, keys in [("dict", ["arg:w", "aux:m", "arg:i", "arg:u8", "arg:i64", "arg:scalar", "arg:f16"]),
                       ("extra", ["arg:i8", "arg:b"]), ("zero_legacy", ["arg:z"])]:
        prefix = "zero" if name == "zero_legacy" else name
        nd.save(tmp_path / "a.params", {k: nd.NDArray(values[f"{prefix}/{k}"]) for k in keys})
        assert (tmp_path / "a.params").read_bytes() == ref_bytes(name), name
    nd.save(tmp_path / "l.params", [nd.NDArray(values["list/0"]), nd.NDArray(values["list/1"])])
    assert (tmp_path / "l.params").read_bytes() == ref_bytes("list")
    nd.save(tmp_path / "e.params", {})
    assert (tmp_path / "e.params").read_bytes() == ref_bytes("empty")
    nd.save(tmp_path / "e2.params", [])
    assert (tmp_path / "e2.params").read_bytes() == ref_bytes("empty")


def test_round_trip_dict_keeps_order_names_and_values(tmp_path):
    rng = np.random.default_rng(0)
    data = {"z": rng.standard_normal((3, 4)).astype(np.float32), "arg:a": np.arange(5, dtype=np.int64),
            "": np.array([True, False]), "ünïcode ✓": np.ones((1, 1, 1), np.float16)}
    nd.save(str(tmp_path / "d.params"), {k: nd.NDArray(v) for k, v in data.items()})
    got = nd.load(str(tmp_path / "d.params"))
    assert list(got) == list(data)
    for k, v in data.items():
        check_equal(got[k], v)


def test_round_trip_list_tuple_and_single_array(tmp_path):
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([7, 8], np.int32)
    for data in ([nd.NDArray(a), nd.NDArray(b)], (nd.NDArray(a), nd.NDArray(b))):
        nd.save(tmp_path / "l.params", data)
        got = nd.load(tmp_path / "l.params")
        assert type(got) is list and len(got) == 2
        check_equal(got[0], a)
        check_equal(got[1], b)
    nd.save(tmp_path / "one.params", nd.NDArray(b))
    got = nd.load(tmp_path / "one.params")
    assert type(got) is list and len(got) == 1
    check_equal(got[0], b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype(tmp_path, dtype):
    if dtype == "bool":
        x = np.array([[True, False, True], [False, False, True]])
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = np.array([[info.min, info.max, 0], [1, info.max - 1, info.min + 1]], dtype)
    else:
        info = np.finfo(dtype)
        x = np.array([[info.min, info.max, info.tiny], [np.inf, -0.0, np.nan]], dtype)
    nd.save(tmp_path / "t.params", {"x": nd.NDArray(x)})
    buf = (tmp_path / "t.params").read_bytes()
    assert struct.unpack_from("<i", buf, 0x3c)[0] == DTYPES.index(dtype)  # the mshadow flag
    check_equal(nd.load(tmp_path / "t.params")["x"], x)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0, 2), (0, 1000000)])
def test_round_trip_zero_size(tmp_path, shape):
    x = np.zeros(shape, np.float32)
    nd.save(tmp_path / "z.params", [nd.NDArray(x)])
    assert len((tmp_path / "z.params").read_bytes()) == 24 + 12 + 8 * len(shape) + 12 + 8  # no data bytes
    check_equal(nd.load(tmp_path / "z.params")[0], x)


def test_zero_d_array_is_saved_as_shape_1(tmp_path):
    # MXNet 1.x reads V2 ndim 0 as "no array" and refuses V3 records outside np-shape mode,
    # so a 0-d array is written as (1,), which is how MXNet 1.x holds scalars
    nd.save(tmp_path / "s.params", {"s": nd.NDArray(np.array(2.5, np.float64))})
    assert struct.unpack_from("<Iiiq", (tmp_path / "s.params").read_bytes(), 24) == (V2, 0, 1, 1)
    check_equal(nd.load(tmp_path / "s.params")["s"], np.array([2.5]))


def test_round_trip_float64_precision(tmp_path):
    x = np.array([1 / 3, np.pi, 1e-300, 5e-324, np.nextafter(1.0, 2.0), -1e308, 2.0**53 + 2])
    nd.save(tmp_path / "p.params", [nd.NDArray(x)])
    got = nd.load(tmp_path / "p.params")[0].asnumpy()
    assert got.dtype == np.float64 and got.tobytes() == x.tobytes()


def test_round_trip_large_array(tmp_path):
    x = np.random.default_rng(1).standard_normal((1001, 1003)).astype(np.float32)
    y = np.arange(300_007, dtype=np.int64)
    nd.save(tmp_path / "big.params", {"x": nd.NDArray(x), "y": nd.NDArray(y)})
    assert os.path.getsize(tmp_path / "big.params") == 24 + 2 * 24 + 8 * 3 + x.nbytes + y.nbytes + 8 + 2 * 9
    got = nd.load(tmp_path / "big.params")
    check_equal(got["x"], x)
    check_equal(got["y"], y)


def test_save_non_contiguous_and_big_endian_arrays(tmp_path):
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    big = np.arange(4, dtype=">i4")
    nd.save(tmp_path / "v.params", [nd.NDArray(base.T), nd.NDArray(base[:, ::2]), nd.NDArray(big)])
    got = nd.load(tmp_path / "v.params")
    check_equal(got[0], np.ascontiguousarray(base.T))
    check_equal(got[1], np.ascontiguousarray(base[:, ::2]))
    check_equal(got[2], np.arange(4, dtype=np.int32))  # stored little-endian, loaded native


def test_bool_bytes_are_normalised():
    buf = params([record((3,), 7, b"\x00\x02\xff")])
    got = nd.load_frombuffer(buf)[0].asnumpy()
    assert got.tolist() == [False, True, True] and got.view(np.uint8).tolist() == [0, 1, 1]


@pytest.mark.parametrize("dtype", [np.complex64, np.uint16, np.int16, np.uint64, "datetime64[s]"])
def test_save_unsupported_dtype_names_entry(tmp_path, dtype):
    good = nd.NDArray(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="'bad'.*dtype"):
        nd.save(tmp_path / "x.params", {"ok": good, "bad": nd.NDArray(np.zeros(2, dtype))})
    with pytest.raises(TypeError, match="entry 1 "):
        nd.save(tmp_path / "x.params", [good, nd.NDArray(np.zeros(2, dtype))])
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


def test_save_rejects_bad_containers_keys_and_values(tmp_path):
    x = nd.NDArray(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="keys must be str"):
        nd.save(tmp_path / "x.params", {1: x})
    with pytest.raises(TypeError, match="'w' must be an NDArray"):
        nd.save(tmp_path / "x.params", {"w": np.zeros(2)})
    with pytest.raises(TypeError, match="entry 0 must be an NDArray"):
        nd.save(tmp_path / "x.params", [[1.0]])
    with pytest.raises(TypeError, match="only accepts"):
        nd.save(tmp_path / "x.params", 3.0)
    with pytest.raises(ValueError, match="UTF-8"):
        nd.save(tmp_path / "x.params", {"\ud800": x})
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "m.params"
    nd.save(target, {"w": nd.NDArray(np.ones(3, np.float32))})
    before = target.read_bytes()
    with pytest.raises(TypeError):
        nd.save(target, {"w": nd.NDArray(np.ones(3, np.complex64))})
    assert target.read_bytes() == before

    def boom(fd):
        raise OSError("disk full")
    monkeypatch.setattr(ndio.os, "fsync", boom)  # fail after the data went to the temporary file
    with pytest.raises(OSError, match="disk full"):
        nd.save(target, {"w": nd.NDArray(np.zeros(1000, np.float32))})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.params"]


def test_save_to_directory_or_missing_dir_is_oserror(tmp_path):
    x = [nd.NDArray(np.ones(1, np.float32))]
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        nd.save(tmp_path / "d", x)
    with pytest.raises(FileNotFoundError):
        nd.save(tmp_path / "nope" / "x.params", x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"] and not any((tmp_path / "d").iterdir())


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")
def test_save_respects_umask_and_writes_through_symlinks(tmp_path):
    old = os.umask(0o027)
    try:
        nd.save(tmp_path / "u.params", [])
    finally:
        os.umask(old)
    assert (tmp_path / "u.params").stat().st_mode & 0o777 == 0o640
    (tmp_path / "link.params").symlink_to(tmp_path / "u.params")
    nd.save(tmp_path / "link.params", [nd.NDArray(np.ones(2, np.int8))])
    assert (tmp_path / "link.params").is_symlink()
    check_equal(nd.load(tmp_path / "u.params")[0], np.ones(2, np.int8))


def test_load_missing_or_directory_is_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        nd.load(tmp_path / "missing.params")
    with pytest.raises(OSError):
        nd.load(tmp_path)


# --- older record layouts ---------------------------------------------------------------------

def test_v1_and_pre_v1_records_load():
    # both are what MXNet 1.9.1's LegacyLoad reads (checked against mxnet 1.9.1 on these bytes)
    buf = params([record((1, 2), 0, f32(1.5, 2.5), magic=V1), record((2,), 4, struct.pack("<2i", -3, 4),
                                                                      magic=None)], ["a", "b"])
    got = nd.load_frombuffer(buf)
    check_equal(got["a"], np.array([[1.5, 2.5]], np.float32))
    check_equal(got["b"], np.array([-3, 4], np.int32))
    check_equal(nd.load_frombuffer(params([record((0,), 0, magic=None)]))[0], np.zeros(0, np.float32))


def test_v3_scalar_and_context_is_ignored():
    buf = params([record((), 1, struct.pack("<d", 0.1), magic=V3, ctx=(2, 3))])
    check_equal(nd.load_frombuffer(buf)[0], np.array(0.1))


@pytest.mark.parametrize("magic", [V2, V1, None])
def test_ndim_0_outside_v3_is_an_uninitialised_array(magic):
    # V2 and older writers emit ndim 0 only for a "none" array, and stop right after the shape
    buf = params([record((), 0, magic=magic)[:4 if magic is None else 8 if magic == V1 else 12]]) + bytes(20)
    raises_at(buf, 24, "entry 0:", "uninitialised")


# --- malformed files ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dict", "list", "extra", "npshape", "sparse", "empty", "zero"])
def test_every_truncation_is_a_params_format_error(name):
    buf = ref_bytes(name)
    for cut in range(len(buf)):
        with pytest.raises(Err, match=r"<buffer>: byte offset \d+ \(0x[0-9a-f]+\), (header|entry|name)"):
            nd.load_frombuffer(buf[:cut])


def test_truncation_message_names_file_offset_and_entry(tmp_path):
    # a 400-byte first array, so that cuts inside the second one pass the array-count check
    buf = params([record((100,), 0, bytes(400)), record((2, 3), 0, f32(0, 1, 2, 3, 4, 5))], ["a", "b"])
    assert len(buf) == 546 and nd.load_frombuffer(buf)["b"].shape == (2, 3)
    (tmp_path / "t.params").write_bytes(buf[:500])  # inside b's data
    with pytest.raises(Err) as info:
        nd.load(tmp_path / "t.params")
    msg = str(info.value)
    assert "t.params" in msg and "byte offset 456 (0x1c8), entry 1:" in msg and "needs 24 data bytes" in msg
    raises_at(buf[:458], 456, "entry 1:", "truncated array magic")
    raises_at(buf[:462], 460, "entry 1:", "truncated storage type")
    raises_at(buf[:466], 464, "entry 1:", "truncated shape ndim")
    raises_at(buf[:480], 468, "entry 1:", "truncated shape dims")
    raises_at(buf[:490], 484, "entry 1:", "truncated context and dtype")
    raises_at(buf[:20], 0, "header", "truncated file header")
    raises_at(buf[:524], 520, "name table", "truncated name count")
    raises_at(buf[:532], 528, "entry 0 name", "truncated name length")
    raises_at(buf[:540], 537, "entry 1 name", "truncated name length")
    raises_at(buf[:545], 537, "entry 1 name", "name length 1 runs past the end")
    raises_at(ref_bytes("dict")[:0x50], 16, "header", "claims 7 arrays but only 56 bytes follow")


def test_wrong_list_magic():
    raises_at(patched(ref_bytes("dict"), 0, "<Q", 0x113), 0, "header", "list magic 0x113")
    raises_at(b"\x89PNG\r\n\x1a\n" + bytes(100), 0, "not an MXNet NDArray file")


def test_nonzero_reserved_field():
    raises_at(patched(ref_bytes("empty"), 8, "<Q", 1), 8, "header", "reserved")


@pytest.mark.parametrize("magic", [0xF993FACB, 0x12345678, 33, 0xFFFFFFFF])
def test_unknown_array_magic(magic):
    buf = patched(ref_bytes("dict"), 0x18, "<I", magic)
    raises_at(buf, 0x18, "entry 0:", f"unknown array magic 0x{magic:08x}")


@pytest.mark.parametrize("stype", [3, -1, 100])
def test_unknown_storage_type(stype):
    buf = patched(ref_bytes("dict"), 0x1c, "<i", stype)
    raises_at(buf, 0x1c, "entry 0:", f"unknown storage type {stype}")


@pytest.mark.parametrize("flag, what", [
    (13, "unknown dtype flag 13"), (-1, "unknown dtype flag -1"),
    (9, "(uint16) is not supported"), (12, "(bfloat16) is not supported")])
def test_bad_dtype_flag(flag, what):
    raises_at(patched(ref_bytes("dict"), 0x3c, "<i", flag), 0x3c, "entry 0:", what)
    raises_at(patched(ref_bytes("dict"), 0x74, "<i", flag), 0x74, "entry 1:", what)  # aux:m


@pytest.mark.parametrize("ndim", [-1, -2**31, 33, 2**31 - 1])
def test_negative_or_absurd_ndim(ndim):
    raises_at(patched(ref_bytes("dict"), 0x20, "<i", ndim), 0x20, "entry 0:", f"ndim {ndim} (must be 0..32)")


def test_negative_dim():
    buf = patched(ref_bytes("dict"), 0x2c, "<q", -3)
    raises_at(buf, 0x20, "entry 0:", "(2, -3) has a negative dimension")
    raises_at(params([record((2,), 0, magic=V3)[:12] + struct.pack("<q", -1)]), 0x20, "negative dimension")


def test_shape_larger_than_file_fails_before_allocating():
    tracemalloc.start()
    try:
        for shape in [(2**60,), (2**28,), (1024, 1024, 256), (2**31, 2**31, 2**31)]:  # 2**28 f32 = 1 GiB
            msg = raises_at(params([record(shape, 0, f32(1, 2))]), 24, "entry 0:", str(shape))
            assert "data bytes, only 16 left" in msg or "too large" in msg
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    buf = params([record((2, 5), 0, f32(*range(6)))])
    raises_at(buf, 24, "entry 0:", "needs 40 data bytes, only 32 left")


def test_element_count_overflow():
    raises_at(params([record((2**62,) * 32, 0)]), 24, "entry 0:", "too large")
    raises_at(params([record((2**61, 2**61, 0), 6)]), 24, "too large")  # numpy cannot even shape it
    check_equal(nd.load_frombuffer(params([record((0, 10**6), 6)]))[0], np.zeros((0, 10**6), np.int64))


@pytest.mark.parametrize("n", [6, 10**6, 2**63, 2**64 - 1])
def test_array_count_beyond_file(n):
    buf = patched(ref_bytes("list"), 16, "<Q", n)
    raises_at(buf, 16, "header", f"claims {n} arrays")
    raises_at(patched(ref_bytes("empty"), 16, "<Q", 1), 16, "claims 1 arrays")


@pytest.mark.parametrize("k", [1, 3, 8, 2**64 - 1])
def test_name_count_not_0_or_n(k):
    raises_at(patched(ref_bytes("dict"), 0x16a, "<Q", k), 0x16a, "name table", f"{k} names for 7 arrays")


@pytest.mark.parametrize("length", [2**64 - 1, 2**40, 100])
def test_name_length_beyond_file(length):
    raises_at(patched(ref_bytes("dict"), 0x172, "<Q", length), 0x172, "entry 0 name",
              f"name length {length} runs past the end of the file (93 bytes left)")


def test_name_not_utf8():
    buf = bytearray(ref_bytes("dict"))
    buf[0x17f + 8] = 0xff  # first byte of "aux:m"
    raises_at(bytes(buf), 0x17f, "entry 1 name", "not valid UTF-8")


def test_duplicate_names():
    buf = bytearray(ref_bytes("dict"))
    assert buf[0x194:0x199] == b"arg:i"
    buf[0x194:0x199] = b"arg:w"
    raises_at(bytes(buf), 0x18c, "entry 2 name", "duplicate name 'arg:w' (also entry 0)")


@pytest.mark.parametrize("name", ["dict", "list", "empty"])
def test_trailing_garbage(name):
    buf = ref_bytes(name)
    raises_at(buf + b"\x00", len(buf), "end of file", "1 bytes of trailing garbage")
    raises_at(buf + ref_bytes("empty"), len(buf), "32 bytes of trailing garbage")


def test_random_corruption_never_escapes_as_another_error():
    rng = np.random.default_rng(1234)
    sources = [ref_bytes(n) for n in ("dict", "list", "extra", "npshape", "sparse")]
    outcomes = {"loaded": 0, "rejected": 0}
    for _ in range(3000):
        buf = bytearray(sources[rng.integers(len(sources))])
        for _ in range(rng.integers(1, 4)):
            pos = rng.integers(len(buf))
            buf[pos] = rng.integers(256) if rng.random() < 0.7 else buf[pos] ^ (1 << rng.integers(8))
        try:
            got = nd.load_frombuffer(bytes(buf))
        except Err:
            outcomes["rejected"] += 1
        else:
            assert isinstance(got, (list, dict))
            outcomes["loaded"] += 1  # corrupted data bytes still make a valid file
    assert outcomes["loaded"] > 0 and outcomes["rejected"] > 0
