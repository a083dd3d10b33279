"""What a training run keeps in memory: its data workers, and the low-memory recipe of docs/training.md (bench/memory.py
measures that recipe; here it runs for two steps, so that it cannot rot)."""
import logging
import os
import time
from pathlib import Path

import pytest

import train_ssd
from bench.memory import children, low_memory_recipe
from vision.training import loop

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")


def options(data, model_dir, *extra):
    return ["--data", str(data), "--model-dir", str(model_dir), "--net", "mb1-ssd-lite", "--no-pretrained",
            "--resolution", "128", "--batch-size", "4", "--max-steps-per-epoch", "2", "--workers", "2",
            "--seed", "7", *extra]


def live_children() -> set[int]:
    """This process's children that have not exited (a zombie is one that has not been waited for)."""
    return {pid for pid in children(os.getpid()) if _state(pid) not in ("Z", "gone")}


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


class OnMessages(logging.Handler):
    """Calls `action` whenever train_ssd logs a message that contains one of `texts`."""

    def __init__(self, texts: tuple[str, ...], action):
        super().__init__()
        self.texts, self.action = texts, action

    def emit(self, record):
        if any(text in record.getMessage() for text in self.texts):
            self.action()


def test_training_workers_fork_before_the_net_exists(shapes, tmp_path, monkeypatch):
    """A worker keeps its copy of every page the main process writes after the fork: forked after the net,
    each worker would hold stale weights and optimizer state for the whole run."""
    earlier = live_children()
    workers_at_build = []
    build_net = loop.build_net

    def counting_build_net(*args, **kwargs):
        workers_at_build.append(len(live_children() - earlier))
        return build_net(*args, **kwargs)

    monkeypatch.setattr(loop, "build_net", counting_build_net)
    assert train_ssd.main(options(shapes, tmp_path / "model", "--epochs", "1")) == 0
    assert workers_at_build == [2]


def test_validation_workers_exit_with_validation_and_training_workers_live_through_the_run(shapes, tmp_path):
    earlier = live_children()
    seen = []  # the live workers after each validation loss and each mAP
    handler = OnMessages(("validation loss", "validation COCO AP"), lambda: seen.append(live_children() - earlier))
    logger = logging.getLogger("train_ssd")
    logger.addHandler(handler)
    try:
        assert train_ssd.main(options(shapes, tmp_path / "model", "--epochs", "2", "--validation-mean-ap")) == 0
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 4
    assert len(seen[0]) == 2 and all(workers == seen[0] for workers in seen)  # the same two, never restarted
    assert exited(seen[0])  # and they exit with the run


def exited(workers: set[int], seconds: float = 15) -> bool:
    """Whether `workers` exit within `seconds`: a loaded machine can delay a worker's exit past
    DataLoader's 5 s join, whose SIGTERM fallback the workers ignore (they leave stopping to the run)."""
    deadline = time.monotonic() + seconds
    while workers & live_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not workers & live_children()


def test_documented_low_memory_recipe_trains(shapes, tmp_path):
    """The documented recipe as written, with the test's data, model directory and run length (argparse keeps
    an option's last value), on the CPU."""
    recipe = low_memory_recipe()
    assert recipe[:2] == ["--data=data/fruit", "--model-dir=models/fruit"]  # what the test replaces
    argv = [*recipe, "--data", str(shapes), "--model-dir", str(tmp_path / "model"), "--epochs", "1",
            "--max-steps-per-epoch", "2", "--no-pretrained", "--device", "cpu"]
    assert train_ssd.main(argv) == 0
    assert (tmp_path / "model" / "checkpoint-last.pth").is_file()
