"""The registry of SSD nets: for each name, how to build it, its priors at 300 and its input scaling.

Each builder of the toolkit's layouts returns the parts of an SSD (base net, taps, extras, heads,
add-ons) for a number of classes and the anchors per level; `create_net` in vision/ssd/__init__.py
composes them. torchvision's layouts (`specs` empty) are built whole by torchvision and wrapped in
TorchvisionSSD, whose priors are torchvision's default boxes.
"""
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
from torch import Tensor, nn
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small
from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large

from vision.nn.mobilenet_v1 import mobilenet_v1_features
from vision.nn.mobilenet_v2 import InvertedResidual, mobilenet_v2_features
from vision.nn.squeezenet import squeezenet1_1_features
from vision.nn.vgg import vgg16_features
from vision.ssd.priors import PriorSpec
from vision.ssd.ssd import Tap
from vision.ssd.torchvision_ssd import TorchvisionSSD


@dataclass
class Parts:
    base_net: nn.Module
    taps: list[Tap]
    extras: nn.ModuleList
    classification_headers: nn.ModuleList
    regression_headers: nn.ModuleList
    source_layer_add_ons: nn.ModuleList = field(default_factory=nn.ModuleList)


@dataclass(frozen=True)
class NetConfig:
    name: str
    # (num_classes, anchors per level, **options) -> Parts; for torchvision's layouts num_classes -> net
    build: Callable[..., Parts | TorchvisionSSD]
    specs: tuple[PriorSpec, ...]  # at the default resolution of 300; empty for torchvision's layouts
    mean: tuple[float, float, float]
    std: float
    resolution: int = 300  # the default input size

    @property
    def torchvision_layout(self) -> bool:
        return not self.specs

    def input_scaling(self) -> tuple[Tensor, Tensor]:
        """(mean [3], std [3]) in pixels: the net's input is (px - mean) / std (vision.ssd.ssd.normalize)."""
        return torch.tensor(self.mean, dtype=torch.float32), torch.full((3,), float(self.std))


def _specs(feature_maps, shrinkages, box_sizes, aspect_ratios) -> tuple[PriorSpec, ...]:
    return tuple(PriorSpec(f, s, box_sizes[i], box_sizes[i + 1], tuple(r))
                 for i, (f, s, r) in enumerate(zip(feature_maps, shrinkages, aspect_ratios)))


_MOBILENET_SPECS = _specs([19, 10, 5, 3, 2, 1], [16, 32, 64, 100, 150, 300],
                          [60, 105, 150, 195, 240, 285, 330], [(2, 3)] * 6)
_SQUEEZENET_SPECS = _specs([17, 10, 5, 3, 2, 1], [16, 32, 64, 100, 150, 300],
                           [60, 105, 150, 195, 240, 285, 330], [(2, 3)] * 6)
_VGG_SPECS = _specs([38, 19, 10, 5, 3, 1], [8, 16, 32, 64, 100, 300],
                    [30, 60, 111, 162, 213, 264, 315], [(2,), (2, 3), (2, 3), (2, 3), (2,), (2,)])
_MOBILENET_MEAN = (127.0, 127.0, 127.0)
_MOBILENET_STD = 128.0


# Layer helpers --------------------------------------------------------------------------------------

def _separable(inp: int, out: int, stride: int = 1, padding: int = 1) -> nn.Sequential:
    """Depthwise 3x3 + ReLU + pointwise, without batch norm (mb1-ssd-lite, sq-ssd-lite)."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride=stride, padding=padding, groups=inp),
        nn.ReLU(),
        nn.Conv2d(inp, out, 1),
    )


def _separable_bn(inp: int, out: int) -> nn.Sequential:
    """Depthwise 3x3 + BN + ReLU6 + pointwise (the SSD-Lite heads of mb2 and mb3)."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, padding=1, groups=inp),
        nn.BatchNorm2d(inp),
        nn.ReLU6(),
        nn.Conv2d(inp, out, 1),
    )


def _extra(inp: int, mid: int, out: int, stride: int = 2, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, mid, 1), nn.ReLU(),
                         nn.Conv2d(mid, out, 3, stride=stride, padding=padding), nn.ReLU())


