"""Checkpoint files: atomic writes, the earlier tools' per-epoch names, finding the newest, pruning.

A training checkpoint is a dict (FORMAT_VERSION 1) with "model" (a state_dict without wrapper
prefixes), "net", "num_classes", "labels", "resolution", "width_mult", "epoch" (epochs completed),
"samples_in_epoch" (images of the next epoch already trained on, after an interruption), "global_step"
(optimizer steps, skipped ones included), "skipped_steps", "optimizer", "scaler", "best_metric",
"val_loss", "rng", "args", "pretrained" and "format_version".
"""
import re
from pathlib import Path

import torch

from vision.utils.fileio import atomic_file

FORMAT_VERSION = 1
LAST = "checkpoint-last.pth"
BEST = "checkpoint-best.pth"
_EPOCH_FILE = re.compile(r"^(?P<net>.+)-Epoch-(?P<epoch>\d+)-Loss-(?P<loss>[0-9.eE+-]+|nan|inf)\.pth$")


def atomic_save(content, path: Path) -> None:
    """torch.save, written atomically: a crash never leaves half a checkpoint. Streamed to the file:
    serialized in memory first, the checkpoint would add its size (more while the buffer grows) to
    the peak memory of the run."""
    with atomic_file(path) as file:
        torch.save(content, file)


def non_finite_keys(state_dict: dict) -> list[str]:
    """Entries holding NaN or infinity (a BatchNorm running_var can overflow while the loss looks fine)."""
    return [key for key, value in state_dict.items()
            if value.is_floating_point() and not torch.isfinite(value).all()]


def epoch_file_name(net: str, epoch: int, val_loss: float) -> str:
    """The earlier tools' name, which jetson-inference's onnx_export.py sorts by loss."""
    return f"{net}-Epoch-{epoch}-Loss-{val_loss}.pth"


def epoch_files(model_dir: Path) -> list[tuple[Path, int, float]]:
    """(path, epoch, loss) of the per-epoch files in `model_dir`, oldest epoch first."""
    found = []
    for path in Path(model_dir).glob("*-Epoch-*-Loss-*.pth"):
        match = _EPOCH_FILE.match(path.name)
        if match:
            found.append((path, int(match["epoch"]), float(match["loss"])))
    return sorted(found, key=lambda item: item[1])


def prune_epoch_files(model_dir: Path, keep: int | None) -> None:
    """Keep the `keep` newest per-epoch files (all when keep is None)."""
    if keep is None:
        return
    files = epoch_files(model_dir)
    for path, _, _ in files[:max(len(files) - keep, 0)]:
        path.unlink()


def newest_checkpoint(model_dir: Path) -> Path | None:
    """The checkpoint to resume from in `model_dir`: checkpoint-last.pth, else the newest epoch file."""
    last = Path(model_dir) / LAST
    if last.is_file():
        return last
    files = epoch_files(model_dir)
    return files[-1][0] if files else None
