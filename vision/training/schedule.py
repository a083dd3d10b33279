"""Optimizer parameter groups and the learning-rate schedule.

The schedule is a pure function of the global step, so resuming needs only the step count, and a
resumed run with another --epochs simply follows the schedule for the new total.
"""
import math
from dataclasses import dataclass
from itertools import chain

import torch
from torch import nn


def parameter_groups(net: nn.Module, lr: float, base_net_lr: float, extra_layers_lr: float,
                     freeze_base_net: bool = False, freeze_net: bool = False) -> list[dict]:
    """The earlier tools' groups: base net, extras (and add-ons), heads; frozen parts left out.

    Extras are all parameters outside the base net and the heads (extra layers, source-layer add-ons,
    ssd300-vgg16's L2Norm scale), whatever the layout names them."""
    heads = list(chain(net.regression_headers.parameters(), net.classification_headers.parameters()))
    taken = {id(parameter) for parameter in chain(heads, net.base_net.parameters())}
    # Add-ons first, then extra layers: the order of the earlier groups, which resumed optimizers keep.
    add_ons = getattr(net, "source_layer_add_ons", nn.ModuleList())
    extras = []
    for parameter in chain(add_ons.parameters(), net.extras.parameters(), net.parameters()):
        if id(parameter) not in taken:
            taken.add(id(parameter))
            extras.append(parameter)
    if freeze_base_net or freeze_net:
        net.base_net.requires_grad_(False)
    if freeze_net:
        for parameter in extras:
            parameter.requires_grad_(False)
    groups = [{"params": heads, "lr": lr, "name": "heads"}]
    if not freeze_net:
        groups.insert(0, {"params": extras, "lr": extra_layers_lr, "name": "extras"})
    if not (freeze_base_net or freeze_net):
        groups.insert(0, {"params": list(net.base_net.parameters()), "lr": base_net_lr, "name": "base_net"})
    for group in groups:
        group["base_lr"] = group["lr"]
    return groups


def build_optimizer(name: str, groups: list[dict], lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def lr_factor(epoch: float, scheduler: str, t_max: float, milestones: list[int], gamma: float,
              warmup_epochs: float) -> float:
    """Multiplier of each group's base learning rate at a (fractional) epoch."""
    if scheduler == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * min(epoch, t_max) / t_max))
    elif scheduler == "multi-step":
        factor = gamma ** sum(epoch >= milestone for milestone in milestones)
    else:
        factor = 1.0
    if warmup_epochs > 0 and epoch < warmup_epochs:
        factor *= (epoch + 1e-3) / warmup_epochs
    return factor


@dataclass(frozen=True)
class Schedule:
    """--scheduler and its options; t_max in epochs."""
    scheduler: str
    t_max: float
    milestones: list[int]
    gamma: float
    warmup_epochs: float

    def factor(self, epoch: float) -> float:
        return lr_factor(epoch, self.scheduler, self.t_max, self.milestones, self.gamma, self.warmup_epochs)


# The options that set these keys of the parameter groups.
GROUP_KEYS = {"lr": "base_lr", "base_net_lr": "base_lr", "extra_layers_lr": "base_lr", "momentum": "momentum",
              "weight_decay": "weight_decay"}


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, given: set[str]) -> None:
    """Resuming restores the optimizer's settings; those of the options in `given` (given on the command
    line) keep the values they have now."""
    fresh = [dict(group) for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    keys = {GROUP_KEYS[name] for name in given if name in GROUP_KEYS}
    for group, new in zip(optimizer.param_groups, fresh):
        for key in keys & new.keys():
            group[key] = new[key]


def set_learning_rate(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
