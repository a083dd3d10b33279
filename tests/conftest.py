"""Shared fixtures: the reference facts and the real COCO subset that live in ../shared."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _shared_dir(variable: str, relative: str) -> Path | None:
    path = os.environ.get(variable) or REPO.parent / "shared" / relative
    return Path(path) if Path(path).is_dir() else None


@pytest.fixture(scope="session")
def reference() -> Path:
    path = _shared_dir("SSD_REFERENCE", "reference")
    if path is None:
        pytest.skip("reference data not found: set SSD_REFERENCE to shared/reference (.ci/run does)")
    return path


@pytest.fixture(scope="session")
def coco128() -> Path:
    path = _shared_dir("SSD_COCO128", "data/coco128")
    if path is None:
        pytest.skip("coco128 not found: set SSD_COCO128 to shared/data/coco128 (.ci/run does)")
    return path
