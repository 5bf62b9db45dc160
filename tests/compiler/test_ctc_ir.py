"""The hand-written CTCLoss kernel (minigluon/compiler/ctc_ir.py): hybridized CTC runs fully
compiled, matches the numpy reference, validates before the kernel runs, and the kernel
stays inside its buffers whatever values it is given."""
import ctypes
import math
import mmap
import sys

import numpy as np
import pytest

import minigluon as mg
from minigluon import jit
from minigluon.compiler.executable import buffer_arg
from minigluon.gluon import HybridBlock
from minigluon.ops.ctc_kernel import ctc_loss

nd = mg.nd


@pytest.fixture(autouse=True)
def strict_jit(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGLUON_JIT", "1")
    monkeypatch.setenv("MINIGLUON_JIT_STRICT", "1")  # a compile failure raises
    monkeypatch.setenv("MINIGLUON_CACHE_DIR", str(tmp_path))


class RawCTC(HybridBlock):
    """F.CTCLoss itself: any blank_label, lengths as separate inputs, loss output only."""

    def __init__(self, blank_label="first", use_data_lengths=False, use_label_lengths=False):
        super().__init__()
        self.kw = dict(blank_label=blank_label, use_data_lengths=use_data_lengths,
                       use_label_lengths=use_label_lengths)

    def hybrid_forward(self, F, data, label, data_lengths=None, label_lengths=None):
        return F.CTCLoss(data, label, data_lengths, label_lengths, **self.kw)


def _nd(a):
    return nd.array(a, dtype=a.dtype)


def run_compiled(block, *arrays):
    """Call the hybridized block; assert nothing ran in the interpreter."""
    block.hybridize()
    jit.reset_stats()
    out = block(*[None if a is None else _nd(a) for a in arrays]).asnumpy()
    st = jit.stats()
    assert st["interpreted_calls"] == 0 and st["compiled_calls"] == 1, st
    return out


def labels(rng, N, L, C, pad, lo=0, min_len=0, dtype=np.float32, repeat=0.3):
    """(N, L) padded label rows with random lengths; repeats are frequent."""
    lab = np.full((N, L), pad, dtype)
    lens = rng.integers(min_len, L + 1, size=N)
    for n in range(N):
        row = rng.integers(lo, lo + C - 1, size=lens[n])
        for j in range(1, lens[n]):
            if rng.random() < repeat:
                row[j] = row[j - 1]
        lab[n, :lens[n]] = row
    return lab, lens


def check(got, ref, dtype):
    assert got.dtype == ref.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-4 if dtype == np.float32 else 1e-5)


# ------------------------------------------------------------------------- correctness

def test_mxnet_oracle_doc_example(oracle):
    out = run_compiled(mg.gluon.loss.CTCLoss(), oracle["ctc_doc_ntc/in/pred"],
                       oracle["ctc_doc_ntc/in/label"])
    np.testing.assert_allclose(out, [18.828207, 16.505817], rtol=1e-5)
    np.testing.assert_allclose(out, oracle["ctc_doc_ntc/out_hybrid"], rtol=1e-5)


@pytest.mark.parametrize("layout, label_layout, lengths", [
    ("NTC", "NT", False), ("TNC", "TN", False), ("NTC", "TN", True), ("TNC", "NT", True)])
def test_gluon_ctc_matches_reference(layout, label_layout, lengths):
    rng = np.random.default_rng([int(layout == "NTC"), int(label_layout == "NT"), int(lengths)])
    T, N, C, L = 9, 5, 5, 4
    block = mg.gluon.loss.CTCLoss(layout=layout, label_layout=label_layout)
    eager = mg.gluon.loss.CTCLoss(layout=layout, label_layout=label_layout)
    for _ in range(4):
        x = rng.normal(size=(T, N, C)).astype(np.float32) * 2
        lab, lens = labels(rng, N, L, C, pad=-1)
        args = [x.swapaxes(0, 1).copy() if layout == "NTC" else x,
                lab.T.copy() if label_layout == "TN" else lab]
        dlens = llens = None
        if lengths:
            dlens = rng.integers(0, T + 1, size=N).astype(np.float32)
            llens = lens.astype(np.float32)
            lab[:, :] = np.where(np.arange(L) < lens[:, None], lab, 1)  # junk past the length
            args[1] = lab.T.copy() if label_layout == "TN" else lab
            args += [dlens, llens]
        got = run_compiled(block, *args)
        ref = ctc_loss(x, lab, dlens, llens, blank_label="last")[0]
        check(got, ref, np.float32)
        np.testing.assert_allclose(got, eager(*[_nd(a) for a in args]).asnumpy(), rtol=1e-4)


