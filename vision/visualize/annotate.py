"""Annotated copies of images and videos: what run_ssd_example.py writes where, and the writing.

Each detection is printed and drawn (vision.visualize.draw); a file appears complete or not at all.
Planned before torch loads, so that a wrong input or output is answered at once.
"""
import itertools
import os

import cv2

from vision.errors import UserError
from vision.utils.fileio import IMAGE_EXTENSIONS, atomic_write_image, staged_path
from vision.utils.pixel_limit import oversize_problem
from vision.visualize.draw import draw_detections

DEFAULT_OUTPUT = "run_ssd_example_output"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
WRITABLE_VIDEO_EXTENSIONS = (".mp4", ".avi")  # mp4v and MJPG, which every OpenCV build writes
FALLBACK_FPS = 25.0  # for videos whose container does not say


class InputError(UserError):
    """An input or output file that cannot be used; the message is one line."""


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


def annotate(detector, names: list[str], source: str, destination: str) -> None:
    """Print the detections of `detector` (something with .predict(rgb image) -> Detections) in the image
    or video `source`, and write it with them drawn to `destination`."""
    process = annotate_video if _extension(source) in VIDEO_EXTENSIONS else annotate_image
    process(detector, names, source, destination)


def annotate_image(detector, names: list[str], source: str, destination: str) -> None:
    too_large = oversize_problem(source)
    if too_large:
        raise InputError(f"{source}: {too_large}")
    image = cv2.imread(source, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{source}: cannot be read as an image")
    detections = detector.predict(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    report(source, detections, names)
    draw_detections(image, detections, names)
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
        draw_detections(frame, detections, names)
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
