import pytest

import train_ssd
from training_runs import STRAIGHT, options
from vision.datasets.synthetic import generate


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """A small built-in dataset (COCO layout): 24 training and 8 validation images of 96 pixels."""
    return generate(tmp_path_factory.mktemp("shapes"), train_count=24, val_count=8, image_size=96)


@pytest.fixture(scope="session")
def straight_run(shapes, tmp_path_factory):
    """The model dir of an uninterrupted run on `shapes` (training_runs.options and STRAIGHT), made once: the
    runs that are stopped, killed or resumed on the way must end with its weights."""
    model_dir = tmp_path_factory.mktemp("straight")
    assert train_ssd.main(options(shapes, model_dir, *STRAIGHT)) == 0
    return model_dir
