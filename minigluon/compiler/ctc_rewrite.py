"""Pass ``ctc`` (after simplify): let the general machinery do CTCLoss's log-softmax.

``CTCLoss(data, label, lengths...)`` becomes ``_ctc_loss_lse(data, lse, label,
lengths..., layout=...)``, the registry's internal op for the compiler's form, where

    lse = log(Cast(sum(exp(data - m), axis=-1), float64)) + Cast(m, float64),
    m = max(data, axis=-1, keepdims=True)

is each frame's log-sum-exp over the classes: ordinary registry ops, which fuse into one
row-reduction kernel (vectorized along the classes, split across threads).  max and exp
run in data's dtype (the max is exact), log and the sum with m in float64, so lse has an
absolute error of a few ulps of data's dtype at 1 whatever the activations' magnitude.
It is NaN for a frame holding a NaN (llvm.maximum propagates it), a +inf (inf - inf) or
only -inf, as the reference's log-softmax.  The hand-written kernel then takes
``log y_t(c) = data[t, n, c] - lse[t, n]`` for the 2L+1 classes it uses (all C only for
the gradient).  When data is ``SwapAxis(x, 0, 1)`` or ``transpose(x, (1, 0, 2))``
(Gluon's NTC layout), both read x directly (``layout='NTC'``): no transposed copy is made.

Only the compiler's graph changes: the user's Symbol, its JSON export, eager calls and
the interpreter keep plain ``CTCLoss``.  Output 1 (the gradient, (T, N, C)) keeps its
meaning.  Graphs with no frames, batch or classes (a 0 in data's shape) are left alone.
"""
from __future__ import annotations

from ..ops import get_op
from .graph import Graph, Node, Ref


def _swapped_source(G: Graph, ref: Ref) -> Ref | None:
    """x when ref is SwapAxis(x, 0, 1) or transpose(x, (1, 0, 2)) of a 3-d x, else None."""
    node = G[ref[0]]
    if node.is_input or ref[1] != 0 or len(node.shape) != 3:
        return None
    name, a = node.op.name, node.attrs
    if name == "SwapAxis":
        ok = {a.get("dim1", 0) % 3, a.get("dim2", 0) % 3} == {0, 1}
    elif name == "transpose":
        ok = tuple(a.get("axes") or ()) == (1, 0, 2)
    else:
        return None
    return node.inputs[0] if ok else None


def _add(G: Graph, name: str, op: str, attrs: dict, ins: list[Ref], shape: tuple,
         dtype: str) -> Ref:
    op_ = get_op(op)
    return G.add(Node("op", name, [shape], [dtype], op_, op_.parse_attrs(attrs), ins)), 0


def _log_sum_exp(G: Graph, name: str, x: Ref, shape: tuple, dtype: str) -> Ref:
    """Nodes computing lse (shape[:2], float64) of the 3-d value x."""
    rows, top = tuple(shape[:2]), tuple(shape[:2]) + (1,)
    m = _add(G, name + "_max", "max", {"axis": -1, "keepdims": True}, [x], top, dtype)
    d = _add(G, name + "_shift", "broadcast_sub", {}, [x, m], tuple(shape), dtype)
    e = _add(G, name + "_exp", "exp", {}, [d], tuple(shape), dtype)
    s = _add(G, name + "_sum", "sum", {"axis": -1}, [e], rows, dtype)
    s64 = _add(G, name + "_sum64", "Cast", {"dtype": "float64"}, [s], rows, "float64")
    log = _add(G, name + "_log", "log", {}, [s64], rows, "float64")
    m2 = _add(G, name + "_max2", "Reshape", {"shape": rows}, [m], rows, dtype)
    m64 = _add(G, name + "_max64", "Cast", {"dtype": "float64"}, [m2], rows, "float64")
    return _add(G, name + "_lse", "elemwise_add", {}, [log, m64], rows, "float64")


def ctc_rewrite(G: Graph) -> Graph:
    lse_op = get_op("_ctc_loss_lse")
    for n in G.topo_order():
        node = G[n]
        if node.is_input or node.op.name != "CTCLoss":
            continue
        x, layout = node.inputs[0], "TNC"
        swapped = _swapped_source(G, x)
        if swapped is not None:
            x, layout = swapped, "NTC"
        shape, dtype = G.type_of(x)
        if len(shape) != 3 or 0 in shape or dtype not in ("float32", "float64"):
            continue  # nothing to gain (no frames) or no kernel: CTCLoss stays as it is
        lse = _log_sum_exp(G, node.name, x, tuple(shape), dtype)
        node.op, node.attrs = lse_op, {**node.attrs, "layout": layout}
        node.inputs = [x, lse] + node.inputs[1:]
    G.remove_dead()  # a transposed copy only CTCLoss read
    return G
