"""Evaluations of a model end to end: an in-memory net on a dataset (training's --validation-mean-ap),
and eval_ssd.py's model mode (a checkpoint or an ONNX export on a dataset)."""
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from vision.datasets import open_dataset
from vision.inference.detections import NMS_IOU_THRESHOLD, TOP_K
from vision.inference.pipeline import Pipeline, net_pipeline, onnx_pipeline, selection
from vision.inference.onnx_model import OnnxModel
from vision.ssd.loading import DEFAULT_NET, load_model, read_model_labels
from vision.ssd.weights import UNUSED_SLOT

from .category_ids import original_ids
from .coco_metrics import BACKENDS
from .errors import EvaluationError
from .ground_truth import GroundTruth, ground_truth
from .inference import collect, predict
from .outputs import write_images, write_report
from .results import Results
from .scoring import some
from .summary import Evaluation, evaluate

log = logging.getLogger("eval_ssd")


@dataclass
class DatasetRun:
    evaluation: Evaluation
    results: Results          # in the ground truth's category ids
    ground_truth: GroundTruth
    positions: list[int]      # the dataset positions evaluated (unreadable images are left out)


def evaluate_model(net, dataset, batch_size: int = 16, device=None, *, score_threshold: float = 0.01,
                   nms_iou_threshold: float = NMS_IOU_THRESHOLD, top_k: int = TOP_K, workers: int = 0,
                   iou_threshold: float = 0.5, voc_devkit: bool = False, backend: str = BACKENDS[0],
                   progress: bool = False) -> dict:
    """The metrics (as in metrics.json: "coco" with AP, AP50, ..., "voc" with mAP, mAP07, per_class)
    of `net` on `dataset`, whose labels must be the net's (its class_names, BACKGROUND first).

    `net` may be in training or test mode, on any device (`device` defaults to the net's); its mode
    is restored afterwards. Nothing is written to disk.
    """
    if len(dataset.class_names) != net.num_classes:
        raise ValueError(f"the dataset has {len(dataset.class_names)} classes with BACKGROUND, the net "
                         f"{net.num_classes}: open it with the model's class order")
    was_training = net.training
    net.eval()
    try:
        select = selection("hard", score_threshold, nms_iou_threshold, top_k)
        pipeline = net_pipeline(net, device if device is not None else net.priors.device, select)
        run = run_pipeline(dataset, ground_truth(dataset), pipeline, batch_size, workers, progress, iou_threshold,
                           voc_devkit, backend)
    finally:
        net.train(was_training)
    return run.evaluation.metrics


def run_pipeline(dataset, truth: GroundTruth, pipeline: Pipeline, batch_size: int, workers: int, progress: bool,
                 iou_threshold: float, devkit: bool, backend: str) -> DatasetRun:
    if not truth.category_of_label:
        raise EvaluationError("none of the model's classes is in the dataset's annotations")
    predictions = predict(dataset, pipeline, batch_size, workers, progress)
    results, positions = collect(predictions, truth.image_ids, truth.category_of_label)
    if not positions:
        raise EvaluationError("no image of the dataset could be read")
    evaluation = evaluate(truth.coco, results, [truth.image_ids[p] for p in positions],
                          truth.category_of_label.values(), iou_threshold, devkit, backend)
    return DatasetRun(evaluation, results, truth, positions)


def run_on_model(args) -> list[str]:
    """eval_ssd.py with a model (--trained_model or --onnx) on --dataset; returns the report lines."""
    dataset = open_dataset(args.dataset, args.split, args.dataset_type)  # its errors come before the model loads
    pipeline, labels = _model_pipeline(args)
    map_to_model(dataset, labels)
    truth = ground_truth(dataset)
    to_official = original_ids(truth.coco["categories"]) if args.original_ids else None  # fails before inference
    run = run_pipeline(dataset, truth, pipeline, args.batch_size, args.workers, True, args.iou_threshold,
                       args.voc_devkit, args.backend)
    output_dir = Path(args.output_dir)
    written = run.results.with_category_ids(to_official) if to_official else run.results
    paths = write_report(output_dir, run.evaluation, written)
    if args.images:
        paths.append(write_images(output_dir, dataset, run.positions, run.ground_truth, run.results, args.images))
    return [*run.evaluation.lines(), "", *(f"wrote {path}" for path in paths)]


def map_to_model(dataset, labels: list[str]) -> None:
    """Relabel `dataset` by class name to the model's labels (BACKGROUND first)."""
    names, source = dataset.class_names[1:], dataset.annotation_file
    if not set(names) & set(labels[1:]):
        raise EvaluationError(f"{source}: none of its classes ({some(names)}) is one of the model's "
                              f"({some(labels[1:])}); is --label_file the model's labels.txt?")
    absent = [name for name in labels[1:] if name not in names and name != UNUSED_SLOT]
    if absent:
        log.warning("the model's classes %s are not in %s: they are not scored", some(absent), source)
    dataset.map_classes(labels[1:])


def _model_pipeline(args) -> tuple[Pipeline, list[str]]:
    select = selection(args.nms_method, args.score_threshold, args.nms_iou, args.top_k, args.threshold,
                       args.candidates_per_class)
    if args.onnx:
        model = OnnxModel(args.onnx)
        labels = read_model_labels(args.label_file)
        if model.num_classes != len(labels):
            raise EvaluationError(f"{args.onnx}: the model has {model.num_classes} classes (BACKGROUND "
                                  f"included), {args.label_file} lists {len(labels)}")
        return onnx_pipeline(model, args.net or DEFAULT_NET, select, args.jetson, args.resize), labels
    net, labels = load_model(args.trained_model, args.net, args.label_file, args.resolution, args.width_mult)
    device = torch.device(args.device)
    return net_pipeline(net.to(device), device, select, args.jetson, args.resize), labels