def _extra_lite(inp: int, mid: int, out: int, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, mid, 1), nn.ReLU(), _separable(mid, out, 2, padding))


def _conv_heads(channels, anchors, width) -> nn.ModuleList:
    return nn.ModuleList(nn.Conv2d(c, a * width, 3, padding=1) for c, a in zip(channels, anchors))


def _lite_heads(channels, anchors, width, separable) -> nn.ModuleList:
    """Separable heads on every level but the last, which is a 1x1 convolution."""
    heads = [separable(c, a * width) for c, a in zip(channels[:-1], anchors[:-1])]
    return nn.ModuleList(heads + [nn.Conv2d(channels[-1], anchors[-1] * width, 1)])


# Builders -------------------------------------------------------------------------------------------

def _vgg16_ssd(num_classes, anchors) -> Parts:
    channels = [512, 1024, 512, 256, 256, 256]
    return Parts(
        base_net=vgg16_features(),
        taps=[Tap(23), Tap(35)],
        extras=nn.ModuleList([_extra(1024, 256, 512), _extra(512, 128, 256),
                              _extra(256, 128, 256, 1, 0), _extra(256, 128, 256, 1, 0)]),
        classification_headers=_conv_heads(channels, anchors, num_classes),
        regression_headers=_conv_heads(channels, anchors, 4),
        # The earlier tools normalize the conv4_3 source with a BatchNorm, not the paper's L2Norm.
        source_layer_add_ons=nn.ModuleList([nn.BatchNorm2d(512)]),
    )


def _mb1_ssd(num_classes, anchors) -> Parts:
    channels = [512, 1024, 512, 256, 256, 256]
    return Parts(
        base_net=mobilenet_v1_features(),
        taps=[Tap(12), Tap(14)],
        extras=nn.ModuleList([_extra(1024, 256, 512), _extra(512, 128, 256),
                              _extra(256, 128, 256), _extra(256, 128, 256)]),
        classification_headers=_conv_heads(channels, anchors, num_classes),
        regression_headers=_conv_heads(channels, anchors, 4),
    )


def _mb1_ssd_lite(num_classes, anchors) -> Parts:
    channels = [512, 1024, 512, 256, 256, 256]
    return Parts(
        base_net=mobilenet_v1_features(),
        taps=[Tap(12), Tap(14)],
        extras=nn.ModuleList([_extra_lite(1024, 256, 512), _extra_lite(512, 128, 256),
                              _extra_lite(256, 128, 256), _extra_lite(256, 128, 256)]),
        classification_headers=_lite_heads(channels, anchors, num_classes, _separable),
        regression_headers=_lite_heads(channels, anchors, 4, _separable),
    )


def _sq_ssd_lite(num_classes, anchors) -> Parts:
    channels = [512, 512, 512, 256, 256, 256]
    return Parts(
        base_net=squeezenet1_1_features(),
        taps=[Tap(12)],
        extras=nn.ModuleList([_extra_lite(512, 256, 512, padding=2), _extra_lite(512, 256, 512),
                              _extra_lite(512, 128, 256), _extra_lite(256, 128, 256),
                              _extra_lite(256, 128, 256)]),
        classification_headers=_lite_heads(channels, anchors, num_classes, _separable),
        regression_headers=_lite_heads(channels, anchors, 4, _separable),
    )


def _lite_extras(inp: int) -> nn.ModuleList:
    """The SSD-Lite extra layers: inverted residuals with narrow expansions."""
    return nn.ModuleList([InvertedResidual(inp, 512, 2, 0.2), InvertedResidual(512, 256, 2, 0.25),
                          InvertedResidual(256, 256, 2, 0.5), InvertedResidual(256, 64, 2, 0.25)])


def _mb2_ssd_lite(num_classes, anchors, width_mult: float = 1.0) -> Parts:
    base_net = mobilenet_v2_features(width_mult)
    last = base_net[-1][0].out_channels
    channels = [round(576 * width_mult), last, 512, 256, 256, 64]
    return Parts(
        base_net=base_net,
        # Head 0 reads the expansion (1x1 conv, BN, ReLU6) inside block 14, as the earlier tools did.
        taps=[Tap(14, inner=3), Tap(len(base_net))],
        extras=_lite_extras(last),
        classification_headers=_lite_heads(channels, anchors, num_classes, _separable_bn),
        regression_headers=_lite_heads(channels, anchors, 4, _separable_bn),
    )


