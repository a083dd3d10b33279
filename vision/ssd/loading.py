"""A ready-to-run net from a weights file and the model's labels, for export, examples and evaluation.

`load_model` reads the metadata of our training checkpoints (net, resolution, width, labels, priors) and
falls back to its arguments for the earlier tools' plain state_dicts. Every problem is a UserError
(a `ModelError`, or the WeightsError or DatasetError of a file that cannot be read) with a one-line
message naming the file and what to pass instead.
"""
import logging
import os
from collections.abc import Sequence

from vision.labels import BACKGROUND, read_label_lines
from vision.errors import UserError
from vision.ssd import create_net, default_resolution
from vision.ssd.priors import NetError, specs_from_saved
from vision.ssd.ssd import SSD
from vision.utils.fileio import atomic_write_text
from vision.ssd.weights import (TORCHVISION, class_count, load_content, read_weights, strip_wrapper_prefixes,
                                torchvision_labels)

DEFAULT_NET = "mb1-ssd"  # what the earlier tools assumed when --net was not given

log = logging.getLogger(__name__)


class ModelError(UserError):
    """A model that cannot be built or loaded; the message is one line."""


def read_model_labels(path: str) -> list[str]:
    """A model's labels.txt: BACKGROUND on the first line, then one class per line, no blank lines."""
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such labels file (the model dir's labels.txt, BACKGROUND first)")
    names = read_label_lines(path, _labels_error)
    _check_model_labels(names, path)
    return names


def _labels_error(path, problem: str) -> ModelError:
    return ModelError(f"{path}: {problem}")


def write_model_labels(path: str, names: Sequence[str]) -> None:
    """A model's labels.txt (BACKGROUND first), written whole or not at all."""
    atomic_write_text(path, "".join(f"{name}\n" for name in names))


def _check_model_labels(names: Sequence[str], source: str) -> None:
    if not names:
        raise ModelError(f"{source}: no labels")
    if names[0] != BACKGROUND:
        raise ModelError(f"{source}: the first label is {names[0]!r}, not {BACKGROUND}: this looks like a "
                         f"dataset's labels.txt; pass the model's labels.txt (train_ssd.py writes it into "
                         f"the model dir, {BACKGROUND} first)")
    for number, name in enumerate(names[1:], start=2):
        if not name:
            raise ModelError(f"{source}: line {number} is blank; remove it (it would become a class "
                             f"without a name)")
        if name == BACKGROUND:
            raise ModelError(f"{source}: {BACKGROUND} again on line {number}; it may only be the first "
                             f"line (was the model's labels.txt reused as a dataset's?)")
    if len(names) < 2:
        raise ModelError(f"{source}: only {BACKGROUND}, no classes")


def load_model(path: str, net: str | None = None, labels: str | Sequence[str] | None = None,
               resolution: int | None = None, width_mult: float | None = None) -> tuple[SSD, list[str]]:
    """The net stored in `path`, in eval and test mode (forward gives scores and corner boxes), and
    its labels (BACKGROUND first).

    `labels` is a labels.txt path or a list of names; without it our checkpoints' own labels are
    used. `net`, `resolution` and `width_mult` are needed for plain state_dicts only; for our
    checkpoints they must agree with what was saved. The path "torchvision" with `net`
    ssdlite320-mb3-large or ssd300-vgg16 is torchvision's COCO model, with its labels.
    """
    content = read_weights(path, net)
    saved = content if isinstance(content.get("model"), dict) else {"model": content}
    if path == TORCHVISION:
        saved = {**saved, "net": net, "labels": torchvision_labels(net),
                 "resolution": resolution or default_resolution(net)}
    name = _agree(path, "net", saved.get("net"), net) or DEFAULT_NET
    assumed_resolution = saved.get("resolution") is None and resolution is None
    resolution = _agree(path, "resolution", saved.get("resolution"), resolution) or default_resolution(name)
    width_mult = _agree(path, "width_mult", saved.get("width_mult"), width_mult) or 1.0
    names = _labels(path, labels, saved.get("labels"))
    if saved.get("num_classes") not in (None, len(names)):
        raise ModelError(_class_count_message(path, saved["num_classes"], names, labels))
    model = _create_net(path, saved.get("prior_specs"), name, len(names), resolution, width_mult)
    _check_state(path, strip_wrapper_prefixes(saved["model"]), model, names, labels)
    load_content(model, content, path)
    if assumed_resolution:  # warned only now: a file that does not load gets its one-line error alone
        log.warning("%s does not record the resolution it was trained at: using %d; pass its training "
                    "resolution (--resolution) if it was another", path, resolution)
    return model.eval(), names


def _create_net(path: str, saved_specs, name: str, num_classes: int, resolution: int, width_mult: float) -> SSD:
    """The net the file's settings describe; what cannot be built is a ModelError naming the file."""
    try:
        specs = specs_from_saved(saved_specs) if saved_specs else None
        return create_net(name, num_classes, resolution, is_test=True, width_mult=width_mult, specs=specs)
    except NetError as error:
        raise ModelError(f"{path}: {error}") from None


# The earlier exporter failed on this with "size of tensor a (12828) must match ... (3000)"; building
# the net at the asked size would export it, with priors its heads were not trained for.
_RESOLUTION_HINT = "; a net run at another resolution than it was trained at finds wrong boxes"


def _agree(path: str, what: str, saved, given):
    """The saved value, unless the caller asked for another one (then it is an error)."""
    if saved is not None and given is not None and saved != given:
        raise ModelError(f"{path}: saved with {what} {saved}, not {given} (the checkpoint records it: give "
                         f"{saved} or leave it out){_RESOLUTION_HINT if what == 'resolution' else ''}")
    return given if saved is None else saved


def _labels(path: str, labels, saved_labels) -> list[str]:
    if labels is None:
        if saved_labels is None:
            raise ModelError(f"{path}: a plain state_dict carries no class names; pass the model's "
                             f"labels.txt")
        names = list(saved_labels)
    elif isinstance(labels, (str, os.PathLike)):
        return read_model_labels(os.fspath(labels))
    else:
        names = list(labels)
    _check_model_labels(names, path if labels is None else "labels")
    return names


def _check_state(path: str, state: dict, model: SSD, names: list[str], labels) -> None:
    """Refuse what load_weights would accept with a warning: a model needs trained heads for its classes."""
    if not any(key.startswith(model.HEAD_PREFIX) for key in state):
        raise ModelError(f"{path}: holds no detection heads (a base-net file?); pass a trained model")
    saved_classes = class_count(state, model)
    if saved_classes not in (None, len(names)):
        raise ModelError(_class_count_message(path, saved_classes, names, labels))


def _class_count_message(path: str, saved_classes: int, names: list[str], labels) -> str:
    source = labels if isinstance(labels, (str, os.PathLike)) else "the labels"
    return (f"{path}: the model has {saved_classes} classes (BACKGROUND included), {source} lists "
            f"{len(names)}; pass the labels.txt of the model dir it was trained in")
