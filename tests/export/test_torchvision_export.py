"""torchvision's COCO SSDs through the commands: export (both input normalizations), the model path
"torchvision" from torch.hub's cache, its labels, and the offline message."""
import onnx
import pytest
import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

from export_helpers import lively_net, run_script
from vision.export.onnx_export import export_verified, preprocessing_warning, synthetic_image
from vision.inference.pipeline import OnnxDetector, net_input
from vision.ssd import weights
from vision.ssd.loading import load_model
from vision.ssd.weights import WeightsError, load_weights

SSDLITE = "ssdlite320-mb3-large"
SSDLITE_FILE = weights.TORCHVISION_COCO[SSDLITE].url.rsplit("/", 1)[1]


@pytest.mark.parametrize("name, resolution", [(SSDLITE, 320), ("ssd300-vgg16", 300)])
def test_detectnet_input_normalization_gives_the_nets_outputs_on_detectnets_input(tmp_path, name, resolution):
    net = lively_net(name, resolution=resolution)
    path = tmp_path / "ssd-mobilenet.onnx"
    differences = export_verified(net, str(path), synthetic_image(), input_normalization="detectnet")
    assert all(difference.ok for difference in differences.values()), differences
    props = {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}
    assert props["input_normalization"] == "detectnet"
    # Fed as detectNet feeds it, the graph detects what the net does on its own input.
    image = synthetic_image()
    detector = OnnxDetector(str(path), name, 0.3)
    detectnet = torch.full((3,), 127.5)
    assert torch.equal(detector.mean, detectnet)
    scores, _ = detector.model(net_input(image, resolution, detectnet, detectnet))
    with torch.no_grad():
        expected, _ = net(net_input(image, resolution, net.mean, net.std))
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-4)


def test_net_input_normalization_keeps_the_contract_and_warns_for_vgg(tmp_path):
    net = lively_net(SSDLITE, resolution=320)
    path = tmp_path / "ssd-mobilenet.onnx"
    differences = export_verified(net, str(path), synthetic_image())
    assert all(difference.ok for difference in differences.values()), differences
    assert OnnxDetector(str(path), SSDLITE, 0.3).model.input_normalization == "net"
    assert preprocessing_warning(net) is None  # SSDlite's (px/255 - 0.5)/0.5 is detectNet's
    vgg = torch.nn.Module()  # the warning reads only the name and the scaling
    vgg.net_name, vgg.mean, vgg.std = "ssd300-vgg16", torch.tensor([123.0, 117.0, 104.0]), torch.ones(1)
    assert "--input-normalization detectnet" in preprocessing_warning(vgg)
    assert preprocessing_warning(vgg, "detectnet") is None


@pytest.fixture
def cached_ssdlite(monkeypatch, tmp_path):
    """torchvision's SSDlite state_dict (random weights) where torch.hub keeps the COCO file."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    torch.save(model.state_dict(), checkpoints / SSDLITE_FILE)
    return model


def test_torchvision_model_path_loads_the_coco_weights_and_labels(cached_ssdlite):
    net, labels = load_model("torchvision", SSDLITE)
    assert net.resolution == 320 and len(labels) == net.num_classes == 91
    assert labels[:3] == ["BACKGROUND", "person", "bicycle"] and labels[12] == "N/A"
    assert all(torch.equal(value, cached_ssdlite.state_dict()[key]) for key, value in net.state_dict().items())


def test_export_of_torchvisions_coco_model_writes_its_labels(cached_ssdlite, tmp_path):
    output = tmp_path / "coco" / "ssd-mobilenet.onnx"
    output.parent.mkdir()
    result = run_script("onnx_export.py", "--input", "torchvision", "--net", SSDLITE, "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert output.is_file()
    labels = (output.parent / "labels.txt").read_text().splitlines()
    assert labels[0] == "BACKGROUND" and len(labels) == 91 and labels[-1] == "toothbrush"


def test_offline_the_message_names_the_file_and_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    class Unreachable:
        url = "http://127.0.0.1:9/" + SSDLITE_FILE  # port 9 (discard) has no server here

        def get_state_dict(self, **kwargs):
            return torch.hub.load_state_dict_from_url(self.url, **kwargs)

    monkeypatch.setitem(weights.TORCHVISION_COCO, SSDLITE, Unreachable())
    with pytest.raises(WeightsError) as error:
        load_weights(lively_net(SSDLITE, resolution=320), "torchvision")
    message = str(error.value)
    assert "\n" not in message and SSDLITE_FILE in message
    assert f"put {SSDLITE_FILE} into {tmp_path}/hub/checkpoints/" in message


def test_torchvision_weights_for_another_net_is_a_clear_error():
    with pytest.raises(WeightsError, match="ssdlite320-mb3-large and ssd300-vgg16 only"):
        load_weights(lively_net("mb1-ssd-lite"), "torchvision")
