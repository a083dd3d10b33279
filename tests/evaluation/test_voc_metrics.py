import numpy as np
import pytest

from vision.evaluation.results import Results
from vision.evaluation.voc_metrics import average_precision, average_precision_07, voc_metrics


def truth(boxes, image_ids=None, categories=None, crowd=None) -> dict:
    """A COCO ground truth from corner boxes."""
    count = len(boxes)
    image_ids = image_ids or [1] * count
    categories = categories or [1] * count
    crowd = crowd or [0] * count
    return {
        "images": [{"id": image_id} for image_id in sorted(set(image_ids))],
        "categories": [{"id": category_id, "name": f"c{category_id}"} for category_id in sorted(set(categories))],
        "annotations": [{"id": n + 1, "image_id": image_id, "category_id": category_id,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": flag}
                        for n, ((x1, y1, x2, y2), image_id, category_id, flag)
                        in enumerate(zip(boxes, image_ids, categories, crowd))],
    }


def detections(boxes, scores, image_ids=None, categories=None) -> Results:
    count = len(boxes)
    corners = np.array(boxes, dtype=float).reshape(-1, 4)
    return Results(np.array(image_ids or [1] * count), np.array(categories or [1] * count),
                   np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1),
                   np.array(scores, float))


def test_all_point_and_11_point_ap_by_hand():
    # Four detections: hit, miss, miss, hit on two boxes.
    precision = np.array([1, 1 / 2, 1 / 3, 1 / 2])
    recall = np.array([0.5, 0.5, 0.5, 1.0])
    # all-point: recall 0 -> 0.5 at precision 1, 0.5 -> 1 at the best precision after it, 1/2
    assert average_precision(precision, recall) == pytest.approx(0.75, abs=1e-15)
    # 11-point: recall >= 0, 0.1, ..., 0.5 reach precision 1; 0.6 ... 1.0 reach 1/2
    assert average_precision_07(precision, recall) == pytest.approx((6 * 1 + 5 * 0.5) / 11, abs=1e-15)
    assert average_precision(np.array([]), np.array([])) == 0.0
    assert average_precision_07(np.array([]), np.array([])) == 0.0


def test_matching_by_hand():
    gt = truth([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], crowd=[0, 0, 1])
    found = detections([[0, 0, 10, 10],     # 0.9: true positive, claims box A
                        [1, 0, 10, 10],     # 0.8: best box A again: false positive (duplicate)
                        [40, 0, 50, 10],    # 0.7: on the difficult box: ignored
                        [60, 60, 70, 70],   # 0.6: overlaps nothing: false positive
                        [20, 0, 30, 10]],   # 0.5: true positive, box B
                       [0.9, 0.8, 0.7, 0.6, 0.5])
    for devkit in (False, True):
        metrics = voc_metrics(gt, found, [1], [1], devkit=devkit)
        curve = metrics.per_class[1]
        assert curve.ground_truth == 2
        np.testing.assert_allclose(curve.precision, [1, 1 / 2, 1 / 3, 1 / 2])
        np.testing.assert_allclose(curve.recall, [0.5, 0.5, 0.5, 1.0])
        assert metrics.mAP == pytest.approx(0.75) and metrics.mAP07 == pytest.approx(8.5 / 11)


@pytest.mark.parametrize("true_box, detected, earlier_tools, devkit", [
    # IoU 50/100 = 0.5 less the earlier tools' epsilon: not > 0.5. With +1: 66/121 = 0.545.
    ([0, 0, 10, 10], [0, 0, 10, 5], 0.0, 1.0),
    # In pixel counts (+1): 50/100 = 0.5 exactly, which VOCevaldet's >= accepts. Without: 36/81.
    ([0, 0, 9, 9], [0, 0, 9, 4], 0.0, 1.0),
    # 60/100 (66/121 with +1): a match under both conventions.
    ([0, 0, 10, 10], [0, 0, 10, 6], 1.0, 1.0),
])
def test_conventions_differ_at_the_threshold(true_box, detected, earlier_tools, devkit):
    gt = truth([true_box])
    found = detections([detected], [0.9])
    assert voc_metrics(gt, found, [1], [1], devkit=False).mAP == earlier_tools
    assert voc_metrics(gt, found, [1], [1], devkit=True).mAP == devkit


