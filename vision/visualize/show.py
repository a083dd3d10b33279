"""Look at a dataset as the net will: a grid of samples with their boxes and class names.

    python3 -m vision.visualize.show --dataset PATH [--dataset-type T] [--split S] [--augment [RECIPE]]
                                     [--net NET] [--resolution 300] [--count 16] [--seed 0] --out samples.png

Without --augment each image is resized as for evaluation and difficult (or crowd) boxes are drawn
grey; with --augment the samples go through a training augmentation first (train_ssd.py's
--data-augmentation recipe, ssd by default, with --net's mean as the zoom-out fill).
"""
import math
import sys
from pathlib import Path

import numpy as np
import torch

from vision.cli import OneLineParser, run_main
from vision.datasets import DATASET_TYPES, DatasetError, TransformedDataset, open_dataset
from vision.ssd import NET_NAMES
from vision.ssd.nets import NETS
from vision.transforms import AUGMENTATIONS, SSDEvalTransform, train_transform
from vision.utils.fileio import atomic_write_image
from vision.visualize.draw import draw_sample_boxes

PROG = "python3 -m vision.visualize.show"


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
    draw_sample_boxes(tile, sample.boxes, sample.labels, torch.zeros(len(sample.labels), dtype=torch.bool),
                      class_names)
    return tile


def _plain_tile(item, resize: SSDEvalTransform, class_names: list[str]) -> np.ndarray | None:
    if item is None:
        return None
    image, target = item
    image, boxes, labels = resize(image, target["boxes"], target["labels"])
    tile = image.permute(1, 2, 0).numpy().copy()
    draw_sample_boxes(tile, boxes, labels, target["difficult"], class_names)
    return tile


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
