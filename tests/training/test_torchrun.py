"""train_ssd.py under torchrun with two CPU processes: the ranks agree on every step they skip (a loss
that is not finite, a batch with too few readable images, on any one rank), and only rank 0 draws bars."""
import re

import pytest
import torch

from training_runs import options, torchrun, with_unreadable_images
from vision.training import checkpoint as ckpt


def test_a_loss_that_is_not_finite_on_one_rank_skips_the_step_on_both(shapes, tmp_path):
    model_dir = tmp_path / "model"
    result = torchrun("tests/training/nan_on_one_rank.py", "1", "2", str(tmp_path),
                      *options(shapes, model_dir, "--epochs", "1"))
    assert result.returncode == 0, result.stderr[-3000:]
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["global_step"] == 3 and saved["skipped_steps"] == 1
    rank0, rank1 = (torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    assert all(torch.equal(rank0[name], saved["model"][name]) for name in rank0)


@pytest.mark.parametrize("net, positions", [
    ("mb1-ssd-lite", [1, 3]),  # no image left
    ("mb3-small-ssd-lite", [1]),  # one image left, which its batch norms on 1x1 maps cannot train on
])
def test_a_batch_with_too_few_readable_images_on_one_rank_skips_the_step_on_both(shapes, tmp_path, net, positions):
    # Batches of 2: rank 1's first batch is the images at positions 1 and 3 of the epoch's order.
    data = with_unreadable_images(shapes, tmp_path / "data", positions=positions)
    model_dir = tmp_path / "model"
    result = torchrun("train_ssd.py", *options(data, model_dir, "--epochs", "1", "--batch-size", "2", "--net", net,
                                               "--lr", "0.001"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "steps skipped so far: 1 (a batch with too few readable images" in result.stderr
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["global_step"] == 3 and saved["skipped_steps"] == 1


def test_only_rank_0_draws_the_validation_bar_and_computes_the_ap50_of_the_best_checkpoint(shapes, tmp_path):
    result = torchrun("train_ssd.py", *options(shapes, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "1",
                                               "--validation-mean-ap"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(re.findall(r"validation:\s+0%", result.stderr)) == 1  # each bar starts at 0% once
    chosen = torch.load(tmp_path / ckpt.BEST, weights_only=True)  # rank 0's AP50, shared with rank 1
    assert chosen["best_metric_name"] == "AP50"
    assert f"new best validation AP50 {chosen['best_metric']:.4f} (epoch 0)" in result.stderr
