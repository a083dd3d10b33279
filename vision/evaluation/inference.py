"""From a dataset to detections: batched inference with a PyTorch net or an exported ONNX file.

A pipeline is four steps: the resize (in the data loader's workers), the input scaling (on the
device), the model, and the selection of detections per image (per-class NMS, or detectNet's
clustering). The net's own path is the Predictor's: bilinear resize, the net's mean/std, NMS.
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm import tqdm

from vision.datasets import TransformedDataset, collate_samples, ignore_stop_signals, loader_iterator
from vision.export.onnx_detector import OnnxModel
from vision.ssd.predictor import CANDIDATES_PER_CLASS, NMS_IOU_THRESHOLD, TOP_K, Detections, select_detections
from vision.transforms import SSDEvalTransform

from . import jetson
from .results import Results


@dataclass
class Pipeline:
    resize: Callable                             # dataset transform: (image, boxes, labels) -> resized
    normalize: Callable[[Tensor], Tensor]        # uint8 [B,3,S,S] -> the model's float input
    forward: Callable[[Tensor], tuple[Tensor, Tensor]]  # -> scores [B,N,C], corner boxes [B,N,4]
    select: Callable[[Tensor, Tensor, tuple[int, int]], Detections]  # one image's detections
    device: torch.device


def selection(nms_method: str = "hard", score_threshold: float = 0.01,
              nms_iou_threshold: float = NMS_IOU_THRESHOLD, top_k: int = TOP_K,
              threshold: float = jetson.THRESHOLD, candidates_per_class: int = CANDIDATES_PER_CLASS) -> Callable:
    """`hard`: the Predictor's per-class NMS (score_threshold, nms_iou_threshold, top_k,
    candidates_per_class); `detectnet`: detectNet's one class per prior and clustering (threshold)."""
    if nms_method == "hard":
        return partial(select_detections, score_threshold=score_threshold, nms_iou_threshold=nms_iou_threshold,
                       top_k=top_k, candidates_per_class=candidates_per_class)
    if nms_method == "detectnet":
        return partial(jetson.detectnet_detections, threshold=threshold)
    raise ValueError(f"unknown NMS method {nms_method!r}: hard or detectnet")


def net_pipeline(net, device, select: Callable, emulate_jetson: bool = False, resize: str = "antialias") -> Pipeline:
    """A PyTorch SSD (in test or training mode) on `device`; `resize` as vision.transforms.RESIZES."""
    device = torch.device(device)

    def forward(inputs: Tensor) -> tuple[Tensor, Tensor]:
        outputs = net(inputs)
        return outputs if net.is_test else net.postprocess(*outputs)

    return _pipeline(net.resolution, net.normalize, forward, select, device, emulate_jetson, resize)


def onnx_pipeline(model: OnnxModel, net_name: str, select: Callable, emulate_jetson: bool = False,
                  resize: str = "antialias") -> Pipeline:
    """An exported model fed as the export contract says: the image normalized with `net_name`'s mean/std,
    or detectNet's for an export with --input-normalization detectnet."""
    mean, std = (value.view(1, 3, 1, 1) for value in model.input_scaling(net_name))

    def normalize(images: Tensor) -> Tensor:
        return (images.float() - mean) / std

    return _pipeline(model.resolution, normalize, model, select, torch.device("cpu"), emulate_jetson, resize)


def _pipeline(resolution, normalize, forward, select, device, emulate_jetson: bool, resize: str) -> Pipeline:
    if emulate_jetson:
        return Pipeline(jetson.NearestResize(resolution), jetson.normalize, forward, select, device)
    return Pipeline(SSDEvalTransform(resolution, resize), normalize, forward, select, device)


@torch.no_grad()
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
        scores, boxes = pipeline.forward(pipeline.normalize(batch.images.to(pipeline.device)))
        for row, (index, size) in enumerate(zip(batch.indices.tolist(), batch.sizes.tolist())):
            yield index, pipeline.select(scores[row].float(), boxes[row].float(), tuple(size))


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