def _mb3_ssd_lite(features: nn.Sequential, stride16_end: int, num_classes, anchors) -> Parts:
    """SSD-Lite on torchvision's MobileNetV3 features: head 0 on the last stride-16 block."""
    channels = [features[stride16_end - 1].out_channels, features[-1].out_channels, 512, 256, 256, 64]
    return Parts(
        base_net=features,
        taps=[Tap(stride16_end), Tap(len(features))],
        extras=_lite_extras(channels[1]),
        classification_headers=_lite_heads(channels, anchors, num_classes, _separable_bn),
        regression_headers=_lite_heads(channels, anchors, 4, _separable_bn),
    )


# torchvision's ssdlite320_mobilenet_v3_large trains its backbone with this batch norm: the ImageNet
# default's momentum of 0.01 leaves the running statistics far behind the weights early in training.
_MB3_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)


def _mb3_large_ssd_lite(num_classes, anchors) -> Parts:
    return _mb3_ssd_lite(mobilenet_v3_large(norm_layer=_MB3_NORM).features, 13, num_classes, anchors)


def _mb3_small_ssd_lite(num_classes, anchors) -> Parts:
    return _mb3_ssd_lite(mobilenet_v3_small(norm_layer=_MB3_NORM).features, 9, num_classes, anchors)


def _ssdlite320_mb3_large(num_classes: int) -> TorchvisionSSD:
    # No weights_backbone: the COCO model's backbone has the reduced tail that torchvision builds then.
    detector = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
    return TorchvisionSSD(detector, partial(nn.init.normal_, std=0.03))


def _ssd300_vgg16(num_classes: int) -> TorchvisionSSD:
    detector = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=num_classes)
    return TorchvisionSSD(detector, nn.init.xavier_uniform_)


# torchvision's input scaling: SSDlite's (px/255 - 0.5)/0.5 is detectNet's; SSD300-VGG16 subtracts
# torchvision's mean (0.48235, 0.45882, 0.40784) of 0..1 pixels with std 1/255, i.e. these in pixels.
_DETECTNET_MEAN, _DETECTNET_STD = (127.5, 127.5, 127.5), 127.5
_TORCHVISION_VGG_MEAN = (0.48235 * 255, 0.45882 * 255, 0.40784 * 255)

NETS: dict[str, NetConfig] = {
    config.name: config for config in [
        NetConfig("vgg16-ssd", _vgg16_ssd, _VGG_SPECS, (123.0, 117.0, 104.0), 1.0),
        NetConfig("mb1-ssd", _mb1_ssd, _MOBILENET_SPECS, _MOBILENET_MEAN, _MOBILENET_STD),
        NetConfig("mb1-ssd-lite", _mb1_ssd_lite, _MOBILENET_SPECS, _MOBILENET_MEAN, _MOBILENET_STD),
        NetConfig("sq-ssd-lite", _sq_ssd_lite, _SQUEEZENET_SPECS, _MOBILENET_MEAN, _MOBILENET_STD),
        NetConfig("mb2-ssd-lite", _mb2_ssd_lite, _MOBILENET_SPECS, _MOBILENET_MEAN, _MOBILENET_STD),
        NetConfig("mb3-large-ssd-lite", _mb3_large_ssd_lite, _MOBILENET_SPECS, _MOBILENET_MEAN,
                  _MOBILENET_STD),
        NetConfig("mb3-small-ssd-lite", _mb3_small_ssd_lite, _MOBILENET_SPECS, _MOBILENET_MEAN,
                  _MOBILENET_STD),
        NetConfig("ssdlite320-mb3-large", _ssdlite320_mb3_large, (), _DETECTNET_MEAN, _DETECTNET_STD, 320),
        NetConfig("ssd300-vgg16", _ssd300_vgg16, (), _TORCHVISION_VGG_MEAN, 1.0),
    ]
}
