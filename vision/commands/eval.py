"""eval_ssd.py's command line: options, their checks, and one-line errors (exit code 2).

Kept free of torch at import, so that mistakes in the options are reported at once.
"""
import logging
import os
import sys
from pathlib import Path

from vision.cli import OneLineParser, boolean, fail, resolve_device, run_main
from vision.evaluation.coco_metrics import BACKENDS

PROG = "eval_ssd.py"
TORCHVISION = "torchvision"  # --trained_model: torchvision's COCO weights (vision.ssd.weights.TORCHVISION)
NMS_METHODS = ("hard", "detectnet")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="COCO and VOC metrics of an SSD model, its ONNX export, or "
                                                  "saved detections")
    model = parser.add_argument_group("model (one of --trained_model, --onnx, --detections)")
    model.add_argument("--trained-model", "--trained_model", "--model", dest="trained_model",
                       help="our checkpoint, or a plain state_dict of the earlier tools, or 'torchvision': "
                            "torchvision's COCO model of --net ssdlite320-mb3-large or ssd300-vgg16")
    model.add_argument("--onnx", help="an export of onnx_export.py, run by onnxruntime")
    model.add_argument("--net", help="net type: read from our checkpoints; needed for plain state_dicts and for "
                                     "--onnx's input scaling (default mb1-ssd)")
    model.add_argument("--label-file", "--label_file", dest="label_file",
                       help="the model's labels.txt, BACKGROUND first (default: from the checkpoint)")
    model.add_argument("--resolution", type=int, help="input size of a plain state_dict (default the net's: 320 "
                                                       "for ssdlite320-mb3-large, else 300)")
    model.add_argument("--mb2-width-mult", "--mb2_width_mult", dest="width_mult", type=float,
                       help="mb2-ssd-lite width of a plain state_dict (default 1.0)")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", help="dataset root (COCO, VOC or Open Images layout)")
    data.add_argument("--dataset-type", "--dataset_type", dest="dataset_type",
                      help="coco, voc or open_images (default: detected from the layout)")
    data.add_argument("--split", default="val", help="split to evaluate (default val; VOC: val, else test)")
    data.add_argument("--detections", help="saved detections (COCO results format) to score, without a model")
    data.add_argument("--annotations", help="COCO instances file the --detections are scored against")
    run = parser.add_argument_group("inference")
    run.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=16)
    run.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    run.add_argument("--use-cuda", "--use_cuda", dest="use_cuda", type=boolean, default=True,
                     help="false runs on the CPU when --device is not given (the earlier tools' option)")
    run.add_argument("--workers", "--num-workers", "--num_workers", dest="workers", type=int, default=2,
                     help="data loading processes")
    run.add_argument("--nms-method", "--nms_method", dest="nms_method", choices=NMS_METHODS,
                     help="hard: per-class NMS (default); detectnet: detectNet's clustering at --threshold")
    run.add_argument("--score-threshold", "--score_threshold", dest="score_threshold", type=float, default=0.01)
    run.add_argument("--top-k", "--top_k", dest="top_k", type=int, default=200, help="detections per image")
    run.add_argument("--nms-iou", "--nms_iou", dest="nms_iou", type=float, default=0.45,
                     help="IoU above which per-class NMS drops the lower-scoring box (default 0.45)")
    run.add_argument("--candidates-per-class", "--candidates_per_class", dest="candidates_per_class", type=int,
                     default=200, help="best-scoring boxes per class that enter NMS (default 200)")
    run.add_argument("--resize", choices=("antialias", "torchvision"), default="antialias",
                     help="antialias: bilinear with antialiasing on uint8 (default, as the Predictor); "
                          "torchvision: its detection models' bilinear without antialiasing on float")
    run.add_argument("--threshold", type=float, default=0.5, help="detectNet's threshold (--jetson, detectnet)")
    run.add_argument("--jetson", action="store_true",
                     help="emulate detectNet: nearest resize, (px/255-0.5)/0.5, its thresholding and clustering")
    metrics = parser.add_argument_group("metrics and output")
    metrics.add_argument("--iou-threshold", "--iou_threshold", dest="iou_threshold", type=float, default=0.5,
                         help="IoU of a VOC match")
    metrics.add_argument("--voc-devkit", action="store_true",
                         help="the official VOC devkit's conventions instead of the earlier eval_ssd.py's")
    metrics.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0], help="COCO metrics implementation")
    metrics.add_argument("--original-ids", action="store_true",
                         help="detections.json in official COCO category ids (--detections: read them so)")
    metrics.add_argument("--output-dir", "--eval-dir", "--eval_dir", dest="output_dir", default="eval_results/")
    metrics.add_argument("--images", type=int, default=8, help="images drawn with their boxes (default 8)")
    return parser


