"""train_ssd.py under torchrun with two CPU processes: the ranks agree on every step they skip (a loss
that is not finite, a batch without a readable image, on any one rank), and only rank 0 draws bars."""
import re

from test_train_ssd import options
from training_runs import torchrun


def test_only_rank_0_draws_the_validation_bar(shapes, tmp_path):
    result = torchrun("train_ssd.py", *options(shapes, tmp_path, "--epochs", "1", "--max-steps-per-epoch", "1"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(re.findall(r"validation:\s+0%", result.stderr)) == 1  # each bar starts at 0% once
