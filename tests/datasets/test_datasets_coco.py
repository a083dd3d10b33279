import json
import logging

import pytest
import torch

from bad_annotations import COCO_FAULTS, annotation, coco_tree, image
from vision.datasets import CocoDataset, DatasetError, open_dataset
from vision.datasets.synthetic import CATEGORIES
from vision.utils.jsonfile import JsonReadError


def check_item(item):
    image, target = item
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape[1] == 4
    assert target["labels"].dtype == torch.int64 and target["difficult"].dtype == torch.bool
    boxes = target["boxes"]
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    assert (boxes[:, 0::2] <= image.shape[2]).all() and (boxes[:, 1::2] <= image.shape[1]).all()


def test_labels_follow_sorted_category_ids_and_map_back(shapes):
    dataset = CocoDataset(shapes, "train")
    by_id = sorted(CATEGORIES, key=CATEGORIES.get)
    assert dataset.class_names == ["BACKGROUND", *by_id]
    assert dataset.label_to_category_id == {label: CATEGORIES[name] for label, name in enumerate(by_id, 1)}
    check_item(dataset[0])


def test_plain_split_names_find_the_2017_files(shapes):
    assert len(CocoDataset(shapes, "val")) == 6
    with pytest.raises(DatasetError, match="instances_test.json: annotation file not found"):
        CocoDataset(shapes, "test")


def test_real_coco_raw_ids_crowd_and_negatives(coco128):
    dataset = CocoDataset(coco128, "train")
    data = json.loads((coco128 / "annotations" / "instances_train2017.json").read_text())
    assert len(dataset) == len(data["images"]) == 96
    assert len(dataset.class_names) == 81
    assert dataset.label_to_category_id[80] == 90  # ids 1..90 with gaps -> labels 1..80
    crowd_images = {a["image_id"] for a in data["annotations"] if a["iscrowd"]}
    index = next(i for i in range(len(dataset)) if dataset.target(i)["image_id"] in crowd_images)
    assert dataset.target(index)["difficult"].any()
    counts = dataset.table.box_counts()
    assert (counts == 0).sum() == 1  # the unannotated image is kept as a negative
    check_item(dataset[int(counts.argmax())])
    assert len(CocoDataset(coco128, "train", include_negatives=False)) == 95


def test_ids_already_contiguous_give_the_same_labels(coco128, tmp_path):
    data = json.loads((coco128 / "annotations" / "instances_val2017.json").read_text())
    new_id = {c["id"]: i for i, c in enumerate(sorted(data["categories"], key=lambda c: c["id"]), 1)}
    for category in data["categories"]:
        category["original_id"], category["id"] = category["id"], new_id[category["id"]]
    for annotation in data["annotations"]:
        annotation["category_id"] = new_id[annotation["category_id"]]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    (tmp_path / "val2017").symlink_to(coco128 / "val2017")
    remapped, raw = CocoDataset(tmp_path, "val"), CocoDataset(coco128, "val")
    assert remapped.class_names == raw.class_names
    assert remapped.label_to_category_id == {label: label for label in range(1, 81)}
    assert torch.equal(remapped.target(3)["labels"], raw.target(3)["labels"])


def write_coco(root, images, annotations, categories=({"id": 5, "name": "thing"},)):
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    document = {"images": images, "annotations": annotations, "categories": list(categories)}
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(document))


def test_tiny_boxes_dropped_and_counted_boxes_clipped(tmp_path, caplog):
    image = {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}
    boxes = [[10, 10, 0.5, 20], [10, 10, 20, 0.9], [90, 40, 30, 30], [5, 5, 10, 10]]
    write_coco(tmp_path, [image], [{"id": i, "image_id": 1, "category_id": 5, "bbox": b, "iscrowd": 0}
                                   for i, b in enumerate(boxes)])
    with caplog.at_level(logging.INFO):
        dataset = CocoDataset(tmp_path, "train")
    assert dataset.dropped_boxes == 2 and "dropped 2 boxes" in caplog.text
    assert dataset.target(0)["boxes"].tolist() == [[90, 40, 100, 50], [5, 5, 15, 15]]


def test_errors_name_the_file(tmp_path):
    write_coco(tmp_path, [], [])
    with pytest.raises(DatasetError, match="instances_train2017.json: no images"):
        CocoDataset(tmp_path, "train")
    (tmp_path / "annotations" / "instances_train2017.json").write_text("{")
    with pytest.raises(JsonReadError, match=r"instances_train2017.json: not valid JSON \(line 1"):
        open_dataset(tmp_path, "train")


@pytest.mark.parametrize("fault", COCO_FAULTS)
def test_bad_coco_files_are_refused_in_one_line_naming_the_file(tmp_path, fault):
    build, problem = COCO_FAULTS[fault]
    root, path = build(tmp_path)
    with pytest.raises(DatasetError) as error:
        CocoDataset(root, "train")
    assert str(error.value) == f"{path}: {problem}"


def test_a_size_of_0_or_none_is_read_from_the_image(tmp_path, caplog):
    unsized = {key: value for key, value in image(3).items() if key not in ("width", "height")}
    images = [image(1, width=0), image(2, height=0), unsized]
    boxes = [[4, 4, 20, 20], [50, 40, 30, 30], [4, 4, 20, 20]]  # the second runs off the 64 x 48 image
    coco_tree(tmp_path, {"images": images, "annotations": [annotation(n, n, box) for n, box in enumerate(boxes, 1)],
                         "categories": [{"id": 1, "name": "cat"}]})
    with caplog.at_level(logging.INFO):
        dataset = CocoDataset(tmp_path, "train")
    assert dataset.dropped_boxes == 0 and "dropped" not in caplog.text
    targets = [dataset.target(index) for index in range(3)]
    assert [target["size"] for target in targets] == [(48, 64)] * 3
    assert [target["boxes"].tolist() for target in targets] == [[[4, 4, 24, 24]], [[50, 40, 64, 48]], [[4, 4, 24, 24]]]
