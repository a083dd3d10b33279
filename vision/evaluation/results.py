"""Detections in COCO's results format, held as columns: one row per detection."""
import json
from dataclasses import dataclass

import numpy as np

from .errors import EvaluationError
from vision.utils.fileio import atomic_write_json
from vision.utils.jsonfile import read_json

# Written values are rounded (a COCO val2017 run writes about a million detections), and the metrics
# are computed on the rounded values, so that a detections.json scores exactly as its metrics.json.
BOX_DECIMALS = 2
SCORE_DECIMALS = 6
_FORMAT = "a list of {image_id, category_id, bbox: [x, y, width, height], score}"


@dataclass
class Results:
    image_ids: np.ndarray     # int64 [D]
    category_ids: np.ndarray  # int64 [D]
    boxes: np.ndarray         # float64 [D, 4]: x, y, width, height in pixels (COCO's bbox)
    scores: np.ndarray        # float64 [D]

    @classmethod
    def from_corners(cls, image_ids, category_ids, corners, scores) -> "Results":
        """Rows from corner boxes (x1, y1, x2, y2), rounded as they are written."""
        corners = np.asarray(corners, dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
        return cls(np.asarray(image_ids, dtype=np.int64), np.asarray(category_ids, dtype=np.int64),
                   boxes.round(BOX_DECIMALS), np.asarray(scores, dtype=np.float64).round(SCORE_DECIMALS))

    @classmethod
    def empty(cls) -> "Results":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))

    @classmethod
    def concat(cls, parts: list["Results"]) -> "Results":
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(part, name) for part in parts])
                     for name in ("image_ids", "category_ids", "boxes", "scores")))

    def __len__(self) -> int:
        return len(self.scores)

    def corners(self) -> np.ndarray:
        return np.concatenate([self.boxes[:, :2], self.boxes[:, :2] + self.boxes[:, 2:]], axis=1)

    def select(self, mask: np.ndarray) -> "Results":
        return Results(self.image_ids[mask], self.category_ids[mask], self.boxes[mask], self.scores[mask])

    def with_category_ids(self, mapping: dict[int, int]) -> "Results":
        """The same rows with each category id replaced through `mapping` (which must cover them all)."""
        lookup = np.vectorize(mapping.__getitem__, otypes=[np.int64])
        ids = lookup(self.category_ids) if len(self) else self.category_ids
        return Results(self.image_ids, ids, self.boxes, self.scores)

    def to_coco(self) -> list[dict]:
        """Fresh dicts: the COCO APIs add keys to the ones they are given."""
        return [{"image_id": image_id, "category_id": category_id, "bbox": box, "score": score}
                for image_id, category_id, box, score in zip(self.image_ids.tolist(), self.category_ids.tolist(),
                                                             self.boxes.tolist(), self.scores.tolist())]


def write_results(path, results: Results) -> None:
    atomic_write_json(path, results.to_coco())


def read_results(path) -> Results:
    """A COCO results file; any malformed entry is an EvaluationError naming it."""
    return results_from_coco(read_json(path, "detections file"), path)


def results_from_coco(items, source) -> Results:
    if not isinstance(items, list):
        raise EvaluationError(f"{source}: holds a {type(items).__name__}, not {_FORMAT}")
    try:
        results = Results(np.array([item["image_id"] for item in items], dtype=np.int64),
                          np.array([item["category_id"] for item in items], dtype=np.int64),
                          np.array([item["bbox"] for item in items], dtype=np.float64).reshape(len(items), 4),
                          np.array([item["score"] for item in items], dtype=np.float64))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        index = next((i for i, item in enumerate(items) if not _well_formed(item)), 0)
        raise EvaluationError(f"{source}: detection {index} is {_shorten(items[index])}, not an entry of "
                              f"{_FORMAT}") from None
    _check_values(results, source)
    return results


def _well_formed(item) -> bool:
    try:
        return (isinstance(item, dict) and all(isinstance(item[key], int) for key in ("image_id", "category_id"))
                and len(item["bbox"]) == 4 and all(isinstance(v, (int, float)) for v in item["bbox"])
                and isinstance(item["score"], (int, float)))
    except (KeyError, TypeError):
        return False


def _check_values(results: Results, source) -> None:
    bad = ~(np.isfinite(results.boxes).all(axis=1) & np.isfinite(results.scores)
            & (results.boxes[:, 2:] >= 0).all(axis=1))
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise EvaluationError(f"{source}: detection {index} has a non-finite value or a negative width or "
                              f"height (bbox {results.boxes[index].tolist()}, score {results.scores[index]})")


def _shorten(item) -> str:
    text = json.dumps(item) if isinstance(item, (dict, list, str, int, float)) else repr(item)
    return text if len(text) <= 80 else text[:77] + "..."
