"""VOC layout of the earlier pytorch-ssd tools, camera-capture and CVAT exports:
Annotations/<id>.xml, ImageSets/Main/<split>.txt (or default.txt), JPEGImages/, labels.txt."""
import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .base import DetectionDataset
from .errors import DatasetError
from .images import IMAGE_EXTENSIONS
from .labels import read_dataset_labels
from .table import AnnotationTable, clip_to_known_sizes, large_enough

logger = logging.getLogger(__name__)

# The image lists each split name looks for, before ImageSets/Main/default.txt (CVAT's single list).
# The earlier tools trained on trainval and validated on test.
SPLIT_LISTS = {"train": ("trainval", "train"), "val": ("val", "test")}


class VOCDataset(DetectionDataset):
    """Classes come from the dataset's labels.txt (one per line, no BACKGROUND) or, without it, from
    the annotations, sorted. Pixel coordinates are VOC's 1-based values minus 1, as in the earlier
    tools, so that their models and mAP stay comparable. `difficult` objects are kept, flagged."""

    def __init__(self, root, split: str = "train", class_order: list[str] | None = None,
                 include_negatives: bool = True):
        root = Path(root)
        image_dir = root / "JPEGImages"
        if not image_dir.is_dir():
            raise DatasetError(image_dir, "image folder not found")
        list_file = _image_list(root, split)
        ids = _read_ids(list_file)
        labels_file = root / "labels.txt"
        names = read_dataset_labels(labels_file) if labels_file.is_file() else None
        images = [_read_annotation(root / "Annotations" / f"{image_id}.xml") for image_id in ids]
        if names is None:
            names = sorted({obj[0] for image in images for obj in image["objects"]})
        files = _image_files(image_dir, ids, [image["filename"] for image in images])
        table, self.dropped_boxes = _table(images, files, names, labels_file)
        if self.dropped_boxes:
            logger.info("%s: dropped %d boxes under 1 pixel wide or high", root / "Annotations",
                        self.dropped_boxes)
        super().__init__(table, names, image_dir, list_file, class_order, include_negatives)


def _image_list(root: Path, split: str) -> Path:
    folder = root / "ImageSets" / "Main"
    for name in (*SPLIT_LISTS.get(split, (split,)), "default"):
        if (folder / f"{name}.txt").is_file():
            return folder / f"{name}.txt"
    raise DatasetError(folder / f"{split}.txt", "image list not found (nor default.txt)")


def _read_ids(list_file: Path) -> list[str]:
    """The image ids of a list, one per line."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line, byte = error.object[:error.start].count(b"\n") + 1, error.object[error.start]
        raise DatasetError(list_file, f"line {line} is not UTF-8 text (byte {byte:#x})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_annotation(path: Path) -> dict:
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DatasetError(path, "annotation file not found") from None
    except ET.ParseError as error:
        raise DatasetError(path, f"not valid XML ({error})") from None
    try:
        return {
            "filename": (root.findtext("filename") or "").strip(),
            "size": (_number(root, "size/height"), _number(root, "size/width")),
            "objects": [_read_object(obj) for obj in root.iter("object")],
        }
    except (AttributeError, TypeError, ValueError) as error:
        raise DatasetError(path, f"unreadable object ({error})") from None


def _read_object(obj: ET.Element) -> tuple[str, list[float], bool]:
    box = obj.find("bndbox")
    corners = [float(box.findtext(key)) - 1 for key in ("xmin", "ymin", "xmax", "ymax")]
    difficult = (obj.findtext("difficult") or "0").strip() == "1"
    return obj.findtext("name").strip(), corners, difficult


def _number(root: ET.Element, key: str) -> int:
    text = (root.findtext(key) or "").strip()
    return int(float(text)) if text else 0


def _image_files(image_dir: Path, ids: list[str], filenames: list[str]) -> list[str]:
    """Each image's file: <filename> when it is in JPEGImages, else a file named after the id with any
    image extension (camera-capture and CVAT exports do not always write a usable <filename>)."""
    present = set(os.listdir(image_dir))
    by_stem = {}
    for name in sorted(present):
        stem, extension = os.path.splitext(name)
        if extension.lower() in IMAGE_EXTENSIONS:
            by_stem.setdefault(stem, name)
    files = []
    for image_id, filename in zip(ids, filenames):
        if filename in present:
            files.append(filename)
        else:  # missing images are reported, and skipped, when they are loaded
            files.append(by_stem.get(image_id, filename or f"{image_id}.jpg"))
    return files


def _table(images: list[dict], files: list[str], names: list[str], labels_file: Path):
    label_of = {name: label for label, name in enumerate(names, start=1)}
    unknown = sorted({obj[0] for image in images for obj in image["objects"]} - label_of.keys())
    if unknown:
        logger.warning("%s: objects of classes not listed are skipped: %s", labels_file,
                       ", ".join(unknown))
    rows = [(index, *obj) for index, image in enumerate(images) for obj in image["objects"]
            if obj[0] in label_of]
    boxes = np.array([row[2] for row in rows], dtype=np.float32).reshape(-1, 4)
    sizes = np.array([image["size"] for image in images], dtype=np.int64).reshape(-1, 2)
    box_image = np.array([row[0] for row in rows], dtype=np.int64)
    boxes = clip_to_known_sizes(boxes, sizes[box_image])
    keep = large_enough(boxes)
    table = AnnotationTable.from_rows(
        files=files, image_ids=np.arange(len(images)), sizes=sizes, box_image=box_image[keep],
        boxes=boxes[keep], labels=np.array([label_of[row[1]] for row in rows], dtype=np.int64)[keep],
        difficult=np.array([row[3] for row in rows], dtype=bool)[keep])
    return table, int((~keep).sum())
