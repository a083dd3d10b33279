import logging

import pytest
import torch

from vision.datasets import DatasetError, VOCDataset
from bad_annotations import FAULTS
from datasets_helpers import make_voc, voc_object, write_image


def fruit(tmp_path, labels=("apple", "", "orange", ""), lists=None):
    images = {
        "a": ("a.jpg", [voc_object("orange", (11, 21, 31, 41)), voc_object("apple", (1, 1, 80, 64), True)]),
        "b": ("b.png", [voc_object("apple", (5, 5, 5, 30))]),  # zero width
        "c": ("c.jpg", []),
    }
    return make_voc(tmp_path, images, lists or {"trainval": ["a", "b", "c"], "test": ["a"]},
                    None if labels is None else list(labels))


def test_classes_coordinates_and_difficult(tmp_path):
    dataset = VOCDataset(fruit(tmp_path), "train")
    assert dataset.class_names == ["BACKGROUND", "apple", "orange"]  # blank lines ignored
    target = dataset.target(0)
    assert target["boxes"].tolist() == [[10, 20, 30, 40], [0, 0, 79, 63]]  # 1-based, minus 1
    assert target["labels"].tolist() == [2, 1]
    assert target["difficult"].tolist() == [False, True]
    assert dataset.dropped_boxes == 1 and len(dataset.target(1)["boxes"]) == 0
    image, item_target = dataset[1]  # PNG, found through <filename>
    assert image.shape == (3, 64, 80) and item_target["image_id"] == 1
    assert len(VOCDataset(tmp_path, "val")) == 1  # the earlier tools validated on test.txt
    assert len(VOCDataset(tmp_path, "train", include_negatives=False)) == 1


def test_without_labels_txt_classes_are_found_sorted(tmp_path):
    assert VOCDataset(fruit(tmp_path, labels=None)).class_names == ["BACKGROUND", "apple", "orange"]


def test_unlisted_classes_are_skipped_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        dataset = VOCDataset(fruit(tmp_path, labels=["orange"]))
    assert "not listed are skipped: apple" in caplog.text
    assert dataset.target(0)["labels"].tolist() == [1]


def test_background_in_the_dataset_labels_is_explained(tmp_path):
    with pytest.raises(DatasetError, match=r"labels.txt: line 1 is BACKGROUND: this is the dataset's"
                                           r" class list .* not the model's labels.txt"):
        VOCDataset(fruit(tmp_path, labels=["BACKGROUND", "apple", "orange"]))


def test_default_list_and_image_found_by_id_with_any_extension(tmp_path):
    make_voc(tmp_path, {"frame1": ("frame1.jpg", [voc_object("cat", (2, 2, 20, 20))])},
             {"default": ["frame1"]})
    (tmp_path / "JPEGImages" / "frame1.jpg").unlink()
    write_image(tmp_path / "JPEGImages" / "frame1.bmp")
    dataset = VOCDataset(tmp_path, "train")
    assert dataset.image_path(0).name == "frame1.bmp"
    assert dataset[0][0].shape == (3, 64, 80)


def test_missing_files_are_errors_naming_them(tmp_path):
    fruit(tmp_path, lists={"train": ["a", "zzz"]})
    with pytest.raises(DatasetError, match="zzz.xml: annotation file not found"):
        VOCDataset(tmp_path, "train")
    with pytest.raises(DatasetError, match=r"Main/test.txt: image list not found"):
        VOCDataset(tmp_path, "test")
    (tmp_path / "Annotations" / "zzz.xml").write_text("<annotation><object>")
    with pytest.raises(DatasetError, match="zzz.xml: not valid XML"):
        VOCDataset(tmp_path, "train")


def test_boxes_are_clipped_to_the_image(tmp_path):
    make_voc(tmp_path, {"a": ("a.jpg", [voc_object("cat", (-5, 10, 200, 300))])}, {"trainval": ["a"]})
    assert torch.equal(VOCDataset(tmp_path)[0][1]["boxes"], torch.tensor([[0.0, 9.0, 80.0, 64.0]]))


def test_an_image_list_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    build, problem = FAULTS["non-UTF-8 image list"]
    root, path = build(tmp_path)
    with pytest.raises(DatasetError) as error:
        VOCDataset(root, "train")
    assert str(error.value) == f"{path}: {problem}"
