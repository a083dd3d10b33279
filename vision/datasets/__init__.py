"""Datasets: readers (COCO, VOC, Open Images) -> TransformedDataset (seeded transforms) -> collate_samples.

    dataset = open_datasets(paths, "train")                  # items: uint8 image, boxes in pixels
    samples = TransformedDataset(dataset, train_transform("ssd", 300, mean), seed)
    loader = DataLoader(samples, batch_size, collate_fn=collate_samples, ...)
    samples.set_epoch(epoch); for batch in loader: ...      # Batch: uint8 images, padded targets
"""
from .base import DetectionDataset
from .coco import CocoDataset
from .collate import Batch, collate_samples
from .concat import ConcatDetectionDataset, open_datasets
from .errors import DatasetError
from .images import IMAGE_EXTENSIONS, ImageReadError, load_image
from .labels import BACKGROUND, merge_class_names, read_class_order, read_dataset_labels
from .layout import DATASET_TYPES, detect_dataset_type, open_dataset
from .open_images import OpenImagesDataset
from .transformed import Sample, TransformedDataset, sample_seed
from .voc import VOCDataset
from .workers import ignore_stop_signals, loader_iterator

__all__ = [
    "BACKGROUND", "DATASET_TYPES", "IMAGE_EXTENSIONS", "Batch", "CocoDataset", "ConcatDetectionDataset",
    "DatasetError", "DetectionDataset", "ImageReadError", "OpenImagesDataset", "Sample",
    "TransformedDataset", "VOCDataset", "collate_samples", "detect_dataset_type", "ignore_stop_signals",
    "load_image", "loader_iterator", "merge_class_names", "open_dataset", "open_datasets", "read_class_order",
    "read_dataset_labels", "sample_seed",
]
