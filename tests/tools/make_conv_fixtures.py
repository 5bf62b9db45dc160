"""Write tests/fixtures/conv/*.npz: MXNet 1.9.1's Convolution and Deconvolution outputs and
data/weight/bias gradients for a handful of configurations.

Run with MXNet's interpreter, twice: MXNet's MKLDNN kernels fail on some cases (adj with
a stride above 2), its native kernels on others (grouped deconvolution), so the second
run, with MKLDNN off, writes only the cases the first could not:

    /tmp/mxvenv/bin/python tests/tools/make_conv_fixtures.py
    MXNET_MKLDNN_ENABLED=0 /tmp/mxvenv/bin/python tests/tools/make_conv_fixtures.py
"""
import json
import os
import zlib

import mxnet as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "conv")

# name -> (op, data shape, weight shape, with bias, attrs)
CASES = {
    "conv1d": ("Convolution", (2, 3, 9), (4, 3, 3), True, {"kernel": (3,), "num_filter": 4}),
    "conv1d_stride_pad_dilate": ("Convolution", (2, 2, 11), (3, 2, 3), True,
                                 {"kernel": (3,), "stride": (2,), "pad": (2,), "dilate": (2,),
                                  "num_filter": 3}),
    "conv2d": ("Convolution", (2, 3, 6, 5), (4, 3, 3, 2), True,
               {"kernel": (3, 2), "num_filter": 4}),
    "conv2d_stride_pad": ("Convolution", (2, 2, 7, 6), (3, 2, 3, 3), True,
                          {"kernel": (3, 3), "stride": (2, 1), "pad": (1, 2), "num_filter": 3}),
    "conv2d_dilate": ("Convolution", (1, 2, 8, 7), (2, 2, 2, 3), False,
                      {"kernel": (2, 3), "dilate": (3, 2), "num_filter": 2, "no_bias": True}),
    "conv2d_groups": ("Convolution", (2, 4, 5, 5), (6, 2, 3, 3), True,
                      {"kernel": (3, 3), "pad": (1, 1), "num_filter": 6, "num_group": 2}),
    "conv2d_depthwise": ("Convolution", (1, 3, 6, 6), (3, 1, 3, 3), True,
                         {"kernel": (3, 3), "stride": (2, 2), "num_filter": 3, "num_group": 3}),
    "conv3d": ("Convolution", (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), True,
               {"kernel": (2, 3, 2), "stride": (1, 2, 1), "pad": (1, 0, 1), "num_filter": 3}),
    "deconv1d": ("Deconvolution", (2, 3, 5), (3, 2, 3), True,
                 {"kernel": (3,), "stride": (2,), "num_filter": 2, "no_bias": False}),
    "deconv2d": ("Deconvolution", (2, 3, 4, 3), (3, 4, 3, 2), False,
                 {"kernel": (3, 2), "num_filter": 4}),
    "deconv2d_stride_pad_adj": ("Deconvolution", (2, 2, 4, 4), (2, 3, 3, 3), True,
                                {"kernel": (3, 3), "stride": (2, 3), "pad": (1, 1),
                                 "adj": (1, 2), "num_filter": 3, "no_bias": False}),
    "deconv2d_target_shape": ("Deconvolution", (1, 2, 4, 3), (2, 2, 3, 3), False,
                              {"kernel": (3, 3), "stride": (2, 2), "target_shape": (8, 6),
                               "num_filter": 2}),
    "deconv2d_groups_dilate": ("Deconvolution", (2, 4, 3, 4), (4, 1, 2, 2), True,
                               {"kernel": (2, 2), "dilate": (2, 1), "num_filter": 2,
                                "num_group": 2, "no_bias": False}),
    "deconv3d": ("Deconvolution", (1, 2, 3, 2, 3), (2, 2, 2, 2, 2), False,
                 {"kernel": (2, 2, 2), "stride": (2, 1, 2), "num_filter": 2}),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {}
    for name, (op, dshape, wshape, with_bias, attrs) in CASES.items():
        meta[name] = {"op": op, "attrs": {k: list(v) if isinstance(v, tuple) else v
                                          for k, v in attrs.items()}}
        for dtype in ("float32", "float64"):
            path = os.path.join(OUT, f"{name}_{dtype}.npz")
            if os.path.exists(path):
                continue
            # a generator per file: a case's numbers do not depend on which others ran
            rng = np.random.default_rng(zlib.crc32(f"{name}_{dtype}".encode()))
            x = rng.uniform(-1, 1, dshape).astype(dtype)
            w = rng.uniform(-1, 1, wshape).astype(dtype)
            args = [mx.nd.array(x, dtype=dtype), mx.nd.array(w, dtype=dtype)]
            if with_bias:
                args.append(mx.nd.array(rng.uniform(-1, 1, (attrs["num_filter"],)), dtype=dtype))
            for a in args:
                a.attach_grad()
            with mx.autograd.record():
                y = getattr(mx.nd, op)(*args, **attrs)
            head = rng.uniform(-1, 1, y.shape).astype(dtype)
            try:
                y.backward(mx.nd.array(head, dtype=dtype))
                mx.nd.waitall()
                y.asnumpy()
            except mx.MXNetError as e:
                print(f"{name} {dtype}: MXNet fails: {str(e).splitlines()[0][:120]}")
                continue
            arrays = {"data": x, "weight": w, "out": y.asnumpy(), "head": head,
                      "grad_data": args[0].grad.asnumpy(), "grad_weight": args[1].grad.asnumpy()}
            if with_bias:
                arrays["bias"] = args[2].asnumpy()
                arrays["grad_bias"] = args[2].grad.asnumpy()
            np.savez(path, **arrays)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
