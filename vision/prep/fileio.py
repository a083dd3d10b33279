"""Data-preparation file helpers: backups, disk space."""

import shutil
from pathlib import Path

from . import PrepError
from vision.utils.fileio import staged_path


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
