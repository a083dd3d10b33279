"""run_ssd_example.py on generated images, a directory and a short generated video, with PyTorch and
with --onnx: in subprocesses started together (each spends seconds importing torch), and in-process
for the cases beyond those."""
import re

import cv2
import numpy as np
import pytest
import torch

from bomb_images import truncated_png_bomb
from export_helpers import (CLASSES, assert_one_line_error, lively_net, load_script, run_in_process, run_script,
                            run_scripts, save_checkpoint, write_labels)
from vision.export.onnx_export import export_onnx, synthetic_image
from vision.inference.detections import Detections
from vision.visualize.annotate import annotate_video

NET = "mb3-small-ssd-lite"
DETECTION = re.compile(r"^  (apple|banana|orange): [01]\.\d\d at \(-?\d+, -?\d+, -?\d+, -?\d+\)$",
                       re.MULTILINE)
FRAMES = 3


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A model (checkpoint, labels, ONNX export) and media: a directory of images, an image, a video."""
    directory = tmp_path_factory.mktemp("example")
    net = lively_net(NET)
    save_checkpoint(directory / "checkpoint-best.pth", net)
    export_onnx(net, str(directory / "ssd-mobilenet.onnx"))
    write_labels(directory / "labels.txt")
    write_labels(directory / "three-classes.txt", CLASSES[:3])
    (directory / "photos").mkdir()
    cv2.imwrite(str(directory / "photos" / "a.jpg"), synthetic_image(240, 320))
    cv2.imwrite(str(directory / "photos" / "b.png"), synthetic_image(300, 200)[::-1])
    cv2.imwrite(str(directory / "street.jpg"), synthetic_image(180, 240)[:, ::-1])
    video = cv2.VideoWriter(str(directory / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for frame in range(FRAMES):
        video.write(np.roll(synthetic_image(120, 160), 20 * frame, axis=1))
    video.release()
    return directory


@pytest.fixture(scope="module")
def runs(work):
    model = [NET, work / "checkpoint-best.pth", work / "labels.txt"]
    onnx = [NET, work / "ssd-mobilenet.onnx", work / "labels.txt", "--onnx"]
    media = [work / "street.jpg", work / "photos", work / "clip.avi"]
    return run_scripts({
        "pytorch": ["run_ssd_example.py", *model, *media, "--output", work / "out-pytorch"],
        "onnx": ["run_ssd_example.py", *onnx, *media, "--output", work / "out-onnx"],
    })


def object_counts(stdout: str) -> dict[str, int]:
    found = re.findall(r"^(\S.*): (\d+) objects$", stdout, re.MULTILINE)
    return {source: int(count) for source, count in found}


def frame_count(path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


@pytest.mark.parametrize("runtime", ["pytorch", "onnx"])
def test_images_directory_and_video_are_annotated(runs, work, runtime):
    result = runs[runtime]
    assert result.returncode == 0, result.stderr
    counts = object_counts(result.stdout)
    images = [work / "street.jpg", work / "photos" / "a.jpg", work / "photos" / "b.png"]
    frames = [f"{work / 'clip.avi'} frame {frame}" for frame in range(FRAMES)]
    sources = [str(image) for image in images] + frames
    assert list(counts) == sources and all(counts.values())
    assert len(DETECTION.findall(result.stdout)) == sum(counts.values())
    output = work / f"out-{runtime}"
    for image in images:
        original, annotated = cv2.imread(str(image)), cv2.imread(str(output / image.name))
        assert annotated.shape == original.shape and not np.array_equal(annotated, original)
    assert frame_count(output / "clip.avi") == FRAMES
    written = sorted(path.name for path in output.iterdir())
    assert written == sorted([*(image.name for image in images), "clip.avi"])  # no temporary file left


def printed_detections(stdout: str) -> dict[str, list[tuple[str, float, list[int]]]]:
    """(class, score, box) of the printed detections, per source."""
    found = {}
    for line in stdout.splitlines():
        header = re.match(r"^(\S.*): \d+ objects$", line)
        if header:
            detections = found.setdefault(header.group(1), [])
        detection = re.match(r"^  (\S+): ([\d.]+) at \((.*)\)$", line)
        if detection:
            name, score, box = detection.groups()
            detections.append((name, float(score), [int(value) for value in box.split(", ")]))
    return found


def same_printed_detection(found, expected) -> bool:
    """Equal as far as printing shows: scores to 2 decimals, boxes to whole pixels, where a value on a
    rounding edge may print one unit apart."""
    (name, score, box), (expected_name, expected_score, expected_box) = found, expected
    return (name == expected_name and abs(score - expected_score) <= 0.0100001
            and all(abs(value - other) <= 1 for value, other in zip(box, expected_box)))


def test_onnx_finds_what_pytorch_finds(runs):
    assert object_counts(runs["onnx"].stdout) == object_counts(runs["pytorch"].stdout)
    onnx, pytorch = printed_detections(runs["onnx"].stdout), printed_detections(runs["pytorch"].stdout)
    assert onnx.keys() == pytorch.keys() and sum(map(len, onnx.values())) > 0
    for source, expected in pytorch.items():
        unmatched = list(expected)  # matched regardless of order: equal scores may print in either order
        for detection in onnx[source]:
            match = next((other for other in unmatched if same_printed_detection(detection, other)), None)
            assert match is not None, f"{source}: {detection} is not among PyTorch's detections"
            unmatched.remove(match)


def test_one_image_goes_to_the_earlier_tools_output_name(work, monkeypatch, capsys):
    monkeypatch.chdir(work)
    arguments = [NET, "checkpoint-best.pth", "labels.txt", "street.jpg"]
    assert load_script("run_ssd_example.py").main(arguments) == 0
    assert "wrote run_ssd_example_output.jpg" in capsys.readouterr().out
    assert cv2.imread(str(work / "run_ssd_example_output.jpg")).shape == (180, 240, 3)


def test_one_video_can_be_written_as_mp4(work, capsys):
    arguments = [NET, work / "checkpoint-best.pth", work / "labels.txt", work / "clip.avi",
                 "--output", work / "annotated.mp4"]
    assert load_script("run_ssd_example.py").main(list(map(str, arguments))) == 0
    assert f"clip.avi frame {FRAMES - 1}: " in capsys.readouterr().out
    assert frame_count(work / "annotated.mp4") == FRAMES


def test_onnx_model_and_labels_must_agree(work, capsys):
    arguments = [NET, work / "ssd-mobilenet.onnx", work / "three-classes.txt", work / "street.jpg", "--onnx"]
    assert load_script("run_ssd_example.py").main(list(map(str, arguments))) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "has 4 classes (BACKGROUND included)" in error and "lists 3" in error


@pytest.mark.parametrize("arguments, fragment", [
    (["missing.pth", "labels.txt", "a.jpg"], "missing.pth: no such file"),
    (["model.pth", "labels.txt", "missing.jpg"], "missing.jpg: no such file or directory"),
    (["model.pth", "labels.txt", "notes.txt"], "notes.txt: not an image or video file name"),
    (["model.pth", "labels.txt", "empty"], "no images in this directory"),
    (["model.pth", "labels.txt", "a.jpg", "--threshold", "1.5"], "--threshold must be in [0, 1)"),
    (["model.pth", "labels.txt", "a.jpg", "a.jpg", "--output", "notes.txt"], "must be a directory"),
    (["model.pth", "labels.txt", "a.jpg", "--output", "annotated"], "annotated: not an image file name"),
    (["model.pth", "labels.txt", "a.jpg", "other"],
     "a.jpg and other/a.jpg would both be written to run_ssd_example_output/a.jpg"),
])
def test_input_errors_are_one_line(inputs, monkeypatch, capsys, caplog, arguments, fragment):
    """Reported before the model is read: the model file here is empty."""
    monkeypatch.chdir(inputs)
    assert_one_line_error(run_in_process(capsys, caplog, "run_ssd_example.py", NET, *arguments), 2, fragment)


def test_an_input_error_is_one_line_in_a_process_of_its_own(inputs):
    """The script as a user runs it: one line on stderr, exit code 2, no traceback."""
    assert_one_line_error(run_script("run_ssd_example.py", NET, "missing.pth", "labels.txt", "a.jpg", cwd=inputs),
                          2, "missing.pth: no such file")


@pytest.fixture
def inputs(tmp_path):
    """A folder of inputs to refuse: an empty model file, labels, a text file, images, an empty folder."""
    for name in ("model.pth", "labels.txt", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    for image in ("a.jpg", "other/a.jpg"):
        cv2.imwrite(str(tmp_path / image), synthetic_image(60, 80))
    return tmp_path


class FailsOnFrame:
    """A detector that finds nothing, then fails on frame `failing`."""

    def __init__(self, failing: int):
        self.failing, self.frames = failing, 0

    def predict(self, image):
        if self.frames == self.failing:
            raise RuntimeError("out of memory")
        self.frames += 1
        return Detections(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0))


def test_a_video_cut_short_leaves_no_file(work, tmp_path, capsys):
    with pytest.raises(RuntimeError, match="out of memory"):
        annotate_video(FailsOnFrame(FRAMES - 1), CLASSES, str(work / "clip.avi"), str(tmp_path / "a.avi"))
    assert list(tmp_path.iterdir()) == []
    annotate_video(FailsOnFrame(FRAMES), CLASSES, str(work / "clip.avi"), str(tmp_path / "a.avi"))
    assert frame_count(tmp_path / "a.avi") == FRAMES and [path.name for path in tmp_path.iterdir()] == ["a.avi"]


def test_an_image_over_the_pixel_limit_is_refused_in_one_line(work, tmp_path, capsys):
    (tmp_path / "bomb.png").write_bytes(truncated_png_bomb(60000, 60000))
    arguments = [NET, work / "checkpoint-best.pth", work / "labels.txt", tmp_path / "bomb.png",
                 "--output", tmp_path / "annotated.png"]
    assert load_script("run_ssd_example.py").main(list(map(str, arguments))) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"run_ssd_example.py: error: {tmp_path / 'bomb.png'}: "
                                                       "over the pixel limit: its header claims more than")
    assert not (tmp_path / "annotated.png").exists()


def test_a_wrong_pixel_limit_is_one_line(work, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSD_MAX_IMAGE_PIXELS", "0")
    arguments = [NET, work / "checkpoint-best.pth", work / "labels.txt", work / "street.jpg",
                 "--output", tmp_path / "annotated.jpg"]
    assert load_script("run_ssd_example.py").main(list(map(str, arguments))) == 2
    assert capsys.readouterr().err == (
        "run_ssd_example.py: error: SSD_MAX_IMAGE_PIXELS=0: not a whole number of pixels above 0\n")
