"""onnx_export.py as users run it: in subprocesses (started together, as each spends seconds
importing torch), checking its output, files and exit codes; its one-line errors in this process."""
import cv2
import onnx
import pytest
import torch

from export_helpers import (CLASSES, assert_one_line_error, lively_net, load_script, run_in_process,
                            run_scripts, save_checkpoint, write_labels)
from vision.export.contract import detectnet_command
from vision.export.onnx_export import Difference, synthetic_image
from vision.ssd import create_net

STALE_ENGINE = "ssd-mobilenet.onnx.1.1.8201.GPU.FP16.engine"
EARLIER_BEST = "mb1-ssd-Epoch-9-Loss-1.75.pth"


@pytest.fixture(scope="module")
def earlier_tools_dir(tmp_path_factory):
    """A model dir of the earlier tools: plain state_dicts named by loss, labels.txt, a cached engine."""
    directory = tmp_path_factory.mktemp("earlier")
    torch.save(lively_net("mb1-ssd").state_dict(), directory / EARLIER_BEST)
    (directory / "mb1-ssd-Epoch-3-Loss-2.5.pth").write_bytes(b"not read: its loss is higher")
    write_labels(directory / "labels.txt")
    (directory / STALE_ENGINE).write_bytes(b"")
    return directory


@pytest.fixture(scope="module")
def our_dir(tmp_path_factory):
    """A model dir of ours: checkpoint-best.pth (an mb3-small-ssd-lite) and labels.txt."""
    directory = tmp_path_factory.mktemp("ours")
    save_checkpoint(directory / "checkpoint-best.pth", lively_net("mb3-small-ssd-lite"))
    (directory / "mb3-small-ssd-lite-Epoch-1-Loss-0.5.pth").write_bytes(b"not read: checkpoint-best wins")
    write_labels(directory / "labels.txt")
    return directory


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Inputs of the runs: a test image, three-class labels, a dataset's labels.txt."""
    directory = tmp_path_factory.mktemp("work")
    cv2.imwrite(str(directory / "street.jpg"), synthetic_image(240, 320)[:, ::-1])
    write_labels(directory / "three-classes.txt", CLASSES[:3])
    write_labels(directory / "dataset-labels.txt", CLASSES[1:])
    return directory


@pytest.fixture(scope="module")
def runs(earlier_tools_dir, our_dir, work):
    return run_scripts({
        "earlier tools": ["onnx_export.py", "--model_dir", earlier_tools_dir, "--batch_size", "1"],
        "ours": ["onnx_export.py", "--model-dir", our_dir, "--opset", "13",
                 "--output", work / "exported.onnx", "--test-image", work / "street.jpg"],
        "class count": ["onnx_export.py", "--model-dir", our_dir, "--labels", work / "three-classes.txt"],
    })


def test_earlier_tools_state_dict_exports_with_their_option_spellings(runs, earlier_tools_dir):
    result = runs["earlier tools"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"onnx_export.py: warning: {earlier_tools_dir / EARLIER_BEST} does not record "
                             f"the resolution it was trained at: using 300; pass its training resolution "
                             f"(--resolution) if it was another\n")
    output = earlier_tools_dir / "ssd-mobilenet.onnx"
    assert f"exporting {earlier_tools_dir / EARLIER_BEST}: mb1-ssd, 4 classes" in result.stdout
    assert detectnet_command(str(output), str(earlier_tools_dir / "labels.txt")) in result.stdout
    assert f"delete {earlier_tools_dir / STALE_ENGINE}" in result.stdout
    model = onnx.load(str(output))
    scores_shape = [dim.dim_value for dim in model.graph.output[0].type.tensor_type.shape.dim]
    assert scores_shape == [1, 3000, len(CLASSES)]


def test_our_checkpoint_exports_with_opset_output_and_test_image(runs, our_dir, work):
    result = runs["ours"]
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert f"exporting {our_dir / 'checkpoint-best.pth'}: mb3-small-ssd-lite" in result.stdout
    assert f"onnxruntime vs PyTorch on {work / 'street.jpg'}:" in result.stdout
    assert "FAILED" not in result.stdout and "stale" not in result.stdout
    assert [opset.version for opset in onnx.load(str(work / "exported.onnx")).opset_import
            if opset.domain == ""] == [13]


