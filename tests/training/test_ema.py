"""train_ssd.py --ema: the average follows YOLO's warmed-up decay once per optimizer step taken, it is what
validation, the epoch files and the checkpoints' "model" hold (so eval_ssd.py and onnx_export.py load it),
the trained weights beside it resume exactly, and without --ema the checkpoints are as before."""
import copy
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import train_ssd
from training_runs import options, with_unreadable_images
from vision.export.onnx_export import synthetic_image
from vision.inference.onnx_model import OnnxModel
from vision.inference.pipeline import net_input
from vision.ssd import create_net
from vision.ssd.loading import load_model
from vision.training import checkpoint as ckpt
from vision.training import ema, loop
from vision.training.ema import WeightAverage

REPO = Path(__file__).resolve().parents[2]
DECAY = 0.9
PLAIN_KEYS = {"format_version", "model", "net", "num_classes", "labels", "resolution", "width_mult", "prior_specs",
              "optimizer", "scaler", "rng", "args", "pretrained", "epoch", "samples_in_epoch", "global_step",
              "skipped_steps", "best_metric", "best_metric_name", "val_loss"}


@pytest.fixture(autouse=True)
def fast_warmup(monkeypatch):
    """A warm-up of 1 update instead of 100: in a few steps the average is then far from the weights."""
    monkeypatch.setattr(ema, "WARMUP_UPDATES", 1)


def decay_at(updates):
    return DECAY * (1 - math.exp(-updates / ema.WARMUP_UPDATES))


def expected_average(snapshots):
    """The formula by hand: the first update copies, the k-th gives d(k) of the average and 1 - d(k) of the
    weights; counts (num_batches_tracked) are the weights'."""
    average = dict(snapshots[0])
    for updates, weights in enumerate(snapshots[1:], start=2):
        d = decay_at(updates)
        average = {key: d * average[key] + (1 - d) * value if value.is_floating_point() else value
                   for key, value in weights.items()}
    return average


def assert_close(state, expected):
    for key, value in expected.items():
        assert torch.allclose(state[key].float(), value.float(), rtol=1e-5, atol=1e-6), key


def test_the_average_of_weights_and_batch_norm_statistics_follows_the_warmed_up_decay():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = WeightAverage(net, DECAY)
    snapshots = []
    for _ in range(3):
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.add_(torch.randn_like(parameter))
        net(torch.randn(5, 3))  # moves the batch norm's running statistics
        snapshots.append(copy.deepcopy(net.state_dict()))
        average.update(net)
    assert average.updates == 3
    expected = expected_average(snapshots)
    assert_close(average.module.state_dict(), expected)
    assert not torch.allclose(expected["1.running_mean"], snapshots[-1]["1.running_mean"])


def ema_options(data, model_dir, *extra):
    return options(data, model_dir, "--ema", "--ema-decay", str(DECAY), *extra)


def record_steps(monkeypatch) -> list[dict]:
    """The trained weights after each optimizer step taken, recorded around train_step."""
    snapshots, step = [], loop.train_step

    def step_and_record(model, net, *rest, **kwargs):
        result = step(model, net, *rest, **kwargs)
        if result.taken:
            snapshots.append(copy.deepcopy(net.state_dict()))
        return result

    monkeypatch.setattr(loop, "train_step", step_and_record)
    return snapshots


def test_the_checkpoints_and_epoch_files_hold_the_average_of_the_steps_taken(shapes, tmp_path, monkeypatch):
    """Two micro-batches a step and a skipped step: the average is updated once per optimizer step taken."""
    data = with_unreadable_images(shapes, tmp_path / "data", positions=[4, 5])  # the second step's first micro-batch
    snapshots = record_steps(monkeypatch)
    model_dir = tmp_path / "model"
    assert train_ssd.main(ema_options(data, model_dir, "--batch-size", "2", "--accumulate-grad-batches", "2",
                                      "--epochs", "2")) == 0
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["global_step"] == 6 and saved["skipped_steps"] >= 1
    assert saved["ema_updates"] == len(snapshots) == 6 - saved["skipped_steps"]
    assert_close(saved["model"], expected_average(snapshots))
    assert all(torch.equal(saved["raw_model"][key], value) for key, value in snapshots[-1].items())
    last_epoch_file = ckpt.epoch_files(model_dir)[-1][0]
    epoch_weights = torch.load(last_epoch_file, weights_only=True)
    assert all(torch.equal(epoch_weights[key], value) for key, value in saved["model"].items())
    log = (model_dir / "train.log").read_text()
    assert f"--ema: validating and saving an exponential moving average of the weights, decay {DECAY}" in log


