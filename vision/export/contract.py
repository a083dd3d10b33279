"""What an export must produce for detectNet (docs/export.md, "Export to ONNX and run on a Jetson"), and the
files around it: the checkpoint to export, stale TensorRT engines, the detectnet command line.

Kept free of torch so that command-line mistakes are reported before torch's slow import.
"""
import glob
import math
import os
import re
import shlex

from vision.errors import UserError

BEST_CHECKPOINT = "checkpoint-best.pth"
LAST_CHECKPOINT = "checkpoint-last.pth"
ONNX_NAME = "ssd-mobilenet.onnx"  # the name the earlier onnx_export.py wrote and the Jetson docs use
LABELS_NAME = "labels.txt"
_LOSS_NAME = re.compile(r"-Loss-(.+)\.pth$")  # <net>-Epoch-<N>-Loss-<val_loss>.pth of the earlier tools
# The graph's names, as detectNet is told them (--input-blob, --output-cvg, --output-bbox).
INPUT_NAME = "input_0"
OUTPUT_NAMES = ("scores", "boxes")
OPSETS = range(11, 18)
TORCHVISION = "torchvision"  # --input: torchvision's COCO weights (vision.ssd.weights.TORCHVISION)
DEFAULT_OPSET = 11  # TensorRT 7.1 (JetPack 4.4), the oldest that runs these models, parses opset 11


class ExportError(UserError):
    """A problem with the files or options of an export; the message is one line."""


def check_opset(opset: int) -> None:
    if opset not in OPSETS:
        raise ExportError(f"opset {opset} is not supported: choose {OPSETS.start} to {OPSETS.stop - 1} "
                          f"({DEFAULT_OPSET} loads in every TensorRT from 7.1 on)")


def find_best_checkpoint(model_dir: str) -> str:
    """checkpoint-best.pth, else the earlier tools' file with the lowest finite loss in its name."""
    if not os.path.isdir(model_dir):
        raise ExportError(f"{model_dir}: no such model directory")
    best = os.path.join(model_dir, BEST_CHECKPOINT)
    if os.path.isfile(best):
        return best
    losses = {name: loss for name in os.listdir(model_dir) if (loss := _loss_in_name(name)) is not None}
    finite = {name: loss for name, loss in losses.items() if math.isfinite(loss)}
    if finite:
        return os.path.join(model_dir, min(finite, key=finite.get))
    if losses:  # a diverged run's (this tool no longer writes them)
        raise ExportError(f"{model_dir}: no checkpoint to export: the validation loss in every epoch file's name "
                          f"is not finite ({min(losses)}): the run diverged; train again with a lower --lr")
    last = os.path.join(model_dir, LAST_CHECKPOINT)
    hint = f"--input {last}" if os.path.isfile(last) else "--input with a checkpoint"
    raise ExportError(f"{model_dir}: no checkpoint to export (expected {BEST_CHECKPOINT} or "
                      f"<net>-Epoch-<N>-Loss-<loss>.pth); pass {hint}")


def _loss_in_name(name: str) -> float | None:
    match = _LOSS_NAME.search(name)
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def stale_engines(onnx_path: str) -> list[str]:
    """TensorRT engines that detectNet cached for an earlier version of `onnx_path`; it would reuse them."""
    return sorted(glob.glob(glob.escape(onnx_path) + ".*.engine"))


def detectnet_command(onnx_path: str, labels_path: str) -> str:
    """The detectnet command line of docs/export.md's "Export to ONNX and run on a Jetson", with these paths."""
    scores, boxes = OUTPUT_NAMES
    return (f"detectnet --model={shlex.quote(onnx_path)} --labels={shlex.quote(labels_path)} \\\n"
            f"          --input-blob={INPUT_NAME} --output-cvg={scores} --output-bbox={boxes} "
            f"input.jpg output.jpg")
