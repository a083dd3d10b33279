"""One training step, the only place that runs one: device-side normalization, batched matching,
forward (under autocast when mixed precision is on), MultiBox loss, backward (for each micro-batch of
the step), optimizer step. A `lap` callback, when given, is called with each phase's name as the phase
ends (bench/train_step.py times them)."""
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vision.datasets import Batch
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd.ssd import SSD
from vision.training import distributed
from vision.training.distributed import Group
from vision.training.precision import Precision
from vision.utils import box_utils

PHASES = ("normalize", "matching", "forward", "loss", "backward", "step")
Lap = Callable[[str], None]


def no_lap(phase: str) -> None:
    """The phase callback of a step that nobody times."""


@dataclass
class StepResult:
    """The step's losses (means over its micro-batches), and why no optimizer step was taken, if so: on
    some rank a micro-batch held too few readable images (`empty`, no loss then: none, or one where the
    net needs two, see smallest_batch) or its loss was not finite."""
    regression_loss: float
    classification_loss: float
    finite: bool = True
    empty: bool = False

    @property
    def loss(self) -> float:
        return self.regression_loss + self.classification_loss

    @property
    def taken(self) -> bool:
        return self.finite and not self.empty


@torch.no_grad()
def smallest_batch(net: SSD, resolution: int) -> int:
    """The fewest images a training batch of `net` can hold: 2 when a batch norm reads a 1x1 feature map
    (in training it cannot normalize a single value per channel), else 1. Found by a forward pass of one
    image in eval mode, which leaves the running statistics as they are."""
    areas = []
    hooks = [module.register_forward_pre_hook(lambda _, inputs: areas.append(inputs[0][0, 0].numel()))
             for module in net.modules() if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm))]
    was_training = net.training
    net.eval()
    try:
        net(torch.zeros(1, 3, resolution, resolution, device=net.priors.device))
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    return 2 if 1 in areas else 1


def matched_targets(net: SSD, boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Labels [B,N] and encoded locations [B,N,4] for padded targets, matched on the net's device in
    float32 (also under autocast)."""
    device = net.priors.device
    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        matched_labels, matched_boxes = box_utils.match_priors(
            boxes.to(device, non_blocking=True).float(), labels.to(device, non_blocking=True), net.priors)
        return matched_labels, box_utils.encode(matched_boxes, net.priors)


def batch_loss(model: nn.Module, net: SSD, loss_fn: MultiboxLoss, images: Tensor, boxes: Tensor,
               labels: Tensor, precision: Precision = Precision(), lap: Lap = no_lap) -> tuple[Tensor, Tensor]:
    """(regression, classification) loss of one collated batch; `model` may wrap `net`."""
    device = net.priors.device
    inputs = net.normalize(images.to(device, non_blocking=True))
    if precision.channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    lap("normalize")
    matched_labels, gt_locations = matched_targets(net, boxes, labels)
    lap("matching")
    with precision.autocast(device):
        confidence, locations = model(inputs)
    lap("forward")
    losses = loss_fn(confidence, locations, matched_labels, gt_locations)
    lap("loss")
    return losses


def train_step(model: nn.Module, net: SSD, loss_fn: MultiboxLoss, optimizer: torch.optim.Optimizer,
               batches: Sequence[Batch], precision: Precision = Precision(),
               group: Group = Group(), min_images: int = 1, lap: Lap = no_lap) -> StepResult:
    """One optimizer step on the gradients of `batches`, micro-batches whose losses are each divided by
    their count, so that N batches of B images step as one batch of N x B would (batch norm sees B
    images at a time). Under DDP the gradients are all-reduced once, in the last backward. Every rank takes the step
    or none does: a micro-batch with fewer than `min_images` readable images (see smallest_batch) or
    with a loss that is not finite, on any rank, skips it on all (and is reported)."""
    device = net.priors.device
    optimizer.zero_grad(set_to_none=True)  # also drops what a skipped step had accumulated
    # The ranks agree before DDP's forward, which broadcasts buffers, and again before each backward.
    if not distributed.every_rank(all(len(batch.images) >= min_images for batch in batches), group, device):
        return StepResult(math.nan, math.nan, empty=True)
    losses = []  # (regression, classification) of each micro-batch, for the log
    for index, batch in enumerate(batches):
        with distributed.gradient_sync(model, index == len(batches) - 1):
            regression, classification = batch_loss(model, net, loss_fn, batch.images, batch.boxes,
                                                    batch.labels, precision, lap)
            losses.append((float(regression.detach()), float(classification.detach())))
            loss = (regression + classification) / len(batches)
            if not distributed.every_rank(bool(torch.isfinite(loss)), group, device):
                return _mean(losses, finite=False)
            (precision.scaler.scale(loss) if precision.scaler else loss).backward()
            lap("backward")
    if precision.scaler is not None:
        precision.scaler.step(optimizer)
        precision.scaler.update()
    else:
        optimizer.step()
    lap("step")
    return _mean(losses)


def _mean(losses: list[tuple[float, float]], finite: bool = True) -> StepResult:
    """The micro-batches' mean (regression, classification) losses."""
    return StepResult(sum(regression for regression, _ in losses) / len(losses),
                      sum(classification for _, classification in losses) / len(losses), finite)
