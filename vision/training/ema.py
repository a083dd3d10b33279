"""--ema: an exponential moving average of the weights (BatchNorm statistics included), as torchvision's
references and YOLO keep one. It is updated after each optimizer step taken, and it is what the run
validates and saves as its model; the weights being trained are saved beside it for --resume."""
import logging
import math

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

log = logging.getLogger("train_ssd")

# YOLO's warm-up of the decay: d = decay * (1 - exp(-updates / WARMUP_UPDATES)). Early on, when the
# weights move fast, the average follows them; from about 100 updates on it averages over about
# 1 / (1 - decay) of them. On raccoon from scratch (240 steps), decay 0.99 with 20 here raised the last
# checkpoint's AP50 by 0.12 over the trained weights; 0.999 with 100 here (a window of ~11 steps at the
# end) changed nothing. On 12-48 px objects after 400 steps it gave AP50 0 (the averaged batch-norm
# statistics trail fast-moving weights), so no recipe turns it on (vision/training/recipes.py).
WARMUP_UPDATES = 20


class WeightAverage:
    """The average of `net`'s parameters and buffers, in `module` (a copy of `net`)."""

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self._step_decay = 0.0  # this update's, computed once per update rather than once per tensor
        self._averaged = AveragedModel(net, avg_fn=self._average, use_buffers=True)

    @property
    def module(self) -> nn.Module:
        return self._averaged.module

    @property
    def updates(self) -> int:
        return int(self._averaged.n_averaged)

    def decay_at(self, updates: int) -> float:
        return self.decay * (1 - math.exp(-updates / WARMUP_UPDATES))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """After an optimizer step; the first update copies `net`."""
        self._step_decay = self.decay_at(self.updates + 1)
        self._averaged.update_parameters(net)

    def _average(self, averaged: Tensor, current: Tensor, _count: Tensor) -> Tensor:
        if not averaged.is_floating_point():  # BatchNorm's num_batches_tracked: a count, taken as it is
            return current
        return averaged.lerp(current, 1 - self._step_decay)

    def restore(self, weights: dict, updates: int) -> None:
        self.module.load_state_dict(weights)
        self._averaged.n_averaged.fill_(updates)


def start(net: nn.Module, decay: float | None, resume: dict | None) -> WeightAverage | None:
    """The run's average with --ema, of the given `decay` (None without --ema): a resumed run's as it was
    saved, else a new one that starts from `net`'s weights at the first step."""
    saved = resume is not None and "ema_updates" in resume
    if decay is None:
        if saved:
            log.info("resuming without --ema: training continues from the checkpoint's raw weights; their "
                     "average is dropped")
        return None
    average = WeightAverage(net, decay)
    log.info("--ema: validating and saving an exponential moving average of the weights, decay %g warmed up "
             "as %g * (1 - exp(-updates / %d))", decay, decay, WARMUP_UPDATES)
    if saved:
        average.restore(resume["model"], resume["ema_updates"])
    elif resume is not None:
        log.info("--ema on a run saved without it: the average starts from the resumed weights")
    return average
