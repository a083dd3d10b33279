"""How well a net's priors cover a dataset's boxes: the share of boxes that training can match.

    python3 -m vision.ssd.coverage --data DIR --net mb1-ssd --resolution 300

Boxes are measured as training sees them after the resize to the net's square input (normalized
coordinates), with the matcher's rule (vision/utils/box_utils.match_priors): a box is covered when a
prior reaches IoU >= 0.5 with it; its positives are the priors at or above 0.5 that the matcher gives
it (those whose best box in the image it is). The matcher also forces each box onto its best prior
even below 0.5; that one is not counted: a box nothing covers trains one badly placed prior. Sizes are
COCO's, from the box area in pixels of the original image. The boxes come from the datasets' annotation
tables: no image is decoded.
"""
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import box_iou

from vision.cli import OneLineParser, run_main
from vision.datasets import DatasetError, open_datasets
from vision.ssd import create_net
from vision.ssd.priors import generate_priors
from vision.utils.box_utils import center_to_corner

THRESHOLD = 0.5  # the matcher's IoU threshold (match_priors)
SIZE_NAMES = ("small", "medium", "large")
SIZE_LIMITS = (32 ** 2, 96 ** 2)  # COCO's area limits, in pixels of the original image
MOSTLY_UNCOVERED = 0.5  # a class with fewer covered boxes than this share gets a warning
NAMED_CLASSES = 10  # the warning names at most this many classes
# A box of side s and a prior of its size, centres half a stride g apart in x and y, meet at IoU 0.5
# when s = 2.72 g: smaller boxes can fall between the finest feature map's priors whatever their size.
STRIDES_PER_BOX = 1 / (1 - math.sqrt(2 / 3)) / 2
_CHUNK_ELEMENTS = 1 << 22  # box-prior IoUs computed at once (16 MB)
# train_ssd.py's start-up report measures whole images up to this many boxes: COCO's 860,000 boxes take
# minutes (on every torchrun rank), a sample of them seconds.
START_UP_BOXES = 50_000


@dataclass(frozen=True)
class Boxes:
    """A dataset's training boxes, sorted by image."""
    boxes: Tensor   # [M, 4] float32 corners normalized to the image (as at the net's input)
    labels: Tensor  # [M] int64, 1..K
    image: Tensor   # [M] int64 image positions, ascending
    areas: Tensor   # [M] float32 box area in pixels of the original image

    def __len__(self) -> int:
        return len(self.labels)


def dataset_boxes(dataset) -> Boxes:
    """The training boxes of a dataset (DetectionDataset or ConcatDetectionDataset), from its tables."""
    boxes, labels, image, sizes = dataset.box_rows()
    heights, widths = sizes[image, 0].astype(np.float32), sizes[image, 1].astype(np.float32)
    scale = np.stack([widths, heights, widths, heights], axis=1)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return Boxes(torch.from_numpy(boxes / scale), torch.from_numpy(labels), torch.from_numpy(image),
                 torch.from_numpy(areas.astype(np.float32)))


def sample_images(boxes: Boxes, max_boxes: int, seed: int = 0) -> Boxes:
    """The boxes of whole images taken in a seeded random order, up to `max_boxes` (all when fewer):
    whole images, so that boxes still compete for priors as in training."""
    if len(boxes) <= max_boxes:
        return boxes
    images = torch.unique(boxes.image)
    order = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))]
    counts = torch.bincount(boxes.image)[order].cumsum(0)
    taken = max(int(torch.searchsorted(counts, max_boxes, right=True)), 1)
    keep = torch.isin(boxes.image, order[:taken])
    return Boxes(boxes.boxes[keep], boxes.labels[keep], boxes.image[keep], boxes.areas[keep])


