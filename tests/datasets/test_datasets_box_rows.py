"""box_rows: every training box from the annotation tables, as training reads them, without decoding images."""
import numpy as np
import torch

from datasets_helpers import make_open_images, make_voc, voc_object
from vision.datasets import ConcatDetectionDataset, open_dataset


def training_targets(dataset):
    """What training takes from each item: the boxes that are not difficult, per image."""
    targets = [dataset.target(index) for index in range(len(dataset))]
    return [(target["boxes"][~target["difficult"]], target["labels"][~target["difficult"]]) for target in targets]


def assert_rows_are_the_training_targets(dataset):
    boxes, labels, image, sizes = dataset.box_rows()
    expected = training_targets(dataset)
    assert np.allclose(boxes, torch.cat([rows for rows, _ in expected]).numpy())
    assert labels.tolist() == torch.cat([rows for _, rows in expected]).tolist()
    assert image.tolist() == [index for index, (rows, _) in enumerate(expected) for _ in rows]
    assert sizes.tolist() == [list(dataset.image_size(index)) for index in range(len(dataset))]


def test_voc_rows_leave_out_difficult_boxes_and_clip_to_the_image(tmp_path):
    images = {"a": ("a.jpg", [voc_object("cat", (5, 6, 30, 40)), voc_object("dog", (1, 1, 9, 9), True)]),
              "b": ("b.jpg", [voc_object("dog", (50, 10, 120, 60))])}  # wider than the 80-pixel image
    dataset = open_dataset(make_voc(tmp_path, images, {"trainval": ["a", "b"]}), "train")
    assert_rows_are_the_training_targets(dataset)
    assert len(dataset.box_rows()[0]) == 2 and dataset.box_rows()[0][1, 2] == 80


def test_open_images_rows_are_in_pixels_with_sizes_from_the_image_headers(tmp_path):
    rows = [("i1", "Cat", 0.1, 0.5, 0.2, 0.6), ("i1", "Dog", 0.0, 1.0, 0.5, 1.0), ("i2", "Cat", 0.3, 0.4, 0.3, 0.9)]
    dataset = open_dataset(make_open_images(tmp_path, "train", rows, size=(50, 100)), "train")
    assert (dataset.table.sizes == 0).all()  # the CSV gives no sizes
    assert_rows_are_the_training_targets(dataset)


def test_concatenated_datasets_count_images_across_them(tmp_path):
    first = make_open_images(tmp_path / "a", "train", [("i1", "Cat", 0.1, 0.5, 0.2, 0.6)])
    second = make_open_images(tmp_path / "b", "train", [("j1", "Cat", 0.2, 0.3, 0.2, 0.3),
                                                        ("j2", "Cat", 0.0, 0.5, 0.0, 0.5)])
    dataset = ConcatDetectionDataset([open_dataset(first, "train"), open_dataset(second, "train")])
    assert_rows_are_the_training_targets(dataset)
    assert dataset.box_rows()[2].tolist() == [0, 1, 2]
