"""The annotations of one split, held in flat arrays with one row per box.

Flat numpy arrays rather than a list of small Python objects: DataLoader workers read them without
copying (touching Python objects changes their reference counts, which copies memory page by page
in every worker of a large dataset such as COCO train).
"""
from dataclasses import dataclass

import numpy as np

MIN_BOX_SIZE = 1.0  # pixels: narrower or shorter boxes are dropped (they make the regression targets blow up)


@dataclass(frozen=True)
class AnnotationTable:
    files: np.ndarray      # [N] str: image file names, relative to the dataset's image folder
    image_ids: np.ndarray  # [N] int64: the annotation file's image ids (COCO), else positions
    sizes: np.ndarray      # [N, 2] int64: (height, width) from the annotations, 0 where unknown
    first_box: np.ndarray  # [N + 1] int64: the boxes of image i are rows first_box[i]:first_box[i + 1]
    boxes: np.ndarray      # [M, 4] float32 corner form (x1, y1, x2, y2)
    labels: np.ndarray     # [M] int64: 1..K
    difficult: np.ndarray  # [M] bool: not a training target (VOC difficult, COCO crowd)

    @classmethod
    def from_rows(cls, files, image_ids, sizes, box_image, boxes, labels, difficult) -> "AnnotationTable":
        """Build from per-image columns and per-box rows; box_image gives each box's image position."""
        box_image = np.asarray(box_image, dtype=np.int64)
        order = np.argsort(box_image, kind="stable")
        counts = np.bincount(box_image, minlength=len(files))
        return cls(
            files=np.asarray(files, dtype=str),
            image_ids=np.asarray(image_ids, dtype=np.int64),
            sizes=np.asarray(sizes, dtype=np.int64).reshape(-1, 2),
            first_box=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4)[order],
            labels=np.asarray(labels, dtype=np.int64)[order],
            difficult=np.asarray(difficult, dtype=bool)[order],
        )

    def __len__(self) -> int:
        return len(self.files)

    def rows(self, index: int) -> slice:
        return slice(int(self.first_box[index]), int(self.first_box[index + 1]))

    def box_counts(self) -> np.ndarray:
        return np.diff(self.first_box)

    def box_image(self) -> np.ndarray:
        """The image position of every box row."""
        return np.repeat(np.arange(len(self)), self.box_counts())

    def select(self, indices) -> "AnnotationTable":
        """The images at `indices` (repeats allowed), in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        rows = [np.arange(self.first_box[i], self.first_box[i + 1]) for i in indices]
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        counts = self.box_counts()[indices]
        return AnnotationTable.from_rows(
            self.files[indices], self.image_ids[indices], self.sizes[indices],
            np.repeat(np.arange(len(indices)), counts), self.boxes[rows], self.labels[rows],
            self.difficult[rows])

    def relabel(self, new_labels: np.ndarray) -> "AnnotationTable":
        """Give each box row a new label; rows whose new label is 0 are removed."""
        keep = new_labels > 0
        return AnnotationTable.from_rows(
            self.files, self.image_ids, self.sizes, self.box_image()[keep], self.boxes[keep],
            new_labels[keep], self.difficult[keep])


def large_enough(boxes: np.ndarray) -> np.ndarray:
    """Mask of the boxes at least MIN_BOX_SIZE wide and high."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_SIZE) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_SIZE)


def clip_to_known_sizes(boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Clip corner boxes to [0, size] where the annotations give the image's size ([height, width] per
    box); 0 means unknown: those boxes are clipped once the image is read."""
    limits = np.where(sizes > 0, sizes, np.inf).astype(np.float32)
    boxes = boxes.clip(0)
    boxes[:, 0::2] = np.minimum(boxes[:, 0::2], limits[:, 1:2])
    boxes[:, 1::2] = np.minimum(boxes[:, 1::2], limits[:, 0:1])
    return boxes
