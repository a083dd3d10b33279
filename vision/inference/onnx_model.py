"""The forward step of an exported model: an .onnx file of the export contract run by onnxruntime."""
import numpy as np
import torch
from torch import Tensor

from vision.errors import first_line
from vision.export.contract import INPUT_NAME, OUTPUT_NAMES, ExportError
from vision.ssd.nets import NETS

DETECTNET_SCALE = 127.5  # detectNet feeds (px/255 - 0.5)/0.5, that is (px - 127.5)/127.5


class OnnxModel:
    """An .onnx file of the export contract run by onnxruntime: input_0 -> scores, boxes."""

    def __init__(self, path: str):
        import onnxruntime  # imported here: only --onnx needs it
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for missing and unreadable files
            raise ExportError(f"{path}: cannot be loaded by onnxruntime ({first_line(error)})") from None
        shapes = {item.name: item.shape for item in self.session.get_inputs() + self.session.get_outputs()}
        missing = [name for name in (INPUT_NAME, *OUTPUT_NAMES) if name not in shapes]
        if missing:
            raise ExportError(f"{path}: has no {', '.join(missing)}; is it an export of onnx_export.py?")
        batch, _, height, width = shapes[INPUT_NAME]
        if not isinstance(height, int) or height != width:
            raise ExportError(f"{path}: input {INPUT_NAME} is {height}x{width}, not a fixed square size")
        self.batch_size = batch if isinstance(batch, int) else None  # None: any batch size (a symbolic one)
        self.resolution = height
        self.num_classes = shapes[OUTPUT_NAMES[0]][-1]
        # "detectnet": input_0 takes detectNet's (px - 127.5)/127.5 (onnx_export.py --input-normalization)
        props = self.session.get_modelmeta().custom_metadata_map
        self.input_normalization = props.get("input_normalization", "net")

    def input_scaling(self, net_name: str) -> tuple[Tensor, Tensor]:
        """(mean [3], std [3]) in pixels of the input this file takes, for a net of `net_name`."""
        if self.input_normalization == "detectnet":
            return torch.full((3,), DETECTNET_SCALE), torch.full((3,), DETECTNET_SCALE)
        return registry_scaling(net_name)

    def __call__(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Scores [B,N,C] and corner boxes [B,N,4] for float inputs [B,3,S,S] of any batch size."""
        array = inputs.cpu().numpy()
        step = self.batch_size or len(array)
        parts = [self._run(array[start:start + step]) for start in range(0, len(array), step)]
        return tuple(torch.from_numpy(np.concatenate(outputs)) for outputs in zip(*parts))

    def _run(self, chunk: np.ndarray) -> list[np.ndarray]:
        padding = (self.batch_size or len(chunk)) - len(chunk)  # a static batch takes exactly its size
        if padding:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], padding, axis=0)])
        scores, boxes = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: chunk})
        return [scores[:len(chunk) - padding], boxes[:len(chunk) - padding]]


def registry_scaling(net_name: str) -> tuple[Tensor, Tensor]:
    """(mean [3], std [3]) of `net_name` in the net registry; an unknown name is an ExportError."""
    config = NETS.get(net_name)
    if config is None:
        raise ExportError(f"unknown net {net_name!r}: choose one of {', '.join(NETS)}")
    return config.input_scaling()
