"""The hand-written CTCLoss kernel (minigluon/compiler/ctc_kernel.py): hybridized CTC runs fully
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
from minigluon.ops.ctc_reference import ctc_loss

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
        # a tuple: a dict read while tracing is (rightly) warned about as mutable
        self.kw = (("blank_label", blank_label), ("use_data_lengths", use_data_lengths),
                   ("use_label_lengths", use_label_lengths))

    def hybrid_forward(self, F, data, label, data_lengths=None, label_lengths=None):
        return F.CTCLoss(data, label, data_lengths, label_lengths, **dict(self.kw))


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


def test_nan_with_an_empty_label_is_nan():
    """An empty label's only state is fed by the -inf slot: logaddexp(NaN, -inf) must
    stay NaN, not drop the NaN frame (the loss was +inf)."""
    x = np.random.default_rng(14).normal(size=(5, 3, 4))
    lab = np.array([[-1, -1], [0, -1], [-1, -1]], np.float64)
    x[1, 0, 2] = np.nan
    x[3, 1, 0] = np.nan
    got = run_compiled(RawCTC("last"), x, lab)
    assert np.isnan(got[:2]).all() and np.isfinite(got[2])
    check(got, ctc_loss(x, lab, blank_label="last")[0], np.float64)


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
    ([[0, 4, -1], [1, -1, -1]], None, None, r"label\[0, 1\] = 4 is not a valid label"),
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
    from minigluon.ops.ctc_reference import validate_ctc
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
    entry, = block._cache.values()
    runner = entry[0]
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


def clamped_range(lo, hi, N):
    """The samples a kernel call over [lo, hi) may touch: the range clamped to [0, N)."""
    first, last = max(lo, 0), min(hi, N)
    mask = np.zeros(N, bool)
    mask[first:max(first, last)] = True
    return mask


def valid_lengths(dlens, llens, T, L):
    """Samples whose data and label lengths are integers within [0, T] and [0, L]."""
    finite = np.array([math.isfinite(v) for v in dlens]) & np.isfinite(llens)
    return finite & (dlens == np.round(dlens)) & (dlens >= 0) & (dlens <= T) & \
        (llens == np.round(llens)) & (llens >= 0) & (llens <= L)


def garbage(rng, x, L):
    """Labels and lengths drawn from invalid values (and a few valid ones), and
    non-finite activations in every 7th sample of x (changed in place)."""
    T, N, C = x.shape
    pool = np.array(BAD_FLOATS + [-1, 0, C - 1, C, C + 7, 1, 2], np.float64)
    with np.errstate(over="ignore"):
        lab = rng.choice(pool, size=(N, L)).astype(np.float32)  # 1e300 -> inf
    dlens = rng.choice(np.array(BAD_FLOATS + [-1, 0, T, T + 1, 1 << 40, 3]), size=N)
    llens = rng.choice(np.array(BAD_FLOATS + [-1, 0, L, L + 1, 1 << 40, 2]), size=N)
    x[:, ::7] = rng.choice(np.array([np.nan, np.inf, -np.inf, 1e38, -1e38], np.float32),
                           size=(T, len(range(0, N, 7)), C))
    return lab, dlens, llens


MODES = ["CTCLoss", "TNC", "NTC"]  # CTCLoss's own kernel; the rewrite's, per data layout
ATTRS = {"blank_label": "last", "use_data_lengths": True, "use_label_lengths": True}


def row_lse(data):
    """Each frame's log-sum-exp over the classes, in float64 (what the compiler's ctc pass
    computes for the kernel): NaN for a frame with a NaN, a +inf or only -inf."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x = data.astype(np.float64)
        m = x.max(axis=-1, keepdims=True)
        return (np.log(np.exp(x - m).sum(axis=-1, keepdims=True)) + m)[..., 0]


def mode_inputs(mode, x, rest, bad_lse=None):
    """The kernel's inputs for mode: CTCLoss's (data (T, N, C), rest) or the rewrite's
    (data in the mode's layout, its log-sum-exp, rest).  bad_lse: samples whose
    log-sum-exp gets garbage values."""
    if mode == "CTCLoss":
        return [x, *rest]
    data = x if mode == "TNC" else np.ascontiguousarray(x.swapaxes(0, 1))
    lse = row_lse(data)
    if bad_lse is not None:
        pool = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0])
        sel = (slice(None), bad_lse) if mode == "TNC" else (bad_lse, slice(None))
        lse[sel] = np.random.default_rng(0).choice(pool, size=lse[sel].shape)
    return [data, lse, *rest]


