"""The plumbing every script shares: one-line errors, the true/false options and --device."""
import argparse
import errno

import pytest
import torch

from vision.cli import boolean, resolve_device, run_main
from vision.errors import OptionError, UserError


def raising(error: BaseException):
    def body() -> int:
        raise error
    return body


@pytest.mark.parametrize("error, message", [
    (PermissionError(errno.EACCES, "Permission denied", "/models/x"), "tool.py: error: /models/x: Permission denied"),
    (OSError("the disk\nis on fire"), "tool.py: error: the disk is on fire"),
])
def test_os_errors_are_one_line(capsys, error, message):
    assert run_main("tool.py", raising(error), error_code=1) == 1
    assert capsys.readouterr().err == message + "\n"


def test_user_errors_are_one_line_and_others_raise(capsys):
    assert run_main("tool.py", raising(UserError("bad value"))) == 2
    assert capsys.readouterr().err == "tool.py: error: bad value\n"
    with pytest.raises(KeyError):
        run_main("tool.py", raising(KeyError("bug")))


def test_boolean_reads_the_earlier_tools_spellings():
    assert [boolean(text) for text in ("true", "Yes", "1", "false", "N", "0")] == [True] * 3 + [False] * 3
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false, got 'maybe'"):
        boolean("maybe")


def test_resolve_device():
    assert resolve_device(None, use_cuda=False) == torch.device("cpu")
    assert resolve_device("cpu", use_cuda=True) == torch.device("cpu")
    with pytest.raises(OptionError, match=r"^--device gpu: not a device \(cpu, cuda, cuda:1, ...\)$"):
        resolve_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_an_option_error():
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(OptionError, match="--device cuda:1: CUDA is not available"):
        resolve_device("cuda:1")
