"""All the metrics of one set of detections: COCO's, VOC's, and a per-class table."""
from dataclasses import dataclass

import numpy as np

from .coco_metrics import BACKENDS, CocoMetrics, coco_metrics, summary_lines
from .results import Results
from .voc_metrics import VocMetrics, voc_metrics

NO_VALUE = "-"


@dataclass
class ClassRow:
    name: str
    category_id: int
    ap: float          # COCO AP@[.50:.95]; -1 without ground truth
    ap50: float        # COCO AP@.50
    voc_ap: float | None  # VOC all-point AP at the IoU threshold; None without ground truth
    ground_truth: int  # boxes that count (crowd / difficult ones left out)
    detections: int


@dataclass
class Evaluation:
    coco: CocoMetrics
    voc: VocMetrics
    table: list[ClassRow]  # best COCO AP first, classes without ground truth last
    images: int
    detections: int
    iou_threshold: float
    devkit: bool
    backend: str

    @property
    def metrics(self) -> dict:
        """What metrics.json holds."""
        names = {row.category_id: row.name for row in self.table}
        return {
            "coco": dict(self.coco.stats),
            "coco_AP50_by_size": dict(self.coco.ap50_by_size),
            "voc": {"mAP": self.voc.mAP, "mAP07": self.voc.mAP07, "iou_threshold": self.iou_threshold,
                    "convention": "devkit" if self.devkit else "pytorch-ssd",
                    "per_class": {names[category_id]: {"AP": curve.ap, "AP07": curve.ap07}
                                  for category_id, curve in self.voc.per_class.items()}},
            "per_class": [row.__dict__ for row in self.table],
            "images": self.images,
            "detections": self.detections,
            "backend": self.backend,
        }

    def lines(self) -> list[str]:
        """The report printed after a run."""
        convention = "VOC devkit" if self.devkit else "pytorch-ssd eval_ssd.py"
        return [f"COCO metrics ({self.backend}) on {self.images} images, {self.detections} detections:",
                *summary_lines(self.coco.stats),
                f"VOC metrics at IoU {self.iou_threshold:g} ({convention} conventions): "
                f"mAP {self.voc.mAP:.4f} (all-point), mAP07 {self.voc.mAP07:.4f} (11-point)",
                "", *table_lines(self.table)]


def evaluate(ground_truth: dict, results: Results, image_ids, category_ids, iou_threshold: float = 0.5,
             devkit: bool = False, backend: str = BACKENDS[0]) -> Evaluation:
    """COCO and VOC metrics of `results` on the images and categories given (ids of `ground_truth`)."""
    image_ids, category_ids = sorted(set(image_ids)), sorted(set(category_ids))
    results = results.select(np.isin(results.image_ids, image_ids) & np.isin(results.category_ids, category_ids))
    coco = coco_metrics(ground_truth, results, image_ids, category_ids, backend)
    voc = voc_metrics(ground_truth, results, image_ids, category_ids, iou_threshold, devkit)
    names = {category["id"]: category["name"] for category in ground_truth["categories"]}
    table = _table(names, category_ids, coco, voc, results)
    return Evaluation(coco, voc, table, len(image_ids), len(results), iou_threshold, devkit, backend)


def table_lines(table: list[ClassRow]) -> list[str]:
    width = max([len("class"), *(len(row.name) for row in table)])
    lines = [f"{'class':<{width}}  {'AP':>6}  {'AP50':>6}  {'VOC AP':>6}  {'GT':>6}  {'detections':>10}"]
    for row in table:
        values = [_number(row.ap if row.ap >= 0 else None), _number(row.ap50 if row.ap50 >= 0 else None),
                  _number(row.voc_ap)]
        lines.append(f"{row.name:<{width}}  {values[0]:>6}  {values[1]:>6}  {values[2]:>6}  "
                     f"{row.ground_truth:>6}  {row.detections:>10}")
    return lines


def _table(names: dict, category_ids, coco: CocoMetrics, voc: VocMetrics, results: Results) -> list[ClassRow]:
    counts = dict(zip(*np.unique(results.category_ids, return_counts=True)))
    rows = []
    for category_id in category_ids:
        ap, ap50 = coco.per_class[category_id]
        curve = voc.per_class.get(category_id)
        rows.append(ClassRow(names[category_id], category_id, ap, ap50, curve.ap if curve else None,
                             curve.ground_truth if curve else 0, int(counts.get(category_id, 0))))
    return sorted(rows, key=lambda row: (row.ground_truth == 0, -row.ap, row.name))


def _number(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.4f}"
