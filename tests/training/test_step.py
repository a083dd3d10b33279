"""The training step under the speed options: --amp picks what the device computes natively; bf16 autocast
and channels-last give finite gradients, also on the 1x1 maps that small resolutions give the last extras;
the step ends each phase with a lap for bench/train_step.py."""
import os
import subprocess
import sys

import pytest
import torch

import train_ssd
from vision.datasets import Sample, collate_samples
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd import create_net
from vision.training import checkpoint as ckpt
from vision.training.precision import Precision, choose_precision
from vision.training.step import PHASES, batch_loss, train_step

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cpu_with(monkeypatch, bf16_instructions: bool, kernels: str = "AVX512"):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16_instructions)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: kernels)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)


def test_amp_uses_bf16_on_a_cpu_with_bf16_instructions_and_a_grad_scaler_only_for_float16(monkeypatch):
    _cpu_with(monkeypatch, bf16_instructions=True)
    cpu = torch.device("cpu")
    assert choose_precision(cpu, amp=False) == Precision(channels_last=True)
    bf16 = choose_precision(cpu, amp=True, channels_last=False)
    assert bf16 == Precision(torch.bfloat16, None, channels_last=False)
    fp16 = choose_precision(cpu, amp=True, amp_dtype="float16")
    assert fp16.dtype == torch.float16 and fp16.scaler is not None


@pytest.mark.parametrize("bf16_instructions, kernels", [(False, "AVX512"), (True, "AVX2"), (False, "DEFAULT")])
def test_amp_trains_in_float32_on_a_cpu_without_native_bf16_and_says_so(monkeypatch, caplog, bf16_instructions,
                                                                          kernels):
    _cpu_with(monkeypatch, bf16_instructions, kernels)
    assert choose_precision(torch.device("cpu"), amp=True) == Precision(channels_last=True)
    assert "--amp: no native reduced precision on" in caplog.text and f"PyTorch kernels {kernels}" in caplog.text
    caplog.clear()
    forced = choose_precision(torch.device("cpu"), amp=True, amp_dtype="bfloat16")
    assert forced.dtype == torch.bfloat16 and "--amp-dtype bfloat16 is not native" in caplog.text


def test_pytorch_kernels_limited_to_avx2_turn_native_bf16_off():
    # ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA make any x86 CPU compute as an AVX2 one does.
    code = ("import torch; from vision.training.precision import cpu_has_native_bf16, choose_precision; "
            "print(cpu_has_native_bf16(), choose_precision(torch.device('cpu'), amp=True).dtype)")
    environment = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                            cwd=REPO, timeout=120)
    assert result.stdout.split() == ["False", "None"], result.stderr


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
@pytest.mark.parametrize("capability, dtype", [
    ((8, 7), torch.bfloat16), ((9, 0), torch.bfloat16),  # Jetson Orin, H100
    ((7, 2), torch.float16), ((7, 5), torch.float16), ((5, 3), torch.float16),  # Xavier, Turing, Nano
    ((6, 1), None), ((5, 2), None),  # Pascal and Maxwell desktop GPUs: fp16 at a fraction of fp32's rate
])
def test_amp_on_cuda_follows_the_compute_capability(monkeypatch, capability, dtype):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a GPU")
    precision = choose_precision(torch.device("cuda"), amp=True)
    assert precision.dtype == dtype and (precision.scaler is not None) == (dtype == torch.float16)
    assert not precision.channels_last  # no CUDA figure decided it yet


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


def test_the_step_ends_each_phase_with_a_lap_in_order():
    """Two micro-batches: the phases up to the backward for each, then the optimizer step once."""
    torch.manual_seed(0)
    net = create_net("mb1-ssd-lite", 4, resolution=128).train()
    batch = collate_samples([Sample(torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8),
                                    torch.tensor([[0.1, 0.1, 0.5, 0.6]]), torch.tensor([2]), index, (128, 128))
                             for index in range(2)])
    laps = []
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    assert train_step(net, net, MultiboxLoss(3), optimizer, [batch, batch], lap=laps.append).taken
    assert PHASES[-1] == "step" and laps == [*PHASES[:-1], *PHASES[:-1], "step"]
