"""MobileNet V1 feature extractor, laid out as the earlier tools' `MobileNetV1(...).model`."""
from torch import nn

from vision.nn.recompute import RecomputedConvBN


def _conv_bn(inp: int, oup: int, stride: int) -> nn.Sequential:
    # Recomputed in training: a convolution of the 3 image channels is cheap next to its output's size.
    return RecomputedConvBN(
        nn.Conv2d(inp, oup, 3, stride, 1, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU(inplace=True),
    )


def _conv_dw(inp: int, oup: int, stride: int) -> nn.Sequential:
    # The depthwise convolution is recomputed in training (see RecomputedConvBN); the pointwise one,
    # where most of the work is, is not.
    return RecomputedConvBN(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.ReLU(inplace=True),
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU(inplace=True),
    )


# (output channels, stride) of the 13 depthwise-separable blocks after the stem.
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def mobilenet_v1_features() -> nn.Sequential:
    layers = [_conv_bn(3, 32, 2)]
    channels = 32
    for out, stride in _BLOCKS:
        layers.append(_conv_dw(channels, out, stride))
        channels = out
    return nn.Sequential(*layers)
