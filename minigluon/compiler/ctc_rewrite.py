"""Pass ``ctc`` (after simplify): let the general machinery do CTCLoss's log-softmax.

``CTCLoss(data, label, lengths...)`` becomes ``CTCLoss(data, lse, label, lengths...)``
with the internal attribute ``__lse_layout__`` (``ctc_kernel.LSE_LAYOUT``), where

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
(Gluon's NTC layout), both read x directly (layout 'NTC'): no transposed copy is made.

Only the compiler's graph changes: the user's Symbol, its JSON export, eager calls and
the interpreter keep plain ``CTCLoss``.  Output 1 (the gradient, (T, N, C)) keeps its
meaning.  Graphs with no frames, batch or classes (a 0 in data's shape) are left alone.
"""
from __future__ import annotations

import networkx as nx

from ..ops import get_op
from .ctc_kernel import LSE_LAYOUT


def _swapped_source(G: nx.MultiDiGraph, n: int):
    """x when node n is SwapAxis(x, 0, 1) or transpose(x, (1, 0, 2)) of a 3-d x, else None."""
    d = G.nodes[n]
    if d["kind"] != "op" or len(d["shape"]) != 3:
        return None
    name, a = d["op"].name, d["attrs"]
    if name == "SwapAxis":
        ok = {a.get("dim1", 0) % 3, a.get("dim2", 0) % 3} == {0, 1}
    elif name == "transpose":
        ok = tuple(a.get("axes") or ()) == (1, 0, 2)
    else:
        return None
    (src, _, data), = G.in_edges(n, data=True)
    return src if ok and data["out"] == 0 else None


def _add(G, name: str, op: str, attrs: dict, ins: list, shape: tuple, dtype: str) -> int:
    n = max(G.nodes) + 1
    op_ = get_op(op)
    G.add_node(n, kind="op", op=op_, attrs=op_.parse_attrs(attrs), name=name, shape=shape,
               dtype=dtype, shapes=[shape], dtypes=[dtype])
    for pos, (u, out) in enumerate(ins):
        G.add_edge(u, n, pos=pos, out=out)
    return n


def _log_sum_exp(G, name: str, x: tuple, shape: tuple, dtype: str) -> int:
    """Nodes computing lse (shape[:2], float64) of the 3-d value x = (node, output)."""
    rows, top = tuple(shape[:2]), tuple(shape[:2]) + (1,)
    m = _add(G, name + "_max", "max", {"axis": -1, "keepdims": True}, [x], top, dtype)
    d = _add(G, name + "_shift", "broadcast_sub", {}, [x, (m, 0)], tuple(shape), dtype)
    e = _add(G, name + "_exp", "exp", {}, [(d, 0)], tuple(shape), dtype)
    s = _add(G, name + "_sum", "sum", {"axis": -1}, [(e, 0)], rows, dtype)
    s64 = _add(G, name + "_sum64", "Cast", {"dtype": "float64"}, [(s, 0)], rows, "float64")
    log = _add(G, name + "_log", "log", {}, [(s64, 0)], rows, "float64")
    m2 = _add(G, name + "_max2", "Reshape", {"shape": rows}, [(m, 0)], rows, dtype)
    m64 = _add(G, name + "_max64", "Cast", {"dtype": "float64"}, [(m2, 0)], rows, "float64")
    return _add(G, name + "_lse", "elemwise_add", {}, [(log, 0), (m64, 0)], rows, "float64")


def ctc_rewrite(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    for n in list(nx.topological_sort(G)):
        d = G.nodes[n]
        if d["kind"] != "op" or d["op"].name != "CTCLoss" or LSE_LAYOUT in d["attrs"]:
            continue
        edges = sorted(G.in_edges(n, keys=True, data=True), key=lambda e: e[3]["pos"])
        src, _, key, first = edges[0]
        x, layout = (src, first["out"]), "TNC"
        swapped = _swapped_source(G, src) if first["out"] == 0 else None
        if swapped is not None:
            x, layout = (swapped, 0), "NTC"
        xd = G.nodes[x[0]]
        shape, dtype = tuple(xd.get("shapes", [xd["shape"]])[x[1]]), \
            xd.get("dtypes", [xd["dtype"]])[x[1]]
        if len(shape) != 3 or 0 in shape or dtype not in ("float32", "float64"):
            continue  # nothing to gain (no frames) or no kernel: CTCLoss stays as it is
        lse = _log_sum_exp(G, d["name"], x, shape, dtype)
        # inputs: data, lse, then label and lengths one position later
        for u, _, k, _ in edges:
            G.remove_edge(u, n, k)
        G.add_edge(x[0], n, pos=0, out=x[1])
        G.add_edge(lse, n, pos=1, out=0)
        for u, _, _, data in edges[1:]:
            G.add_edge(u, n, pos=data["pos"] + 1, out=data["out"])
        d["attrs"] = {**d["attrs"], LSE_LAYOUT: layout}
        if swapped is not None and G.out_degree(src) == 0 and \
                all(m != src for m, _ in G.graph["outputs"]):
            G.remove_node(src)  # the transposed copy is no longer needed
    return G
