"""Command-line plumbing shared by every script: a user error is one line on stderr,
"<script>: error: <message>", never a traceback or a usage dump. Exit code 2 for wrong input,
1 for work that failed (a download, invalid files found), 130 for Ctrl-C."""
import argparse
import sys
from typing import Callable

from vision.errors import OptionError, UserError

USER_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a wrong value is one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def boolean(text: str) -> bool:
    """An argparse type for the earlier tools' true/false options (--use-cuda false)."""
    if text.lower() in ("1", "true", "yes", "y"):
        return True
    if text.lower() in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def resolve_device(name: str | None, use_cuda: bool = True):
    """The torch.device of --device; without it cuda when available (and `use_cuda`), else cpu."""
    import torch  # here: the scripts answer mistakes in their options before torch loads
    if name is None:
        return torch.device("cuda" if use_cuda and torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError(f"--device {name}: not a device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return device


def fail(prog: str, error: Exception | str, code: int = USER_ERROR) -> int:
    """Print the one-line error and return the exit code. Messages quoting servers or the OS can hold
    newlines: they are joined."""
    print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
    return code


def os_error_message(error: OSError) -> str:
    """"<file>: <reason>" (as the shell says it), or the error's own text when it names no file."""
    if error.filename is None or error.strerror is None:
        return str(error)
    return f"{error.filename}: {error.strerror}"


def run_main(prog: str, body: Callable[[], int], error_code: int = USER_ERROR) -> int:
    """Run a command's body; a UserError (something the user gave cannot be used) and the OS's errors (a
    folder that cannot be written, a full disk) become one line. Programming errors still raise."""
    try:
        return body()
    except UserError as error:
        return fail(prog, error, error_code)
    except OSError as error:
        return fail(prog, os_error_message(error), error_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
