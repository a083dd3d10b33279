"""One training step, the only place that runs one: device-side normalization, batched matching,
forward (under autocast when mixed precision is on), MultiBox loss, backward, optimizer step."""
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd.ssd import SSD
from vision.training.precision import Precision
from vision.utils import box_utils


@dataclass
class StepResult:
    regression_loss: float
    classification_loss: float
    finite: bool

    @property
    def loss(self) -> float:
        return self.regression_loss + self.classification_loss


def matched_targets(net: SSD, boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Labels [B,N] and encoded locations [B,N,4] for padded targets, matched on the net's device in
    float32 (also under autocast)."""
    device = net.priors.device
    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        matched_labels, matched_boxes = box_utils.match_priors(
            boxes.to(device, non_blocking=True).float(), labels.to(device, non_blocking=True), net.priors)
        return matched_labels, box_utils.encode(matched_boxes, net.priors)


def batch_loss(model: nn.Module, net: SSD, loss_fn: MultiboxLoss, images: Tensor, boxes: Tensor,
               labels: Tensor, precision: Precision = Precision()) -> tuple[Tensor, Tensor]:
    """(regression, classification) loss of one collated batch; `model` may wrap `net`."""
    device = net.priors.device
    inputs = net.normalize(images.to(device, non_blocking=True))
    if precision.channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    matched_labels, gt_locations = matched_targets(net, boxes, labels)
    with precision.autocast(device):
        confidence, locations = model(inputs)
    return loss_fn(confidence, locations, matched_labels, gt_locations)


def train_step(model: nn.Module, net: SSD, loss_fn: MultiboxLoss, optimizer: torch.optim.Optimizer,
               images: Tensor, boxes: Tensor, labels: Tensor,
               precision: Precision = Precision()) -> StepResult:
    """One optimizer step; a non-finite loss skips the update and reports it."""
    regression, classification = batch_loss(model, net, loss_fn, images, boxes, labels, precision)
    loss = regression + classification
    optimizer.zero_grad(set_to_none=True)
    result = StepResult(float(regression.detach()), float(classification.detach()), bool(torch.isfinite(loss)))
    if not result.finite:
        return result
    if precision.scaler is not None:
        precision.scaler.scale(loss).backward()
        precision.scaler.step(optimizer)
        precision.scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return result
