"""Image file names, atomic writes (a reader, or a run cut short, sees the old file or the complete new
one, never part) and the backups of files about to be rewritten."""
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

# Free of torch (unlike vision.datasets), so that scripts and worker processes can check names at once.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# The writer's process and host are in a temporary file's name, so that a later writer can tell the
# files of a killed process (kill -9 runs no cleanup) from those of one still writing.
_HOST = socket.gethostname()
_OWN_TEMPORARY = re.compile(rf"\..*\.[0-9a-f]{{8}}\.(?P<pid>\d{{1,9}})@{re.escape(_HOST)}\.tmp(\.[^.]*)?")
_cleaned_folders: set[str] = set()


@contextlib.contextmanager
def staged_path(path):
    """A new temporary path beside `path` for the block to write; renamed to `path` if the block
    succeeds, removed if not. An OSError that names no file (a full disk), or only the temporary
    one, is made to name `path`.

    Beside it, so that os.replace is a rename on one filesystem; with its extension, by which writers
    such as cv2.imwrite and matplotlib choose the format. The first write of a process into a folder
    removes the temporary files there that killed processes of this host left.
    """
    path = Path(path)
    _remove_stale_temporary_files(path.parent)
    staging = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.{os.getpid()}@{_HOST}.tmp{path.suffix}")
    try:
        yield staging
        os.replace(staging, path)
    except OSError as error:
        if error.strerror is not None and error.filename in (None, staging, str(staging)):  # from the OS
            error.filename, error.filename2 = str(path), None
        raise
    finally:
        staging.unlink(missing_ok=True)


def _remove_stale_temporary_files(folder: Path) -> None:
    """Remove the temporary files in `folder` whose writer, a process of this host, no longer exists;
    once per process and folder (a folder can hold a hundred thousand images). Best effort: a folder
    that cannot be listed is the write's own error to report."""
    key = os.path.abspath(folder)
    if key in _cleaned_folders:
        return
    _cleaned_folders.add(key)
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = _OWN_TEMPORARY.fullmatch(entry.name)
            if match and not _process_exists(int(match["pid"])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    return True


@contextlib.contextmanager
def atomic_file(path):
    """A new binary file to write `path` through: it replaces `path`, flushed to disk, when the block
    succeeds, and is removed if not."""
    with staged_path(path) as staging:
        # A new file created by the process itself, not mkstemp's private one: the umask applies as
        # usual, without changing it (threads write at the same time).
        with open(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())


def atomic_write_bytes(path, data: bytes | memoryview) -> None:
    with atomic_file(path) as file:
        file.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj, indent: int | None = None, default=None) -> None:
    """Compact unless `indent` is given: COCO annotation files are hundreds of MB and read by programs."""
    separators = None if indent else (",", ":")
    atomic_write_text(path, json.dumps(obj, indent=indent, separators=separators, default=default) + "\n")


def atomic_write_image(path, bgr, params: tuple[int, ...] = ()) -> None:
    """A BGR image in the format of `path`'s extension; OSError naming `path` if it cannot be written."""
    import cv2  # here: most users of this module write no image, and cv2 takes a while to import
    with staged_path(path) as staging:
        if not cv2.imwrite(str(staging), bgr, list(params)):
            raise OSError(f"{path}: cannot write the image")


def backup_path(path: Path) -> Path:
    """instances_train2017.json -> instances_train2017.orig.json"""
    path = Path(path)
    return path.with_name(f"{path.stem}.orig{path.suffix}")


def backup_once(path: Path) -> Path:
    """Copy path to its .orig backup unless a backup exists (it then holds the true original)."""
    backup = backup_path(path)
    if not backup.exists():
        with staged_path(backup) as staging:
            shutil.copy2(path, staging)
    return backup
