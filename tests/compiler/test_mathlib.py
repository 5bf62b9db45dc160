"""Accuracy (in ulps, against long-double numpy), special values and vectorization of mathlib.

Run ``python tests/compiler/test_mathlib.py`` to print max errors and throughput vs numpy.
"""
import math
import re

import numpy as np
import pytest

from minigluon.compiler.mathlib import jit_unary, optimized_ir

LD = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63, reason="needs x87 80-bit long double")

FUNCS = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid")
DTYPES = ("float32", "float64")
# Max error in ulps of the exact result (required: <= 3 for float32, <= 4 for float64).
# Measured worst cases: float32 exhaustively over all 2^32 inputs, float64 over ~17M random
# inputs (log-uniform + the hard ranges below):
#            exp   expm1  log   log1p  tanh  sigmoid
#   float32  0.94  1.31   0.94  1.44   1.06  1.97
#   float64  0.88  1.04   1.16  1.44   1.06  1.80
MAX_ULP = {"exp": 1.5, "expm1": 1.5, "log": 1.5, "log1p": 2.0, "tanh": 1.5, "sigmoid": 2.5}


def _sigmoid(x):
    t = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + t), t / (1 + t))


REF = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
       "sigmoid": _sigmoid}


def reference(fn, x):
    """fn(x) in 80-bit long double: 11 (float64) or 40 (float32) spare bits."""
    with np.errstate(all="ignore"):
        return REF[fn](x.astype(LD))


def ulp_error(res, ref, dtype):
    """|res - ref| in units of the spacing of `dtype` at the exact value `ref`.

    inf counts as the next power of two after the largest finite value, so an overflow
    that rounds the other way near the threshold is a small error, not an infinite one.
    """
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    big = np.ldexp(LD(1), fi.maxexp)
    r = np.clip(res.astype(LD), -big, big)
    e = np.clip(ref, -big, big)
    _, ex = np.frexp(np.abs(e))
    ex = np.where(e == 0, fi.minexp, ex)  # frexp(0) has exponent 0
    ulp = np.ldexp(LD(1), np.maximum(ex - p, fi.minexp - p + 1))
    with np.errstate(invalid="ignore"):
        err = np.abs(r - e) / ulp
    both_nan = np.isnan(r) & np.isnan(e)
    return np.where(both_nan, 0, np.where(np.isnan(r) | np.isnan(e), np.inf, err))


def _int(dtype):
    return np.int32 if dtype == "float32" else np.int64


def _sweep(center, dtype, k=200):
    """The 2k+1 representable numbers around `center` (adjacent floats have adjacent bits)."""
    bits = np.array([center], dtype).view(_int(dtype))
    return (bits + np.arange(-k, k + 1, dtype=_int(dtype))).view(dtype)


def inputs(fn, dtype, seed=0):
    rng = np.random.default_rng(seed)
    fi = np.finfo(dtype)
    lmin, lmax = math.log2(fi.smallest_subnormal), math.log2(fi.max)
    # 100k log-uniform magnitudes over the whole range, both signs
    mag = np.exp2(rng.uniform(lmin, lmax, 100_000))
    xs = [mag * rng.choice([-1.0, 1.0], mag.size)]
    ovf, unf = math.log(fi.max), math.log(fi.smallest_subnormal)
    dense = {"exp": (unf - 2, ovf + 2), "expm1": (-40, ovf + 2), "log": (0, 4), "log1p": (-1, 2),
             "tanh": (-12, 12), "sigmoid": (unf - 5, 40)}[fn]
    xs.append(rng.uniform(*dense, 50_000))
    xs.append(rng.uniform(-1, 1, 20_000) * 2.0 ** rng.integers(-30, 1, 20_000))  # near 0
    tiny = 2.0 ** -np.arange(20, -fi.minexp + fi.nmant + 1)
    xs += [tiny, -tiny]  # tiny, down to the smallest subnormal
    xs.append(rng.integers(1, 2 ** fi.nmant, 5_000, dtype=_int(dtype)).view(dtype))  # subnormal
    xs.append(np.arange(-200.0, 201.0))  # integers
    centers = [1.0, -1.0, math.sqrt(0.5), math.sqrt(2), fi.smallest_normal, 0.55, -0.55,
               fi.eps, -fi.eps / 2, ovf, unf, math.log(fi.smallest_normal), -ovf, -unf]
    if fn == "expm1":  # where the reduction changes: n = 0 below 1.5 ln2; 2^n - 1 inexact
        ln2 = math.log(2)
        centers += [1.5 * ln2, -1.5 * ln2, ln2 / 2, -ln2 / 2, (fi.nmant + 1.5) * ln2,
                    -(fi.nmant + 1.5) * ln2, -(fi.nmant + 3) * ln2]
    xs += [_sweep(c, dtype) for c in centers]
    xs.append(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fi.max, -fi.max]))
    return np.concatenate([np.asarray(a, dtype=np.float64) for a in xs]).astype(dtype)


