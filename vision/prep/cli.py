"""Shared plumbing for the data-preparation command lines."""

import sys
from typing import Callable

from . import PrepError


def run_main(body: Callable[[], int], error_code: int = 1) -> int:
    """Run a command's body, turning PrepError into a one-line message and an exit code.

    Programming errors still raise with a traceback: only expected user/environment
    problems are reduced to one line.
    """
    try:
        return body()
    except PrepError as e:
        # Messages quoting server replies or OS errors can hold newlines; keep the promise of one line.
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return error_code
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to continue", file=sys.stderr)
        return 130
