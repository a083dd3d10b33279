import json

import onnx
import pytest
import torch

from bomb_images import truncated_png_bomb
from export_helpers import CLASSES, lively_net
from vision.export.contract import (ExportError, detectnet_command, find_best_checkpoint,
                                    stale_engines)
from vision.export.onnx_export import (Difference, VerificationError, export_onnx, export_verified, read_image,
                                       preprocessing_warning, synthetic_image, verify_onnx)
from vision.inference.pipeline import net_input
from vision.ssd import create_net

EXPORTS = [("mb1-ssd", 300), ("mb1-ssd-lite", 300), ("mb2-ssd-lite", 300), ("mb3-large-ssd-lite", 300),
           ("mb3-small-ssd-lite", 300), ("sq-ssd-lite", 300), ("mb1-ssd", 512)]


def num_priors(reference, name, resolution):
    if resolution == 300:
        return json.loads((reference / "ssd_layouts.json").read_text())[name]["num_priors"]
    return json.loads((reference / "mb1-ssd-resolutions.json").read_text())[str(resolution)]["num_priors"]


def shape(value_info):
    return [dim.dim_value for dim in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("name, resolution", EXPORTS)
def test_export_follows_the_detectnet_contract_and_matches_pytorch(tmp_path, reference, name, resolution):
    net = lively_net(name, resolution=resolution)
    with torch.no_grad():
        scores, _ = net(net_input(synthetic_image(), resolution, net.mean, net.std))
    assert scores.std() > 0.03  # something to compare: not the uniform scores of a fresh net
    path = str(tmp_path / "ssd-mobilenet.onnx")
    export_onnx(net, path)
    differences = verify_onnx(net, path, synthetic_image())
    assert all(difference.ok for difference in differences.values()), differences
    model = onnx.load(path)
    priors = num_priors(reference, name, resolution)
    assert [(value.name, shape(value)) for value in model.graph.input] == [
        ("input_0", [1, 3, resolution, resolution])]
    assert [(value.name, shape(value)) for value in model.graph.output] == [
        ("scores", [1, priors, len(CLASSES)]), ("boxes", [1, priors, 4])]
    assert [opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")] == [11]
    assert "NonMaxSuppression" not in {node.op_type for node in model.graph.node}


@pytest.fixture(scope="module")
def small_net():
    return lively_net("mb3-small-ssd-lite")


def test_the_comparison_sees_real_outputs_and_catches_a_changed_weight(tmp_path, small_net):
    image = synthetic_image()
    with torch.no_grad():
        scores, boxes = small_net(net_input(image, 300, small_net.mean, small_net.std))
        mirrored_scores, _ = small_net(net_input(image[:, ::-1], 300, small_net.mean, small_net.std))
    assert scores.std() > 0.1 and boxes.std() > 0.1  # no uniform softmax, no all-prior boxes
    assert (scores - mirrored_scores).abs().mean() > 0.01  # and they depend on the image
    path = str(tmp_path / "model.onnx")
    export_onnx(small_net, path)
    changed = lively_net("mb3-small-ssd-lite")
    with torch.no_grad():
        changed.regression_headers[0][-1].weight.mul_(1.001)
    differences = verify_onnx(changed, path, synthetic_image())
    assert differences["scores"].ok and not differences["boxes"].ok


def test_a_failed_verification_keeps_the_earlier_file(tmp_path, small_net, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"earlier export")
    monkeypatch.setattr("vision.export.onnx_export.verify_onnx", lambda net, staged, image, normalization: {
        "scores": Difference(max_abs=2e-3, worst=20.0), "boxes": Difference(max_abs=0.0, worst=0.0)})
    with pytest.raises(VerificationError, match="scores differ by up to 0.002, .*model.onnx was not written"):
        export_verified(small_net, str(path), synthetic_image())
    assert path.read_bytes() == b"earlier export" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("opset", [13, 17])
def test_the_opset_asked_for_is_the_one_in_the_file(tmp_path, small_net, opset):
    path = str(tmp_path / "model.onnx")
    export_onnx(small_net, path, batch_size=2, opset=opset)
    model = onnx.load(path)
    assert [opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")] == [opset]
    assert shape(model.graph.input[0])[0] == 2
    assert all(difference.ok for difference in verify_onnx(small_net, path, synthetic_image()).values())


@pytest.mark.parametrize("opset", [10, 18])
def test_unsupported_opsets_are_refused(tmp_path, small_net, opset):
    with pytest.raises(ExportError, match="choose 11 to 17"):
        export_onnx(small_net, str(tmp_path / "model.onnx"), opset=opset)
    assert not list(tmp_path.iterdir())


def test_vgg16_warns_that_detectnet_preprocessing_differs():
    assert "detectNet feeds (px/255 - 0.5)/0.5" in preprocessing_warning(create_net("vgg16-ssd", 3))
    assert all(preprocessing_warning(create_net(name, 3)) is None
               for name in ("mb1-ssd", "sq-ssd-lite", "mb3-small-ssd-lite"))


def test_best_checkpoint_is_checkpoint_best_else_the_lowest_loss_name(tmp_path):
    for name in ("mb1-ssd-Epoch-3-Loss-2.5.pth", "mb1-ssd-Epoch-9-Loss-1.75.pth",
                 "mb1-ssd-Epoch-10-Loss-nan.pth", "mb1-ssd-Epoch-11-Loss-x.pth", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert find_best_checkpoint(str(tmp_path)) == str(tmp_path / "mb1-ssd-Epoch-9-Loss-1.75.pth")
    (tmp_path / "checkpoint-best.pth").write_bytes(b"")
    assert find_best_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-best.pth")


def test_only_a_diverged_runs_epoch_files_is_an_export_error_saying_so(tmp_path):
    for name in ("mb1-ssd-Epoch-0-Loss-nan.pth", "mb1-ssd-Epoch-1-Loss-inf.pth", "checkpoint-last.pth"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ExportError, match="validation loss .* is not finite .*the run diverged; .*lower --lr"):
        find_best_checkpoint(str(tmp_path))


def test_no_checkpoint_or_no_directory_is_an_export_error(tmp_path):
    with pytest.raises(ExportError, match="no such model directory"):
        find_best_checkpoint(str(tmp_path / "missing"))
    (tmp_path / "checkpoint-last.pth").write_bytes(b"")
    with pytest.raises(ExportError, match="no checkpoint to export .*pass --input .*checkpoint-last.pth"):
        find_best_checkpoint(str(tmp_path))


def test_stale_engines_are_those_of_this_model(tmp_path):
    model = tmp_path / "run [1]" / "ssd-mobilenet.onnx"
    model.parent.mkdir()
    for name in ("ssd-mobilenet.onnx.1.1.8201.GPU.FP16.engine", "ssd-mobilenet.onnx.4.1.8602.GPU.FP32.engine",
                 "other.onnx.1.1.8201.GPU.FP16.engine", "ssd-mobilenet.onnx"):
        (model.parent / name).write_bytes(b"")
    assert stale_engines(str(model)) == [str(model) + ".1.1.8201.GPU.FP16.engine",
                                         str(model) + ".4.1.8602.GPU.FP32.engine"]


def test_detectnet_command_is_the_readme_form():
    assert detectnet_command("models/fruit/ssd-mobilenet.onnx", "models/fruit/labels.txt") == (
        "detectnet --model=models/fruit/ssd-mobilenet.onnx --labels=models/fruit/labels.txt \\\n"
        "          --input-blob=input_0 --output-cvg=scores --output-bbox=boxes input.jpg output.jpg")


def test_export_leaves_the_net_in_its_mode(tmp_path):
    net = create_net("mb3-small-ssd-lite", len(CLASSES))
    export_onnx(net, str(tmp_path / "model.onnx"))
    assert net.training and not net.is_test


def test_a_test_image_over_the_pixel_limit_is_refused(tmp_path):
    (tmp_path / "bomb.png").write_bytes(truncated_png_bomb(60000, 60000))
    with pytest.raises(ExportError, match="bomb.png: over the pixel limit: its header claims more than 178,956,970"):
        read_image(str(tmp_path / "bomb.png"))
