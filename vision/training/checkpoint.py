"""The training checkpoint: what it holds, building it, reading it to resume, the random state it restores;
atomic writes and the per-epoch files. The files' names, and finding them by name, are in checkpoint_files.py.

A training checkpoint is a dict (FORMAT_VERSION 1) with "model" (a state_dict without wrapper
prefixes), "net", "num_classes", "labels", "resolution", "width_mult", "prior_specs" (the priors' sizes
per feature map, vision/ssd/priors.specs_to_saved; fitted ones with --fit-priors), "epoch" (epochs completed),
"samples_in_epoch" (images of the next epoch already trained on, after an interruption), "global_step"
(optimizer steps, skipped ones included), "skipped_steps", "optimizer", "scaler", "best_metric" (the best
validation value so far of "best_metric_name": "AP50" or "loss", see vision/training/best.py),
"val_loss" (the last validation's, once there was one), "rng", "args" (train_ssd.py's options, which --resume
takes), "pretrained" and "format_version". With --ema, "model" holds the average of
the weights (what validation, eval and export use) and two more keys hold what --resume continues:
"raw_model" (the weights being trained) and "ema_updates" (the average's update count).
"""
import contextlib
import fcntl
import logging
import math
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from vision.errors import OptionError, first_line
from vision.ssd import has_fitted_priors, saved_priors
from vision.ssd.weights import WeightsError, read_checkpoint
from vision.training import best
from vision.training.checkpoint_files import BEST, LAST, LOCK, epoch_file_name, epoch_files, prune_epoch_files
from vision.training.schedule import load_optimizer_state
from vision.training.settings import NetSettings
from vision.utils.fileio import atomic_file

log = logging.getLogger("train_ssd")
FORMAT_VERSION = 1


@dataclass
class Progress:
    """How far a run is: the part of a checkpoint that resuming continues from."""
    epoch: int = 0  # epochs completed
    samples_in_epoch: int = 0  # images of the next epoch already trained on, by all ranks
    global_step: int = 0  # optimizer steps, skipped ones included
    skipped_steps: int = 0
    best_metric_name: str = best.LOSS  # what checkpoint-best.pth follows (vision/training/best.py)
    best_metric: float = math.inf  # its best value so far

    _COUNTERS: ClassVar = ("epoch", "samples_in_epoch", "global_step", "skipped_steps")

    @classmethod
    def resumed(cls, checkpoint: dict, tracking: dict) -> "Progress":
        """The counters of `checkpoint`, with best-tracking `tracking` (vision/training/best.py start)."""
        return cls(**{name: checkpoint[name] for name in cls._COUNTERS}, **tracking)


def training_checkpoint(net: nn.Module, settings: NetSettings, labels: list[str], optimizer, scaler,
                        progress: Progress, val_loss: float | None, options: dict, pretrained: bool,
                        trained: nn.Module | None = None, ema_updates: int = 0) -> dict:
    """What checkpoint-last.pth and checkpoint-best.pth hold (see above): `net` is the model to use (the
    weight average with --ema, then `trained` holds the weights being trained); `val_loss` the last
    validation's, None before the run's first."""
    raw = {"raw_model": trained.state_dict(), "ema_updates": ema_updates} if trained is not None else {}
    validated = {"val_loss": val_loss} if val_loss is not None else {}
    return {
        "format_version": FORMAT_VERSION,
        "model": net.state_dict(), **raw,
        **_what_builds(net, settings, labels),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler else None,
        "rng": rng_state(), "args": options, "pretrained": pretrained,
        **asdict(progress), **validated,
    }


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


def save_epoch_file(model_dir: Path, net: nn.Module, settings: NetSettings, labels: list[str], epoch: int,
                    val_loss: float, keep: int | None) -> None:
    """The epoch's file under the earlier tools' name, keeping the `keep` newest (all when None)."""
    atomic_save(epoch_file_content(net, settings, labels), model_dir / epoch_file_name(settings.name, epoch, val_loss))
    prune_epoch_files(model_dir, keep)


