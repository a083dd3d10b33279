"""The earlier tools' matching and loss (qfgaohao/pytorch-ssd box_utils, MatchPrior, MultiboxLoss), line
for line: the oracle the tests compare this toolkit's versions with, and the baseline of bench/."""
import math

import torch
import torch.nn.functional as F

from vision.utils.box_utils import center_to_corner, encode


def iou_of(boxes0, boxes1, eps=1e-5):
    top_left = torch.max(boxes0[..., :2], boxes1[..., :2])
    bottom_right = torch.min(boxes0[..., 2:], boxes1[..., 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(-1)
    area0 = (boxes0[..., 2:] - boxes0[..., :2]).clamp(min=0).prod(-1)
    area1 = (boxes1[..., 2:] - boxes1[..., :2]).clamp(min=0).prod(-1)
    return overlap / (area0 + area1 - overlap + eps)


def assign_priors(gt_boxes, gt_labels, corner_form_priors, iou_threshold, eps=1e-5):
    """(boxes, labels) of each prior for one image; `eps` is the earlier iou_of's guard on the union."""
    ious = iou_of(gt_boxes.unsqueeze(0), corner_form_priors.unsqueeze(1), eps)
    best_target_per_prior, best_target_per_prior_index = ious.max(1)
    _, best_prior_per_target_index = ious.max(0)
    for target_index, prior_index in enumerate(best_prior_per_target_index):
        best_target_per_prior_index[prior_index] = target_index
    best_target_per_prior.index_fill_(0, best_prior_per_target_index, 2)
    labels = gt_labels[best_target_per_prior_index]
    labels[best_target_per_prior < iou_threshold] = 0
    return gt_boxes[best_target_per_prior_index], labels


class MatchPrior:
    """The per-sample target transform that ran inside the earlier tools' data workers."""

    def __init__(self, priors, iou_threshold):
        self.priors = priors
        self.corner_form_priors = center_to_corner(priors)
        self.iou_threshold = iou_threshold

    def __call__(self, gt_boxes, gt_labels):
        boxes, labels = assign_priors(torch.from_numpy(gt_boxes), torch.from_numpy(gt_labels),
                                      self.corner_form_priors, self.iou_threshold)
        return encode(boxes, self.priors), labels


def classic_multibox_loss(confidence, predicted_locations, labels, gt_locations, neg_pos_ratio=3):
    """MultiboxLoss.forward with its hard_negative_mining."""
    num_classes = confidence.size(2)
    with torch.no_grad():
        loss = -F.log_softmax(confidence, dim=2)[:, :, 0]
        pos_mask = labels > 0
        num_pos = pos_mask.long().sum(dim=1, keepdim=True)
        num_neg = num_pos * neg_pos_ratio
        loss[pos_mask] = -math.inf
        _, indexes = loss.sort(dim=1, descending=True)
        _, orders = indexes.sort(dim=1)
        mask = pos_mask | (orders < num_neg)
    confidence = confidence[mask, :]
    classification_loss = F.cross_entropy(confidence.reshape(-1, num_classes), labels[mask], reduction="sum")
    pos_mask = labels > 0
    predicted_locations = predicted_locations[pos_mask, :].reshape(-1, 4)
    gt_locations = gt_locations[pos_mask, :].reshape(-1, 4)
    smooth_l1_loss = F.smooth_l1_loss(predicted_locations, gt_locations, reduction="sum")
    num_pos = gt_locations.size(0)
    return smooth_l1_loss / num_pos, classification_loss / num_pos
