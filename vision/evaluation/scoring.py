"""eval_ssd.py --detections FILE --annotations FILE: saved detections scored without a model.

Free of torch, so that scoring a results file starts at once.
"""
from pathlib import Path

import numpy as np

from .category_ids import original_ids
from .errors import EvaluationError
from .ground_truth import read_annotations
from .outputs import write_report
from .results import Results, read_results
from .summary import evaluate


def run_on_detections(args) -> list[str]:
    """Score args.detections on every image and category of args.annotations; returns the report lines."""
    annotations = read_annotations(args.annotations)
    results = read_results(args.detections)
    if args.original_ids:
        results = _from_original_ids(results, annotations, args.detections)
    image_ids = [image["id"] for image in annotations["images"]]
    category_ids = [category["id"] for category in annotations["categories"]]
    _check_ids(results, image_ids, category_ids, args.detections, args.annotations)
    evaluation = evaluate(annotations, results, image_ids, category_ids, args.iou_threshold, args.voc_devkit,
                          args.backend)
    paths = write_report(Path(args.output_dir), evaluation)
    return [*evaluation.lines(), "", *(f"wrote {path}" for path in paths)]


def _from_original_ids(results: Results, annotations: dict, source) -> Results:
    to_file = {original: file_id for file_id, original in original_ids(annotations["categories"]).items()}
    unknown = sorted(set(results.category_ids.tolist()) - to_file.keys())
    if unknown:
        raise EvaluationError(f"{source}: category ids {some(unknown)} are not original ids of the annotations' "
                              f"categories")
    return results.with_category_ids(to_file)


def _check_ids(results: Results, image_ids, category_ids, source, annotations_path) -> None:
    for what, used, known in (("image", results.image_ids, image_ids),
                              ("category", results.category_ids, category_ids)):
        unknown = np.setdiff1d(used, np.asarray(known, dtype=np.int64))
        if unknown.size:
            raise EvaluationError(f"{source}: detections for {what} ids that {annotations_path} does not "
                                  f"have: {some(unknown.tolist())}")


def some(values: list, shown: int = 5) -> str:
    """The first few values, and how many more there are."""
    text = ", ".join(str(value) for value in values[:shown])
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")
