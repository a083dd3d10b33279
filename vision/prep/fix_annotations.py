"""Make COCO instances files ready for training: contiguous category ids 1..K and a labels.txt.

Label 0 is BACKGROUND in this toolkit, so the 80 COCO categories (raw ids 1..90 with gaps) become
1..80 in raw-id order. Each category keeps its raw id as `original_id` so evaluation can map
predictions back to official ids. Running the fix again finds nothing to do.
"""

import os
from pathlib import Path

from vision.utils.fileio import atomic_write_text, backup_path

from . import PrepError
from .coco_json import load_instances, remove_images, save_instances

DEFAULT_SPLITS = ("train2017", "val2017")
MAX_NAMES_SHOWN = 10


def instances_path(root: Path, split: str) -> Path:
    return root / "annotations" / f"instances_{split}.json"


def unannotated_dir(root: Path, split: str) -> Path:
    return root / f"{split}_unannotated"


def fix_coco(root: Path, splits=DEFAULT_SPLITS, dry_run: bool = False,
             move_unannotated: bool = False) -> list[str]:
    """Fix each split's instances file and write root/labels.txt; return the lines to print."""
    root = Path(root)
    if not root.is_dir():
        raise PrepError(f"{root}: not a directory")
    lines, label_names = [], None
    # One split at a time keeps memory to one JSON file (train2017's is 450 MB).
    for split in dict.fromkeys(splits):
        split_lines, label_names = fix_split(root, split, dry_run, move_unannotated, label_names)
        lines += split_lines
    if label_names is not None:
        lines.append(write_labels(root / "labels.txt", label_names, dry_run))
    return lines


def fix_split(root: Path, split: str, dry_run: bool, move_unannotated: bool,
              expected_names: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Fix one split; return the lines to print and its class names in label order.

    expected_names (the label set of a split fixed before) must match, or nothing is changed.
    """
    path = instances_path(root, split)
    data = load_instances(path)
    lines, changed = [], False
    if is_fixed(path, data["categories"]):
        lines.append(f"{split}: category ids already contiguous 1..{len(data['categories'])}")
    else:
        lines.append(f"{split}: {remap_categories(path, data)}")
        changed = True
    names = [c["name"] for c in sorted(data["categories"], key=lambda c: c["id"])]
    if expected_names is not None and names != expected_names:
        raise PrepError(f"{path}: its categories differ from the split before it; all splits must share "
                        "one label set (nothing written for this split)")
    images = unannotated_images(data)
    if images:
        lines.append(f"{split}: {len(images)} image(s) without annotations: {_some(images)}")
    if images and move_unannotated:
        if not dry_run:
            move_images(root / split, [image["file_name"] for image in images], unannotated_dir(root, split))
        remove_images(data, {image["id"] for image in images})
        lines.append(f"{split}: moved them to {unannotated_dir(root, split)} and removed them from {path.name}")
        changed = True
    if not changed:
        lines.append(f"{split}: {path.name} needs no changes")
    elif not dry_run:
        save_instances(path, data)
        lines.append(f"{split}: wrote {path} (original kept as {backup_path(path).name})")
    prefix = "dry run, nothing written: " if dry_run else ""
    return [prefix + line for line in lines], names


def is_fixed(path: Path, categories: list[dict]) -> bool:
    with_original = sum("original_id" in c for c in categories)
    contiguous = sorted(c["id"] for c in categories) == list(range(1, len(categories) + 1))
    if with_original == len(categories) and contiguous:
        return True
    if with_original:
        # Remapping again would record already-remapped ids as original ids.
        raise PrepError(f"{path}: categories are partly remapped (some have original_id); restore "
                        f"{backup_path(path).name} over it and run again")
    return False


def remap_categories(path: Path, data: dict) -> str:
    """Renumber categories 1..K in raw-id order, in place; return a one-line summary."""
    categories = sorted(data["categories"], key=lambda c: c["id"])
    raw_ids = [c["id"] for c in categories]
    if len(set(raw_ids)) != len(raw_ids):
        raise PrepError(f"{path}: duplicate category ids in 'categories'")
    new_id = {raw: label for label, raw in enumerate(raw_ids, start=1)}
    for annotation in data["annotations"]:
        if annotation.get("category_id") not in new_id:
            raise PrepError(f"{path}: annotation {annotation.get('id')} has category_id "
                            f"{annotation.get('category_id')!r}, which is not in 'categories'")
    for category in categories:
        category["original_id"] = category["id"]
        category["id"] = new_id[category["id"]]
    for annotation in data["annotations"]:
        annotation["category_id"] = new_id[annotation["category_id"]]
    data["categories"] = categories
    span = f"{raw_ids[0]}..{raw_ids[-1]}" if raw_ids else "none"
    return f"remapped {len(raw_ids)} categories (raw ids {span}) to 1..{len(raw_ids)}"


def unannotated_images(data: dict) -> list[dict]:
    annotated = {a["image_id"] for a in data["annotations"]}
    return [image for image in data["images"] if image["id"] not in annotated]


def move_images(image_dir: Path, file_names: list[str], destination: Path) -> None:
    """Move the files aside; a file already at the destination (an earlier, interrupted run) is fine."""
    for name in file_names:
        source, target = image_dir / name, destination / name
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)


def write_labels(path: Path, names: list[str], dry_run: bool) -> str:
    """labels.txt: class names in label order, one per line; BACKGROUND (label 0) is implied."""
    text = "".join(f"{name}\n" for name in names)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return f"{path} up to date ({len(names)} classes)"
    if dry_run:
        return f"dry run, nothing written: would write {path} ({len(names)} classes)"
    atomic_write_text(path, text)
    return f"wrote {path} ({len(names)} classes)"


def _some(images: list[dict]) -> str:
    names = [image["file_name"] for image in images[:MAX_NAMES_SHOWN]]
    more = len(images) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")
