import contextlib
import copy
import io
import logging

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from eval_helpers import load_json, noisy_detections, remapped, to_remapped_ids
from vision.evaluation.coco_metrics import STAT_NAMES, coco_metrics, summary_lines
from vision.evaluation.ground_truth import check_annotations
from vision.evaluation.results import results_from_coco


def pycocotools_eval(ground_truth: dict, detections: list, image_ids=None, category_ids=None):
    """Plain pycocotools, as its README runs it; returns the evaluator and what summarize printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        coco = COCO()
        coco.dataset = copy.deepcopy(ground_truth)
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(copy.deepcopy(detections)), "bbox")
        if image_ids is not None:
            evaluator.params.imgIds = image_ids
        if category_ids is not None:
            evaluator.params.catIds = category_ids
        evaluator.evaluate()
        evaluator.accumulate()
        start = printed.tell()
        evaluator.summarize()
    return evaluator, printed.getvalue()[start:].splitlines()


def reference_per_class(evaluator) -> dict:
    precision = evaluator.eval["precision"]
    per_class = {}
    for k, category_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, 0, -1]
        at_50 = values[0]
        per_class[category_id] = (values[values > -1].mean() if (values > -1).any() else -1,
                                  at_50[at_50 > -1].mean() if (at_50 > -1).any() else -1)
    return per_class


@pytest.fixture(scope="module")
def train_truth(coco128):
    return check_annotations(load_json(coco128 / "annotations" / "instances_train2017.json"), "train")


@pytest.mark.parametrize("backend", ["faster-coco-eval", "pycocotools"])
@pytest.mark.parametrize("remap", [False, True], ids=["raw ids", "remapped ids"])
def test_equals_pycocotools_on_coco128(train_truth, backend, remap):
    truth = remapped(train_truth) if remap else train_truth
    detections = noisy_detections(train_truth)
    if remap:
        detections = to_remapped_ids(detections, truth)
    image_ids = [image["id"] for image in truth["images"]]
    category_ids = [category["id"] for category in truth["categories"]]
    ours = coco_metrics(truth, results_from_coco(detections, "test"), image_ids, category_ids, backend)
    reference, _ = pycocotools_eval(truth, detections)
    assert 0.1 < ours.stats["AP"] < 0.9  # a meaningful case: neither all found nor none
    np.testing.assert_allclose([ours.stats[name] for name in STAT_NAMES], reference.stats, rtol=0, atol=1e-9)
    expected = reference_per_class(reference)
    assert ours.per_class.keys() == expected.keys()
    np.testing.assert_allclose(list(ours.per_class.values()), list(expected.values()), rtol=0, atol=1e-9)
    at_50 = reference.eval["precision"][0, :, :, :, -1]  # [recall, category, area]: AP50 by size
    expected_by_size = [at_50[:, :, area][at_50[:, :, area] > -1].mean() for area in (1, 2, 3)]
    np.testing.assert_allclose([ours.ap50_by_size[size] for size in ("small", "medium", "large")],
                               expected_by_size, rtol=0, atol=1e-9)
    assert ours.ap50_by_size["small"] != ours.ap50_by_size["large"]


def test_remapping_changes_no_number(train_truth):
    detections = noisy_detections(train_truth, seed=1)
    raw = coco_metrics(train_truth, results_from_coco(detections, "raw"),
                       [image["id"] for image in train_truth["images"]],
                       [category["id"] for category in train_truth["categories"]])
    truth = remapped(train_truth)
    mapped = coco_metrics(truth, results_from_coco(to_remapped_ids(detections, truth), "remapped"),
                          [image["id"] for image in truth["images"]],
                          [category["id"] for category in truth["categories"]])
    assert mapped.stats == raw.stats
    assert list(mapped.per_class.values()) == list(raw.per_class.values())


def test_a_subset_of_images_and_categories_equals_pycocotools(train_truth):
    detections = noisy_detections(train_truth, seed=2)
    image_ids = [image["id"] for image in train_truth["images"]][::3]
    category_ids = [1, 3, 62, 84]  # person, car, chair, book
    ours = coco_metrics(train_truth, results_from_coco(detections, "test"), image_ids, category_ids)
    reference, _ = pycocotools_eval(train_truth, detections, image_ids, category_ids)
    np.testing.assert_allclose([ours.stats[name] for name in STAT_NAMES], reference.stats, rtol=0, atol=1e-9)
    assert sorted(ours.per_class) == category_ids


def test_summary_is_printed_as_cocoeval_prints_it(train_truth):
    detections = noisy_detections(train_truth, seed=3)
    ours = coco_metrics(train_truth, results_from_coco(detections, "test"),
                        [image["id"] for image in train_truth["images"]],
                        [category["id"] for category in train_truth["categories"]])
    _, printed = pycocotools_eval(train_truth, detections)
    assert summary_lines(ours.stats) == printed


def test_no_detections_give_zeros_and_a_warning(train_truth, caplog):
    with caplog.at_level(logging.WARNING):
        metrics = coco_metrics(train_truth, results_from_coco([], "empty"), [9, 25], [1, 2, 90])
    assert "no detections" in caplog.text
    assert set(metrics.stats.values()) == {0.0}
    # image 9 and 25 hold no bicycle (2) nor toothbrush (90): those have no AP at all
    persons = [a for a in train_truth["annotations"] if a["image_id"] in (9, 25) and a["category_id"] == 1]
    assert metrics.per_class == {1: (0.0, 0.0) if persons else (-1.0, -1.0), 2: (-1.0, -1.0), 90: (-1.0, -1.0)}
