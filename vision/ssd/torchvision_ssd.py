"""torchvision's detection SSDs (ssdlite320_mobilenet_v3_large, ssd300_vgg16) with the toolkit's contract.

The module keeps torchvision's `backbone` and `head` under their own names, so its state_dict is
torchvision's and the published COCO weights load with strict=True. It takes normalized images and
returns (confidences, locations); its priors are torchvision's default boxes in torchvision's order,
and test mode decodes with torchvision's BoxCoder (weights 10, 10, 5, 5: variances 0.1 and 0.2).
"""
import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_convert

from vision.ssd.ssd import normalize


class TorchvisionSSD(nn.Module):
    # Where the classification heads' keys start: weights.py re-initializes them for another class count.
    HEAD_PREFIX = "head.classification_head.module_list."

    def __init__(self, detector: nn.Module, head_init, is_test: bool = False):
        """`detector` is a torchvision SSD built without weights; its parts are taken over, not copied.
        `head_init` re-initializes a convolution weight as torchvision initialized it."""
        super().__init__()
        self.num_classes = detector.head.classification_head.num_columns
        self.backbone = detector.backbone
        self.head = detector.head
        self.anchor_generator = detector.anchor_generator  # no parameters: the state_dict stays torchvision's
        self.box_coder = detector.box_coder
        self.head_init = head_init
        self.is_test = is_test
        self.register_buffer("priors", torch.empty(0, 4), persistent=False)
        self.register_buffer("mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.ones(1, 3, 1, 1), persistent=False)

    # The parts the toolkit's training and loading address by name (parameter groups, freezing, heads).
    @property
    def base_net(self) -> nn.Module:
        return self.backbone.features

    @property
    def extras(self) -> nn.Module:
        return self.backbone.extra

    @property
    def classification_headers(self) -> nn.ModuleList:
        return self.head.classification_head.module_list

    @property
    def regression_headers(self) -> nn.ModuleList:
        return self.head.regression_head.module_list

    @property
    def anchors_per_location(self) -> list[int]:
        return self.anchor_generator.num_anchors_per_location()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(confidences [B,N,C], locations [B,N,4]); in test mode (softmax scores, corner boxes)."""
        outputs = self.head(list(self.backbone(x).values()))
        confidences, locations = outputs["cls_logits"], outputs["bbox_regression"]
        if self.is_test:
            return self.postprocess(confidences, locations)
        return confidences, locations

    def postprocess(self, confidences: Tensor, locations: Tensor) -> tuple[Tensor, Tensor]:
        """Training outputs to test outputs: softmax scores and normalized corner boxes, clipped to the
        image as torchvision clips them."""
        anchors = box_convert(self.priors, "cxcywh", "xyxy").to(locations.dtype)
        batch, count = locations.shape[:2]
        boxes = self.box_coder.decode_single(locations.reshape(-1, 4), anchors.repeat(batch, 1))
        return torch.softmax(confidences, dim=2), boxes.reshape(batch, count, 4).clamp(0.0, 1.0)

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (or float 0..255) [B,3,S,S] images to the float input this net was trained on."""
        return normalize(images, self.mean, self.std)

    @torch.no_grad()
    def feature_map_sizes(self, resolution: int) -> list[int]:
        return [feature.shape[-1] for feature in self._features(resolution)]

    @torch.no_grad()
    def default_priors(self, resolution: int) -> Tensor:
        """torchvision's default boxes for a square `resolution`, as normalized (cx, cy, w, h)."""
        shapes = [feature.shape for feature in self._features(resolution)]
        with torch.device("cpu"):  # also for a net built on the meta device: the boxes need no weights
            images = ImageList(torch.zeros(1, 3, resolution, resolution), [(resolution, resolution)])
            corners = self.anchor_generator(images, [torch.zeros(shape) for shape in shapes])[0]
            return box_convert(corners / resolution, "xyxy", "cxcywh")

    def reset_classification_heads(self) -> None:
        for layer in self.classification_headers.modules():
            if isinstance(layer, nn.Conv2d):
                self.head_init(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def _features(self, resolution: int) -> list[Tensor]:
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        features = list(self.backbone(torch.zeros(1, 3, resolution, resolution, device=device)).values())
        self.train(was_training)
        return features
