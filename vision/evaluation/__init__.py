"""Evaluation: COCO metrics (faster-coco-eval or pycocotools), VOC AP (the earlier tools' or the devkit's
conventions), and the runs that produce the detections (a net, an ONNX export, detectNet emulated).

    from vision.evaluation import evaluate_model
    metrics = evaluate_model(net, validation_dataset, batch_size=16)   # {"coco": {"AP", ...}, "voc": {...}}

Modules: ground_truth (COCO instances from any dataset), results (detections in COCO's results
format), coco_metrics, voc_metrics, summary (both, and the per-class table), inference (pipelines),
jetson (detectNet's pre- and post-processing), plots, outputs, runner (evaluate_model and
eval_ssd.py's model mode), scoring (its saved-detections mode, without torch); the command line is
vision/commands/eval.py.
"""


def __getattr__(name: str):
    # Loaded on first use: the command line checks its options before torch's slow import.
    if name == "evaluate_model":
        from .runner import evaluate_model
        return evaluate_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["evaluate_model"]
