"""The training step under the speed options: --amp (bf16 autocast on this CPU) and --channels-last give
finite gradients, also on the 1x1 maps that small resolutions give the last extras."""
import torch

import train_ssd
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd import create_net
from vision.training import checkpoint as ckpt
from vision.training.step import Precision, batch_loss, choose_precision


def test_amp_picks_bf16_on_the_cpu_and_a_grad_scaler_only_for_float16():
    cpu = torch.device("cpu")
    assert choose_precision(cpu, amp=False) == Precision()
    bf16 = choose_precision(cpu, amp=True, channels_last=True)
    assert bf16.dtype == torch.bfloat16 and bf16.scaler is None and bf16.channels_last
    fp16 = choose_precision(cpu, amp=True, amp_dtype="float16")
    assert fp16.dtype == torch.float16 and fp16.scaler is not None


def _gradients(net, precision, images, boxes, labels) -> dict:
    net.zero_grad()
    regression, classification = batch_loss(net, net, MultiboxLoss(3), images, boxes, labels, precision)
    _poison_freed_memory()
    (regression + classification).backward()
    return {name: p.grad.clone() for name, p in net.named_parameters()}


def _poison_freed_memory():
    # The kernel this guards against reads memory it never wrote: fill what the allocator hands out next.
    for size in (1_000, 4_096, 16_384, 65_536):
        torch.full((size,), float("nan"))
        torch.full((size,), float("nan"), dtype=torch.bfloat16)


def test_bf16_channels_last_gradients_are_finite_at_a_small_resolution():
    # At 160 pixels the last extra layers see 1x1 maps (feature maps 10, 5, 3, 2, 1, 1).
    torch.manual_seed(0)
    net = create_net("mb3-small-ssd-lite", 4, resolution=160).to(memory_format=torch.channels_last)
    assert net.feature_map_sizes(160)[-2:] == [1, 1]
    images = torch.randint(0, 256, (8, 3, 160, 160), dtype=torch.uint8)
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.6], [0.4, 0.3, 0.9, 0.9]]]).repeat(8, 1, 1)
    labels = torch.tensor([[1, 3]]).repeat(8, 1)
    for _ in range(3):
        gradients = _gradients(net, Precision(torch.bfloat16, channels_last=True), images, boxes, labels)
        assert not [name for name, grad in gradients.items() if not torch.isfinite(grad).all()]


def test_training_with_amp_and_channels_last_saves_finite_weights(shapes, tmp_path):
    model_dir = tmp_path / "model"
    assert train_ssd.main(["--data", str(shapes), "--model-dir", str(model_dir), "--net", "mb3-small-ssd-lite",
                           "--no-pretrained", "--resolution", "160", "--batch-size", "8", "--epochs", "1",
                           "--workers", "0", "--optimizer", "adamw", "--lr", "0.004", "--amp",
                           "--channels-last"]) == 0
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["global_step"] == 3 and not ckpt.non_finite_keys(saved["model"])
