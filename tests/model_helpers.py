"""An untrained net whose outputs mean something to compare, and the files a trained model comes with
(a uniquely named module: tests/ is on pytest's path through tests/conftest.py)."""
from pathlib import Path

import torch
from torch import nn

from vision.ssd import create_net


@torch.no_grad()
def lively_net(name: str, num_classes: int, resolution: int = 300, seed: int = 0, class_spread: float = 1.5,
               box_spread: float = 0.5):
    """An untrained net whose outputs vary from prior to prior and image to image, so that comparing
    two runtimes or two evaluations means something: a fresh net's signal fades, leaving nearly
    uniform scores.

    Convolutions get variance-preserving weights and no bias (a net whose signal grows instead
    amplifies rounding, and no two runtimes agree to 1e-4 on it); then each head's last convolution
    is scaled so that its outputs spread by about `class_spread` (classes) or `box_spread` (boxes)."""
    torch.manual_seed(seed)
    net = create_net(name, num_classes, resolution).eval()
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    heads = {**{head: class_spread for head in net.classification_headers},
             **{head: box_spread for head in net.regression_headers}}
    outputs = {}
    hooks = [head.register_forward_hook(lambda head, _, output: outputs.setdefault(head, output))
             for head in heads]
    net(torch.randn(2, 3, resolution, resolution))
    for hook in hooks:
        hook.remove()
    for head, spread in heads.items():
        last = [layer for layer in head.modules() if isinstance(layer, nn.Conv2d)][-1]
        last.weight.mul_(spread / outputs[head].std())
    net.is_test = True
    return net


def save_checkpoint(path, net, names: list[str], **fields) -> Path:
    """A training checkpoint in our format (it records net, labels and resolution); `fields` override
    its metadata."""
    checkpoint = {"model": net.state_dict(), "net": net.net_name, "num_classes": net.num_classes,
                  "labels": list(names), "resolution": net.resolution, "width_mult": 1.0, "epoch": 3,
                  "val_loss": 2.5, "optimizer": {}}
    checkpoint.update(fields)
    torch.save(checkpoint, path)
    return Path(path)


def write_labels(path, names: list[str]) -> Path:
    Path(path).write_text("".join(f"{name}\n" for name in names))
    return Path(path)


@torch.no_grad()
def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """A torchvision detection SSD `model` with random weights and BatchNorm statistics, so that every
    tensor of the state_dict matters, and heads scaled so that scores and boxes spread from prior to
    prior (a fresh model's nearly equal scores would make the order of detections a matter of rounding)."""
    generator = torch.Generator().manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.weight.uniform_(0.5, 1.5, generator=generator)
            layer.bias.uniform_(-0.2, 0.2, generator=generator)
            layer.running_mean.uniform_(-0.2, 0.2, generator=generator)
            layer.running_var.uniform_(0.5, 2.0, generator=generator)
        elif isinstance(layer, nn.Conv2d):  # variance-preserving: the signal neither fades nor grows
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
            if layer.bias is not None:
                layer.bias.uniform_(-0.1, 0.1, generator=generator)
    model.eval()
    size = model.transform.fixed_size[0]
    images, _ = model.transform([torch.rand(3, size, size, generator=generator)])
    features = list(model.backbone(images.tensors).values())
    for head, spread in ((model.head.classification_head, 3.0), (model.head.regression_head, 0.5)):
        for level, block in enumerate(head.module_list):
            last = [layer for layer in block.modules() if isinstance(layer, nn.Conv2d)][-1]
            last.weight.mul_(spread / block(features[level]).std())
    return model
