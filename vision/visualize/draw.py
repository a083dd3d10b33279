"""Boxes drawn on images, in place, with OpenCV: detections with their class and score, ground truth,
and dataset samples with their class names."""
import colorsys
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # torch is not loaded here: run_ssd_example.py checks its inputs before torch loads
    from torch import Tensor

FONT = cv2.FONT_HERSHEY_SIMPLEX
# BGR, one per label in turn: run_ssd_example.py's annotated images and videos
DETECTION_COLOURS = [(0, 0, 255), (0, 200, 0), (255, 0, 0), (0, 200, 255), (255, 0, 255), (255, 255, 0),
                     (0, 128, 255)]
TRUE_COLOUR = (0, 200, 0)         # RGB: ground truth in eval_ssd.py's images
PREDICTED_COLOUR = (230, 40, 40)  # RGB: detections in eval_ssd.py's images
DIFFICULT_COLOUR = (160, 160, 160)  # RGB: difficult (or crowd) boxes in the sample grid


def draw_detections(image: np.ndarray, detections, names: list[str]) -> None:
    """Boxes in pixels and "label: score" on a BGR image, a colour per label."""
    for box, label, score in zip(detections.boxes.tolist(), detections.labels.tolist(),
                                 detections.scores.tolist()):
        colour = DETECTION_COLOURS[label % len(DETECTION_COLOURS)]
        x1, y1 = draw_box(image, box, colour)
        cv2.putText(image, f"{names[label]}: {score:.2f}", (x1 + 4, y1 + 18), FONT, 0.6, colour, 2)


def draw_evaluated(image: np.ndarray, true_boxes, predicted: list[tuple[list[float], str, float]]) -> np.ndarray:
    """A copy of an RGB HWC uint8 image with its true boxes (green) and predictions (red, with class and
    score), boxes in pixels."""
    canvas = np.ascontiguousarray(image).copy()
    for box in true_boxes:
        draw_box(canvas, box, TRUE_COLOUR)
    for box, name, score in predicted:
        x1, y1 = draw_box(canvas, box, PREDICTED_COLOUR)
        cv2.putText(canvas, f"{name} {score:.2f}", (x1 + 2, max(y1 - 4, 10)), FONT, 0.4, PREDICTED_COLOUR, 1,
                    cv2.LINE_AA)
    return canvas


def draw_sample_boxes(tile: np.ndarray, boxes: "Tensor", labels: "Tensor", difficult: "Tensor",
                      class_names: list[str]) -> None:
    """Boxes normalized to [0, 1] on an RGB tile, each with its class name on a patch of its colour;
    difficult ones grey."""
    height, width = tile.shape[:2]
    for box, label, hard in zip(boxes.tolist(), labels.tolist(), difficult.tolist()):
        colour = DIFFICULT_COLOUR if hard else class_colour(label)
        x1, y1 = draw_box(tile, [box[0] * width, box[1] * height, box[2] * width, box[3] * height], colour)
        text = class_names[label]
        (text_width, text_height), _ = cv2.getTextSize(text, FONT, 0.45, 1)
        top = max(y1 - text_height - 4, 0)
        cv2.rectangle(tile, (x1, top), (x1 + text_width + 4, top + text_height + 4), colour, -1)
        cv2.putText(tile, text, (x1 + 2, top + text_height + 1), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)


def draw_box(image: np.ndarray, box, colour) -> tuple[int, int]:
    """A corner box in pixels (rounded), 2 px wide; returns its top left corner."""
    x1, y1, x2, y2 = (round(value) for value in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
    return x1, y1


def class_colour(label: int) -> tuple[int, int, int]:
    """A bright RGB colour per class, far from its neighbours' (golden-ratio hue steps)."""
    red, green, blue = colorsys.hsv_to_rgb((label * 0.618034) % 1.0, 0.75, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)