@pytest.fixture(scope="module")
def ema_run(shapes, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("ema")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ema, "WARMUP_UPDATES", 1)
        assert train_ssd.main(ema_options(shapes, model_dir, "--epochs", "2")) == 0
    return model_dir


def test_load_model_and_the_onnx_export_take_the_average(ema_run, tmp_path):
    saved = torch.load(ema_run / ckpt.LAST, weights_only=True)
    net, _ = load_model(str(ema_run / ckpt.LAST))
    assert all(torch.equal(net.state_dict()[key], value) for key, value in saved["model"].items())
    spec = importlib.util.spec_from_file_location("onnx_export_script", REPO / "onnx_export.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path / "model.onnx"
    assert script.main(["--input", str(ema_run / ckpt.LAST), "--output", str(output)]) == 0
    inputs = net_input(synthetic_image(), 128, net.mean, net.std)
    scores = {}
    for name in ("model", "raw_model"):
        weights = create_net("mb1-ssd-lite", net.num_classes, 128, is_test=True).eval()
        weights.load_state_dict(saved[name])
        with torch.no_grad():
            scores[name], _ = weights(inputs)
    exported, _ = OnnxModel(str(output))(inputs)
    np.testing.assert_allclose(exported.numpy(), scores["model"].numpy(), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(exported, scores["raw_model"], atol=1e-4)


def equal_checkpoints(a, b, keys):
    return all(torch.equal(a[name][key], b[name][key]) for name in keys for key in a[name])


def test_resuming_with_ema_ends_as_an_uninterrupted_run(ema_run, shapes, tmp_path):
    resumed = tmp_path / "resumed"
    assert train_ssd.main(ema_options(shapes, resumed, "--epochs", "1")) == 0
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(resumed), "--epochs", "2"]) == 0
    a = torch.load(ema_run / ckpt.LAST, weights_only=True)
    b = torch.load(resumed / ckpt.LAST, weights_only=True)
    assert a["ema_updates"] == b["ema_updates"] == 6
    assert equal_checkpoints(a, b, ["model", "raw_model"])


def test_resuming_an_ema_run_without_it_continues_the_trained_weights(straight_run, shapes, tmp_path):
    """The trained weights do not depend on --ema: resumed with --no-ema, a run ends as one without it."""
    assert train_ssd.main(ema_options(shapes, tmp_path, "--epochs", "1")) == 0
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2", "--no-ema"]) == 0
    straight = torch.load(straight_run / ckpt.LAST, weights_only=True)
    switched_off = torch.load(tmp_path / ckpt.LAST, weights_only=True)
    assert set(switched_off) == PLAIN_KEYS and equal_checkpoints(straight, switched_off, ["model"])
    assert "resuming without --ema: training continues from the checkpoint's raw weights" in \
        (tmp_path / "train.log").read_text()


def test_ema_switched_on_when_resuming_averages_from_the_resumed_weights(straight_run, shapes, tmp_path):
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "1")) == 0
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2", "--ema"]) == 0
    straight = torch.load(straight_run / ckpt.LAST, weights_only=True)
    switched_on = torch.load(tmp_path / ckpt.LAST, weights_only=True)
    assert all(torch.equal(straight["model"][key], switched_on["raw_model"][key]) for key in straight["model"])
    assert switched_on["ema_updates"] == 3  # the second epoch's steps
    assert "--ema on a run saved without it: the average starts from the resumed weights" in \
        (tmp_path / "train.log").read_text()


def test_without_ema_the_checkpoints_keep_their_keys(straight_run):
    assert set(torch.load(straight_run / ckpt.LAST, weights_only=True)) == PLAIN_KEYS
    epoch_file = torch.load(ckpt.epoch_files(straight_run)[0][0], weights_only=True)
    assert set(epoch_file) == set(create_net("mb1-ssd-lite", 6, 128).state_dict())
    assert "--ema" not in (straight_run / "train.log").read_text()
def test_ema_decay_outside_0_and_1_is_a_one_line_error(shapes, tmp_path, capsys):
    assert train_ssd.main(ema_options(shapes, tmp_path, "--ema-decay", "1")) == 2
    assert "train_ssd.py: error: --ema-decay must be between 0 and 1, got 1.0" in capsys.readouterr().err