def test_class_count_mismatch_is_one_line_in_a_process_of_its_own(runs):
    assert_one_line_error(runs["class count"], 2, "has 4 classes (BACKGROUND included)", "lists 3")


def test_resolution_mismatch_is_one_line(our_dir, capsys, caplog):
    assert_one_line_error(run_in_process(capsys, caplog, "onnx_export.py", "--model-dir", our_dir,
                                         "--resolution", "512"), 2, "saved with resolution 300, not 512")


def test_dataset_labels_without_background_are_one_line(our_dir, work, capsys, caplog):
    assert_one_line_error(run_in_process(capsys, caplog, "onnx_export.py", "--model-dir", our_dir,
                                         "--labels", work / "dataset-labels.txt"),
                          2, "looks like a dataset's labels.txt")


def test_wrong_net_for_a_state_dict_is_one_line(earlier_tools_dir, work, capsys, caplog):
    assert_one_line_error(run_in_process(capsys, caplog, "onnx_export.py", "--input",
                                         earlier_tools_dir / EARLIER_BEST, "--net", "mb1-ssd-lite", "--labels",
                                         earlier_tools_dir / "labels.txt", "--output", work / "wrong-net.onnx"),
                          2, "look like a mb1-ssd model: pass --net mb1-ssd")
    assert not (work / "wrong-net.onnx").exists()


@pytest.mark.parametrize("arguments, fragment", [
    (["--model-dir", "{tmp}/missing"], "missing: no such model directory"),
    (["--model-dir", "{tmp}"], "no checkpoint to export"),
    (["--input", "{tmp}/model.pth"], "model.pth: no such checkpoint"),
    (["--model-dir", "{ours}", "--opset", "9"], "opset 9 is not supported: choose 11 to 17"),
    (["--model-dir", "{ours}", "--opset", "eleven"], "argument --opset: invalid int value"),
    (["--model-dir", "{ours}", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--model-dir", "{ours}", "--labels", "{tmp}/labels.txt"], "labels.txt: no such labels file"),
    (["--model-dir", "{ours}", "--output", "{tmp}/missing/model.onnx"], "its directory does not exist"),
    ([], "pass --model-dir"),
])
def test_path_and_option_errors_are_one_line(our_dir, tmp_path, capsys, caplog, arguments, fragment):
    arguments = [argument.format(tmp=tmp_path, ours=our_dir) for argument in arguments]
    assert_one_line_error(run_in_process(capsys, caplog, "onnx_export.py", *arguments), 2, fragment)


def test_failed_verification_exits_1_and_writes_nothing(our_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("vision.export.onnx_export.verify_onnx", lambda net, path, image, normalization: {
        "scores": Difference(max_abs=1e-3, worst=10.0), "boxes": Difference(max_abs=0.0, worst=0.0)})
    output = tmp_path / "model.onnx"
    assert load_script("onnx_export.py").main(["--model-dir", str(our_dir), "--output", str(output)]) == 1
    captured = capsys.readouterr()
    assert "scores: max |difference| 0.001 (10 of the tolerance)  FAILED" in captured.out
    assert captured.err.count("\n") == 1 and "onnxruntime and PyTorch disagree" in captured.err
    assert not list(tmp_path.iterdir())


def test_vgg16_exports_with_a_preprocessing_warning(tmp_path, capsys):
    save_checkpoint(tmp_path / "checkpoint-best.pth", create_net("vgg16-ssd", len(CLASSES)))
    write_labels(tmp_path / "labels.txt")
    assert load_script("onnx_export.py").main(["--model-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().err.startswith(
        "onnx_export.py: warning: vgg16-ssd was trained on (px - [123, 117, 104]) / [1, 1, 1], but detectNet")
    assert (tmp_path / "ssd-mobilenet.onnx").is_file()
