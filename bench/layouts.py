"""Channels-last and --amp for every net: the CPU time of one training step, side by side in one run.

    python3 bench/layouts.py [--batch-size 8] [--nets mb1-ssd ...] [--rounds 3]

Each net trains from the same weights on the same random batch (300 x 300, two boxes per image) in
four variants: float32 channels-first, float32 channels-last, --amp, --amp channels-last (--amp as
train_ssd.py picks it: float32 where the CPU has no native bf16). Variants take turns for --rounds;
the first round is a warm-up, and each variant's least CPU time of the others is reported (one torch
thread, so CPU time is the step's own work even on a shared machine). The first line says which CPU
it is; ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 limit PyTorch to its AVX2 kernels.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runs from a checkout, installed or not
from vision.datasets import Batch  # noqa: E402
from vision.nn.multibox_loss import MultiboxLoss  # noqa: E402
from vision.ssd import NET_NAMES, create_net  # noqa: E402
from vision.training.precision import Precision, choose_precision, describe_device  # noqa: E402
from vision.training.step import train_step  # noqa: E402

RESOLUTION = 300


def random_batch(size: int) -> Batch:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (size, 3, RESOLUTION, RESOLUTION), dtype=torch.uint8)
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.6], [0.4, 0.3, 0.9, 0.9]]]).repeat(size, 1, 1)
    labels = torch.tensor([[1, 3]]).repeat(size, 1)
    return Batch(images, boxes, labels, torch.arange(size), torch.full((size, 2), RESOLUTION), skipped=0)


def step_seconds(name: str, variants: dict[str, Precision], batch: Batch, rounds: int) -> dict[str, float]:
    """The least CPU seconds of one training step of each variant, after a warm-up round."""
    trained = {}
    for label, precision in variants.items():
        torch.manual_seed(0)
        net = create_net(name, 4, resolution=RESOLUTION)
        if precision.channels_last:
            net.to(memory_format=torch.channels_last)
        trained[label] = net, torch.optim.SGD(net.parameters(), lr=0.001)
    best = {}
    for round_index in range(rounds):
        for label, precision in variants.items():
            net, optimizer = trained[label]
            started = time.process_time()
            train_step(net, net, MultiboxLoss(3), optimizer, [batch], precision)
            seconds = time.process_time() - started
            if round_index:
                best[label] = min(best.get(label, seconds), seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--nets", nargs="+", default=list(NET_NAMES), choices=NET_NAMES)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    print(f"{describe_device(cpu)}; batch {args.batch_size}, {RESOLUTION} x {RESOLUTION}, one thread")
    amp = choose_precision(cpu, True).dtype
    variants = {"float32": Precision(), "channels-last": Precision(channels_last=True),
                "--amp": Precision(amp), "--amp channels-last": Precision(amp, channels_last=True)}
    print(f"{'net':20}" + "".join(f"{label:>24}" for label in variants))
    batch = random_batch(args.batch_size)
    for name in args.nets:
        seconds = step_seconds(name, variants, batch, args.rounds)
        base = seconds["float32"]
        print(f"{name:20}" + "".join(f"{value:>15.2f} s {base / value:4.2f}x" for value in seconds.values()),
              flush=True)


if __name__ == "__main__":
    main()
