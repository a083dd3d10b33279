"""Reading a JSON file with a one-line reason for every way it can fail."""
import json

from vision.errors import UserError


class JsonReadError(UserError):
    """A JSON file that cannot be read: "<path>: <why>", in a few words."""


def read_json(path, what: str | None = None):
    """The content of the JSON file at `path`; `what` (e.g. "annotation file") is said after the path in
    the error."""
    named = f"{path}: {what}" if what else str(path)
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise JsonReadError(f"{named}: no such file") from None
    except json.JSONDecodeError as error:
        raise JsonReadError(f"{named}: not valid JSON (line {error.lineno}: {error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise JsonReadError(f"{named}: cannot be read ({error.__class__.__name__})") from None
