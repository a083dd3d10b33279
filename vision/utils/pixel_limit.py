"""The pixel limit on images: a file whose header claims more pixels than the limit is refused before
anything is decoded. A PNG of a few hundred bytes can claim 60000 x 60000 pixels, 10.8 GB as RGB
(a "decompression bomb"); Pillow refuses such files the same way (Image.MAX_IMAGE_PIXELS).

One limit for every reader (training, evaluation, the validator, run_ssd_example.py), set by an
environment variable, as OpenCV's CV_IO_MAX_IMAGE_PIXELS is, so that it reaches data-loader workers,
validation processes and torchrun ranks without being passed along.
"""
import os
import warnings

from PIL import Image

from vision.errors import UserError

LIMIT_VARIABLE = "SSD_MAX_IMAGE_PIXELS"
# Where Pillow refuses an image by default (twice its MAX_IMAGE_PIXELS, about 13,400 x 13,400): far
# above any COCO, VOC or Open Images photo; 537 MB decoded as RGB.
DEFAULT_MAX_IMAGE_PIXELS = 178_956_970


class PixelLimitError(UserError):
    """The environment variable is not a whole number above 0."""

    def __init__(self, text: str):
        super().__init__(f"{LIMIT_VARIABLE}={text}: not a whole number of pixels above 0")


def max_image_pixels() -> int:
    """The limit: $SSD_MAX_IMAGE_PIXELS, or the default when it is unset or empty."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(text)
    except ValueError:
        raise PixelLimitError(text) from None
    if limit <= 0:
        raise PixelLimitError(text)
    return limit


def oversize_problem(path) -> str | None:
    """Why the image at `path` is refused before decoding (its header claims more pixels than the
    limit), or None: within the limit, or a file whose header Pillow cannot read (the decoders
    report those)."""
    limit = max_image_pixels()
    # Pillow refuses an image over twice its MAX_IMAGE_PIXELS (and warns over it): half the limit makes
    # it refuse what this check refuses. The default limit leaves Pillow's own default in place.
    Image.MAX_IMAGE_PIXELS = (limit + 1) // 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header, decodes nothing
                width, height = image.size
    except Image.DecompressionBombError:
        return _refusal(limit)
    except Exception:  # Pillow raises many exception types for bad files
        return None
    return _refusal(limit) if width * height > limit else None  # an odd limit is not twice Pillow's


def _refusal(limit: int) -> str:
    return f"over the pixel limit: its header claims more than {limit:,} pixels ({LIMIT_VARIABLE}); not decoded"
