"""The datasets a training run reads, and the loaders that batch them (seeded per epoch).

Validation never uses training images: COCO trains on train2017 and validates on val2017; VOC on
trainval with test, or on train with val; Open Images on train with test (else validation). A VOC
tree with only ImageSets/Main/default.txt holds out every tenth image.
"""
import copy
import ctypes
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from vision.datasets import (BACKGROUND, ConcatDetectionDataset, DatasetError, TransformedDataset,
                             collate_samples, detect_dataset_type, ignore_stop_signals, loader_iterator,
                             open_dataset, read_class_order)
from vision.datasets.labels import merge_class_names
from vision.training.distributed import Group
from vision.training.settings import DataSettings
from vision.transforms import SSDEvalTransform, train_transform

log = logging.getLogger("train_ssd")
HOLD_OUT_EVERY = 10


def build_datasets(settings: DataSettings, model_labels: list[str] | None = None):
    """(train set, validation set, class names with BACKGROUND first).

    The class order comes from a resumed model, else --labels, else the training data (merged by
    name across roots); validation data is mapped to it by name, never re-derived from its own split.
    """
    if model_labels:
        class_order = model_labels[1:]
    else:
        class_order = read_class_order(settings.labels) if settings.labels else None
    pairs = [_train_and_validation(Path(root), settings, class_order) for root in settings.roots]
    if class_order is None:
        class_order = merge_class_names([train.class_names[1:] for train, _ in pairs])
        for train, _ in pairs:
            train.map_classes(class_order)
    if settings.validation_dataset:
        validation = [open_dataset(settings.validation_dataset, "val", None, class_order)]
    else:
        validation = [val if val is not None else _open_validation(Path(root), settings.dataset_type, class_order)
                      for (_, val), root in zip(pairs, settings.roots)]
    for val in validation:
        val.map_classes(class_order)
    return _joined([train for train, _ in pairs]), _joined(validation), [BACKGROUND, *class_order]


def _train_and_validation(root: Path, settings: DataSettings, class_order):
    """The training split of one root, and its validation split when it has to be held out of it."""
    kind = settings.dataset_type or detect_dataset_type(root)
    train = open_dataset(root, "train", kind, class_order, include_negatives=not settings.skip_empty_images,
                         balance_data=settings.balance_data, seed=settings.seed)
    if kind == "voc" and _voc_lists(root) == {"default"}:
        log.info("%s has only default.txt: every %dth image is held out for validation", root,
                 HOLD_OUT_EVERY)
        return _hold_out(train)
    return train, None


def _open_validation(root: Path, dataset_type: str | None, class_order):
    kind = dataset_type or detect_dataset_type(root)
    if kind == "voc":
        split = _voc_validation_split(root)
    elif kind == "open_images":
        split = _open_images_split(root)
    else:
        split = "val"
    return open_dataset(root, split, kind, class_order)


def _voc_lists(root: Path) -> set[str]:
    return {path.stem for path in (root / "ImageSets" / "Main").glob("*.txt")}


def _voc_validation_split(root: Path) -> str:
    lists = _voc_lists(root)
    trained_on = "trainval" if "trainval" in lists else "train"
    wanted = "test" if trained_on == "trainval" else "val"
    if wanted not in lists:
        raise DatasetError(root / "ImageSets" / "Main" / f"{wanted}.txt",
                           f"needed for validation when training on {trained_on}.txt "
                           f"(or pass --validation-dataset)")
    return wanted


def _open_images_split(root: Path) -> str:
    return "test" if (root / "sub-test-annotations-bbox.csv").is_file() else "validation"


def _hold_out(dataset):
    """Split a dataset into (every image but each HOLD_OUT_EVERY-th, each HOLD_OUT_EVERY-th)."""
    positions = np.arange(len(dataset))
    held = positions % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1
    if held.sum() == 0:
        raise DatasetError(dataset.annotation_file, f"too few images ({len(dataset)}) to hold out a "
                                                    f"validation set; pass --validation-dataset")
    train, validation = copy.copy(dataset), copy.copy(dataset)
    train.table = dataset.table.select(positions[~held])
    validation.table = dataset.table.select(positions[held])
    return train, validation


def _joined(datasets: list):
    return datasets[0] if len(datasets) == 1 else ConcatDetectionDataset(datasets)


class EpochSampler(Sampler):
    """This rank's share of the epoch's shuffled order, which follows from (seed, epoch) alone.

    `start` skips the samples of the epoch already trained on (by all ranks together), so an
    interrupted epoch resumes with the next batch, also on another number of processes. Every rank
    gets the same number of samples (a few at the end may go unused), so no rank waits for another.
    """

    def __init__(self, size: int, seed: int, group: Group = Group()):
        self.size, self.seed, self.group = size, seed, group
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)[self.start:]
        return iter(order[self.group.rank:len(self) * self.group.world:self.group.world].tolist())

    def __len__(self) -> int:
        return (self.size - self.start) // self.group.world


def train_loader(dataset, settings: DataSettings, group: Group, pin_memory: bool) -> DataLoader:
    """Batches of `dataset` with the training augmentation, seeded by (seed, epoch, index). The
    workers live as long as the loader (no start-up cost per epoch; start them with start_workers):
    call start_epoch before each epoch. Its length is an epoch's steps: full batches of this rank's
    share, or one short batch when the share is smaller than a batch."""
    transform = train_transform(settings.augmentation, settings.resolution, settings.mean)
    samples = TransformedDataset(dataset, transform, settings.seed)
    # Its own generator for the workers' base seed, so that starting them leaves the global RNG (the
    # net's initial weights) as it was; the samples do not depend on it.
    return DataLoader(samples, batch_size=settings.batch_size,
                      sampler=EpochSampler(len(samples), settings.seed, group), num_workers=settings.workers,
                      collate_fn=collate_samples, drop_last=len(samples) // group.world > settings.batch_size,
                      pin_memory=pin_memory, persistent_workers=settings.workers > 0,
                      worker_init_fn=ignore_stop_signals, generator=torch.Generator().manual_seed(settings.seed))


def start_workers(loader: DataLoader) -> None:
    """Fork a train_loader's workers now, before the net and the optimizer exist. A forked worker
    keeps its copy of every page the main process writes after the fork; forked later, each worker
    would hold a stale copy of the weights, gradients and optimizer state for the whole run."""
    sampler = loader.sampler
    sampler.set_epoch(0, sampler.size)  # an empty pass: nothing is loaded before the first start_epoch
    loader_iterator(loader)
    sampler.set_epoch(0)


def start_epoch(loader: DataLoader, epoch: int, start: int = 0) -> None:
    """Point a train_loader at `epoch`, `start` samples into it."""
    loader.sampler.set_epoch(epoch, start)
    loader.dataset.set_epoch(epoch)


def validation_loader(dataset, settings: DataSettings, group: Group) -> DataLoader:
    """Batches of `dataset` resized for the net; each rank takes every world-th image, none twice.
    Its workers exit at the end of each pass, so that between validations only the training
    workers are alive."""
    samples = TransformedDataset(dataset, SSDEvalTransform(settings.resolution), settings.seed)
    return DataLoader(samples, batch_size=settings.batch_size,
                      sampler=range(group.rank, len(samples), group.world), num_workers=settings.workers,
                      collate_fn=collate_samples, worker_init_fn=ignore_stop_signals)


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim; elsewhere nothing). Call
    it before workers fork: training on the CPU leaves a few hundred MB of free heap in the main
    process, and each page of it that a forked worker shares is copied when the main process reuses it."""
    libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
    if hasattr(libc, "malloc_trim"):  # glibc, not musl
        libc.malloc_trim(0)