def check_args(args) -> str | None:
    """The first problem with the options, or None."""
    sources = [name for name in ("trained_model", "onnx", "detections") if getattr(args, name)]
    if len(sources) != 1:
        return "give one of --trained_model, --onnx and --detections"
    if args.detections:
        if not args.annotations:
            return "--detections needs --annotations (the COCO instances file to score them against)"
        return (_missing_file(args.detections, "detections file")
                or _missing_file(args.annotations, "annotation file"))
    if not args.dataset:
        return "--dataset is required with a model"
    if args.onnx and not args.label_file:
        return "--onnx needs --label_file (the model's labels.txt, BACKGROUND first)"
    if args.jetson and args.nms_method == "hard":
        return "--jetson uses detectNet's clustering: leave out --nms-method hard"
    if args.trained_model == TORCHVISION and not args.net:
        return "--trained_model torchvision needs --net ssdlite320-mb3-large or ssd300-vgg16"
    model_file = None if args.trained_model == TORCHVISION else args.trained_model or args.onnx
    return (_missing_file(model_file, "model file")
            or _missing_file(args.label_file, "labels file") or _range_problem(args))


def _missing_file(path: str | None, what: str) -> str | None:
    if path is not None and not os.path.isfile(path):
        return f"{path}: no such {what}"
    return None


def _range_problem(args) -> str | None:
    checks = [(args.batch_size >= 1, "--batch-size must be at least 1"),
              (args.workers >= 0, "--workers cannot be negative"),
              (args.top_k >= 1, "--top-k must be at least 1"),
              (args.candidates_per_class >= 1, "--candidates-per-class must be at least 1"),
              (0 < args.nms_iou <= 1, "--nms-iou must be in (0, 1]"),
              (args.images >= 0, "--images cannot be negative"),
              (0 <= args.score_threshold < 1, "--score-threshold must be in [0, 1)"),
              (0 < args.threshold <= 1, "--threshold must be in (0, 1]"),
              (0 < args.iou_threshold <= 1, "--iou-threshold must be in (0, 1]")]
    return next((message for ok, message in checks if not ok), None)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    problem = check_args(args)
    if problem:
        return fail(PROG, problem)
    logging.basicConfig(format=f"{PROG}: %(levelname)s: %(message)s", level=logging.WARNING)
    return run_main(PROG, lambda: _evaluate(args))


def _evaluate(args) -> int:
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)  # a wrong --output-dir fails before the slow part
    if args.detections:
        from vision.evaluation.scoring import run_on_detections  # here: it loads OpenCV and matplotlib
        lines = run_on_detections(args)
    else:
        lines = _run_on_model(args)
    print("\n".join(lines))
    return 0


def _run_on_model(args) -> list[str]:
    # Imported only now: torch takes seconds to load, and the checks above should answer at once.
    from vision.evaluation.runner import run_on_model
    args.device = resolve_device(args.device, args.use_cuda)
    args.nms_method = "detectnet" if args.jetson else args.nms_method or "hard"
    return run_on_model(args)


if __name__ == "__main__":
    sys.exit(main())
