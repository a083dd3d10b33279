"""Small hostile annotation files, shared by the tests of every command that reads them: training,
evaluation and the sample viewer must answer each with the same one line (a uniquely named module:
tests/ is on pytest's path through tests/conftest.py)."""
import json
from pathlib import Path

import cv2
import numpy as np

CATEGORIES = [{"id": 1, "name": "cat"}]
HEIGHT, WIDTH = 48, 64


def image(image_id: int, **fields) -> dict:
    return {"id": image_id, "file_name": f"{image_id}.jpg", "width": WIDTH, "height": HEIGHT, **fields}


def annotation(annotation_id: int, image_id: int, bbox=(4, 4, 20, 20)) -> dict:
    return {"id": annotation_id, "image_id": image_id, "category_id": 1, "bbox": list(bbox), "iscrowd": 0}


def coco_tree(root: Path, document: dict) -> tuple[Path, Path]:
    """A COCO tree with only a train2017 split (every command can be pointed at it), its images black;
    returns (root, annotation file)."""
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    for entry in document.get("images", []):
        assert cv2.imwrite(str(root / "train2017" / entry["file_name"]), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    path = root / "annotations" / "instances_train2017.json"
    path.write_text(json.dumps(document))
    return root, path


def coco_without_annotations(root: Path):
    """As an image_info file is: images and categories, no annotations key."""
    return coco_tree(root, {"images": [image(1)], "categories": CATEGORIES})


def coco_with_repeated_image_ids(root: Path):
    """Images 1..7 listed twice each (under other file names), so that only a few ids are named."""
    images = [image(number) for number in range(1, 8)]
    images += [{**entry, "file_name": f"copy{entry['id']}.jpg"} for entry in images]
    annotations = [annotation(number, number) for number in range(1, 8)]
    return coco_tree(root, {"images": images, "annotations": annotations, "categories": CATEGORIES})


def coco_with_string_boxes(root: Path):
    annotations = [annotation(6, 1), annotation(7, 1, ["12.5", "3", "10", "10"]), annotation(8, 1, ["1", 2, 3, 4])]
    return coco_tree(root, {"images": [image(1)], "annotations": annotations, "categories": CATEGORIES})


def voc_with_a_latin1_image_list(root: Path):
    """CVAT's layout (ImageSets/Main/default.txt serves every split), its list saved in Latin-1."""
    for folder in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (root / folder).mkdir(parents=True)
    for name in ("cat", "café"):
        assert cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
        (root / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><object><name>cat</name><bndbox><xmin>4</xmin>"
            "<ymin>4</ymin><xmax>20</xmax><ymax>20</ymax></bndbox></object></annotation>", encoding="utf-8")
    path = root / "ImageSets" / "Main" / "default.txt"
    path.write_bytes("cat\ncafé\n".encode("latin-1"))
    return root, path


# name -> (builder(root) -> (dataset root, the bad file), the problem every command names after the file)
COCO_FAULTS = {
    "no annotations": (coco_without_annotations, "not a COCO instances file (no annotations list)"),
    "repeated image ids": (coco_with_repeated_image_ids,
                           "image ids listed more than once: 1, 2, 3, 4, 5 and 2 more"),
    "bbox strings": (coco_with_string_boxes, 'annotation 7: bbox ["12.5", "3", "10", "10"] is not four numbers'),
}
FAULTS = {**COCO_FAULTS,
          "non-UTF-8 image list": (voc_with_a_latin1_image_list, "line 2 is not UTF-8 text (byte 0xe9)")}
