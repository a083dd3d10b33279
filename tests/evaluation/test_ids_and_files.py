import json

import numpy as np
import pytest

from eval_helpers import load_json, remapped
from vision.datasets import DatasetError
from vision.evaluation.category_ids import COCO_CATEGORY_IDS, original_ids
from vision.evaluation.errors import EvaluationError
from vision.evaluation.ground_truth import check_annotations, read_annotations
from vision.evaluation.results import Results, read_results, write_results
from vision.utils.jsonfile import JsonReadError


@pytest.fixture(scope="module")
def raw_categories(coco128):
    return load_json(coco128 / "annotations" / "instances_val2017.json")["categories"]


def test_original_ids_of_a_remapped_file_are_the_raw_ids(raw_categories):
    categories = remapped({"images": [], "annotations": [], "categories": raw_categories})["categories"]
    assert [category["id"] for category in categories] == list(range(1, 81))
    mapping = original_ids(categories)
    assert [mapping[label] for label in range(1, 81)] == [category["id"] for category in raw_categories]


def test_a_raw_file_keeps_its_ids_and_names_give_the_official_ids(raw_categories):
    assert original_ids(raw_categories) == {category["id"]: category["id"] for category in raw_categories}
    assert COCO_CATEGORY_IDS == {category["name"]: category["id"] for category in raw_categories}
    contiguous = [{"id": 1, "name": "dog"}, {"id": 2, "name": "toothbrush"}]  # remapped without original_id
    assert original_ids(contiguous) == {1: 18, 2: 90}


@pytest.mark.parametrize("categories, message", [
    ([{"id": 1, "name": "apple"}, {"id": 2, "name": "durian"}], "'durian'"),
    ([{"id": 1, "name": "dog"}, {"id": 2, "name": "hound", "original_id": 18}], "same original id"),
])
def test_original_ids_that_cannot_be_found_are_errors(categories, message):
    with pytest.raises(EvaluationError, match=message):
        original_ids(categories)


def test_written_detections_read_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    corners = np.sort(rng.uniform(0, 500, (50, 4)), axis=1)  # x1 < y1 < x2 < y2: valid corners
    results = Results.from_corners(rng.integers(1, 9, 50), rng.integers(1, 4, 50), corners, rng.random(50))
    assert np.array_equal(results.boxes, results.boxes.round(2)) and np.array_equal(results.scores,
                                                                                  results.scores.round(6))
    np.testing.assert_allclose(results.corners(), corners, atol=0.01)
    write_results(tmp_path / "detections.json", results)
    again = read_results(tmp_path / "detections.json")
    for name in ("image_ids", "category_ids", "boxes", "scores"):
        assert np.array_equal(getattr(again, name), getattr(results, name))


@pytest.mark.parametrize("content, message, error_type", [
    ("{not json", "detections file: not valid JSON", JsonReadError),
    ('{"image_id": 1}', "holds a dict", EvaluationError),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, {"image_id": 1}]', "detection 1 is",
     EvaluationError),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}]', "detection 0 is", EvaluationError),
    ('[{"image_id": "a", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]', "detection 0 is", EvaluationError),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 0.5}]', "negative width", EvaluationError),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]', "non-finite", EvaluationError),
])
def test_bad_detection_files_are_named(tmp_path, content, message, error_type):
    path = tmp_path / "detections.json"
    path.write_text(content)
    with pytest.raises(error_type, match=message) as error:
        read_results(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_annotations_are_checked_and_completed(tmp_path):
    data = {"images": [{"id": 5}], "categories": [{"id": 3, "name": "cat"}],
            "annotations": [{"id": 0, "image_id": 5, "category_id": 3, "bbox": [1, 2, 10, 20]},
                            {"id": 0, "image_id": 5, "category_id": 3, "bbox": [1, 2, 4, 5], "iscrowd": 1}]}
    checked = check_annotations(json.loads(json.dumps(data)), "test")
    # areas from the boxes, no crowd unless said, ids renumbered: 0 would read as "unmatched" in COCOeval
    assert [(a["id"], a["area"], a["iscrowd"]) for a in checked["annotations"]] == [(1, 200.0, 0), (2, 20.0, 1)]
    data["annotations"][0]["category_id"] = 4
    with pytest.raises(EvaluationError, match="category 4"):
        check_annotations(data, "test")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DatasetError, match="not a COCO instances file"):
        read_annotations(tmp_path / "list.json")
