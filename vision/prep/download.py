"""HTTP download with resume, retry and size/MD5 checks: the one implementation both downloaders use.

A download is written to `<name>.part` and renamed into place only once it is complete and
checked, so a file with its final name is always whole. An interrupted download resumes from
the `.part` file with an HTTP Range request. A transfer that stalls (silent for `timeout` seconds,
or slower than `min_speed` over that long) is dropped and resumed like a lost connection.
"""

import argparse
import hashlib
import math
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import requests
import urllib3
from tqdm import tqdm

from . import PrepError

CHUNK_SIZE = 256 * 1024  # also the most a dropped connection can cost (urllib3 drops a short read)
MAX_BACKOFF_S = 60.0
# Statuses worth asking again for; any other 4xx (404, 403, ...) will not change by retrying.
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
# A dead connection that still trickles a byte now and then is caught by the speed check; these
# defaults are far below any real link, so a slow one is not cut (both are options of the scripts).
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MIN_SPEED = 100.0  # bytes per second, averaged over DEFAULT_TIMEOUT_S
# What breaks a body read part-way: worth another attempt (requests' own errors cover the request).
BROKEN_READ = (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.SSLError)

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
             retries: int = 5, backoff: float = 1.0, timeout: float = DEFAULT_TIMEOUT_S,
             min_speed: float = DEFAULT_MIN_SPEED, check: Callable[[Path], str | None] | None = None,
             progress: bool = True, position: int | None = None) -> Path:
    """Fetch url into dest, resuming dest.part if present. Raises DownloadError with a one-line reason.

    An attempt is dropped (and the next one resumes) when the server is silent for `timeout`
    seconds or sends less than `min_speed` bytes per second over `timeout` seconds (0: no minimum).
    expected_size/md5, when known, and `check` (which returns what is wrong with a file, or None) are
    applied before the file is renamed into place; a file that fails them is deleted (resuming
    cannot repair it).
    """
    dest = Path(dest)
    part = part_path(dest)
    last_error = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff * 2 ** (attempt - 1), MAX_BACKOFF_S))
        try:
            _fetch(url, part, dest.name, expected_size, timeout, min_speed, progress, position)
            break
        except _TryAgain as e:
            last_error = e
    else:
        raise DownloadError(f"{dest.name}: download from {url} failed after {retries + 1} attempts: {last_error}")
    _verify(part, dest.name, expected_size, md5, progress, position)
    problem = check(part) if check else None
    if problem:
        part.unlink()
        raise DownloadError(f"{dest.name}: the file from {url} is unusable: {problem}; deleted it")
    os.replace(part, dest)
    return dest


def _fetch(url, part: Path, name: str, expected_size, timeout, min_speed, progress, position) -> None:
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
            _write_body(r, part, mode, name, offset, total, _SpeedCheck(timeout, min_speed), progress, position)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, *BROKEN_READ) as e:
        raise _TryAgain(f"{type(e).__name__}: {e}") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as e:
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


class _SpeedCheck:
    """Counts the bytes of one attempt in windows of `window` seconds and stops one that is too slow.

    The socket timeout alone cannot: it applies to each read, so a byte every few seconds resets it.
    """

    def __init__(self, window: float, min_speed: float):
        self.window, self.min_speed = window, min_speed
        self.start, self.received = time.monotonic(), 0

    def add(self, count: int) -> None:
        self.received += count
        elapsed = time.monotonic() - self.start
        if elapsed < self.window:
            return
        if self.received < self.min_speed * elapsed:
            raise _TryAgain(f"stalled: {self.received} bytes in the last {elapsed:.0f} s, "
                            f"under the minimum speed of {self.min_speed:g} bytes/s")
        self.start, self.received = time.monotonic(), 0


def _write_body(r, part: Path, mode: str, name: str, offset: int, total, speed: _SpeedCheck, progress,
                position) -> None:
    try:
        with open(part, mode) as f, tqdm(total=total, initial=offset, desc=name, unit="B", unit_scale=True,
                                         unit_divisor=1024, disable=not progress, position=position,
                                         leave=False) as bar:
            # read1 returns what one socket read brings (iter_content waits for a whole chunk), so
            # every byte is counted as it arrives.
            while chunk := r.raw.read1(CHUNK_SIZE, decode_content=True):
                f.write(chunk)
                bar.update(len(chunk))
                speed.add(len(chunk))
    except OSError as e:  # a read error is a urllib3 error, not an OSError: the caller handles it
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


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """--timeout and --min-speed, the same in both downloaders."""
    parser.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="drop and resume a transfer that is silent this long, or slower than --min-speed "
                             "over this long (default: %(default)g)")
    parser.add_argument("--min-speed", type=_not_negative, default=DEFAULT_MIN_SPEED, metavar="BYTES_PER_S",
                        help="slowest a transfer may be, averaged over --timeout; 0 for no minimum "
                             "(default: %(default)g)")


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _not_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


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
