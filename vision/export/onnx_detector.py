"""Detections from an exported model through onnxruntime, preprocessed as the Predictor does."""
import numpy as np
import onnxruntime
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as F

from vision.export.contract import INPUT_NAME, OUTPUT_NAMES, ExportError
from vision.ssd.nets import NETS
from vision.ssd.predictor import Detections, select_detections


def net_input(image: np.ndarray, resolution: int, mean: Tensor, std: Tensor) -> Tensor:
    """A uint8 RGB HWC image as the float [1,3,S,S] input of a net: bilinear resize, then (px-mean)/std."""
    chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    resized = F.resize(chw, [resolution, resolution], antialias=True)
    return ((resized.float() - mean.view(3, 1, 1)) / std.view(3, 1, 1)).unsqueeze(0)


class OnnxDetector:
    """Runs an exported .onnx file; `net_name` gives the mean/std the net was trained with."""

    def __init__(self, path: str, net_name: str, score_threshold: float):
        config = NETS.get(net_name)
        if config is None:
            raise ExportError(f"unknown net {net_name!r}: choose one of {', '.join(NETS)}")
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable files
            raise ExportError(f"{path}: cannot be loaded by onnxruntime ({_first_line(error)})") from None
        shapes = {item.name: item.shape for item in self.session.get_inputs() + self.session.get_outputs()}
        missing = [name for name in (INPUT_NAME, *OUTPUT_NAMES) if name not in shapes]
        if missing:
            raise ExportError(f"{path}: has no {', '.join(missing)}; is it an export of onnx_export.py?")
        self.batch_size, _, self.resolution, _ = shapes[INPUT_NAME]
        self.num_classes = shapes[OUTPUT_NAMES[0]][-1]
        self.mean = torch.tensor(config.mean)
        self.std = torch.full((3,), float(config.std))
        self.score_threshold = score_threshold

    def predict(self, image: np.ndarray) -> Detections:
        """Detections for one uint8 RGB HWC image, boxes in its pixels."""
        batch = net_input(image, self.resolution, self.mean, self.std).repeat(self.batch_size, 1, 1, 1)
        scores, boxes = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch.numpy()})
        return select_detections(torch.from_numpy(scores[0]), torch.from_numpy(boxes[0]), image.shape[:2],
                                 self.score_threshold)


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
