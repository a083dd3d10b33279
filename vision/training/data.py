"""The datasets a training run reads, and their per-epoch, seeded transforms."""
import argparse

from vision.datasets import TransformedDataset, open_datasets, read_class_order
from vision.ssd.nets import NETS
from vision.transforms import SSDEvalTransform, SSDTrainTransform


def build_datasets(args: argparse.Namespace, model_labels: list[str] | None = None):
    """(train set, validation set, class names with BACKGROUND first).

    The class order comes from a resumed model, else --labels, else the training data; validation
    data is mapped to it by name (never re-derived from its own split).
    """
    if model_labels:
        class_order = model_labels[1:]
    else:
        class_order = read_class_order(args.labels) if args.labels else None
    train_set = open_datasets(args.datasets, "train", args.dataset_type, class_order,
                              include_negatives=not args.skip_empty_images,
                              balance_data=args.balance_data, seed=args.seed)
    class_names = train_set.class_names
    if args.validation_dataset:
        val_set = open_datasets([args.validation_dataset], "val", None, class_names[1:])
    else:
        val_set = open_datasets(args.datasets, "val", args.dataset_type, class_names[1:])
    return train_set, val_set, class_names


def loader_dataset(dataset, args: argparse.Namespace, epoch: int, train: bool) -> TransformedDataset:
    """`dataset` with the training augmentation (seeded by seed, epoch, index) or the eval resize."""
    if train:
        transform = SSDTrainTransform(args.resolution, NETS[args.net].mean)
    else:
        transform = SSDEvalTransform(args.resolution)
    samples = TransformedDataset(dataset, transform, args.seed)
    samples.set_epoch(epoch)
    return samples
