"""Image file names, and atomic writes: a reader, or a run cut short, sees the old file or the complete
new one, never part."""
import contextlib
import json
import os
import secrets
from pathlib import Path

# Free of torch (unlike vision.datasets), so that scripts and worker processes can check names at once.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@contextlib.contextmanager
def staged_path(path):
    """A new temporary path beside `path` for the block to write; renamed to `path` if the block
    succeeds, removed if not.

    Beside it, so that os.replace is a rename on one filesystem; with its extension, by which writers
    such as cv2.imwrite and matplotlib choose the format.
    """
    path = Path(path)
    staging = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield staging
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


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
