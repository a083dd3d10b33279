"""Prior sizes fitted to a dataset's boxes (what YOLO users know as auto-anchor): train_ssd.py --fit-priors.

Each feature map keeps its locations, its aspect ratios and so its anchors per location (the heads
and the state_dict keys do not change); its min_size and max_size are chosen to raise the share of
boxes with a prior at IoU >= 0.5 (vision/ssd/coverage.py). The search goes level by level over a grid
of sizes (coordinate ascent), starting from the net's own sizes: a level takes other sizes only when
they cover more boxes, and of the sizes covering most, those giving the most positive priors. So
fitted priors never cover fewer of the boxes they were fitted on, and data the net's priors already
cover keeps them. A level's candidates are scored from per-shape tables: the IoUs of a sample of boxes
with each anchor shape placed at every location of that feature map.
"""
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torchvision.ops import box_iou

from vision.ssd.coverage import THRESHOLD
from vision.ssd.priors import PriorSpec, level_centers, min_size_shapes
from vision.utils.box_utils import center_to_corner

SAMPLE = 2000  # boxes the fit is scored on
GRID = 24  # candidate sizes, spread geometrically from the smallest boxes to the input size
MAX_SWEEPS = 4


@dataclass(frozen=True)
class _Level:
    """A feature map's candidate (min_size, max_size) pairs, the net's own first, and what each gives
    every sampled box."""
    pairs: list[tuple[float, float]]
    best: Tensor       # [C, n] best IoU of each box with the candidate's anchors
    positives: Tensor  # [C, n] anchors at IoU >= threshold (every location)


def fit_specs(specs: list[PriorSpec], boxes: Tensor, resolution: int, threshold: float = THRESHOLD,
              sample: int = SAMPLE, seed: int = 0) -> list[PriorSpec]:
    """`specs` with min and max sizes fitted to normalized corner `boxes` [M, 4] at `resolution`."""
    if len(boxes) == 0:
        return list(specs)
    if len(boxes) > sample:
        boxes = boxes[torch.randperm(len(boxes), generator=torch.Generator().manual_seed(seed))[:sample]]
    sizes = _candidate_sizes(boxes, specs, resolution)
    levels = [_level(spec, boxes, sizes, resolution, threshold) for spec in specs]
    chosen = [0] * len(levels)  # the net's own sizes
    for _ in range(MAX_SWEEPS):
        changed = False
        for index, level in enumerate(levels):
            rest = [i for i in range(len(levels)) if i != index]
            other_best = torch.stack([levels[i].best[chosen[i]] for i in rest]).max(dim=0).values
            other_positives = torch.stack([levels[i].positives[chosen[i]] for i in rest]).sum(dim=0)
            covered = (torch.maximum(level.best, other_best) >= threshold).sum(dim=1)
            positives = (level.positives + other_positives).sum(dim=1)
            pick = _best_candidate(covered, positives, chosen[index])
            changed |= pick != chosen[index]
            chosen[index] = pick
        if not changed:
            break
    return [replace(spec, min_size=level.pairs[pick][0], max_size=level.pairs[pick][1]) if pick else spec
            for spec, level, pick in zip(specs, levels, chosen)]


def _best_candidate(covered: Tensor, positives: Tensor, current: int) -> int:
    """The current candidate unless another covers more boxes; then, of those covering the most, the one
    with most positives. Positives alone never move a level: they grow with every big prior at a fine
    feature map, and large boxes would take them all."""
    most = covered.max()
    if most <= covered[current]:
        return current
    return int(torch.where(covered == most, positives, -1).argmax())


def _candidate_sizes(boxes: Tensor, specs: list[PriorSpec], resolution: int) -> list[float]:
    """Sizes in pixels: a geometric grid from below the smallest boxes to the input size, and the net's own."""
    sides = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=0).sqrt() * resolution
    low = max(float(torch.quantile(sides, 0.01)) * 0.7, 2.0)
    grid = torch.logspace(torch.log10(torch.tensor(low)), torch.log10(torch.tensor(float(resolution))), GRID)
    own = [size for spec in specs for size in (spec.min_size, round((spec.min_size * spec.max_size) ** 0.5, 9))]
    return sorted(set(round(float(size), 3) for size in grid) | set(own))


def _level(spec: PriorSpec, boxes: Tensor, sizes: list[float], resolution: int, threshold: float) -> _Level:
    centers = level_centers(spec, resolution).float()
    square = [_shape_counts(centers, (size, size), boxes, resolution, threshold) for size in sizes]
    family = []  # min_size's anchors: its square and the ratio shapes
    for index, size in enumerate(sizes):
        counts = [square[index]] + [_shape_counts(centers, shape, boxes, resolution, threshold)
                                    for shape in min_size_shapes(size, spec.aspect_ratios)[1:]]
        family.append((torch.stack([best for best, _ in counts]).max(dim=0).values,
                       sum(positives for _, positives in counts)))
    own = (sizes.index(spec.min_size), sizes.index(round((spec.min_size * spec.max_size) ** 0.5, 9)))
    # The net's own pair first, then each min_size with a strictly bigger big square: a
    # big square equal to the small one would only duplicate an anchor.
    indices = [own] + [(i, j) for i in range(len(sizes)) for j in range(i + 1, len(sizes))]
    pairs = [(sizes[i], sizes[j] ** 2 / sizes[i]) for i, j in indices]  # big square: sqrt(min * max)
    best = torch.stack([torch.maximum(family[i][0], square[j][0]) for i, j in indices])
    positives = torch.stack([family[i][1] + square[j][1] for i, j in indices])
    return _Level(pairs, best, positives)


def _shape_counts(centers: Tensor, shape: tuple[float, float], boxes: Tensor, resolution: int,
                  threshold: float) -> tuple[Tensor, Tensor]:
    """(best IoU [n], priors at IoU >= threshold [n]) of the boxes with one anchor shape at every location,
    clamped as generate_priors clamps."""
    size = torch.tensor(shape, dtype=torch.float32).div(resolution).expand_as(centers)
    priors = torch.cat([centers, size], dim=1).clamp(0.0, 1.0)
    ious = box_iou(boxes, center_to_corner(priors))
    return ious.max(dim=1).values, (ious >= threshold).sum(dim=1)
