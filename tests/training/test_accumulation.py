"""--accumulate-grad-batches N: one optimizer step on the summed gradients of N micro-batches, each loss
divided by N; steps, schedule and checkpoints count optimizer steps, and a stop waits for a whole step."""
import copy

import pytest
import torch

import train_ssd
from training_runs import final_weights, options, sigterm_at_batch, torchrun
from vision.datasets import Sample, collate_samples
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd import create_net
from vision.training import checkpoint as ckpt
from vision.training.step import train_step


def test_accumulating_a_batch_twice_steps_as_the_batch_doubled():
    """[A, A] has A's batch norm statistics and A's MultiBox loss (normalized by the positives), so one
    SGD step on [A, A] equals one on A accumulated twice."""
    torch.manual_seed(0)
    net = create_net("mb1-ssd-lite", 4, resolution=128).train()
    accumulating = copy.deepcopy(net)
    targets = [([[0.1, 0.1, 0.5, 0.6], [0.4, 0.3, 0.9, 0.9]], [1, 3]), ([[0.2, 0.3, 0.8, 0.7]], [2])]
    samples = [Sample(torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8), torch.tensor(boxes),
                      torch.tensor(labels), index, (128, 128)) for index, (boxes, labels) in enumerate(targets)]
    a, a_and_a = collate_samples(samples), collate_samples(samples + samples)
    before = copy.deepcopy(net.state_dict())
    for model, batches in [(net, [a_and_a]), (accumulating, [a, a])]:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        assert train_step(model, model, MultiboxLoss(3), optimizer, batches).taken
    for name, value in net.named_parameters():
        assert torch.allclose(value, accumulating.get_parameter(name), rtol=0, atol=1e-6), name
    moved = max((value - before[name]).abs().max() for name, value in net.named_parameters())
    assert moved > 1e-3  # a step that accumulated wrongly (twice the gradient, half of it) is far off


def test_steps_per_epoch_and_the_checkpoints_step_count_optimizer_steps(shapes, tmp_path):
    # 24 images in batches of 4: 6 batches, 3 optimizer steps of 2 micro-batches.
    assert train_ssd.main(options(shapes, tmp_path, "--epochs", "2", "--max-steps-per-epoch", "100",
                                  "--accumulate-grad-batches", "2")) == 0
    assert torch.load(tmp_path / ckpt.LAST, weights_only=True)["global_step"] == 6
    log = (tmp_path / "train.log").read_text()
    assert "3 steps per epoch" in log and "2 micro-batches of 4 images make a step: effective batch size 8" in log


def test_a_stop_waits_for_the_whole_step_and_resuming_is_exact(shapes, tmp_path, monkeypatch):
    steps = ["--epochs", "2", "--accumulate-grad-batches", "2"]  # 3 steps of 2 batches of 4 per epoch
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert train_ssd.main(options(shapes, straight, *steps)) == 0
    sigterm_at_batch(monkeypatch, 3)  # the first micro-batch of the second step
    with pytest.raises(SystemExit):
        train_ssd.main(options(shapes, stopped, *steps))
    interrupted = torch.load(stopped / ckpt.LAST, weights_only=True)
    assert (interrupted["global_step"], interrupted["samples_in_epoch"]) == (2, 16)
    monkeypatch.undo()
    assert train_ssd.main(["--resume", str(stopped / ckpt.LAST)]) == 0
    a, b = final_weights(straight), final_weights(stopped)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_under_torchrun_a_loss_not_finite_in_the_middle_of_a_step_skips_it_on_both_ranks(shapes, tmp_path):
    # Batches of 2 per rank, 2 per step: 3 steps. Rank 1's third micro-batch (step 2's first) is NaN.
    model_dir = tmp_path / "model"
    result = torchrun("tests/training/nan_on_one_rank.py", "1", "3", str(tmp_path),
                      *options(shapes, model_dir, "--epochs", "1", "--batch-size", "2",
                               "--accumulate-grad-batches", "2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes: effective batch size 8" in result.stderr
    saved = torch.load(model_dir / ckpt.LAST, weights_only=True)
    assert saved["global_step"] == 3 and saved["skipped_steps"] == 1
    rank0, rank1 = (torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)


def test_accumulating_no_batch_is_a_one_line_error(shapes, tmp_path, capsys):
    assert train_ssd.main(options(shapes, tmp_path / "model", "--accumulate-grad-batches", "0")) == 2
    error = capsys.readouterr().err
    assert error == "train_ssd.py: error: --accumulate-grad-batches must be positive, got 0\n"
