"""Integer and boolean dtypes in compiled kernels: uint8 and bool are zero-extended,
compared and converted as unsigned, float -> integer casts give what numpy's ``astype``
gives, and every label -> index conversion is exact for every size up to the element
limit.  Each case runs compiled, on the numpy interpreter and eagerly, bit for bit."""
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from llvmlite import ir

import minigluon as mg
from minigluon.base import CompileError
from minigluon.compiler import link
from minigluon.compiler.codegen import emit_kernel
from minigluon.compiler.executable import buffer_arg
from minigluon.compiler.pipeline import compile_graph
from minigluon.loopir import Expr, Lazy, cast
from minigluon.ops.registry import MAX_ELEMENTS, DTypeError
from minigluon.symbol.interpreter import Plan

sym, nd = mg.sym, mg.nd
INTS = ["uint8", "int8", "int32", "int64", "bool"]  # every integer dtype nd accepts
X86 = platform.machine().lower() in ("x86_64", "amd64")


def full_range(dtype: str, size: int, seed: int = 0) -> np.ndarray:
    """Values covering the dtype's range, its extremes included (uint8 >= 128 above all)."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(size) > 0.5
    info = np.iinfo(dtype)
    edges = [info.min, info.max, 0, 1, -1 if info.min < 0 else 128, 130, 200, 255, -128, 127]
    edges = [v for v in edges if info.min <= v <= info.max]
    lo, hi = max(info.min, -300), min(info.max, 300)
    out = rng.integers(lo, hi, size=size, endpoint=True).astype(dtype)
    out[:min(size, len(edges))] = edges[:size]
    return rng.permutation(out)


def same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def check(graph, inputs: dict, eager=None) -> list:
    """Compiled == interpreter (== eager(*nd arrays), one array or a list, when given), bit
    for bit."""
    names, arrays = list(inputs), list(inputs.values())
    exe = compile_graph(graph, names)
    assert not exe.interpreted
    got = exe.run(arrays)
    want = Plan(graph).run(dict(inputs))
    for g, w in zip(got, want, strict=True):
        same(g, w)
    if eager is not None:
        out = eager(*[nd.array(a, dtype=a.dtype.name) for a in arrays])
        for g, e in zip(got, out if isinstance(out, list) else [out], strict=True):
            same(g, e.asnumpy())
    return got


def refused(graph, names) -> None:
    with pytest.raises(CompileError):
        compile_graph(graph, names)


def var(name, a):
    return sym.var(name, shape=a.shape, dtype=a.dtype.name)


def run_kernels(kernels: list) -> list:
    """Emit (lazy, inputs) pairs as kernels of one module, compile it once and run each:
    inputs in slots 0.., the output in the last."""
    module = ir.Module("test")
    for k, (lazy, inputs) in enumerate(kernels):
        buffers = [(a.shape, a.dtype.name) for a in inputs] + [(lazy.shape, lazy.dtype)]
        emit_kernel(module, f"k{k}", lazy, len(inputs), list(range(len(inputs))), buffers)
    obj, _ = link.compile_object(str(module))
    lib = link.Library(obj)  # owns the machine code: alive until the calls return
    outs = []
    for k, (lazy, inputs) in enumerate(kernels):
        out = np.empty(lazy.shape, lazy.dtype)
        lib.function(f"k{k}", 3 + len(inputs))(0, lazy.shape[0], *map(buffer_arg, inputs),
                                               buffer_arg(out))
        outs.append(out)
    return outs


def run_kernel(lazy: Lazy, inputs: list) -> np.ndarray:
    return run_kernels([(lazy, inputs)])[0]


# ------------------------------------------------------------------------ pick, one_hot

@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("dtype", INTS)
def test_pick_with_integer_labels(dtype, mode):
    labels = full_range(dtype, 12, seed=1)
    if dtype == "uint8":
        labels[:3] = [130, 255, 199]  # class 130 of 200: a sign-extended label reads class 0
    data = np.random.default_rng(2).standard_normal((12, 200)).astype(np.float32)
    d, lab = var("d", data), var("l", labels)
    check(sym.pick(d, lab, axis=-1, mode=mode), {"d": data, "l": labels},
          lambda x, i: nd.pick(x, i, axis=-1, mode=mode))


def test_pick_uint8_label_130_of_200_classes():
    data = np.arange(400, dtype=np.float32).reshape(2, 200)
    d, lab = sym.var("d", shape=(2, 200)), sym.var("l", shape=(2,), dtype="uint8")
    got = check(sym.pick(d, lab, axis=-1), {"d": data, "l": np.array([130, 5], np.uint8)})
    np.testing.assert_array_equal(got[0], [130, 205])


@pytest.mark.parametrize("out_dtype", ["float32", "float64", "uint8", "int32", "bool"])
@pytest.mark.parametrize("dtype", INTS)
def test_one_hot_of_integer_and_bool_labels(dtype, out_dtype):
    labels = full_range(dtype, 10, seed=3)
    depth = 200 if dtype != "bool" else 2
    if dtype == "uint8":
        labels[:2] = [130, 199]
    i = var("i", labels)
    got = check(sym.one_hot(i, depth=depth, dtype=out_dtype), {"i": labels},
                lambda x: nd.one_hot(x, depth=depth, dtype=out_dtype))
    if dtype == "bool":  # one_hot(True) has its 1 in column 1
        np.testing.assert_array_equal(got[0].argmax(-1), labels.astype(int))


# ------------------------------------------------------------------- comparisons, max/min

COMPARE = {"gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b,
           "le": lambda a, b: a <= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}


@pytest.mark.parametrize("dtype", INTS)
def test_comparisons_of_integers(dtype):
    a, b = full_range(dtype, 40, seed=4), full_range(dtype, 40, seed=5)
    a[:3], b[:3] = a[3:6], b[3:6][::-1]  # some equal pairs, some swapped
    if dtype == "uint8":
        a[6], b[6] = 200, 100  # 200 > 100 as unsigned, -56 < 100 if sign-extended
    fns = [COMPARE[op] for op in sorted(COMPARE)]
    x, y = var("a", a), var("b", b)
    check(sym.Group([fn(x, y) for fn in fns]), {"a": a, "b": b},
          lambda u, v: [fn(u, v) for fn in fns])
    # against a scalar in range: the scalar takes the array's dtype
    s = 1 if dtype == "bool" else 100
    check(sym.Group([fn(x, s) for fn in fns]), {"a": a}, lambda u: [fn(u, s) for fn in fns])


def test_uint8_200_is_greater_than_100():
    a, b = np.array([200, 100, 255], np.uint8), np.array([100, 200, 0], np.uint8)
    got = check(var("a", a) > var("b", b), {"a": a, "b": b})
    np.testing.assert_array_equal(got[0], [1, 0, 1])


@pytest.mark.parametrize("dtype", INTS)
def test_maximum_minimum_relu_clip_of_integers(dtype):
    a, b = full_range(dtype, 30, seed=6).reshape(5, 6), full_range(dtype, 6, seed=7)
    x, y = var("a", a), var("b", b)
    check(sym.broadcast_maximum(x, y), {"a": a, "b": b}, nd.broadcast_maximum)
    check(sym.broadcast_minimum(x, y), {"a": a, "b": b}, nd.broadcast_minimum)
    check(sym.relu(x), {"a": a}, nd.relu)
    lo, hi = (0, 1) if dtype == "bool" else (1.5, 100.7)
    check(sym.clip(x, lo, hi), {"a": a}, lambda v: nd.clip(v, lo, hi))


@pytest.mark.parametrize("dtype", INTS)
def test_where_with_integer_and_bool_conditions(dtype):
    c = full_range(dtype, 20, seed=8)
    x, y = np.random.default_rng(9).standard_normal((2, 20)).astype(np.float32)
    check(sym.where(var("c", c), var("x", x), var("y", y)), {"c": c, "x": x, "y": y}, nd.where)
    u, v = full_range("uint8", 20, seed=10), full_range("uint8", 20, seed=11)
    check(sym.where(var("c", c), var("u", u), var("v", v)), {"c": c, "u": u, "v": v}, nd.where)


# -------------------------------------------------------------------------------- casts

@pytest.mark.parametrize("dst", ["float32", "float64"])
@pytest.mark.parametrize("src", INTS)
def test_integer_to_float_casts(src, dst):
    a = full_range(src, 50, seed=12)
    if src == "int64":
        a[:2] = [2 ** 62 + 1, -(2 ** 53) - 1]  # rounded as numpy rounds
    check(sym.cast(var("a", a), dtype=dst), {"a": a}, lambda v: nd.cast(v, dtype=dst))


@pytest.mark.parametrize("dst", INTS)
@pytest.mark.parametrize("src", INTS)
def test_integer_to_integer_casts_in_a_kernel(src, dst):
    a = full_range(src, 50, seed=13)
    lazy = Lazy.buffer(0, a.shape, src)
    got = run_kernel(Lazy(a.shape, dst, lambda i: cast(lazy(i), dst)), [a])
    same(got, a.astype(dst))


FLOAT_VALUES = [0.0, -0.0, 0.7, -0.7, 1.5, 127.9, 128.0, 130.0, 200.0, 255.9, 256.0, 300.0,
                -1.0, -1.5, -128.0, -129.0, -200.0, 1e3, 65543.0, 2.0 ** 24 + 2, 2.0 ** 31 - 128,
                2.0 ** 31, -2.0 ** 31, -2.0 ** 31 - 1024, 2.0 ** 32 + 512, 1e10, -1e10, 2.0 ** 62,
                2.0 ** 63 - 2 ** 40, 2.0 ** 63, -2.0 ** 63, 1e20, -1e20, 3e38, np.inf, -np.inf,
                np.nan, -np.nan]


@pytest.mark.parametrize("dst", INTS)
@pytest.mark.parametrize("src", ["float32", "float64"])
def test_float_to_integer_casts_in_a_kernel(src, dst):
    with np.errstate(over="ignore"):
        a = np.array(FLOAT_VALUES, src)
    lazy = Lazy.buffer(0, a.shape, src)
    got = run_kernel(Lazy(a.shape, dst, lambda i: cast(lazy(i), dst)), [a])
    with np.errstate(invalid="ignore"):
        want = a.astype(dst)
    if not X86:  # elsewhere numpy saturates out-of-range values; only in-range ones agree
        info = np.iinfo(dst) if dst != "bool" else None
        keep = np.isfinite(a) if info is None else (a > info.min - 1) & (a < info.max + 1)
        got, want = got[keep], want[keep]
    same(got, want)


@pytest.mark.parametrize("dtype", INTS)
def test_arange_into_integers_casts_as_numpy(dtype):
    graph = sym.arange(-300, 300, 7.5, dtype=dtype)
    exe = compile_graph(graph, [])
    assert not exe.interpreted
    with np.errstate(invalid="ignore"):
        same(exe.run([])[0], Plan(graph).run({})[0])
        same(exe.run([])[0], nd.arange(-300, 300, 7.5, dtype=dtype).asnumpy())


# --------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "nansum"])
@pytest.mark.parametrize("dtype", INTS)
def test_integer_reductions_wrap_as_numpy(dtype, op):
    a = full_range(dtype, 60, seed=14).reshape(6, 10)
    if dtype == "bool":
        a[0], a[1] = False, True  # rows all off and all on
    axes, x = (None, 0, 1), var("a", a)
    check(sym.Group([getattr(sym, op)(x, axis=ax) for ax in axes]), {"a": a},
          lambda v: [getattr(nd, op)(v, axis=ax) for ax in axes])


# ----------------------------------------------------------------------------- refusals

def test_what_cannot_be_exact_is_refused():
    u = sym.var("u", shape=(3,), dtype="uint8")
    refused(sym.mean(u), ["u"])  # numpy averages in float64
    refused(u + u, ["u"])  # integer arithmetic is not lowered
    refused(u > -1, ["u"])  # numpy wraps the scalar to 255 here
    refused(sym.clip(u, -1, 300), ["u"])  # ... and here clips in float64
    with pytest.raises(DTypeError):  # MXNet refuses uint8 > int8 (numpy would give int16)
        u > sym.var("i", shape=(3,), dtype="int8")
    refused(sym.abs(sym.var("i", shape=(3,), dtype="int8")), ["i"])


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64", "int16"])
def test_nd_refuses_other_integer_dtypes(dtype):
    with pytest.raises(TypeError):
        nd.array([1, 2], dtype=dtype)
    with pytest.raises(TypeError):
        sym.var("x", shape=(2,), dtype=dtype)


# ----------------------------------------------------- exact index clamping (issue 10, 7)

def _index_kernels(op: str, labels: list, sizes: list, mode: str | None = None) -> list:
    """The index function op(label, n[, mode]) of each labels[k] for n = sizes[k]."""
    kernels = []
    for lab, n in zip(labels, sizes):
        src = Lazy.buffer(0, lab.shape, lab.dtype.name)
        args = (n, mode) if mode else (n,)
        kernels.append((Lazy(lab.shape, "int64", lambda i, src=src, args=args: Expr(
            op, (src(i), *args), "int64")), [lab]))
    return run_kernels(kernels)


def _sizes():
    """Sizes where float32 rounds n or n - 1 (2^24 + 3 rounds up, 2^24 + 5 down), up to the
    element limit."""
    out = {1, 2, 3, 200, MAX_ELEMENTS - 1, MAX_ELEMENTS}
    out |= {2 ** 24 + d for d in range(-3, 6)} | {2 ** 25 + d for d in (-1, 1, 3, 5, 6)}
    out |= {2 ** k + 3 for k in range(26, 31)}
    return sorted(out)


def _labels(n: int) -> list:
    return [n - 1, n, n + 1, n - 2, n - 3, n + 3, n - 4, n // 2, -1, -0.5, 0.9, 2.0 ** 31,
            2.0 ** 62, 2.0 ** 63, -2.0 ** 63, 1e20, -1e20, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_pick_index_is_exact_for_every_size(mode, dtype):
    sizes = _sizes()
    labels = [np.array(_labels(n), dtype) for n in sizes]
    for n, lab, got in zip(sizes, labels, _index_kernels("pickidx", labels, sizes, mode)):
        assert ((got >= 0) & (got < n)).all(), (n, lab[(got < 0) | (got >= n)])
        with np.errstate(invalid="ignore"):  # MXNet's: C's cast to int32 (x86: out of its
            fits = (lab >= -2.0 ** 31) & (lab < 2.0 ** 31)  # range, -2^31)
        idx = np.where(fits, np.trunc(np.where(fits, lab, 0)), -2.0 ** 31).astype(np.int64)
        want = np.clip(idx, 0, n - 1) if mode == "clip" else np.mod(idx, n)
        if X86:
            np.testing.assert_array_equal(got, want, err_msg=f"n={n}")


def test_pick_index_of_nan_stays_in_bounds():
    n = 2 ** 24 + 4
    nan = np.array([np.nan, -np.nan], np.float32)
    for got in _index_kernels("pickidx", [nan], [n], "clip") + \
            _index_kernels("pickidx", [nan], [n], "wrap"):
        assert ((got >= 0) & (got < n)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_hot_index_is_exact_for_every_size(dtype):
    sizes = _sizes()
    labels = [np.array(_labels(n) + [np.nan], dtype) for n in sizes]
    for n, lab, got in zip(sizes, labels, _index_kernels("onehotidx", labels, sizes)):
        with np.errstate(invalid="ignore"):
            idx = np.nan_to_num(lab, nan=-1.0).astype(np.int64)
        want = np.where((idx >= 0) & (idx < n), idx, -1)
        assert ((got >= -1) & (got < n)).all()
        if X86:  # float32 depth 2^24 + 5 rounds down: label 2^24 + 4 is a column all the same
            np.testing.assert_array_equal(got, want, err_msg=f"n={n}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="guard pages via mprotect")
def test_pick_clip_at_float32_rounding_boundary_reads_inside_the_array():
    """n - 1 = 2^24 + 3 is float32 2^24 + 4 = n: clamping in float32 reads data[n], one
    past the end.  The data ends at an inaccessible page, so that read faults; run in a
    child process."""
    script = textwrap.dedent("""
        import ctypes, mmap
        import numpy as np
        import minigluon as mg
        from minigluon.compiler.pipeline import compile_graph
        n = 2 ** 24 + 4
        page = mmap.PAGESIZE
        pages = -(-n * 4 // page) + 1
        m = mmap.mmap(-1, pages * page)
        base = ctypes.addressof(ctypes.c_char.from_buffer(m))
        libc = ctypes.CDLL(None)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        assert libc.mprotect(base + (pages - 1) * page, page, 0) == 0
        data = np.frombuffer(m, np.float32, count=n, offset=(pages - 1) * page - n * 4)
        data = data.reshape(1, n)
        data[0, -1] = 7.0
        label = np.array([2 ** 24 + 3], np.float32)
        for mode, want in (("clip", 7.0), ("wrap", 0.0)):
            graph = mg.sym.pick(mg.sym.var("d", shape=(1, n)), mg.sym.var("l", shape=(1,)),
                                axis=-1, mode=mode)
            exe = compile_graph(graph, ["d", "l"])
            assert not exe.interpreted
            got = exe.run([data, label])[0]
            ref = mg.nd.pick(mg.nd.array(data), mg.nd.array(label), axis=-1, mode=mode)
            assert got[0] == ref.asnumpy()[0] == want, (mode, got, ref)
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", (res.returncode, res.stderr[-2000:])
