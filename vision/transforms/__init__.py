"""Training and evaluation pipelines: dataset item -> uint8 image of the net's size, normalized boxes."""
from .ssd_augment import (AUGMENTATIONS, RESIZES, SSDEvalTransform, SSDTrainTransform, View, resize_image,
                          sample_view, train_transform)

__all__ = ["AUGMENTATIONS", "RESIZES", "SSDEvalTransform", "SSDTrainTransform", "View", "resize_image",
           "sample_view", "train_transform"]
