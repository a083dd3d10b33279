"""The files of --model-dir: --resume auto after a kill -9, one run at a time, a write that fails."""
import errno
import os
import re
import signal
import subprocess
import sys

import torch

import train_ssd
from training_runs import REPO, final_weights, options
from vision.training import checkpoint as ckpt

TINY = ["--max-steps-per-epoch", "2"]


def test_resume_auto_takes_the_best_checkpoint_when_the_first_last_one_was_never_written(shapes, straight_run, tmp_path,
                                                                                         capsys):
    killed = tmp_path / "killed"
    assert train_ssd.main(options(shapes, killed, "--epochs", "1")) == 0
    # kill -9 while checkpoint-last.pth was written for the first time: best and the epoch file are there
    (killed / ckpt.LAST).unlink()
    assert ckpt.epoch_files(killed) and (killed / ckpt.BEST).is_file()
    capsys.readouterr()
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(killed), "--epochs", "2"]) == 0
    took = f"resuming {killed / ckpt.BEST} (--resume auto: the checkpoint furthest in training)"
    assert took in capsys.readouterr().err
    a, b = final_weights(straight_run), final_weights(killed)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_resume_auto_takes_the_checkpoint_furthest_in_training(shapes, tmp_path):
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "1")) == 0
    best = torch.load(tmp_path / ckpt.BEST, weights_only=True)
    torch.save({**best, "epoch": 0, "samples_in_epoch": 2}, tmp_path / ckpt.LAST)  # a stop early in a rerun
    assert ckpt.newest_checkpoint(tmp_path) == tmp_path / ckpt.BEST
    torch.save({**best, "samples_in_epoch": 2}, tmp_path / ckpt.LAST)
    assert ckpt.newest_checkpoint(tmp_path) == tmp_path / ckpt.LAST


def hold_lock(model_dir) -> subprocess.Popen:
    """Another process holding `model_dir`'s lock and writing a checkpoint, as a training there does;
    returns once it does."""
    code = ("import sys, time\nfrom pathlib import Path\nfrom vision.training.checkpoint import model_dir_lock\n"
            "from vision.utils.fileio import staged_path\n"
            "with model_dir_lock(sys.argv[1]), staged_path(Path(sys.argv[1]) / 'checkpoint-last.pth') as staging:\n"
            "    staging.write_bytes(b'half a checkpoint')\n    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(model_dir)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_second_training_in_the_same_model_dir_is_refused_and_a_killed_one_leaves_nothing_in_the_way(
        shapes, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    holder = hold_lock(model_dir)
    try:
        assert train_ssd.main(options(shapes, model_dir, *TINY, "--epochs", "1")) == 2
    finally:
        holder.send_signal(signal.SIGKILL)  # the lock file and the temporary file stay; the lock goes
        holder.wait()
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"train_ssd.py: error: --model-dir {model_dir}: another training (pid {holder.pid}) is writing to it; "
        f"wait for it to end or choose another --model-dir")
    [left] = model_dir.glob(".checkpoint-last.*.tmp.pth")
    assert sorted(path.name for path in model_dir.iterdir()) == sorted([ckpt.LOCK, left.name])
    assert train_ssd.main(options(shapes, model_dir, *TINY, "--epochs", "1")) == 0
    assert not left.exists() and not list(model_dir.glob(".*.tmp*"))


def test_a_full_disk_during_a_checkpoint_write_is_one_line_naming_the_file(shapes, tmp_path, capsys, monkeypatch):
    def save_half(content, file):
        file.write(b"PK half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(ckpt.torch, "save", save_half)
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "1")) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert re.fullmatch(rf"train_ssd.py: error: {re.escape(str(tmp_path))}/\S+\.pth: No space left on device", error)
    assert not list(tmp_path.glob("*.pth")) and not list(tmp_path.glob(".*.tmp*"))
