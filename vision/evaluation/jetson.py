"""What jetson-inference's detectNet does around an exported SSD (docs/export.md, "Export to ONNX and run on
a Jetson"), to predict the accuracy users will see on the device.

Pre-processing: a nearest-neighbour stretch of the whole image to SxS, then (px/255 - 0.5)/0.5.
Post-processing (detectNet::postProcessSSD_ONNX and clusterDetections): each prior gives at most one
detection, of its best class among those scoring >= the threshold (BACKGROUND never); its box is
scaled to the image; a detection whose intersection with an earlier one of its class, over the larger
of their areas, exceeds 0.75 is merged into it (their union, the higher confidence) instead of being
kept. Finally boxes are clipped to [0, width - 1] x [0, height - 1]. (detectNet also sorts them by
area, which changes no metric.)
"""
import numpy as np
import torch
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from vision.ssd.predictor import Detections

THRESHOLD = 0.5             # detectNet's default --threshold
CLUSTERING_THRESHOLD = 0.75  # detectNet's default clustering threshold


class NearestResize:
    """The dataset transform for detectNet's input: nearest-neighbour resize (boxes are not used)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Tensor, boxes: Tensor, labels: Tensor):
        resized = F.resize(image, [self.size, self.size], interpolation=InterpolationMode.NEAREST)
        return resized, boxes, labels


def normalize(images: Tensor) -> Tensor:
    """uint8 [B,3,S,S] to detectNet's input scaling, (px/255 - 0.5)/0.5, whatever the net trained with."""
    return (images.float() / 255.0 - 0.5) / 0.5


def detectnet_detections(scores: Tensor, boxes: Tensor, size: tuple[int, int],
                         threshold: float = THRESHOLD) -> Detections:
    """detectNet's detections from one image's scores [N, C] and normalized corner boxes [N, 4]."""
    height, width = size
    candidates = scores[:, 1:].masked_fill(scores[:, 1:] < threshold, -1.0)
    best, best_class = candidates.max(dim=1)  # the first of equal scores, like detectNet's strict >
    keep = best >= threshold
    scale = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    merged_boxes, labels, confidences = cluster((boxes[keep] * scale).cpu().numpy(),
                                                (best_class[keep] + 1).cpu().numpy(), best[keep].cpu().numpy())
    merged_boxes[:, :2] = merged_boxes[:, :2].clip(0, None)
    merged_boxes[:, 2] = np.where(merged_boxes[:, 2] >= width, width - 1, merged_boxes[:, 2])
    merged_boxes[:, 3] = np.where(merged_boxes[:, 3] >= height, height - 1, merged_boxes[:, 3])
    return Detections(torch.from_numpy(merged_boxes), torch.from_numpy(labels), torch.from_numpy(confidences))


def cluster(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
            threshold: float = CLUSTERING_THRESHOLD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """detectNet's clustering of pixel corner boxes [K, 4], in the order given (the priors' order)."""
    kept_boxes = np.zeros((len(boxes), 4), dtype=np.float32)
    kept_labels = np.zeros(len(boxes), dtype=np.int64)
    kept_scores = np.zeros(len(boxes), dtype=np.float32)
    count = 0
    for box, label, score in zip(boxes.astype(np.float32), labels, scores):
        same = np.flatnonzero((_overlap_ratio(box, kept_boxes[:count]) > threshold)
                              & (kept_labels[:count] == label))
        if same.size:
            target = same[0]
            kept_boxes[target, :2] = np.minimum(kept_boxes[target, :2], box[:2])
            kept_boxes[target, 2:] = np.maximum(kept_boxes[target, 2:], box[2:])
            kept_scores[target] = max(kept_scores[target], score)
        else:
            kept_boxes[count], kept_labels[count], kept_scores[count] = box, label, score
            count += 1
    return kept_boxes[:count], kept_labels[:count], kept_scores[:count]


def _overlap_ratio(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over the larger area (Detection::Intersects); boxes that only touch give 0."""
    width = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    height = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    intersection = np.where((width >= 0) & (height >= 0), width * height, 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / np.maximum(area, areas)
