import json

import numpy as np
import pytest
import torch
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small

from golden import golden_input, golden_state_dict
from vision.ssd import NET_NAMES, NetError, create_net
from vision.inference.onnx_model import registry_scaling
from vision.ssd.nets import NETS
from vision.ssd.ssd import normalize
from vision.utils import box_utils

COMPATIBLE = ["vgg16-ssd", "mb1-ssd", "mb1-ssd-lite", "sq-ssd-lite", "mb2-ssd-lite"]
MOBILENETS = [name for name in NET_NAMES if name.startswith("mb")]
TOOLKIT_LAYOUTS = [name for name in NET_NAMES if not NETS[name].torchvision_layout]  # tests/test_torchvision_nets.py


@pytest.fixture(scope="module")
def layouts(reference):
    return json.loads((reference / "ssd_layouts.json").read_text())


@pytest.mark.parametrize("name", COMPATIBLE)
def test_state_dict_keys_order_and_shapes_match_the_earlier_tools(name, layouts):
    net = create_net(name, 21)
    ours = [[key, list(value.shape)] for key, value in net.state_dict().items()]
    assert ours == layouts[name]["state_dict"]
    assert sum(p.numel() for p in net.parameters()) == layouts[name]["num_parameters"]


@pytest.mark.parametrize("name", COMPATIBLE)
def test_layers_match_the_reference_architecture(name, reference):
    expected = (reference / "architectures" / f"{name}.txt").read_text().strip()
    assert repr(create_net(name, 21)).strip() == expected


@pytest.mark.parametrize("name", COMPATIBLE)
def test_forward_reproduces_golden_outputs(name, reference):
    golden = np.load(reference / "golden" / f"{name}.npz")
    net = create_net(name, 21).eval()
    net.load_state_dict(golden_state_dict(net.state_dict()), strict=True)
    x = golden_input()
    with torch.no_grad():
        confidences, locations = net(x)
        net.is_test = True
        scores, boxes = net(x)
    for key, value in [("confidences", confidences), ("locations", locations), ("scores", scores),
                       ("boxes", boxes)]:
        # About 1e-5, relative 1e-4 where values are large (GOLDEN.md): float32 sums over many terms
        # round differently with the thread count, on the scale of the largest values.
        scale = max(1.0, float(np.abs(golden[key]).max()))
        np.testing.assert_allclose(value.numpy(), golden[key], rtol=1e-4, atol=1e-5 * scale, err_msg=key)


@pytest.mark.parametrize("name", TOOLKIT_LAYOUTS)
def test_output_shapes_and_prior_count(name, layouts):
    net = create_net(name, 7).eval()
    expected = layouts[name]["num_priors"]
    with torch.no_grad():
        confidences, locations = net(torch.randn(2, 3, 300, 300))
    assert confidences.shape == (2, expected, 7)
    assert locations.shape == (2, expected, 4)
    assert net.priors.shape == (expected, 4)
    assert net.feature_map_sizes(300) == [spec.feature_map_size for spec in net.specs]


@pytest.mark.parametrize("name", ["mb3-large-ssd-lite", "mb3-small-ssd-lite"])
def test_mb3_base_net_is_torchvision_mobilenet_v3(name):
    features = (mobilenet_v3_large if "large" in name else mobilenet_v3_small)().features
    base = create_net(name, 3).base_net
    assert [(k, v.shape) for k, v in base.state_dict().items()] == \
        [(k, v.shape) for k, v in features.state_dict().items()]


def test_test_mode_equals_softmax_and_manual_decoding():
    net = create_net("mb1-ssd-lite", 4).eval()
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        confidences, locations = net(x)
        net.is_test = True
        scores, boxes = net(x)
    priors = net.priors.double().numpy()
    loc = locations[0].double().numpy()
    cx = loc[:, 0] * 0.1 * priors[:, 2] + priors[:, 0]
    cy = loc[:, 1] * 0.1 * priors[:, 3] + priors[:, 1]
    w = np.exp(loc[:, 2] * 0.2) * priors[:, 2]
    h = np.exp(loc[:, 3] * 0.2) * priors[:, 3]
    manual = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    np.testing.assert_allclose(boxes[0].numpy(), manual, rtol=1e-5, atol=1e-6)
    exp = np.exp(confidences[0].double().numpy())
    np.testing.assert_allclose(scores[0].numpy(), exp / exp.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size", [512, 640])
def test_mb1_ssd_priors_at_other_resolutions_match_the_earlier_tool(size, reference):
    net = create_net("mb1-ssd", 3, resolution=size)
    expected = np.load(reference / "priors" / f"mb1-ssd-{size}.npy")
    np.testing.assert_allclose(net.priors.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("name", MOBILENETS + ["sq-ssd-lite"])
def test_every_mobilenet_runs_at_another_resolution(name):
    net = create_net(name, 3, resolution=384).eval()
    with torch.no_grad():
        confidences, _ = net(torch.randn(1, 3, 384, 384))
    assert confidences.shape[1] == net.priors.shape[0] > 3000
    assert [spec.feature_map_size for spec in net.specs] == net.feature_map_sizes(384)


def test_mb2_width_multiplier_builds_a_narrower_net():
    narrow = create_net("mb2-ssd-lite", 3, width_mult=0.5)
    full = create_net("mb2-ssd-lite", 3)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in full.parameters())
    with torch.no_grad():
        assert narrow.eval()(torch.randn(1, 3, 300, 300))[0].shape == (1, 3000, 3)


def test_normalize_applies_the_per_net_mean_and_std():
    images = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    assert torch.allclose(create_net("mb1-ssd", 2).normalize(images), torch.tensor((255 - 127) / 128))
    vgg = create_net("vgg16-ssd", 2).normalize(images)
    assert torch.allclose(vgg[0, :, 0, 0], torch.tensor([132.0, 138.0, 151.0]))


@pytest.mark.parametrize("name", NET_NAMES)
def test_the_one_normalize_uses_each_registry_nets_mean_and_std(name):
    """Nets (create_net's buffers) and exports (OnnxModel's scaling) take the registry's mean/std."""
    config = NETS[name]
    pixels = torch.tensor([0, 77, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    expected = (pixels.float() - torch.tensor(config.mean).view(1, 3, 1, 1)) / config.std
    torch.testing.assert_close(normalize(pixels, *config.input_scaling()), expected)
    torch.testing.assert_close(normalize(pixels, *registry_scaling(name)), expected)
    net = create_net(name, 2)
    torch.testing.assert_close(net.normalize(pixels), expected)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="yolo", num_classes=3), "unknown net"),
    (dict(name="mb1-ssd", num_classes=1), "BACKGROUND"),
    (dict(name="mb1-ssd", num_classes=3, width_mult=0.5), "mb2-ssd-lite only"),
    (dict(name="vgg16-ssd", num_classes=3, resolution=64), "too small"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(NetError, match=message):
        create_net(**kwargs)


def test_decode_inverts_encode_on_any_dtype():
    priors = create_net("mb1-ssd", 2).priors
    boxes = torch.tensor([[0.1, 0.2, 0.5, 0.7]]).expand(priors.shape[0], 4)
    for dtype in (torch.float32, torch.float64):
        encoded = box_utils.encode(boxes.to(dtype), priors)
        assert encoded.dtype == dtype
        torch.testing.assert_close(box_utils.decode(encoded, priors), boxes.to(dtype))
