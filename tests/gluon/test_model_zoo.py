"""gluon.model_zoo.vision's ResNets against MXNet 1.9.1: parameter names and shapes of the
real networks, and outputs of small-width ones loading MXNet's own .params files, eagerly
and hybridized (tests/tools/make_model_zoo_fixtures.py)."""
from pathlib import Path

import numpy as np
import pytest

import minigluon as mg
from minigluon.base import MXNetError

vision = mg.gluon.model_zoo.vision
FIX = Path(__file__).parent.parent / "fixtures" / "model_zoo"
NETS = {"resnet_v1_basic": ("ResNetV1", "BasicBlockV1", [1, 1, 1, 1], [4, 4, 8, 12, 16], False),
        "resnet_v1_bottleneck": ("ResNetV1", "BottleneckV1", [1, 1, 1, 1], [4, 8, 16, 24, 32], True),
        "resnet_v2_basic": ("ResNetV2", "BasicBlockV2", [1, 1, 1, 1], [4, 4, 8, 12, 16], True),
        "resnet_v2_bottleneck": ("ResNetV2", "BottleneckV2", [1, 2, 1, 1], [4, 8, 16, 24, 32], False)}


def _net(name):
    cls, block, layers, channels, thumb = NETS[name]
    net = getattr(vision, cls)(getattr(vision, block), layers, channels, classes=5, thumbnail=thumb)
    net.load_parameters(str(FIX / f"{name}.params"))
    return net


# every net eagerly; the basic-block ones also compiled (a bottleneck net compiles 15 s)
@pytest.mark.parametrize("name,hybridize", [(n, False) for n in sorted(NETS)] +
                         [("resnet_v1_basic", True), ("resnet_v2_basic", True)])
def test_outputs_match_mxnet_with_its_parameters(name, hybridize):
    data = np.load(FIX / f"{name}.npz")
    net = _net(name)
    if hybridize:
        net.hybridize()
    x = mg.nd.array(data["x"])
    before = mg.jit.stats()["interpreted_calls"]
    np.testing.assert_allclose(net(x).asnumpy(), data["out"], rtol=1e-4, atol=1e-5)
    with mg.autograd.record():  # batch statistics, and the running ones updated
        train = net(x)
    train.backward()
    np.testing.assert_allclose(train.asnumpy(), data["out_train"], rtol=1e-4, atol=1e-5)
    bn = [p for p in net.collect_params().values() if p.name.endswith("running_mean")][0]
    np.testing.assert_allclose(bn.data().asnumpy(), data["bn_mean"], rtol=1e-5, atol=1e-6)
    if hybridize:
        assert mg.jit.stats()["interpreted_calls"] == before


def test_real_resnet18_has_mxnets_parameter_names_and_shapes():
    net = vision.resnet18_v1(classes=7)
    net.initialize()
    assert net(mg.nd.ones((1, 3, 32, 32))).shape == (1, 7)
    params = net.collect_params()
    assert len(params) == 102  # MXNet 1.9.1's count
    assert net.prefix.startswith("resnetv1")  # resnetv10_ for the first one made
    names = [k[len(net.prefix):] for k in params]
    assert names[:3] == ["conv0_weight", "batchnorm0_gamma", "batchnorm0_beta"]
    assert params[net.prefix + "stage4_conv2_weight"].shape == (512, 256, 1, 1)  # shortcut
    assert params[net.prefix + "dense0_weight"].shape == (7, 512)


def test_get_model_and_refusals():
    assert isinstance(vision.get_model("ResNet34_v2", classes=3), vision.ResNetV2)
    with pytest.raises(MXNetError, match="not in minigluon's model zoo"):
        vision.get_model("alexnet_v9")
    with pytest.raises(MXNetError, match="Invalid number of layers"):
        vision.get_resnet(1, 20)
    with pytest.raises(MXNetError, match="load_parameters"):
        vision.resnet18_v1(pretrained=True)
