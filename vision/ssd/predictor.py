"""From images to detections: resize, normalize on the device, run the net, select boxes.

Images are uint8 RGB: numpy arrays in HWC order (as OpenCV gives them, after BGR->RGB) or tensors in
HWC or CHW order; one image or a batch (a list, or a 4-D array). All images of a batch go through
the network together.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import batched_nms

from vision.ssd.ssd import SSD
from vision.transforms import resize_image

NMS_IOU_THRESHOLD = 0.45
TOP_K = 200
CANDIDATES_PER_CLASS = 200  # best-scoring boxes per class that enter NMS, as the earlier tools did


@dataclass
class Detections:
    boxes: Tensor  # [K, 4] x1, y1, x2, y2 in pixels of the original image
    labels: Tensor  # [K] int64, 1..num_classes-1
    scores: Tensor  # [K]


class Predictor:
    def __init__(self, net: SSD, score_threshold: float = 0.01, nms_iou_threshold: float = NMS_IOU_THRESHOLD,
                 top_k: int = TOP_K, device: torch.device | str | None = None,
                 candidates_per_class: int = CANDIDATES_PER_CLASS, resize: str = "antialias"):
        """`resize` is "antialias" or "torchvision" (see vision.transforms.RESIZES)."""
        self.device = torch.device(device) if device is not None else net.priors.device
        self.net = net.to(self.device).eval()
        self.score_threshold = score_threshold
        self.nms_iou_threshold = nms_iou_threshold
        self.top_k = top_k
        self.candidates_per_class = candidates_per_class
        self.resize = resize

    @torch.no_grad()
    def predict(self, images) -> Detections | list[Detections]:
        """Detections for one image, or a list of them for a batch."""
        single = _is_single(images)
        batch = [_to_chw_uint8(image) for image in ([images] if single else images)]
        sizes = [tuple(image.shape[-2:]) for image in batch]
        resized = torch.stack([resize_image(image, self.net.resolution, self.resize) for image in batch])
        detections = self.predict_resized(resized, sizes)
        return detections[0] if single else detections

    @torch.no_grad()
    def predict_resized(self, images: Tensor, sizes: list[tuple[int, int]]) -> list[Detections]:
        """Detections for uint8 (or float 0..255) [B,3,S,S] images already resized to the net; `sizes`
        are the (h, w) of the originals, to which the boxes are scaled."""
        outputs = self.net(self.net.normalize(images.to(self.device)))
        scores, boxes = outputs if self.net.is_test else self.net.postprocess(*outputs)
        return [select_detections(scores[i].float(), boxes[i].float(), size, self.score_threshold,
                                  self.nms_iou_threshold, self.top_k, self.candidates_per_class)
                for i, size in enumerate(sizes)]


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


def _is_single(images) -> bool:
    return isinstance(images, (np.ndarray, Tensor)) and images.ndim in (2, 3)


def _to_chw_uint8(image) -> Tensor:
    """An RGB uint8 tensor [3, H, W] from an HWC/HW array or an HWC/CHW tensor."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
        channels_last = True
    else:
        channels_last = image.ndim == 3 and image.shape[-1] in (1, 3) and image.shape[0] not in (1, 3)
    if image.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image.unsqueeze(-1 if channels_last else 0)
    if channels_last:
        image = image.permute(2, 0, 1)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    if image.shape[0] != 3:
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(image.shape)}")
    return image.contiguous()
