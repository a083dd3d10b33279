"""Every user error of eval_ssd.py is one line on stderr and exit code 2, never a traceback."""
import json

import pytest
import torch

from bad_annotations import COCO_FAULTS, FAULTS
from eval_helpers import (MODEL_CLASSES, lively_net, mini_coco, one_line_error, run_eval, save_checkpoint,
                          write_labels)
from vision.commands.eval import main


@pytest.fixture(scope="module")
def files(tmp_path_factory, coco128):
    root = tmp_path_factory.mktemp("errors")
    coco = mini_coco(root / "coco", coco128, 2)
    net = lively_net()
    (root / "dets.json").write_text(json.dumps([detection()]))
    (root / "not_torch.pth").write_text("hello")
    torch.save(net.state_dict(), root / "plain.pth")
    return {"root": root, "coco": coco, "annotations": coco / "annotations" / "instances_val2017.json",
            "checkpoint": save_checkpoint(root / "checkpoint.pth", net),
            "labels": write_labels(root / "labels.txt"),
            "short_labels": write_labels(root / "short.txt", MODEL_CLASSES[:3]),
            "other_labels": write_labels(root / "other.txt", ["BACKGROUND", "durian", "rambutan"] * 2),
            "dets": root / "dets.json", "not_torch": root / "not_torch.pth", "plain": root / "plain.pth"}


def detection(image_id=531, category_id=1) -> dict:
    return {"image_id": image_id, "category_id": category_id, "bbox": [0, 0, 1, 1], "score": 1}


def write(path, content):
    path.write_text(json.dumps(content))
    return path


def error_of(capsys, *args) -> str:
    try:
        code = main(["--workers", "0", "--device", "cpu", *map(str, args)])  # a later --device wins
    except SystemExit as exit:  # argparse's errors leave this way
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    return one_line_error(err)


@pytest.mark.parametrize("args, message", [
    (lambda f: ["--dataset", f["coco"]], "give one of --trained_model, --onnx and --detections"),
    (lambda f: ["--trained_model", f["checkpoint"]], "--dataset is required"),
    (lambda f: ["--trained_model", f["root"] / "missing.pth", "--dataset", f["coco"]],
     "missing.pth: no such model file"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["root"] / "nowhere"], "nowhere"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--dataset_type", "yolo"],
     "unknown dataset type"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--net", "mb2-ssd-lite"],
     "saved with net mb1-ssd-lite, not mb2-ssd-lite"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--label_file", f["short_labels"]],
     "the model has 6 classes"),
    (lambda f: ["--trained_model", f["not_torch"], "--dataset", f["coco"]], "not a PyTorch weights file"),
    (lambda f: ["--trained_model", f["plain"], "--dataset", f["coco"], "--net", "mb1-ssd-lite"],
     "pass the model's labels.txt"),
    (lambda f: ["--trained_model", f["plain"], "--dataset", f["coco"], "--net", "mb1-ssd-lite",
                "--resolution", "160", "--label_file", f["other_labels"]], "BACKGROUND again"),
    (lambda f: ["--onnx", f["checkpoint"], "--dataset", f["coco"]], "--onnx needs --label_file"),
    (lambda f: ["--onnx", f["checkpoint"], "--dataset", f["coco"], "--label_file", f["labels"]],
     "cannot be loaded by onnxruntime"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--jetson", "--nms-method", "hard"],
     "--jetson uses detectNet's clustering"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--iou-threshold", "0"],
     "--iou-threshold must be in (0, 1]"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--device", "gpu"], "not a device"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--label_file", f["plain"]],
     "plain.pth: not a text file of class names"),
    (lambda f: ["--trained_model", f["checkpoint"], "--dataset", f["coco"], "--output-dir", f["dets"]],
     "dets.json: File exists"),
    (lambda f: ["--detections", f["dets"]], "--detections needs --annotations"),
    (lambda f: ["--detections", f["dets"], "--annotations", f["dets"]], "not a COCO instances file"),
    (lambda f: ["--detections", write(f["root"] / "d1.json", {"a": 1}), "--annotations", f["annotations"]],
     "holds a dict"),
    (lambda f: ["--detections", write(f["root"] / "d2.json", [detection(image_id=7)]),
                "--annotations", f["annotations"]], "detections for image ids that"),
    (lambda f: ["--detections", write(f["root"] / "d3.json", [detection(category_id=12)]),
                "--annotations", f["annotations"]], "detections for category ids that"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_user_errors_are_one_line(files, capsys, args, message):
    assert message in error_of(capsys, *args(files))


def test_a_dataset_without_the_models_classes(files, capsys, tmp_path):
    labels = write_labels(tmp_path / "labels.txt", ["BACKGROUND", "durian", "rambutan", "salak", "lychee", "lime"])
    message = error_of(capsys, "--trained_model", files["checkpoint"], "--label_file", labels,
                       "--dataset", files["coco"])
    assert "none of its classes" in message and "durian" in message


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_annotation_files_are_one_line_naming_the_file(files, capsys, tmp_path, fault):
    build, problem = FAULTS[fault]
    root, path = build(tmp_path / "data")
    out = ["--output-dir", tmp_path / "out"]
    expected = f"eval_ssd.py: error: {path}: {problem}"
    assert error_of(capsys, "--trained_model", files["checkpoint"], "--dataset", root, "--split", "train",
                    *out) == expected
    if fault in COCO_FAULTS:
        assert error_of(capsys, "--detections", files["dets"], "--annotations", path, *out) == expected


def test_in_a_process_of_its_own(files):
    bad = write(files["root"] / "d4.json", [detection(image_id=999)])
    result = run_eval("--detections", bad, "--annotations", files["annotations"],
                      "--output-dir", files["root"] / "o")
    assert result.returncode == 2
    assert one_line_error(result.stderr).startswith("eval_ssd.py: error: ") and "999" in result.stderr


def test_no_detections_give_zeros_and_a_warning(files, caplog):
    empty = write(files["root"] / "empty.json", [])
    code = main(["--detections", str(empty), "--annotations", str(files["annotations"]),
                 "--output-dir", str(files["root"] / "empty")])
    assert code == 0
    metrics = json.loads((files["root"] / "empty" / "metrics.json").read_text())
    assert set(metrics["coco"].values()) == {0.0} and metrics["voc"]["mAP"] == 0.0
    assert "no detections to evaluate" in caplog.text