def epoch_file_content(net, settings: NetSettings, labels: list[str]):
    """A per-epoch file: the earlier tools' plain state_dict. With fitted priors, the state_dict under
    "model" with what builds the net with its priors ("net", "num_classes", "labels", "resolution",
    "width_mult", "prior_specs"): our tools load it, and the earlier tools refuse it rather than decode
    boxes with the wrong priors."""
    if not has_fitted_priors(net):
        return net.state_dict()
    return {"model": net.state_dict(), **_what_builds(net, settings, labels)}


def _what_builds(net: nn.Module, settings: NetSettings, labels: list[str]) -> dict:
    """What builds the net with its priors (vision/ssd/loading.py reads it)."""
    return {"net": settings.name, "num_classes": net.num_classes, "labels": labels, "resolution": settings.resolution,
            "width_mult": settings.width_mult, "prior_specs": saved_priors(net)}


def newest_checkpoint(model_dir: Path) -> Path | None:
    """The checkpoint to resume from in `model_dir`: of checkpoint-last.pth and checkpoint-best.pth, the
    one furthest in training (checkpoint-last.pth when even); the newest epoch file, weights alone, only
    when neither exists. A run killed while it wrote its first checkpoint-last.pth left checkpoint-best.pth
    of the same epoch."""
    full = [path for path in (Path(model_dir) / LAST, Path(model_dir) / BEST) if path.is_file()]
    if full:
        return max(full, key=_progress)  # max keeps the first of equals
    files = epoch_files(model_dir)
    return files[-1].path if files else None


def _progress(path: Path) -> tuple[int, int]:
    """(epochs completed, images of the next one) of a checkpoint; memory-mapped, its tensors are not read."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return content.get("epoch", -1), content.get("samples_in_epoch", 0)  # -1: weights alone
    except Exception as error:  # torch raises many types for a bad file
        raise WeightsError(f"{path}: cannot be read ({first_line(error)})") from None


@dataclass(frozen=True)
class Resumed:
    """The checkpoint a run resumes from: a training checkpoint (`full`) as saved, or a file of weights alone
    as {"plain": its path, "labels": None, "prior_specs": its priors, if any}."""
    path: Path
    content: dict
    auto: bool  # found by --resume auto

    @property
    def full(self) -> bool:
        return "args" in self.content

    @property
    def source(self) -> str:
        """The checkpoint's path for the log; with --resume auto, also why that file was taken."""
        if not self.auto:
            return str(self.path)
        if self.full:
            return f"{self.path} (--resume auto: the checkpoint furthest in training)"
        return f"{self.path} (--resume auto: no full checkpoint, so the newest epoch file)"


def read_resume(resume: str | None, model_dir: Path) -> Resumed | None:
    """The checkpoint of --resume (None for a fresh start): a path, or "auto" for the newest in `model_dir`."""
    if resume is None:
        return None
    auto = resume == "auto"
    path = newest_checkpoint(model_dir) if auto else Path(resume)
    if path is None:
        log.info("--resume auto: no checkpoint in %s, starting fresh", model_dir)
        return None
    content = read_checkpoint(str(path))
    if "args" in content:
        return Resumed(path, content, auto)
    # a plain state_dict, or an epoch file of a run with fitted priors
    plain = Resumed(path, {"plain": str(path), "labels": None, "prior_specs": content.get("prior_specs")}, auto)
    log.warning("%s holds weights only: loading them and starting at epoch 0", plain.source)
    return plain


def restore(checkpoint: dict, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
            given: set[str]) -> None:
    """Continue a training checkpoint: the optimizer's state (the settings of the options in `given` stay
    as they are now), the grad scaler's, and the random generators'."""
    load_optimizer_state(optimizer, checkpoint["optimizer"], given)
    if scaler is not None and checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])
    set_rng_state(checkpoint["rng"])


def rng_state() -> dict:
    """The random generators' states. Tensors and plain numbers only, so that the checkpoint loads with
    torch.load(weights_only=True)."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, _ = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
             "python": [version, list(python_state)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, python_state = state["python"]
    random.setstate((version, tuple(python_state), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
