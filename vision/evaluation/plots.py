"""Pictures of an evaluation: precision-recall curves, and the images with their boxes (drawn by
vision.visualize.draw).

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

DRAWN_SCORE = 0.3  # detections under it are left out of the drawn images


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


def save_image(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_image(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"