def kernel_inputs(mode, x, rest, at_end=True, bad_lse=None):
    """mode_inputs in guarded memory."""
    return [guarded(a, at_end) for a in mode_inputs(mode, x, rest, bad_lse)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="guard pages via mprotect")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("at_end", [True, False])
def test_kernel_is_memory_safe_for_any_values(at_end, mode):
    """Both kernels (CTCLoss's, and the lse one of the compiler's rewrite, in each layout),
    loss only: garbage labels, lengths, activations, log-sum-exps and ranges."""
    T, N, C, L = 6, 40, 5, 4
    rng = np.random.default_rng(6)
    x = rng.normal(size=(T, N, C)).astype(np.float32)
    lab, dlens, llens = garbage(rng, x, L)
    bad = np.arange(N) % 7 == 0  # garbage activations, and log-sum-exps
    ins = kernel_inputs(mode, x, (lab, dlens, llens), at_end, bad_lse=bad)
    if mode == "TNC":  # the compiled block's kernel: the rewrite's, data then its lse
        block = mg.gluon.loss.CTCLoss(layout="TNC")
        ok = [x, np.zeros((N, L), np.float32), np.full(N, T, np.float64),
              np.full(N, L, np.float64)]
        run_compiled(block, *ok)
        _, _, fn, slots = ctc_kernel_of(block)
        assert len(slots) == 6  # data, lse, label, pred_lengths, label_lengths, loss
    else:
        lib, fn, _ = build_kernel(ATTRS, ins, with_grad=False, layout=mode)
    before = [a.copy() for a in ins]
    sentinel = -12345.0
    canvas = np.full(N + 16, sentinel, np.float32)
    out = canvas[8:8 + N]  # a view: buffer_arg hands the kernel the view's data pointer
    args = [buffer_arg(a) for a in ins] + [buffer_arg(out)]

    for lo, hi in [(0, N), (-50, N + 50), (-(1 << 62), 1 << 62), (N + 5, N + 9), (7, 3), (3, 7)]:
        canvas[:] = sentinel
        fn(lo, hi, *args)
        touched = clamped_range(lo, hi, N)
        assert np.all(canvas[:8] == sentinel) and np.all(canvas[8 + N:] == sentinel)
        assert np.all(out[~touched] == sentinel)
        assert not np.any(out[touched] == sentinel)
        for a, b in zip(ins, before):
            np.testing.assert_array_equal(a, b)  # inputs are never written

    # in-range samples computed among the garbage are still right
    fn(0, N, *args)
    good = valid_lengths(dlens, llens, T, L)
    checked = 0
    for n in np.flatnonzero(good & ~bad):
        row = lab[n, :int(llens[n])]
        if np.all((row == np.round(row)) & (row >= 0) & (row <= C - 2)):
            ref = ctc_loss(x[:, n:n + 1], lab[n:n + 1], dlens[n:n + 1], llens[n:n + 1],
                           blank_label="last")[0]
            np.testing.assert_allclose(out[n], ref[0], rtol=1e-4)
            checked += 1
    assert checked >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="guard pages via mprotect")
@pytest.mark.parametrize("mode", MODES)
def test_kernel_is_memory_safe_with_integer_labels_and_padding_scan(mode):
    """No lengths given: the kernel scans for padding; int64 labels of any magnitude."""
    T, N, C, L = 5, 8, 4, 3
    x = np.random.default_rng(7).normal(size=(T, N, C))
    big = np.iinfo(np.int64)
    lab = np.array([[big.max, big.min, 5], [-1, -(1 << 40), 1 << 40], [C, C + 1, 0],
                    [1, 0, big.max], [0, 0, 0], [3, 3, 3], [2, 1, 0], [1, 2, 3]], np.int64)
    ins = kernel_inputs(mode, x, (lab,))
    if mode == "TNC":  # the compiled block's kernel
        block = RawCTC("first")
        run_compiled(block, x, np.ones((N, L), np.int64))
        _, _, fn, slots = ctc_kernel_of(block)
        assert len(slots) == 4
    else:
        lib, fn, _ = build_kernel({"blank_label": "first"}, ins, with_grad=False, layout=mode)
    out = guarded(np.zeros(N))
    fn(0, N, *[buffer_arg(a) for a in ins], buffer_arg(out))
    ref = ctc_loss(x[:, 4:], lab[4:], blank_label="first")[0]  # the valid rows
    np.testing.assert_allclose(out[4:], ref, rtol=1e-5)


