"""Detect objects with a trained SSD, or its ONNX export, in images, directories of images and videos.

    python3 run_ssd_example.py mb1-ssd models/fruit/checkpoint-best.pth models/fruit/labels.txt photo.jpg
    python3 run_ssd_example.py mb1-ssd models/fruit/ssd-mobilenet.onnx models/fruit/labels.txt clip.mp4 --onnx

Prints every detection and writes annotated copies: run_ssd_example_output.jpg for one image (as the
earlier tools did), run_ssd_example_output.mp4 for one video, a run_ssd_example_output/ directory
for several inputs; --output chooses another file or directory.
"""
import logging
import os
import sys

from vision.cli import OneLineParser, run_main
from vision.utils.pixel_limit import max_image_pixels
from vision.visualize.annotate import InputError, annotate, plan

PROG = "run_ssd_example.py"


def parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("net", help="net type, e.g. mb1-ssd (for --onnx it gives the input mean/std)")
    parser.add_argument("model", help="checkpoint or state_dict (.pth), or with --onnx the exported .onnx")
    parser.add_argument("labels", help="the model's labels.txt, BACKGROUND first")
    parser.add_argument("inputs", nargs="+", metavar="input", help="image, directory of images or video")
    parser.add_argument("--onnx", action="store_true", help="run MODEL, an .onnx export, with onnxruntime")
    parser.add_argument("--threshold", type=float, default=0.4, help="lowest score shown (default 0.4)")
    parser.add_argument("--output", help="output file (one input) or directory")
    args = parser.parse_args(argv)
    if not 0.0 <= args.threshold < 1.0:
        parser.error(f"--threshold must be in [0, 1), got {args.threshold}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(format=f"{PROG}: warning: %(message)s", level=logging.WARNING)
    return run_main(PROG, lambda: _run(args))


def _run(args) -> int:
    for path in (args.model, args.labels):
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
    jobs = plan(args.inputs, args.output)
    max_image_pixels()
    # Only now load the detector: torch takes seconds to load, and the checks above should answer at once.
    detector, names = load_detector(args)
    for source, destination in jobs:
        annotate(detector, names, source, destination)
        print(f"wrote {destination}")
    return 0


def load_detector(args):
    """Something with .predict(rgb image) -> Detections, and the model's labels."""
    from vision.ssd.loading import ModelError, load_model, read_model_labels
    if not args.onnx:
        from vision.inference.pipeline import Predictor
        net, names = load_model(args.model, args.net, args.labels)
        return Predictor(net, score_threshold=args.threshold), names
    from vision.inference.pipeline import OnnxDetector
    names = read_model_labels(args.labels)
    detector = OnnxDetector(args.model, args.net, args.threshold)
    if detector.num_classes != len(names):
        raise ModelError(f"{args.model} has {detector.num_classes} classes (BACKGROUND included), "
                         f"{args.labels} lists {len(names)}; pass the labels.txt it was exported with")
    return detector, names


if __name__ == "__main__":
    sys.exit(main())
