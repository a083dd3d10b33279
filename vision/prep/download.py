"""HTTP download with resume, retry and size/MD5 checks: the one implementation both downloaders use.

A download is written to `<name>.part` and renamed into place only once it is complete and
checked, so a file with its final name is always whole. An interrupted download resumes from
the `.part` file with an HTTP Range request.
"""

import hashlib
import os
import re
import threading
import time
from pathlib import Path

import requests
from tqdm import tqdm

from . import PrepError
from .fileio import ensure_free_space

CHUNK_SIZE = 256 * 1024  # also the most a dropped connection can cost (urllib3 drops a short read)
MAX_BACKOFF_S = 60.0
# Statuses worth asking again for; any other 4xx (404, 403, ...) will not change by retrying.
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

_thread_state = threading.local()


class DownloadError(PrepError):
    pass


class _TryAgain(Exception):
    """A transient failure: the next attempt resumes from what is on disk."""


def part_path(dest: Path) -> Path:
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def session() -> requests.Session:
    # requests.Session is not documented as thread-safe, so each worker thread keeps its own
    # (and reuses its connections across files).
    if not hasattr(_thread_state, "session"):
        _thread_state.session = requests.Session()
    return _thread_state.session


def download(url: str, dest: Path, *, expected_size: int | None = None, md5: str | None = None,
             retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
             progress: bool = True, position: int | None = None) -> Path:
    """Fetch url into dest, resuming dest.part if present. Raises DownloadError with a one-line reason.

    expected_size/md5, when known, are checked before the file is renamed into place; a file that
    fails them is deleted (resuming cannot repair it).
    """
    dest = Path(dest)
    part = part_path(dest)
    last_error = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF_S))
        try:
            _fetch(url, part, dest.name, expected_size, timeout, progress, position)
            break
        except _TryAgain as e:
            last_error = e
    else:
        raise DownloadError(f"{dest.name}: download from {url} failed after {retries + 1} attempts: {last_error}")
    _verify(part, dest.name, expected_size, md5, progress, position)
    os.replace(part, dest)
    return dest


def _fetch(url, part: Path, name: str, expected_size, timeout, progress, position) -> None:
    """One attempt: append the rest of the file to part (or rewrite it when the server sends it all)."""
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset == expected_size:
        return  # finished by an earlier run that stopped before the rename
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with session().get(url, headers=headers, stream=True, timeout=timeout) as r:
            if r.status_code == 416 and offset:
                _check_range_end(r, part, offset)
                return
            if r.status_code in RETRYABLE_STATUS:
                raise _TryAgain(f"HTTP {r.status_code} {r.reason}")
            if r.status_code not in (200, 206):
                raise DownloadError(f"{name}: HTTP {r.status_code} {r.reason} from {url}")
            total, mode = _body_plan(r, part, offset)
            if mode == "wb":
                offset = 0
            if expected_size is not None and total is not None and total != expected_size:
                raise DownloadError(f"{name}: server reports {total} bytes at {url}, expected {expected_size}")
            if total is not None:
                ensure_free_space(part.parent, total - offset, name)
            _write_body(r, part, mode, name, offset, total, progress, position)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
        raise _TryAgain(f"{type(e).__name__}: {e}") from None
    except requests.RequestException as e:
        raise DownloadError(f"{name}: {url}: {e}") from None
    size = part.stat().st_size
    if total is not None and size < total:
        raise _TryAgain(f"connection closed after {size} of {total} bytes")
    if total is not None and size > total:
        part.unlink()
        raise _TryAgain(f"received {size} bytes, more than the announced {total}; starting over")


def _body_plan(r: requests.Response, part: Path, offset: int) -> tuple[int | None, str]:
    """Return (total file size or None, file mode) for a 200/206 reply to a request from offset."""
    length = r.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if r.status_code == 200:
        # The server ignored Range (or none was sent): the body is the whole file, so start over.
        return length, "wb"
    m = CONTENT_RANGE.fullmatch(r.headers.get("Content-Range", "").strip())
    if not m or int(m.group(1)) != offset:
        part.unlink()
        raise _TryAgain(f"server answered Range bytes={offset}- with Content-Range "
                        f"{r.headers.get('Content-Range')!r}; starting over")
    if m.group(3) != "*":
        return int(m.group(3)), "ab"
    return (offset + length if length is not None else None), "ab"


def _check_range_end(r: requests.Response, part: Path, offset: int) -> None:
    """416 Range Not Satisfiable: the .part is already complete, or longer than the file."""
    m = re.fullmatch(r"bytes \*/(\d+)", r.headers.get("Content-Range", "").strip())
    if m and int(m.group(1)) == offset:
        return
    part.unlink()
    raise _TryAgain("partial file does not match the file on the server; starting over")


def _write_body(r, part: Path, mode: str, name: str, offset: int, total, progress, position) -> None:
    try:
        with open(part, mode) as f, tqdm(total=total, initial=offset, desc=name, unit="B", unit_scale=True,
                                         unit_divisor=1024, disable=not progress, position=position,
                                         leave=False) as bar:
            for chunk in r.iter_content(CHUNK_SIZE):
                f.write(chunk)
                bar.update(len(chunk))
    except requests.RequestException:
        raise  # a network error (requests' errors are OSErrors too): the caller retries it
    except OSError as e:
        raise DownloadError(f"{part}: cannot write: {e.strerror or e}") from None


def _verify(part: Path, name: str, expected_size, md5, progress, position) -> None:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise DownloadError(f"{name}: got {size} bytes, expected {expected_size}; deleted it, "
                            "re-run to download again")
    if md5 is not None:
        actual = file_md5(part, f"{name} md5", progress, position)
        if actual != md5.lower():
            part.unlink()
            raise DownloadError(f"{name}: MD5 {actual} does not match the expected {md5}; deleted it, "
                                "re-run to download again")


def file_md5(path: Path, desc: str, progress: bool = False, position: int | None = None) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, desc=desc, unit="B", unit_scale=True,
                                     unit_divisor=1024, disable=not progress, position=position,
                                     leave=False) as bar:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()
