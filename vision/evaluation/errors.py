"""The evaluation's own error; eval_ssd.py prints it, as every UserError, in one line without a traceback."""
from vision.errors import UserError


class EvaluationError(UserError):
    """A bad input that only an evaluation checks (a detections file, the annotation fields COCOeval reads, a
    model whose classes the dataset lacks, --original-ids); what other areas read too (a dataset, a model, an
    ONNX file, a JSON file) fails with their errors (DatasetError, ModelError, ExportError, JsonReadError)."""
