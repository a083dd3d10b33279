"""vision.utils.fileio: staged paths and atomic writes."""
import json
import os
import stat

import cv2
import numpy as np
import pytest

from vision.utils.fileio import (atomic_file, atomic_write_bytes, atomic_write_image, atomic_write_json,
                                 atomic_write_text, staged_path)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_staged_path_is_beside_the_target_with_its_extension_and_becomes_it(tmp_path):
    target = tmp_path / "photo.jpg"
    with staged_path(target) as staging:
        assert staging.parent == tmp_path and staging.suffix == ".jpg" and staging.name.startswith(".photo.")
        staging.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_a_failed_block_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with staged_path(target) as staging:
            staging.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_file_written_through_that_fails_halfway_keeps_the_old_one(tmp_path):
    """Checkpoints are streamed to the file: a failure in the middle of torch.save must not leave half."""
    target = tmp_path / "checkpoint.pth"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as file:
            file.write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pth"]


def test_atomic_writes_give_the_usual_mode_of_a_new_file(tmp_path, umask_027):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00")
    atomic_write_text(tmp_path / "b.txt", "text")
    atomic_write_image(tmp_path / "c.png", np.zeros((4, 4, 3), np.uint8))
    assert [mode(tmp_path / name) for name in ("a.bin", "b.txt", "c.png")] == [0o640] * 3


def test_atomic_writes_leave_the_process_umask_alone(tmp_path, monkeypatch):
    """Threads write at the same time (the COCO downloader): a umask changed for a moment would give
    files they create then the wrong mode."""
    def refuse(mask):
        raise AssertionError("the umask was changed")
    monkeypatch.setattr(os, "umask", refuse)
    atomic_write_text(tmp_path / "a.txt", "text")
    assert (tmp_path / "a.txt").read_text() == "text"


def test_json_is_compact_unless_indented_and_ends_with_a_newline(tmp_path):
    atomic_write_json(tmp_path / "compact.json", {"a": [1, 2]})
    atomic_write_json(tmp_path / "indented.json", {"a": tmp_path}, indent=2, default=str)
    assert (tmp_path / "compact.json").read_text() == '{"a":[1,2]}\n'
    assert json.loads((tmp_path / "indented.json").read_text()) == {"a": str(tmp_path)}
    assert (tmp_path / "indented.json").read_text().endswith("\n}\n")


def test_an_image_is_written_in_the_format_of_its_extension(tmp_path):
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    atomic_write_image(tmp_path / "exact.png", image)
    atomic_write_image(tmp_path / "small.jpg", image, (cv2.IMWRITE_JPEG_QUALITY, 90))
    assert np.array_equal(cv2.imread(str(tmp_path / "exact.png")), image)
    assert (tmp_path / "small.jpg").read_bytes().startswith(b"\xff\xd8")


def test_an_image_that_cannot_be_written_is_an_os_error_naming_it(tmp_path):
    target = tmp_path / "missing" / "out.png"
    with pytest.raises(OSError, match=r"missing/out.png: cannot write the image"):
        atomic_write_image(target, np.zeros((4, 4, 3), np.uint8))
    assert not (tmp_path / "missing").exists()
