"""Fixtures: a small built-in (synthetic) dataset shared by the dataset tests."""
import pytest

from vision.datasets.synthetic import generate


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """The synthetic COCO-layout dataset, small: 12 train and 6 val images of 96 x 96."""
    return generate(tmp_path_factory.mktemp("shapes"), train_count=12, val_count=6, image_size=96)
