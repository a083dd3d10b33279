"""Download a class subset of Open Images in the layout of the original open_images_downloader.py.

Writes DIR/sub-<split>-annotations-bbox.csv (the original columns plus `id` and `ClassName`) and
DIR/<split>/<ImageID>.jpg for train, validation and test, over plain HTTPS.
"""

import csv
import difflib
import io
import random
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from vision.utils.fileio import atomic_write_text

from . import PrepError
from .download import DEFAULT_MIN_SPEED, DEFAULT_TIMEOUT_S, DownloadError, download

DEFAULT_BASE_URL = "https://storage.googleapis.com/openimages"
DEFAULT_IMAGE_BASE_URL = "https://open-images-dataset.s3.amazonaws.com"
SPLITS = ("train", "validation", "test")
CLASS_DESCRIPTIONS = "2018_04/class-descriptions-boxable.csv"
# The v5 release re-issued the validation and test boxes; the train boxes stayed those of 2018_04.
BOX_ANNOTATIONS = {
    "train": "2018_04/train/train-annotations-bbox.csv",
    "validation": "v5/validation-annotations-bbox.csv",
    "test": "v5/test-annotations-bbox.csv",
}
IMAGE_ID = re.compile(r"[0-9A-Za-z_-]+")  # guards the <ImageID>.jpg path against CSV content


def download_open_images(root: Path, class_names: list[str], *, max_images: int = 0,
                         max_annotations_per_class: int = 0, stats_only: bool = False,
                         include_depiction: bool = False, num_workers: int = 10, retries: int = 10,
                         backoff: float = 1.0, timeout: float = DEFAULT_TIMEOUT_S,
                         min_speed: float = DEFAULT_MIN_SPEED, seed: int = 0, base_url: str = DEFAULT_BASE_URL,
                         image_base_url: str = DEFAULT_IMAGE_BASE_URL,
                         log: Callable[[str], None] = print) -> dict[str, set[str]]:
    """Select the boxes of class_names, write the sub-*.csv files and fetch their images.

    Returns, per split, the image ids that could not be downloaded (left out of the CSV files).
    max_images / max_annotations_per_class of 0 mean no limit; sampling is seeded, so the same
    arguments select the same images.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base_url, image_base_url = base_url.rstrip("/"), image_base_url.rstrip("/")
    fetch = dict(retries=retries, backoff=backoff, timeout=timeout, min_speed=min_speed)
    descriptions = fetch_file(f"{base_url}/{CLASS_DESCRIPTIONS}", root, **fetch)
    classes = resolve_classes(descriptions, class_names)
    rng = random.Random(seed)
    headers, selected = {}, {}
    for split in SPLITS:
        boxes = fetch_file(f"{base_url}/{BOX_ANNOTATIONS[split]}", root, f"{split}-annotations-bbox.csv", **fetch)
        headers[split], selected[split] = read_boxes(boxes, classes, include_depiction)
    if max_images:
        limit_images(selected, max_images, rng)
    if max_annotations_per_class:
        for split in SPLITS:
            selected[split] = limit_boxes_per_class(selected[split], max_annotations_per_class, rng)
    for line in statistics(selected):
        log(line)
    if stats_only:
        return {}
    failed = download_images(root, selected, image_base_url, num_workers, **fetch)
    for split in SPLITS:
        rows = [row for row in selected[split] if row[0] not in failed[split]]
        write_csv(root / f"sub-{split}-annotations-bbox.csv", headers[split], rows)
    return failed


def fetch_file(url: str, root: Path, name: str | None = None, **fetch) -> Path:
    """Download a metadata file into root once; later runs reuse it."""
    path = root / (name or url.rsplit("/", 1)[-1])
    if not path.exists():
        download(url, path, **fetch)
    return path


def resolve_classes(descriptions: Path, requested: list[str]) -> dict[str, str]:
    """Map requested class names (any case) to {LabelName: official ClassName}, in request order."""
    by_lower = {}
    with open(descriptions, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) >= 2:
                by_lower[row[1].strip().lower()] = (row[0].strip(), row[1].strip())
    if not requested:
        raise PrepError("no class names given (e.g. --class-names \"Apple,Orange,Banana\")")
    classes = {}
    for name in requested:
        match = by_lower.get(name.strip().lower())
        if match is None:
            close = difflib.get_close_matches(name.strip().lower(), by_lower, n=5, cutoff=0.6)
            hint = ", ".join(by_lower[c][1] for c in close) or "none"
            raise PrepError(f"unknown Open Images class {name.strip()!r} (close matches: {hint}); "
                            f"the {len(by_lower)} class names are listed in {descriptions}")
        classes[match[0]] = match[1]
    return classes


def read_boxes(path: Path, classes: dict[str, str], include_depiction: bool) -> tuple[list[str], list[list[str]]]:
    """Return the CSV header (plus id, ClassName) and the rows of the wanted classes, sorted by ImageID."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        required = ("ImageID", "LabelName", "IsDepiction")
        if not header or any(column not in header for column in required):
            raise PrepError(f"{path}: not an Open Images box annotation file (needs columns {', '.join(required)})")
        if header[0] != "ImageID":
            raise PrepError(f"{path}: expected ImageID as the first column")
        label_col, depiction_col = header.index("LabelName"), header.index("IsDepiction")
        rows = []
        for row in tqdm(reader, desc=f"reading {path.name}", unit=" rows", unit_scale=True, leave=False):
            if len(row) != len(header):
                if not row:
                    continue
                raise PrepError(f"{path}: line {reader.line_num} has {len(row)} columns, expected {len(header)}")
            label = row[label_col]
            if label in classes and (include_depiction or row[depiction_col] != "1"):
                if not IMAGE_ID.fullmatch(row[0]):
                    raise PrepError(f"{path}: line {reader.line_num}: bad ImageID {row[0]!r}")
                rows.append(row + [label, classes[label]])
    rows.sort(key=lambda row: row[0])  # stable: boxes of one image keep their file order
    return header + ["id", "ClassName"], rows


