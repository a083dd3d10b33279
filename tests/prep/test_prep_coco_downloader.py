"""coco_downloader.py / vision.prep.coco_download against a loopback server with small COCO-named zips."""

import os

import pytest

from prep_helpers import make_zip, run_in_process, run_script
from vision.prep import PrepError
from vision.prep.coco_download import download_coco

VAL_MEMBERS = {f"val2017/{i:012d}.jpg": os.urandom(300_000) for i in range(3)}
VAL_ZIP = make_zip(VAL_MEMBERS)
ANN_ZIP = make_zip({"annotations/instances_val2017.json": b'{"images": []}'})
FILES = {"/zips/val2017.zip": VAL_ZIP, "/annotations/annotations_trainval2017.zip": ANN_ZIP}


def corrupted(zip_bytes: bytes) -> bytes:
    """Flip one byte inside the first member's data, leaving the zip structure readable."""
    data = bytearray(zip_bytes)
    data[1000] ^= 0xFF
    return bytes(data)


def error_line(stderr: str) -> str:
    """The one "error: ..." line (progress bars share stderr); there must be exactly one, and no traceback."""
    lines = [line for line in stderr.splitlines() if line.startswith("coco_downloader.py: error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_download_extract_then_rerun_makes_no_request(serve, tmp_path):
    server = serve(FILES)
    out = run_script("coco_downloader.py", "--path", tmp_path / "coco", "--base-url", server.url,
                     "--splits", "val2017", "annotations")
    assert out.returncode == 0, out.stderr
    for name, data in VAL_MEMBERS.items():
        assert (tmp_path / "coco" / name).read_bytes() == data
    assert (tmp_path / "coco/annotations/instances_val2017.json").exists()
    assert not (tmp_path / "coco/val2017.zip").exists()  # zips are removed unless --keep-zips
    requests_made = len(server.requests)
    assert requests_made == 2

    again = run_script("coco_downloader.py", "--path", tmp_path / "coco", "--base-url", server.url,
                       "--splits", "val2017", "annotations")
    assert again.returncode == 0, again.stderr
    assert len(server.requests) == requests_made
    assert "val2017.zip: already extracted" in again.stdout


def test_dropped_connection_resumes_and_result_is_identical(serve, tmp_path):
    server = serve(FILES)
    server.drop_after["/zips/val2017.zip"] = len(VAL_ZIP) // 2
    download_coco(tmp_path, ["val2017"], base_url=server.url, keep_zips=True, backoff=0)
    assert (tmp_path / "val2017.zip").read_bytes() == VAL_ZIP
    assert [r for _, r in server.requests][1].startswith("bytes=")
    assert all((tmp_path / name).read_bytes() == data for name, data in VAL_MEMBERS.items())


def test_server_ignoring_range_starts_over(serve, tmp_path):
    server = serve(FILES)
    server.range_support = False
    server.drop_after["/zips/val2017.zip"] = len(VAL_ZIP) // 2
    download_coco(tmp_path, ["val2017"], base_url=server.url, keep_zips=True, backoff=0)
    assert (tmp_path / "val2017.zip").read_bytes() == VAL_ZIP


def test_404_is_a_one_line_error_and_nonzero_exit_in_a_process_of_its_own(serve, tmp_path):
    server = serve(FILES)  # no test2017.zip
    out = run_script("coco_downloader.py", "--path", tmp_path, "--base-url", server.url, "--splits", "test2017")
    assert out.returncode == 1
    assert "test2017.zip: HTTP 404" in error_line(out.stderr)


@pytest.mark.parametrize("served, reason", [(corrupted(VAL_ZIP), "Bad CRC-32"),
                                            (b"<html>an error page</html>", "File is not a zip file")])
def test_corrupt_zip_is_rejected_and_nothing_extracted(serve, tmp_path, capsys, served, reason):
    server = serve({"/zips/val2017.zip": served})
    out = run_in_process(capsys, "coco_downloader.py", "--path", tmp_path, "--base-url", server.url,
                         "--splits", "val2017")
    assert out.returncode == 1
    line = error_line(out.stderr)
    assert "val2017.zip: corrupt zip archive" in line and reason in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no extraction, no marker, bad zip deleted


@pytest.mark.parametrize("bad_name", ["../escaped.txt", "/absolute.txt", "val2017/../../escaped.txt"])
def test_member_paths_leaving_the_target_are_refused(serve, tmp_path, bad_name):
    server = serve({"/zips/val2017.zip": make_zip({"val2017/ok.jpg": b"fine", bad_name: b"evil"})})
    target = tmp_path / "coco"
    with pytest.raises(PrepError, match="val2017.zip: unsafe member path"):
        download_coco(target, ["val2017"], base_url=server.url, backoff=0)
    assert sorted(p.name for p in target.iterdir()) == ["val2017.zip"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco"]


def test_no_extract_keeps_the_checked_zip(serve, tmp_path):
    server = serve(FILES)
    lines = download_coco(tmp_path, ["val2017"], base_url=server.url, extract=False, backoff=0)
    assert lines == ["val2017.zip: downloaded and checked"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val2017.zip"]
    assert download_coco(tmp_path, ["val2017"], base_url=server.url, extract=False) == [
        "val2017.zip: already downloaded"]
    assert len(server.requests) == 1


def test_known_sizes_are_checked_before_downloading(serve, tmp_path):
    server = serve(FILES)
    with pytest.raises(PrepError, match="not enough free disk space"):
        download_coco(tmp_path, ["val2017"], base_url=server.url, known={"val2017.zip": (10**17, None)})
    with pytest.raises(PrepError, match=rf"val2017.zip: server reports {len(VAL_ZIP)} bytes .* expected 1234"):
        download_coco(tmp_path, ["val2017"], base_url=server.url, known={"val2017.zip": (1234, None)})
    assert len(server.requests) == 1  # the disk check needed no request


def test_stalled_download_fails_in_one_line_then_resumes(serve, tmp_path, capsys):
    server = serve(FILES)
    server.trickle_first["/zips/val2017.zip"] = 2  # 500 bytes, then a byte every 0.2 s
    out = run_in_process(capsys, "coco_downloader.py", "--path", tmp_path, "--base-url", server.url,
                         "--splits", "val2017", "--retries", "1", "--timeout", "1", "--min-speed", "1000")
    assert out.returncode == 1
    line = error_line(out.stderr)
    assert f"val2017.zip: download from {server.url}/zips/val2017.zip failed after 2 attempts: stalled: " in line
    assert "under the minimum speed of 1000 bytes/s" in line
    assert server.outlasted == []  # each attempt was dropped by the downloader, not by the server
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val2017.zip.part"]  # kept for the next run

    download_coco(tmp_path, ["val2017"], base_url=server.url, keep_zips=True, backoff=0)
    assert (tmp_path / "val2017.zip").read_bytes() == VAL_ZIP
    assert len(server.requests) == 3 and server.requests[0][1] is None
    resumed_from = [int(r.removeprefix("bytes=").removesuffix("-")) for _, r in server.requests[1:]]
    assert server.trickle_head <= resumed_from[0] < resumed_from[1]  # each attempt went on from the last


@pytest.mark.parametrize("option", [("--timeout", "0"), ("--min-speed", "-1"), ("--min-speed", "fast")])
def test_bad_speed_options_are_one_line(tmp_path, capsys, option):
    out = run_in_process(capsys, "coco_downloader.py", "--path", tmp_path, *option)
    assert out.returncode == 2
    assert out.stderr.startswith(f"coco_downloader.py: error: argument {option[0]}: expected ")
    assert len(out.stderr.strip().splitlines()) == 1
