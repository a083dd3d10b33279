"""eval_ssd.py end to end: a tiny model on four coco128 images, its ONNX export, detectNet's emulation,
a plain state_dict, saved detections, and official category ids."""
import json

import numpy as np
import pytest
import torch

from eval_helpers import (MODEL_CLASSES, RESOLUTION, lively_net, load_json, mini_coco, remapped, run_eval,
                          save_checkpoint, write_labels)
from vision.datasets import open_dataset
from vision.evaluation import evaluate_model
from vision.commands.eval import main
from vision.evaluation.coco_metrics import STAT_NAMES
from vision.export.onnx_export import export_onnx

IMAGES = 4


@pytest.fixture(scope="module")
def files(tmp_path_factory, coco128):
    root = tmp_path_factory.mktemp("eval")
    net = lively_net()
    export_onnx(net, str(root / "model.onnx"))
    torch.save(net.state_dict(), root / "plain.pth")  # the earlier tools' format: no metadata
    return {"root": root, "net": net, "coco": mini_coco(root / "coco", coco128, IMAGES),
            "checkpoint": save_checkpoint(root / "checkpoint.pth", net),
            "labels": write_labels(root / "labels.txt"),
            "onnx": root / "model.onnx", "plain": root / "plain.pth"}


BATCH = 3  # four images: a full batch and a partial one; runs compared exactly use the same batches


