"""Write tests/fixtures/block-api/mxnet.json: what MXNet 1.9.1 prints and names for a small
network of custom blocks (prefixes, collect_params keys and selections, save_parameters
keys, repr, summary, and the messages of its parameter checks).

Run with an MXNet 1.9.1 interpreter: /tmp/mxvenv/bin/python tests/tools/make_block_api_fixtures.py
"""
import contextlib
import io
import json
import os
import sys

import mxnet as mx
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from tests.gluon.nets import define  # noqa: E402  (the repository root is put on the path first)

NETS = define(mx)
Lin, Net = NETS.Lin, NETS.Net
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "block-api", "mxnet.json")


def err(fn):
    try:
        fn()
    except Exception as e:  # the message and type are the fixture
        return [type(e).__name__, str(e)]
    return None


def main():
    out = {}
    net = Net(prefix="net_")
    out["keys"] = list(net.collect_params().keys())
    out["select"] = list(net.collect_params(".*weight").keys())
    out["select2"] = list(net.collect_params("net_lin0_weight|net_lin1_bias").keys())
    out["prefixes"] = [net.prefix, net.a.prefix, net.b.prefix, net.c.prefix, net.a.name]
    out["repr"] = repr(net)
    out["params_repr"] = repr(net.a.params)
    net.initialize()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        net.summary(mx.nd.ones((2, 3)))
    out["summary"] = buf.getvalue()
    net.save_parameters("/tmp/_blk.params")
    out["save_keys"] = sorted(mx.nd.load("/tmp/_blk.params").keys())
    net.save_parameters("/tmp/_blk.params", deduplicate=True)
    out["save_keys_dedup"] = sorted(mx.nd.load("/tmp/_blk.params").keys())
    other = Net(prefix="other_")
    mx.nd.save("/tmp/_blk2.params", {"a.weight": mx.nd.ones((4, 3))})
    out["load_missing"] = err(lambda: other.load_parameters("/tmp/_blk2.params"))
    mx.nd.save("/tmp/_blk3.params", {k: v.data() for k, v in
                                     net._collect_params_with_prefix().items()} |
               {"zz.weight": mx.nd.ones((1,))})
    out["load_extra"] = err(lambda: other.load_parameters("/tmp/_blk3.params"))
    out["stype"] = err(lambda: mx.gluon.Parameter("w", stype="invalid"))
    out["grad_stype"] = err(lambda: mx.gluon.Parameter("w", grad_stype="invalid"))
    out["grad_req"] = err(lambda: mx.gluon.Parameter("w", grad_req="sometimes"))
    pd = mx.gluon.ParameterDict("p_")
    pd.get("w", shape=(2, 0))
    out["get_mismatch"] = err(lambda: pd.get("w", shape=(3, 4)))
    out["get_merged"] = list(pd.get("w", shape=(0, 5)).shape)
    out["const_missing"] = err(lambda: pd.get_constant("c"))
    c = pd.get_constant("c", [[1.0, 2.0]])
    out["const_repr"] = repr(c)
    out["const_grad_req"] = c.grad_req
    out["pd_repr"] = repr(pd)
    x = mx.nd.array(np.arange(6.0).reshape(2, 3))
    out["lin_out"] = net.a(x).asnumpy().tolist()
    # the network hybridized and exported: one graph, parameters under arg: names
    net.hybridize()
    out["net_out"] = net(x).asnumpy().tolist()
    net.export(os.path.join(os.path.dirname(OUT), "net"))
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
