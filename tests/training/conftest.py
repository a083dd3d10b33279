import os
import sys

import pytest
import torch

from vision.datasets.synthetic import generate

# The tests call train_ssd.main() in-process, like the command line would.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-exact comparisons need the same thread count in the test process and its subprocesses
    (which get OMP_NUM_THREADS=1): float sums depend on how the work is split."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """A small built-in dataset (COCO layout): 24 training and 8 validation images of 96 pixels."""
    return generate(tmp_path_factory.mktemp("shapes"), train_count=24, val_count=8, image_size=96)
