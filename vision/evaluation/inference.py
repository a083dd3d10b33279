"""From a dataset to detections: the prediction path (vision.inference.pipeline) run over a data loader,
with a PyTorch net or an exported ONNX file; the resize runs in the loader's workers."""
from typing import Iterator

import numpy as np
from torch.utils.data import DataLoader
from tqdm import tqdm

from vision.datasets import TransformedDataset, collate_samples, ignore_stop_signals, loader_iterator
from vision.inference.detections import Detections
from vision.inference.pipeline import Pipeline

from .results import Results


def predict(dataset, pipeline: Pipeline, batch_size: int, workers: int = 0,
            progress: bool = True) -> Iterator[tuple[int, Detections]]:
    """(dataset position, detections in pixels) for every readable image, in dataset order."""
    samples = TransformedDataset(dataset, pipeline.resize)
    loader = DataLoader(samples, batch_size=batch_size, num_workers=workers, collate_fn=collate_samples,
                        pin_memory=pipeline.device.type == "cuda", worker_init_fn=ignore_stop_signals)
    for batch in tqdm(loader_iterator(loader), total=len(loader), desc="evaluating", unit="batch",
                      disable=not progress, leave=False, dynamic_ncols=True):
        if len(batch.images) == 0:
            continue
        yield from zip(batch.indices.tolist(), pipeline.detect(batch.images, batch.sizes.tolist()))


def collect(predictions: Iterator[tuple[int, Detections]], image_ids: list[int],
            category_of_label: dict[int, int]) -> tuple[Results, list[int]]:
    """The detections as results in the ground truth's ids (labels without a category are dropped),
    and the dataset positions that were evaluated."""
    lookup = np.full(max(category_of_label, default=0) + 1, -1, dtype=np.int64)
    for label, category_id in category_of_label.items():
        lookup[label] = category_id
    parts, positions = [], []
    for position, detections in predictions:
        positions.append(position)
        labels = detections.labels.cpu().numpy()
        category_ids = np.where(labels < len(lookup), lookup[labels.clip(0, len(lookup) - 1)], -1)
        keep = category_ids >= 0
        boxes, scores = detections.boxes.cpu().numpy()[keep], detections.scores.cpu().numpy()[keep]
        parts.append(Results.from_corners(np.full(len(scores), image_ids[position]), category_ids[keep], boxes,
                                          scores))
    return Results.concat(parts), positions
