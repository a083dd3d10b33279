"""The built-in dataset: shapes on cluttered backgrounds, written in the COCO layout.

    python3 -m vision.datasets.synthetic --out DIR [--train-count 400] [--val-count 80] [--image-size 300]
                                         [--object-sizes MIN MAX]

Five classes with category ids that are not contiguous (as in COCO), objects of 40 to 180 pixels (at
300; --object-sizes sets other sizes, e.g. small ones) in many colours, partly overlapping, on
backgrounds of gradients, noise, stripes and unlabelled blobs; some images hold no object. Every image
comes from its own seed, so the output is the same, byte for byte, on every run; a thousand images take
a few seconds.
"""
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from vision.cli import OneLineParser, run_main
from vision.errors import OptionError
from vision.utils.fileio import atomic_write_image, atomic_write_json

PROG = "python3 -m vision.datasets.synthetic"

# name -> category id; the gaps are deliberate, so that readers must map ids to labels.
CATEGORIES = {"circle": 3, "square": 7, "triangle": 11, "star": 13, "ring": 19}
SPLITS = ("train2017", "val2017")
EMPTY_FRACTION = 0.08
MAX_OBJECTS = 6
SIZES = (40, 180)  # smallest and largest object, in pixels at an image size of 300: what SSD priors cover
MAX_OVERLAP = 0.3  # IoU with the objects already placed: partial overlaps, none hidden
JPEG_QUALITY = 90


def generate(out, train_count: int = 400, val_count: int = 80, image_size: int = 300, seed: int = 0,
             object_sizes: tuple[float, float] = SIZES) -> Path:
    """Write root/{train2017,val2017}/*.jpg and root/annotations/instances_{train2017,val2017}.json.

    object_sizes: the smallest and largest object, in pixels at an image size of 300."""
    if not 0 < object_sizes[0] <= object_sizes[1]:
        raise OptionError(f"--object-sizes must be 0 < MIN <= MAX, got {object_sizes[0]:g} {object_sizes[1]:g}")
    out = Path(out)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split_index, (split, count) in enumerate(zip(SPLITS, (train_count, val_count))):
        (out / split).mkdir(exist_ok=True)
        images, annotations = [], []
        for index in range(count):
            rng = np.random.default_rng([seed, split_index, index])
            image, objects = draw_image(rng, image_size, object_sizes)
            file_name = f"{index + 1:06d}.jpg"
            atomic_write_image(out / split / file_name, image[:, :, ::-1],
                               (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY))
            images.append({"id": index + 1, "file_name": file_name, "width": image_size,
                           "height": image_size})
            for name, (x1, y1, x2, y2) in objects:
                annotations.append({
                    "id": len(annotations) + 1, "image_id": index + 1, "category_id": CATEGORIES[name],
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "area": round((x2 - x1) * (y2 - y1), 2), "iscrowd": 0,
                })
        categories = [{"id": category_id, "name": name, "supercategory": "shape"}
                      for name, category_id in CATEGORIES.items()]
        document = {"images": images, "annotations": annotations, "categories": categories}
        atomic_write_json(out / "annotations" / f"instances_{split}.json", document)
    return out


