"""Class names: the files that list them and the label order they fix.

Labels are 1..K in class order; 0 is BACKGROUND. A dataset's own class file (VOC labels.txt) lists
the classes without BACKGROUND. A model's labels.txt starts with BACKGROUND and can be given as a
class order when fine-tuning, so that the labels keep the model's order.
"""
from pathlib import Path

from vision.labels import BACKGROUND, read_label_lines

from .errors import DatasetError


def read_dataset_labels(path: Path) -> list[str]:
    """A dataset's class file: one class per line, blank lines ignored, no BACKGROUND."""
    names = _read_names(path)
    if BACKGROUND in names:
        raise DatasetError(path, f"line {names.index(BACKGROUND) + 1} is {BACKGROUND}: this is the "
                                 "dataset's class list (one class per line, without BACKGROUND), "
                                 "not the model's labels.txt")
    return names


def read_class_order(path: Path) -> list[str]:
    """A class order file; a model's labels.txt (BACKGROUND on the first line) is accepted as well."""
    names = _read_names(path)
    if names[0] == BACKGROUND:
        names = names[1:]
    if BACKGROUND in names:
        raise DatasetError(path, f"{BACKGROUND} may only be the first line")
    if not names:
        raise DatasetError(path, "no class names")
    return names


def merge_class_names(name_lists: list[list[str]]) -> list[str]:
    """The union of several class lists: the first list's order, then new names as they appear."""
    merged = []
    for names in name_lists:
        merged += [name for name in names if name not in merged]
    return merged


def _read_names(path: Path) -> list[str]:
    names = [line for line in read_label_lines(path, DatasetError) if line]
    if not names:
        raise DatasetError(path, "no class names")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DatasetError(path, f"class names listed twice: {', '.join(duplicates)}")
    return names
