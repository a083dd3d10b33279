"""Pictures of an evaluation: precision-recall curves and images with their boxes drawn.

Figures are drawn with matplotlib's Agg canvas directly, so that no display and no global backend
setting are needed.
"""
import re
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vision.utils.fileio import atomic_write_image, staged_path

from .voc_metrics import Curve

TRUE_COLOR = (0, 200, 0)         # RGB: ground truth
PREDICTED_COLOR = (230, 40, 40)  # RGB: detections
DRAWN_SCORE = 0.3                # detections under it are left out of the drawn images


def plot_curves(directory: Path, curves: dict[str, Curve], overall: Curve, iou_threshold: float) -> list[Path]:
    """overall.png (all classes pooled) and one PNG per class, at the VOC IoU threshold."""
    directory.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(5, 4), dpi=80)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    (line,) = axes.plot([], [])
    # One figure redrawn with each curve: building a figure per class costs several times more.
    pages = [("overall", f"all classes pooled, IoU {iou_threshold:g}", overall)] + [
        (f"{number:03d}_{_file_name(name)}", f"{name}: AP {curve.ap:.4f} at IoU {iou_threshold:g}", curve)
        for number, (name, curve) in enumerate(curves.items(), start=1)]
    paths = []
    for file_name, title, curve in pages:
        line.set_data(curve.recall, curve.precision)
        axes.set_title(f"{title}, {curve.ground_truth} boxes", fontsize="medium")
        paths.append(directory / f"{file_name}.png")
        with staged_path(paths[-1]) as staging:
            figure.savefig(staging)
    return paths


def draw_boxes(image: np.ndarray, true_boxes, predicted: list[tuple[list[float], str, float]]) -> np.ndarray:
    """An RGB HWC uint8 image with its true boxes (green) and predictions (red, with class and score)."""
    canvas = np.ascontiguousarray(image).copy()
    for box in true_boxes:
        _rectangle(canvas, box, TRUE_COLOR)
    for box, name, score in predicted:
        x1, y1 = _rectangle(canvas, box, PREDICTED_COLOR)
        cv2.putText(canvas, f"{name} {score:.2f}", (x1 + 2, max(y1 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    PREDICTED_COLOR, 1, cv2.LINE_AA)
    return canvas


def save_image(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_image(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _rectangle(canvas: np.ndarray, box, color) -> tuple[int, int]:
    x1, y1, x2, y2 = (int(round(value)) for value in box)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
    return x1, y1


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"
