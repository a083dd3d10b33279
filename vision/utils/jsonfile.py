"""Reading a JSON file with a one-line reason for every way it can fail."""
import json


class JsonReadError(Exception):
    """Why a JSON file could not be read, in a few words (the caller names the file)."""


def read_json(path):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise JsonReadError("no such file") from None
    except json.JSONDecodeError as error:
        raise JsonReadError(f"not valid JSON (line {error.lineno}: {error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise JsonReadError(f"cannot be read ({error.__class__.__name__})") from None
