"""The labels module both the datasets and the models read their labels files with."""
import subprocess
import sys

import pytest

from vision.labels import read_label_lines


class LabelsProblem(Exception):
    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")


def test_lines_are_stripped_and_blank_ones_kept(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("BACKGROUND\n apple \n\nbanana\n")
    assert read_label_lines(path, LabelsProblem) == ["BACKGROUND", "apple", "", "banana"]


def test_a_binary_file_raises_the_callers_error(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"PK\x03\x04\0\0")
    with pytest.raises(LabelsProblem, match="model.pth: not a text file of class names"):
        read_label_lines(path, LabelsProblem)


def test_loading_a_model_imports_no_dataset_module():
    """The model side reads labels.txt without the dataset package (and its readers)."""
    code = "import sys, vision.ssd.loading; print(sorted(m for m in sys.modules if m.startswith('vision.datasets')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
