"""fix_coco_annotations.py / vision.prep.fix_annotations on the real COCO subset (coco128)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prep_helpers import REPO, run_script
from vision.prep import PrepError
from vision.prep.fix_annotations import fix_coco
from vision.utils.jsonfile import JsonReadError


@pytest.fixture
def coco(tmp_path, coco128):
    """A writable copy of the COCO subset (tests/conftest.py finds it via SSD_COCO128 or ../shared)."""
    root = tmp_path / "coco-data"
    # copyfile, not copytree's copy2: the shared copy is read-only and the tests must write.
    for directory in ("annotations", "train2017", "val2017"):
        (root / directory).mkdir(parents=True)
        for path in (coco128 / directory).iterdir():
            shutil.copyfile(path, root / directory / path.name)
    return root


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_remaps_ids_keeps_original_and_writes_labels(coco):
    before = {split: load(coco / f"annotations/instances_{split}.json") for split in ("train2017", "val2017")}
    originals = {split: (coco / f"annotations/instances_{split}.json").read_bytes() for split in before}
    fix_coco(coco)
    raw_categories = sorted(before["train2017"]["categories"], key=lambda c: c["id"])
    assert raw_categories[-1]["id"] == 90 and len(raw_categories) == 80  # ids with gaps to start with
    for split, old in before.items():
        path = coco / f"annotations/instances_{split}.json"
        new = load(path)
        assert [c["id"] for c in new["categories"]] == list(range(1, 81))
        assert [c["original_id"] for c in new["categories"]] == [c["id"] for c in raw_categories]
        assert [c["name"] for c in new["categories"]] == [c["name"] for c in raw_categories]
        by_label = {c["id"]: c for c in new["categories"]}
        old_category = {a["id"]: a["category_id"] for a in old["annotations"]}
        assert len(new["annotations"]) == len(old["annotations"])
        for annotation in new["annotations"]:  # every box maps back to its raw category
            assert by_label[annotation["category_id"]]["original_id"] == old_category[annotation["id"]]
        assert sum(a["iscrowd"] for a in new["annotations"]) == sum(a["iscrowd"] for a in old["annotations"]) > 0
        assert new["images"] == old["images"]  # unannotated images are only reported without the flag
        assert (coco / f"annotations/instances_{split}.orig.json").read_bytes() == originals[split]
    labels = (coco / "labels.txt").read_text().splitlines()
    assert labels == [c["name"] for c in raw_categories] and labels[0] == "person" and "BACKGROUND" not in labels


def test_second_run_changes_nothing(coco):
    fix_coco(coco, move_unannotated=True)
    before = snapshot(coco)
    lines = fix_coco(coco, move_unannotated=True)
    assert snapshot(coco) == before
    assert "train2017: instances_train2017.json needs no changes" in lines
    assert lines[-1].endswith("labels.txt up to date (80 classes)")


def test_move_unannotated_through_the_command(coco):
    out = run_script("fix_coco_annotations.py", "--path", coco, "--move-unannotated")
    assert out.returncode == 0, out.stderr
    assert "train2017: 1 image(s) without annotations: 000000000250.jpg" in out.stdout
    for split, name in (("train2017", "000000000250.jpg"), ("val2017", "000000000508.jpg")):
        assert (coco / f"{split}_unannotated" / name).is_file() and not (coco / split / name).exists()
        data = load(coco / f"annotations/instances_{split}.json")
        assert name not in {image["file_name"] for image in data["images"]}
        assert {a["image_id"] for a in data["annotations"]} == {image["id"] for image in data["images"]}


def test_dry_run_writes_nothing(coco):
    before = snapshot(coco)
    lines = fix_coco(coco, dry_run=True, move_unannotated=True)
    assert snapshot(coco) == before
    assert all(line.startswith("dry run, nothing written: ") for line in lines)


def small_coco(categories, annotations) -> dict:
    return {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": annotations, "categories": categories}


def test_bad_input_gives_one_line_errors(tmp_path):
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations/instances_train2017.json"
    with pytest.raises(JsonReadError, match="instances_train2017.json: no such file"):
        fix_coco(tmp_path, ["train2017"])
    path.write_text(json.dumps(small_coco([{"id": 3, "name": "cat"}], [{"id": 7, "image_id": 1, "category_id": 4}])))
    with pytest.raises(PrepError, match="annotation 7 has category_id 4, which is not in 'categories'"):
        fix_coco(tmp_path, ["train2017"])
    path.write_text(json.dumps(small_coco([{"id": 1, "name": "cat", "original_id": 3}, {"id": 5, "name": "dog"}], [])))
    with pytest.raises(PrepError, match="partly remapped"):
        fix_coco(tmp_path, ["train2017"])
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(PrepError, match="not a COCO annotations file \\(no 'annotations' list\\)"):
        fix_coco(tmp_path, ["train2017"])
    assert not (tmp_path / "labels.txt").exists()


def test_splits_with_different_categories_are_refused(tmp_path):
    (tmp_path / "annotations").mkdir()
    for split, name in (("train2017", "cat"), ("val2017", "dog")):
        (tmp_path / f"annotations/instances_{split}.json").write_text(
            json.dumps(small_coco([{"id": 2, "name": name}], [])))
    with pytest.raises(PrepError, match="instances_val2017.json: its categories differ"):
        fix_coco(tmp_path)
    assert not (tmp_path / "annotations/instances_val2017.orig.json").exists()


def test_labels_with_non_ascii_names_are_compared_as_utf8_whatever_the_locale(tmp_path):
    """The file is written as UTF-8; read back in an ASCII locale it must still be found up to date."""
    names = ["crème brûlée", "日本"]
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    code = ("import sys; from pathlib import Path; from vision.prep.fix_annotations import write_labels; "
            f"print(write_labels(Path(sys.argv[1]), {ascii(names)}, dry_run=True))")
    env = dict(os.environ, LC_ALL="C", PYTHONCOERCECLOCALE="0", PYTHONUTF8="0", PYTHONIOENCODING="utf-8",
               PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code, str(labels)], env=env, capture_output=True, text=True,
                            encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{labels} up to date (2 classes)"