# ------------------------------------------------------------------------- the gradient

def build_kernel(attrs, ins, with_grad=True, layout="CTCLoss"):
    """The CTC kernel alone, compiled for these inputs' shapes and dtypes: (library,
    function, output (shape, dtype) list).  Keep the library alive while calling.
    layout: 'CTCLoss' (its kernel), or 'TNC' / 'NTC': the rewrite's kernel, ins as
    ``kernel_inputs`` gives them (data in that layout, then its log-sum-exp)."""
    from llvmlite import ir

    from minigluon.compiler import link
    from minigluon.compiler.ctc_kernel import emit_ctc_kernel, emit_ctc_lse_kernel
    T, N, C = ins[0].shape if layout != "NTC" else np.swapaxes(ins[0], 0, 1).shape
    outs = [((N,), ins[0].dtype)] + ([((T, N, C), ins[0].dtype)] if with_grad else [])
    module = ir.Module("ctc_test")
    emit = emit_ctc_kernel
    if layout != "CTCLoss":
        attrs, emit = {**attrs, "layout": layout}, emit_ctc_lse_kernel
    emit(module, "ctc", attrs, [(a.shape, a.dtype) for a in ins], outs)
    lib = link.Library(link.compile_object(str(module))[0])
    return lib, lib.function("ctc", 2 + len(ins) + len(outs)), outs


def run_kernel(fn, outs, ins, ranges=None):
    """Call the kernel over the sample ranges (default: all at once) into fresh outputs."""
    bufs = [np.full(s, -12345.0, d) for s, d in outs]
    args = [buffer_arg(a) for a in list(ins) + bufs]
    for lo, hi in ranges or [(0, outs[0][0][0])]:
        fn(lo, hi, *args)
    return bufs


def check_grad(got, ref, dtype):
    """Same NaN and inf positions; values to float64 / float32 accuracy (the reference
    computes in float64 too; gradients near 0 are differences of numbers near 1)."""
    assert got.dtype == ref.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    if dtype == np.float32:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-10)


def random_ctc_case(rng, T, N, C, L, blank_label, dtype, use_dl, use_ll, label_dtype):
    """Inputs covering the special cases: empty labels, repeats (need a blank between
    them), T_n = 0 and T_n = T, too few frames (no alignment), NaN and -inf activations
    (some past T_n), junk labels past label_lengths."""
    pad, lo = (0, 1) if blank_label == "first" else (-1, 0)
    x = rng.normal(size=(T, N, C)) * rng.choice([0.5, 3.0, 20.0], size=(1, N, 1))
    lab, lens = labels(rng, N, L, C, pad=pad, lo=lo, dtype=label_dtype, repeat=0.4)
    lens[0] = 0
    lab[0] = pad
    if lens[3] == 0:
        lens[3], lab[3, 0] = 1, lo
    x[:, 3, int(lab[3, 0])] = -np.inf  # sample 3's first label never emitted: no alignment
    dl = rng.integers(0, T + 1, size=N)
    dl[:4] = [T, 0, T, T]
    for n in rng.choice(np.arange(4, N), size=N // 4, replace=False):  # NaN, maybe past T_n
        x[rng.integers(0, T), n, rng.integers(0, C)] = np.nan
    for n in rng.choice(np.arange(4, N), size=N // 4, replace=False):
        x[rng.integers(0, T), n, rng.integers(0, C)] = -np.inf
    ins = [x.astype(dtype), lab]
    dlens = llens = None
    if use_dl:
        dlens = dl.astype(np.float32)
        ins.append(dlens)
    if use_ll:
        llens = lens.astype(np.int64)
        lab[:, :] = np.where(np.arange(L) < lens[:, None], lab, lo)  # junk: valid labels
        ins.append(llens)
    ref = ctc_loss(ins[0], lab, dlens if use_dl else None, llens, blank_label=blank_label)
    return ins, ref


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blank_label, use_dl, use_ll, label_dtype", [
    ("last", False, False, np.float32), ("last", True, True, np.float32),
    ("first", True, False, np.int64), ("first", False, True, np.int32)])
