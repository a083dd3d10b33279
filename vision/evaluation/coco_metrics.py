"""COCO's 12 detection metrics, computed by faster-coco-eval (default) or pycocotools.

Both give the same numbers on the same detections (the tests hold them to 1e-9); faster-coco-eval
does the matching in C++ and is many times faster on a full validation set.
"""
import contextlib
import io
import logging
from dataclasses import dataclass

import numpy as np

from .results import Results

log = logging.getLogger(__name__)

BACKENDS = ("faster-coco-eval", "pycocotools")
SIZE_NAMES = ("small", "medium", "large")  # COCOeval's area ranges 1..3 (0 is all)
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# (title, IoU, area, max detections) of each stat, in COCOeval.summarize's order and wording.
_SUMMARY = [("Average Precision  (AP)", iou, area, dets) for iou, area, dets in (
    ("0.50:0.95", "all", 100), ("0.50", "all", 100), ("0.75", "all", 100),
    ("0.50:0.95", "small", 100), ("0.50:0.95", "medium", 100), ("0.50:0.95", "large", 100))] + [
    ("Average Recall     (AR)", "0.50:0.95", area, dets) for area, dets in (
        ("all", 1), ("all", 10), ("all", 100), ("small", 100), ("medium", 100), ("large", 100))]


@dataclass
class CocoMetrics:
    stats: dict[str, float]  # STAT_NAMES -> value; -1 where no ground truth applies, as COCOeval gives
    per_class: dict[int, tuple[float, float]]  # category id -> (AP, AP50), -1 without ground truth
    ap50_by_size: dict[str, float]  # SIZE_NAMES -> AP50, -1 as above (the 12 stats split AP@[.50:.95] only)


def coco_metrics(ground_truth: dict, results: Results, image_ids, category_ids,
                 backend: str = BACKENDS[0]) -> CocoMetrics:
    """The metrics of `results` on the images and categories given (the ids of `ground_truth`)."""
    image_ids, category_ids = sorted(set(image_ids)), sorted(set(category_ids))
    if len(results) == 0:
        log.warning("no detections to evaluate: the COCO metrics are all 0")
        return _zeros(ground_truth, image_ids, category_ids)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: one of {', '.join(BACKENDS)}")
    run = _faster_coco_eval if backend == BACKENDS[0] else _pycocotools
    evaluator = run(_fresh(ground_truth), results.to_coco(), image_ids, category_ids)
    stats = dict(zip(STAT_NAMES, (float(value) for value in evaluator.stats[:len(STAT_NAMES)])))
    precision = evaluator.eval["precision"]
    return CocoMetrics(stats, _per_class(precision, evaluator.params.catIds), _ap50_by_size(precision))


def summary_lines(stats: dict[str, float]) -> list[str]:
    """The stats as COCOeval.summarize prints them."""
    return [f" {title:<18} @[ IoU={iou:<9} | area={area:>6s} | maxDets={dets:>3d} ] = {stats[name]:0.3f}"
            for name, (title, iou, area, dets) in zip(STAT_NAMES, _SUMMARY)]


def _faster_coco_eval(ground_truth: dict, detections: list, image_ids, category_ids):
    from faster_coco_eval import COCO, COCOeval_faster
    coco = COCO(ground_truth)
    evaluator = COCOeval_faster(coco, coco.loadRes(detections), "bbox", print_function=log.debug)
    return _run(evaluator, image_ids, category_ids)


def _pycocotools(ground_truth: dict, detections: list, image_ids, category_ids):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):  # it prints progress and the summary
        coco = COCO()
        coco.dataset = ground_truth
        coco.createIndex()
        return _run(COCOeval(coco, coco.loadRes(detections), "bbox"), image_ids, category_ids)


def _run(evaluator, image_ids, category_ids):
    evaluator.params.imgIds = list(image_ids)
    evaluator.params.catIds = list(category_ids)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator


def _fresh(ground_truth: dict) -> dict:
    """A copy whose annotations the COCO APIs may mark (they add an `ignore` key)."""
    return {**ground_truth, "annotations": [dict(annotation) for annotation in ground_truth["annotations"]]}


def _per_class(precision: np.ndarray, category_ids) -> dict[int, tuple[float, float]]:
    """AP and AP50 per category from COCOeval's precision [IoU, recall, category, area, max dets]."""
    per_class = {}
    for k, category_id in enumerate(category_ids):
        all_ious = precision[:, :, k, 0, -1]
        at_50 = all_ious[0]
        per_class[int(category_id)] = (_mean_present(all_ious), _mean_present(at_50))
    return per_class


def _ap50_by_size(precision: np.ndarray) -> dict[str, float]:
    """AP50 of each object size, as COCOeval.summarize computes APs/APm/APl but at IoU 0.5 alone."""
    return {size: _mean_present(precision[0, :, :, area, -1]) for area, size in enumerate(SIZE_NAMES, start=1)}


def _mean_present(values: np.ndarray) -> float:
    present = values[values > -1]
    return float(present.mean()) if present.size else -1.0


def _zeros(ground_truth: dict, image_ids, category_ids) -> CocoMetrics:
    images = set(image_ids)
    with_boxes = {annotation["category_id"] for annotation in ground_truth["annotations"]
                  if annotation["image_id"] in images and not annotation.get("iscrowd", 0)}
    per_class = {category_id: (0.0, 0.0) if category_id in with_boxes else (-1.0, -1.0)
                 for category_id in category_ids}
    return CocoMetrics(dict.fromkeys(STAT_NAMES, 0.0), per_class, dict.fromkeys(SIZE_NAMES, 0.0))
