"""Record MXNet 1.9.1's ResNet v1/v2 (model zoo classes, small widths) on a fixed input.

usage: /tmp/mxvenv/bin/python tests/tools/make_model_zoo_fixtures.py tests/fixtures/model_zoo

For each NAME: NAME.params (MXNet's save_parameters) and NAME.npz with the input ``x``, the
inference output ``out``, the training-mode output ``out_train`` and the running mean of
the first BatchNorm after that training-mode call and its backward ``bn_mean``.  Regenerated, never edited.
"""
import sys

import mxnet as mx
import numpy as np
from mxnet.gluon.model_zoo import vision

NETS = {  # name -> (class, block, layers, channels, thumbnail)
    "resnet_v1_basic": ("ResNetV1", "BasicBlockV1", [1, 1, 1, 1], [4, 4, 8, 12, 16], False),
    "resnet_v1_bottleneck": ("ResNetV1", "BottleneckV1", [1, 1, 1, 1], [4, 8, 16, 24, 32], True),
    "resnet_v2_basic": ("ResNetV2", "BasicBlockV2", [1, 1, 1, 1], [4, 4, 8, 12, 16], True),
    "resnet_v2_bottleneck": ("ResNetV2", "BottleneckV2", [1, 2, 1, 1], [4, 8, 16, 24, 32], False),
}


def main(out_dir):
    for name, (cls, block, layers, channels, thumb) in NETS.items():
        mx.random.seed(3)
        net = getattr(vision, cls)(getattr(vision, block), layers, channels, classes=5,
                                   thumbnail=thumb)
        net.initialize(mx.init.Xavier(magnitude=2.0))
        x = np.random.RandomState(4).uniform(-1, 1, (2, 3, 20, 20)).astype(np.float32)
        net(mx.nd.array(x))
        for p in net.collect_params().values():  # non-trivial running statistics
            if p.name.endswith(("running_mean", "running_var")):
                v = np.random.RandomState(len(p.name)).uniform(0.5, 1.5, p.shape)
                p.set_data(mx.nd.array(v.astype(np.float32)))
        net.save_parameters(f"{out_dir}/{name}.params")
        out = net(mx.nd.array(x)).asnumpy()
        with mx.autograd.record():
            train = net(mx.nd.array(x))
        train.backward()  # MXNet's CPU BatchNorm updates its running statistics here
        out_train = train.asnumpy()
        bn = [p for p in net.collect_params().values() if p.name.endswith("running_mean")][0]
        np.savez(f"{out_dir}/{name}.npz", x=x, out=out, out_train=out_train,
                 bn_mean=bn.data().asnumpy())


if __name__ == "__main__":
    main(sys.argv[1])
