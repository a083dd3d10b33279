"""SSD prior (default box) generation.

A net's priors follow from one PriorSpec per feature map. The order of the generated priors is the
order of the head outputs: feature map by feature map, rows then columns, anchors innermost.
"""
import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class PriorSpec:
    feature_map_size: int
    shrinkage: float
    min_size: float
    max_size: float
    aspect_ratios: tuple[int, ...]

    @property
    def anchors_per_location(self) -> int:
        return 2 + 2 * len(self.aspect_ratios)


def generate_priors(specs: list[PriorSpec], image_size: int) -> Tensor:
    """Center-form priors (cx, cy, w, h), normalized to the image and clamped to [0, 1], float32 [N, 4]."""
    levels = []
    for spec in specs:
        scale = image_size / spec.shrinkage
        steps = (torch.arange(spec.feature_map_size, dtype=torch.float64) + 0.5) / scale
        cy, cx = torch.meshgrid(steps, steps, indexing="ij")
        centers = torch.stack([cx.flatten(), cy.flatten()], dim=1)  # [F*F, 2]
        sizes = _anchor_sizes(spec) / image_size  # [A, 2]
        count = centers.shape[0]
        level = torch.cat([centers.unsqueeze(1).expand(count, len(sizes), 2),
                           sizes.unsqueeze(0).expand(count, len(sizes), 2)], dim=2)
        levels.append(level.reshape(-1, 4))
    return torch.cat(levels).float().clamp_(0.0, 1.0)


def _anchor_sizes(spec: PriorSpec) -> Tensor:
    """(w, h) in pixels of each anchor at one location: small square, big square, then ratios."""
    small = spec.min_size
    big = math.sqrt(spec.min_size * spec.max_size)
    sizes = [(small, small), (big, big)]
    for ratio in spec.aspect_ratios:
        root = math.sqrt(ratio)
        sizes += [(small * root, small / root), (small / root, small * root)]
    return torch.tensor(sizes, dtype=torch.float64)


def specs_for_resolution(feature_map_sizes: list[int], image_size: int,
                         aspect_ratios: list[tuple[int, ...]],
                         min_ratio: int = 20, max_ratio: int = 90) -> list[PriorSpec]:
    """Prior specs for a resolution other than 300, by the rule of the earlier tools' --resolution.

    Box sizes are spread linearly between `min_ratio`% and `max_ratio`% of the image, with a smaller
    first level; strides follow from the real feature-map sizes.
    """
    levels = len(feature_map_sizes)
    step = (max_ratio - min_ratio) // (levels - 2)
    ratios = list(range(min_ratio, max_ratio + 1, step))
    min_sizes = [image_size * min_ratio / 2 / 100] + [image_size * r / 100 for r in ratios]
    max_sizes = [image_size * min_ratio / 100] + [image_size * (r + step) / 100 for r in ratios]
    return [
        PriorSpec(size, math.ceil(image_size / size), min_sizes[i], max_sizes[i],
                  tuple(aspect_ratios[i]))
        for i, size in enumerate(feature_map_sizes)
    ]
