"""torchvision's SSDs as nets of the toolkit: its state_dict, its outputs, its detections.

torchvision builds these models without downloading anything (weights=None, weights_backbone=None);
random weights with randomized BatchNorm statistics stand in for the published ones.
"""
import pytest
import torch
from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import clip_boxes_to_image

from model_helpers import randomized
from vision.inference.pipeline import Predictor
from vision.ssd import create_net
from vision.training.schedule import parameter_groups

TORCHVISION_BUILDERS = {"ssdlite320-mb3-large": ssdlite320_mobilenet_v3_large, "ssd300-vgg16": ssd300_vgg16}
# torchvision's post-processing of each (nms_thresh, score_thresh, detections_per_img, topk_candidates).
POSTPROCESSING = {"ssdlite320-mb3-large": (0.55, 0.001, 300, 300), "ssd300-vgg16": (0.45, 0.01, 200, 400)}


def make_pair(name: str):
    """(our net in test mode with torchvision's weights loaded strict, torchvision's model), 91 classes."""
    theirs = randomized(TORCHVISION_BUILDERS[name](weights=None, weights_backbone=None))
    ours = create_net(name, 91, is_test=True).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@pytest.fixture(scope="module", params=list(TORCHVISION_BUILDERS))
def pair(request):
    return make_pair(request.param)


def test_state_dict_keys_and_shapes_are_torchvisions(pair):
    ours, theirs = pair
    assert [(key, value.shape) for key, value in ours.state_dict().items()] == \
        [(key, value.shape) for key, value in theirs.state_dict().items()]


def test_default_resolution_and_normalization(pair):
    ours, theirs = pair
    assert ours.resolution == theirs.transform.fixed_size[0]
    pixels = torch.tensor([0, 77, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    mean = torch.tensor(theirs.transform.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(theirs.transform.image_std).view(1, 3, 1, 1)
    torch.testing.assert_close(ours.normalize(pixels), (pixels / 255.0 - mean) / std)


@torch.no_grad()
def test_test_mode_outputs_are_torchvisions_scores_and_decoded_boxes(pair):
    ours, theirs = pair
    size = ours.resolution
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    features = list(theirs.backbone(x).values())
    head = theirs.head(features)
    anchors = theirs.anchor_generator(ImageList(x, [(size, size)]), features)[0]
    decoded = clip_boxes_to_image(theirs.box_coder.decode_single(head["bbox_regression"][0], anchors), (size, size))
    scores, boxes = ours(x)
    torch.testing.assert_close(scores[0], torch.softmax(head["cls_logits"][0], dim=1))
    torch.testing.assert_close(boxes[0], decoded / size, atol=1e-5, rtol=0)
    ours.is_test = False
    try:
        confidences, locations = ours(x)
    finally:
        ours.is_test = True
    torch.testing.assert_close(confidences, head["cls_logits"])
    torch.testing.assert_close(locations, head["bbox_regression"])


@torch.no_grad()
def test_detections_equal_torchvisions_eval_outputs(pair):
    ours, theirs = pair
    nms, score, top_k, candidates = POSTPROCESSING[ours.net_name]
    assert (theirs.nms_thresh, theirs.score_thresh, theirs.detections_per_img, theirs.topk_candidates) == \
        POSTPROCESSING[ours.net_name]
    size = ours.resolution
    image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    expected = theirs([image / 255.0])[0]
    predictor = Predictor(ours, score_threshold=score, nms_iou_threshold=nms, top_k=top_k,
                          candidates_per_class=candidates)
    got = predictor.predict(image)
    assert len(expected["boxes"]) > 10
    torch.testing.assert_close(got.scores, expected["scores"], atol=1e-6, rtol=1e-4)
    # The same detections; of two with equal scores (to rounding) either may come first.
    ours_order, their_order = by_label_and_place(got.labels, got.boxes), by_label_and_place(**expected)
    torch.testing.assert_close(got.labels[ours_order], expected["labels"][their_order])
    torch.testing.assert_close(got.boxes[ours_order], expected["boxes"][their_order], atol=1e-3, rtol=0)


def by_label_and_place(labels, boxes, scores=None):
    return sorted(range(len(labels)), key=lambda i: (int(labels[i]), float(boxes[i, 0]), float(boxes[i, 1])))


def test_priors_are_torchvisions_default_boxes_in_center_form(pair):
    ours, theirs = pair
    anchors = theirs.anchor_generator.num_anchors_per_location()
    assert ours.anchors_per_location == anchors
    assert ours.priors.shape == (sum(a * f * f for a, f in zip(anchors, ours.feature_map_sizes(ours.resolution))), 4)
    first = ours.priors[0]
    step = 8 if ours.net_name == "ssd300-vgg16" else ours.resolution / ours.feature_map_sizes(ours.resolution)[0]
    torch.testing.assert_close(first[:2], torch.full((2,), 0.5 * step / ours.resolution))


@torch.no_grad()
def test_torchvision_resize_gives_torchvisions_detections_on_another_image_size():
    ours, theirs = make_pair("ssdlite320-mb3-large")  # one net suffices: the resize comes before any net
    nms, score, top_k, candidates = POSTPROCESSING[ours.net_name]
    image = torch.randint(0, 256, (3, 240, 400), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    expected = theirs([image / 255.0])[0]
    got = Predictor(ours, score_threshold=score, nms_iou_threshold=nms, top_k=top_k, candidates_per_class=candidates,
                    resize="torchvision").predict(image)
    torch.testing.assert_close(got.scores, expected["scores"], atol=1e-5, rtol=1e-4)
    ours_order, their_order = by_label_and_place(got.labels, got.boxes), by_label_and_place(**expected)
    torch.testing.assert_close(got.boxes[ours_order], expected["boxes"][their_order], atol=1e-3, rtol=0)
    antialiased = Predictor(ours, score_threshold=score, nms_iou_threshold=nms, top_k=top_k,
                            candidates_per_class=candidates).predict(image)
    assert not torch.allclose(antialiased.scores, expected["scores"], atol=1e-3)  # the option matters


def test_parameter_groups_cover_every_parameter_once(pair):
    ours, _ = pair
    groups = {group["name"]: group["params"] for group in parameter_groups(ours, 0.01, 0.001, 0.01)}
    ids = [id(parameter) for params in groups.values() for parameter in params]
    assert sorted(ids) == sorted(id(parameter) for parameter in ours.parameters())
    assert {id(parameter) for parameter in ours.extras.parameters()} <= {id(p) for p in groups["extras"]}
    if ours.net_name == "ssd300-vgg16":  # its L2Norm scale lies outside base net, extras and heads
        assert id(ours.backbone.scale_weight) in {id(p) for p in groups["extras"]}
