"""train_ssd.py end to end on the built-in dataset (and real COCO images), kept tiny: few steps at 128 pixels."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import train_ssd
from bad_annotations import FAULTS
from training_runs import STRAIGHT, final_weights, options
from vision.datasets.synthetic import generate
from vision.export.contract import find_best_checkpoint
from vision.ssd import create_net
from vision.ssd.weights import load_weights
from vision.training import checkpoint as ckpt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_training_writes_loadable_checkpoints_and_the_loss_goes_down(shapes, tmp_path):
    model_dir = tmp_path / "model"
    assert train_ssd.main(options(shapes, model_dir, "--epochs", "3", "--max-steps-per-epoch", "6",
                                  "--validation-mean-ap")) == 0
    labels = (model_dir / "labels.txt").read_text().splitlines()
    assert labels[0] == "BACKGROUND" and len(labels) > 2
    epoch_files = ckpt.epoch_files(model_dir)
    assert [epoch for _, epoch, _ in epoch_files] == [0, 1, 2]
    assert epoch_files[-1][2] < epoch_files[0][2]  # validation loss went down
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["epoch"] == 3 and saved["global_step"] == 18 and saved["labels"] == labels
    for path in (model_dir / ckpt.BEST, epoch_files[-1][0]):
        net = create_net("mb1-ssd-lite", len(labels), resolution=128)
        load_weights(net, str(path))
    log = (model_dir / "train.log").read_text()
    assert log.count("validation loss") == 3 and log.count("validation COCO AP") == 3
    assert any((model_dir / "tensorboard").iterdir())


@pytest.mark.parametrize("workers", ["0", "2"])
def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(shapes, straight_run, tmp_path, workers):
    """The uninterrupted run had no workers: the samples follow from (seed, epoch, index) alone."""
    resumed = tmp_path / "resumed"
    assert train_ssd.main(options(shapes, resumed, "--epochs", "1", "--workers", workers)) == 0
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(resumed), "--epochs", "2"]) == 0
    a, b = final_weights(straight_run), final_weights(resumed)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_sigterm_saves_and_resuming_continues_with_the_next_batch(shapes, straight_run, tmp_path):
    stopped = tmp_path / "stopped"
    command = [sys.executable, "train_ssd.py", *options(shapes, stopped, *STRAIGHT)]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = ""
    deadline = time.time() + 120
    while "1/3" not in seen and time.time() < deadline:  # tqdm shows the first finished step
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert "resume with: python3 train_ssd.py --resume" in seen + rest
    interrupted = torch.load(stopped / ckpt.LAST, weights_only=True)
    assert interrupted["epoch"] == 0 and 4 <= interrupted["samples_in_epoch"] < 12  # within epoch 0's 3 steps of 4
    assert train_ssd.main(["--resume", str(stopped / ckpt.LAST)]) == 0
    a, b = final_weights(straight_run), final_weights(stopped)
    assert all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--net", "yolo"], "invalid choice: 'yolo'"),
    (["--labels", "missing.txt"], "--labels missing.txt: file not found"),
    (["--resume", "missing.pth"], "--resume missing.pth: file not found"),
    (["--mb2-width-mult", "0.5"], "mb2-ssd-lite only"),
])
def test_wrong_values_are_one_line_errors_before_any_work(shapes, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)  # where the relative paths above are missing
    code, error = exit_code_and_error(capsys, ["--data", str(shapes), "--model-dir", str(tmp_path), *argv])
    assert code == 2
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "labels.txt").exists()


def exit_code_and_error(capsys, argv: list[str]) -> tuple[int, str]:
    """train_ssd.py's exit code and stderr, run in this process (argparse's errors leave by SystemExit)."""
    try:
        code = train_ssd.main(argv)
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err


def test_missing_dataset_is_a_one_line_error_in_a_process_of_its_own(tmp_path):
    """The script as a user runs it: one line on stderr, exit code 2, no traceback."""
    result = subprocess.run([sys.executable, "train_ssd.py", "--data", str(tmp_path / "nowhere")], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "dataset directory not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def voc_with_background_in_its_labels(root):
    for folder in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (root / folder).mkdir(parents=True)
    (root / "labels.txt").write_text("BACKGROUND\ncat\n")
    (root / "ImageSets/Main/trainval.txt").write_text("a\n")
    return root


def empty_coco(root):
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    (root / "annotations/instances_train2017.json").write_text(
        '{"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}')
    return root


@pytest.mark.parametrize("make_dataset, message", [
    (voc_with_background_in_its_labels, "labels.txt: line 1 is BACKGROUND: this is the dataset's class list"),
    (empty_coco, "instances_train2017.json: no images to use in this split"),
])
def test_unusable_datasets_are_one_line_errors(tmp_path, capsys, make_dataset, message):
    data = make_dataset(tmp_path / "data")
    assert train_ssd.main(["--data", str(data), "--model-dir", str(tmp_path / "model")]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and not (tmp_path / "model").exists()


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_annotation_files_are_one_line_errors(tmp_path, capsys, fault):
    build, problem = FAULTS[fault]
    root, path = build(tmp_path / "data")
    assert train_ssd.main(["--data", str(root), "--model-dir", str(tmp_path / "model")]) == 2
    assert one_line_error(capsys) == f"train_ssd.py: error: {path}: {problem}\n"


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error


@pytest.mark.parametrize("argv, message", [
    (["--device", "gpu"], "--device gpu: not a device"),
    (["--keep-checkpoints", "-1"], "--keep-checkpoints cannot be negative, got -1"),
    (["--max-steps-per-epoch", "0"], "--max-steps-per-epoch must be at least 1, got 0"),
])
def test_wrong_values_are_one_line_errors_in_process(shapes, tmp_path, capsys, argv, message):
    assert train_ssd.main(options(shapes, tmp_path / "model", *argv)) == 2
    assert message in one_line_error(capsys) and not (tmp_path / "model").exists()


def test_a_model_dir_that_cannot_be_made_is_a_one_line_error(shapes, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    model_dir = tmp_path / "file" / "model"
    assert train_ssd.main(options(shapes, model_dir)) == 2
    assert one_line_error(capsys) == f"train_ssd.py: error: {model_dir}: Not a directory\n"


def test_resuming_without_a_training_checkpoint_needs_the_data(tmp_path, capsys):
    plain = tmp_path / "plain.pth"
    torch.save(create_net("mb1-ssd-lite", 3).state_dict(), plain)
    for resume in ("auto", str(plain)):  # no checkpoint in the model dir; one without the run's options
        argv = ["--resume", resume, "--model-dir", str(tmp_path / "empty"), "--log-level", "error"]
        assert train_ssd.main(argv) == 2
        assert f"--resume {resume}: no training checkpoint to take the data from; give it with --datasets PATH" \
            in one_line_error(capsys)


def test_resuming_under_another_net_is_a_one_line_error(shapes, tmp_path, capsys):
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "1")) == 0
    capsys.readouterr()
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--net", "mb2-ssd-lite"]) == 2
    error = capsys.readouterr().err
    assert "saved with --net mb1-ssd-lite, not mb2-ssd-lite; --net cannot change on resume" in error
    assert error.count("\n") == 1


def test_torchrun_with_two_cpu_processes_trains_and_resumes_on_one(shapes, tmp_path):
    model_dir = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "train_ssd.py", *options(shapes, model_dir, "--epochs", "1", "--max-steps-per-epoch", "2")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 processes: effective batch size 8" in result.stderr
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["epoch"] == 1 and saved["global_step"] == 2
    assert not any(key.startswith("module.") for key in saved["model"])
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(model_dir), "--epochs", "2"]) == 0
    assert torch.load(model_dir / ckpt.LAST, weights_only=True)["epoch"] == 2


def training_losses(model_dir):
    log = (model_dir / "train.log").read_text()
    return [float(line.split("training loss ")[1].split()[0]) for line in log.splitlines()
            if "training loss" in line]


def test_two_processes_follow_the_loss_curve_of_one_with_the_same_total_batch(tmp_path):
    """Each rank trains on half of every batch of the single process (the same images, augmented the
    same way); only batch norm statistics and the per-rank loss normalization differ."""
    shapes = generate(tmp_path / "shapes", train_count=128, val_count=4, image_size=96)
    steps = ["--epochs", "3", "--max-steps-per-epoch", "8", "--scheduler", "none", "--optimizer", "adamw",
             "--lr", "0.003"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "train_ssd.py", *options(shapes, tmp_path / "two", *steps, "--batch-size", "8")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert train_ssd.main(options(shapes, tmp_path / "one", *steps, "--batch-size", "16")) == 0
    one, two = training_losses(tmp_path / "one"), training_losses(tmp_path / "two")
    assert len(one) == len(two) == 3 and one[-1] < 0.85 * one[0], (one, two)
    assert two == pytest.approx(one, rel=0.08), (one, two)


def test_sync_bn_on_the_cpu_is_a_clear_error(shapes, tmp_path, capsys):
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "1", "--sync-bn")) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "train_ssd.py: error: --sync-bn needs CUDA GPUs (NCCL); gloo on the CPU has no SyncBatchNorm")


def test_short_run_on_real_coco_images(coco128, tmp_path):
    assert train_ssd.main(options(coco128, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "2")) == 0
    saved = torch.load(tmp_path / ckpt.LAST, weights_only=True)
    assert len(saved["labels"]) == 81 and not ckpt.non_finite_keys(saved["model"])


def test_keep_checkpoints_leaves_the_newest_epoch_files(shapes, tmp_path):
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "3", "--max-steps-per-epoch", "1",
                                  "--keep-checkpoints", "2")) == 0
    assert [epoch for _, epoch, _ in ckpt.epoch_files(tmp_path)] == [1, 2]
    assert (tmp_path / ckpt.LAST).is_file() and (tmp_path / ckpt.BEST).is_file()


def test_a_learning_rate_given_when_resuming_overrides_the_checkpoint(shapes, tmp_path):
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "1")) == 0
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2",
                           "--lr", "0.003"]) == 0
    saved = torch.load(tmp_path / ckpt.LAST, weights_only=True)
    assert [group["base_lr"] for group in saved["optimizer"]["param_groups"]] == [0.003] * 3
    assert saved["args"]["lr"] == 0.003 and saved["epoch"] == 2


def test_weights_with_an_overflowed_batch_norm_are_never_saved(shapes, tmp_path, monkeypatch):
    from vision.training import model as training_model
    build = training_model.build_net

    def poisoned(*args):
        net, pretrained = build(*args)
        net.base_net[0][1].running_var[0] = float("inf")  # outputs stay finite, the model is broken
        return net, pretrained

    monkeypatch.setattr("vision.training.loop.build_net", poisoned)
    with pytest.raises(SystemExit) as stop:
        train_ssd.main(options(shapes, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "1"))
    assert stop.value.code == 1
    assert not (tmp_path / ckpt.LAST).exists() and not ckpt.epoch_files(tmp_path)
    assert "ERROR training diverged: the weights are not finite after epoch 0" in (tmp_path / "train.log").read_text()


def test_a_diverged_run_fails_and_keeps_the_checkpoints_before_it_exportable(shapes, tmp_path):
    good = options(shapes, tmp_path, "--net", "mb3-small-ssd-lite", "--batch-size", "2", "--lr", "0.001",
                   "--epochs", "1")
    assert train_ssd.main(good) == 0
    before = {path.name: path.read_bytes() for path in tmp_path.glob("*.pth")}
    with pytest.raises(SystemExit) as stop:  # weights that stay finite, outputs that do not
        train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2", "--lr", "1e6"])
    assert stop.value.code == 1
    assert {path.name: path.read_bytes() for path in tmp_path.glob("*.pth")} == before
    log = (tmp_path / "train.log").read_text()
    assert "ERROR training diverged: the validation loss after epoch 1 is nan" in log and "Lower --lr" in log
    exported = find_best_checkpoint(str(tmp_path))
    assert exported == str(tmp_path / ckpt.BEST)
    net = create_net("mb3-small-ssd-lite", len((tmp_path / "labels.txt").read_text().split()), resolution=128)
    load_weights(net, exported)
    with torch.no_grad():
        assert all(torch.isfinite(output).all() for output in net.eval()(torch.rand(2, 3, 128, 128)))
