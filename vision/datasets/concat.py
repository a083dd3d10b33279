"""Several datasets trained on at once, their classes mapped by name."""
import bisect

import numpy as np
from torch.utils.data import Dataset

from .base import DetectionDataset
from .labels import merge_class_names
from .layout import open_dataset


class ConcatDetectionDataset(Dataset):
    """Datasets with the same class names, one after the other; image_id is the position here."""

    def __init__(self, datasets: list[DetectionDataset]):
        for dataset in datasets[1:]:
            if dataset.class_names != datasets[0].class_names:
                raise ValueError("concatenated datasets must have the same class names")
        self.datasets = datasets
        self.class_names = datasets[0].class_names
        self._ends = []
        for dataset in datasets:
            self._ends.append(len(dataset) + (self._ends[-1] if self._ends else 0))

    def __len__(self) -> int:
        return self._ends[-1]

    def __getitem__(self, index: int):
        dataset, local = self._locate(index)
        item = dataset[local]
        if item is None:
            return None
        image, target = item
        return image, {**target, "image_id": index}

    def target(self, index: int) -> dict:
        dataset, local = self._locate(index)
        return {**dataset.target(local), "image_id": index}

    def image_size(self, index: int) -> tuple[int, int]:
        dataset, local = self._locate(index)
        return dataset.image_size(local)

    def box_rows(self):
        """DetectionDataset.box_rows of all datasets, image positions counted across them."""
        parts = [dataset.box_rows() for dataset in self.datasets]
        starts = [0, *self._ends[:-1]]
        return (np.concatenate([boxes for boxes, _, _, _ in parts]),
                np.concatenate([labels for _, labels, _, _ in parts]),
                np.concatenate([image + start for (_, _, image, _), start in zip(parts, starts)]),
                np.concatenate([sizes for _, _, _, sizes in parts]))

    def image_path(self, index: int):
        dataset, local = self._locate(index)
        return dataset.image_path(local)

    def _locate(self, index: int) -> tuple[DetectionDataset, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        which = bisect.bisect_right(self._ends, index)
        start = self._ends[which - 1] if which else 0
        return self.datasets[which], index - start


def open_datasets(paths: list, split: str = "train", dataset_type: str | None = None,
                  class_order: list[str] | None = None, include_negatives: bool = True,
                  balance_data: bool = False, seed: int = 0):
    """One dataset, or several concatenated. Without a class order, the labels follow the first
    dataset's classes, then the classes that only later datasets have."""
    datasets = [open_dataset(path, split, dataset_type, class_order, include_negatives, balance_data, seed)
                for path in paths]
    if len(datasets) == 1:
        return datasets[0]
    if class_order is None:
        merged = merge_class_names([dataset.class_names[1:] for dataset in datasets])
        for dataset in datasets:
            dataset.map_classes(merged)
    return ConcatDetectionDataset(datasets)