def measure(fn, dtype):
    x = inputs(fn, dtype)
    err = ulp_error(jit_unary(fn, dtype)(x), reference(fn, x), dtype)
    return x, err


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCS)
def test_max_ulp_error(fn, dtype):
    x, err = measure(fn, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[fn], f"{fn}({x[worst]!r}) is off by {err[worst]:.3g} ulp"


INF, NAN = math.inf, math.nan
SPECIAL = {  # (input, exact expected result); signed zeros are checked too
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (NAN, NAN), (1e5, INF), (-1e5, 0.0)],
    "expm1": [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -1.0), (NAN, NAN), (1e5, INF),
              (-1e5, -1.0), (1e-30, 1e-30), (-1e-30, -1e-30)],
    "log": [(0.0, -INF), (-0.0, -INF), (1.0, 0.0), (-1.0, NAN), (INF, INF), (-INF, NAN),
            (NAN, NAN)],
    "log1p": [(0.0, 0.0), (-0.0, -0.0), (-1.0, -INF), (-2.0, NAN), (INF, INF), (-INF, NAN),
              (NAN, NAN), (1e-30, 1e-30), (-1e-30, -1e-30)],
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (INF, 1.0), (-INF, -1.0), (NAN, NAN), (1e5, 1.0),
             (-1e5, -1.0), (1e-30, 1e-30), (-1e-30, -1e-30)],
    "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (INF, 1.0), (-INF, 0.0), (NAN, NAN), (1e5, 1.0),
                (-1e5, 0.0)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCS)
def test_special_values(fn, dtype):
    x, want = np.array(SPECIAL[fn], dtype).T
    got = jit_unary(fn, dtype)(x)
    np.testing.assert_array_equal(got, want)
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


def test_gradual_underflow():
    x = np.log(np.array([2.0 ** -140, 2.0 ** -149], np.float64)).astype(np.float32)
    assert np.all(jit_unary("exp", "float32")(x) > 0)
    x = np.log(np.array([2.0 ** -1070, 2.0 ** -1074])) + 1e-12
    assert np.all(jit_unary("exp", "float64")(x) > 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCS)
def test_loop_vectorizes_without_libm_calls(fn, dtype):
    text = optimized_ir(fn, dtype)
    # some vector width (8 floats with AVX2, 16 with AVX-512, 4 with NEON)
    assert re.search(r"<\d+ x %s>" % ("float" if dtype == "float32" else "double"), text)
    calls = re.findall(r"call [^@]*@([\w.]+)", text)
    assert calls == [c for c in calls if c.startswith("llvm.")]  # no libm (expf, logf, ...)
    assert not [c for c in calls if re.match(r"llvm\.(exp|log|pow|tanh)", c)]


def test_noncontiguous_and_empty():
    f = jit_unary("exp", "float32")
    assert f(np.zeros(0, np.float32)).shape == (0,)
    x = np.linspace(-3, 3, 24).reshape(4, 6)[:, ::2]
    np.testing.assert_allclose(f(x), np.exp(x), rtol=1e-6)


def _bench(fn, n=1 << 20, reps=20):
    import time

    x = np.random.default_rng(0).uniform(0.01, 10, n).astype(np.float32)
    f, g = jit_unary(fn, "float32"), getattr(np, fn)
    out = []
    for h in (f, g):
        h(x)
        t = time.perf_counter()
        for _ in range(reps):
            h(x)
        out.append((time.perf_counter() - t) / reps / n * 1e9)
    return out


if __name__ == "__main__":
    for dt in DTYPES:
        for fn in FUNCS:
            x, err = measure(fn, dt)
            i = int(np.argmax(err))
            print(f"{dt} {fn:8s} max {err[i]:.3f} ulp at x={x[i]!r}")
    for fn in ("exp", "log"):
        ours, ref = _bench(fn)
        print(f"float32 {fn}: {ours:.2f} ns/elem (numpy {ref:.2f} ns/elem)")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log1p_unit_on_its_domain(dtype):
    """softplus's log1p(exp(-|x|)) only needs t in [0, 1]: a cheaper series, within 3 ulp."""
    f = jit_unary("log1p_unit", dtype)
    tiny = 1e-45 if dtype == "float32" else 1e-300
    t = np.concatenate([np.linspace(0, 1, 200001), np.geomspace(tiny, 1, 20001)]).astype(dtype)
    ref = np.log1p(t.astype(np.longdouble))
    err = np.abs(f(t).astype(np.longdouble) - ref) / np.spacing(ref.astype(dtype)).astype(np.longdouble)
    assert float(err[ref > 0].max()) <= 3.0
    assert f(np.array([0.0], dtype))[0] == 0 and np.isnan(f(np.array([np.nan], dtype))[0])
