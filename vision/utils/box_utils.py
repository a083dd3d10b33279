"""Box math for SSD: encoding, decoding, IoU and prior matching.

Pure tensor functions that run on any device and dtype. Boxes are in corner form (x1, y1, x2, y2)
unless a name says "center" (cx, cy, w, h). Leading batch dimensions are allowed everywhere.
"""
import torch
from torch import Tensor
from torchvision.ops import box_convert, box_iou

CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
PADDING_LABEL = -1  # label of the padding rows in a collated batch of targets


def center_to_corner(boxes: Tensor) -> Tensor:
    return box_convert(boxes, "cxcywh", "xyxy")


def corner_to_center(boxes: Tensor) -> Tensor:
    return box_convert(boxes, "xyxy", "cxcywh")


def encode(boxes: Tensor, priors: Tensor, center_variance: float = CENTER_VARIANCE,
           size_variance: float = SIZE_VARIANCE) -> Tensor:
    """Regression targets for corner-form `boxes` [..., N, 4] against center-form `priors` [N, 4]."""
    centers = corner_to_center(boxes)
    priors = priors.to(centers.dtype)
    xy = (centers[..., :2] - priors[:, :2]) / priors[:, 2:] / center_variance
    wh = torch.log(centers[..., 2:] / priors[:, 2:]) / size_variance
    return torch.cat([xy, wh], dim=-1)


def decode(locations: Tensor, priors: Tensor, center_variance: float = CENTER_VARIANCE,
           size_variance: float = SIZE_VARIANCE) -> Tensor:
    """Corner-form boxes from regression outputs `locations` [..., N, 4] and center-form priors [N, 4]."""
    priors = priors.to(locations.dtype)
    xy = locations[..., :2] * center_variance * priors[:, 2:] + priors[:, :2]
    wh = torch.exp(locations[..., 2:] * size_variance) * priors[:, 2:]
    return center_to_corner(torch.cat([xy, wh], dim=-1))


def batched_iou(boxes: Tensor, others: Tensor) -> Tensor:
    """IoU of every box in `boxes` [B, G, 4] with every box in `others` [N, 4]: [B, G, N]."""
    batch, count = boxes.shape[:2]
    return box_iou(boxes.reshape(-1, 4), others).reshape(batch, count, -1)


def match_priors(gt_boxes: Tensor, gt_labels: Tensor, priors: Tensor,
                 iou_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Assign ground truth to priors for a whole batch at once, as the classic SSD matcher does.

    gt_boxes [B, G, 4] (normalized corner form) and gt_labels [B, G], where rows with a label below 1
    are padding. priors [N, 4] in center form. Each prior takes the target it overlaps most; each real
    target also claims the prior that overlaps it most (the later target wins a tie, like the classic
    per-image loop). Priors under `iou_threshold` become background (label 0).
    Returns labels [B, N] (int64) and corner-form boxes [B, N, 4].
    """
    batch, count = gt_labels.shape
    num_priors = priors.shape[0]
    if count == 0:
        return (gt_labels.new_zeros(batch, num_priors, dtype=torch.long),
                gt_boxes.new_zeros(batch, num_priors, 4))
    valid = gt_labels > 0
    ious = batched_iou(gt_boxes, center_to_corner(priors).to(gt_boxes.dtype))
    ious = ious.masked_fill(~valid.unsqueeze(-1), -1.0)
    best_iou, best_target = ious.max(dim=1)  # per prior: [B, N]
    best_prior = ious.argmax(dim=2)  # per target: [B, G]

    # Forced matches: padding rows are sent to a spare column past the last prior and dropped.
    forced_prior = torch.where(valid, best_prior, torch.full_like(best_prior, num_priors))
    target_ids = torch.arange(count, device=gt_labels.device).expand(batch, count)
    forced = torch.full((batch, num_priors + 1), -1, dtype=torch.long, device=gt_labels.device)
    forced.scatter_reduce_(1, forced_prior, target_ids, reduce="amax", include_self=True)
    forced = forced[:, :num_priors]
    is_forced = forced >= 0
    best_target = torch.where(is_forced, forced, best_target)
    best_iou = best_iou.masked_fill(is_forced, 2.0)

    labels = gt_labels.gather(1, best_target).long()
    labels = labels.masked_fill(best_iou < iou_threshold, 0)
    boxes = gt_boxes.gather(1, best_target.unsqueeze(-1).expand(-1, -1, 4))
    return labels, boxes
