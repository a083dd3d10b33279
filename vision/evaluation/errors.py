"""The error eval_ssd.py prints as one line, without a traceback."""
from vision.errors import UserError


class EvaluationError(UserError):
    """A bad input to an evaluation (a detections or annotations file, an ONNX model, an option)."""
