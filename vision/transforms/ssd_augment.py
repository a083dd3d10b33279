"""SSD training augmentation and the evaluation resize, on uint8 images (transforms.v2, tv_tensors).

Both map (image uint8 [3, H, W], boxes float32 [G, 4] pixel corners, labels int64 [G]) to
(image uint8 [3, S, S], boxes float32 [G', 4] corners normalized to [0, 1], labels int64 [G']).
Randomness comes from torch's global RNG, which TransformedDataset seeds for every sample.
"""
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

# Minimum IoU of the crop with a box whose centre it holds; None leaves the canvas uncropped (SSD paper).
CROP_MIN_IOUS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, None)


@dataclass(frozen=True)
class View:
    """What the output shows: the part of the image inside the crop and where it lands in the output."""
    source: tuple[int, int, int, int]  # top, left, height, width of the visible part of the image
    target: tuple[int, int, int, int]  # top, left, height, width where that part lands (size x size)
    keep: Tensor                       # bool [G]: boxes whose centre lies inside the crop


@dataclass(frozen=True)
class Augmentation:
    """A recipe of train_ssd.py --data-augmentation. Every recipe flips horizontally."""
    photometric: bool             # colour distortion
    zoom_out_probability: float   # how often the image is shrunk onto a larger canvas
    crop: bool                    # minimum-IoU random crop
    vertical_flip: bool = False   # for data without up and down (microscopy, aerial views, the built-in shapes)


# Named as in torchvision's detection references, where they have a name there.
AUGMENTATIONS = {
    "ssd": Augmentation(photometric=True, zoom_out_probability=0.5, crop=True),  # the SSD paper's
    "ssdlite": Augmentation(photometric=False, zoom_out_probability=0.0, crop=True),  # torchvision's SSDlite
    "hflip": Augmentation(photometric=False, zoom_out_probability=0.0, crop=False),
    "flips": Augmentation(photometric=False, zoom_out_probability=0.0, crop=False, vertical_flip=True),
}


def train_transform(augmentation: str, size: int, mean: Sequence[float]) -> "SSDTrainTransform":
    """The training transform of a --data-augmentation recipe."""
    recipe = AUGMENTATIONS[augmentation]
    return SSDTrainTransform(size, mean, zoom_out_probability=recipe.zoom_out_probability, crop=recipe.crop,
                             photometric=recipe.photometric, vertical_flip=recipe.vertical_flip)


class SSDTrainTransform:
    """Photometric distortion, zoom out (canvas up to 4x filled with the mean), minimum-IoU random crop,
    horizontal flip, optionally vertical flip, resize to size x size, sanitize boxes. Each of the first three
    can be turned off.

    Zoom out, crop and resize are one step: the crop of the zoomed canvas is chosen from the boxes
    alone, then only the part of the image that shows in it is resized and pasted onto a canvas of
    the output size. The 4x canvas is never built and nothing larger than the output is resized.
    The photometric distortion runs on that resized part, before the mean fill: on the original
    pixels, as in the paper, but never on more than size x size of them, and the fill stays the mean.
    """

    def __init__(self, size: int, mean: Sequence[float], zoom_out_probability: float = 0.5,
                 max_zoom_out: float = 4.0, crop_trials: int = 40, crop: bool = True,
                 photometric: bool = True, vertical_flip: bool = False):
        self.size = size
        self.fill = [round(float(value)) for value in mean]
        self.zoom_out_probability = zoom_out_probability
        self.max_zoom_out = max_zoom_out
        self.crop_trials = crop_trials if crop else 0
        self.photometric = PhotometricDistort() if photometric else None
        self.flip = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]) if vertical_flip \
            else v2.RandomHorizontalFlip()
        self.sanitize = v2.SanitizeBoundingBoxes()

    def __call__(self, image: Tensor, boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        height, width = image.shape[-2:]
        view = sample_view(height, width, boxes, self.size, self.zoom_out_probability,
                           self.max_zoom_out, self.crop_trials)
        image = tv_tensors.Image(self._render(image, view))
        boxes = self._move_boxes(
            tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width)), view)
        image, boxes = self.flip(image, boxes)
        sample = self.sanitize({"image": image, "boxes": boxes, "labels": labels})
        return (sample["image"].as_subclass(Tensor), sample["boxes"].as_subclass(Tensor) / self.size,
                sample["labels"])

    def _render(self, image: Tensor, view: View) -> Tensor:
        part = F.resize(F.crop(image, *view.source), list(view.target[2:]), antialias=True)
        if self.photometric is not None:
            part = self.photometric(part)
        return F.pad(part, self._padding(view), fill=self.fill)

    def _move_boxes(self, boxes: tv_tensors.BoundingBoxes, view: View) -> tv_tensors.BoundingBoxes:
        boxes = F.resize(F.crop(boxes, *view.source), list(view.target[2:]))
        boxes = F.pad(boxes, self._padding(view))
        boxes[~view.keep] = 0  # centre outside the crop: made degenerate for sanitize to remove
        return boxes

    def _padding(self, view: View) -> list[int]:
        top, left, height, width = view.target
        return [left, top, self.size - left - width, self.size - top - height]


