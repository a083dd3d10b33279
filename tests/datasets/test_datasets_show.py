import cv2
import numpy as np
import pytest

from bad_annotations import FAULTS
from vision.datasets import open_dataset
from vision.transforms import SSDEvalTransform
from vision.visualize import show
from vision.visualize.draw import class_colour
from vision.visualize.show import draw_samples


def test_draws_a_grid_of_samples(shapes, tmp_path):
    out = draw_samples(shapes, tmp_path / "plain.png", split="val", resolution=64, count=4)
    grid = cv2.imread(str(out))[:, :, ::-1]
    assert grid.shape == (4 + 2 * 68, 4 + 2 * 68, 3)
    # Each picked sample sits in its tile, its boxes drawn in their class colours where they are.
    dataset = open_dataset(shapes, "val")
    picks = np.sort(np.random.default_rng(0).choice(len(dataset), 4, replace=False))
    resize, found, boxes_seen = SSDEvalTransform(64), 0, 0
    for tile, index in enumerate(picks):
        image, target = dataset[int(index)]
        _, boxes, labels = resize(image, target["boxes"], target["labels"])
        top, left = 4 + (tile // 2) * 68, 4 + (tile % 2) * 68
        for (x1, y1, x2, y2), label in zip((boxes * 64).tolist(), labels.tolist()):
            boxes_seen += 1
            edge = grid[top + round((y1 + y2) / 2), left + round(x1)]
            found += tuple(edge) == class_colour(label)
    assert boxes_seen >= 4 and found >= 0.75 * boxes_seen, (found, boxes_seen)  # others may cover a few


def test_command_line_with_augmentation(shapes, tmp_path, capsys):
    out = tmp_path / "augmented.png"
    assert show.main(["--dataset", str(shapes), "--augment", "ssdlite", "--resolution", "64", "--count", "3",
                      "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert cv2.imread(str(out)).shape == (4 + 2 * 68, 4 + 2 * 68, 3)


def test_command_line_errors_are_one_line(tmp_path, capsys):
    assert show.main(["--dataset", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err == (f"python3 -m vision.visualize.show: error: {tmp_path}: not a dataset layout this tool reads: expected "
                                    "annotations/instances_*.json (COCO), Annotations/ with ImageSets/Main/ "
                                    "(VOC) or sub-*-annotations-bbox.csv (Open Images)\n")


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_annotation_files_are_one_line_naming_the_file(tmp_path, capsys, fault):
    build, problem = FAULTS[fault]
    root, path = build(tmp_path / "data")
    assert show.main(["--dataset", str(root), "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err == f"python3 -m vision.visualize.show: error: {path}: {problem}\n"
