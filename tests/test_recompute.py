"""RecomputedConvBN (mb1-ssd's base net): the same training, bit for bit, with less memory kept for the
backward pass."""
import copy

import torch
from torch import nn

from vision.nn.multibox_loss import MultiboxLoss
from vision.nn.recompute import RecomputedConvBN
from vision.ssd import create_net
from vision.training.step import batch_loss

RESOLUTION = 128


def plain(net: nn.Module) -> nn.Module:
    """A copy of `net` whose blocks are plain nn.Sequential: nothing recomputed."""
    copied = copy.deepcopy(net)
    for module in copied.modules():
        if isinstance(module, RecomputedConvBN):
            module.__class__ = nn.Sequential
    return copied


def batch(seed: int):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (2, 3, RESOLUTION, RESOLUTION), dtype=torch.uint8, generator=generator)
    boxes = torch.tensor([[[0.1, 0.2, 0.6, 0.7], [0.4, 0.1, 0.9, 0.5]]] * 2)
    return images, boxes, torch.tensor([[1, 2], [2, 1]])


def train(net: nn.Module, steps: int, channels_last: bool = False) -> dict:
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        optimizer.zero_grad()
        regression, classification = batch_loss(net, net, MultiboxLoss(neg_pos_ratio=3), *batch(step))
        (regression + classification).backward()
        optimizer.step()
    return net.state_dict()


def test_mb1_ssd_recomputes_its_depthwise_blocks():
    net = create_net("mb1-ssd", 3, RESOLUTION)
    assert sum(isinstance(module, RecomputedConvBN) for module in net.modules()) == 14  # stem + 13 blocks


def test_training_is_bit_identical_with_recomputation():
    torch.manual_seed(0)
    net = create_net("mb1-ssd", 3, RESOLUTION).train()
    reference = plain(net)
    for channels_last in (False, True):
        ours, theirs = train(copy.deepcopy(net), 3, channels_last), train(copy.deepcopy(reference), 3, channels_last)
        assert ours.keys() == theirs.keys()
        for key in ours:  # weights, running statistics and num_batches_tracked
            assert torch.equal(ours[key], theirs[key]), key


def saved_bytes(net: nn.Module) -> int:
    """Bytes of the activations a training forward pass keeps for the backward pass (each storage once;
    the weights and running statistics, which stay in memory anyway, left out)."""
    state = {tensor.untyped_storage().data_ptr() for tensor in net.state_dict().values()}
    storages = {}

    def keep(tensor):
        if tensor.untyped_storage().data_ptr() not in state:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        regression, classification = batch_loss(net, net, MultiboxLoss(neg_pos_ratio=3), *batch(0))
    (regression + classification).backward()  # recomputes, and the result is usable
    return sum(storages.values())


def test_recomputation_keeps_less_for_the_backward_pass():
    net = create_net("mb1-ssd", 3, RESOLUTION).train()
    ours, theirs = saved_bytes(net), saved_bytes(plain(net))
    assert ours < 0.8 * theirs, (ours, theirs)


def test_evaluation_and_no_grad_run_the_plain_layers():
    net = create_net("mb1-ssd", 3, RESOLUTION)
    images = torch.rand(1, 3, RESOLUTION, RESOLUTION)
    with torch.no_grad():
        trained = net.train()(images)
        assert all(torch.equal(a, b) for a, b in zip(trained, plain(net).train()(images)))
    assert all(torch.equal(a, b) for a, b in zip(net.eval()(images), plain(net).eval()(images)))