@pytest.mark.parametrize("dtype, dl, ll", [(np.float32, True, False), (np.float64, False, True)])
def test_blank_first_int_labels_and_lengths(dtype, dl, ll):
    """blank_label='first' (blank 0, padding 0), integer labels and lengths; without
    label_lengths the kernel finds the first padding value itself."""
    rng = np.random.default_rng(1)
    T, N, C, L = 7, 6, 4, 3
    block = RawCTC("first", dl, ll)
    for _ in range(4):
        x = rng.normal(size=(T, N, C)).astype(dtype) * 3
        lab, lens = labels(rng, N, L, C, pad=0, lo=1, dtype=np.int64)
        dlens = rng.integers(0, T + 1, size=N).astype(np.int32) if dl else None
        llens = lens.astype(np.int64) if ll else None
        got = run_compiled(block, x, lab, *[a for a in (dlens, llens) if a is not None])
        ref = ctc_loss(x, lab, dlens, llens, blank_label="first")[0]
        check(got, ref, dtype)


def test_edge_lengths_empty_label_and_no_frames():
    x = np.random.default_rng(2).normal(size=(3, 4, 3))
    lab = np.array([[1, 2], [1, 1], [1, 2], [0, 0]], np.float64)
    dlens = np.array([3, 0, 0, 3], np.float64)
    llens = np.array([0, 0, 1, 2], np.float64)
    got = run_compiled(RawCTC("last", True, True), x, lab, dlens, llens)
    ref = ctc_loss(x, lab, dlens, llens, blank_label="last")[0]
    check(got, ref, np.float64)
    logy = x - np.log(np.exp(x).sum(2, keepdims=True))
    np.testing.assert_allclose(got[0], -logy[:, 0, 2].sum())  # the all-blank path only
    assert got[1] == 0 and np.isposinf(got[2])  # empty/empty: p = 1; a label and no frames


@pytest.mark.parametrize("T, N, C, L", [(0, 3, 4, 2), (4, 3, 1, 0), (3, 0, 4, 2)])
def test_degenerate_shapes(T, N, C, L):
    """No frames, only the blank class and no label columns, an empty batch."""
    x = np.random.default_rng(8).normal(size=(T, N, C)).astype(np.float32)
    lab = np.full((N, L), -1, np.float32)
    lab[:, :1] = 0
    got = run_compiled(mg.gluon.loss.CTCLoss(layout="TNC"), x, lab)
    check(got, ctc_loss(x, lab, blank_label="last")[0], np.float32)


def test_no_classes_is_a_value_error():
    block = mg.gluon.loss.CTCLoss(layout="TNC")
    block.hybridize()
    with pytest.raises(ValueError, match="at least one class"):
        block(nd.zeros((5, 2, 0)), nd.zeros((2, 1)))