def test_wrong_image_or_class_is_a_false_positive_and_classes_without_truth_are_left_out():
    gt = truth([[0, 0, 10, 10], [0, 0, 10, 10]], image_ids=[1, 2], categories=[1, 2])
    found = detections([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8, 0.7],
                       image_ids=[2, 1, 1], categories=[1, 1, 3])
    metrics = voc_metrics(gt, found, [1, 2], [1, 2, 3])
    assert sorted(metrics.per_class) == [1, 2]  # class 3 has no ground truth
    np.testing.assert_allclose(metrics.per_class[1].precision, [0, 1 / 2])  # image 2 holds no class 1
    assert metrics.per_class[2].ap == 0.0  # never detected
    assert metrics.mAP == pytest.approx((0.5 + 0.0) / 2)


def reference_voc_ap(gt: dict, found: Results, category_id: int, threshold: float, devkit: bool):
    """The earlier tools' eval_ssd.py loop (or VOCevaldet's, with devkit), one detection at a time."""
    boxes = {}
    for annotation in gt["annotations"]:
        if annotation["category_id"] == category_id:
            x, y, w, h = annotation["bbox"]
            boxes.setdefault(annotation["image_id"], []).append(([x, y, x + w, y + h], annotation["iscrowd"]))
    positives = sum(not difficult for image in boxes.values() for _, difficult in image)
    rows = [i for i in range(len(found)) if found.category_ids[i] == category_id]
    rows.sort(key=lambda i: -found.scores[i])
    claimed, outcome = set(), []
    for i in rows:
        candidates = boxes.get(int(found.image_ids[i]), [])
        best, best_index = -np.inf, None
        for j, (box, _) in enumerate(candidates):
            overlap = reference_iou(found.corners()[i], box, devkit)
            if overlap is not None and overlap > best:
                best, best_index = overlap, j
        if best_index is not None and (best >= threshold if devkit else best > threshold):
            if candidates[best_index][1]:
                continue
            outcome.append((int(found.image_ids[i]), best_index) not in claimed)
            claimed.add((int(found.image_ids[i]), best_index))
        else:
            outcome.append(False)
    tp = np.cumsum(outcome)
    fp = np.cumsum(np.logical_not(outcome))
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = tp / positives
    return loop_ap(precision, recall), loop_ap07(precision, recall)


def reference_iou(a, b, devkit):
    if devkit:
        width = min(a[2], b[2]) - max(a[0], b[0]) + 1
        height = min(a[3], b[3]) - max(a[1], b[1]) + 1
        if width <= 0 or height <= 0:
            return None
        union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - width * height
        return width * height / union
    width = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
    height = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / (union + 1e-5)


def loop_ap(precision, recall):
    """measurements.compute_average_precision, loop for loop."""
    precision = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(precision) - 1, 0, -1):
        precision[i - 1] = np.maximum(precision[i - 1], precision[i])
    recall = np.concatenate([[0.0], recall, [1.0]])
    changing_points = np.where(recall[1:] != recall[:-1])[0]
    return ((recall[changing_points + 1] - recall[changing_points]) * precision[changing_points + 1]).sum()


def loop_ap07(precision, recall):
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        ap += (0 if np.sum(recall >= t) == 0 else np.max(precision[recall >= t])) / 11.0
    return ap


@pytest.mark.parametrize("devkit", [False, True], ids=["pytorch-ssd", "devkit"])
def test_equals_a_detection_by_detection_loop_on_random_data(devkit):
    rng = np.random.default_rng(7)
    corners, image_ids, categories, crowd = [], [], [], []
    for image_id in range(1, 41):
        for _ in range(rng.integers(0, 6)):
            x, y = rng.integers(0, 80, 2)
            corners.append([x, y, x + rng.integers(4, 40), y + rng.integers(4, 40)])
            image_ids.append(image_id)
            categories.append(int(rng.integers(1, 4)))
            crowd.append(int(rng.random() < 0.15))
    gt = truth(corners, image_ids, categories, crowd)
    jittered = np.array(corners, float) + rng.normal(0, 3, (len(corners), 4)).round()
    extra = rng.integers(0, 100, (150, 2))
    found_boxes = np.concatenate([jittered, jittered[:60] + 1, np.concatenate([extra, extra + 20], axis=1)])
    count = len(found_boxes)
    found = detections(found_boxes.tolist(), rng.integers(1, 30, count) / 30,  # many equal scores
                       [*image_ids, *image_ids[:60], *rng.integers(1, 41, 150).tolist()],
                       [*categories, *categories[:60], *rng.integers(1, 4, 150).tolist()])
    metrics = voc_metrics(gt, found, range(1, 41), [1, 2, 3], devkit=devkit)
    for category_id in (1, 2, 3):
        ap, ap07 = reference_voc_ap(gt, found, category_id, 0.5, devkit)
        assert metrics.per_class[category_id].ap == pytest.approx(ap, abs=1e-12)
        assert metrics.per_class[category_id].ap07 == pytest.approx(ap07, abs=1e-12)
