"""open_images_downloader.py / vision.prep.open_images against a loopback server."""

import csv
import gzip

import pytest

from prep_helpers import jpeg_bytes, run_in_process, run_script
from vision.prep import PrepError
from vision.prep.open_images import download_open_images

HEADER = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"
CLASSES = "/m/014j1m,Apple\n/m/09qck,Banana\n/m/0cyhj_,Orange\n/m/0dj6p,Pineapple\n/m/02xwb,Fruit\n"
APPLE, BANANA, ORANGE = "/m/014j1m", "/m/09qck", "/m/0cyhj_"


def box(image_id, label, depiction=0):
    return f"{image_id},xclick,{label},1,0.1,0.5,0.2,0.6,0,0,0,{depiction},0"


TRAIN_ROWS = ([box(f"a{i:03d}", APPLE) for i in range(8)] + [box("a000", APPLE), box("a001", BANANA)]
              + [box(f"b{i:03d}", BANANA) for i in range(3)] + [box("c000", ORANGE), box("d000", APPLE, depiction=1)])
VALIDATION_ROWS = [box("va00", APPLE), box("va01", APPLE), box("vmissing", BANANA)]
TEST_ROWS = [box("tb00", BANANA)]


def files() -> dict[str, bytes]:
    served = {
        "/2018_04/class-descriptions-boxable.csv": CLASSES.encode(),
        "/2018_04/train/train-annotations-bbox.csv": "\n".join([HEADER, *TRAIN_ROWS, ""]).encode(),
        "/v5/validation-annotations-bbox.csv": "\n".join([HEADER, *VALIDATION_ROWS, ""]).encode(),
        "/v5/test-annotations-bbox.csv": "\n".join([HEADER, *TEST_ROWS, ""]).encode(),
    }
    for split, rows in (("train", TRAIN_ROWS), ("validation", VALIDATION_ROWS), ("test", TEST_ROWS)):
        for row in rows:
            image_id = row.split(",")[0]
            if image_id != "vmissing":  # this one answers 404
                served[f"/images/{split}/{image_id}.jpg"] = jpeg_bytes(seed=len(served))
    return served


@pytest.fixture
def server(serve):
    return serve(files())


def fetch(server, root, names, **options):
    return download_open_images(root, names, base_url=server.url, image_base_url=f"{server.url}/images",
                                num_workers=4, retries=1, backoff=0, log=lambda line: None, **options)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def image_requests(server):
    return [path for path, _ in server.requests if path.startswith("/images/")]


def test_selected_classes_layout_and_missing_image(server, tmp_path):
    failed = fetch(server, tmp_path, ["apple", "BANANA"])
    assert failed == {"train": set(), "validation": {"vmissing"}, "test": set()}
    with open(tmp_path / "sub-train-annotations-bbox.csv") as f:
        assert f.readline().strip() == HEADER + ",id,ClassName"
    train = read_csv(tmp_path / "sub-train-annotations-bbox.csv")
    assert len(train) == 8 + 2 + 3  # no Orange, no depiction
    assert {(row["LabelName"], row["id"], row["ClassName"]) for row in train} == {
        (APPLE, APPLE, "Apple"), (BANANA, BANANA, "Banana")}
    assert [row["ImageID"] for row in train] == sorted(row["ImageID"] for row in train)
    assert train[0]["XMin"] == "0.1"  # values are copied as written
    validation = read_csv(tmp_path / "sub-validation-annotations-bbox.csv")
    assert [row["ImageID"] for row in validation] == ["va00", "va01"]  # the 404 image is left out
    for split in ("train", "validation", "test"):
        rows = read_csv(tmp_path / f"sub-{split}-annotations-bbox.csv")
        assert sorted(p.stem for p in (tmp_path / split).iterdir()) == sorted({row["ImageID"] for row in rows})
    assert (tmp_path / "train/a000.jpg").read_bytes() == files()["/images/train/a000.jpg"]

    before = len(image_requests(server))
    fetch(server, tmp_path, ["Apple", "Banana"])
    assert image_requests(server)[before:] == ["/images/validation/vmissing.jpg"]  # only the missing one


def test_max_images_samples_the_same_images_each_time(server, tmp_path):
    chosen = []
    for run in ("one", "two"):
        fetch(server, tmp_path / run, ["Apple", "Banana"], max_images=6)
        chosen.append({split: sorted(p.name for p in (tmp_path / run / split).iterdir())
                       for split in ("train", "validation", "test")})
    assert chosen[0] == chosen[1]
    assert sum(len(names) for names in chosen[0].values()) <= 6
    assert len(chosen[0]["train"]) == 4  # train holds 11 of the 14 images: int(6 * 11 / 14)


def test_max_annotations_per_class(server, tmp_path):
    fetch(server, tmp_path, ["Apple", "Banana"], max_annotations_per_class=2)
    train = read_csv(tmp_path / "sub-train-annotations-bbox.csv")
    assert sorted(row["ClassName"] for row in train) == ["Apple", "Apple", "Banana", "Banana"]
    assert sorted(p.stem for p in (tmp_path / "train").iterdir()) == sorted({row["ImageID"] for row in train})


