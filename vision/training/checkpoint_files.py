"""The names of the checkpoint files in a --model-dir, and finding them by name: checkpoint-last.pth (what
--resume continues), checkpoint-best.pth (the best validation so far, vision/training/best.py) and the earlier
tools' per-epoch files, <net>-Epoch-<N>-Loss-<val_loss>.pth. Their content is vision/training/checkpoint.py's.

Kept free of torch: onnx_export.py picks its checkpoint here before torch's slow import.
"""
import math
import re
from pathlib import Path
from typing import NamedTuple

LAST = "checkpoint-last.pth"
BEST = "checkpoint-best.pth"
LOCK = ".train.lock"
_EPOCH_FILE = re.compile(r"^(?P<net>.+)-Epoch-(?P<epoch>\d+)-Loss-(?P<loss>[0-9.eE+-]+|nan|inf)\.pth$")


class EpochFile(NamedTuple):
    path: Path
    epoch: int
    loss: float  # the validation loss in the name


def epoch_file_name(net: str, epoch: int, val_loss: float) -> str:
    """The earlier tools' name, which jetson-inference's onnx_export.py sorts by loss."""
    return f"{net}-Epoch-{epoch}-Loss-{val_loss}.pth"


def epoch_files(model_dir: Path | str) -> list[EpochFile]:
    """The per-epoch files in `model_dir`, oldest epoch first."""
    found = []
    for path in Path(model_dir).glob("*-Epoch-*-Loss-*.pth"):
        match = _EPOCH_FILE.match(path.name)
        loss = _number(match["loss"]) if match else None
        if loss is not None:
            found.append(EpochFile(path, int(match["epoch"]), loss))
    return sorted(found, key=lambda file: file.epoch)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "1.2.3" has the pattern's characters
        return None


def best_checkpoint(model_dir: Path | str) -> Path | None:
    """The model a run's directory offers (onnx_export.py --model-dir exports it): checkpoint-best.pth, else
    the per-epoch file with the lowest finite validation loss; None when there is neither."""
    best = Path(model_dir) / BEST
    if best.is_file():
        return best
    finite = [file for file in epoch_files(model_dir) if math.isfinite(file.loss)]
    return min(finite, key=lambda file: file.loss).path if finite else None


def prune_epoch_files(model_dir: Path, keep: int | None) -> None:
    """Keep the `keep` newest per-epoch files (all when keep is None)."""
    if keep is None:
        return
    files = epoch_files(model_dir)
    for file in files[:max(len(files) - keep, 0)]:
        file.path.unlink()
