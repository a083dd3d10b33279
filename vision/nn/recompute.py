"""Blocks whose cheap first convolution is recomputed in the backward pass instead of kept in memory.

In training, a batch norm keeps its input (the convolution's output) until the backward pass: for a
depthwise 3x3 convolution, or one that reads the 3 image channels, that is as much memory as its output
while recomputing it costs a few multiply-adds per value. The weights, running statistics and gradients
are the same, bit for bit, as without the recomputation."""
import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class RecomputedConvBN(nn.Sequential):
    """nn.Sequential(conv, BatchNorm2d, ...) (same layers, same state_dict keys) whose batch norm's input
    is recomputed from the block's input in the backward pass of a training step."""

    def _get_name(self) -> str:
        return "Sequential"  # printed as the earlier tools' layout (tests/test_nets.py compares it)

    def forward(self, x: Tensor) -> Tensor:
        conv, norm, *rest = self
        if not (self.training and torch.is_grad_enabled() and _recomputable(norm)):
            return super().forward(x)  # evaluation, or a batch norm another kind has replaced (SyncBatchNorm)
        norm.num_batches_tracked.add_(1)  # what norm.forward would count, once
        recompute = _Recompute()
        x = checkpoint(recompute.conv_bn, x, conv, norm, use_reentrant=False, preserve_rng_state=False,
                       context_fn=lambda: (contextlib.nullcontext(), recompute.again()))
        for layer in rest:
            x = layer(x)
        return x


def _recomputable(norm: nn.Module) -> bool:
    return type(norm) is nn.BatchNorm2d and norm.track_running_stats and norm.momentum is not None


class _Recompute:
    """The block's convolution and batch norm; run again (in the backward pass) with momentum 0, so that
    the running statistics are updated once, by the forward pass (x + 0 * y is x), while the same
    tensors are saved for the backward pass."""

    def __init__(self):
        self.momentum_factor = 1.0

    def conv_bn(self, x: Tensor, conv: nn.Module, norm: nn.BatchNorm2d) -> Tensor:
        return F.batch_norm(conv(x), norm.running_mean, norm.running_var, norm.weight, norm.bias, True,
                            norm.momentum * self.momentum_factor, norm.eps)

    @contextlib.contextmanager
    def again(self):
        self.momentum_factor = 0.0
        try:
            yield
        finally:
            self.momentum_factor = 1.0