def test_infeasible_alignments_are_inf():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5, 4)).astype(np.float32)
    # repeats need a blank between them: [1, 1, 1, 1] needs 7 frames; [0, 1, 2, 1] needs 4
    lab = np.array([[1, 1, 1, 1], [0, 1, 2, 1], [2, 2, -1, -1], [0, 1, 0, 1], [0, -1, 1, 1]],
                   np.float32)
    got = run_compiled(mg.gluon.loss.CTCLoss(layout="TNC"), x, lab)
    ref = ctc_loss(x, lab, blank_label="last")[0]
    assert np.isposinf(got[0]) and np.isfinite(got[1:]).all()
    check(got, ref, np.float32)
    # too few frames for the label once pred_lengths cuts the sequence
    dlens = np.array([6, 3, 2, 4, 0], np.float32)
    got = run_compiled(mg.gluon.loss.CTCLoss(layout="TNC"), x, lab, dlens)
    assert np.isposinf(got[[0, 1, 2, 4]]).all() and np.isfinite(got[3])
    check(got, ctc_loss(x, lab, dlens, blank_label="last")[0], np.float32)


def test_nan_stays_in_its_sample():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5, 4)).astype(np.float32)
    lab, _ = labels(rng, 5, 4, 4, pad=-1, min_len=1)
    lab[:, 3] = -1  # at most 3 labels: 5 frames are always enough
    block = mg.gluon.loss.CTCLoss(layout="TNC")
    clean = run_compiled(block, x, lab)
    x[2, 1, 3] = np.nan  # sample 1, frame 2
    x[5, 3, 0] = np.nan  # sample 3, last frame: ignored once pred_lengths stops before it
    got = run_compiled(block, x, lab)
    assert np.isnan(got[[1, 3]]).all()
    np.testing.assert_array_equal(got[[0, 2, 4]], clean[[0, 2, 4]])
    got = run_compiled(block, x, lab, np.array([6, 6, 6, 5, 6], np.float32))
    ref = ctc_loss(x, lab, np.array([6, 6, 6, 5, 6]), blank_label="last")[0]
    assert np.isnan(got[1]) and np.isfinite(got[3])
    check(got, ref, np.float32)


@pytest.mark.parametrize("T, N, C, L, dtype", [(50, 64, 20, 10, np.float64),
                                                (100, 64, 30, 20, np.float32)])
