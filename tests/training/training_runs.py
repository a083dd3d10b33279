"""Ways to run train_ssd.py in the tests: its tiny options, under torchrun with a time limit, on data with
unreadable images, stopped by SIGTERM at a chosen batch, in a process group of its own (a uniquely named
module: tests/training is on pytest's path)."""
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vision.datasets import open_dataset
from vision.training import data
from vision.training.checkpoint_files import LAST
from vision.training.data import EpochSampler

REPO = Path(__file__).resolve().parents[2]
TORCHRUN_TIMEOUT = 180
STRAIGHT = ("--epochs", "2")  # the uninterrupted run of the conftest's straight_run: 2 epochs of 3 steps


def options(data, model_dir, *extra):
    """A tiny run: mb1-ssd-lite at 128 pixels, 3 steps of 4 images per epoch, no workers."""
    return ["--data", str(data), "--model-dir", str(model_dir), "--net", "mb1-ssd-lite", "--no-pretrained",
            "--resolution", "128", "--batch-size", "4", "--max-steps-per-epoch", "3", "--workers", "0",
            "--scheduler", "multi-step", "--milestones", "1", "--seed", "7", *extra]


def final_weights(model_dir):
    return torch.load(model_dir / LAST, weights_only=True)["model"]


def torchrun(*argv: str) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --nproc_per_node=2 *argv` on the CPU (gloo). A rank that waits for
    a collective the other never enters hangs: past TORCHRUN_TIMEOUT the launcher and its workers are
    killed and the test fails."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *argv]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        out, err = process.communicate(timeout=TORCHRUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        pytest.fail(f"torchrun still running after {TORCHRUN_TIMEOUT} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def with_unreadable_images(dataset: Path, root: Path, positions: list[int], seed: int = 7) -> Path:
    """A copy of a COCO-layout `dataset` at `root` whose training images at these `positions` of epoch 0's
    shuffled order (under `seed`) are not images."""
    shutil.copytree(dataset, root)
    train = open_dataset(root, "train")
    order = list(EpochSampler(len(train), seed))
    for position in positions:
        train.image_path(order[position]).write_bytes(b"not an image")
    return root


def sigterm_at_batch(monkeypatch, number: int) -> None:
    """Send this process SIGTERM while the `number`-th batch (1 for the first) is collated: in the
    middle of a step, with --workers 0."""
    collate, calls = data.collate_samples, [0]

    def collate_and_signal(samples):
        calls[0] += 1
        if calls[0] == number:
            signal.raise_signal(signal.SIGTERM)
        return collate(samples)

    monkeypatch.setattr(data, "collate_samples", collate_and_signal)


def start_in_own_group(argv: list[str], until: str) -> tuple[subprocess.Popen, str]:
    """`python train_ssd.py *argv` in a session (process group) of its own, as a terminal, systemd or Slurm
    starts it, once its stderr has matched the regular expression `until`; and that stderr so far."""
    process = subprocess.Popen([sys.executable, "train_ssd.py", *argv], cwd=REPO, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    seen = ""
    while not re.search(until, seen):
        character = process.stderr.read(1)
        if not character:
            pytest.fail(f"train_ssd.py ended before {until!r}:\n{seen[-3000:]}")
        seen += character
    return process, seen


def group_members(process: subprocess.Popen) -> list[str]:
    """The processes still in `process`'s group (its session's), by pid."""
    return subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True).stdout.split()
