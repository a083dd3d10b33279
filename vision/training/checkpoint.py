"""Checkpoint files: atomic writes, the earlier tools' per-epoch names, finding the newest, pruning.

A training checkpoint is a dict (FORMAT_VERSION 1) with "model" (a state_dict without wrapper
prefixes), "net", "num_classes", "labels", "resolution", "width_mult", "prior_specs" (the priors' sizes
per feature map, vision/ssd/priors.specs_to_saved; fitted ones with --fit-priors), "epoch" (epochs completed),
"samples_in_epoch" (images of the next epoch already trained on, after an interruption), "global_step"
(optimizer steps, skipped ones included), "skipped_steps", "optimizer", "scaler", "best_metric" (the best
validation value so far of "best_metric_name": "AP50" or "loss", see vision/training/best.py),
"val_loss", "rng", "args", "pretrained" and "format_version". With --ema, "model" holds the average of
the weights (what validation, eval and export use) and two more keys hold what --resume continues:
"raw_model" (the weights being trained) and "ema_updates" (the average's update count).
"""
import contextlib
import fcntl
import os
import re
from pathlib import Path

import torch

from vision.errors import OptionError, first_line
from vision.ssd import has_fitted_priors
from vision.ssd.priors import specs_to_saved
from vision.ssd.weights import WeightsError
from vision.utils.fileio import atomic_file

FORMAT_VERSION = 1
LAST = "checkpoint-last.pth"
BEST = "checkpoint-best.pth"
LOCK = ".train.lock"
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


def epoch_file_content(net, args, labels: list[str]):
    """A per-epoch file: the earlier tools' plain state_dict. With fitted priors, the state_dict under
    "model" with what builds the net with its priors ("net", "num_classes", "labels", "resolution",
    "width_mult", "prior_specs"): our tools load it, and the earlier tools refuse it rather than decode
    boxes with the wrong priors."""
    if not has_fitted_priors(net):
        return net.state_dict()
    return {"model": net.state_dict(), "net": args.net, "num_classes": net.num_classes, "labels": labels,
            "resolution": args.resolution, "width_mult": args.mb2_width_mult,
            "prior_specs": specs_to_saved(net.specs)}


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
    """The checkpoint to resume from in `model_dir`: of checkpoint-last.pth and checkpoint-best.pth, the
    one furthest in training (checkpoint-last.pth when even); the newest epoch file, weights alone, only
    when neither exists. A run killed while it wrote its first checkpoint-last.pth left checkpoint-best.pth
    of the same epoch."""
    full = [path for path in (Path(model_dir) / LAST, Path(model_dir) / BEST) if path.is_file()]
    if full:
        return max(full, key=_progress)  # max keeps the first of equals
    files = epoch_files(model_dir)
    return files[-1][0] if files else None


def _progress(path: Path) -> tuple[int, int]:
    """(epochs completed, images of the next one) of a checkpoint; memory-mapped, its tensors are not read."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return content.get("epoch", -1), content.get("samples_in_epoch", 0)  # -1: weights alone
    except Exception as error:  # torch raises many types for a bad file
        raise WeightsError(f"{path}: cannot be read ({first_line(error)})") from None


@contextlib.contextmanager
def model_dir_lock(model_dir: Path):
    """Held by the run that writes `model_dir`: a second run there would overwrite its checkpoints and
    interleave train.log, so it is refused, naming the holder's pid. An flock, which the kernel releases
    when the process ends, kill -9 included: a crashed run leaves the file but not the lock."""
    with open(Path(model_dir) / LOCK, "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise OptionError(f"--model-dir {model_dir}: another training{by} is writing to it; wait for it "
                              f"to end or choose another --model-dir") from None
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
        yield