class PhotometricDistort:
    """torchvision's RandomPhotometricDistort (the SSD paper's ranges and order) on uint8 images, with
    the hue shift done by OpenCV in 8-bit HSV: torchvision's float HSV round trip takes 6 ms on a
    300 x 300 image, eight times as long, and was the largest cost of a training sample."""

    def __init__(self, brightness=(0.875, 1.125), contrast=(0.5, 1.5), saturation=(0.5, 1.5),
                 hue=(-0.05, 0.05), p: float = 0.5):
        self.ranges = (brightness, contrast, saturation, hue)
        self.p = p

    def __call__(self, image: Tensor) -> Tensor:
        brightness, contrast, saturation, hue = (
            float(torch.empty(()).uniform_(*bounds)) if float(torch.rand(())) < self.p else None
            for bounds in self.ranges)
        contrast_first = float(torch.rand(())) < 0.5
        permutation = torch.randperm(3).tolist() if float(torch.rand(())) < self.p else None
        if brightness is not None:
            image = F.adjust_brightness(image, brightness)
        if contrast is not None and contrast_first:
            image = F.adjust_contrast(image, contrast)
        if saturation is not None:
            image = F.adjust_saturation(image, saturation)
        if hue is not None:
            image = shift_hue(image, hue)
        if contrast is not None and not contrast_first:
            image = F.adjust_contrast(image, contrast)
        if permutation is not None:
            image = F.permute_channels(image, permutation)
        return image


def shift_hue(image: Tensor, factor: float) -> Tensor:
    """Rotate the hue of a uint8 RGB image [3, H, W] by `factor` of a full turn (-0.5 to 0.5)."""
    hsv = cv2.cvtColor(image.permute(1, 2, 0).contiguous().numpy(), cv2.COLOR_RGB2HSV_FULL)
    hsv[:, :, 0] += np.uint8(round(factor * 256) % 256)  # uint8 arithmetic wraps around the circle
    return torch.from_numpy(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)).permute(2, 0, 1).contiguous()


# How an image is brought to the net's size. "antialias": ours, bilinear with antialiasing on uint8;
# "torchvision": torchvision's detection models', bilinear without antialiasing on float pixels (the
# result stays float 0..255), which the published COCO AP of its SSDs was measured with.
RESIZES = ("antialias", "torchvision")


def resize_image(image: Tensor, size: int, resize: str = "antialias") -> Tensor:
    if resize == "torchvision":
        return F.resize(image.float(), [size, size], antialias=False)
    if resize == "antialias":
        return F.resize(image, [size, size], antialias=True)
    raise ValueError(f"unknown resize {resize!r}: {' or '.join(RESIZES)}")


