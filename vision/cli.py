"""Command-line plumbing shared by every script: a user error is one line on stderr,
"<script>: error: <message>", never a traceback or a usage dump. Exit code 2 for wrong input,
1 for work that failed (a download, invalid files found), 130 for Ctrl-C."""
import argparse
import sys
from typing import Callable

USER_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a wrong value is one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, error: Exception | str, code: int = USER_ERROR) -> int:
    """Print the one-line error and return the exit code. Messages quoting servers or the OS can hold
    newlines: they are joined."""
    print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
    return code


def run_main(prog: str, body: Callable[[], int], errors: tuple[type[Exception], ...],
             error_code: int = USER_ERROR) -> int:
    """Run a command's body; the expected `errors` become one line. Programming errors still raise."""
    try:
        return body()
    except errors as error:
        return fail(prog, error, error_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
