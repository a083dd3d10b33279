"""PASCAL VOC average precision per class: the 2007 11-point AP and the all-point AP.

Two conventions:
- pytorch-ssd (default): the earlier tools' eval_ssd.py and measurements.py, so that numbers compare
  with their published ones (mb1-ssd 0.6755, mb2-ssd-lite 0.6861, vgg16-ssd 0.7726 on VOC2007 test):
  IoU = intersection / (area + area - intersection + 1e-5) without +1 in widths and heights, and a
  match needs IoU > threshold.
- devkit: the official VOC devkit's VOCevaldet.m: +1 in widths and heights, no epsilon, and a match
  needs IoU >= threshold (the py-faster-rcnn port voc_eval.py compares with >).
In both, detections are taken in decreasing score order (stable); each one is compared with the
ground truth of its image and class and takes the box it overlaps most (the first of equal ones).
Over the threshold, a `difficult` box makes it neither a true nor a false positive, an unclaimed box
makes it a true positive and claims the box, a claimed one a false positive; under it, or without
ground truth, it is a false positive. One difference from eval_ssd.py: where detections on difficult
boxes come first, it divided 0 by 0 (a NaN that made the 11-point AP NaN); precision is 0 there.

The matching is vectorized: a detection's best box does not depend on the order of the others, so
only "first claim" needs the score order, which a sort gives.
"""
from dataclasses import dataclass

import numpy as np

from .results import Results

TRUE_POSITIVE, FALSE_POSITIVE, IGNORED = 1, 0, -1
_EPS = 1e-5  # box_utils.iou_of's eps in the earlier tools


@dataclass
class Curve:
    precision: np.ndarray  # [D] after each detection, in decreasing score order
    recall: np.ndarray
    ground_truth: int      # boxes that count (not difficult)

    @property
    def ap(self) -> float:
        return average_precision(self.precision, self.recall)

    @property
    def ap07(self) -> float:
        return average_precision_07(self.precision, self.recall)


@dataclass
class VocMetrics:
    per_class: dict[int, Curve]  # category id -> its curve; categories without ground truth left out
    overall: Curve               # all classes pooled (for the overall precision-recall plot)

    @property
    def mAP(self) -> float:
        return _mean([curve.ap for curve in self.per_class.values()])

    @property
    def mAP07(self) -> float:
        return _mean([curve.ap07 for curve in self.per_class.values()])


def voc_metrics(ground_truth: dict, results: Results, image_ids, category_ids, iou_threshold: float = 0.5,
                devkit: bool = False) -> VocMetrics:
    """Per-class curves of `results` on the images and categories given; COCO crowd regions count
    as difficult."""
    image_ids, category_ids = sorted(set(image_ids)), sorted(set(category_ids))
    gt = _ground_truth_arrays(ground_truth, set(image_ids), set(category_ids))
    results = results.select(np.isin(results.image_ids, image_ids) & np.isin(results.category_ids, category_ids))
    rank = np.empty(len(results), dtype=np.int64)
    rank[np.argsort(-results.scores, kind="stable")] = np.arange(len(results))
    outcome = match(results, rank, gt, iou_threshold, devkit)
    counted = ~gt["difficult"]
    per_class = {}
    for category_id in category_ids:
        positives = int((counted & (gt["category_ids"] == category_id)).sum())
        if positives:
            mine = results.category_ids == category_id
            per_class[category_id] = _curve(outcome[mine], rank[mine], positives)
    return VocMetrics(per_class, _curve(outcome, rank, int(counted.sum())))


def match(results: Results, rank: np.ndarray, gt: dict, iou_threshold: float, devkit: bool) -> np.ndarray:
    """TRUE_POSITIVE, FALSE_POSITIVE or IGNORED for each detection; `rank` is its place in score order."""
    outcome = np.full(len(results), FALSE_POSITIVE)
    if len(results) == 0 or len(gt["boxes"]) == 0:
        return outcome
    det_keys, gt_keys = _group_keys(results, gt)
    order = np.argsort(gt_keys, kind="stable")  # grouped by (image, class), file order within a group
    gt_keys, gt_boxes, gt_difficult = gt_keys[order], gt["boxes"][order], gt["difficult"][order]
    best_iou, best_gt = _best_overlaps(results.corners(), det_keys, gt_keys, gt_boxes, devkit)
    passed = best_iou >= iou_threshold if devkit else best_iou > iou_threshold
    ignored = passed & gt_difficult[best_gt]
    claims = np.flatnonzero(passed & ~ignored)
    claims = claims[np.lexsort((rank[claims], best_gt[claims]))]  # by box, best score first
    first = np.ones(len(claims), dtype=bool)
    first[1:] = best_gt[claims][1:] != best_gt[claims][:-1]
    outcome[claims[first]] = TRUE_POSITIVE
    outcome[ignored] = IGNORED
    return outcome


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """The area under the precision envelope (VOC 2010+ and measurements.compute_average_precision)."""
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    recall = np.concatenate([[0.0], recall, [1.0]])
    changes = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1]))


