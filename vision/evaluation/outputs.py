"""The files an evaluation leaves in its output directory."""
from pathlib import Path

from vision.utils.fileio import atomic_write_json, atomic_write_text
from vision.visualize.draw import draw_evaluated

from . import plots
from .ground_truth import GroundTruth
from .results import Results, write_results
from .summary import Evaluation, table_lines

METRICS_NAME = "metrics.json"
DETECTIONS_NAME = "detections.json"
TABLE_NAME = "per_class.txt"
CURVES_DIR = "pr_curves"
IMAGES_DIR = "images"


def write_report(directory: Path, evaluation: Evaluation, written_results: Results | None = None) -> list[Path]:
    """metrics.json, per_class.txt, pr_curves/*.png, and detections.json when results are given."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / METRICS_NAME, evaluation.metrics, indent=2)
    atomic_write_text(directory / TABLE_NAME, "\n".join(table_lines(evaluation.table)) + "\n")
    paths = [directory / METRICS_NAME, directory / TABLE_NAME]
    if written_results is not None:
        write_results(directory / DETECTIONS_NAME, written_results)
        paths.append(directory / DETECTIONS_NAME)
    names = {row.category_id: row.name for row in evaluation.table}
    curves = {names[category_id]: curve for category_id, curve in evaluation.voc.per_class.items()}
    plots.plot_curves(directory / CURVES_DIR, curves, evaluation.voc.overall, evaluation.iou_threshold)
    return [*paths, directory / CURVES_DIR]


def write_images(directory: Path, dataset, positions: list[int], truth: GroundTruth, results: Results,
                 count: int) -> Path:
    """The first `count` evaluated images with their true boxes (of the classes scored) and their
    detections drawn."""
    names = {category["id"]: category["name"] for category in truth.coco["categories"]}
    scored = set(truth.category_of_label.values())
    for position in positions[:count]:
        item = dataset[position]
        if item is None:
            continue
        image_id = truth.image_ids[position]
        true_boxes = [_corners(annotation["bbox"]) for annotation in truth.coco["annotations"]
                      if annotation["image_id"] == image_id and annotation["category_id"] in scored]
        mine = (results.image_ids == image_id) & (results.scores >= plots.DRAWN_SCORE)
        predicted = [(box, names[category_id], score) for box, category_id, score in
                     zip(results.corners()[mine].tolist(), results.category_ids[mine].tolist(),
                         results.scores[mine].tolist())]
        rgb = item[0].permute(1, 2, 0).numpy()
        plots.save_image(directory / IMAGES_DIR / f"{image_id}.jpg", draw_evaluated(rgb, true_boxes, predicted))
    return directory / IMAGES_DIR


def _corners(bbox) -> list[float]:
    x, y, width, height = bbox
    return [x, y, x + width, y + height]
