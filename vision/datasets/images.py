"""Image decoding: every image becomes a uint8 RGB tensor [3, H, W]."""
import warnings
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from torch import Tensor
from torchvision.io import ImageReadMode
from torchvision.io import decode_image as torchvision_decode_image
from torchvision.transforms.v2 import functional as F

from vision.errors import UserError
from vision.utils.fileio import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS  # re-exported for the dataset readers
from vision.utils.pixel_limit import oversize_problem


class ImageReadError(UserError):
    """An image that is missing or cannot be decoded (the sample is skipped, not the run)."""


def _choose_decoder() -> tuple[str, Callable[[Tensor], Tensor]]:
    """The decoder of JPEG, PNG and WebP bytes to RGB: TorchCodec's where it loads for the torch in use
    (torchvision 0.29 deprecates its own in its favour), else torchvision.io's (NVIDIA's Jetson wheels
    have no TorchCodec built for them)."""
    try:
        from torchcodec.decoders import decode_image
    except Exception:  # not installed, or built for another torch: its libraries do not load
        return "torchvision.io", decode_with_torchvision
    return "torchcodec", partial(decode_image, mode="RGB")


def decode_with_torchvision(data: Tensor) -> Tensor:
    with warnings.catch_warnings():  # its deprecation: the choice is deliberate where TorchCodec does not load
        warnings.filterwarnings("ignore", "The image decoding and encoding capabilities of TorchVision",
                                DeprecationWarning)
        return torchvision_decode_image(data, mode=ImageReadMode.RGB)


DECODER, _decode = _choose_decoder()


def load_image(path: Path) -> Tensor:
    """Decode with libjpeg-turbo/libpng/libwebp through DECODER; grayscale, CMYK and alpha become RGB.

    EXIF orientation is not applied: annotation tools label the pixels as stored. An image over the
    pixel limit (vision.utils.pixel_limit) is refused from its header, before any memory is taken.
    """
    check_pixel_limit(path)
    try:
        data = torch.from_numpy(np.fromfile(path, dtype=np.uint8))
    except OSError:
        data = torch.empty(0, dtype=torch.uint8)
    if data.numel() == 0:
        raise ImageReadError(f"{path}: {_read_problem(Path(path))}")
    try:
        image = _decode(data)
    except (RuntimeError, ValueError):  # TorchCodec says ValueError for a format it does not know
        image = _decode_with_opencv(data, path)  # BMP and TIFF, which neither decodes
    if image.dtype != torch.uint8:  # 16-bit PNG
        image = F.to_dtype(image, torch.uint8, scale=True)
    return image


def check_pixel_limit(path: Path) -> None:
    """ImageReadError when the file's header claims more pixels than the limit (a decompression bomb)."""
    too_large = oversize_problem(path)
    if too_large:
        raise ImageReadError(f"{path}: {too_large}")


def _read_problem(path: Path) -> str:
    if not path.is_file():
        return "file not found"
    return "empty file" if path.stat().st_size == 0 else "cannot read the file"


def _decode_with_opencv(data: Tensor, path: Path) -> Tensor:
    try:
        bgr = cv2.imdecode(data.numpy(), cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None
    if bgr is None:
        raise ImageReadError(f"{path}: not a readable image")
    return torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1).contiguous()
