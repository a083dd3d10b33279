"""Ground truth built from a dataset that is not COCO (here VOC): difficult objects become crowd regions."""
import os

import cv2
import numpy as np
import pytest

from bad_annotations import COCO_FAULTS, annotation, coco_tree, image
from bomb_images import truncated_png_bomb
from eval_helpers import lively_net
from vision.datasets import CocoDataset, DatasetError, open_dataset
from vision.evaluation import evaluate_model
from vision.evaluation.ground_truth import ground_truth, read_annotations

OBJECTS = {  # image -> (class, VOC's 1-based xmin, ymin, xmax, ymax, difficult)
    "000000000531": [("person", 11, 21, 111, 221, 0), ("person", 301, 41, 351, 141, 1),
                     ("bus", 1, 1, 640, 480, 0)],
    "000000000532": [("bus", 91, 131, 551, 391, 0)],
}


def voc_tree(root, coco128):
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    for name, objects in OBJECTS.items():
        os.symlink(coco128 / "val2017" / f"{name}.jpg", root / "JPEGImages" / f"{name}.jpg")
        xml = "".join(f"<object><name>{label}</name><difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin>"
                      f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                      for label, x1, y1, x2, y2, difficult in objects)
        (root / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><size><width>640</width><height>480</height></size>"
            f"{xml}</annotation>")
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n".join(OBJECTS) + "\n")
    (root / "labels.txt").write_text("person\nbus\n")
    return root


@pytest.fixture
def voc(tmp_path, coco128):
    return open_dataset(voc_tree(tmp_path / "voc", coco128), "val")


def test_voc_objects_become_coco_annotations(voc):
    truth = ground_truth(voc)
    assert truth.image_ids == [0, 1] and truth.category_of_label == {1: 1, 2: 2}
    assert truth.coco["categories"] == [{"id": 1, "name": "person"}, {"id": 2, "name": "bus"}]
    assert truth.coco["images"] == [{"id": 0, "width": 640, "height": 480}, {"id": 1, "width": 640, "height": 480}]
    rows = [(a["image_id"], a["category_id"], a["bbox"], a["area"], a["iscrowd"])
            for a in truth.coco["annotations"]]
    # the earlier tools' pixel coordinates: VOC's 1-based values minus 1
    assert rows == [(0, 1, [10, 20, 100, 200], 20000, 0), (0, 1, [300, 40, 50, 100], 5000, 1),
                    (0, 2, [0, 0, 639, 479], 639 * 479, 0), (1, 2, [90, 130, 460, 260], 460 * 260, 0)]
    assert [a["id"] for a in truth.coco["annotations"]] == [1, 2, 3, 4]


def test_evaluate_model_on_voc_data(voc):
    metrics = evaluate_model(lively_net(["BACKGROUND", "person", "bus"]), voc, batch_size=2)
    assert 0 <= metrics["coco"]["AP"] <= 1 and metrics["coco"]["APs"] == -1  # no small box in the data
    assert set(metrics["voc"]["per_class"]) == {"person", "bus"}
    with pytest.raises(ValueError, match="3 classes with BACKGROUND, the net 6"):
        evaluate_model(lively_net(), voc)


def open_images_tree(root):
    """Open Images data (no sizes in the annotations): img1 is an image, img2 is missing, img3 is not an image."""
    header = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,ClassName"
    rows = [f"{image_id},xclick,/m/0,1,0.1,0.5,0.2,0.6,0,0,{name}"
            for image_id, name in [("img1", "Apple"), ("img2", "Apple"), ("img3", "Zebra")]]
    (root / "validation").mkdir(parents=True)
    (root / "sub-validation-annotations-bbox.csv").write_text("\n".join([header, *rows]) + "\n")
    assert cv2.imwrite(str(root / "validation" / "img1.jpg"), np.zeros((50, 100, 3), np.uint8))
    (root / "validation" / "img3.jpg").write_bytes(b"not a jpeg")
    return root


def test_unreadable_images_are_skipped_with_a_warning_not_a_traceback(tmp_path, caplog):
    dataset = open_dataset(open_images_tree(tmp_path / "oi"), "val")
    truth = ground_truth(dataset)
    assert truth.image_ids == [0, None, None]
    assert truth.coco["images"] == [{"id": 0, "width": 100, "height": 50}]
    assert [a["bbox"] for a in truth.coco["annotations"]] == [pytest.approx([10, 10, 40, 20])]
    metrics = evaluate_model(lively_net(["BACKGROUND", "Apple", "Zebra"]), dataset, batch_size=2)
    assert 0 <= metrics["coco"]["AP"] <= 1
    assert "img2.jpg: file not found" in caplog.text and "img3.jpg: not a readable image" in caplog.text


@pytest.mark.parametrize("fault", COCO_FAULTS)
def test_the_annotations_evaluation_refuses_are_those_training_refuses(tmp_path, fault):
    build, problem = COCO_FAULTS[fault]
    root, path = build(tmp_path)
    with pytest.raises(DatasetError) as refused_by_the_dataset:
        CocoDataset(root, "train")
    with pytest.raises(DatasetError) as refused_by_evaluation:
        read_annotations(path)
    assert str(refused_by_evaluation.value) == str(refused_by_the_dataset.value) == f"{path}: {problem}"


def test_images_of_unknown_size_are_scored(tmp_path):
    images = [image(1, width=0), image(2, height=0, width=None)]
    coco_tree(tmp_path, {"images": images, "annotations": [annotation(1, 1), annotation(2, 2)],
                         "categories": [{"id": 1, "name": "cat"}]})
    dataset = open_dataset(tmp_path, "train")
    assert [dataset.target(index)["boxes"].tolist() for index in range(2)] == [[[4, 4, 24, 24]]] * 2
    metrics = evaluate_model(lively_net(["BACKGROUND", "cat"]), dataset, batch_size=2)
    assert 0 <= metrics["coco"]["AP"] <= 1 and set(metrics["voc"]["per_class"]) == {"cat"}


def test_an_image_over_the_pixel_limit_is_skipped_like_an_unreadable_one(tmp_path, caplog):
    """Open Images gives no sizes, so the ground truth reads them from the headers: a 60000 x 60000 one
    is refused there and at inference, with a warning, not Pillow's DecompressionBombError."""
    root = open_images_tree(tmp_path / "oi")
    (root / "validation" / "img3.jpg").write_bytes(truncated_png_bomb(60000, 60000))
    dataset = open_dataset(root, "val")
    assert ground_truth(dataset).image_ids == [0, None, None]
    metrics = evaluate_model(lively_net(["BACKGROUND", "Apple", "Zebra"]), dataset, batch_size=2)
    assert 0 <= metrics["coco"]["AP"] <= 1
    assert "img3.jpg: over the pixel limit: its header claims more than 178,956,970 pixels" in caplog.text
