"""./setup_coco end to end against a loopback server holding a tiny COCO-layout archive set."""

import json
import os

from prep_helpers import REPO, jpeg_bytes, make_zip, run_script

TRAIN_IMAGES = {"1.jpg": jpeg_bytes(seed=1), "2.jpg": jpeg_bytes(seed=2), "3.jpg": jpeg_bytes(seed=3),
                "4.jpg": jpeg_bytes(seed=4)[:-500]}  # 4.jpg is truncated
VAL_IMAGES = {"5.jpg": jpeg_bytes(seed=5)}
CATEGORIES = [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]


def instances(images: dict, annotated: dict) -> bytes:
    """annotated: file name -> raw category ids of its boxes."""
    entries = [{"id": i, "file_name": name, "width": 64, "height": 48} for i, name in enumerate(images, start=1)]
    ids = {entry["file_name"]: entry["id"] for entry in entries}
    boxes = [{"id": 100 * ids[name] + k, "image_id": ids[name], "category_id": category, "bbox": [1, 1, 10, 10],
              "area": 100, "iscrowd": 0}
             for name, categories in annotated.items() for k, category in enumerate(categories)]
    return json.dumps({"images": entries, "annotations": boxes, "categories": CATEGORIES}).encode()


FILES = {
    "/zips/train2017.zip": make_zip({f"train2017/{n}": d for n, d in TRAIN_IMAGES.items()}),
    "/zips/val2017.zip": make_zip({f"val2017/{n}": d for n, d in VAL_IMAGES.items()}),
    "/annotations/annotations_trainval2017.zip": make_zip({
        # 3.jpg has no boxes; 4.jpg (truncated) has the only toothbrush box.
        "annotations/instances_train2017.json": instances(TRAIN_IMAGES, {"1.jpg": [1, 18], "2.jpg": [18],
                                                                         "4.jpg": [90]}),
        "annotations/instances_val2017.json": instances(VAL_IMAGES, {"5.jpg": [1]}),
    }),
}


def test_setup_coco_end_to_end_and_rerun(serve, tmp_path):
    assert os.access(REPO / "setup_coco", os.X_OK)
    server = serve(FILES)
    root = tmp_path / "coco-data"
    out = run_script("setup_coco", "--path", root, "--base-url", server.url, "--num-workers", 1)
    assert out.returncode == 0, out.stderr
    command = (f"python3 train_ssd.py --dataset-type=coco --data={root} --model-dir=models/coco --net=mb1-ssd")
    assert out.stdout.strip().splitlines()[-1].strip() == command

    # 3.jpg has no boxes and stays (a negative); 4.jpg is truncated and goes.
    assert sorted(p.name for p in (root / "train2017").iterdir()) == ["1.jpg", "2.jpg", "3.jpg"]
    assert [p.name for p in (root / "train2017_invalid").iterdir()] == ["4.jpg"]
    assert "train2017: 1 image(s) without annotations: 3.jpg" in out.stdout
    train = json.loads((root / "annotations/instances_train2017.json").read_text())
    assert [image["file_name"] for image in train["images"]] == ["1.jpg", "2.jpg", "3.jpg"]
    # The categories stay those of the dataset even though no box of label 3 is left.
    assert [(c["id"], c["original_id"], c["name"]) for c in train["categories"]] == [
        (1, 1, "person"), (2, 18, "dog"), (3, 90, "toothbrush")]
    assert sorted(a["category_id"] for a in train["annotations"]) == [1, 2, 2]
    assert (root / "labels.txt").read_text() == "person\ndog\ntoothbrush\n"
    assert not list(root.glob("*.zip"))

    requests_made = len(server.requests)
    again = run_script("setup_coco", "--path", root, "--base-url", server.url, "--num-workers", 1)
    assert again.returncode == 0, again.stderr
    assert len(server.requests) == requests_made
    assert "train2017: already validated" in again.stdout
    assert again.stdout.strip().splitlines()[-1].strip() == command
