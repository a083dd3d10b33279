"""validate_image_files.py / vision.prep.validate on generated good and bad images."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bomb_images import truncated_png_bomb, zero_png
from prep_helpers import jpeg_bytes, png_bytes, run_in_process, run_script
from vision.prep.validate import check_image, validate_directory

GOOD = {
    "color.jpg": jpeg_bytes(seed=1),
    "gray.jpg": jpeg_bytes(seed=2, gray=True),
    "image.png": png_bytes(seed=3),
    "nested/deeper.JPG": jpeg_bytes(seed=4),
}
BAD = {
    "truncated.jpg": jpeg_bytes(seed=5)[:-400],
    "empty.jpg": b"",
    "garbage.jpg": np.random.default_rng(7).bytes(2000),
}


@pytest.fixture
def images(tmp_path):
    directory = tmp_path / "images"
    for name, data in {**GOOD, **BAD}.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    (directory / "notes.txt").write_text("not an image, not checked")
    return directory


def coco_for(names):
    images = [{"id": i, "file_name": name} for i, name in enumerate(names, start=1)]
    annotations = [{"id": 100 + image["id"], "image_id": image["id"], "category_id": 1, "bbox": [1, 2, 3, 4]}
                   for image in images]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]}


def test_reasons(images):
    for name in GOOD:
        assert check_image(str(images / name)) is None, name
    assert "truncated JPEG" in check_image(str(images / "truncated.jpg"))
    assert check_image(str(images / "empty.jpg")) == "empty file"
    assert check_image(str(images / "garbage.jpg")) == "OpenCV cannot decode it"
    # Ends with FFD9 but a middle byte range is gone: both decoders are still asked.
    spliced = GOOD["color.jpg"][:300] + GOOD["color.jpg"][-300:]
    (images / "spliced.jpg").write_bytes(spliced)
    assert check_image(str(images / "spliced.jpg")) is not None


def test_command_moves_invalid_files_reports_and_fixes_annotations(images, tmp_path):
    annotations = tmp_path / "instances.json"
    original = json.dumps(coco_for(sorted(GOOD) + sorted(BAD)))
    annotations.write_text(original)
    out = run_script("validate_image_files.py", "--path", images, "--num-workers", 2, "--annotations", annotations)
    assert out.returncode == 1, out.stderr
    report = tmp_path / "images_validation_report.json"
    assert out.stdout.strip().splitlines()[-1] == f"report: {report}"

    assert sorted(p.relative_to(tmp_path / "images_invalid").as_posix()
                  for p in (tmp_path / "images_invalid").rglob("*")) == sorted(BAD)
    assert all((images / name).read_bytes() == data for name, data in GOOD.items())
    assert not any((images / name).exists() for name in BAD)

    listed = json.loads(report.read_text())
    assert listed["checked"] == len(GOOD) + len(BAD)
    assert {entry["file"] for entry in listed["invalid"]} == set(BAD)
    assert all(entry["reason"] for entry in listed["invalid"])

    fixed = json.loads(annotations.read_text())
    assert sorted(image["file_name"] for image in fixed["images"]) == sorted(GOOD)
    kept_ids = {image["id"] for image in fixed["images"]}
    assert len(fixed["annotations"]) == len(GOOD) and all(a["image_id"] in kept_ids for a in fixed["annotations"])
    assert (tmp_path / "instances.orig.json").read_text() == original


def test_clean_directory_exits_0_and_backup_keeps_the_first_original(images, tmp_path):
    annotations = tmp_path / "instances.json"
    original = json.dumps(coco_for(sorted(GOOD) + sorted(BAD) + ["later.jpg"]))
    annotations.write_text(original)
    first = validate_directory(images, num_workers=1, annotations=annotations)
    assert len(first.invalid) == len(BAD) and first.annotations["images_removed"] == len(BAD)

    again = validate_directory(images, num_workers=1, annotations=annotations)
    assert (again.checked, again.invalid) == (len(GOOD), [])
    (images / "later.jpg").write_bytes(b"\xff\xd8 cut short")
    third = validate_directory(images, num_workers=1, annotations=annotations)
    assert [rel for rel, _ in third.invalid] == ["later.jpg"]
    assert (tmp_path / "instances.orig.json").read_text() == original  # not replaced by the second state
    assert sorted(image["file_name"] for image in json.loads(annotations.read_text())["images"]) == sorted(GOOD)


def test_delete_removes_invalid_files(images, tmp_path):
    result = validate_directory(images, num_workers=1, delete=True)
    assert result.moved_to is None and len(result.invalid) == len(BAD)
    assert not (tmp_path / "images_invalid").exists()
    assert sorted(p.name for p in images.rglob("*.*")) == sorted(["color.jpg", "gray.jpg", "image.png",
                                                                  "deeper.JPG", "notes.txt"])


def test_usage_errors_exit_2(tmp_path, capsys):
    missing = run_script("validate_image_files.py", "--path", tmp_path / "nope")  # once as a user runs it
    assert missing.returncode == 2 and "not a directory" in missing.stderr
    (tmp_path / "bad.json").write_text("{not json")
    bad_json = run_in_process(capsys, "validate_image_files.py", "--path", tmp_path, "--annotations",
                              tmp_path / "bad.json")
    assert bad_json.returncode == 2
    assert "bad.json: not valid JSON" in bad_json.stderr and "Traceback" not in bad_json.stderr


def test_every_format_training_reads_is_checked(tmp_path):
    """TIFF and WebP too, not only the JPEG, PNG and BMP of the COCO downloads."""
    pixels = np.random.default_rng(8).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    good = {name: cv2.imencode(Path(name).suffix, pixels)[1].tobytes()
            for name in ("scan.tif", "scan.TIFF", "photo.webp", "photo.bmp")}
    bad = {"cut.tif": good["scan.tif"][:60], "cut.webp": good["photo.webp"][:30]}
    directory = tmp_path / "images"
    directory.mkdir()
    for name, data in {**good, **bad}.items():
        (directory / name).write_bytes(data)
    result = validate_directory(directory, num_workers=1)
    assert result.checked == len(good) + len(bad)
    assert sorted(rel for rel, _ in result.invalid) == sorted(bad)


def test_decompression_bombs_are_invalid_without_being_decoded(images, tmp_path):
    """A header claiming 60000 x 60000 pixels over a few hundred bytes, and a complete all-black PNG
    of 30000 x 30000 (900 million pixels): refused from the header, reported and moved like any other."""
    (images / "bomb.png").write_bytes(truncated_png_bomb(60000, 60000))
    (images / "black.png").write_bytes(zero_png(30000, 30000))
    out = run_script("validate_image_files.py", "--path", images, "--num-workers", 2)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    reasons = {entry["file"]: entry["reason"]
               for entry in json.loads((tmp_path / "images_validation_report.json").read_text())["invalid"]}
    assert set(reasons) == set(BAD) | {"bomb.png", "black.png"}
    assert reasons["bomb.png"] == reasons["black.png"] == (
        "over the pixel limit: its header claims more than 178,956,970 pixels (SSD_MAX_IMAGE_PIXELS); not decoded")
    assert (tmp_path / "images_invalid" / "bomb.png").exists() and not (images / "black.png").exists()


def test_the_pixel_limit_is_set_by_the_environment(images, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "3071")  # the 48 x 64 JPEGs are over it, the 40 x 30 PNG is not
    assert check_image(str(images / "color.jpg")).startswith("over the pixel limit: its header claims more than 3,071")
    assert check_image(str(images / "image.png")) is None
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "3072")
    assert check_image(str(images / "color.jpg")) is None
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "many")
    out = run_in_process(capsys, "validate_image_files.py", "--path", images)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "validate_image_files.py: error: SSD_MAX_IMAGE_PIXELS=many: not a whole number of pixels above 0"]
    assert not (tmp_path / "images_invalid").exists()


@pytest.mark.parametrize("old_report", [None, "empty", "stale"])
def test_a_rerun_finishes_the_work_of_a_run_killed_after_moving_files(images, tmp_path, old_report):
    """kill -9 after the files were moved: the JSON still lists them, the report is missing or old."""
    annotations = tmp_path / "instances.json"
    original = json.dumps(coco_for(sorted(GOOD) + sorted(BAD)))
    annotations.write_text(original)
    for name in BAD:
        (tmp_path / "images_invalid" / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).rename(tmp_path / "images_invalid" / name)
    report = tmp_path / "images_validation_report.json"
    if old_report:
        listed = [] if old_report == "empty" else [{"file": "gone.jpg", "reason": "empty file"}]
        report.write_text(json.dumps({"directory": str(images), "checked": 9, "invalid": listed}))

    out = run_script("validate_image_files.py", "--path", images, "--num-workers", 1, "--annotations", annotations)
    assert out.returncode == 1, out.stderr
    assert f"checked {len(GOOD)} images: 0 invalid, {len(BAD)} set aside by an earlier run in " in out.stdout
    fixed = json.loads(annotations.read_text())
    assert sorted(image["file_name"] for image in fixed["images"]) == sorted(GOOD)
    assert len(fixed["annotations"]) == len(GOOD)
    assert (tmp_path / "instances.orig.json").read_text() == original
    reasons = {entry["file"]: entry["reason"] for entry in json.loads(report.read_text())["invalid"]}
    assert set(reasons) == set(BAD) and reasons["empty.jpg"] == "empty file"
    assert "truncated JPEG" in reasons["truncated.jpg"]

    again = validate_directory(images, num_workers=1, annotations=annotations)  # nothing left to do, still listed
    assert again.invalid == [] and sorted(rel for rel, _ in again.earlier) == sorted(BAD)
    assert again.annotations["images_removed"] == 0
    assert {entry["file"] for entry in json.loads(report.read_text())["invalid"]} == set(BAD)


def test_a_file_put_back_is_checked_again_not_dropped(images, tmp_path):
    validate_directory(images, num_workers=1)
    (images / "empty.jpg").write_bytes(GOOD["color.jpg"])  # repaired and put back; its old copy stays aside
    result = validate_directory(images, num_workers=1)
    assert result.invalid == [] and sorted(rel for rel, _ in result.earlier) == sorted(set(BAD) - {"empty.jpg"})
