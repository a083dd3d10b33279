"""Small file helpers: atomic writes, backups, JSON loading with one-line errors."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from . import PrepError
from vision.utils.jsonfile import JsonReadError, read_json


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write data to path so that readers see either the old file or the complete new one.

    The temporary file lives in the same directory so os.replace is a rename on one filesystem.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _new_file_mode())  # mkstemp makes files private (0600); give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj, indent: int | None = None) -> None:
    # Compact by default: COCO annotation files are hundreds of MB and are read by programs.
    separators = None if indent else (",", ":")
    atomic_write_text(path, json.dumps(obj, indent=indent, separators=separators) + "\n")


def backup_path(path: Path) -> Path:
    """instances_train2017.json -> instances_train2017.orig.json"""
    path = Path(path)
    return path.with_name(f"{path.stem}.orig{path.suffix}")


def backup_once(path: Path) -> Path:
    """Copy path to its .orig backup unless a backup exists (it then holds the true original)."""
    backup = backup_path(path)
    if not backup.exists():
        tmp = backup.with_name(f".{backup.name}.tmp")
        shutil.copy2(path, tmp)
        os.replace(tmp, backup)
    return backup


def load_json(path: Path):
    try:
        return read_json(path)
    except JsonReadError as error:
        raise PrepError(f"{path}: {error}") from None


def ensure_free_space(directory: Path, needed_bytes: int, what: str) -> None:
    """Fail before starting work that would run the disk full part-way through."""
    directory = Path(directory)
    free = shutil.disk_usage(directory).free
    if needed_bytes > free:
        raise PrepError(
            f"{directory}: not enough free disk space for {what}: "
            f"need {format_bytes(needed_bytes)}, {format_bytes(free)} free"
        )


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
