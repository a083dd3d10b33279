"""Which epoch checkpoint-best.pth holds: the highest validation AP50 with --validation-mean-ap, else the
lowest validation loss. A checkpoint keeps the metric's name ("best_metric_name") next to its best value
("best_metric"), so that a resumed run continues the same tracking."""
import math

from vision.training.checkpoint_files import BEST

AP50, LOSS = "AP50", "loss"


def metric_name(validation_mean_ap: bool) -> str:
    return AP50 if validation_mean_ap else LOSS


def fresh(name: str) -> dict:
    """The best-so-far before any validation: the first value of `name` improves on it."""
    return {"best_metric_name": name, "best_metric": -math.inf if name == AP50 else math.inf}


def improves(name: str, value: float, best: float) -> bool:
    """Whether `value` of metric `name` beats `best`: a higher AP50, a lower loss."""
    return value > best if name == AP50 else value < best


def start(name: str, checkpoint: dict | None) -> tuple[dict, str]:
    """The best-so-far to start from when this run follows metric `name`, and the line to log: fresh, or a
    resumed `checkpoint`'s when it followed `name` too; when it followed the other metric, tracking starts
    again. Checkpoints from before the name was kept followed the validation loss."""
    follows = f"{BEST} follows the {'highest validation AP50' if name == AP50 else 'lowest validation loss'}"
    if checkpoint is None:
        return fresh(name), follows
    tracked = checkpoint.get("best_metric_name", LOSS)
    if tracked != name:
        return fresh(name), (f"the resumed run's {BEST} followed the validation {tracked}, this run follows the "
                             f"validation {name}: best tracking starts again (the next validation rewrites {BEST})")
    so_far = checkpoint["best_metric"]
    return ({"best_metric_name": name, "best_metric": so_far},
            follows + (f" (the resumed run's best: {so_far:.4f})" if math.isfinite(so_far) else ""))
