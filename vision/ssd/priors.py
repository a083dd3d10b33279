"""SSD prior (default box) generation.

A net's priors follow from one PriorSpec per feature map. The order of the generated priors is the
order of the head outputs: feature map by feature map, rows then columns, anchors innermost.
"""
import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from vision.errors import UserError


class NetError(UserError):
    """A net that cannot be built as asked (its name, class count, resolution or prior specs), from the
    user's options or a checkpoint's."""


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
        centers = level_centers(spec, image_size)  # [F*F, 2]
        sizes = anchor_sizes(spec) / image_size  # [A, 2]
        count = centers.shape[0]
        level = torch.cat([centers.unsqueeze(1).expand(count, len(sizes), 2),
                           sizes.unsqueeze(0).expand(count, len(sizes), 2)], dim=2)
        levels.append(level.reshape(-1, 4))
    return torch.cat(levels).float().clamp_(0.0, 1.0)


def level_centers(spec: PriorSpec, image_size: int) -> Tensor:
    """Normalized (cx, cy) of one feature map's locations, rows then columns, float64 [F*F, 2]."""
    scale = image_size / spec.shrinkage
    steps = (torch.arange(spec.feature_map_size, dtype=torch.float64) + 0.5) / scale
    cy, cx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([cx.flatten(), cy.flatten()], dim=1)


def anchor_sizes(spec: PriorSpec) -> Tensor:
    """(w, h) in pixels of each anchor at one location: small square, big square, then ratios."""
    small, *ratios = min_size_shapes(spec.min_size, spec.aspect_ratios)
    big = math.sqrt(spec.min_size * spec.max_size)
    return torch.tensor([small, (big, big), *ratios], dtype=torch.float64)


def min_size_shapes(size: float, aspect_ratios) -> list[tuple[float, float]]:
    """The anchors that follow from min_size alone: its square, then a wide and a tall one per ratio."""
    shapes = [(size, size)]
    for ratio in aspect_ratios:
        root = math.sqrt(ratio)
        shapes += [(size * root, size / root), (size / root, size * root)]
    return shapes


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


def specs_to_saved(specs: list[PriorSpec]) -> list[dict]:
    """Plain dicts for a checkpoint (torch.load with weights_only=True reads them)."""
    return [{**asdict(spec), "aspect_ratios": list(spec.aspect_ratios)} for spec in specs]


def specs_from_saved(saved: list[dict]) -> list[PriorSpec]:
    """What specs_to_saved wrote; NetError when it is not that."""
    try:
        return [PriorSpec(int(level["feature_map_size"]), float(level["shrinkage"]), float(level["min_size"]),
                          float(level["max_size"]), tuple(int(ratio) for ratio in level["aspect_ratios"]))
                for level in saved]
    except (KeyError, TypeError, ValueError) as error:
        raise NetError(f"its prior_specs are not a list of prior levels ({error!r})") from None


def check_layout(specs: list[PriorSpec], expected: list[PriorSpec]) -> None:
    """NetError unless `specs` keep the feature maps and anchors per location of `expected` (the
    heads' outputs must stay the priors' count and order)."""
    layout = [(spec.feature_map_size, spec.anchors_per_location) for spec in specs]
    wanted = [(spec.feature_map_size, spec.anchors_per_location) for spec in expected]
    if layout != wanted:
        raise NetError(f"prior specs of (feature map, anchors per location) {layout} do not fit the net's "
                         f"{wanted}")