def test_gradient_matches_reference(dtype, blank_label, use_dl, use_ll, label_dtype, mode):
    rng = np.random.default_rng([int(dtype == np.float32), use_dl, use_ll,
                                 int(blank_label == "first")])
    T, N, C, L = 14, 24, 6, 5
    attrs = {"blank_label": blank_label, "use_data_lengths": use_dl,
             "use_label_lengths": use_ll}
    ins, _ = random_ctc_case(rng, T, N, C, L, blank_label, dtype, use_dl, use_ll, label_dtype)
    lib, fn, outs = build_kernel(attrs, mode_inputs(mode, ins[0], ins[1:]), layout=mode)
    seen = set()
    for _ in range(6):
        ins, (ref_loss, ref_grad) = random_ctc_case(rng, T, N, C, L, blank_label, dtype,
                                                    use_dl, use_ll, label_dtype)
        loss, grad = run_kernel(fn, outs, mode_inputs(mode, ins[0], ins[1:]))
        check(loss, ref_loss, dtype)
        check_grad(grad, ref_grad, dtype)
        seen |= {"nan" if np.isnan(v) else "inf" if np.isinf(v) else "finite" for v in ref_loss}
    assert seen == {"nan", "inf", "finite"}  # every kind of sample was exercised


@pytest.mark.parametrize("mode", MODES)
def test_gradient_special_samples_exactly(mode):
    """An infeasible sample's gradient is 0, a NaN sample's NaN on frames < T_n (on every
    class: the reference's einsum spreads the NaN), and frames >= T_n are 0 always."""
    rng = np.random.default_rng(11)
    T, N, C = 6, 4, 4
    x = rng.normal(size=(T, N, C))
    lab = np.array([[1, 1, 1], [0, 1, -1], [2, -1, -1], [-1, -1, -1]], np.float64)
    dl = np.array([4, 5, 3, 4], np.float64)  # 1, 1, 1 needs 5 frames (1 _ 1 _ 1)
    x[2, 1, 0] = np.nan  # sample 1, inside its 5 frames
    x[5, 1, 3] = np.nan
    x[4, 2, 1] = np.nan  # sample 2, past its 3 frames: ignored
    ins = mode_inputs(mode, x, (lab, dl))
    lib, fn, outs = build_kernel({"blank_label": "last", "use_data_lengths": True}, ins,
                                 layout=mode)
    loss, grad = run_kernel(fn, outs, ins)
    ref_loss, ref_grad = ctc_loss(x, lab, dl, blank_label="last")
    assert np.isposinf(loss[0]) and np.all(grad[:, 0] == 0)
    assert np.isnan(loss[1]) and np.isnan(grad[:5, 1]).all() and np.all(grad[5:, 1] == 0)
    assert np.isfinite(loss[2]) and np.isfinite(grad[:, 2]).all() and np.all(grad[3:, 2] == 0)
    assert np.isfinite(loss[3]) and np.all(grad[4:, 3] == 0)
    check(loss, ref_loss, np.float64)
    check_grad(grad, ref_grad, np.float64)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("T, N, C, L", [(0, 3, 4, 2), (4, 3, 1, 0), (3, 0, 4, 2), (5, 2, 3, 0)])
