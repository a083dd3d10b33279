"""What an export must produce for detectNet (docs/export.md, "Export to ONNX and run on a Jetson"), and the
files around it: the checkpoint to export, stale TensorRT engines, the detectnet command line.

Kept free of torch so that command-line mistakes are reported before torch's slow import.
"""
import glob
import os
import shlex

from vision.errors import UserError
from vision.training.checkpoint_files import BEST, LAST, best_checkpoint, epoch_files

ONNX_NAME = "ssd-mobilenet.onnx"  # the name the earlier onnx_export.py wrote and the Jetson docs use
LABELS_NAME = "labels.txt"
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
    chosen = best_checkpoint(model_dir)
    if chosen:
        return os.path.join(model_dir, chosen.name)
    diverged = sorted(file.path.name for file in epoch_files(model_dir))  # this tool no longer writes them
    if diverged:
        raise ExportError(f"{model_dir}: no checkpoint to export: the validation loss in every epoch file's name "
                          f"is not finite ({diverged[0]}): the run diverged; train again with a lower --lr")
    last = os.path.join(model_dir, LAST)
    hint = f"--input {last}" if os.path.isfile(last) else "--input with a checkpoint"
    raise ExportError(f"{model_dir}: no checkpoint to export (expected {BEST} or "
                      f"<net>-Epoch-<N>-Loss-<loss>.pth); pass {hint}")


def stale_engines(onnx_path: str) -> list[str]:
    """TensorRT engines that detectNet cached for an earlier version of `onnx_path`; it would reuse them."""
    return sorted(glob.glob(glob.escape(onnx_path) + ".*.engine"))


def detectnet_command(onnx_path: str, labels_path: str) -> str:
    """The detectnet command line of docs/export.md's "Export to ONNX and run on a Jetson", with these paths."""
    scores, boxes = OUTPUT_NAMES
    return (f"detectnet --model={shlex.quote(onnx_path)} --labels={shlex.quote(labels_path)} \\\n"
            f"          --input-blob={INPUT_NAME} --output-cvg={scores} --output-bbox={boxes} "
            f"input.jpg output.jpg")
