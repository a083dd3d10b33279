"""OnnxModel and OnnxDetector on exports with a static batch of 1 or 2 and with a symbolic batch."""
import warnings

import pytest
import torch

from export_helpers import CLASSES, lively_net
from vision.errors import UserError
from vision.export.contract import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES, ExportError
from vision.export.onnx_export import _TORCHSCRIPT, export_onnx, synthetic_image
from vision.inference.onnx_model import OnnxModel
from vision.inference.pipeline import OnnxDetector, net_input

NET = "mb3-small-ssd-lite"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The same net exported with a batch of 1, a batch of 2 and a symbolic batch."""
    directory = tmp_path_factory.mktemp("exports")
    net = lively_net(NET)
    paths = {batch: str(directory / f"batch-{batch}.onnx") for batch in (1, 2, "symbolic")}
    export_onnx(net, paths[1])
    export_onnx(net, paths[2], batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter, as export_onnx uses
        torch.onnx.export(net, torch.zeros(1, 3, 300, 300), paths["symbolic"], input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), opset_version=DEFAULT_OPSET,
                          dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
                          **_TORCHSCRIPT)
    return net, paths


def test_the_batch_size_is_read_from_the_file(exports):
    _, paths = exports
    assert [OnnxModel(paths[batch]).batch_size for batch in (1, 2, "symbolic")] == [1, 2, None]
    assert OnnxModel(paths["symbolic"]).resolution == 300 and OnnxModel(paths[1]).num_classes == len(CLASSES)


@pytest.mark.parametrize("batch", [1, 2, "symbolic"])
def test_any_number_of_images_runs_on_any_export(exports, batch):
    net, paths = exports
    images = [synthetic_image(), synthetic_image()[::-1], synthetic_image()[:, ::-1]]
    inputs = torch.cat([net_input(image, 300, net.mean, net.std) for image in images])
    scores, boxes = OnnxModel(paths[batch])(inputs)
    with torch.no_grad():
        expected_scores, expected_boxes = net(inputs)
    torch.testing.assert_close(scores, expected_scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(boxes, expected_boxes, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch", [2, "symbolic"])
def test_the_detector_finds_on_every_export_what_it_finds_on_a_batch_of_one(exports, batch):
    _, paths = exports
    image = synthetic_image()
    expected = OnnxDetector(paths[1], NET, 0.3).predict(image)
    detections = OnnxDetector(paths[batch], NET, 0.3).predict(image)
    assert len(expected.scores) > 0
    torch.testing.assert_close(detections.boxes, expected.boxes, rtol=1e-4, atol=1e-3)
    assert detections.labels.tolist() == expected.labels.tolist()


def test_load_errors_are_one_line_export_errors(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ExportError, match=r"model.onnx: cannot be loaded by onnxruntime \(") as caught:
        OnnxDetector(str(path), NET, 0.3)
    assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match=r"model.onnx: cannot be loaded by onnxruntime \("):  # eval_ssd.py --onnx's
        OnnxModel(str(path))
