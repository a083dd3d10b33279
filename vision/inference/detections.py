"""Detections, and their selection by per-class NMS from a net's scores and boxes."""
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import batched_nms

NMS_IOU_THRESHOLD = 0.45
TOP_K = 200
CANDIDATES_PER_CLASS = 200  # best-scoring boxes per class that enter NMS, as the earlier tools did


@dataclass
class Detections:
    boxes: Tensor  # [K, 4] x1, y1, x2, y2 in pixels of the original image
    labels: Tensor  # [K] int64, 1..num_classes-1
    scores: Tensor  # [K]


def select_detections(scores: Tensor, boxes: Tensor, size: tuple[int, int], score_threshold: float,
                      nms_iou_threshold: float = NMS_IOU_THRESHOLD, top_k: int = TOP_K,
                      candidates_per_class: int = CANDIDATES_PER_CLASS) -> Detections:
    """Per-class NMS over one image's scores [N, C] (class 0 is BACKGROUND) and normalized corner
    boxes [N, 4] among each class's `candidates_per_class` best; keeps the `top_k` best and scales
    boxes to the image `size` (h, w)."""
    prior_index, class_index = (scores[:, 1:] > score_threshold).nonzero(as_tuple=True)
    labels = class_index + 1
    candidate_scores = scores[prior_index, labels]
    keep = _best_per_class(candidate_scores, labels, candidates_per_class)
    prior_index, labels, candidate_scores = prior_index[keep], labels[keep], candidate_scores[keep]
    candidate_boxes = boxes[prior_index]
    keep = batched_nms(candidate_boxes, candidate_scores, labels, nms_iou_threshold)[:top_k]
    height, width = size
    scale = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    return Detections(candidate_boxes[keep] * scale, labels[keep], candidate_scores[keep])


def _best_per_class(scores: Tensor, labels: Tensor, limit: int) -> Tensor:
    """Indices of the `limit` highest scores within each label."""
    order = scores.argsort(descending=True)
    order = order[labels[order].argsort(stable=True)]  # grouped by label, best first in each group
    grouped = labels[order]
    group_start = torch.searchsorted(grouped, grouped, right=False)
    rank = torch.arange(len(order), device=scores.device) - group_start
    return order[rank < limit]
