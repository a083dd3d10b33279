"""Export an SSD to the ONNX graph that jetson-inference's detectNet loads, and check it (docs/export.md,
"Export to ONNX and run on a Jetson").

The graph takes the normalized input `input_0` [B,3,S,S] and gives `scores` [B,N,C] (softmaxed) and
`boxes` [B,N,4] (normalized corner form), with the priors as constants, no NMS and static shapes.
"""
import contextlib
import inspect
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import onnx
import onnxruntime
import torch
from torch import Tensor, nn

from vision.export.contract import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES, ExportError, check_opset
from vision.inference.onnx_model import DETECTNET_SCALE
from vision.inference.pipeline import net_input
from vision.ssd.ssd import SSD
from vision.utils.fileio import staged_path
from vision.utils.pixel_limit import oversize_problem

RTOL, ATOL = 1e-4, 1e-5
# --input-normalization: "net" takes the net's own normalization as input_0; "detectnet" takes
# detectNet's and converts it in the graph. Recorded in the file's metadata for eval_ssd.py --onnx.
INPUT_NORMALIZATIONS = ("net", "detectnet")
NORMALIZATION_KEY = "input_normalization"

# PyTorch 2.9+ defaults to the dynamo exporter; the TorchScript one gives the classic graph. Jetson
# wheels older than 2.5 have only the TorchScript exporter and no `dynamo` argument.
_TORCHSCRIPT = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


class VerificationError(ExportError):
    def __init__(self, path: str, differences: dict):
        worst = max(differences, key=lambda name: differences[name].worst)
        super().__init__(f"onnxruntime and PyTorch disagree: {worst} differ by up to "
                         f"{differences[worst].max_abs:.3g}, over rtol {RTOL:g} + atol {ATOL:g}; "
                         f"{path} was not written")
        self.differences = differences


@dataclass(frozen=True)
class Difference:
    """onnxruntime against PyTorch for one output."""
    max_abs: float  # largest |onnx - torch|
    worst: float  # largest |onnx - torch| / (ATOL + RTOL * |torch|): above 1 fails

    @property
    def ok(self) -> bool:
        return self.worst <= 1.0


class DetectNetInput(nn.Module):
    """`net` fed detectNet's (px - 127.5)/127.5: the graph converts it to the net's (px - mean)/std."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.net((x * DETECTNET_SCALE + DETECTNET_SCALE - self.net.mean) / self.net.std)


def export_onnx(net: SSD, path: str, batch_size: int = 1, opset: int = DEFAULT_OPSET,
                input_normalization: str = "net") -> None:
    """Write `net` to `path` as detectNet's graph; the file appears complete or not at all."""
    check_opset(opset)
    if batch_size < 1:
        raise ExportError(f"batch size must be at least 1, got {batch_size}")
    if input_normalization not in INPUT_NORMALIZATIONS:
        raise ExportError(f"unknown input normalization {input_normalization!r}: "
                          f"{' or '.join(INPUT_NORMALIZATIONS)}")
    size = net.resolution
    example = torch.zeros(batch_size, 3, size, size, device=net.priors.device)
    graph = DetectNetInput(net) if input_normalization == "detectnet" else net
    with staged_path(path) as staging, _test_mode(net), warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream; we choose it on purpose (see _TORCHSCRIPT).
        warnings.simplefilter("ignore", DeprecationWarning)
        # torchvision's BoxCoder makes its 0.5 with torch.tensor: a constant, as the tracer warns.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(graph, example, str(staging), input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), opset_version=opset, do_constant_folding=True,
                          **_TORCHSCRIPT)
        model = onnx.load(str(staging))
        onnx.helper.set_model_props(model, {NORMALIZATION_KEY: input_normalization})
        onnx.save(model, str(staging))


