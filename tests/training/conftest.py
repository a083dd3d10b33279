import pytest

from vision.datasets.synthetic import generate


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """A small built-in dataset (COCO layout): 24 training and 8 validation images of 96 pixels."""
    return generate(tmp_path_factory.mktemp("shapes"), train_count=24, val_count=8, image_size=96)
