import torch
from torchvision.ops import box_iou

from classic import assign_priors
from vision.ssd import create_net
from vision.utils import box_utils


def random_targets(generator, count):
    xy = torch.rand(count, 2, generator=generator) * 0.7
    wh = torch.rand(count, 2, generator=generator) * 0.5 + 0.02
    return torch.cat([xy, (xy + wh).clamp(max=1)], 1), torch.randint(1, 6, (count,), generator=generator)


def test_batched_matching_equals_the_classic_per_image_loop_with_padding():
    priors = create_net("mb1-ssd", 2).priors
    generator = torch.Generator().manual_seed(0)
    counts = [3, 0, 7, 1]
    width = max(counts)
    boxes = torch.zeros(len(counts), width, 4)
    labels = torch.full((len(counts), width), box_utils.PADDING_LABEL)
    for i, count in enumerate(counts):
        boxes[i, :count], labels[i, :count] = random_targets(generator, count)
    # Two identical targets in one image: the later one must win the forced match, as in the loop.
    boxes[2, 6], labels[2, 6] = boxes[2, 5], 5

    matched_labels, matched_boxes = box_utils.match_priors(boxes, labels, priors, 0.5)
    corner_priors = box_utils.center_to_corner(priors)
    for i, count in enumerate(counts):
        if count == 0:
            assert (matched_labels[i] == 0).all()
            continue
        # eps=0: torchvision's IoU, which match_priors uses (the earlier tools added 1e-5 to the union).
        expected_boxes, expected_labels = assign_priors(boxes[i, :count], labels[i, :count], corner_priors,
                                                        0.5, eps=0)
        assert torch.equal(matched_labels[i], expected_labels)
        positive = expected_labels > 0
        assert torch.equal(matched_boxes[i][positive], expected_boxes[positive])


def test_every_target_gets_at_least_one_prior():
    priors = create_net("mb1-ssd", 2).priors
    tiny = torch.tensor([[[0.50, 0.50, 0.51, 0.51], [0.1, 0.1, 0.9, 0.9]]])
    labels, _ = box_utils.match_priors(tiny, torch.tensor([[3, 4]]), priors)
    assert (labels == 3).sum() >= 1 and (labels == 4).sum() >= 1


def test_matching_an_empty_batch_gives_background():
    priors = create_net("mb1-ssd", 2).priors
    labels, boxes = box_utils.match_priors(torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.long), priors)
    assert labels.shape == (2, 3000) and (labels == 0).all() and boxes.shape == (2, 3000, 4)


def test_batched_iou_equals_torchvision_per_image():
    generator = torch.Generator().manual_seed(1)
    boxes = torch.stack([random_targets(generator, 5)[0] for _ in range(3)])
    others = random_targets(generator, 9)[0]
    result = box_utils.batched_iou(boxes, others)
    for i in range(3):
        torch.testing.assert_close(result[i], box_iou(boxes[i], others))


def test_corner_center_round_trip():
    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.8]], dtype=torch.float64)
    center = box_utils.corner_to_center(boxes)
    torch.testing.assert_close(center, torch.tensor([[0.25, 0.5, 0.3, 0.6]], dtype=torch.float64))
    torch.testing.assert_close(box_utils.center_to_corner(center), boxes)
