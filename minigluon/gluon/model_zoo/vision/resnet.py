"""ResNet v1 ("Deep Residual Learning for Image Recognition", He et al. 2015) and v2
("Identity Mappings in Deep Residual Networks", He et al. 2016), laid out as MXNet 1.9.1's
model zoo lays them out: the same child blocks in the same order, so the parameter names
(``resnetv10_stage1_conv0_weight`` ...) and MXNet's exported files match."""
from __future__ import annotations

import os
from typing import Any

from ....base import MXNetError
from ... import nn
from ...block import HybridBlock

# depth -> (block kind, blocks per stage, channels: the stem's, then each stage's)
SPECS = {18: ("basic", (2, 2, 2, 2), (64, 64, 128, 256, 512)),
         34: ("basic", (3, 4, 6, 3), (64, 64, 128, 256, 512)),
         50: ("bottleneck", (3, 4, 6, 3), (64, 256, 512, 1024, 2048)),
         101: ("bottleneck", (3, 4, 23, 3), (64, 256, 512, 1024, 2048)),
         152: ("bottleneck", (3, 8, 36, 3), (64, 256, 512, 1024, 2048))}


def _conv3x3(channels: int, stride: int, in_channels: int) -> nn.Conv2D:
    return nn.Conv2D(channels, kernel_size=3, strides=stride, padding=1, use_bias=False,
                     in_channels=in_channels)


def _shortcut(channels: int, stride: int, in_channels: int) -> nn.Conv2D:
    return nn.Conv2D(channels, kernel_size=1, strides=stride, use_bias=False,
                     in_channels=in_channels)


