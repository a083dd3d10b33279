"""The checkpoint format's one home (vision/training/checkpoint.py, checkpoint_files.py): the progress and the
random state go through a saved checkpoint unchanged, --resume reads what training wrote, and the names that
training writes are those that --resume auto and onnx_export.py --model-dir find."""
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from training_runs import REPO
from vision.export.contract import find_best_checkpoint
from vision.ssd import create_net
from vision.training import best
from vision.training import checkpoint as ckpt
from vision.training.checkpoint import Progress
from vision.training.checkpoint_files import BEST, LAST, best_checkpoint, epoch_file_name, epoch_files
from vision.training.settings import NetSettings

NET = NetSettings("mb1-ssd-lite", 128, 1.0, pretrained_ssd=None, no_pretrained=True, base_net=None,
                  weights_backbone=False, fit_priors=False)
LABELS = ["BACKGROUND", "cat", "dog"]


def save(path, progress, val_loss=None, options=None):
    net = create_net(NET.name, len(LABELS), NET.resolution)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    content = ckpt.training_checkpoint(net, NET, LABELS, optimizer, None, progress, val_loss,
                                       options or {"net": NET.name}, pretrained=False)
    ckpt.atomic_save(content, path)
    return path


@pytest.mark.parametrize("metric, value", [(best.AP50, 0.5), (best.LOSS, 1.5)])
def test_the_progress_round_trips_through_a_saved_checkpoint(tmp_path, metric, value):
    progress = Progress(epoch=3, samples_in_epoch=8, global_step=20, skipped_steps=2, best_metric_name=metric,
                        best_metric=value)
    saved = torch.load(save(tmp_path / LAST, progress, val_loss=1.25), weights_only=True)
    tracking, _ = best.start(metric, saved)
    assert Progress.resumed(saved, tracking) == progress
    assert (saved["val_loss"], saved["format_version"], saved["labels"]) == (1.25, ckpt.FORMAT_VERSION, LABELS)


def test_a_checkpoint_before_the_first_validation_has_no_validation_loss(tmp_path):
    assert "val_loss" not in torch.load(save(tmp_path / LAST, Progress()), weights_only=True)


def test_the_random_state_round_trips_through_a_saved_checkpoint(tmp_path):
    torch.save({"rng": ckpt.rng_state()}, tmp_path / "rng.pth")
    drawn = torch.rand(3), np.random.rand(3), random.random()
    ckpt.set_rng_state(torch.load(tmp_path / "rng.pth", weights_only=True)["rng"])
    again = torch.rand(3), np.random.rand(3), random.random()
    assert torch.equal(drawn[0], again[0]) and np.array_equal(drawn[1], again[1]) and drawn[2] == again[2]


def test_resume_reads_a_training_checkpoint_with_its_options_and_weights_alone_as_a_plain_file(tmp_path):
    options = {"net": NET.name, "lr": 0.003}
    path = save(tmp_path / LAST, Progress(epoch=1), options=options)
    resumed = ckpt.read_resume("auto", tmp_path)
    assert (resumed.path, resumed.full, resumed.content["args"]) == (path, True, options)
    assert resumed.source == f"{path} (--resume auto: the checkpoint furthest in training)"
    weights = tmp_path / "weights.pth"
    torch.save(create_net(NET.name, len(LABELS), NET.resolution).state_dict(), weights)
    plain = ckpt.read_resume(str(weights), tmp_path)
    assert not plain.full and plain.content == {"plain": str(weights), "labels": None, "prior_specs": None}
    assert plain.source == str(weights)


def write_epoch_files(model_dir, losses):
    for epoch, loss in enumerate(losses):
        (model_dir / epoch_file_name("mb1-ssd", epoch, loss)).write_bytes(b"")


def test_the_names_training_writes_are_those_export_picks_from(tmp_path):
    write_epoch_files(tmp_path, [2.5, 1.75, float("nan"), 1.9])
    lowest = tmp_path / epoch_file_name("mb1-ssd", 1, 1.75)
    assert best_checkpoint(tmp_path) == lowest
    assert find_best_checkpoint(str(tmp_path)) == str(lowest)
    (tmp_path / BEST).write_bytes(b"")
    assert best_checkpoint(tmp_path) == tmp_path / BEST
    assert find_best_checkpoint(str(tmp_path)) == str(tmp_path / BEST)


def test_epoch_files_are_in_epoch_order_and_names_without_a_number_are_left_out(tmp_path):
    write_epoch_files(tmp_path, [3.0] * 11)  # Epoch-10 sorts before Epoch-2 by name
    (tmp_path / "mb1-ssd-Epoch-11-Loss-1.2.3.pth").write_bytes(b"")  # the pattern's characters, not a number
    assert [file.epoch for file in epoch_files(tmp_path)] == list(range(11))
    assert ckpt.newest_checkpoint(tmp_path) == tmp_path / epoch_file_name("mb1-ssd", 10, 3.0)


def test_export_picks_its_checkpoint_without_importing_torch():
    code = "import sys, vision.export.contract; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout == "[]\n", result.stderr
