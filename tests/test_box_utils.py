import torch
from torchvision.ops import box_iou

from vision.ssd import create_net
from vision.utils import box_utils


def classic_assign_priors(gt_boxes, gt_labels, corner_priors, iou_threshold):
    """The earlier tools' per-image matcher (qfgaohao box_utils.assign_priors), for comparison."""
    ious = box_iou(corner_priors, gt_boxes)  # [num_priors, num_targets]
    best_target_per_prior, best_target_per_prior_index = ious.max(1)
    best_prior_per_target, best_prior_per_target_index = ious.max(0)
    for target_index, prior_index in enumerate(best_prior_per_target_index):
        best_target_per_prior_index[prior_index] = target_index
    best_target_per_prior.index_fill_(0, best_prior_per_target_index, 2)
    labels = gt_labels[best_target_per_prior_index]
    labels[best_target_per_prior < iou_threshold] = 0
    return labels, gt_boxes[best_target_per_prior_index]


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
        expected_labels, expected_boxes = classic_assign_priors(boxes[i, :count], labels[i, :count],
                                                                corner_priors, 0.5)
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
