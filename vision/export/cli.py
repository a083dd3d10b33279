"""Command-line plumbing shared by onnx_export.py and run_ssd_example.py: every user error is one
line on stderr with exit code 2, never a traceback or a usage dump."""
import argparse
import sys

USER_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, error: Exception | str, code: int = USER_ERROR) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return code
