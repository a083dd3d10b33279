"""One error type for "the user gave something unusable": every area's error is a UserError, which
run_main prints as one line; any other exception is a programming error and keeps its traceback."""
import pytest

import train_ssd
from vision.cli import run_main
from vision.commands import train as train_command
from vision.datasets import DatasetError, ImageReadError
from vision.errors import OptionError, UserError
from vision.evaluation.errors import EvaluationError
from vision.export.contract import ExportError
from vision.export.onnx_export import Difference, VerificationError
from vision.prep import PrepError
from vision.prep.download import DownloadError
from vision.ssd import NetError
from vision.ssd.loading import ModelError
from vision.ssd.weights import WeightsError
from vision.utils.jsonfile import JsonReadError
from vision.utils.pixel_limit import PixelLimitError
from vision.visualize.annotate import InputError


# One of each area's errors, as the library raises them, and the line run_main prints for it.
AREA_ERRORS = [
    (OptionError("--batch-size must be positive, got 0"), "--batch-size must be positive, got 0"),
    (PrepError("coco-data: not a directory"), "coco-data: not a directory"),
    (DownloadError("val2017.zip: 404"), "val2017.zip: 404"),
    (EvaluationError("dets.json: holds a dict"), "dets.json: holds a dict"),
    (ExportError("model.pth: no such checkpoint"), "model.pth: no such checkpoint"),
    (VerificationError("out.onnx", {"scores": Difference(max_abs=1.0, worst=9.0)}), "out.onnx was not written"),
    (DatasetError("data/labels.txt", "line 1 is BACKGROUND"), "data/labels.txt: line 1 is BACKGROUND"),
    (ImageReadError("a.jpg: not a readable image"), "a.jpg: not a readable image"),
    (WeightsError("model.pth: not a PyTorch weights file"), "model.pth: not a PyTorch weights file"),
    (ModelError("labels.txt: no labels"), "labels.txt: no labels"),
    (NetError("unknown net 'yolo'"), "unknown net 'yolo'"),
    (JsonReadError("a.json: not valid JSON (line 1: x)"), "a.json: not valid JSON (line 1: x)"),
    (PixelLimitError("many"), "SSD_MAX_IMAGE_PIXELS=many: not a whole number of pixels above 0"),
    (InputError("x.gif: no such file"), "x.gif: no such file"),
]


def raising(error: BaseException):
    def body() -> int:
        raise error
    return body


@pytest.mark.parametrize("error, message", AREA_ERRORS, ids=[type(error).__name__ for error, _ in AREA_ERRORS])
def test_every_areas_error_is_a_user_error_printed_in_one_line(capsys, error, message):
    assert isinstance(error, UserError)
    assert run_main("tool.py", raising(error)) == 2
    printed = capsys.readouterr().err
    assert printed.startswith("tool.py: error: ") and printed.count("\n") == 1 and message in printed


@pytest.mark.parametrize("bug", [ValueError("a bug"), TypeError("another bug"), KeyError("bug")])
def test_a_programming_error_keeps_its_traceback(capsys, bug):
    with pytest.raises(type(bug)):
        run_main("tool.py", raising(bug))
    assert capsys.readouterr().err == ""


def test_train_ssd_lets_a_programming_error_through(monkeypatch, tmp_path, capsys):
    """train_ssd.py caught every ValueError, which turned bugs into one-line messages."""
    def broken(*args):
        raise ValueError("a bug in the training code")

    monkeypatch.setattr(train_command, "train", broken)
    with pytest.raises(ValueError, match="a bug in the training code"):
        train_ssd.main(["--data", str(tmp_path), "--model-dir", str(tmp_path / "model")])
    assert capsys.readouterr().err == ""
