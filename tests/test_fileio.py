"""vision.utils.fileio: staged paths and atomic writes."""
import errno
import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.utils.fileio import (atomic_file, atomic_write_bytes, atomic_write_image, atomic_write_json,
                                 atomic_write_text, staged_path)

REPO = Path(__file__).resolve().parents[1]


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


def run_python(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_next_write_in_a_folder_removes_the_temporary_file_of_a_killed_writer(tmp_path):
    killed = run_python("import os, signal, sys\n"
                        "from vision.utils.fileio import staged_path\n"
                        "with staged_path(sys.argv[1]) as staging:\n"
                        "    staging.write_bytes(b'half')\n"
                        "    os.kill(os.getpid(), signal.SIGKILL)\n", str(tmp_path / "instances_train2017.json"))
    assert killed.returncode == -signal.SIGKILL
    [left] = tmp_path.iterdir()  # kill -9 runs no cleanup
    live = tmp_path / re.sub(r"\.\d+@", f".{os.getpid()}@", left.name)  # as this process names its own
    live.write_bytes(b"another writer's, still running")
    atomic_write_json(tmp_path / "instances_val2017.json", {"images": []})
    assert not left.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, "instances_val2017.json"])


def test_a_write_the_os_refuses_names_the_file_keeps_the_old_one_and_leaves_no_temporary_file(tmp_path):
    """The disk full, or here the file size limit, part-way through: the one-line error names the file."""
    target = tmp_path / "instances_train2017.json"
    target.write_text("old")
    failed = run_python("import resource, sys\n"
                        "from vision.cli import run_main\n"
                        "from vision.utils.fileio import atomic_write_json\n"
                        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
                        "sys.exit(run_main('prep', lambda: atomic_write_json(sys.argv[1], list(range(9999)))))\n",
                        str(target))
    assert (failed.returncode, failed.stderr) == (2, f"prep: error: {target}: File too large\n")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_full_disk_at_the_flush_names_the_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as error:
        atomic_write_bytes(tmp_path / "checkpoint-last.pth", b"weights")
    assert (error.value.filename, error.value.errno) == (str(tmp_path / "checkpoint-last.pth"), errno.ENOSPC)
    assert list(tmp_path.iterdir()) == []
