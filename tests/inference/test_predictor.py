import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from vision.inference.detections import select_detections
from vision.inference.pipeline import Predictor
from vision.ssd import create_net


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return Predictor(create_net("mb1-ssd-lite", 4), score_threshold=0.2, top_k=50)


def generated_image(seed, height, width):
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 40, np.uint8)
    x, y = rng.integers(0, width // 2), rng.integers(0, height // 2)
    image[y:y + height // 3, x:x + width // 3] = rng.integers(0, 255, 3)
    return image


def test_select_detections_applies_threshold_per_class_nms_top_k_and_scaling():
    scores = torch.zeros(4, 3)
    scores[:, 0] = 1
    scores[0, 1], scores[1, 1], scores[2, 2], scores[3, 1] = 0.9, 0.8, 0.7, 0.05
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.52], [0.1, 0.1, 0.5, 0.5],
                          [0.6, 0.6, 0.9, 0.9]])
    found = select_detections(scores, boxes, (200, 100), score_threshold=0.1)
    # box 1 overlaps box 0 of the same class and goes; box 2 is another class and stays; box 3 is too weak.
    assert found.labels.tolist() == [1, 2]
    assert found.scores.tolist() == pytest.approx([0.9, 0.7])
    torch.testing.assert_close(found.boxes[0], torch.tensor([10.0, 20.0, 50.0, 100.0]))
    assert len(select_detections(scores, boxes, (200, 100), 0.1, top_k=1).labels) == 1


def test_predictor_boxes_come_from_the_net_on_the_resized_image(predictor):
    image = generated_image(1, 240, 320)
    found = predictor.predict(image)
    resized = F.resize(torch.from_numpy(image).permute(2, 0, 1), [300, 300], antialias=True)
    with torch.no_grad():
        scores, boxes = predictor.net.postprocess(*predictor.net(predictor.net.normalize(resized[None])))
    expected = select_detections(scores[0], boxes[0], (240, 320), 0.2, top_k=50)
    assert len(found.labels) > 0
    torch.testing.assert_close(found.boxes, expected.boxes)
    assert torch.equal(found.labels, expected.labels)


def test_a_batch_gives_the_same_detections_as_single_images(predictor):
    images = [generated_image(seed, 120 + 40 * seed, 200) for seed in range(3)]
    batch = predictor.predict(images)
    for image, found in zip(images, batch):
        single = predictor.predict(image)
        torch.testing.assert_close(found.boxes, single.boxes, rtol=1e-4, atol=1e-3)
        assert torch.equal(found.labels, single.labels)
        assert (found.boxes[:, 2] <= image.shape[1] * 1.5).all()


def test_input_formats_agree(predictor):
    image = generated_image(2, 150, 180)
    reference = predictor.predict(image)
    chw = predictor.predict(torch.from_numpy(image).permute(2, 0, 1).contiguous())
    hwc = predictor.predict(torch.from_numpy(image))
    for found in (chw, hwc):
        torch.testing.assert_close(found.boxes, reference.boxes)
    gray = predictor.predict(image[:, :, 0])
    assert gray.boxes.shape[1] == 4


def test_non_uint8_images_are_rejected(predictor):
    with pytest.raises(TypeError, match="uint8"):
        predictor.predict(np.zeros((10, 10, 3), np.float32))