class _V1Block(HybridBlock):
    """v1: relu(body(x) + shortcut(x)), the shortcut a strided 1x1 conv + BN when the
    shape changes."""

    def __init__(self, body: list, channels: int, stride: int, downsample: bool,
                 in_channels: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.body = nn.HybridSequential(prefix="")
        self.body.add(*body)
        self.downsample = None
        if downsample:
            self.downsample = nn.HybridSequential(prefix="")
            self.downsample.add(_shortcut(channels, stride, in_channels), nn.BatchNorm())

    def hybrid_forward(self, F, x):
        residual = x if self.downsample is None else self.downsample(x)
        return F.Activation(self.body(x) + residual, act_type="relu")


class BasicBlockV1(_V1Block):
    """Two 3x3 convolutions (ResNet-18/34 v1)."""

    def __init__(self, channels: int, stride: int, downsample: bool = False,
                 in_channels: int = 0, **kwargs: Any):
        body = [_conv3x3(channels, stride, in_channels), nn.BatchNorm(), nn.Activation("relu"),
                _conv3x3(channels, 1, channels), nn.BatchNorm()]
        super().__init__(body, channels, stride, downsample, in_channels, **kwargs)


class BottleneckV1(_V1Block):
    """1x1 down to channels/4, 3x3, 1x1 up (ResNet-50/101/152 v1).  As in MXNet, its two
    1x1 convolutions keep their bias and the first one takes the stride."""

    def __init__(self, channels: int, stride: int, downsample: bool = False,
                 in_channels: int = 0, **kwargs: Any):
        body = [nn.Conv2D(channels // 4, kernel_size=1, strides=stride), nn.BatchNorm(),
                nn.Activation("relu"), _conv3x3(channels // 4, 1, channels // 4), nn.BatchNorm(),
                nn.Activation("relu"), nn.Conv2D(channels, kernel_size=1, strides=1),
                nn.BatchNorm()]
        super().__init__(body, channels, stride, downsample, in_channels, **kwargs)


class _V2Block(HybridBlock):
    """v2 (pre-activation): BN and relu come before each convolution; the shortcut (a
    strided 1x1 conv when the shape changes) reads the first activation."""

    def __init__(self, layers: list, channels: int, stride: int, downsample: bool,
                 in_channels: int, **kwargs: Any):
        super().__init__(**kwargs)
        self._pairs = len(layers)
        for k, (bn, conv) in enumerate(layers, start=1):  # bn1, conv1, bn2, conv2, ...
            setattr(self, f"bn{k}", bn)
            setattr(self, f"conv{k}", conv)
        self.downsample = _shortcut(channels, stride, in_channels) if downsample else None

    def hybrid_forward(self, F, x):
        residual = x
        for k in range(1, self._pairs + 1):
            x = F.Activation(getattr(self, f"bn{k}")(x), act_type="relu")
            if k == 1 and self.downsample is not None:
                residual = self.downsample(x)
            x = getattr(self, f"conv{k}")(x)
        return x + residual


class BasicBlockV2(_V2Block):
    """Two pre-activated 3x3 convolutions (ResNet-18/34 v2)."""

    def __init__(self, channels: int, stride: int, downsample: bool = False,
                 in_channels: int = 0, **kwargs: Any):
        layers = [(nn.BatchNorm(), _conv3x3(channels, stride, in_channels)),
                  (nn.BatchNorm(), _conv3x3(channels, 1, channels))]
        super().__init__(layers, channels, stride, downsample, in_channels, **kwargs)


class BottleneckV2(_V2Block):
    """Pre-activated 1x1, 3x3 (with the stride), 1x1 (ResNet-50/101/152 v2)."""

    def __init__(self, channels: int, stride: int, downsample: bool = False,
                 in_channels: int = 0, **kwargs: Any):
        layers = [(nn.BatchNorm(), nn.Conv2D(channels // 4, kernel_size=1, use_bias=False)),
                  (nn.BatchNorm(), _conv3x3(channels // 4, stride, channels // 4)),
                  (nn.BatchNorm(), nn.Conv2D(channels, kernel_size=1, use_bias=False))]
        super().__init__(layers, channels, stride, downsample, in_channels, **kwargs)


class _ResNet(HybridBlock):
    def __init__(self, block, layers, channels, classes: int, thumbnail: bool, v2: bool,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if len(layers) != len(channels) - 1:
            raise MXNetError(f"ResNet: {len(layers)} stages need {len(layers) + 1} channel "
                             f"counts, got {len(channels)}")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            if v2:  # normalizes the raw input, with no learned scale or shift
                self.features.add(nn.BatchNorm(scale=False, center=False))
            if thumbnail:  # small images (CIFAR): one 3x3 conv, no pooling
                self.features.add(_conv3x3(channels[0], 1, 0))
            else:
                self.features.add(nn.Conv2D(channels[0], 7, 2, 3, use_bias=False),
                                  nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(3, 2, 1))
            for i, count in enumerate(layers):
                stage = nn.HybridSequential(prefix=f"stage{i + 1}_")
                with stage.name_scope():
                    stride, cin = (1 if i == 0 else 2), channels[i]
                    stage.add(block(channels[i + 1], stride, channels[i + 1] != cin,
                                    in_channels=cin, prefix=""))
                    for _ in range(count - 1):
                        stage.add(block(channels[i + 1], 1, False, in_channels=channels[i + 1],
                                        prefix=""))
                self.features.add(stage)
            if v2:
                self.features.add(nn.BatchNorm(), nn.Activation("relu"))
            self.features.add(nn.GlobalAvgPool2D())
            if v2:
                self.features.add(nn.Flatten())
            self.output = nn.Dense(classes, in_units=channels[-1])

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class ResNetV1(_ResNet):
    """ResNet v1: ``block`` is BasicBlockV1 or BottleneckV1, ``layers`` the blocks per
    stage, ``channels`` the stem's channels then each stage's."""

    def __init__(self, block, layers, channels, classes: int = 1000, thumbnail: bool = False,
                 **kwargs: Any):
        super().__init__(block, layers, channels, classes, thumbnail, False, **kwargs)


class ResNetV2(_ResNet):
    """ResNet v2 (pre-activation), with BasicBlockV2 or BottleneckV2 blocks."""

    def __init__(self, block, layers, channels, classes: int = 1000, thumbnail: bool = False,
                 **kwargs: Any):
        super().__init__(block, layers, channels, classes, thumbnail, True, **kwargs)


_BLOCKS = {1: {"basic": BasicBlockV1, "bottleneck": BottleneckV1},
           2: {"basic": BasicBlockV2, "bottleneck": BottleneckV2}}


def get_resnet(version: int, num_layers: int, pretrained: bool = False, ctx=None,
               root: str = os.path.join("~", ".mxnet", "models"), **kwargs: Any):
    """ResNet ``version`` (1 or 2) with ``num_layers`` (18, 34, 50, 101, 152) layers, with
    random weights: pretrained weights are downloads minigluon does not make (load MXNet's
    file with ``net.load_parameters(path)``)."""
    if num_layers not in SPECS:
        raise MXNetError(f"Invalid number of layers: {num_layers}. Options are "
                         f"{sorted(SPECS)}")
    if version not in _BLOCKS:
        raise MXNetError(f"Invalid resnet version: {version}. Options are 1 and 2.")
    if pretrained:
        raise MXNetError("pretrained=True downloads MXNet's weights, which minigluon does not "
                         "do; download the .params file and call "
                         "net.load_parameters(path, ctx=ctx)")
    kind, layers, channels = SPECS[num_layers]
    net_class = ResNetV1 if version == 1 else ResNetV2
    return net_class(_BLOCKS[version][kind], layers, channels, **kwargs)


def _variant(version: int, depth: int):
    def build(**kwargs: Any):
        return get_resnet(version, depth, **kwargs)
    build.__name__ = f"resnet{depth}_v{version}"
    build.__doc__ = f"ResNet-{depth} v{version} (see get_resnet)."
    return build


resnet18_v1, resnet34_v1, resnet50_v1, resnet101_v1, resnet152_v1 = (
    _variant(1, d) for d in (18, 34, 50, 101, 152))
resnet18_v2, resnet34_v2, resnet50_v2, resnet101_v2, resnet152_v2 = (
    _variant(2, d) for d in (18, 34, 50, 101, 152))
