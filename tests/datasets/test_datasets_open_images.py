import numpy as np
import pytest

from vision.datasets import DatasetError, ImageReadError, OpenImagesDataset, open_dataset
from datasets_helpers import make_open_images

ROWS = [
    ("img2", "Zebra", 0.1, 0.5, 0.2, 0.6),
    ("img1", "Apple", 0.0, 1.0, 0.0, 1.0),
    ("img1", "Zebra", 0.5, 0.5, 0.1, 0.2),  # empty: dropped
    ("img3", "Apple", 0.2, 0.4, 0.2, 0.4),
    ("img4", "Apple", 0.2, 0.4, 0.2, 0.4),
    ("img5", "Apple", 0.2, 0.4, 0.2, 0.4),
]


def test_sorted_classes_and_normalized_boxes_in_pixels(tmp_path):
    make_open_images(tmp_path, "validation", ROWS)
    dataset = open_dataset(tmp_path, "val")
    assert isinstance(dataset, OpenImagesDataset)
    assert dataset.class_names == ["BACKGROUND", "Apple", "Zebra"]
    assert dataset.dropped_boxes == 1
    image, target = dataset[1]  # img2, 100 wide and 50 high
    assert image.shape == (3, 50, 100)
    assert target["boxes"].tolist() == [pytest.approx([10.0, 10.0, 50.0, 30.0])]
    assert target["labels"].tolist() == [2]
    assert dataset.target(1)["boxes"].tolist() == [pytest.approx([10.0, 10.0, 50.0, 30.0])]  # from the header


def test_an_unreadable_image_has_no_size_and_no_item(tmp_path, caplog):
    make_open_images(tmp_path, "validation", ROWS)
    (tmp_path / "validation" / "img2.jpg").unlink()
    (tmp_path / "validation" / "img3.jpg").write_bytes(b"")
    dataset = open_dataset(tmp_path, "val")
    with pytest.raises(ImageReadError, match="img2.jpg: No such file or directory"):
        dataset.target(1)
    with pytest.raises(ImageReadError, match="img3.jpg: not a readable image"):
        dataset.image_size(2)
    assert dataset[1] is None and dataset[2] is None and "skipping an unreadable image" in caplog.text
    assert dataset.target(0)["size"] == (50, 100)


def test_balance_data_repeats_rare_class_images_up_to_the_mean(tmp_path):
    make_open_images(tmp_path, "train", ROWS)
    plain = open_dataset(tmp_path, "train")
    balanced = open_dataset(tmp_path, "train", balance_data=True, seed=3)
    # Apple is on 4 images, Zebra on 1: the mean is 2.5 -> 2, so one more Zebra image.
    assert len(plain) == 5 and len(balanced) == 6
    assert list(balanced.table.files).count("img2.jpg") == 2
    again = open_dataset(tmp_path, "train", balance_data=True, seed=3)
    assert np.array_equal(again.table.files, balanced.table.files)


def test_missing_csv_or_columns(tmp_path):
    (tmp_path / "test").mkdir()
    with pytest.raises(DatasetError, match="sub-test-annotations-bbox.csv: annotation file not found"):
        OpenImagesDataset(tmp_path, "test")
    (tmp_path / "sub-test-annotations-bbox.csv").write_text("ImageID,XMin\n")
    with pytest.raises(DatasetError, match="missing columns: XMax, YMin, YMax, ClassName"):
        OpenImagesDataset(tmp_path, "test")
