"""The one path from images to detections, for a PyTorch SSD and its ONNX export alike.

A Pipeline is four steps: the resize (a dataset transform, so that the data loader's workers can run
it), the input scaling (on the device), the forward pass (a PyTorch net, or an exported file run by
onnxruntime: float inputs -> scores, corner boxes), and the selection of each image's detections
(per-class NMS, or detectNet's clustering). Predictor and OnnxDetector run it on images in memory,
the evaluation on a dataset.
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from vision.ssd.ssd import SSD, normalize
from vision.transforms import SSDEvalTransform

from . import detectnet
from .detections import CANDIDATES_PER_CLASS, NMS_IOU_THRESHOLD, TOP_K, Detections, select_detections
from .onnx_model import OnnxModel, registry_scaling

_NO_BOXES, _NO_LABELS = torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)


@dataclass
class Pipeline:
    resize: Callable                             # dataset transform: (image, boxes, labels) -> resized
    normalize: Callable[[Tensor], Tensor]        # uint8 [B,3,S,S] -> the model's float input
    forward: Callable[[Tensor], tuple[Tensor, Tensor]]  # -> scores [B,N,C], corner boxes [B,N,4]
    select: Callable[[Tensor, Tensor, tuple[int, int]], Detections]  # one image's detections
    device: torch.device

    @torch.no_grad()
    def detect(self, images: Tensor, sizes) -> list[Detections]:
        """Detections for uint8 [B,3,S,S] images already resized; `sizes` are the (h, w) of the
        originals, to which the boxes are scaled."""
        scores, boxes = self.forward(self.normalize(images.to(self.device)))
        return [self.select(scores[row].float(), boxes[row].float(), tuple(size)) for row, size in enumerate(sizes)]

    @torch.no_grad()
    def predict(self, images) -> Detections | list[Detections]:
        """Detections for one uint8 RGB image, or a list of them for a batch: numpy arrays in HWC order
        (as OpenCV gives them, after BGR->RGB) or tensors in HWC or CHW order (a list, or a 4-D array).
        All images of a batch go through the model together."""
        single = _is_single(images)
        batch = [_to_chw_uint8(image) for image in ([images] if single else images)]
        resized = torch.stack([self.resize(image, _NO_BOXES, _NO_LABELS)[0] for image in batch])
        detections = self.detect(resized, [image.shape[-2:] for image in batch])
        return detections[0] if single else detections


def selection(nms_method: str = "hard", score_threshold: float = 0.01,
              nms_iou_threshold: float = NMS_IOU_THRESHOLD, top_k: int = TOP_K,
              threshold: float = detectnet.THRESHOLD, candidates_per_class: int = CANDIDATES_PER_CLASS) -> Callable:
    """`hard`: per-class NMS (score_threshold, nms_iou_threshold, top_k, candidates_per_class);
    `detectnet`: detectNet's one class per prior and clustering (threshold)."""
    if nms_method == "hard":
        return partial(select_detections, score_threshold=score_threshold, nms_iou_threshold=nms_iou_threshold,
                       top_k=top_k, candidates_per_class=candidates_per_class)
    if nms_method == "detectnet":
        return partial(detectnet.detectnet_detections, threshold=threshold)
    raise ValueError(f"unknown NMS method {nms_method!r}: hard or detectnet")


class NetForward:
    """A PyTorch SSD in test or training mode as the forward step: float inputs -> scores, corner boxes."""

    def __init__(self, net: SSD):
        self.net = net

    def __call__(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        outputs = self.net(inputs)
        return outputs if self.net.is_test else self.net.postprocess(*outputs)


def net_pipeline(net: SSD, device, select: Callable, emulate_jetson: bool = False,
                 resize: str = "antialias") -> Pipeline:
    """A PyTorch SSD on `device`, fed with its own mean/std; `resize` as vision.transforms.RESIZES."""
    return _pipeline(net.resolution, net.normalize, NetForward(net), select, torch.device(device), emulate_jetson,
                     resize)


def onnx_pipeline(model: OnnxModel, net_name: str, select: Callable, emulate_jetson: bool = False,
                  resize: str = "antialias") -> Pipeline:
    """An exported model fed as the export contract says: the image normalized with `net_name`'s mean/std,
    or detectNet's for an export with --input-normalization detectnet."""
    mean, std = model.input_scaling(net_name)
    return _pipeline(model.resolution, partial(normalize, mean=mean, std=std), model, select, torch.device("cpu"),
                     emulate_jetson, resize)


def _pipeline(resolution: int, scale: Callable, forward, select, device, emulate_jetson: bool,
              resize: str) -> Pipeline:
    """detectNet's resize and input scaling when emulating the Jetson, else `resize` and the model's."""
    if emulate_jetson:
        return Pipeline(detectnet.NearestResize(resolution), detectnet.normalize, forward, select, device)
    return Pipeline(SSDEvalTransform(resolution, resize), scale, forward, select, device)


class Predictor:
    """A PyTorch SSD's detections on images in memory (see Pipeline.predict)."""

    def __init__(self, net: SSD, score_threshold: float = 0.01, nms_iou_threshold: float = NMS_IOU_THRESHOLD,
                 top_k: int = TOP_K, device: torch.device | str | None = None,
                 candidates_per_class: int = CANDIDATES_PER_CLASS, resize: str = "antialias"):
        """`resize` is "antialias" or "torchvision" (see vision.transforms.RESIZES)."""
        self.device = torch.device(device) if device is not None else net.priors.device
        self.net = net.to(self.device).eval()
        select = selection("hard", score_threshold, nms_iou_threshold, top_k,
                           candidates_per_class=candidates_per_class)
        self.pipeline = net_pipeline(self.net, self.device, select, resize=resize)

    def predict(self, images) -> Detections | list[Detections]:
        return self.pipeline.predict(images)


class OnnxDetector:
    """An exported .onnx file's detections on images in memory, as the Predictor finds them on its net;
    `net_name` gives the mean/std the net was trained with."""

    def __init__(self, path: str, net_name: str, score_threshold: float):
        registry_scaling(net_name)  # an unknown net is refused before the file loads
        self.model = OnnxModel(path)
        self.num_classes = self.model.num_classes
        self.mean, self.std = self.model.input_scaling(net_name)
        self.pipeline = onnx_pipeline(self.model, net_name, selection("hard", score_threshold))

    def predict(self, images) -> Detections | list[Detections]:
        return self.pipeline.predict(images)


def net_input(image: np.ndarray, resolution: int, mean: Tensor, std: Tensor) -> Tensor:
    """A uint8 RGB HWC image as the float [1,3,S,S] input of a net: the pipeline's resize and input
    scaling (for exports and their checks, which feed a model directly)."""
    resized = SSDEvalTransform(resolution)(_to_chw_uint8(image), _NO_BOXES, _NO_LABELS)[0]
    return normalize(resized, mean, std).unsqueeze(0)


def _is_single(images) -> bool:
    return isinstance(images, (np.ndarray, Tensor)) and images.ndim in (2, 3)


def _to_chw_uint8(image) -> Tensor:
    """An RGB uint8 tensor [3, H, W] from an HWC/HW array or an HWC/CHW tensor."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
        channels_last = True
    else:
        channels_last = image.ndim == 3 and image.shape[-1] in (1, 3) and image.shape[0] not in (1, 3)
    if image.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image.unsqueeze(-1 if channels_last else 0)
    if channels_last:
        image = image.permute(2, 0, 1)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    if image.shape[0] != 3:
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(image.shape)}")
    return image.contiguous()
