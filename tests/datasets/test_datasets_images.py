import io
import logging
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from bomb_images import truncated_png_bomb, zero_png
from vision.datasets import ImageReadError, TransformedDataset, collate_samples, load_image, open_dataset
from vision.datasets import images
from vision.transforms import SSDEvalTransform
from vision.utils.pixel_limit import PixelLimitError
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


def jpeg_and_png(tmp_path) -> list:
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for suffix in (".jpg", ".png"):
        Image.fromarray(pixels).save(tmp_path / f"image{suffix}")
    return [tmp_path / "image.jpg", tmp_path / "image.png"]


def test_decoding_warns_nothing(tmp_path):
    """torchvision 0.29 deprecates its decoders: TorchCodec's decode where it loads, and where it does not,
    choosing torchvision's is deliberate and says nothing per image."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in jpeg_and_png(tmp_path):
            load_image(path)
            images.decode_with_torchvision(torch.from_numpy(np.fromfile(path, dtype=np.uint8)))


def test_torchvision_decodes_where_torchcodec_does_not_load(monkeypatch, tmp_path):
    for module in ("torchcodec", "torchcodec.decoders"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    name, decode = images._choose_decoder()
    assert name == "torchvision.io"
    for path in jpeg_and_png(tmp_path):
        assert torch.equal(decode(torch.from_numpy(np.fromfile(path, dtype=np.uint8))), load_image(path))


def test_torchcodec_decodes_where_it_loads(tmp_path):
    pytest.importorskip("torchcodec.decoders")
    assert images.DECODER == "torchcodec"
    for path in jpeg_and_png(tmp_path):  # the same pixels as torchvision's decoders
        data = torch.from_numpy(np.fromfile(path, dtype=np.uint8))
        assert torch.equal(load_image(path), images.decode_with_torchvision(data))


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


def test_images_over_the_pixel_limit_are_refused_from_the_header(tmp_path, monkeypatch):
    """A 60000 x 60000 header over a cut-short stream, and a complete 30000 x 30000 PNG (decoded, 2.7 GB):
    neither is decoded."""
    (tmp_path / "bomb.png").write_bytes(truncated_png_bomb(60000, 60000))
    (tmp_path / "black.png").write_bytes(zero_png(30000, 30000))
    for name in ("bomb.png", "black.png"):
        with pytest.raises(ImageReadError, match=f"{name}: over the pixel limit: its header claims more than "
                                                 r"178,956,970 pixels \(SSD_MAX_IMAGE_PIXELS\); not decoded"):
            load_image(tmp_path / name)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "small.png")
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "599")
    with pytest.raises(ImageReadError, match="small.png: over the pixel limit: its header claims more than 599 "):
        load_image(tmp_path / "small.png")
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "600")
    assert load_image(tmp_path / "small.png").shape == (3, 20, 30)


def test_an_image_over_the_pixel_limit_is_skipped_named_and_counted(tmp_path, caplog):
    root = make_voc(tmp_path, {name: (f"{name}.jpg", [voc_object("cat", (2, 2, 20, 20))]) for name in ("a", "b")},
                    {"trainval": ["a", "b"]})
    (root / "JPEGImages" / "b.jpg").write_bytes(zero_png(30000, 30000))  # the decoders go by the content
    samples = TransformedDataset(open_dataset(root), SSDEvalTransform(32))
    with caplog.at_level(logging.WARNING):
        batch = collate_samples([samples[index] for index in range(2)])
    assert batch.skipped == 1 and batch.indices.tolist() == [0]
    assert len(caplog.records) == 1 and "b.jpg: over the pixel limit" in caplog.text


def test_a_wrong_pixel_limit_stops_start_up(tmp_path, monkeypatch):
    root = make_voc(tmp_path, {"a": ("a.jpg", [voc_object("cat", (2, 2, 20, 20))])}, {"trainval": ["a"]})
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "1e9")
    with pytest.raises(PixelLimitError, match=r"^SSD_MAX_IMAGE_PIXELS=1e9: not a whole number of pixels above 0$"):
        open_dataset(root)
