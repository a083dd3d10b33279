"""What every reader returns: images with their boxes in pixels and labels in class order."""
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .errors import DatasetError
from .images import ImageReadError, check_pixel_limit, load_image
from .labels import BACKGROUND
from .table import AnnotationTable

logger = logging.getLogger(__name__)


class DetectionDataset(Dataset):
    """A split of a dataset on disk, read by one of the readers (COCO, VOC, Open Images).

    An item is (image, target), or None when the image cannot be read (a warning names it and the
    collate function drops and counts it):
      image   uint8 [3, H, W] RGB
      target  boxes float32 [G, 4] pixel corners (x1, y1, x2, y2), labels int64 [G] (1..K),
              difficult bool [G] (not training targets; kept for evaluation), image_id int,
              size (height, width).
    `class_names[label]` is the name of a label; class_names[0] is BACKGROUND.
    """

    ids_from_file = False  # image_id is the position unless the annotation file has ids (COCO)

    def __init__(self, table: AnnotationTable, class_names: list[str], image_dir: Path,
                 annotation_file: Path, class_order: list[str] | None, include_negatives: bool):
        self.table = table
        self.class_names = [BACKGROUND, *class_names]
        self.image_dir = Path(image_dir)
        self.annotation_file = Path(annotation_file)
        if class_order is not None:
            self.map_classes(class_order)
        if not include_negatives:
            self.table = self.table.select(np.flatnonzero(self.table.box_counts() > 0))
        if len(self.table) == 0:
            raise DatasetError(self.annotation_file, "no images to use in this split")

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int):
        path = self.image_path(index)
        try:
            image = load_image(path)
        except ImageReadError as error:
            logger.warning("skipping an unreadable image: %s", error)
            return None
        return image, self._target(index, image.shape[1], image.shape[2])

    def target(self, index: int) -> dict:
        """The ground truth of one image without decoding it (for evaluation). ImageReadError when
        its size is needed from the file and the file cannot be read: its item is None then too."""
        return self._target(index, *self.image_size(index))

    def image_path(self, index: int) -> Path:
        return self.image_dir / str(self.table.files[index])

    def image_id(self, index: int) -> int:
        return int(self.table.image_ids[index]) if self.ids_from_file else index

    def image_size(self, index: int) -> tuple[int, int]:
        """(height, width): from the annotations, else from the image file's header (ImageReadError
        when it cannot be read, as load_image)."""
        height, width = (int(value) for value in self.table.sizes[index])
        if height > 0 and width > 0:
            return height, width
        path = self.image_path(index)
        check_pixel_limit(path)  # as load_image; Pillow would raise its own error type
        try:
            with Image.open(path) as image:
                return image.height, image.width
        except OSError as error:  # PIL's UnidentifiedImageError included
            raise ImageReadError(f"{path}: {error.strerror or 'not a readable image'}") from None

    def box_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every training box, without decoding an image: pixel boxes [M, 4] clipped to their image,
        labels [M], image positions [M] (ascending) and image sizes [N, 2] (height, width). Difficult
        boxes, boxes clipped to nothing and images whose size cannot be read are left out, as training
        leaves them out. Sizes missing from the annotations are read from the image files' headers."""
        sizes = self.table.sizes.copy()
        readable = np.ones(len(self), dtype=bool)
        for index in np.flatnonzero((sizes <= 0).any(axis=1)):
            try:
                sizes[index] = self.image_size(int(index))
            except ImageReadError:
                readable[index] = False
        image = self.table.box_image()
        heights, widths = sizes[image, 0], sizes[image, 1]
        boxes = self._pixel_boxes(slice(None), heights, widths).astype(np.float32)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, widths[:, None])
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, heights[:, None])
        keep = (~self.table.difficult & readable[image] & (boxes[:, 2] > boxes[:, 0])
                & (boxes[:, 3] > boxes[:, 1]))
        return boxes[keep], self.table.labels[keep], image[keep], sizes

    def map_classes(self, class_order: list[str]) -> None:
        """Relabel by name: label i becomes class_order[i - 1]; other classes are warned about, skipped."""
        if BACKGROUND in class_order:
            raise ValueError(f"a class order lists the classes without {BACKGROUND}")
        position = {name: label for label, name in enumerate(class_order, start=1)}
        lookup = np.array([position.get(name, 0) for name in self.class_names], dtype=np.int64)
        used = np.bincount(self.table.labels, minlength=len(self.class_names)) > 0
        unknown = [name for label, name in enumerate(self.class_names)
                   if label > 0 and lookup[label] == 0 and used[label]]
        if unknown:
            logger.warning("%s: classes not in the class list are skipped: %s",
                           self.annotation_file, ", ".join(unknown))
        self.table = self.table.relabel(lookup[self.table.labels])
        self.class_names = [BACKGROUND, *class_order]

    def _target(self, index: int, height: int, width: int) -> dict:
        rows = self.table.rows(index)
        boxes = torch.tensor(self._pixel_boxes(rows, height, width))
        boxes[:, 0::2].clamp_(0, width)  # annotation sizes can disagree with the image
        boxes[:, 1::2].clamp_(0, height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return {
            "boxes": boxes[keep],
            "labels": torch.tensor(self.table.labels[rows])[keep],
            "difficult": torch.tensor(self.table.difficult[rows])[keep],
            "image_id": self.image_id(index),
            "size": (height, width),
        }

    def _pixel_boxes(self, rows: slice, height: int, width: int) -> np.ndarray:
        return self.table.boxes[rows]
