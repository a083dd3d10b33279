"""Helpers shared by the evaluation tests (a uniquely named module: conftest.py names clash)."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import model_helpers
from vision.prep.fix_annotations import remap_categories

REPO = Path(__file__).resolve().parents[2]
MODEL_CLASSES = ["BACKGROUND", "person", "car", "chair", "book", "zebra"]  # zebra: not in the test images
RESOLUTION = 160


def load_json(path) -> dict:
    return json.loads(Path(path).read_text())


def noisy_detections(ground_truth: dict, seed: int = 0, drop: float = 0.2, false_positives: int = 200) -> list:
    """Detections made from the ground truth: boxes moved and resized by noise, some boxes dropped,
    some random boxes added, random scores."""
    rng = np.random.default_rng(seed)
    detections = []
    for annotation in ground_truth["annotations"]:
        if rng.random() < drop:
            continue
        x, y, width, height = annotation["bbox"]
        noise = rng.normal(0, 0.1, 4)
        detections.append({"image_id": annotation["image_id"], "category_id": annotation["category_id"],
                           "bbox": [x + noise[0] * width, y + noise[1] * height, width * np.exp(noise[2]),
                                    height * np.exp(noise[3])], "score": float(rng.random())})
    images = [image["id"] for image in ground_truth["images"]]
    categories = [category["id"] for category in ground_truth["categories"]]
    for _ in range(false_positives):
        x, y = rng.uniform(0, 500, 2)
        detections.append({"image_id": int(rng.choice(images)), "category_id": int(rng.choice(categories)),
                           "bbox": [x, y, *rng.uniform(2, 200, 2)], "score": float(rng.random())})
    return json.loads(json.dumps(detections))  # plain Python numbers, as read from a file


def remapped(ground_truth: dict) -> dict:
    """A copy as fix_coco_annotations.py writes it: category ids 1..K, each with its original_id."""
    data = copy.deepcopy(ground_truth)
    remap_categories(Path("remapped.json"), data)
    return data


def to_remapped_ids(detections: list, remapped_truth: dict) -> list:
    new_id = {category["original_id"]: category["id"] for category in remapped_truth["categories"]}
    return [{**detection, "category_id": new_id[detection["category_id"]]} for detection in detections]


def mini_coco(root: Path, coco128: Path, count: int, split: str = "val2017") -> Path:
    """A COCO tree with the first `count` annotated images of coco128's split (images linked)."""
    coco128 = Path(coco128).resolve()  # links to a relative path would point nowhere
    data = load_json(coco128 / "annotations" / f"instances_{split}.json")
    annotated = {annotation["image_id"] for annotation in data["annotations"]}
    data["images"] = [image for image in data["images"] if image["id"] in annotated][:count]
    kept = {image["id"] for image in data["images"]}
    data["annotations"] = [annotation for annotation in data["annotations"] if annotation["image_id"] in kept]
    (root / "annotations").mkdir(parents=True)
    (root / split).mkdir()
    for image in data["images"]:
        os.symlink(coco128 / split / image["file_name"], root / split / image["file_name"])
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


def lively_net(classes=MODEL_CLASSES, resolution: int = RESOLUTION, seed: int = 0):
    return model_helpers.lively_net("mb1-ssd-lite", len(classes), resolution, seed, class_spread=2.0,
                                    box_spread=0.3)


def save_checkpoint(path: Path, net, classes=MODEL_CLASSES) -> Path:
    return model_helpers.save_checkpoint(path, net, classes)


def write_labels(path: Path, classes=MODEL_CLASSES) -> Path:
    return model_helpers.write_labels(path, classes)


def run_eval(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "eval_ssd.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]