class SSDEvalTransform:
    """Resize only, with the same call as the predictor, so evaluation sees what deployment sees."""

    def __init__(self, size: int, resize: str = "antialias"):
        self.size = size
        self.resize = resize

    def __call__(self, image: Tensor, boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        height, width = image.shape[-2:]
        image = resize_image(image, self.size, self.resize)
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        return image, boxes / scale, labels


def sample_view(height: int, width: int, boxes: Tensor, size: int, zoom_out_probability: float = 0.5,
                max_zoom_out: float = 4.0, crop_trials: int = 40) -> View:
    """Zoom out, then pick a crop of the zoomed canvas; return the visible part and its place."""
    canvas_h, canvas_w, top, left = _sample_zoom_out(height, width, zoom_out_probability, max_zoom_out)
    on_canvas = boxes + torch.tensor([left, top, left, top], dtype=boxes.dtype)
    crop, keep = _sample_crop(on_canvas, canvas_h, canvas_w, crop_trials)
    crop_x0, crop_y0, crop_x1, crop_y1 = crop
    # The visible part: the crop's intersection with the image, in canvas coordinates.
    x0, y0 = max(crop_x0, left), max(crop_y0, top)
    x1, y1 = min(crop_x1, left + width), min(crop_y1, top + height)
    scale_x, scale_y = size / (crop_x1 - crop_x0), size / (crop_y1 - crop_y0)
    out_x0, out_x1 = _place(x0 - crop_x0, x1 - crop_x0, scale_x, size)
    out_y0, out_y1 = _place(y0 - crop_y0, y1 - crop_y0, scale_y, size)
    return View(source=(y0 - top, x0 - left, y1 - y0, x1 - x0),
                target=(out_y0, out_x0, out_y1 - out_y0, out_x1 - out_x0), keep=keep)


def _sample_zoom_out(height: int, width: int, probability: float, max_zoom_out: float):
    """(canvas height, canvas width, top, left) of the image on a canvas up to max_zoom_out times its size."""
    if float(torch.rand(())) >= probability:
        return height, width, 0, 0
    ratio = 1.0 + float(torch.rand(())) * (max_zoom_out - 1.0)
    canvas_h, canvas_w = int(height * ratio), int(width * ratio)
    offset_x, offset_y = torch.rand(2).tolist()
    return canvas_h, canvas_w, int((canvas_h - height) * offset_y), int((canvas_w - width) * offset_x)


def _sample_crop(boxes: Tensor, canvas_h: int, canvas_w: int, trials: int):
    """An SSD crop (x0, y0, x1, y1) of the canvas and the mask of the boxes whose centre it holds.

    As torchvision's RandomIoUCrop: pick a minimum IoU, try `trials` crops of 0.3 to 1 of each side
    with aspect ratio 0.5 to 2, take the first holding a box centre with at least that IoU. The trials
    are judged all at once, in numpy: small arrays cost far less there than as tensors. No trials:
    no crop.
    """
    whole = ((0, 0, canvas_w, canvas_h), torch.ones(len(boxes), dtype=torch.bool))
    if len(boxes) == 0 or trials == 0:  # a negative image stays whole: nothing to keep in view
        return whole
    boxes = boxes.double().numpy()
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    while True:
        min_iou = CROP_MIN_IOUS[int(torch.randint(len(CROP_MIN_IOUS), ()))]
        if min_iou is None:
            return whole
        draws = torch.rand(trials, 4, dtype=torch.float64).numpy()
        sizes = np.floor(np.array([canvas_w, canvas_h]) * (0.3 + 0.7 * draws[:, :2]))
        corners = np.floor((np.array([canvas_w, canvas_h]) - sizes) * draws[:, 2:])
        crops = np.concatenate([corners, corners + sizes], axis=1)  # [T, 4]
        inside = ((centres[None] > crops[:, None, :2]) & (centres[None] < crops[:, None, 2:])).all(axis=2)
        ious = np.where(inside, _iou(crops, boxes), -1.0)
        aspect = sizes[:, 0] / np.maximum(sizes[:, 1], 1)
        good = (sizes > 0).all(axis=1) & (aspect >= 0.5) & (aspect <= 2.0) & (ious.max(axis=1) >= min_iou)
        if good.any():
            chosen = int(np.argmax(good))
            return tuple(int(value) for value in crops[chosen]), torch.from_numpy(inside[chosen])


def _iou(crops: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of every crop [T, 4] with every box [G, 4]: [T, G]."""
    low = np.maximum(crops[:, None, :2], boxes[None, :, :2])
    high = np.minimum(crops[:, None, 2:], boxes[None, :, 2:])
    overlap = np.clip(high - low, 0, None).prod(axis=2)
    areas = (crops[:, 2:] - crops[:, :2]).prod(axis=1)[:, None] + (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return overlap / np.maximum(areas - overlap, 1e-9)


def _place(start: float, end: float, scale: float, size: int) -> tuple[int, int]:
    """Pixel span in the output of a visible span of the crop; at least one pixel wide."""
    first = min(round(start * scale), size - 1)
    return first, max(first + 1, min(round(end * scale), size))
