"""What the training device computes fast, and the precision and memory layout a run uses there.

--amp uses a reduced precision only where the device computes it natively: bf16 on CPUs with
AVX512-BF16 or AMX (elsewhere PyTorch emulates it, many times slower than float32), bf16 on GPUs from
compute capability 8.0 (Ampere, Jetson Orin), fp16 with a grad scaler on GPUs with fast fp16 below it
(Jetson Nano, TX2, Xavier, Volta, Turing). Channels-last is the default on CPUs, where every net trains
faster with it (bench/train_step.py; figures in docs/results.md).
"""
import contextlib
import logging
import os
import platform
from dataclasses import dataclass

import torch

log = logging.getLogger("train_ssd")
# Compute capabilities below 7.0 whose fp16 arithmetic is full rate: P100, Jetson Nano (5.3), TX2 (6.2).
FAST_FP16_BEFORE_VOLTA = {(5, 3), (6, 0), (6, 2)}


@dataclass
class Precision:
    """Mixed precision: the autocast dtype (None for float32) and, for float16, a grad scaler."""
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    channels_last: bool = False

    def __str__(self) -> str:
        dtype = "float32" if self.dtype is None else f"autocast {str(self.dtype).removeprefix('torch.')}"
        scaler = " with a grad scaler" if self.scaler else ""
        return f"{dtype}{scaler}, {'channels-last' if self.channels_last else 'channels-first'}"

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX) and PyTorch's kernels may use them:
    its dispatch level is AVX512 and oneDNN takes bf16 (ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA
    can lower both)."""
    instructions = _cpu_check("_is_avx512_bf16_supported") or _cpu_check("_is_amx_tile_supported")
    return (instructions and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
            and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _cpu_check(name: str) -> bool:
    check = getattr(torch.cpu, name, None)  # absent from the older PyTorch of Jetson wheels
    return bool(check and check())


def native_amp_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision the device computes natively, None where only float32 is fast."""
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        if capability >= (8, 0):
            return torch.bfloat16
        return torch.float16 if capability >= (7, 0) or capability in FAST_FP16_BEFORE_VOLTA else None
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def describe_device(device: torch.device) -> str:
    """What the device is, in the terms that decide its precision."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)}, compute capability {major}.{minor}"
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{_cpu_model()}, {os.cpu_count()} CPUs, PyTorch kernels {torch.backends.cpu.get_cpu_capability()}, {bf16}"


def _cpu_model() -> str:
    """The CPU's name as lscpu shows it (Linux), else the platform's word for it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or "CPU"


def default_channels_last(device: torch.device) -> bool:
    """On for CPUs (faster for every net, with and without native bf16); off on CUDA, where no figure
    was measured yet (depthwise convolutions are not always faster in NHWC there)."""
    return device.type == "cpu"


def choose_precision(device: torch.device, amp: bool, amp_dtype: str | None = None,
                     channels_last: bool | None = None) -> Precision:
    """The run's precision: float32 unless `amp` and the device computes a reduced precision natively;
    `amp_dtype` ("bfloat16"/"float16") forces one, with a warning where it is not native."""
    if channels_last is None:
        channels_last = default_channels_last(device)
    if not amp:
        return Precision(channels_last=channels_last)
    native = native_amp_dtype(device)
    if amp_dtype:
        dtype = getattr(torch, amp_dtype)
        if dtype != native:
            log.warning("--amp-dtype %s is not native on %s: expect it to be slower than float32",
                        amp_dtype, describe_device(device))
    elif native is None:
        log.warning("--amp: no native reduced precision on %s; training in float32", describe_device(device))
        return Precision(channels_last=channels_last)
    else:
        dtype = native
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    return Precision(dtype, scaler, channels_last)
