"""Training and evaluation pipelines: dataset item -> uint8 image of the net's size, normalized boxes."""
from .ssd_augment import SSDEvalTransform, SSDTrainTransform, View, sample_view

__all__ = ["SSDEvalTransform", "SSDTrainTransform", "View", "sample_view"]
