"""The datasets' error; a command line prints it, as every UserError, in one line without a traceback."""
from vision.errors import UserError


class DatasetError(UserError):
    """A dataset problem found at start-up: the message names the file and what is wrong with it."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
