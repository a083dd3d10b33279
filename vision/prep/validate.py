"""Find image files that do not decode fully, move them aside, and drop them from a COCO JSON."""

import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio.v3 as imageio
import numpy as np
import PIL.Image
from tqdm import tqdm

from vision.errors import first_line
from vision.utils.fileio import IMAGE_EXTENSIONS, atomic_write_json
from vision.utils.pixel_limit import max_image_pixels, oversize_problem

from . import PrepError
from .coco_json import load_instances, remove_images, save_instances

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


def check_image(path: str) -> str | None:
    """Why the image at path is unusable, or None when OpenCV and Pillow both decode it fully."""
    too_large = oversize_problem(path)
    if too_large:
        return too_large
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    if not data:
        return "empty file"
    # Decoders can return a partly grey image for a truncated JPEG, so insist on the end marker.
    if data.startswith(JPEG_START) and not data.endswith(JPEG_END):
        return "truncated JPEG (does not end with the FFD9 end-of-image marker)"
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:  # its own pixel limit (CV_IO_MAX_IMAGE_PIXELS), among others
        return f"OpenCV cannot decode it: {first_line(e)}"
    if image is None or image.size == 0:
        return "OpenCV cannot decode it"
    try:
        # Pillow for every format, as scikit-image's imread uses it for all but TIFF; for TIFF it takes
        # tifffile, which cannot decode the LZW compression that OpenCV writes without `imagecodecs`.
        with warnings.catch_warnings():  # Pillow's "could be decompression bomb": the limit was checked above
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            image = imageio.imread(path, plugin="pillow")
    except Exception as e:  # Pillow raises many exception types for bad files
        return f"Pillow cannot decode it: {first_line(e)}"
    if image.ndim not in (2, 3) or image.size == 0:
        return f"Pillow decodes it to an unusable array of shape {image.shape}"
    return None


@dataclass
class ValidationResult:
    checked: int
    invalid: list[tuple[str, str]]  # (path relative to the directory, reason)
    report: Path
    moved_to: Path | None  # None when the invalid files were deleted (or there were none)
    annotations: dict = field(default_factory=dict)  # what was removed from the JSON, if one was given
    earlier: list[tuple[str, str]] = field(default_factory=list)  # already in <directory>_invalid/


def invalid_dir(directory: Path) -> Path:
    return directory.parent / f"{directory.name}_invalid"


def report_path(directory: Path) -> Path:
    return directory.parent / f"{directory.name}_validation_report.json"


def list_images(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def validate_directory(directory: Path, num_workers: int | None = None, delete: bool = False,
                       annotations: Path | None = None) -> ValidationResult:
    """Check every image under directory; update the JSON, write the report, then move (or delete) the
    invalid ones. Files an earlier run moved to <directory>_invalid/ are dropped from the JSON and
    listed in the report too, so a re-run finishes the work of a run cut short."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PrepError(f"{directory}: not a directory")
    max_image_pixels()  # a wrong setting stops here, not in every worker
    # Read the JSON before the long scan so a bad path fails in a second, not after an hour.
    coco = load_instances(annotations, required=("images",)) if annotations else None
    files = list_images(directory)
    reasons = check_all(files, num_workers, directory.name)
    invalid = [(f.relative_to(directory).as_posix(), r) for f, r in zip(files, reasons) if r]
    moved_to = invalid_dir(directory) if invalid and not delete else None
    result = ValidationResult(len(files), invalid, report_path(directory), moved_to,
                              earlier=set_aside_earlier(directory))
    if coco is not None:
        removed = {rel for rel, _ in result.invalid + result.earlier}
        result.annotations = drop_from_annotations(Path(annotations), coco, removed)
    # The files move last: a run cut short leaves them where the next run finds them again.
    write_report(directory, result)
    if invalid:
        set_aside(directory, [rel for rel, _ in invalid], moved_to)
    return result


def set_aside_earlier(directory: Path) -> list[tuple[str, str]]:
    """(relative path, reason) of the files in <directory>_invalid/, those an earlier run moved there,
    checked again for the reason; one whose name is back in directory is left to the new check."""
    aside = invalid_dir(directory)
    if not aside.is_dir():
        return []
    relative = [f.relative_to(aside).as_posix() for f in list_images(aside)]
    return [(rel, check_image(str(aside / rel)) or "set aside by an earlier run")
            for rel in relative if not (directory / rel).exists()]


def check_all(files: list[Path], num_workers: int | None, desc: str = "") -> list[str | None]:
    bar = tqdm(total=len(files), desc=f"validating {desc}", unit="img")
    with bar:
        if num_workers is not None and num_workers <= 1:
            return [_tick(bar, check_image(str(f))) for f in files]
        # spawn, not fork: the parent holds OpenCV/OpenBLAS threads, which a forked child would inherit
        # in an unknown state.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(num_workers or os.cpu_count(), mp_context=context) as pool:
            return [_tick(bar, r) for r in pool.map(check_image, [str(f) for f in files], chunksize=16)]


def _tick(bar, value):
    bar.update(1)
    return value


def set_aside(directory: Path, relative_paths: list[str], destination: Path | None) -> None:
    """Move each file under destination (same relative path), or delete it when destination is None."""
    for rel in relative_paths:
        source = directory / rel
        if destination is None:
            source.unlink()
            continue
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


def drop_from_annotations(path: Path, coco: dict, removed_files: set[str]) -> dict:
    image_ids = {image["id"] for image in coco["images"] if image.get("file_name") in removed_files}
    if not image_ids:
        return {"file": str(path), "images_removed": 0, "annotations_removed": 0}
    annotations_removed = remove_images(coco, image_ids)
    backup = save_instances(path, coco)
    return {"file": str(path), "images_removed": len(image_ids), "annotations_removed": annotations_removed,
            "backup": str(backup)}


def write_report(directory: Path, result: ValidationResult) -> None:
    atomic_write_json(result.report, {
        "directory": str(directory),
        "checked": result.checked,
        "invalid": [{"file": rel, "reason": reason} for rel, reason in result.earlier + result.invalid],
        "action": action(directory, result),
        "annotations": result.annotations or None,
    }, indent=2)


def action(directory: Path, result: ValidationResult) -> str:
    """What became of the invalid files, as the report and the command line say it."""
    parts = []
    if result.invalid:
        parts.append(f"moved to {result.moved_to}" if result.moved_to else "deleted")
    if result.earlier:
        parts.append(f"{len(result.earlier)} set aside by an earlier run in {invalid_dir(directory)}")
    return "; ".join(parts) or "none"
