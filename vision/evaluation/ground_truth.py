"""Ground truth in COCO's instances format, whatever the dataset: the metrics all read that.

A COCO dataset is scored against its own annotation file (its ids, areas and crowd regions, as the
official evaluation does); VOC and Open Images data get one built in memory from the dataset, with
`difficult` objects as crowd regions.
"""
from dataclasses import dataclass

from vision.datasets import ImageReadError
from vision.datasets.coco import check_instances
from vision.utils.jsonfile import read_json

from .errors import EvaluationError


@dataclass
class GroundTruth:
    coco: dict                        # COCO instances: images, annotations, categories
    image_ids: list[int | None]       # the image id of each dataset position (None: unreadable, never scored)
    category_of_label: dict[int, int]  # model label -> category id, for the labels the data can score


def ground_truth(dataset) -> GroundTruth:
    """The ground truth of a dataset whose labels are the model's (class_names, BACKGROUND first)."""
    category_of_label = getattr(dataset, "label_to_category_id", None)  # CocoDataset's
    if category_of_label is not None:
        image_ids = [dataset.image_id(index) for index in range(len(dataset))]
        return GroundTruth(read_annotations(dataset.annotation_file), image_ids, category_of_label)
    coco, image_ids = _instances(dataset)
    labels = range(1, len(dataset.class_names))
    return GroundTruth(coco, image_ids, {label: label for label in labels})


def read_annotations(path) -> dict:
    """A COCO instances file, checked, with what COCOeval needs filled in (see `check_annotations`)."""
    return check_annotations(read_json(path, "annotation file"), path)


def check_annotations(data, source) -> dict:
    """Check the parts COCOeval reads (with the rules training applies too, `check_instances`); add `area`
    (from the box) and `iscrowd` (0) where missing, and renumber annotations 1..N when their ids are
    missing, repeated or 0 (COCOeval marks a match with the matched annotation's id, so an id of 0 reads
    as unmatched)."""
    try:
        check_instances(data, source)
        image_ids = {int(image["id"]) for image in data["images"]}
        category_ids = {int(category["id"]) for category in data["categories"]}
        if not all(isinstance(category["name"], str) for category in data["categories"]):
            raise ValueError("categories.name")
        for annotation in data["annotations"]:
            _check_annotation(annotation, image_ids, category_ids, source)
    except (KeyError, TypeError, ValueError) as error:
        raise EvaluationError(f"{source}: not a COCO instances file (missing or bad field {error})") from None
    ids = [annotation.get("id") for annotation in data["annotations"]]
    if None in ids or 0 in ids or len(set(ids)) < len(ids):
        for number, annotation in enumerate(data["annotations"], start=1):
            annotation["id"] = number
    return data


def _check_annotation(annotation: dict, image_ids: set, category_ids: set, source) -> None:
    _, _, width, height = annotation["bbox"]
    if annotation["image_id"] not in image_ids or annotation["category_id"] not in category_ids:
        raise EvaluationError(f"{source}: annotation {annotation.get('id')} refers to image "
                              f"{annotation['image_id']} or category {annotation['category_id']}, "
                              f"which the file does not list")
    annotation.setdefault("area", width * height)
    annotation.setdefault("iscrowd", 0)


def _instances(dataset) -> tuple[dict, list[int | None]]:
    """The COCO instances of the dataset, and the image id of each position."""
    images, annotations, image_ids = [], [], []
    for index in range(len(dataset)):
        try:
            target = dataset.target(index)
        except ImageReadError:  # its size is unknown; inference skips the image too, with a warning
            image_ids.append(None)
            continue
        height, width = target["size"]
        image_ids.append(target["image_id"])
        images.append({"id": target["image_id"], "width": width, "height": height})
        for box, label, difficult in zip(target["boxes"].tolist(), target["labels"].tolist(),
                                         target["difficult"].tolist()):
            x1, y1, x2, y2 = box
            annotations.append({"id": len(annotations) + 1, "image_id": target["image_id"], "category_id": label,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": int(difficult)})
    categories = [{"id": label, "name": name} for label, name in enumerate(dataset.class_names) if label > 0]
    return {"images": images, "annotations": annotations, "categories": categories}, image_ids