def evaluate_cli(capsys, output_dir, *args):
    """main() in this process (a subprocess would import torch again for every run)."""
    code = main([*map(str, args), "--output-dir", str(output_dir), "--workers", "0", "--device", "cpu",
                 "--batch-size", str(BATCH)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def model_run(files):
    output_dir = files["root"] / "model_run"
    code = main(["--trained_model", str(files["checkpoint"]), "--dataset", str(files["coco"]), "--output-dir",
                 str(output_dir), "--workers", "0", "--device", "cpu", "--batch-size", str(BATCH)])
    assert code == 0
    return output_dir


def test_a_model_run_writes_metrics_detections_curves_and_images(model_run):
    metrics = load_json(model_run / "metrics.json")
    assert list(metrics["coco"]) == list(STAT_NAMES)
    assert list(metrics["coco_AP50_by_size"]) == ["small", "medium", "large"]
    assert {"mAP", "mAP07", "per_class"} <= metrics["voc"].keys()
    assert set(metrics["voc"]["per_class"]) == {"person", "car", "chair"}  # book, zebra: no boxes here
    rows = {row["name"]: row for row in metrics["per_class"]}
    assert rows["person"]["ground_truth"] == 15
    assert rows["zebra"]["ground_truth"] == 0 and rows["zebra"]["ap"] == -1
    detections = load_json(model_run / "detections.json")
    assert len(detections) == metrics["detections"] > 0
    assert {d["category_id"] for d in detections} <= {1, 3, 62, 84, 24}  # the file's ids of the model's classes
    assert {path.name for path in (model_run / "pr_curves").iterdir()} == {
        "overall.png", "001_person.png", "002_car.png", "003_chair.png"}
    assert len(list((model_run / "images").glob("*.jpg"))) == IMAGES
    table = (model_run / "per_class.txt").read_text().splitlines()
    assert table[0].split() == ["class", "AP", "AP50", "VOC", "AP", "GT", "detections"]
    assert [line.split()[0] for line in table[-2:]] == ["book", "zebra"]  # no ground truth: last


def test_saved_detections_score_as_the_model_run(model_run, files):
    """The detections.json of a run, scored alone by the command line, gives the run's per-class numbers."""
    annotations = files["coco"] / "annotations" / "instances_val2017.json"
    result = run_eval("--detections", model_run / "detections.json", "--annotations", annotations,
                      "--output-dir", files["root"] / "saved")
    assert result.returncode == 0, result.stderr
    assert " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = " in result.stdout
    saved = {row["name"]: row for row in load_json(files["root"] / "saved" / "metrics.json")["per_class"]}
    for row in load_json(model_run / "metrics.json")["per_class"]:
        assert saved[row["name"]] == row


def test_evaluate_model_in_memory_equals_the_command_line(model_run, files):
    net = files["net"]
    net.train()
    dataset = open_dataset(files["coco"], "val", class_order=MODEL_CLASSES[1:])
    metrics = evaluate_model(net, dataset, batch_size=BATCH)
    assert net.training  # its mode is given back
    expected = load_json(model_run / "metrics.json")
    assert metrics["coco"] == expected["coco"] and metrics["voc"] == expected["voc"]


def test_onnx_gives_the_metrics_of_pytorch(model_run, files, capsys):
    code, _, err = evaluate_cli(capsys, files["root"] / "onnx", "--onnx", files["onnx"], "--label_file",
                                files["labels"], "--net", "mb1-ssd-lite", "--dataset", files["coco"])
    assert code == 0, err
    onnx, torch_run = load_json(files["root"] / "onnx" / "metrics.json"), load_json(model_run / "metrics.json")
    np.testing.assert_allclose(list(onnx["coco"].values()), list(torch_run["coco"].values()), atol=1e-4)
    assert onnx["voc"]["mAP"] == pytest.approx(torch_run["voc"]["mAP"], abs=1e-4)
    assert abs(onnx["detections"] - torch_run["detections"]) <= 2


def test_jetson_emulation_on_the_model_and_on_its_export(files, capsys):
    runs = {}
    for name, model in (("torch", ["--trained_model", files["checkpoint"]]),
                        ("onnx", ["--onnx", files["onnx"], "--label_file", files["labels"]])):
        code, out, err = evaluate_cli(capsys, files["root"] / f"jetson_{name}", *model, "--jetson",
                                      "--dataset", files["coco"])
        assert code == 0, err
        runs[name] = load_json(files["root"] / f"jetson_{name}" / "metrics.json")
        detections = load_json(files["root"] / f"jetson_{name}" / "detections.json")
        assert detections and min(d["score"] for d in detections) >= 0.5
    np.testing.assert_allclose(list(runs["onnx"]["coco"].values()), list(runs["torch"]["coco"].values()),
                               atol=1e-4)


def test_plain_state_dicts_of_the_earlier_tools(model_run, files, capsys):
    code, _, err = evaluate_cli(capsys, files["root"] / "plain", "--net", "mb1-ssd-lite", "--trained_model",
                                files["plain"], "--label_file", files["labels"], "--resolution", RESOLUTION,
                                "--dataset", files["coco"])
    assert code == 0, err
    plain = load_json(files["root"] / "plain" / "metrics.json")
    assert plain["coco"] == load_json(model_run / "metrics.json")["coco"]


def test_original_ids_round_trip_through_a_remapped_file(model_run, files, capsys, tmp_path):
    annotations = files["coco"] / "annotations" / "instances_val2017.json"
    remapped_root = tmp_path / "coco"
    (remapped_root / "annotations").mkdir(parents=True)
    (remapped_root / "val2017").symlink_to(files["coco"] / "val2017")
    remapped_annotations = remapped_root / "annotations" / "instances_val2017.json"
    remapped_annotations.write_text(json.dumps(remapped(load_json(annotations))))
    code, _, err = evaluate_cli(capsys, tmp_path / "run", "--trained_model", files["checkpoint"],
                                "--dataset", remapped_root, "--original-ids")
    assert code == 0, err
    written = load_json(tmp_path / "run" / "detections.json")
    raw = load_json(model_run / "detections.json")
    assert written == raw  # the official ids, whatever ids the annotation file uses
    assert load_json(tmp_path / "run" / "metrics.json")["coco"] == load_json(model_run / "metrics.json")["coco"]
    code, _, err = evaluate_cli(capsys, tmp_path / "saved", "--detections", tmp_path / "run" / "detections.json",
                                "--annotations", remapped_annotations, "--original-ids")
    assert code == 0, err
    scored = {row["name"]: row for row in load_json(tmp_path / "saved" / "metrics.json")["per_class"]}
    for row in load_json(model_run / "metrics.json")["per_class"]:
        assert {**scored[row["name"]], "category_id": None} == {**row, "category_id": None}  # ids 1..K here
