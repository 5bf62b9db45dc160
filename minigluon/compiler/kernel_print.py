"""The loop IR of one kernel as text: one SSA line per value, with the loop it is placed in.

``%3 = exp(%2) : float32  @ o0.r1_1`` reads: value 3 is computed inside loop ``o0`` (an
output index) and, within it, the loop over axis 1 of the kernel's reduction 1 (``r1_1``;
the generated LLVM IR names its loops and values the same way).  Codegen places every value at the
outermost loop whose indices it uses, so a value shown ``@ o0`` is computed once per row,
not once per element.  Shared sub-expressions (hash-consed) appear once.
"""
from __future__ import annotations

from ..loopir import Expr, GroupOp, Ops, leaf_text, loop_names, ssa_form, walk


def _uses(value: Expr) -> dict:
    """Each expression -> the loop variables it depends on (a reduction hides the ones it
    loops over); children are visited first, so this needs no recursion."""
    uses: dict = {}
    for e in walk(value):
        if e.op is Ops.VAR:
            uses[e] = frozenset([e])
        elif e.op is Ops.REDUCE:
            uses[e] = uses[e.args[1]] - frozenset(e.args[2])
        else:
            uses[e] = frozenset().union(*[uses[c] for c in e.children()])
    return uses


def _loop_nest(value: Expr, out_vars: tuple, uses: dict) -> dict:
    """Each loop variable -> the chain of loops that encloses it, outermost first."""
    chain = {v: tuple(out_vars[:k + 1]) for k, v in enumerate(out_vars)}
    for e in reversed(walk(value)):  # a reduction before the ones nested in its body
        if e.op is Ops.REDUCE:
            _, body, rvars = e.args
            outer = max((chain[d] for d in uses[body] if d in chain and d not in rvars),
                        key=len, default=())
            for k, r in enumerate(rvars):
                chain[r] = outer + tuple(rvars[:k + 1])
    return chain


def format_kernel(name: str, value: Expr, out_vars: tuple, out_slot: int) -> str:
    """The kernel ``name`` writing value at loop indices out_vars into buffer out_slot."""
    uses = _uses(value)
    nest = _loop_nest(value, out_vars, uses)
    loops = " ".join(f"{v.args[0]} < {v.args[1]}" for v in out_vars)
    lines = [f"kernel {name}: for {loops or '(one element)'}:"]
    var_names = loop_names(value)
    ssa = ssa_form(value, var_names)
    for ref, e, text in ssa:
        deps = [v for v in uses[e] if v in nest]
        place = max((nest[v] for v in deps), key=len, default=())
        where = ".".join(var_names.get(v) or v.args[0] for v in place) or "entry"
        lines.append(f"  {ref} = {text} : {e.dtype}  @ {where}")
    result = leaf_text(value) if value.op in GroupOp.Leaf else ssa[-1][0]
    lines.append(f"  store buf{out_slot}[{', '.join(v.args[0] for v in out_vars)}] = {result}")
    return "\n".join(lines)