def draw_image(rng: np.random.Generator, size: int, object_sizes=SIZES) -> tuple[np.ndarray, list]:
    """An RGB uint8 image and its objects as (class name, (x1, y1, x2, y2))."""
    image = _background(rng, size)
    count = 0 if rng.random() < EMPTY_FRACTION else int(rng.integers(1, MAX_OBJECTS + 1))
    objects = []
    for _ in range(count * 4):  # a few tries per object to find a place that does not cover another
        if len(objects) == count:
            break
        name = list(CATEGORIES)[int(rng.integers(len(CATEGORIES)))]
        points = _shape(rng, name, size, object_sizes)
        box = _bounds(points, size)
        if all(_iou(box, other) <= MAX_OVERLAP for _, other in objects):
            _paint(rng, image, name, points)
            objects.append((name, box))
    image += rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(3, 14)  # sensor noise
    return np.clip(np.round(image), 0, 255).astype(np.uint8), objects


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A gradient with stripes and unlabelled blobs, float32."""
    corners = rng.uniform(40, 215, size=(2, 2, 3)).astype(np.float32)
    image = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        angle, period = rng.uniform(0, math.pi), rng.uniform(6, 30)
        y, x = np.mgrid[0:size, 0:size]
        stripes = np.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period)
        image += (stripes[:, :, None] * rng.uniform(8, 30)).astype(np.float32)
    for _ in range(int(rng.integers(2, 8))):
        _blob(rng, image, size)
    return image


def _blob(rng: np.random.Generator, image: np.ndarray, size: int) -> None:
    """An irregular soft-edged blob: clutter that is no class."""
    centre = rng.uniform(0, size, 2)
    radius = rng.uniform(0.04, 0.2) * size
    angles = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    radii = radius * (1 + 0.35 * np.sin(angles * int(rng.integers(2, 4)) + rng.uniform(0, 6)))
    points = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], axis=1)
    sigma = max(1.0, radius / 6)
    colour = rng.uniform(30, 225, 3).astype(np.float32)
    region, offset = _region(image, points, margin=3 * sigma)
    layer = np.zeros(region.shape[:2], dtype=np.float32)
    cv2.fillPoly(layer, [_fixed_point(points - offset)], 1.0, cv2.LINE_AA, shift=4)
    layer = 0.6 * cv2.GaussianBlur(layer, (0, 0), sigma)[:, :, None]
    region[:] = region * (1 - layer) + colour * layer


def _shape(rng: np.random.Generator, name: str, size: int, object_sizes) -> np.ndarray:
    """The outline of a shape as polygon points [P, 2] (float pixels), at a random place and turn."""
    radius = math.exp(rng.uniform(*np.log(object_sizes))) * size / 300 / 2
    centre = rng.uniform(0.1 * size, 0.9 * size, 2)
    corners = {"square": 4, "triangle": 3, "star": 10}.get(name, 64)
    radii = np.full(corners, radius)
    if name == "star":
        radii[1::2] = radius * 0.4
    angles = rng.uniform(0, 2 * math.pi) + np.arange(corners) * 2 * math.pi / corners
    return np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], axis=1)


def _paint(rng: np.random.Generator, image: np.ndarray, name: str, points: np.ndarray) -> None:
    """A saturated fill with a dark outline; a ring's hole shows the background."""
    hue = int(rng.integers(0, 180))
    hsv = np.uint8([[[hue, rng.integers(150, 256), rng.integers(150, 256)]]])
    fill = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    outlines = [points]
    if name == "ring":
        centre = points.mean(axis=0)
        outlines.append(centre + (points - centre) * rng.uniform(0.45, 0.7))
    region, offset = _region(image, points, margin=2)
    mask = np.zeros(region.shape[:2], dtype=np.float32)
    for value, outline in zip((1.0, 0.0), outlines):
        cv2.fillPoly(mask, [_fixed_point(outline - offset)], value, cv2.LINE_AA, shift=4)
    mask = mask[:, :, None]
    region[:] = region * (1 - mask) + fill * mask
    cv2.polylines(image, [_fixed_point(outline) for outline in outlines], True,
                  (fill / 3).tolist(), 2, cv2.LINE_AA, shift=4)


def _region(image: np.ndarray, points: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The view of `image` around `points` (so that drawing costs what the shape covers) and its origin."""
    low = np.clip(np.floor(points.min(axis=0) - margin), 0, None).astype(int)
    high = np.ceil(points.max(axis=0) + margin).astype(int) + 1
    return image[low[1]:high[1], low[0]:high[0]], low.astype(np.float64)


def _fixed_point(points: np.ndarray) -> np.ndarray:
    return np.round(points * 16).astype(np.int32)  # 4 fractional bits (shift=4): smooth edges


def _bounds(points: np.ndarray, size: int) -> tuple[float, float, float, float]:
    low = np.clip(points.min(axis=0), 0, size)
    high = np.clip(points.max(axis=0), 0, size)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def _iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description="Write the built-in shapes dataset in the COCO layout.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-count", type=int, default=400)
    parser.add_argument("--val-count", type=int, default=80)
    parser.add_argument("--image-size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--object-sizes", type=float, nargs=2, default=SIZES, metavar=("MIN", "MAX"),
                        help="smallest and largest object, in pixels at an image size of 300 "
                             "(default %(default)s)")
    args = parser.parse_args(argv)

    def body() -> int:
        generate(args.out, args.train_count, args.val_count, args.image_size, args.seed, tuple(args.object_sizes))
        print(f"wrote {args.train_count} + {args.val_count} images to {args.out}")
        return 0

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
