"""Stopping a run and resuming it: a skipped batch is a step like any other, a stop at SIGTERM gives back
the signal handlers and closes TensorBoard's writer (in process: the stop exits with SystemExit); a stop
sent to the whole process group, DataLoader workers included, stops as one sent to the main process."""
import os
import signal
import threading
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train_ssd
from training_runs import (final_weights, group_members, options, sigterm_at_batch, start_in_own_group,
                           with_unreadable_images)
from vision.datasets.synthetic import generate
from vision.training import checkpoint as ckpt

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture
def handlers():
    """The signal handlers before the test, put back after it whatever the test did."""
    before = [signal.getsignal(kind) for kind in STOP_SIGNALS]
    yield before
    for kind, handler in zip(STOP_SIGNALS, before):
        signal.signal(kind, handler)


def test_a_skipped_batch_counts_as_a_step_and_resuming_after_it_is_exact(shapes, tmp_path, monkeypatch, handlers):
    data = with_unreadable_images(shapes, tmp_path / "data", positions=[2, 3])  # the second batch of 2
    steps = ["--batch-size", "2", "--epochs", "2", "--max-steps-per-epoch", "4"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert train_ssd.main(options(data, straight, *steps)) == 0
    saved = torch.load(straight / ckpt.LAST, weights_only=True)
    assert saved["global_step"] == 8 and saved["skipped_steps"] == 1
    sigterm_at_batch(monkeypatch, 3)
    with pytest.raises(SystemExit):
        train_ssd.main(options(data, stopped, *steps))
    interrupted = torch.load(stopped / ckpt.LAST, weights_only=True)
    assert (interrupted["global_step"], interrupted["samples_in_epoch"], interrupted["skipped_steps"]) == (3, 6, 1)
    monkeypatch.undo()
    assert train_ssd.main(["--resume", str(stopped / ckpt.LAST)]) == 0
    a, b = final_weights(straight), final_weights(stopped)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_training_gives_back_the_signal_handlers(shapes, tmp_path, handlers):
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "1")) == 0
    assert [signal.getsignal(kind) for kind in STOP_SIGNALS] == handlers


def tensorboard_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if type(thread).__module__.startswith("tensorboard")}


def test_a_stop_gives_back_the_signal_handlers_and_closes_tensorboard(shapes, tmp_path, monkeypatch, handlers):
    threads = tensorboard_threads()
    sigterm_at_batch(monkeypatch, 2)
    with pytest.raises(SystemExit) as stop:
        train_ssd.main(options(shapes, tmp_path, "--epochs", "1", "--debug-steps", "1"))
    assert stop.value.code == 128 + signal.SIGTERM
    assert [signal.getsignal(kind) for kind in STOP_SIGNALS] == handlers
    assert tensorboard_threads() <= threads  # an open writer's thread writes its queue: an exit cuts it short
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("train/regression_loss")] == [1, 2]


def tiny_recipe(data, model_dir):
    """A tiny run from scratch (mb3-small-ssd-lite, 128 px, batches of 2) with two workers; --lr 0.001: at
    the options' SGD default of 0.01 it diverged on the built-in data (the net's recipe is AdamW now)."""
    return ["--data", str(data), "--model-dir", str(model_dir), "--net", "mb3-small-ssd-lite", "--resolution", "128",
            "--no-pretrained", "--batch-size", "2", "--epochs", "2", "--max-steps-per-epoch", "3", "--workers", "2",
            "--lr", "0.001"]


@pytest.mark.parametrize("kind, until", [(signal.SIGTERM, r"epoch 0:.*img_s"),  # after the first step
                                         (signal.SIGINT, r"epoch 0: training loss")])  # as validation starts
def test_a_stop_sent_to_the_whole_process_group_saves_and_resumes(shapes, tmp_path, kind, until):
    process, seen = start_in_own_group(tiny_recipe(shapes, tmp_path), until)
    os.killpg(process.pid, kind)  # the workers get it too
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 128 + kind
    assert "Traceback" not in seen + rest and "killed by signal" not in seen + rest
    assert f"stopped by signal {int(kind)}; resume with: python3 train_ssd.py --resume" in rest
    saved = torch.load(tmp_path / ckpt.LAST, weights_only=True)
    assert saved["epoch"] == (0 if kind == signal.SIGTERM else 1)
    assert train_ssd.main(["--resume", str(tmp_path / ckpt.LAST)]) == 0
    assert torch.load(tmp_path / ckpt.LAST, weights_only=True)["epoch"] == 2


def test_workers_exit_when_the_main_process_is_killed(shapes, tmp_path):
    process, _ = start_in_own_group(tiny_recipe(shapes, tmp_path), r"epoch 0:.*img_s")
    process.kill()  # SIGKILL to the main process alone: the workers, which ignore SIGTERM, must not stay
    process.communicate(timeout=60)
    deadline = time.time() + 15  # DataLoader's watchdog looks for the parent every 5 s
    while group_members(process) and time.time() < deadline:
        time.sleep(0.2)
    left = group_members(process)
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    assert not left


def bn_options(data, model_dir, *extra):
    """mb3-small-ssd-lite: at 128 pixels batch norms read 1x1 maps, which need 2 images per batch."""
    return options(data, model_dir, "--net", "mb3-small-ssd-lite", "--batch-size", "2", "--lr", "0.001", *extra)


def test_a_batch_left_with_one_image_is_skipped_and_counted(shapes, tmp_path):
    data = with_unreadable_images(shapes, tmp_path / "data", positions=[2])  # the second batch keeps one image
    assert train_ssd.main(bn_options(data, tmp_path / "model", "--epochs", "1")) == 0
    saved = torch.load(tmp_path / "model" / ckpt.LAST, weights_only=True)
    assert (saved["global_step"], saved["skipped_steps"]) == (3, 1)
    assert "steps skipped so far: 1 (a batch with too few readable images" in (tmp_path / "model/train.log").read_text()


@pytest.mark.parametrize("train_count, extra, message", [
    (1, [], "1 training image(s) for 1 process(es): mb3-small-ssd-lite at --resolution 128 has batch norms on "
            "1x1 feature maps, which need 2 images or more per batch; add training images"),
    (4, ["--batch-size", "1"], "--batch-size 1: mb3-small-ssd-lite at --resolution 128 has batch norms"),
])
def test_settings_that_only_give_one_image_batches_are_refused(tmp_path, capsys, train_count, extra, message):
    data = generate(tmp_path / "data", train_count=train_count, val_count=2, image_size=64)
    assert train_ssd.main(bn_options(data, tmp_path / "model", "--epochs", "1", *extra)) == 2
    stderr = capsys.readouterr().err  # the log's lines too
    errors = [line for line in stderr.splitlines() if line.startswith("train_ssd.py: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in stderr
    assert not (tmp_path / "model" / ckpt.LAST).exists()
