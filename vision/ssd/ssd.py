"""The SSD module: a base net, extra layers and per-level heads, composed as the earlier tools did.

Attribute names and their order (base_net, extras, classification_headers, regression_headers,
source_layer_add_ons) make the state_dict keys, so checkpoints of the earlier tools load unchanged.
The module takes images that are already normalized; `normalize` does that for uint8 batches, with
the mean/std of the net registry (NetConfig.input_scaling), for every net and runtime.
"""
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vision.utils import box_utils


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 (or float 0..255) images [..., 3, S, S] to a net's float input: (px - mean) / std, with
    mean and std of 3 values (any shape holding them)."""
    return (images.to(mean.dtype) - mean.view(-1, 1, 1)) / std.view(-1, 1, 1)


@dataclass(frozen=True)
class Tap:
    """Where a head reads the base net: the output of base_net[:index], or, with `inner`, the
    output of the first `inner` layers of base_net[index].conv (the expansion inside a block)."""
    index: int
    inner: int | None = None


class SSD(nn.Module):
    # Where the classification heads' keys start: weights.py re-initializes them for another class count.
    HEAD_PREFIX = "classification_headers."

    def __init__(self, num_classes: int, base_net: nn.Module, taps: list[Tap], extras: nn.ModuleList,
                 classification_headers: nn.ModuleList, regression_headers: nn.ModuleList,
                 source_layer_add_ons: nn.ModuleList | None = None, is_test: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.base_net = base_net
        for tap in taps:
            if tap.inner is not None and getattr(base_net[tap.index], "use_res_connect", False):
                raise ValueError(f"cannot tap inside base_net[{tap.index}]: it has a residual connection")
        self.taps = list(taps)
        self.extras = extras
        self.classification_headers = classification_headers
        self.regression_headers = regression_headers
        self.source_layer_add_ons = source_layer_add_ons or nn.ModuleList()
        self.is_test = is_test
        # Set by create_net; kept out of the state_dict so checkpoint keys stay those of the earlier tools.
        self.register_buffer("priors", torch.empty(0, 4), persistent=False)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)

    @property
    def anchors_per_location(self) -> list[int]:
        return [spec.anchors_per_location for spec in self.specs]

    def reset_classification_heads(self) -> None:
        init_head_weights(self.classification_headers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(confidences [B,N,C], locations [B,N,4]); in test mode (softmax scores, corner boxes)."""
        confidences, locations = [], []
        for level, source in enumerate(self._sources(x)):
            confidences.append(self._flatten(self.classification_headers[level](source), self.num_classes))
            locations.append(self._flatten(self.regression_headers[level](source), 4))
        confidences = torch.cat(confidences, dim=1)
        locations = torch.cat(locations, dim=1)
        if self.is_test:
            return self.postprocess(confidences, locations)
        return confidences, locations

    def postprocess(self, confidences: Tensor, locations: Tensor) -> tuple[Tensor, Tensor]:
        """Training outputs to test outputs: softmax scores and normalized corner-form boxes."""
        return torch.softmax(confidences, dim=2), box_utils.decode(locations, self.priors)

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 [B,3,S,S] images to the float input this net was trained on (per-net mean/std)."""
        return normalize(images, self.mean, self.std)

    @torch.no_grad()
    def feature_map_sizes(self, resolution: int) -> list[int]:
        """Side of each feature map that a head reads, for a square input of `resolution`."""
        was_training = self.training
        self.eval()
        x = torch.zeros(1, 3, resolution, resolution, device=self.mean.device)
        sizes = [source.shape[-1] for source in self._sources(x)]
        self.train(was_training)
        return sizes

    def _sources(self, x: Tensor):
        """Yield the feature maps the heads read, in head order."""
        start = 0
        for level, tap in enumerate(self.taps):
            for layer in self.base_net[start:tap.index]:
                x = layer(x)
            if tap.inner is None:
                source, start = x, tap.index
            else:
                block = self.base_net[tap.index].conv
                for layer in block[:tap.inner]:
                    x = layer(x)
                source = x
                for layer in block[tap.inner:]:
                    x = layer(x)
                start = tap.index + 1
            if level < len(self.source_layer_add_ons):
                source = self.source_layer_add_ons[level](source)
            yield source
        for layer in self.base_net[start:]:
            x = layer(x)
        for layer in self.extras:
            x = _run_extra(layer, x)
            yield x

    @staticmethod
    def _flatten(head_output: Tensor, width: int) -> Tensor:
        # NCHW -> NHWC -> [B, H*W*anchors, width]: the order of the priors.
        return head_output.permute(0, 2, 3, 1).reshape(head_output.shape[0], -1, width)


def _run_extra(layer: nn.Module, x: Tensor) -> Tensor:
    # The CPU's bf16 weight gradient of a stride-2 3x3 convolution on a 1x1 map is garbage (often NaN)
    # in torch 2.14 (oneDNN); at small resolutions the last extras see 1x1 maps, so they run in float32.
    # Autocast is checked first: an ONNX trace (never under autocast) then records no shape test.
    if torch.is_autocast_enabled("cpu") and x.device.type == "cpu" and x.shape[-1] == 1:
        with torch.autocast("cpu", enabled=False):
            return layer(x.float())
    return layer(x)


def init_head_weights(module: nn.Module) -> None:
    """Xavier-uniform convolutions with zero bias, as the earlier tools initialized new layers."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
