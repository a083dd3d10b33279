"""The one prediction path: a PyTorch net and its ONNX export, through the same call, find the same
detections (by value), with per-class NMS and with detectNet's resize, scaling and clustering."""
import pytest
import torch

from model_helpers import lively_net
from vision.export.onnx_export import export_onnx, synthetic_image
from vision.inference.onnx_model import OnnxModel
from vision.inference.pipeline import OnnxDetector, Predictor, net_pipeline, onnx_pipeline, selection

NET = "mb3-small-ssd-lite"
CLASSES = 4  # BACKGROUND and three


@pytest.fixture(scope="module")
def net_and_export(tmp_path_factory):
    net = lively_net(NET, CLASSES)
    path = tmp_path_factory.mktemp("prediction") / "ssd-mobilenet.onnx"
    export_onnx(net, str(path))
    return net, str(path)


@pytest.fixture(scope="module")
def images():
    return [synthetic_image(), synthetic_image(240, 320)[::-1], synthetic_image(200, 200)[:, ::-1]]


def assert_same_detections(found, expected):
    assert len(expected.labels) > 0
    assert found.labels.tolist() == expected.labels.tolist()
    torch.testing.assert_close(found.boxes, expected.boxes, rtol=0, atol=1e-3)  # pixels
    torch.testing.assert_close(found.scores, expected.scores, rtol=0, atol=1e-4)


@pytest.mark.parametrize("nms_method, emulate_jetson", [("hard", False), ("detectnet", True)])
def test_a_net_and_its_export_find_the_same_detections(net_and_export, images, nms_method, emulate_jetson):
    net, path = net_and_export
    select = selection(nms_method, score_threshold=0.3, threshold=0.3)
    on_net = net_pipeline(net, "cpu", select, emulate_jetson).predict(images)
    on_export = onnx_pipeline(OnnxModel(path), NET, select, emulate_jetson).predict(images)
    for found, expected in zip(on_export, on_net, strict=True):
        assert_same_detections(found, expected)


def test_the_predictor_and_the_onnx_detector_agree(net_and_export, images):
    net, path = net_and_export
    on_net = Predictor(net, score_threshold=0.3).predict(images)
    on_export = OnnxDetector(path, NET, 0.3).predict(images)
    for found, expected in zip(on_export, on_net, strict=True):
        assert_same_detections(found, expected)
