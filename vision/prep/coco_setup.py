"""COCO 2017 in one go: download, validate, fix. Every step skips work that is already done."""

import shlex
from pathlib import Path
from typing import Callable

from .coco_download import DEFAULT_BASE_URL, download_coco
from vision.utils.fileio import atomic_write_json
from .fix_annotations import fix_coco, instances_path
from .validate import action, validate_directory

TRAIN_SPLITS = ("train2017", "val2017")


def setup_coco(root: Path, base_url: str = DEFAULT_BASE_URL, workers: int = 2, num_workers: int | None = None,
               move_unannotated: bool = False, log: Callable[[str], None] = print) -> str:
    """Prepare root for training and return the command that trains on it.

    Images without annotations stay by default: the COCO dataset loader uses them as negatives.
    """
    root = Path(root)
    for line in download_coco(root, TRAIN_SPLITS + ("annotations",), base_url=base_url, workers=workers):
        log(line)
    for split in TRAIN_SPLITS:
        log(validate_split(root, split, num_workers))
    for line in fix_coco(root, TRAIN_SPLITS, move_unannotated=move_unannotated):
        log(line)
    return train_command(root)


def validate_split(root: Path, split: str, num_workers: int | None) -> str:
    # Decoding 118k images takes a while, so a finished validation is recorded and not repeated.
    marker = root / f".{split}.validated"
    if marker.exists():
        return f"{split}: already validated"
    result = validate_directory(root / split, num_workers, annotations=instances_path(root, split))
    atomic_write_json(marker, {"checked": result.checked, "invalid": len(result.earlier + result.invalid)})
    done = action(root / split, result)
    where = "" if done == "none" else f", {done}"
    return f"{split}: checked {result.checked} images, {len(result.invalid)} invalid{where}; report: {result.report}"


def train_command(root: Path) -> str:
    return (f"python3 train_ssd.py --dataset-type=coco --data={shlex.quote(str(root))} "
            "--model-dir=models/coco --net=mb1-ssd")
