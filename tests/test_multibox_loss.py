import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from classic import classic_multibox_loss
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd import create_net
from vision.utils import box_utils


def matched_batch(seed, boxes_per_image=(2, 5, 1)):
    generator = torch.Generator().manual_seed(seed)
    priors = create_net("mb1-ssd", 2).priors
    width = max(boxes_per_image)
    boxes = torch.zeros(len(boxes_per_image), width, 4)
    labels = torch.full((len(boxes_per_image), width), box_utils.PADDING_LABEL)
    for i, count in enumerate(boxes_per_image):
        xy = torch.rand(count, 2, generator=generator) * 0.6
        boxes[i, :count] = torch.cat([xy, xy + 0.1 + torch.rand(count, 2, generator=generator) * 0.3], 1)
        labels[i, :count] = torch.randint(1, 5, (count,), generator=generator)
    matched_labels, matched_boxes = box_utils.match_priors(boxes, labels, priors)
    gt_locations = box_utils.encode(matched_boxes, priors)
    batch = len(boxes_per_image)
    confidence = torch.randn(batch, priors.shape[0], 5, generator=generator)
    locations = torch.randn(batch, priors.shape[0], 4, generator=generator)
    return confidence, locations, matched_labels, gt_locations


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_the_earlier_loss(seed):
    confidence, locations, labels, gt_locations = matched_batch(seed)
    ours = MultiboxLoss(neg_pos_ratio=3)(confidence, locations, labels, gt_locations)
    classic = classic_multibox_loss(confidence, locations, labels, gt_locations)
    for a, b in zip(ours, classic):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_the_earlier_constructor_arguments_are_accepted():
    priors = create_net("mb1-ssd", 2).priors
    loss = MultiboxLoss(priors, iou_threshold=0.5, neg_pos_ratio=3, center_variance=0.1, size_variance=0.2,
                        device=torch.device("cpu"))
    confidence, locations, labels, gt_locations = matched_batch(3)
    torch.testing.assert_close(loss(confidence, locations, labels, gt_locations),
                               classic_multibox_loss(confidence, locations, labels, gt_locations))


@pytest.mark.parametrize("name, value", [("iou_threshold", 0.6), ("center_variance", 0.2), ("size_variance", 0.1)])
def test_an_earlier_setting_other_than_its_default_is_warned_about(name, value):
    with pytest.warns(UserWarning, match=rf"^MultiboxLoss ignores {name}={value}: targets are matched and encoded "
                                         rf"with {name}=0\.\d before the loss$") as caught:
        MultiboxLoss(**{name: value})
    assert len(caught) == 1


def test_the_earlier_defaults_are_accepted_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiboxLoss(create_net("mb1-ssd", 2).priors, iou_threshold=0.5, neg_pos_ratio=3, center_variance=0.1,
                     size_variance=0.2, device=torch.device("cpu"))
        MultiboxLoss(negatives_per_empty_image=4)


def test_hand_checked_case():
    # One image, four priors: prior 0 positive (class 1), the others background.
    confidence = torch.tensor([[[0.0, 2.0], [3.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    labels = torch.tensor([[1, 0, 0, 0]])
    locations = torch.tensor([[[0.5, 0.0, 0.0, 2.0]] + [[0.0] * 4] * 3])
    regression, classification = MultiboxLoss(neg_pos_ratio=1)(confidence, locations, labels,
                                                              torch.zeros(1, 4, 4))
    # smooth L1: 0.5 * 0.5^2 + (2 - 0.5) = 1.625; one positive.
    assert regression.item() == pytest.approx(1.625)
    # The hardest negative is prior 2 (background loss log(1 + e)); plus the positive's log(1 + e^-2).
    expected = math.log(1 + math.e) + math.log(1 + math.exp(-2))
    assert classification.item() == pytest.approx(expected, rel=1e-6)


def test_empty_images_contribute_hard_negatives_and_stay_finite():
    confidence, locations, labels, gt_locations = matched_batch(4, boxes_per_image=(0, 0))
    regression, classification = MultiboxLoss()(confidence, locations, labels, gt_locations)
    assert regression.item() == 0 and classification.item() == 0
    regression, classification = MultiboxLoss(negatives_per_empty_image=10)(confidence, locations, labels,
                                                                           gt_locations)
    background = -F.log_softmax(confidence, dim=2)[:, :, 0]
    expected = background.topk(10, dim=1).values.sum()
    assert torch.isfinite(classification) and classification.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradients_flow_under_bfloat16_inputs():
    confidence, locations, labels, gt_locations = matched_batch(5)
    confidence = confidence.bfloat16().requires_grad_()
    regression, classification = MultiboxLoss()(confidence, locations, labels, gt_locations)
    (regression + classification).backward()
    assert classification.dtype == torch.float32 and confidence.grad.abs().sum() > 0
