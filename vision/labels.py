"""Class names in files: BACKGROUND, and reading a labels file.

Label 0 of every model is BACKGROUND; a model's labels.txt lists it first, a dataset's class file does
not list it. Both the datasets and the models read their files with `read_label_lines`, each with its
own rules and its own error type.
"""
from pathlib import Path
from typing import Callable

BACKGROUND = "BACKGROUND"
_NOT_TEXT = "not a text file of class names, one per line (a weights file?)"


def read_label_lines(path, error: Callable[[object, str], Exception]) -> list[str]:
    """The lines of a labels file, stripped; blank ones are kept for the callers' own rules. A file
    that is not text raises `error(path, problem)`, not a list of odd names."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(path, _NOT_TEXT) from None
    except OSError as failure:
        raise error(path, f"cannot read the labels file ({failure.strerror or failure})") from None
    if "\0" in text:  # valid UTF-8, but binary all the same
        raise error(path, _NOT_TEXT)
    return [line.strip() for line in text.splitlines()]
