"""Hand-written kernels, keyed by op name: the ops whose computation the loop IR cannot
describe (CTC's dynamic programme over time).

The op registry only marks such an op (``Op.extern_kernel``); the emitter lives here, on
the compiler's side, so that importing the ops never loads llvmlite.  The schedule and
codegen look an op's kernel up in ``EXTERN_KERNELS``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .ctc_kernel import emit_ctc_kernel, emit_ctc_lse_kernel
from .errors import CompileError


@dataclass(frozen=True)
class ExternKernel:
    """``emit(module, name, attrs, in (shape, dtype)s, out ones)`` adds
    ``void name(i64 start, i64 end, i64 buf...)`` over the first output axis.
    ``writes_all_outputs``: it can write every output, so the schedule keeps it a kernel
    step when outputs beyond the first are used (else those need numpy)."""

    emit: Callable[..., Any]
    writes_all_outputs: bool = False


EXTERN_KERNELS: dict[str, ExternKernel] = {
    "CTCLoss": ExternKernel(emit_ctc_kernel, writes_all_outputs=True),
    # the compiler's form of CTCLoss, given each frame's log-sum-exp (pass ``ctc``)
    "_ctc_loss_lse": ExternKernel(emit_ctc_lse_kernel, writes_all_outputs=True),
}


def extern_kernel(op) -> ExternKernel:
    """The hand-written kernel of an op marked ``extern_kernel``."""
    try:
        return EXTERN_KERNELS[op.name]
    except KeyError:
        raise CompileError(f"{op.name} is marked extern_kernel but the compiler has no "
                           f"kernel for it") from None


__all__ = ["EXTERN_KERNELS", "ExternKernel", "extern_kernel"]
