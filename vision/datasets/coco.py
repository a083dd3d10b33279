"""COCO layout: root/<split>/ images and root/annotations/instances_<split>.json."""
import json
import logging
import math
from collections import Counter
from pathlib import Path

import numpy as np

from .base import DetectionDataset
from .errors import DatasetError
from .table import AnnotationTable, clip_to_known_sizes, large_enough
from vision.utils.jsonfile import read_json

logger = logging.getLogger(__name__)

INSTANCES_LISTS = ("images", "annotations", "categories")
IDS_SHOWN = 5


class CocoDataset(DetectionDataset):
    """Labels 1..K follow the file's categories sorted by id, whether raw COCO ids (1..90 with gaps)
    or ids already made contiguous; `label_to_category_id` maps labels back for evaluation.
    Crowd regions are kept as `difficult`; images without annotations are negatives. The file must pass
    `check_instances`, as it must for evaluation."""

    ids_from_file = True

    def __init__(self, root, split: str = "train", class_order: list[str] | None = None,
                 include_negatives: bool = True):
        root = Path(root)
        split = _split_name(root, split)
        annotation_file = root / "annotations" / f"instances_{split}.json"
        image_dir = root / split
        if not image_dir.is_dir():
            raise DatasetError(image_dir, "image folder not found")
        data = read_json(annotation_file)
        try:
            table, categories, self.dropped_boxes = _parse(data, annotation_file)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise DatasetError(annotation_file, f"not a COCO instances file ({error!r})") from None
        if self.dropped_boxes:
            logger.info("%s: dropped %d boxes under 1 pixel wide or high", annotation_file,
                        self.dropped_boxes)
        self._category_id_by_name = {category["name"]: category["id"] for category in categories}
        super().__init__(table, [category["name"] for category in categories], image_dir,
                         annotation_file, class_order, include_negatives)

    @property
    def label_to_category_id(self) -> dict[int, int]:
        """Training label -> the annotation file's category id, for the classes the file has."""
        return {label: self._category_id_by_name[name]
                for label, name in enumerate(self.class_names)
                if label > 0 and name in self._category_id_by_name}


def _split_name(root: Path, split: str) -> str:
    """`train` also finds train2017, so the plain split names work on the COCO 2017 layout."""
    for name in (split, f"{split}2017"):
        if (root / "annotations" / f"instances_{name}.json").is_file():
            return name
    raise DatasetError(root / "annotations" / f"instances_{split}.json", "annotation file not found")


def check_instances(data, path) -> None:
    """The rules of a COCO instances file that training, evaluation and the sample viewer share, so that
    none of them uses a file another refuses: the three lists, each image id once, every bbox four numbers
    (COCO's tools read no other). DatasetError names the file; KeyError or TypeError for a missing field."""
    fields = data if isinstance(data, dict) else {}
    missing = [key for key in INSTANCES_LISTS if not isinstance(fields.get(key), list)]
    if missing:
        raise DatasetError(path, f"not a COCO instances file (no {' or '.join(missing)} list)")
    _check_unique_image_ids(data["images"], path)
    _check_boxes(data["annotations"], path)


def _check_unique_image_ids(images: list[dict], path) -> None:
    """A repeated id would put one image's boxes on another and leave the other a negative."""
    counts = Counter(image["id"] for image in images)
    repeated = [str(image_id) for image_id, count in counts.items() if count > 1]
    if repeated:
        more = f" and {len(repeated) - IDS_SHOWN} more" if len(repeated) > IDS_SHOWN else ""
        raise DatasetError(path, f"image ids listed more than once: {', '.join(repeated[:IDS_SHOWN])}{more}")


def _check_boxes(annotations: list[dict], path) -> None:
    bad = next((annotation for annotation in annotations if not _is_box(annotation["bbox"])), None)
    if bad is not None:
        raise DatasetError(path, f"annotation {bad.get('id')}: bbox {json.dumps(bad['bbox'])} is not four numbers")


def _is_box(bbox) -> bool:
    return isinstance(bbox, list) and len(bbox) == 4 and all(
        isinstance(value, (int, float)) and math.isfinite(value) for value in bbox)


def _parse(data: dict, annotation_file: Path) -> tuple[AnnotationTable, list[dict], int]:
    check_instances(data, annotation_file)
    categories = sorted(data["categories"], key=lambda category: category["id"])
    _check_unique_names(categories, annotation_file)
    label_of = {category["id"]: label for label, category in enumerate(categories, start=1)}
    images = data["images"]
    position = {image["id"]: index for index, image in enumerate(images)}
    # a width or height of 0 or none is unknown, as in VOC: the image file tells it when it is read
    sizes = np.array([(image.get("height") or 0, image.get("width") or 0) for image in images],
                     dtype=np.float32).reshape(-1, 2)
    annotations = [annotation for annotation in data["annotations"]
                   if annotation["image_id"] in position and annotation["category_id"] in label_of]
    if len(annotations) < len(data["annotations"]):
        logger.warning("%s: skipped %d annotations of unknown images or categories", annotation_file,
                       len(data["annotations"]) - len(annotations))
    box_image = np.array([position[annotation["image_id"]] for annotation in annotations], dtype=np.int64)
    boxes = _corner_boxes([annotation["bbox"] for annotation in annotations], sizes[box_image])
    keep = large_enough(boxes)
    table = AnnotationTable.from_rows(
        files=[image["file_name"] for image in images],
        image_ids=[image["id"] for image in images],
        sizes=sizes,
        box_image=box_image[keep],
        boxes=boxes[keep],
        labels=np.array([label_of[annotation["category_id"]] for annotation in annotations],
                        dtype=np.int64)[keep],
        difficult=np.array([bool(annotation.get("iscrowd", 0)) for annotation in annotations],
                           dtype=bool)[keep],
    )
    return table, categories, int((~keep).sum())


def _corner_boxes(xywh: list, sizes: np.ndarray) -> np.ndarray:
    """COCO [x, y, w, h] -> corners clipped to the image where its size is known ([height, width] per box)."""
    boxes = np.array(xywh, dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return clip_to_known_sizes(boxes, sizes)


def _check_unique_names(categories: list[dict], annotation_file: Path) -> None:
    names = [category["name"] for category in categories]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(annotation_file, f"category names used twice: {', '.join(repeated)}")