def test_gradient_degenerate_shapes(T, N, C, L, mode):
    x = np.random.default_rng(8).normal(size=(T, N, C)).astype(np.float32)
    lab = np.full((N, L), -1, np.float32)
    lab[:, :1] = 0
    ins = mode_inputs(mode, x, (lab,))
    lib, fn, outs = build_kernel({"blank_label": "last"}, ins, layout=mode)
    loss, grad = run_kernel(fn, outs, ins)
    ref_loss, ref_grad = ctc_loss(x, lab, blank_label="last")
    check(loss, ref_loss, np.float32)
    check_grad(grad, ref_grad, np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_split_across_calls_and_threads_is_identical(mode):
    """Each call writes loss[n] and grad[:, n, :] of its own samples only: any split of
    the batch, sequential or on the native thread pool, gives the same bits."""
    from minigluon.compiler.executable import pool
    rng = np.random.default_rng(9)
    T, N, C, L = 40, 37, 12, 8
    ins, (ref_loss, ref_grad) = random_ctc_case(rng, T, N, C, L, "last", np.float32,
                                                True, True, np.float32)
    ins = mode_inputs(mode, ins[0], ins[1:])
    lib, fn, outs = build_kernel(ATTRS, ins, layout=mode)
    loss, grad = run_kernel(fn, outs, ins)
    check(loss, ref_loss, np.float32)
    check_grad(grad, ref_grad, np.float32)
    cuts = sorted(rng.choice(np.arange(1, N), size=6, replace=False))
    bounds = [0, *cuts, N]
    ranges = list(zip(bounds[:-1], bounds[1:]))[::-1]
    for got in run_kernel(fn, outs, ins, ranges), run_kernel(fn, outs, ins, [(n, n + 1) for n in range(N)]):
        np.testing.assert_array_equal(got[0], loss)
        np.testing.assert_array_equal(got[1], grad)
    task = lib.address("ctc_task")
    for chunk in (1, 5, 19):
        bufs = [np.full(s, -12345.0, d) for s, d in outs]
        argv = np.array([buffer_arg(a) for a in ins + bufs], np.int64)
        pool().run(task, argv.ctypes.data, N, chunk)
        np.testing.assert_array_equal(bufs[0], loss)
        np.testing.assert_array_equal(bufs[1], grad)


def test_gradient_needing_too_much_stack_is_a_compile_error():
    """The per-class sums live on the stack: a huge alphabet falls back (CompileError)."""
    from llvmlite import ir

    from minigluon.base import CompileError
    from minigluon.compiler.ctc_kernel import emit_ctc_kernel
    ins = [((2, 3, 1 << 18), "float32"), ((3, 4), "float32")]
    emit_ctc_kernel(ir.Module(), "ok", {}, ins, [((3,), "float32")])  # the loss alone fits
    with pytest.raises(CompileError, match="too much stack"):
        emit_ctc_kernel(ir.Module(), "big", {}, ins, [((3,), "float32"), (ins[0][0], "float32")])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="guard pages via mprotect")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("at_end", [True, False])
def test_gradient_kernel_is_memory_safe_for_any_values(at_end, mode):
    """Garbage labels, lengths, activations and ranges: the kernel reads only its inputs
    (guard pages on both sides fault at once) and writes only loss[n] and grad[:, n, :]
    of the samples in the clamped range."""
    T, N, C, L = 6, 40, 5, 4
    rng = np.random.default_rng(16 + at_end)
    x = rng.normal(size=(T, N, C)).astype(np.float32)
    lab, dlens, llens = garbage(rng, x, L)
    for n, (t_n, row) in zip((1, 2, 3, 4), [(T, [0, 1]), (4, [2, 2]), (0, []), (T - 1, [1])]):
        dlens[n], llens[n] = t_n, len(row)  # valid samples among the garbage
        lab[n, :len(row)] = row
    bad = np.arange(N) % 7 == 0  # garbage activations, and log-sum-exps
    ins = kernel_inputs(mode, x, (lab, dlens, llens), at_end, bad_lse=bad)
    before = [a.copy() for a in ins]
    lib, fn, _ = build_kernel(ATTRS, ins, layout=mode)
    sentinel = -12345.0
    loss = guarded(np.full(N, sentinel, np.float32), at_end)
    grad = guarded(np.full((T, N, C), sentinel, np.float32), at_end)
    args = [buffer_arg(a) for a in ins] + [buffer_arg(loss), buffer_arg(grad)]

    for lo, hi in [(0, N), (-50, N + 50), (-(1 << 62), 1 << 62), (N + 5, N + 9), (7, 3), (3, 7)]:
        loss[:] = sentinel
        grad[:] = sentinel
        fn(lo, hi, *args)
        touched = clamped_range(lo, hi, N)
        assert np.all(loss[~touched] == sentinel) and np.all(grad[:, ~touched] == sentinel)
        assert not np.any(loss[touched] == sentinel)
        assert not np.any(grad[:, touched] == sentinel)
        for a, b in zip(ins, before):
            np.testing.assert_array_equal(a, b)  # inputs are never written

    # in-range samples computed among the garbage are still right
    fn(0, N, *args)
    good = valid_lengths(dlens, llens, T, L)
    checked = 0
    for n in np.flatnonzero(good & ~(bad & (mode != "CTCLoss"))):  # lse as computed
        row = lab[n, :int(llens[n])]
        if np.all((row == np.round(row)) & (row >= 0) & (row <= C - 2)):
            ref_loss, ref_grad = ctc_loss(x[:, n:n + 1], lab[n:n + 1], dlens[n:n + 1],
                                          llens[n:n + 1], blank_label="last")
            check(loss[n:n + 1], ref_loss, np.float32)
            check_grad(grad[:, n:n + 1], ref_grad, np.float32)
            checked += 1
    assert checked >= 4


