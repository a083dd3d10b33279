import pytest

from vision.datasets import DatasetError, detect_dataset_type, open_dataset
from datasets_helpers import make_open_images, make_voc, voc_object


def test_the_layout_tells_the_reader(shapes, tmp_path):
    voc = make_voc(tmp_path / "voc", {"a": ("a.jpg", [voc_object("cat", (2, 2, 20, 20))])},
                   {"trainval": ["a"]})
    open_images = make_open_images(tmp_path / "oi", "train", [("x", "Cat", 0.1, 0.5, 0.1, 0.5)])
    assert detect_dataset_type(shapes) == "coco"
    assert detect_dataset_type(voc) == "voc"
    assert detect_dataset_type(open_images) == "open_images"
    assert open_dataset(voc).class_names == ["BACKGROUND", "cat"]


def test_unknown_layouts_are_clear_errors(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match="not a dataset layout this tool reads: expected annotations"):
        detect_dataset_type(tmp_path)
    with pytest.raises(DatasetError, match="nowhere: dataset folder not found"):
        open_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="unknown dataset type 'yolo'"):
        open_dataset(tmp_path, dataset_type="yolo")
    with pytest.raises(DatasetError, match="balance_data is an Open Images option"):
        open_dataset(tmp_path, dataset_type="voc", balance_data=True)