def match_counts(boxes: Boxes, priors: Tensor, threshold: float = THRESHOLD) -> tuple[Tensor, Tensor]:
    """(best IoU with any prior [M], positives [M]) of every box against center-form `priors` [N, 4].
    Computed on chunks of whole images, so that a prior claimed by two boxes of an image goes to the
    one it overlaps most, as in training."""
    corners = center_to_corner(priors.float())
    best = torch.zeros(len(boxes))
    positives = torch.zeros(len(boxes), dtype=torch.long)
    for start, end in _image_chunks(boxes.image, max(_CHUNK_ELEMENTS // max(len(priors), 1), 1)):
        ious = box_iou(boxes.boxes[start:end], corners)  # [m, N]
        best[start:end] = ious.max(dim=1).values
        rows, columns = (ious >= threshold).nonzero(as_tuple=True)
        values = ious[rows, columns]
        # A box that takes the prior from this one overlaps it at least as much: only pairs over the
        # threshold compete, grouped by (image, prior).
        pair = boxes.image[start:end][rows] * len(priors) + columns
        group = torch.unique(pair, return_inverse=True)[1]
        top = values.new_zeros(len(values)).scatter_reduce_(0, group, values, "amax")
        positives[start:end] = torch.bincount(rows[values >= top[group]], minlength=end - start)
    return best, positives


def _image_chunks(image: Tensor, rows: int):
    """(start, end) row ranges of about `rows` boxes that never split an image's boxes."""
    start = 0
    while start < len(image):
        end = min(start + rows, len(image))
        end = int(torch.searchsorted(image, image[end - 1], right=True))  # to the end of that image
        yield start, end
        start = end


@dataclass(frozen=True)
class Coverage:
    """Per box: its label, COCO size class, side at the net's input and what the priors give it."""
    class_names: list[str]  # BACKGROUND first
    resolution: int
    labels: Tensor
    size_class: Tensor  # 0 small, 1 medium, 2 large
    input_side: Tensor  # sqrt(w * h) in pixels of the net's input
    best_iou: Tensor
    positives: Tensor
    threshold: float = THRESHOLD

    @property
    def covered(self) -> Tensor:
        return self.best_iou >= self.threshold

    def summary(self, mask: Tensor | None = None) -> tuple[int, float, float]:
        """(boxes, share covered, mean positives) of the boxes in `mask` (all by default)."""
        mask = torch.ones_like(self.covered) if mask is None else mask
        count = int(mask.sum())
        if count == 0:
            return 0, math.nan, math.nan
        return count, float(self.covered[mask].float().mean()), float(self.positives[mask].float().mean())

    def by_class(self) -> list[tuple[str, int, float, float]]:
        """(name, boxes, share covered, mean positives) of each class that has boxes."""
        rows = []
        for label, name in enumerate(self.class_names[1:], start=1):
            count, share, positives = self.summary(self.labels == label)
            if count:
                rows.append((name, count, share, positives))
        return rows

    def mostly_uncovered(self) -> list[tuple[str, int, float, float]]:
        return [row for row in self.by_class() if row[2] < MOSTLY_UNCOVERED]


def measure(boxes: Boxes, priors: Tensor, class_names: list[str], resolution: int,
            threshold: float = THRESHOLD) -> Coverage:
    best, positives = match_counts(boxes, priors, threshold)
    size_class = torch.bucketize(boxes.areas, torch.tensor(SIZE_LIMITS, dtype=torch.float32), right=True)
    sides = boxes.boxes[:, 2:] - boxes.boxes[:, :2]
    input_side = (sides[:, 0] * sides[:, 1]).sqrt() * resolution
    return Coverage(list(class_names), resolution, boxes.labels, size_class, input_side, best, positives,
                    threshold)


def short_report(coverage: Coverage, total: int | None = None) -> list[str]:
    """A line for all boxes and one per class: what train_ssd.py logs at start-up (`total`: the boxes of
    the dataset when the coverage measured a sample of them)."""
    count, share, positives = coverage.summary()
    sample = f" (whole images sampled from {total})" if total and total > count else ""
    lines = [f"prior coverage at {coverage.resolution}x{coverage.resolution}: {share:.0%} of {count} boxes{sample} "
             f"have a prior at IoU >= {coverage.threshold:g}, {positives:.1f} positive priors per box"]
    lines += [f"  {name}: {share:.0%} of {count} boxes covered, {positives:.1f} positives per box"
              for name, count, share, positives in coverage.by_class()]
    return lines


def uncovered_warning(coverage: Coverage, finest_stride: float, suggest_fit: bool = True) -> str | None:
    """One line naming the classes with fewer than half their boxes covered, and what would help
    (--fit-priors when `suggest_fit`)."""
    rows = coverage.mostly_uncovered()
    if not rows:
        return None
    # The classes with most boxes first; a long list (COCO's) is cut, the count of the rest given.
    ranked = sorted(rows, key=lambda row: -row[1])
    named = ", ".join(f"{name} ({share:.0%} of {count})" for name, count, share, _ in ranked[:NAMED_CLASSES])
    if len(ranked) > NAMED_CLASSES:
        named += f" and {len(ranked) - NAMED_CLASSES} more classes"
    return (f"classes mostly uncovered by the priors (under half their boxes have a prior at IoU >= "
            f"{coverage.threshold:g}; a missed box trains one poorly placed prior): {named}; "
            f"{_hint(coverage, rows, finest_stride, suggest_fit)}")


def _hint(coverage: Coverage, rows, finest_stride: float, suggest_fit: bool) -> str:
    """What would cover a class's boxes: fitted prior sizes, and for boxes too small for the finest
    feature map's stride, a higher resolution."""
    labels = [coverage.class_names.index(name) for name, _, _, _ in rows]
    missed = ~coverage.covered & torch.isin(coverage.labels, torch.tensor(labels))
    side = float(coverage.input_side[missed].median())
    smallest = STRIDES_PER_BOX * finest_stride
    tries = ["--fit-priors"] if suggest_fit else []
    if side < smallest:
        needed = math.ceil(coverage.resolution * smallest / side / 32) * 32
        tries.append(f"a higher --resolution (about {needed}: boxes under {smallest:.0f} px fall between the "
                     f"priors of the finest feature map, stride {finest_stride:.0f} px)")
    hint = f"their median missed box is {side:.0f} px at the net's input"
    if tries:
        hint += ": try " + ", and ".join(tries)
    return hint + "; details: python3 -m vision.ssd.coverage"


def finest_stride(net) -> float:
    """Pixels of the input between the priors of the finest feature map."""
    specs = getattr(net, "specs", None)  # torchvision's nets have none
    return net.resolution / (specs[0].feature_map_size if specs else net.feature_map_sizes(net.resolution)[0])


def full_report(coverage: Coverage) -> list[str]:
    """The table of the command line: all boxes, each size, each class and each class's sizes."""
    lines = [f"{'class':<20} {'size':<7} {'boxes':>7} {'covered':>8} {'positives':>10}"]

    def row(name: str, size: str, mask: Tensor | None) -> None:
        count, share, positives = coverage.summary(mask)
        if count:
            lines.append(f"{name:<20} {size:<7} {count:>7} {share:>8.1%} {positives:>10.2f}")

    row("all", "all", None)
    for index, size in enumerate(SIZE_NAMES):
        row("all", size, coverage.size_class == index)
    for label, name in enumerate(coverage.class_names[1:], start=1):
        row(name, "all", coverage.labels == label)
        for index, size in enumerate(SIZE_NAMES):
            row(name, size, (coverage.labels == label) & (coverage.size_class == index))
    return lines


def main(argv=None) -> int:
    parser = OneLineParser(prog="python3 -m vision.ssd.coverage",
                           description="How many of a dataset's boxes a net's priors cover, and fitted priors.")
    parser.add_argument("--data", "--datasets", nargs="+", required=True, metavar="PATH", help="dataset roots")
    parser.add_argument("--dataset-type", default=None, help="layout (found from the files when left out)")
    parser.add_argument("--split", default="train", help="which split's boxes (default train)")
    parser.add_argument("--net", default="mb1-ssd")
    parser.add_argument("--resolution", type=int, default=None, help="input size (default: the net's)")
    parser.add_argument("--mb2-width-mult", type=float, default=1.0)
    parser.add_argument("--max-boxes", type=int, default=None, metavar="N",
                        help="measure whole images sampled up to N boxes (default: all; COCO's take minutes)")
    args = parser.parse_args(argv)
    if args.max_boxes is not None and args.max_boxes <= 0:
        parser.error(f"--max-boxes must be positive, got {args.max_boxes}")
    return run_main(parser.prog, lambda: _report(args))


def _report(args) -> int:
    from vision.ssd.prior_fit import fit_specs  # here: prior_fit imports this module

    dataset = open_datasets(args.data, args.split, args.dataset_type)
    net = create_net(args.net, len(dataset.class_names), args.resolution, width_mult=args.mb2_width_mult)
    every = dataset_boxes(dataset)
    if len(every) == 0:
        raise DatasetError(args.data[0], f"no boxes in the {args.split} split")
    boxes = sample_images(every, args.max_boxes or len(every))
    coverage = measure(boxes, net.priors, dataset.class_names, net.resolution)
    sampled = f" ({len(boxes)} boxes of whole images sampled from {len(every)})" if len(boxes) < len(every) else ""
    print(f"{args.net} at {net.resolution}x{net.resolution}, the net's priors{sampled}:")
    print("\n".join(full_report(coverage)))
    can_fit = hasattr(net, "specs")  # torchvision's nets keep torchvision's boxes
    warning = uncovered_warning(coverage, finest_stride(net), suggest_fit=can_fit)
    if warning:
        print(f"warning: {warning}")
    if can_fit:
        specs = fit_specs(net.specs, boxes.boxes, net.resolution)
        fitted = measure(boxes, generate_priors(specs, net.resolution), dataset.class_names, net.resolution)
        sizes = [[round(size, 1) for size in (spec.min_size, spec.max_size)] for spec in specs]
        print(f"\nwith fitted priors (train_ssd.py --fit-priors): min sizes {[low for low, _ in sizes]}, "
              f"max sizes {[high for _, high in sizes]}")
        print("\n".join(full_report(fitted)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
