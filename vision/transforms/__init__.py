"""Training and evaluation pipelines: dataset item -> uint8 image of the net's size, normalized boxes."""
from .ssd_augment import AUGMENTATIONS, SSDEvalTransform, SSDTrainTransform, View, sample_view, train_transform

__all__ = ["AUGMENTATIONS", "SSDEvalTransform", "SSDTrainTransform", "View", "sample_view", "train_transform"]
