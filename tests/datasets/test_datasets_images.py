import io
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from vision.datasets import ImageReadError, TransformedDataset, collate_samples, load_image, open_dataset
from vision.transforms import SSDEvalTransform
from datasets_helpers import make_voc, voc_object


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("CMYK", ".jpg"), ("RGBA", ".png"),
                                          ("I;16", ".png"), ("RGB", ".bmp"), ("RGB", ".webp")])
def test_every_image_becomes_uint8_rgb(tmp_path, mode, suffix):
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    image = image.convert("L").convert("I;16") if mode == "I;16" else image.convert(mode)
    path = tmp_path / f"image{suffix}"
    image.save(path)
    decoded = load_image(path)
    assert decoded.dtype == torch.uint8 and decoded.shape == (3, 20, 30)
    if mode == "RGB" and suffix == ".bmp":
        assert torch.equal(decoded, torch.from_numpy(pixels).permute(2, 0, 1))


def test_missing_and_corrupt_images_raise(tmp_path):
    with pytest.raises(ImageReadError, match="nothing.jpg: file not found"):
        load_image(tmp_path / "nothing.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageReadError, match="bad.jpg: not a readable image"):
        load_image(tmp_path / "bad.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png: empty file"):
        load_image(tmp_path / "empty.png")


def test_unreadable_images_are_skipped_named_and_counted(tmp_path, caplog):
    root = make_voc(tmp_path, {name: (f"{name}.jpg", [voc_object("cat", (2, 2, 20, 20))])
                               for name in ("a", "b", "c")}, {"trainval": ["a", "b", "c"]})
    (root / "JPEGImages" / "a.jpg").unlink()
    (root / "JPEGImages" / "c.jpg").write_bytes(io.BytesIO(b"garbage").getvalue())
    samples = TransformedDataset(open_dataset(root), SSDEvalTransform(32))
    with caplog.at_level(logging.WARNING):
        batch = collate_samples([samples[index] for index in range(3)])
    assert "a.jpg: file not found" in caplog.text and "c.jpg: not a readable image" in caplog.text
    assert batch.skipped == 2 and batch.indices.tolist() == [1]
    assert batch.images.shape == (1, 3, 32, 32)
