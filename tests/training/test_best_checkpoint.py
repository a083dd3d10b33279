"""checkpoint-best.pth follows the validation AP50 with --validation-mean-ap (higher is better), else the
validation loss; the checkpoint names the metric, and a resumed run continues the same tracking."""
import pytest
import torch

import train_ssd
import vision.evaluation
from training_runs import options
from vision.export.contract import find_best_checkpoint
from vision.training import best
from vision.training import checkpoint as ckpt
from vision.training import loop

TINY = ["--max-steps-per-epoch", "1"]


def best_epoch(name, values):
    """The epoch whose value of metric `name` the tracking keeps, as the training loop decides it."""
    tracking, chosen = best.fresh(name), None
    for epoch, value in enumerate(values):
        if best.improves(name, value, tracking["best_metric"]):
            tracking["best_metric"], chosen = value, epoch
    return chosen


def test_the_highest_ap50_wins_where_the_lowest_loss_is_another_epoch():
    assert best_epoch(best.AP50, [0.3, 0.1, 0.7, 0.5]) == 2
    assert best_epoch(best.LOSS, [3.0, 1.0, 2.0, 1.5]) == 1


@pytest.fixture
def scripted_validation(monkeypatch):
    """Each validation's loss and AP50 taken in turn from the lists returned (append to them before
    training): epochs whose best loss and best AP50 differ, without training that long."""
    losses, ap50s = [], []

    def evaluate_model(net, dataset, *args, **kwargs):
        return {"coco": {"AP": 0.0, "AP50": ap50s.pop(0)}, "voc": {"mAP": 0.0}}

    monkeypatch.setattr(loop, "validation_loss", lambda *args, **kwargs: losses.pop(0))
    monkeypatch.setattr(vision.evaluation, "evaluate_model", evaluate_model)
    return losses, ap50s


def saved(path):
    return torch.load(path, weights_only=True)


def test_with_mean_ap_the_best_checkpoint_is_the_epoch_of_the_highest_ap50(shapes, tmp_path, scripted_validation):
    losses, ap50s = scripted_validation
    losses += [3.0, 1.0, 2.0]  # the lowest loss after epoch 1
    ap50s += [0.3, 0.1, 0.7]  # the highest AP50 after epoch 2
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "3", "--validation-mean-ap")) == 0
    chosen = saved(tmp_path / ckpt.BEST)
    assert chosen["epoch"] == 3  # epochs completed: after epoch 2
    assert (chosen["best_metric_name"], chosen["best_metric"]) == ("AP50", 0.7)
    assert find_best_checkpoint(str(tmp_path)) == str(tmp_path / ckpt.BEST)  # onnx_export.py --model-dir's pick
    log = (tmp_path / "train.log").read_text()
    assert "checkpoint-best.pth follows the highest validation AP50" in log
    assert "new best validation AP50 0.7000 (epoch 2): checkpoint-best.pth" in log
    assert log.count("new best validation AP50") == 2  # epochs 0 and 2

    losses.append(0.5)  # the lowest loss yet, an AP50 below the best: checkpoint-best.pth stays
    ap50s.append(0.5)
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "4"]) == 0
    assert saved(tmp_path / ckpt.BEST)["epoch"] == 3 and saved(tmp_path / ckpt.LAST)["best_metric"] == 0.7
    log = (tmp_path / "train.log").read_text()
    assert "follows the highest validation AP50 (the resumed run's best: 0.7000)" in log


def test_without_mean_ap_the_best_checkpoint_follows_the_loss(shapes, tmp_path, scripted_validation):
    losses, _ = scripted_validation
    losses += [3.0, 1.0, 2.0]
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "3")) == 0
    chosen = saved(tmp_path / ckpt.BEST)
    assert chosen["epoch"] == 2 and (chosen["best_metric_name"], chosen["best_metric"]) == ("loss", 1.0)
    log = (tmp_path / "train.log").read_text()
    assert "checkpoint-best.pth follows the lowest validation loss" in log
    assert "new best validation loss 1.0000 (epoch 1): checkpoint-best.pth" in log


def test_resuming_with_the_other_metric_starts_the_tracking_again(shapes, tmp_path, scripted_validation):
    losses, ap50s = scripted_validation
    losses += [1.0, 2.0]
    ap50s.append(0.1)
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "1")) == 0
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2",
                           "--validation-mean-ap"]) == 0
    chosen = saved(tmp_path / ckpt.BEST)
    assert chosen["epoch"] == 2 and (chosen["best_metric_name"], chosen["best_metric"]) == ("AP50", 0.1)
    assert ("the resumed run's checkpoint-best.pth followed the validation loss, this run follows the validation "
            "AP50: best tracking starts again") in (tmp_path / "train.log").read_text()


def test_a_checkpoint_from_before_the_name_was_kept_continues_the_loss_tracking(shapes, tmp_path,
                                                                               scripted_validation):
    losses, _ = scripted_validation
    losses += [1.0, 2.0]
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "1")) == 0
    old = saved(tmp_path / ckpt.LAST)
    del old["best_metric_name"]
    torch.save(old, tmp_path / ckpt.LAST)
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2"]) == 0
    assert saved(tmp_path / ckpt.BEST)["epoch"] == 1  # the loss of 2.0 is no new best
    assert saved(tmp_path / ckpt.LAST)["best_metric_name"] == "loss"


def test_a_real_run_with_mean_ap_names_the_metric_in_the_checkpoint_and_the_log(shapes, tmp_path):
    assert train_ssd.main(options(shapes, tmp_path, *TINY, "--epochs", "1", "--validation-mean-ap")) == 0
    chosen = saved(tmp_path / ckpt.BEST)
    log = (tmp_path / "train.log").read_text()
    assert chosen["best_metric_name"] == "AP50"
    assert f"new best validation AP50 {chosen['best_metric']:.4f} (epoch 0): checkpoint-best.pth" in log
    assert f"AP50 {chosen['best_metric']:.4f}; VOC mAP" in log  # the AP50 that evaluation logged

