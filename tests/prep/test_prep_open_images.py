"""open_images_downloader.py / vision.prep.open_images against a loopback server."""

import csv

import pytest

from prep_helpers import jpeg_bytes, run_script
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


def test_unknown_class_is_one_line_with_close_matches(server, tmp_path):
    out = run_script("open_images_downloader.py", "--class-names", "Apple,Banan", "--data", tmp_path,
                     "--base-url", server.url, "--image-base-url", f"{server.url}/images")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("open_images_downloader.py: error: unknown Open Images class 'Banan' "
                                                          "(close matches: Banana)")
    assert "Traceback" not in out.stderr
    with pytest.raises(PrepError, match=r"'Kiwi' \(close matches: none\)"):
        fetch(server, tmp_path, ["Kiwi"])
