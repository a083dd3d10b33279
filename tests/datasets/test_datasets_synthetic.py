import json

from vision.datasets import open_dataset
from vision.datasets import synthetic
from vision.datasets.synthetic import CATEGORIES, generate


def files_of(root):
    return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_same_bytes_every_time(tmp_path):
    first = generate(tmp_path / "one", train_count=5, val_count=2, image_size=64)
    second = generate(tmp_path / "two", train_count=5, val_count=2, image_size=64)
    assert files_of(first) == files_of(second)
    assert files_of(first) != files_of(generate(tmp_path / "three", 5, 2, 64, seed=1))


def test_coco_layout_with_gaps_in_the_ids_and_empty_images(shapes):
    data = json.loads((shapes / "annotations" / "instances_train2017.json").read_text())
    assert sorted(category["id"] for category in data["categories"]) == sorted(CATEGORIES.values())
    assert len(data["images"]) == 12 and len(list((shapes / "train2017").glob("*.jpg"))) == 12
    dataset = open_dataset(shapes, "train")
    assert len(dataset.class_names) == 6
    sides = dataset.table.boxes[:, 2:] - dataset.table.boxes[:, :2]
    assert sides.max() <= 180 * 96 / 300 + 1 and sides.max(axis=1).min() >= 1


def test_command_line_at_the_default_size(tmp_path):
    assert synthetic.main(["--out", str(tmp_path), "--train-count", "40", "--val-count", "1"]) == 0
    dataset = open_dataset(tmp_path, "train")
    counts = dataset.table.box_counts()
    assert len(dataset) == 40 and (counts == 0).any() and counts.max() > 1
    assert set(dataset.table.labels.tolist()) == {1, 2, 3, 4, 5}
    sides = (dataset.table.boxes[:, 2:] - dataset.table.boxes[:, :2]).max(axis=1)
    assert sides.min() < 50 and sides.max() > 100


def test_object_sizes_make_small_objects(tmp_path):
    root = generate(tmp_path, train_count=30, val_count=1, image_size=300, object_sizes=(8, 16))
    dataset = open_dataset(root, "train")
    sides = (dataset.table.boxes[:, 2:] - dataset.table.boxes[:, :2]).max(axis=1)
    assert len(sides) > 30 and sides.max() <= 16 + 1 and sides.min() >= 8 * 0.4  # a star's or triangle's box


def test_command_line_refuses_a_backwards_size_range(tmp_path, capsys):
    assert synthetic.main(["--out", str(tmp_path / "out"), "--object-sizes", "30", "5"]) == 2
    assert capsys.readouterr().err == ("python3 -m vision.datasets.synthetic: error: --object-sizes must be "
                                       "0 < MIN <= MAX, got 30 5\n")
    assert not (tmp_path / "out").exists()
