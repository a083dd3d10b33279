"""Reading and rewriting COCO instances JSON files (the original is backed up once)."""

from pathlib import Path

from . import PrepError
from vision.utils.fileio import atomic_write_json, backup_once
from vision.utils.jsonfile import read_json


def load_instances(path: Path, required=("images", "annotations", "categories")) -> dict:
    data = read_json(path)
    if not isinstance(data, dict):
        raise PrepError(f"{path}: not a COCO annotations file (top level is not an object)")
    for key in required:
        if not isinstance(data.get(key), list):
            raise PrepError(f"{path}: not a COCO annotations file (no '{key}' list)")
    return data


def remove_images(data: dict, image_ids: set) -> int:
    """Drop these images and their annotations from data in place; return how many annotations went."""
    data["images"] = [image for image in data["images"] if image["id"] not in image_ids]
    annotations = data.get("annotations", [])
    kept = [a for a in annotations if a["image_id"] not in image_ids]
    if "annotations" in data:
        data["annotations"] = kept
    return len(annotations) - len(kept)


def save_instances(path: Path, data: dict) -> Path:
    """Atomically replace path with data, keeping the first original as <name>.orig.json; return the backup."""
    backup = backup_once(path)
    atomic_write_json(path, data)
    return backup
