"""Multi-GPU and multi-node training under torchrun (DistributedDataParallel).

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; without them everything here is a no-op. NCCL on
GPUs, gloo on the CPU. Rank 0 logs and writes files; every rank trains on its own shard.
"""
import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vision.errors import OptionError


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def start(device_type: str) -> tuple[Group, torch.device | None]:
    """Join the process group when launched by torchrun; returns the group and this rank's device
    (None: not under torchrun, the caller's device stands)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Group(), None
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = device_type == "cuda"
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return Group(dist.get_rank(), world, local_rank), device


def use_sync_bn(net: nn.Module, device: torch.device) -> None:
    """Replace the net's BatchNorm layers by SyncBatchNorm (in place), which needs NCCL."""
    if device.type != "cuda":
        raise OptionError("--sync-bn needs CUDA GPUs (NCCL); gloo on the CPU has no SyncBatchNorm")
    for name, child in net.named_children():
        setattr(net, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))


def wrap(model: nn.Module, group: Group, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` when more than one process trains."""
    if not group.active:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def gradient_sync(model: nn.Module, sync: bool):
    """The context of one forward and backward: DDP all-reduces the gradients only when `sync` (the last
    micro-batch of an optimizer step); otherwise they only add up on this rank (model.no_sync())."""
    if sync or not isinstance(model, DistributedDataParallel):
        return contextlib.nullcontext()
    return model.no_sync()


def sum_across(values: list[float], group: Group, device: torch.device) -> list[float]:
    """Element-wise sum of `values` over all ranks."""
    if not group.active:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def every_rank(flag: bool, group: Group, device: torch.device) -> bool:
    """Whether `flag` holds on every rank: how the ranks agree to skip a step together, since each must
    enter the same collectives (DDP's forward broadcasts buffers, its backward all-reduces gradients)."""
    return sum_across([float(not flag)], group, device)[0] == 0


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
