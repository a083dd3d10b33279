"""Open Images, as the earlier tools' downloader lays it out: sub-<split>-annotations-bbox.csv
(ImageID, ..., XMin, XMax, YMin, YMax, ..., ClassName) and <split>/<ImageID>.jpg."""
import csv
import logging
from pathlib import Path

import numpy as np

from .base import DetectionDataset
from .errors import DatasetError
from .table import AnnotationTable

logger = logging.getLogger(__name__)

SPLIT_FOLDERS = {"val": "validation"}
COLUMNS = ("ImageID", "XMin", "XMax", "YMin", "YMax", "ClassName")


class OpenImagesDataset(DetectionDataset):
    """Classes sorted by name; boxes stored normalized and scaled to pixels when the image is read.

    balance_data evens out the classes as the earlier tools' option did: the images of each class
    rarer than the mean are repeated, drawn at random (from `seed`), up to the mean count.
    """

    def __init__(self, root, split: str = "train", class_order: list[str] | None = None,
                 include_negatives: bool = True, balance_data: bool = False, seed: int = 0):
        root = Path(root)
        split = SPLIT_FOLDERS.get(split, split)
        annotation_file = root / f"sub-{split}-annotations-bbox.csv"
        image_dir = root / split
        if not image_dir.is_dir():
            raise DatasetError(image_dir, "image folder not found")
        table, names, self.dropped_boxes = _read_csv(annotation_file)
        if self.dropped_boxes:
            logger.info("%s: dropped %d empty boxes", annotation_file, self.dropped_boxes)
        super().__init__(table, names, image_dir, annotation_file, class_order, include_negatives)
        if balance_data:
            before = len(self.table)
            self.table = self.table.select(balanced_indices(self.table, len(self.class_names), seed))
            logger.info("%s: balanced the classes: %d -> %d images", annotation_file, before,
                        len(self.table))

    def _pixel_boxes(self, rows: slice, height: int, width: int) -> np.ndarray:
        # Sizes are numbers, or arrays with one size per row (box_rows).
        scale = np.stack(np.broadcast_arrays(width, height, width, height), axis=-1).astype(np.float32)
        return self.table.boxes[rows] * scale


def balanced_indices(table: AnnotationTable, num_labels: int, seed: int) -> np.ndarray:
    """All images, then repeats of the images of each class rarer than the mean, up to the mean count."""
    box_image = table.box_image()
    images_of = [np.unique(box_image[table.labels == label]) for label in range(1, num_labels)]
    images_of = [images for images in images_of if len(images)]
    if not images_of:
        return np.arange(len(table))
    target = int(round(np.mean([len(images) for images in images_of])))
    rng = np.random.default_rng(seed)
    extra = [rng.choice(images, target - len(images)) for images in images_of if len(images) < target]
    return np.concatenate([np.arange(len(table)), *extra]).astype(np.int64)


def _read_csv(path: Path) -> tuple[AnnotationTable, list[str], int]:
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(path, f"missing columns: {', '.join(missing)}")
            rows = [[row[column] for column in COLUMNS] for row in reader]
    except FileNotFoundError:
        raise DatasetError(path, "annotation file not found") from None
    try:
        boxes = np.array([[row[1], row[3], row[2], row[4]] for row in rows], dtype=np.float32)
    except ValueError as error:
        raise DatasetError(path, f"a box coordinate is not a number ({error})") from None
    boxes = boxes.reshape(-1, 4).clip(0, 1)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    image_ids = sorted({row[0] for row in rows})
    position = {image_id: index for index, image_id in enumerate(image_ids)}
    names = sorted({row[5] for row in rows})
    label_of = {name: label for label, name in enumerate(names, start=1)}
    table = AnnotationTable.from_rows(
        files=[f"{image_id}.jpg" for image_id in image_ids], image_ids=np.arange(len(image_ids)),
        sizes=np.zeros((len(image_ids), 2)),
        box_image=np.array([position[row[0]] for row in rows], dtype=np.int64)[keep],
        boxes=boxes[keep], labels=np.array([label_of[row[5]] for row in rows], dtype=np.int64)[keep],
        difficult=np.zeros(int(keep.sum()), dtype=bool))
    return table, names, int((~keep).sum())
