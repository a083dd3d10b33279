"""Shared fixtures: one torch thread, and the reference facts and real COCO subset in ../shared."""
import os
from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread, as the scripts the tests start get (OMP_NUM_THREADS=1): bit-exact
    comparisons between the two need the same split of float sums, and on a small shared machine the
    tests' small nets and per-sample work gain nothing from a second thread that spins for work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
