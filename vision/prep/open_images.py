"""Download a class subset of Open Images in the layout of the original open_images_downloader.py.

Writes DIR/sub-<split>-annotations-bbox.csv (the original columns plus `id` and `ClassName`) and
DIR/<split>/<ImageID>.jpg for train, validation and test, over plain HTTPS.
"""

import codecs
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
LABEL_NAME = re.compile(r"/[a-z]/\w+")  # /m/014j1m
BOX_COLUMNS = ("ImageID", "LabelName", "IsDepiction")  # the columns read_boxes needs, ImageID first
READ_SIZE = 1 << 20
NUL = b"\0"  # valid UTF-8, but no text file holds it


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
    descriptions = fetch_file(f"{base_url}/{CLASS_DESCRIPTIONS}", root, class_list_problem, log, **fetch)
    classes = resolve_classes(descriptions, class_names)
    rng = random.Random(seed)
    headers, selected = {}, {}
    for split in SPLITS:
        boxes = fetch_file(f"{base_url}/{BOX_ANNOTATIONS[split]}", root, box_file_problem, log,
                           f"{split}-annotations-bbox.csv", **fetch)
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


def fetch_file(url: str, root: Path, problem: Callable[[Path], str | None], log: Callable[[str], None],
               name: str | None = None, **fetch) -> Path:
    """Download a metadata file into root once; later runs reuse it while `problem` finds nothing wrong.

    A proxy's login or error page can arrive in place of the CSV: such a download is refused, and
    such a file already in root (kept by an earlier version, or damaged) is deleted and downloaded again.
    """
    path = root / (name or url.rsplit("/", 1)[-1])
    if path.exists():
        reason = problem(path)
        if reason is None:
            return path
        log(f"warning: {path}: {reason}; deleted it, downloading it again")
        path.unlink()
    download(url, path, check=problem, **fetch)
    return path


def class_list_problem(path: Path) -> str | None:
    """What makes path not a class list (rows of LabelName,ClassName without a header), or None."""
    return text_problem(path) or first_line_problem(
        path, lambda row: len(row) == 2 and LABEL_NAME.fullmatch(row[0]) is not None,
        "a class list row such as '/m/014j1m,Apple'")


def box_file_problem(path: Path) -> str | None:
    """What makes path not a box annotation file (a header of ImageID and the columns we read), or None."""
    return text_problem(path) or first_line_problem(
        path, lambda row: row[:1] == ["ImageID"] and all(column in row for column in BOX_COLUMNS),
        f"a box annotation header (ImageID first, with {', '.join(BOX_COLUMNS[1:])})")


def text_problem(path: Path) -> str | None:
    """Why path is not UTF-8 text (a binary file, another encoding), or None. Reads it all."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, desc=f"checking {path.name}", unit="B",
                                     unit_scale=True, unit_divisor=1024, leave=False) as bar:
        while chunk := f.read(READ_SIZE):
            if NUL in chunk:
                return f"binary, not text (a NUL byte at byte {offset + chunk.index(NUL)})"
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                return f"not UTF-8 text ({e.reason} near byte {offset + e.start})"
            offset += len(chunk)
            bar.update(len(chunk))
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        return f"not UTF-8 text ({e.reason} at the end)"
    return None


def first_line_problem(path: Path, fits: Callable[[list[str]], bool], expected: str) -> str | None:
    """Why the first CSV row of the UTF-8 text file path does not fit, or None."""
    with open(path, newline="", encoding="utf-8") as f:
        line = f.readline(READ_SIZE)
    try:
        row = next(csv.reader([line]), [])
    except csv.Error as e:
        return f"not a CSV file ({e})"
    if fits(row):
        return None
    line = line.rstrip("\r\n")
    shown = repr(line[:60] + ("..." if len(line) > 60 else ""))
    html = " (an HTML page: a login or error page instead of the file?)" if line.lstrip().startswith("<") else ""
    return f"the first line is {shown}, not {expected}{html}"


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
    """Return the CSV header (plus id, ClassName) and the rows of the wanted classes, sorted by ImageID.

    path has passed box_file_problem (fetch_file sees to it).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
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
