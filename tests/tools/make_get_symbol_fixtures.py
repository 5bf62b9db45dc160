"""Write tests/fixtures/get-symbol/mxnet.json: the shape of the graphs MXNet 1.9.1's
autograd.get_symbol returns (op per node, variable names stripped of their process-wide
numbers) for a recorded eager computation and for a hybridized HybridSequential of three
Dense(10) layers under several hybridize() flags (inlined or one _CachedOp node).

Run with an MXNet 1.9.1 interpreter: /tmp/mxvenv/bin/python tests/tools/make_get_symbol_fixtures.py
"""
import json
import os
import re

import mxnet as mx

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "get-symbol", "mxnet.json")


def shape_of(y):
    """Each node as (op, name without its number, attrs, inputs): MXNet numbers names
    with counters shared by the whole process, so only the prefix is comparable."""
    graph = json.loads(mx.autograd.get_symbol(y).tojson())
    return [[n["op"], re.sub(r"_?\d+$", "", n["name"]), n.get("attrs", {}), n["inputs"]]
            for n in graph["nodes"]]


def main():
    out = {}
    x = mx.nd.array([[1.0, -2.0], [3.0, 4.0]])
    x.attach_grad()
    w = mx.nd.ones((2, 2))
    with mx.autograd.record():
        z = mx.nd.sum(mx.nd.relu(mx.nd.broadcast_add(x * 2, w)), axis=1)
    out["eager"] = shape_of(z)
    out["leaf"] = shape_of(x)
    net = mx.gluon.nn.HybridSequential()
    for _ in range(3):
        net.add(mx.gluon.nn.Dense(10))
    net.initialize()
    flags = {"inline3": {"inline_limit": 3}, "inline0": {"inline_limit": 0},
             "default": {}, "inline2": {"inline_limit": 2},
             "static_alloc_inline3": {"static_alloc": True, "inline_limit": 3}}
    for key, kw in flags.items():
        net.hybridize(**kw)
        with mx.autograd.record():
            y = net(mx.nd.zeros((1, 10)))
        out[key] = shape_of(y)
        y.backward()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
