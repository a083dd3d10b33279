"""Samples -> one batch whose targets are padded, so that priors are matched for the whole batch at once."""
from typing import NamedTuple

import torch
from torch import Tensor

from ..utils.box_utils import PADDING_LABEL
from .transformed import Sample


class Batch(NamedTuple):
    images: Tensor   # uint8 [B, 3, S, S] (normalized to float on the device)
    boxes: Tensor    # float32 [B, G, 4] normalized corners; G is the batch's largest box count (may be 0)
    labels: Tensor   # int64 [B, G]; PADDING_LABEL in the rows past each image's boxes
    indices: Tensor  # int64 [B]: dataset positions (dataset.target(i) gives the ground truth)
    sizes: Tensor    # int64 [B, 2]: (height, width) of each image as read
    skipped: int     # unreadable images left out of this batch (B is smaller by as many; may reach 0)


def collate_samples(samples: list[Sample | None]) -> Batch:
    present = [sample for sample in samples if sample is not None]
    count = max((len(sample.labels) for sample in present), default=0)
    boxes = torch.zeros(len(present), count, 4, dtype=torch.float32)
    labels = torch.full((len(present), count), PADDING_LABEL, dtype=torch.int64)
    for row, sample in enumerate(present):
        boxes[row, :len(sample.labels)] = sample.boxes
        labels[row, :len(sample.labels)] = sample.labels
    images = (torch.stack([sample.image for sample in present]) if present
              else torch.zeros(0, 3, 0, 0, dtype=torch.uint8))
    return Batch(
        images=images,
        boxes=boxes,
        labels=labels,
        indices=torch.tensor([sample.index for sample in present], dtype=torch.int64),
        sizes=torch.tensor([sample.size for sample in present], dtype=torch.int64).reshape(-1, 2),
        skipped=len(samples) - len(present),
    )