def average_precision_07(precision: np.ndarray, recall: np.ndarray) -> float:
    """The mean of the best precision at recall >= 0, 0.1, ..., 1 (VOC 2007's 11 points), summed as
    measurements.compute_voc2007_average_precision and voc_eval.py do."""
    ap = 0.0
    for threshold in np.arange(0.0, 1.1, 0.1):
        reached = recall >= threshold
        ap += (float(precision[reached].max()) if reached.any() else 0.0) / 11.0
    return ap


def _curve(outcome: np.ndarray, rank: np.ndarray, positives: int) -> Curve:
    ordered = outcome[np.argsort(rank)]
    ordered = ordered[ordered != IGNORED]  # an ignored row repeats the row before: no point of its own
    true_positives = np.cumsum(ordered == TRUE_POSITIVE)
    false_positives = np.cumsum(ordered == FALSE_POSITIVE)
    precision = true_positives / np.maximum(true_positives + false_positives, np.finfo(np.float64).eps)
    return Curve(precision, true_positives / max(positives, 1), positives)


def _ground_truth_arrays(ground_truth: dict, image_ids: set, category_ids: set) -> dict:
    annotations = [annotation for annotation in ground_truth["annotations"]
                   if annotation["image_id"] in image_ids and annotation["category_id"] in category_ids]
    boxes = np.array([annotation["bbox"] for annotation in annotations], dtype=np.float64).reshape(-1, 4)
    return {
        "image_ids": np.array([annotation["image_id"] for annotation in annotations], dtype=np.int64),
        "category_ids": np.array([annotation["category_id"] for annotation in annotations], dtype=np.int64),
        "boxes": np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1),
        "difficult": np.array([bool(annotation.get("iscrowd", 0)) for annotation in annotations], dtype=bool),
    }


def _group_keys(results: Results, gt: dict) -> tuple[np.ndarray, np.ndarray]:
    """One integer per (image, category) pair, shared by detections and ground truth."""
    pairs = np.concatenate([np.stack([results.image_ids, results.category_ids], axis=1),
                            np.stack([gt["image_ids"], gt["category_ids"]], axis=1)])
    _, keys = np.unique(pairs, axis=0, return_inverse=True)
    keys = keys.reshape(-1)
    return keys[:len(results)], keys[len(results):]


def _best_overlaps(boxes: np.ndarray, det_keys, gt_keys, gt_boxes, devkit: bool):
    """Each detection's highest IoU with the ground truth of its group, and that box's index (the
    first of equal ones); -inf and 0 for detections without ground truth."""
    start = np.searchsorted(gt_keys, det_keys, side="left")
    count = np.searchsorted(gt_keys, det_keys, side="right") - start
    pair_det = np.repeat(np.arange(len(det_keys)), count)
    first_pair = np.cumsum(count) - count
    pair_gt = np.repeat(start - first_pair, count) + np.arange(count.sum())
    iou = _iou(boxes[pair_det], gt_boxes[pair_gt], devkit)
    best_iou = np.full(len(det_keys), -np.inf)
    best_gt = np.zeros(len(det_keys), dtype=np.int64)
    has_gt = count > 0
    if has_gt.any():
        best_iou[has_gt] = np.maximum.reduceat(iou, first_pair[has_gt])
        is_best = np.flatnonzero(iou == best_iou[pair_det])
        dets, first = np.unique(pair_det[is_best], return_index=True)
        best_gt[dets] = pair_gt[is_best[first]]
    return best_iou, best_gt


def _iou(a: np.ndarray, b: np.ndarray, devkit: bool) -> np.ndarray:
    one = 1.0 if devkit else 0.0  # the devkit counts pixels: a box from x1 to x2 is x2 - x1 + 1 wide
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + one
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + one
    intersection = np.clip(width, 0, None) * np.clip(height, 0, None)
    if devkit:  # VOCevaldet only considers boxes with a positive overlap
        union = _area(a, one) + _area(b, one) - intersection
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(intersection > 0, intersection / union, 0.0)
    union = _area(a, one, clip=True) + _area(b, one, clip=True) - intersection
    return intersection / (union + _EPS)


def _area(boxes: np.ndarray, one: float, clip: bool = False) -> np.ndarray:
    width, height = boxes[:, 2] - boxes[:, 0] + one, boxes[:, 3] - boxes[:, 1] + one
    return width.clip(0) * height.clip(0) if clip else width * height


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0