def test_stats_only_fetches_no_images(server, tmp_path):
    lines = []
    download_open_images(tmp_path, ["Apple"], base_url=server.url, image_base_url=f"{server.url}/images",
                         stats_only=True, log=lines.append)
    assert "  Image count:  8" in lines  # train: a000..a007
    assert "    Apple:  9/9 = 1.00" in lines
    assert image_requests(server) == []
    assert not list(tmp_path.glob("sub-*.csv"))


def test_unknown_class_is_one_line_with_close_matches_in_a_process_of_its_own(server, tmp_path):
    out = run_script("open_images_downloader.py", "--class-names", "Apple,Banan", "--data", tmp_path,
                     "--base-url", server.url, "--image-base-url", f"{server.url}/images")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("open_images_downloader.py: error: unknown Open Images class 'Banan' "
                                                          "(close matches: Banana)")
    assert "Traceback" not in out.stderr
    with pytest.raises(PrepError, match=r"'Kiwi' \(close matches: none\)"):
        fetch(server, tmp_path, ["Kiwi"])


CAPTIVE_PORTAL = b"<!DOCTYPE html>\n<html><head><title>Sign in to the Wi-Fi</title></head><body>...</body></html>\n"
# A file served (or cached) in place of a CSV: its URL path, its bytes, and what the error says.
BAD_CSV = {
    "binary": ("/v5/validation-annotations-bbox.csv", gzip.compress(files()["/v5/validation-annotations-bbox.csv"]),
               "binary, not text"),
    "latin-1": ("/2018_04/class-descriptions-boxable.csv", (CLASSES + "/m/0crm,Crème brûlée\n").encode("latin-1"),
                "not UTF-8 text (invalid continuation byte near byte"),
    "html": ("/2018_04/train/train-annotations-bbox.csv", CAPTIVE_PORTAL,
             "the first line is '<!DOCTYPE html>', not a box annotation header (ImageID first, with LabelName, "
             "IsDepiction) (an HTML page: a login or error page instead of the file?)"),
}


@pytest.mark.parametrize("kind", BAD_CSV)
def test_bad_csv_download_is_refused_in_one_line(serve, tmp_path, capsys, kind):
    url_path, content, reason = BAD_CSV[kind]
    server = serve({**files(), url_path: content})
    out = run_in_process(capsys, "open_images_downloader.py", "--class-names", "Apple", "--data", tmp_path,
                         "--retry", "0", "--base-url", server.url, "--image-base-url", f"{server.url}/images")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("open_images_downloader.py: error: ")]
    name = url_path.rsplit("/", 1)[-1]  # also the name it is kept under in --data
    assert len(errors) == 1, out.stderr
    assert errors[0].startswith(f"open_images_downloader.py: error: {name}: the file from {server.url}{url_path} "
                                "is unusable: ")
    assert reason in errors[0] and errors[0].endswith("; deleted it")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(name)]  # nothing bad kept, no .part


@pytest.mark.parametrize("kind", BAD_CSV)
def test_bad_cached_csv_is_reported_and_downloaded_again(server, tmp_path, kind):
    url_path, content, reason = BAD_CSV[kind]
    cached = tmp_path / url_path.rsplit("/", 1)[-1]
    cached.write_bytes(content)
    lines = []
    download_open_images(tmp_path, ["Apple"], base_url=server.url, stats_only=True, retries=0, log=lines.append)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {cached}: ")
    assert reason in warnings[0] and warnings[0].endswith("; deleted it, downloading it again")
    assert cached.read_bytes() == files()[url_path]
    assert "  Image count:  8" in lines  # the statistics come from the good file

    requests_made, good = len(server.requests), {p: p.read_bytes() for p in tmp_path.iterdir()}
    download_open_images(tmp_path, ["Apple"], base_url=server.url, stats_only=True, log=lines.append)
    assert len(server.requests) == requests_made  # good cached files are used as they are
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == good


def test_bad_cached_csv_is_deleted_even_when_the_new_download_is_bad_too(serve, tmp_path):
    server = serve({**files(), "/2018_04/class-descriptions-boxable.csv": CAPTIVE_PORTAL})
    (tmp_path / "class-descriptions-boxable.csv").write_bytes(CAPTIVE_PORTAL)
    lines = []
    with pytest.raises(PrepError, match=r"^class-descriptions-boxable\.csv: the file from .* is unusable: the first "
                                        r"line is '<!DOCTYPE html>', not a class list row"):
        download_open_images(tmp_path, ["Apple"], base_url=server.url, retries=0, log=lines.append)
    assert lines == [f"warning: {tmp_path / 'class-descriptions-boxable.csv'}: the first line is '<!DOCTYPE html>', "
                     "not a class list row such as '/m/014j1m,Apple' (an HTML page: a login or error page instead "
                     "of the file?); deleted it, downloading it again"]
    assert list(tmp_path.iterdir()) == []
