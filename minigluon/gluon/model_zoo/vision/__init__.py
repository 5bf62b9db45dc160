"""``mg.gluon.model_zoo.vision``: predefined image networks with MXNet 1.9.1's structure
and parameter names, so MXNet's ``.params`` files for them load.  ResNet v1/v2 so far."""
from __future__ import annotations

from typing import Any

from ....base import MXNetError
from .resnet import (
    BasicBlockV1,
    BasicBlockV2,
    BottleneckV1,
    BottleneckV2,
    ResNetV1,
    ResNetV2,
    get_resnet,
    resnet18_v1,
    resnet18_v2,
    resnet34_v1,
    resnet34_v2,
    resnet50_v1,
    resnet50_v2,
    resnet101_v1,
    resnet101_v2,
    resnet152_v1,
    resnet152_v2,
)

_MODELS = {f"resnet{n}_v{v}": globals()[f"resnet{n}_v{v}"]
           for n in (18, 34, 50, 101, 152) for v in (1, 2)}


def get_model(name: str, **kwargs: Any):
    """The network called ``name`` (``'resnet18_v1'``, ...), built with ``kwargs``."""
    key = name.lower()
    if key not in _MODELS:
        raise MXNetError(f"model {name!r} is not in minigluon's model zoo (it has: "
                         f"{', '.join(sorted(_MODELS))})")
    return _MODELS[key](**kwargs)


__all__ = ["BasicBlockV1", "BasicBlockV2", "BottleneckV1", "BottleneckV2", "ResNetV1",
           "ResNetV2", "get_model", "get_resnet", "resnet18_v1", "resnet34_v1", "resnet50_v1",
           "resnet101_v1", "resnet152_v1", "resnet18_v2", "resnet34_v2", "resnet50_v2",
           "resnet101_v2", "resnet152_v2"]
