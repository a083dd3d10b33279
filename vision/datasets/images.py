"""Image decoding: every image becomes a uint8 RGB tensor [3, H, W]."""
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2 import functional as F

from vision.errors import UserError
from vision.utils.fileio import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS  # re-exported for the dataset readers
from vision.utils.pixel_limit import oversize_problem


class ImageReadError(UserError):
    """An image that is missing or cannot be decoded (the sample is skipped, not the run)."""


def load_image(path: Path) -> Tensor:
    """Decode with libjpeg-turbo/libpng through torchvision; grayscale, CMYK and alpha become RGB.

    EXIF orientation is not applied: annotation tools label the pixels as stored. An image over the
    pixel limit (vision.utils.pixel_limit) is refused from its header, before any memory is taken.
    """
    check_pixel_limit(path)
    try:
        data = read_file(str(path))
    except RuntimeError:
        raise ImageReadError(f"{path}: {_read_problem(Path(path))}") from None
    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError:
        image = _decode_with_opencv(data, path)  # BMP and TIFF, which torchvision does not decode
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
