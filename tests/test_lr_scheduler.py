"""mg.lr_scheduler: the rates MXNet 1.9.1's schedulers give per update count (fixtures from
tests/tools/make_optimizer_fixtures.py), the closed forms they document, and their checks."""
import json
import math
from pathlib import Path

import pytest

import minigluon as mg

CASES = json.loads((Path(__file__).parent / "fixtures" / "optimizer" / "lr_schedulers.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['cls']}-{len(c['kwargs'])}args")
def test_rates_match_mxnet(case):
    sched = getattr(mg.lr_scheduler, case["cls"])(**case["kwargs"])
    got = [sched(n) for n in range(len(case["lrs"]))]
    assert got == pytest.approx(case["lrs"], rel=1e-12, abs=0)


def test_the_documented_closed_forms():
    f = mg.lr_scheduler.FactorScheduler(step=3, factor=0.5, base_lr=2.0)
    # the rate changes once the count exceeds a multiple of step
    assert [f(n) for n in range(1, 11)] == [2.0 * 0.5 ** ((n - 1) // 3) for n in range(1, 11)]
    m = mg.lr_scheduler.MultiFactorScheduler(step=[2, 4], factor=0.1, base_lr=1.0)
    assert [m(n) for n in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.01, 0.01])
    p = mg.lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1)
    assert [p(n) for n in (0, 5, 10, 20)] == pytest.approx([1.0, 0.1 + 0.9 * 0.25, 0.1, 0.1])
    c = mg.lr_scheduler.CosineScheduler(max_update=4, base_lr=1.0, warmup_steps=2,
                                        warmup_begin_lr=0.5)
    assert [c(n) for n in range(6)] == pytest.approx(
        [0.5, 0.75, 1.0, (1 + math.cos(math.pi / 2)) / 2, 0.0, 0.0])
    const = mg.lr_scheduler.FactorScheduler(step=1, base_lr=1.0, warmup_steps=3,
                                            warmup_begin_lr=0.2, warmup_mode="constant")
    assert [const(n) for n in range(4)] == [0.2, 0.2, 0.2, 1.0]


def test_factor_stops_at_stop_factor_lr():
    f = mg.lr_scheduler.FactorScheduler(step=1, factor=0.1, base_lr=1.0, stop_factor_lr=0.005)
    assert [f(n) for n in range(2, 6)] == pytest.approx([0.1, 0.01, 0.005, 0.005])


@pytest.mark.parametrize("make,exc,match", [
    (lambda: mg.lr_scheduler.FactorScheduler(0), ValueError, "greater or equal than 1"),
    (lambda: mg.lr_scheduler.FactorScheduler(2, factor=1.5), ValueError, "no more than 1"),
    (lambda: mg.lr_scheduler.FactorScheduler(2, base_lr=0.1, warmup_begin_lr=0.5), ValueError,
     "higher than warmup_begin_lr"),
    (lambda: mg.lr_scheduler.FactorScheduler(2, warmup_steps=-1), ValueError, "positive or 0"),
    (lambda: mg.lr_scheduler.FactorScheduler(2, warmup_mode="cubic"), ValueError, "linear and constant"),
    (lambda: mg.lr_scheduler.FactorScheduler(2, warmup_steps=2.5), AssertionError, "warmup_steps"),
    (lambda: mg.lr_scheduler.MultiFactorScheduler([3, 2]), ValueError, "increasing"),
    (lambda: mg.lr_scheduler.MultiFactorScheduler([0, 2]), ValueError, "greater or equal than 1"),
    (lambda: mg.lr_scheduler.MultiFactorScheduler(3), AssertionError, "list"),
    (lambda: mg.lr_scheduler.PolyScheduler(0), ValueError, "strictly positive"),
    (lambda: mg.lr_scheduler.CosineScheduler(5.0), AssertionError, "max_update"),
])
def test_bad_arguments_raise_as_mxnet(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_base_class_needs_a_subclass():
    with pytest.raises(NotImplementedError):
        mg.lr_scheduler.LRScheduler()(0)
