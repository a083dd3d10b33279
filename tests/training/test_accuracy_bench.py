"""bench/accuracy.py's parts that can rot unnoticed: the torchvision side end to end on a few tiny images
(its detections must be in the ids eval_ssd.py scores), and reading an epoch's seconds from train.log."""
import json

import pytest

from bench.accuracy import (BenchError, epoch_seconds, mean_row, parse_args, score, torchvision_side,
                            write_ground_truth)
from vision.datasets import open_dataset
from vision.datasets.synthetic import CATEGORIES


def test_torchvision_side_trains_and_eval_ssd_scores_its_detections(shapes, tmp_path):
    args = parse_args(["--budget", "1", "--workers", "0", "--tv-batch-size", "8", "--resolution", "96"])
    result = torchvision_side(args, shapes, tmp_path / "torchvision")
    assert result["epochs"] == 1 and result["seconds"] > 0  # a budget shorter than an epoch: one epoch
    detections = json.loads(result["detections"].read_text())
    assert detections and {row["category_id"] for row in detections} <= set(CATEGORIES.values())
    annotations = write_ground_truth(shapes, open_dataset(shapes, "train").class_names, tmp_path / "truth.json")
    metrics = score(result["detections"], annotations, tmp_path / "eval", threads=1)
    assert metrics["images"] == 8 and metrics["detections"] == len(detections)
    assert set(metrics["coco_AP50_by_size"]) == {"small", "medium", "large"}


def test_an_epochs_seconds_from_train_log(tmp_path):
    log = tmp_path / "train.log"
    text = ("2026-12-01 15:00:00,500 INFO training mb3-large-ssd-lite on 160 images (1 classes), validating on "
            "40; 20 steps per epoch\n2026-12-01 15:00:01,000 INFO device cpu\n"
            "2026-12-01 15:00:31,250 INFO epoch 0: validation loss 5.1\n"
            "2026-12-01 15:00:32,000 INFO done: 1 epochs; checkpoints in m\n")
    log.write_text(text)
    assert epoch_seconds(log) == pytest.approx(31.5)
    log.write_text(text.split("\n", 1)[1])
    with pytest.raises(BenchError, match=f"{log}: no start"):
        epoch_seconds(log)


def test_several_seeds_give_each_sides_mean():
    assert parse_args(["--seeds", "0", "3"]).seeds == [0, 3]

    def run(epochs, seconds, ap50, small):
        metrics = {"coco": {"AP": ap50 / 2, "AP50": ap50},
                   "coco_AP50_by_size": {"small": small, "medium": 0.5, "large": -1}}
        return {"epochs": epochs, "seconds": seconds}, metrics

    line = mean_row("raccoon", "ours", [run(24, 400, 0.6, 0.2), run(23, 410, 0.8, 0.4)])
    assert line == ("| raccoon | **ours** | mean of 2 | 24/23 | 405 | **0.350** | **0.700** | **0.300** | "
                    "**0.500** | **-** |  |")