def test_larger_sizes_and_large_activations(T, N, C, L, dtype):
    """The second size is above the threading threshold: the batch is split across threads.
    Activations of 1e3 make most log-probabilities around -1e3: log space keeps them."""
    rng = np.random.default_rng(T)
    block = mg.gluon.loss.CTCLoss()
    for scale in (4, 1e3):
        x = (rng.normal(size=(N, T, C)) * scale).astype(dtype)
        lab, _ = labels(rng, N, L, C, pad=-1, min_len=L // 2)
        got = run_compiled(block, x, lab)
        ref = ctc_loss(x.swapaxes(0, 1), lab, blank_label="last")[0]
        assert np.isfinite(ref).all()
        check(got, ref, dtype)


# ------------------------------------------------------------------------- validation

T_, N_, C_, L_ = 5, 2, 4, 3


@pytest.mark.parametrize("lab, dlens, llens, match", [
    ([[0, 3, -1], [1, -1, -1]], None, None, r"label\[0, 1\] = 3 is not a valid label"),
    ([[0, 1, -1], [1.5, -1, -1]], None, None, r"label\[1, 0\] = 1\.5 is not a valid label"),
    ([[0, 1, -1], [-2, -1, -1]], None, None, r"label\[1, 0\] = -2 is not a valid label"),
    ([[0, np.nan, -1], [1, 1, 1]], None, None, r"label\[0, 1\] = nan is not a valid label"),
    ([[0, 1, 2], [1, 1, 1]], [5, 6], [3, 3], r"data_lengths\[1\] = 6 is out of range \[0, 5\]"),
    ([[0, 1, 2], [1, 1, 1]], [-1, 5], [3, 3], r"data_lengths\[0\] = -1 is out of range"),
    ([[0, 1, 2], [1, 1, 1]], [5, np.nan], [3, 3], r"data_lengths\[1\] = nan is not an integer"),
    ([[0, 1, 2], [1, 1, 1]], [5, 5], [3, 4], r"label_lengths\[1\] = 4 is out of range \[0, 3\]"),
    ([[0, 1, 2], [1, 1, 1]], [5, 5], [2.5, 3], r"label_lengths\[0\] = 2\.5 is not an integer"),
    ([[0, 1, -1], [1, 1, 1]], [5, 5], [3, 3], r"label\[0, 2\] = -1 is not a valid label"),
])
def test_validation_errors_before_the_kernel(lab, dlens, llens, match):
    x = np.zeros((T_, N_, C_), np.float32)
    block = mg.gluon.loss.CTCLoss(layout="TNC")
    good = [np.zeros((N_, L_), np.float32)] + \
        [np.full(N_, v, np.float32) for v in (T_, L_) if dlens is not None]
    run_compiled(block, x, *good)  # compile with valid values
    exe, k, _, _ = ctc_kernel_of(block)
    calls = []
    entry = exe.plan[k]
    kind, fn, slots, writes, chunks = entry
    bad = [np.array(lab, np.float32)] + \
        [np.array(v, np.float32) for v in (dlens, llens) if v is not None]
    exe.plan[k] = (kind, lambda *a: calls.append(a), slots, writes, chunks)
    try:  # the executable is shared (memory cache): put the kernel back whatever happens
        with pytest.raises(ValueError, match=match):
            block(_nd(x), *[_nd(a) for a in bad])
        block(_nd(x), *[_nd(a) for a in good])
    finally:
        exe.plan[k] = entry
    assert len(calls) == 1  # only the valid call reached the kernel
    with pytest.raises(ValueError, match=match):  # the same message as the reference
        ctc_loss(x, *bad, blank_label="last")


def test_validate_ctc_maps_lengths_by_attributes():
    from minigluon.compiler.ctc_ir import validate_ctc
    x, lab = np.zeros((3, 2, 3)), np.ones((2, 1))
    validate_ctc({"blank_label": "first"}, x, lab)
    with pytest.raises(ValueError, match=r"label_lengths\[0\] = 2 is out of range"):
        validate_ctc({"use_label_lengths": True, "blank_label": "first"}, x, lab, np.array([2, 1]))
    with pytest.raises(ValueError, match=r"data_lengths\[0\] = 4 is out of range"):
        validate_ctc({"use_data_lengths": True, "use_label_lengths": True, "blank_label": "first"},
                     x, lab, np.array([4, 1]), np.array([1, 1]))


# ------------------------------------------------------------------------- memory safety

def ctc_kernel_of(block):
    """(executable, plan index, function, slots) of the CTC kernel of the block's one graph."""
    (runner, _), = block._cache.values()
    plan = runner.exe.plan
    k = next(i for i, p in enumerate(plan) if p[0] == "validate") + 1
    kind, fn, slots, _, _ = plan[k]
    assert kind == "kernel"
    return runner.exe, k, fn, slots


_KEEP = []  # guarded mappings stay mapped for the life of the process


def guarded(values, at_end=True):
    """A copy of values in memory bordered by inaccessible pages: a read or write past
    its end (at_end) or before its start (not at_end) faults at once."""
    values = np.ascontiguousarray(values)
    page = mmap.PAGESIZE
    pages = -(-values.nbytes // page) + 2
    m = mmap.mmap(-1, pages * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for addr in (base, base + (pages - 1) * page):
        assert libc.mprotect(addr, page, 0) == 0  # PROT_NONE
    off = (pages - 1) * page - values.nbytes if at_end else page
    arr = np.frombuffer(m, values.dtype, count=values.size, offset=off).reshape(values.shape)
    arr[...] = values
    _KEEP.append(m)
    return arr


BAD_FLOATS = [np.nan, np.inf, -np.inf, 1e30, -1e30, 3e9, -3e9, 2.5, -0.5, 1e300]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="guard pages via mprotect")
@pytest.mark.parametrize("at_end", [True, False])
def test_kernel_is_memory_safe_for_any_values(at_end):
    T, N, C, L = 6, 40, 5, 4
    rng = np.random.default_rng(6)
    block = mg.gluon.loss.CTCLoss(layout="TNC")
    x = rng.normal(size=(T, N, C)).astype(np.float32)
    ok = [x, np.zeros((N, L), np.float32), np.full(N, T, np.float64), np.full(N, L, np.float64)]
    run_compiled(block, *ok)
    _, _, fn, slots = ctc_kernel_of(block)
    assert len(slots) == 5  # data, label, pred_lengths, label_lengths, loss

    pool = np.array(BAD_FLOATS + [-1, 0, C - 1, C, C + 7, 1, 2], np.float64)
    with np.errstate(over="ignore"):
        lab = rng.choice(pool, size=(N, L)).astype(np.float32)  # 1e300 -> inf
    dlens = rng.choice(np.array(BAD_FLOATS + [-1, 0, T, T + 1, 1 << 40, 3]), size=N)
    llens = rng.choice(np.array(BAD_FLOATS + [-1, 0, L, L + 1, 1 << 40, 2]), size=N)
    x[:, ::7] = rng.choice(np.array([np.nan, np.inf, -np.inf, 1e38, -1e38], np.float32),
                           size=(T, len(range(0, N, 7)), C))
    ins = [guarded(a, at_end) for a in (x, lab, dlens, llens)]
    before = [a.copy() for a in ins]
    sentinel = -12345.0
    canvas = np.full(N + 16, sentinel, np.float32)
    out = canvas[8:8 + N]  # a view: buffer_arg hands the kernel the view's data pointer
    args = [buffer_arg(a) for a in ins] + [buffer_arg(out)]

    for lo, hi in [(0, N), (-50, N + 50), (-(1 << 62), 1 << 62), (N + 5, N + 9), (7, 3), (3, 7)]:
        canvas[:] = sentinel
        fn(lo, hi, *args)
        first, last = max(lo, 0), min(hi, N)
        touched = np.zeros(N, bool)
        touched[first:max(first, last)] = True
        assert np.all(canvas[:8] == sentinel) and np.all(canvas[8 + N:] == sentinel)
        assert np.all(out[~touched] == sentinel)
        assert not np.any(out[touched] == sentinel)
        for a, b in zip(ins, before):
            np.testing.assert_array_equal(a, b)  # inputs are never written

    # in-range samples computed among the garbage are still right
    fn(0, N, *args)
    good = np.array([math.isfinite(v) for v in dlens]) & (dlens == np.round(dlens)) & \
        (dlens >= 0) & (dlens <= T) & (llens == np.round(llens)) & (llens >= 0) & (llens <= L)
    for n in np.flatnonzero(good):
        row = lab[n, :int(llens[n])]
        if np.all((row == np.round(row)) & (row >= 0) & (row <= C - 2)):
            ref = ctc_loss(x[:, n:n + 1], lab[n:n + 1], dlens[n:n + 1], llens[n:n + 1],
                           blank_label="last")[0]
            np.testing.assert_allclose(out[n], ref[0], rtol=1e-4)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="guard pages via mprotect")
def test_kernel_is_memory_safe_with_integer_labels_and_padding_scan():
    """No lengths given: the kernel scans for padding; int64 labels of any magnitude."""
    T, N, C, L = 5, 8, 4, 3
    block = RawCTC("first")
    x = np.random.default_rng(7).normal(size=(T, N, C))
    run_compiled(block, x, np.ones((N, L), np.int64))
    _, _, fn, slots = ctc_kernel_of(block)
    assert len(slots) == 3
    big = np.iinfo(np.int64)
    lab = np.array([[big.max, big.min, 5], [-1, -(1 << 40), 1 << 40], [C, C + 1, 0],
                    [1, 0, big.max], [0, 0, 0], [3, 3, 3], [2, 1, 0], [1, 2, 3]], np.int64)
    ins = [guarded(x), guarded(lab)]
    out = guarded(np.zeros(N))
    fn(0, N, *[buffer_arg(a) for a in ins], buffer_arg(out))
    ref = ctc_loss(x[:, 4:], lab[4:], blank_label="first")[0]  # the valid rows
    np.testing.assert_allclose(out[4:], ref, rtol=1e-5)
