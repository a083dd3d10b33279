"""vision.prep.download against a loopback server: resume, restart, retry and the checks."""

import hashlib
import os

import pytest

from vision.prep import PrepError
from vision.prep.download import CHUNK_SIZE, DownloadError, download, ensure_free_space, part_path

BODY = os.urandom(4 * CHUNK_SIZE + 12345)
CUT = 2 * CHUNK_SIZE + 1000  # bytes sent before the connection drops


def range_start(request) -> int:
    """The offset a recorded (path, Range header) request resumed from."""
    return int(request[1].removeprefix("bytes=").removesuffix("-"))


def test_dropped_connection_resumes_with_range(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    server.drop_after["/f.bin"] = CUT
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=2, backoff=0, progress=False)
    assert dest.read_bytes() == BODY
    assert not part_path(dest).exists()
    assert len(server.requests) == 2
    assert server.requests[0][1] is None
    assert 0 < range_start(server.requests[1]) <= CUT  # only what arrived was kept, and it was not fetched again


def test_server_without_range_support_starts_over(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    server.range_support = False
    server.drop_after["/f.bin"] = CUT
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=2, backoff=0, progress=False)
    assert dest.read_bytes() == BODY
    # The second request asked for the rest, got the whole file (200), and wrote it from the start.
    assert len(server.requests) == 2 and server.requests[1][1] is not None


def test_404_fails_at_once_naming_file_and_status(serve, tmp_path):
    server = serve({})
    with pytest.raises(DownloadError, match=r"missing\.zip: HTTP 404"):
        download(f"{server.url}/missing.zip", tmp_path / "missing.zip", retries=3, backoff=0, progress=False)
    assert len(server.requests) == 1  # a 404 is not retried
    assert list(tmp_path.iterdir()) == []


def test_transient_errors_are_retried_then_given_up(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    server.fail_first["/f.bin"] = 2
    assert download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=2, backoff=0,
                    progress=False).read_bytes() == BODY
    server.fail_first["/f.bin"] = 5
    with pytest.raises(DownloadError, match=r"g\.bin: .* failed after 3 attempts: HTTP 503"):
        download(f"{server.url}/f.bin", tmp_path / "g.bin", retries=2, backoff=0, progress=False)


def test_complete_part_file_is_finished_without_refetching(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(BODY)
    download(f"{server.url}/f.bin", dest, retries=0, progress=False)
    assert dest.read_bytes() == BODY
    assert server.requests == [("/f.bin", f"bytes={len(BODY)}-")]  # answered 416: nothing left to send


def test_size_and_md5_checks(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    url = f"{server.url}/f.bin"
    with pytest.raises(DownloadError, match=rf"a\.bin: server reports {len(BODY)} bytes .* expected 7"):
        download(url, tmp_path / "a.bin", expected_size=7, retries=0, progress=False)
    with pytest.raises(DownloadError, match=r"b\.bin: MD5 [0-9a-f]{32} does not match"):
        download(url, tmp_path / "b.bin", md5="0" * 32, retries=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the bad download was deleted
    good = hashlib.md5(BODY).hexdigest()
    assert download(url, tmp_path / "c.bin", expected_size=len(BODY), md5=good, retries=0,
                    progress=False).read_bytes() == BODY


def test_free_space_check(tmp_path):
    ensure_free_space(tmp_path, 1, "a byte")
    with pytest.raises(PrepError, match="not enough free disk space for everything"):
        ensure_free_space(tmp_path, 10**18, "everything")


def test_stalled_transfer_is_dropped_and_resumed(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    server.trickle_first["/f.bin"] = 1  # 500 bytes, then a byte every 0.2 s: far under 1000 bytes/s
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=1, backoff=0, timeout=1, min_speed=1000,
                    progress=False)
    assert dest.read_bytes() == BODY
    assert server.outlasted == []  # the client dropped the trickle itself
    assert range_start(server.requests[1]) >= server.trickle_head  # what trickled in was kept


def test_stalled_transfer_fails_in_one_line_after_the_retries(serve, tmp_path):
    server = serve({"/f.bin": BODY})
    server.trickle_first["/f.bin"] = 2
    with pytest.raises(DownloadError, match=rf"^f\.bin: download from {server.url}/f\.bin failed after 2 attempts: "
                                            r"stalled: \d+ bytes in the last \d+ s, under the minimum speed of "
                                            r"1000 bytes/s$"):
        download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=1, backoff=0, timeout=1, min_speed=1000,
                 progress=False)
    assert server.outlasted == []
    assert part_path(tmp_path / "f.bin").stat().st_size > server.trickle_head  # kept for the next run
    # The same server, no longer stalling, finishes the download from there.
    assert download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=0, progress=False).read_bytes() == BODY
    assert range_start(server.requests[-1]) > server.trickle_head


def test_slow_but_steady_transfer_is_not_dropped(serve, tmp_path):
    server = serve({"/f.bin": BODY[:515]})
    server.trickle_first["/f.bin"] = 1  # 500 bytes, then 15 bytes over 3 s: 5 bytes/s, three windows of 1 s
    dest = download(f"{server.url}/f.bin", tmp_path / "f.bin", retries=0, timeout=1, min_speed=0.5,
                    progress=False)
    assert dest.read_bytes() == BODY[:515]
    assert len(server.requests) == 1
