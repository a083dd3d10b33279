"""Which reader a dataset folder needs, and opening a split with it."""
from pathlib import Path

from vision.utils.pixel_limit import max_image_pixels

from .base import DetectionDataset
from .coco import CocoDataset
from .errors import DatasetError
from .open_images import OpenImagesDataset
from .voc import VOCDataset

DATASET_TYPES = ("coco", "voc", "open_images")


def detect_dataset_type(path) -> str:
    """'coco', 'voc' or 'open_images', from the files the folder holds."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(path, "dataset folder not found")
    if any((path / "annotations").glob("instances_*.json")):
        return "coco"
    if (path / "Annotations").is_dir() and (path / "ImageSets" / "Main").is_dir():
        return "voc"
    if any(path.glob("sub-*-annotations-bbox.csv")):
        return "open_images"
    raise DatasetError(path, "not a dataset layout this tool reads: expected annotations/instances_*.json "
                             "(COCO), Annotations/ with ImageSets/Main/ (VOC) or "
                             "sub-*-annotations-bbox.csv (Open Images)")


def open_dataset(path, split: str = "train", dataset_type: str | None = None,
                 class_order: list[str] | None = None, include_negatives: bool = True,
                 balance_data: bool = False, seed: int = 0) -> DetectionDataset:
    """One split of one dataset; the type is detected from the layout when not given.

    split: 'train', 'val', 'test' or a name of the layout (train2017, trainval, validation, ...).
    class_order: the label order to use (a model's classes); other classes are warned about, skipped.
    balance_data: Open Images only, the earlier tools' resampling of rare classes.
    """
    max_image_pixels()  # a wrong setting stops start-up, not every data-loader worker
    dataset_type = dataset_type or detect_dataset_type(path)
    if dataset_type not in DATASET_TYPES:
        raise DatasetError(path, f"unknown dataset type {dataset_type!r} (one of {', '.join(DATASET_TYPES)})")
    if balance_data and dataset_type != "open_images":
        raise DatasetError(path, "balance_data is an Open Images option")
    if dataset_type == "open_images":
        return OpenImagesDataset(path, split, class_order, include_negatives, balance_data, seed)
    reader = CocoDataset if dataset_type == "coco" else VOCDataset
    return reader(path, split, class_order, include_negatives)
