"""Pass ``conv`` (after simplify): pick each convolution's algorithm, and take its bias out.

Convolution lowers directly to the loop IR (a sum over input channels and kernel taps per
output element, the bias and what follows in the same loop).  Where im2col + BLAS is
faster (``ops.conv.gemm_wins``, a size rule from the measurements in
docs/performance.md), ``Convolution(x, w, b)`` becomes

    broadcast_add(_convolution_gemm(x, w, no_bias=True), Reshape(b, (1, F, 1, ...)))

the GEMM a BLAS step, the bias add an ordinary op that fuses with the activation after it
into one loop.  ``Deconvolution(x, w, b)`` (always a BLAS step) loses its bias the same way.
Integer convolutions run numpy's matmul with their bias (the loop IR does not multiply
or add integers).
Only the compiler's graph changes: symbols, JSON exports and eager calls keep the
registry's ops.
"""
from __future__ import annotations

from ..ops import get_op
from ..ops.conv import gemm_wins
from ..ops.registry import FLOATS
from .graph import Graph, Node, Ref


def _add(G: Graph, name: str, op: str, attrs: dict, ins: list[Ref], shape: tuple,
         dtype: str) -> Ref:
    op_ = get_op(op)
    return G.add(Node("op", name, [tuple(shape)], [dtype], op_, op_.parse_attrs(attrs), ins)), 0


def conv_rewrite(G: Graph) -> Graph:
    for n in G.topo_order():
        node = G[n]
        if node.is_input or node.op.name not in ("Convolution", "Deconvolution"):
            continue
        data, weight = node.inputs[0], node.inputs[1]
        (dshape, dtype), (wshape, _) = G.type_of(data), G.type_of(weight)
        full = node.op.full_attrs(node.attrs)
        # integers always take numpy's matmul: the loop IR does not multiply or add them
        gemm = node.op.name == "Convolution" and (
            dtype not in FLOATS or gemm_wins(full, tuple(dshape), tuple(wshape)))
        has_bias = len(node.inputs) > 2
        if not gemm and not (has_bias and node.op.name == "Deconvolution" and dtype in FLOATS):
            continue
        if gemm and (not has_bias or dtype not in FLOATS):
            node.op = get_op("_convolution_gemm")  # the same attributes, inputs and bias
            continue
        attrs = {**node.attrs, "no_bias": True}
        name = "_convolution_gemm" if gemm else "Deconvolution"
        core = _add(G, node.name + "_nobias", name, attrs, [data, weight], node.shape, dtype)
        bshape = (1, node.shape[1]) + (1,) * (len(node.shape) - 2)
        bias = _add(G, node.name + "_bias", "Reshape", {"shape": bshape}, [node.inputs[2]],
                    bshape, dtype)
        node.op, node.attrs, node.inputs = get_op("broadcast_add"), {}, [core, bias]
    G.remove_dead()
    return G
