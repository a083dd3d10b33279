#!/usr/bin/env python3
"""Detect objects with a trained SSD, or its ONNX export, in images, directories of images and videos.

    python3 run_ssd_example.py mb1-ssd models/fruit/checkpoint-best.pth models/fruit/labels.txt photo.jpg
    python3 run_ssd_example.py mb1-ssd models/fruit/ssd-mobilenet.onnx models/fruit/labels.txt clip.mp4 --onnx

Prints every detection and writes annotated copies: run_ssd_example_output.jpg for one image (as the
earlier tools did), run_ssd_example_output.mp4 for one video, a run_ssd_example_output/ directory
for several inputs; --output chooses another file or directory.
"""
import itertools
import logging
import os
import sys

import cv2

from vision.cli import OneLineParser, run_main
from vision.errors import UserError
from vision.utils.fileio import IMAGE_EXTENSIONS, atomic_write_image, staged_path
from vision.utils.pixel_limit import max_image_pixels, oversize_problem

PROG = "run_ssd_example.py"
DEFAULT_OUTPUT = "run_ssd_example_output"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
WRITABLE_VIDEO_EXTENSIONS = (".mp4", ".avi")  # mp4v and MJPG, which every OpenCV build writes
FALLBACK_FPS = 25.0  # for videos whose container does not say
COLORS = [(0, 0, 255), (0, 200, 0), (255, 0, 0), (0, 200, 255), (255, 0, 255), (255, 255, 0), (0, 128, 255)]


class InputError(UserError):
    """An input or output file that cannot be used; the message is one line."""


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
        process = annotate_video if _extension(source) in VIDEO_EXTENSIONS else annotate_image
        process(detector, names, source, destination)
        print(f"wrote {destination}")
    return 0


def plan(inputs: list[str], output: str | None) -> list[tuple[str, str]]:
    """(source, destination) per image or video to annotate."""
    sources = [source for path in inputs for source in _sources(path)]
    one_file = len(inputs) == 1 and not os.path.isdir(inputs[0])
    if one_file and not (output and os.path.isdir(output)):
        destination = output or DEFAULT_OUTPUT + _output_extension(sources[0])
        _check_output_name(sources[0], destination)
        return [(sources[0], destination)]
    directory = output or DEFAULT_OUTPUT
    if os.path.isfile(directory):
        raise InputError(f"{directory}: is a file; for several inputs --output must be a directory")
    jobs = [(source, os.path.join(directory, _output_name(source))) for source in sources]
    _check_distinct_destinations(jobs)
    return jobs


def _sources(path: str) -> list[str]:
    if os.path.isdir(path):
        names = sorted(name for name in os.listdir(path) if _extension(name) in IMAGE_EXTENSIONS)
        if not names:
            raise InputError(f"{path}: no images in this directory ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        return [os.path.join(path, name) for name in names]
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file or directory")
    if _extension(path) not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        raise InputError(f"{path}: not an image or video file name (known: "
                         f"{', '.join(sorted(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS))})")
    return [path]


def _check_distinct_destinations(jobs: list[tuple[str, str]]) -> None:
    """Inputs of one base name in different directories would overwrite each other's output."""
    source_of = {}
    for source, destination in jobs:
        earlier = source_of.setdefault(destination, source)
        if earlier != source:
            raise InputError(f"{earlier} and {source} would both be written to {destination}; "
                             "rename one or run them separately")


def _check_output_name(source: str, destination: str) -> None:
    is_video = _extension(source) in VIDEO_EXTENSIONS
    allowed = WRITABLE_VIDEO_EXTENSIONS if is_video else IMAGE_EXTENSIONS
    if _extension(destination) not in allowed:
        raise InputError(f"{destination}: not {'a video' if is_video else 'an image'} file name to write "
                         f"({', '.join(sorted(allowed))})")


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _output_extension(source: str) -> str:
    if _extension(source) in VIDEO_EXTENSIONS:
        return ".avi" if _extension(source) == ".avi" else ".mp4"
    return ".jpg"


def _output_name(source: str) -> str:
    stem, extension = os.path.splitext(os.path.basename(source))
    return stem + (_output_extension(source) if _extension(source) in VIDEO_EXTENSIONS else extension)


def load_detector(args):
    """Something with .predict(rgb image) -> Detections, and the model's labels."""
    from vision.ssd.loading import ModelError, load_model, read_model_labels
    if not args.onnx:
        from vision.ssd.predictor import Predictor
        net, names = load_model(args.model, args.net, args.labels)
        return Predictor(net, score_threshold=args.threshold), names
    from vision.export.onnx_detector import OnnxDetector
    names = read_model_labels(args.labels)
    detector = OnnxDetector(args.model, args.net, args.threshold)
    if detector.num_classes != len(names):
        raise ModelError(f"{args.model} has {detector.num_classes} classes (BACKGROUND included), "
                         f"{args.labels} lists {len(names)}; pass the labels.txt it was exported with")
    return detector, names


def annotate_image(detector, names: list[str], source: str, destination: str) -> None:
    too_large = oversize_problem(source)
    if too_large:
        raise InputError(f"{source}: {too_large}")
    image = cv2.imread(source, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{source}: cannot be read as an image")
    detections = detector.predict(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    report(source, detections, names)
    draw(image, detections, names)
    _make_parent(destination)
    atomic_write_image(destination, image)


def annotate_video(detector, names: list[str], source: str, destination: str) -> None:
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise InputError(f"{source}: cannot be opened as a video")
    try:
        frames = _annotated_frames(detector, names, source, capture)
        first = next(frames, None)  # the writer needs the frame size
        if first is None:
            raise InputError(f"{source}: no frame could be read")
        fps = capture.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
        _write_video(destination, itertools.chain([first], frames), fps, first.shape)
    finally:
        capture.release()


def _annotated_frames(detector, names: list[str], source: str, capture):
    """Each BGR frame of `capture` with its detections drawn, as they are printed."""
    for index in itertools.count():
        found, frame = capture.read()
        if not found:
            return
        detections = detector.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        report(f"{source} frame {index}", detections, names)
        draw(frame, detections, names)
        yield frame


def _write_video(path: str, frames, fps: float, shape) -> None:
    """The frames as a video at `path`, which appears complete or not at all."""
    _make_parent(path)
    codec = "MJPG" if _extension(path) == ".avi" else "mp4v"
    with staged_path(path) as staging:
        writer = cv2.VideoWriter(str(staging), cv2.VideoWriter_fourcc(*codec), fps, (shape[1], shape[0]))
        if not writer.isOpened():
            raise InputError(f"{path}: cannot write a {codec} video there")
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()


def _make_parent(path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)


def report(source: str, detections, names: list[str]) -> None:
    print(f"{source}: {len(detections.scores)} objects")
    for box, label, score in zip(detections.boxes.tolist(), detections.labels.tolist(),
                                 detections.scores.tolist()):
        x1, y1, x2, y2 = box
        print(f"  {names[label]}: {score:.2f} at ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})")


def draw(image, detections, names: list[str]) -> None:
    """Boxes and "label: score" on a BGR image, in place."""
    for box, label, score in zip(detections.boxes.tolist(), detections.labels.tolist(),
                                 detections.scores.tolist()):
        x1, y1, x2, y2 = (round(value) for value in box)
        color = COLORS[label % len(COLORS)]
        cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
        cv2.putText(image, f"{names[label]}: {score:.2f}", (x1 + 4, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, color, 2)


if __name__ == "__main__":
    sys.exit(main())
