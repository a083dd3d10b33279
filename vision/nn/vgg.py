"""VGG16 base of the original SSD: conv1_1..conv5_3, pool5 (3x3, stride 1), dilated conv6, conv7."""
from torch import nn

# Channels per conv; "M" a 2x2 max pool, "C" the same with ceil_mode (38x38 at 300).
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]


def vgg16_features() -> nn.ModuleList:
    layers = []
    channels = 3
    for item in _CFG:
        if item in ("M", "C"):
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=item == "C"))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    layers += [
        nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
        nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),
        nn.ReLU(inplace=True),
        nn.Conv2d(1024, 1024, kernel_size=1),
        nn.ReLU(inplace=True),
    ]
    return nn.ModuleList(layers)
