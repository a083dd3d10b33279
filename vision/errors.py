"""The one error type for "the user gave something unusable": a file, a folder, an option or a setting.

Every area subclasses `UserError` (DatasetError, ModelError, PrepError, ...), and its message names the
path (or option) and the problem on one line, so that a command line prints it as
"<script>: error: <message>" without a traceback (vision.cli.run_main). Anything else that is raised is
a programming error and keeps its traceback.
"""


class UserError(Exception):
    """Something the user gave cannot be used; the message is "<path or option>: <problem>", one line."""


class OptionError(UserError):
    """A wrong command-line value (or a combination of them that cannot work)."""


def first_line(error: Exception) -> str:
    """The first line of a library's error message (some span pages), or the error's type."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