# ------------------------------------------------------------------------- hybridized backward

@pytest.mark.parametrize("layout, lengths, dtype", [("NTC", False, "float32"),
                                                    ("TNC", True, "float64")])
def test_hybridized_backward_runs_compiled(layout, lengths, dtype):
    """CTCLoss under autograd.record(): the hybridized gradient (the kernel's second
    output) equals the eager one and nothing runs in the numpy interpreter."""
    rng = np.random.default_rng(12 + lengths)
    T, N, C, L = 11, 6, 5, 4
    x = rng.normal(size=(T, N, C)) * 2
    x[3, 2, 1] = np.nan  # one NaN sample
    lab, lens = labels(rng, N, L, C, pad=-1)
    extra = []
    if lengths:
        extra = [np.array([11, 0, 7, 11, 3, 9], np.float64), lens.astype(np.float64)]
    pred = x.swapaxes(0, 1).copy() if layout == "NTC" else x
    grads = []
    for hybridize in (False, True):
        block = mg.gluon.loss.CTCLoss(layout=layout)
        if hybridize:
            block.hybridize()
        var = nd.array(pred, dtype=dtype)
        var.attach_grad()
        args = [nd.array(a, dtype=dtype) for a in [lab] + extra]
        for _ in range(2):  # the second call runs the cached graphs
            jit.reset_stats()
            with mg.autograd.record():
                loss = block(var, *args)
            loss.backward()
            st = jit.stats()
            if hybridize:
                assert st["interpreted_calls"] == 0 and st["compiled_calls"] >= 2, st
        grads.append((loss.asnumpy(), var.grad.asnumpy()))
    (eager_loss, eager_grad), (hyb_loss, hyb_grad) = grads
    g2 = hyb_grad[:, 2] if layout == "TNC" else hyb_grad[2]
    assert np.isnan(hyb_loss[2]) and np.isnan(g2[:7]).all()  # sample 2 has >= 7 frames
    check(hyb_loss, eager_loss, np.dtype(dtype))
    check_grad(hyb_grad, eager_grad, np.dtype(dtype))


def test_hybridized_backward_split_across_threads(monkeypatch):
    """The benchmark size: above the threading threshold, the batch is split over threads
    (each writes its own samples' gradient rows); same gradient as eager."""
    monkeypatch.setenv("MINIGLUON_NUM_THREADS", "4")
    rng = np.random.default_rng(13)
    T, N, C, L = 100, 64, 30, 20
    pred = rng.normal(size=(N, T, C)).astype(np.float32) * 3
    lab, _ = labels(rng, N, L, C, pad=-1, min_len=L // 2)
    grads = []
    for hybridize in (False, True):
        block = mg.gluon.loss.CTCLoss()
        if hybridize:
            block.hybridize()
        var = nd.array(pred)
        var.attach_grad()
        jit.reset_stats()
        with mg.autograd.record():
            block(var, nd.array(lab)).backward()
        if hybridize:
            assert jit.stats()["interpreted_calls"] == 0
        grads.append(var.grad.asnumpy())
    ref = ctc_loss(pred.swapaxes(0, 1), lab, blank_label="last")[1].swapaxes(0, 1)
    check_grad(grads[1], ref, np.float32)
    check_grad(grads[1], grads[0], np.float32)
