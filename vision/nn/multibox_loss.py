"""The SSD MultiBox loss for targets already matched to priors, vectorized over the batch."""
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The earlier tools' matching and encoding settings, which their scripts passed to the loss; here they
# are fixed where targets are matched and encoded (vision.utils.box_utils), before the loss.
EARLIER_SETTINGS = {"iou_threshold": 0.5, "center_variance": 0.1, "size_variance": 0.2}


class MultiboxLoss(nn.Module):
    """Smooth L1 over positives plus cross entropy over positives and hard negatives.

    Hard negative mining keeps, per image, the `neg_pos_ratio` negatives per positive with the highest
    background loss. With `negatives_per_empty_image=K`, an image without any positive also contributes
    its K hardest negatives, so negative images teach the background (the earlier loss ignored them).
    Both parts are divided by the number of positives in the batch (at least 1, so a batch without
    positives gives a finite loss).

    The arguments before `neg_pos_ratio`, the variances and `device` are those of the earlier tools'
    constructor, accepted so their scripts keep working; matching and encoding happen before the loss here,
    so a matching or encoding setting other than the earlier tools' is warned about (it has no effect).
    `priors` (the net's own) and `device` (the inputs') carry nothing to lose.
    """

    def __init__(self, priors=None, iou_threshold: float = 0.5, neg_pos_ratio: int = 3,
                 center_variance: float = 0.1, size_variance: float = 0.2, device=None,
                 negatives_per_empty_image: int = 0):
        super().__init__()
        given = {"iou_threshold": iou_threshold, "center_variance": center_variance, "size_variance": size_variance}
        for name, value in given.items():
            if value != EARLIER_SETTINGS[name]:
                warnings.warn(f"MultiboxLoss ignores {name}={value}: targets are matched and encoded with "
                              f"{name}={EARLIER_SETTINGS[name]} before the loss", stacklevel=2)
        self.neg_pos_ratio = neg_pos_ratio
        self.negatives_per_empty_image = negatives_per_empty_image

    def forward(self, confidence: Tensor, predicted_locations: Tensor, labels: Tensor,
                gt_locations: Tensor) -> tuple[Tensor, Tensor]:
        """confidence [B,N,C], predicted_locations [B,N,4], labels [B,N], gt_locations [B,N,4]
        -> (regression_loss, classification_loss)."""
        confidence = confidence.float()  # the loss is computed in float32, also under autocast
        positive = labels > 0
        with torch.no_grad():
            background_loss = -F.log_softmax(confidence, dim=2)[:, :, 0]
            mask = positive | self._hard_negatives(background_loss, positive)
        classification_loss = F.cross_entropy(confidence[mask], labels[mask], reduction="sum")
        regression_loss = F.smooth_l1_loss(predicted_locations[positive].float(),
                                           gt_locations[positive].float(), reduction="sum")
        num_positive = positive.sum().clamp(min=1)
        return regression_loss / num_positive, classification_loss / num_positive

    def _hard_negatives(self, background_loss: Tensor, positive: Tensor) -> Tensor:
        num_positive = positive.sum(dim=1, keepdim=True)
        num_negative = num_positive * self.neg_pos_ratio
        if self.negatives_per_empty_image:
            num_negative = torch.where(num_positive == 0, self.negatives_per_empty_image, num_negative)
        loss = background_loss.masked_fill(positive, -torch.inf)
        rank = loss.argsort(dim=1, descending=True).argsort(dim=1)
        return rank < num_negative
