"""Look at a dataset as the net will: a grid of samples with their boxes and class names.

    python3 -m vision.datasets.show --dataset PATH [--dataset-type T] [--split S] [--augment [RECIPE]]
                                    [--net NET] [--resolution 300] [--count 16] [--seed 0] --out samples.png

Without --augment each image is resized as for evaluation and difficult (or crowd) boxes are drawn
grey; with --augment the samples go through a training augmentation first (train_ssd.py's
--data-augmentation recipe, ssd by default, with --net's mean as the zoom-out fill).
"""
import colorsys
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from ..cli import OneLineParser, run_main
from ..ssd import NET_NAMES
from ..ssd.nets import NETS
from ..transforms import AUGMENTATIONS, SSDEvalTransform, train_transform
from ..utils.fileio import atomic_write_image
from .errors import DatasetError
from .layout import DATASET_TYPES, open_dataset
from .transformed import TransformedDataset

PROG = "python3 -m vision.datasets.show"

DIFFICULT_COLOUR = (160, 160, 160)


def draw_samples(dataset_path, out, dataset_type: str | None = None, split: str = "train",
                 augment: str | None = None, resolution: int = 300, count: int = 16, seed: int = 0,
                 net: str = "mb1-ssd") -> Path:
    """Write a PNG grid of `count` samples drawn at random (from `seed`); returns its path. `augment`
    names a --data-augmentation recipe; None shows the evaluation resize."""
    dataset = open_dataset(dataset_path, split, dataset_type)
    picks = np.sort(np.random.default_rng(seed).choice(len(dataset), min(count, len(dataset)), replace=False))
    if augment:
        samples = TransformedDataset(dataset, train_transform(augment, resolution, NETS[net].mean), seed)
        tiles = [_augmented_tile(samples[int(index)], dataset.class_names) for index in picks]
    else:
        resize = SSDEvalTransform(resolution)
        tiles = [_plain_tile(dataset[int(index)], resize, dataset.class_names) for index in picks]
    tiles = [tile for tile in tiles if tile is not None]  # unreadable images were warned about
    if not tiles:
        raise DatasetError(dataset_path, "no readable image to show")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_image(out, _grid(tiles)[:, :, ::-1])
    except OSError as error:
        raise DatasetError(out, "cannot write the image") from error
    return out


def _augmented_tile(sample, class_names: list[str]) -> np.ndarray | None:
    if sample is None:
        return None
    tile = sample.image.permute(1, 2, 0).numpy().copy()
    _draw_boxes(tile, sample.boxes, sample.labels, torch.zeros(len(sample.labels), dtype=torch.bool),
                class_names)
    return tile


def _plain_tile(item, resize: SSDEvalTransform, class_names: list[str]) -> np.ndarray | None:
    if item is None:
        return None
    image, target = item
    image, boxes, labels = resize(image, target["boxes"], target["labels"])
    tile = image.permute(1, 2, 0).numpy().copy()
    _draw_boxes(tile, boxes, labels, target["difficult"], class_names)
    return tile


def _draw_boxes(tile: np.ndarray, boxes: torch.Tensor, labels: torch.Tensor, difficult: torch.Tensor,
                class_names: list[str]) -> None:
    """Boxes normalized to [0, 1], drawn on an RGB tile in place."""
    size = tile.shape[1], tile.shape[0]
    for box, label, hard in zip(boxes.tolist(), labels.tolist(), difficult.tolist()):
        colour = DIFFICULT_COLOUR if hard else _colour(label)
        x1, y1 = round(box[0] * size[0]), round(box[1] * size[1])
        x2, y2 = round(box[2] * size[0]), round(box[3] * size[1])
        cv2.rectangle(tile, (x1, y1), (x2, y2), colour, 2)
        text = class_names[label]
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        top = max(y1 - height - 4, 0)
        cv2.rectangle(tile, (x1, top), (x1 + width + 4, top + height + 4), colour, -1)
        cv2.putText(tile, text, (x1 + 2, top + height + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)


def _colour(label: int) -> tuple[int, int, int]:
    """A bright colour per class, far from its neighbours' (golden-ratio hue steps)."""
    red, green, blue = colorsys.hsv_to_rgb((label * 0.618034) % 1.0, 0.75, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)


def _grid(tiles: list[np.ndarray], gap: int = 4) -> np.ndarray:
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    height, width = tiles[0].shape[:2]
    grid = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 255, dtype=np.uint8)
    for index, tile in enumerate(tiles):
        top = gap + (index // columns) * (height + gap)
        left = gap + (index % columns) * (width + gap)
        grid[top:top + height, left:left + width] = tile
    return grid


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description="Draw a grid of dataset samples with their boxes.")
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("--dataset-type", choices=DATASET_TYPES)
    parser.add_argument("--split", default="train")
    parser.add_argument("--augment", nargs="?", const="ssd", choices=list(AUGMENTATIONS),
                        help="show a training augmentation recipe (ssd when given alone)")
    parser.add_argument("--net", default="mb1-ssd", choices=NET_NAMES, help="whose mean fills the zoom out")
    parser.add_argument("--resolution", type=int, default=300)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("samples.png"))
    args = parser.parse_args(argv)

    def body() -> int:
        out = draw_samples(args.dataset, args.out, args.dataset_type, args.split, args.augment,
                           args.resolution, args.count, args.seed, args.net)
        print(f"wrote {out}")
        return 0

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