def limit_images(selected: dict[str, list[list[str]]], max_images: int, rng: random.Random) -> None:
    """Keep at most max_images images overall, each split keeping its share (as the original did)."""
    images = {split: sorted({row[0] for row in rows}) for split, rows in selected.items()}
    total = sum(len(ids) for ids in images.values())
    if total <= max_images:
        return
    for split, ids in images.items():
        keep = set(rng.sample(ids, int(max_images * len(ids) / total)))
        selected[split] = [row for row in selected[split] if row[0] in keep]


def limit_boxes_per_class(rows: list[list[str]], limit: int, rng: random.Random) -> list[list[str]]:
    """Keep at most `limit` boxes of each class (a random sample when a class has more)."""
    by_class = {}
    for index, row in enumerate(rows):
        by_class.setdefault(row[-1], []).append(index)
    keep = set()
    for indices in by_class.values():
        keep.update(rng.sample(indices, limit) if len(indices) > limit else indices)
    return [row for index, row in enumerate(rows) if index in keep]


def statistics(selected: dict[str, list[list[str]]]) -> list[str]:
    rule = "-" * 37
    lines, total_images, total_boxes = [], 0, 0
    for split, rows in selected.items():
        images = len({row[0] for row in rows})
        total_images, total_boxes = total_images + images, total_boxes + len(rows)
        lines += [rule, f" '{split}' set statistics", rule, f"  Image count:  {images}",
                  f"  Bounding box count:  {len(rows)}", "  Bounding box distribution: "]
        for name, count in Counter(row[-1] for row in rows).most_common():
            lines.append(f"    {name}:  {count}/{len(rows)} = {count / len(rows):.2f}")
    lines += [rule, " Overall statistics", rule, f"  Image count:  {total_images}",
              f"  Bounding box count:  {total_boxes}"]
    return lines


def download_images(root: Path, selected: dict[str, list[list[str]]], image_base_url: str,
                    num_workers: int, **fetch) -> dict[str, set[str]]:
    """Fetch every selected image not already on disk; return the ids that failed, per split."""
    jobs = []
    for split, rows in selected.items():
        (root / split).mkdir(exist_ok=True)
        for image_id in sorted({row[0] for row in rows}):
            dest = root / split / f"{image_id}.jpg"
            if not dest.exists():
                jobs.append((split, image_id, dest))

    def fetch_one(job):
        split, image_id, dest = job
        try:
            download(f"{image_base_url}/{split}/{image_id}.jpg", dest, progress=False, **fetch)
            return None
        except DownloadError as e:
            return split, image_id, str(e)

    failed = {split: set() for split in selected}
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        for failure in tqdm(pool.map(fetch_one, jobs), total=len(jobs), desc="images", unit="img"):
            if failure:
                failed[failure[0]].add(failure[1])
                tqdm.write(f"warning: {failure[2]}")
    return failed


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