def export_verified(net: SSD, path: str, image: np.ndarray, batch_size: int = 1,
                    opset: int = DEFAULT_OPSET, input_normalization: str = "net") -> dict[str, Difference]:
    """export_onnx and verify_onnx; `path` is written only when onnxruntime agrees with PyTorch,
    else VerificationError (an earlier file there stays)."""
    with staged_path(path) as staging:
        export_onnx(net, str(staging), batch_size, opset, input_normalization)
        differences = verify_onnx(net, str(staging), image, input_normalization)
        if not all(difference.ok for difference in differences.values()):
            raise VerificationError(path, differences)
    return differences


def verify_onnx(net: SSD, path: str, image: np.ndarray, input_normalization: str = "net") -> dict[str, Difference]:
    """onnx.checker, then onnxruntime against PyTorch on a uint8 RGB HWC `image`, per output; the
    graph is fed `input_normalization`'s input, PyTorch the net's own."""
    try:
        onnx.checker.check_model(path)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"{path}: onnx.checker: {str(error).strip().splitlines()[0]}") from None
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # one run: spinning only costs
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    batch_size = session.get_inputs()[0].shape[0]
    batch = net_input(image, net.resolution, net.mean.cpu(), net.std.cpu()).repeat(batch_size, 1, 1, 1)
    fed = batch
    if input_normalization == "detectnet":
        detectnet = torch.full((3,), DETECTNET_SCALE)
        fed = net_input(image, net.resolution, detectnet, detectnet).repeat(batch_size, 1, 1, 1)
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: fed.numpy()})
    with torch.no_grad(), _test_mode(net):
        expected = net(batch.to(net.priors.device))
    return {name: _difference(actual, reference.cpu().numpy())
            for name, actual, reference in zip(OUTPUT_NAMES, got, expected)}


def preprocessing_warning(net: SSD, input_normalization: str = "net") -> str | None:
    """Why detectNet's fixed preprocessing does not suit `net` exported with `input_normalization`,
    or None where it does (MobileNets, or the conversion folded into the graph)."""
    mean, std = net.mean.flatten().tolist(), net.std.flatten().tolist()
    if input_normalization == "detectnet" or all(abs(value - DETECTNET_SCALE) <= 1 for value in mean + std):
        return None
    return (f"{net.net_name} was trained on (px - [{_numbers(mean)}]) / [{_numbers(std)}], but detectNet "
            f"feeds (px/255 - 0.5)/0.5: its detections on the Jetson will be off; pass "
            f"--input-normalization detectnet to convert detectNet's input in the graph")


def read_image(path: str) -> np.ndarray:
    """An image file as uint8 RGB HWC."""
    too_large = oversize_problem(path)
    if too_large:
        raise ExportError(f"{path}: {too_large}")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ExportError(f"{path}: cannot be read as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def synthetic_image(height: int = 360, width: int = 480) -> np.ndarray:
    """A deterministic uint8 RGB scene, a colour gradient with filled shapes: more than a blank frame
    for comparing two runtimes."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=-1)
    image = np.ascontiguousarray(image.astype(np.uint8))
    cv2.rectangle(image, (width // 8, height // 6), (width * 3 // 8, height * 2 // 3), (220, 40, 40), -1)
    cv2.circle(image, (width * 2 // 3, height // 2), height // 5, (40, 200, 60), -1)
    triangle = np.array([[width // 2, height * 5 // 6], [width * 5 // 6, height * 5 // 6],
                         [width * 3 // 4, height * 2 // 3]])
    cv2.fillPoly(image, [triangle], (250, 230, 30))
    return image


@contextlib.contextmanager
def _test_mode(net: SSD):
    """Eval mode with test outputs (scores, corner boxes) for the duration, then as it was."""
    training, is_test = net.training, net.is_test
    net.eval()
    net.is_test = True
    try:
        yield
    finally:
        net.train(training)
        net.is_test = is_test


def _difference(actual: np.ndarray, reference: np.ndarray) -> Difference:
    error = np.abs(actual.astype(np.float64) - reference)
    return Difference(float(error.max()), float((error / (ATOL + RTOL * np.abs(reference))).max()))


def _numbers(values: list[float]) -> str:
    return ", ".join(f"{value:g}" for value in values)
