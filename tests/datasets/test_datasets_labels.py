import logging

import pytest

from vision.datasets import (ConcatDetectionDataset, DatasetError, merge_class_names, open_dataset,
                             open_datasets, read_class_order, read_dataset_labels)
from datasets_helpers import make_voc, voc_object


def test_a_models_labels_txt_fixes_the_order(tmp_path):
    (tmp_path / "labels.txt").write_text("BACKGROUND\nstar\n\ncircle\n")
    assert read_class_order(tmp_path / "labels.txt") == ["star", "circle"]
    (tmp_path / "twice.txt").write_text("star\nstar\n")
    with pytest.raises(DatasetError, match="twice.txt: class names listed twice: star"):
        read_class_order(tmp_path / "twice.txt")
    (tmp_path / "late.txt").write_text("star\nBACKGROUND\n")
    with pytest.raises(DatasetError, match="late.txt: BACKGROUND may only be the first line"):
        read_class_order(tmp_path / "late.txt")


def test_class_order_relabels_by_name_and_skips_unknown_names(shapes, caplog):
    native = open_dataset(shapes, "val")
    with caplog.at_level(logging.WARNING):
        ordered = open_dataset(shapes, "val", class_order=["star", "circle", "hexagon"])
    assert ordered.class_names == ["BACKGROUND", "star", "circle", "hexagon"]
    assert "classes not in the class list are skipped" in caplog.text and "square" in caplog.text
    names = {1: "star", 2: "circle"}
    for index in range(len(native)):
        kept = [native.class_names[label] for label in native.target(index)["labels"].tolist()
                if native.class_names[label] in ("star", "circle")]
        assert [names[label] for label in ordered.target(index)["labels"].tolist()] == kept
    assert ordered.label_to_category_id == {1: 13, 2: 3}  # the file's ids; hexagon is not in it


def test_datasets_are_merged_by_class_name(shapes, tmp_path):
    voc = make_voc(tmp_path / "voc", {"a": ("a.jpg", [voc_object("hexagon", (2, 2, 30, 30)),
                                                      voc_object("star", (40, 5, 60, 25))])},
                   {"trainval": ["a"]})
    merged = open_datasets([shapes, voc], "train")
    coco_names = open_dataset(shapes, "train").class_names
    assert isinstance(merged, ConcatDetectionDataset)
    assert merged.class_names == [*coco_names, "hexagon"]
    last = len(merged) - 1
    target = merged.target(last)
    assert [merged.class_names[label] for label in target["labels"].tolist()] == ["hexagon", "star"]
    assert target["image_id"] == last
    assert merged[last][1]["labels"].tolist() == target["labels"].tolist()
    assert merge_class_names([["a", "b"], ["c", "a"]]) == ["a", "b", "c"]


@pytest.mark.parametrize("content", [b"PK\x03\x04\x80\xff weights", b"star\x00\x01\n"])
@pytest.mark.parametrize("read", [read_class_order, read_dataset_labels])
def test_a_binary_file_is_not_a_class_list(tmp_path, read, content):
    (tmp_path / "model.pth").write_bytes(content)
    with pytest.raises(DatasetError, match="model.pth: not a text file of class names"):
        read(tmp_path / "model.pth")


def test_an_unreadable_class_list_names_the_reason(tmp_path):
    with pytest.raises(DatasetError, match=r"cannot read the labels file \(Is a directory\)"):
        read_class_order(tmp_path)
