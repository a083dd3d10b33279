"""Loading weights into an SSD, with one-line messages for every way it can go wrong.

`load_weights` takes a plain state_dict of the earlier tools, a training checkpoint of ours (a dict
with "model" and "net"), a checkpoint trained for another class count (its classification heads are
re-initialized), a base-net-only file, or for torchvision's layouts "torchvision": its COCO weights.
`load_imagenet_base_net` fetches torchvision's ImageNet weights for the base nets that have them.
"""
import os
import zipfile

import torch
from torch import Tensor, nn
from torchvision import models

from vision.errors import UserError, first_line
from vision.labels import BACKGROUND
from vision.ssd import NET_NAMES, create_net
from vision.ssd.ssd import SSD

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile

# torchvision ImageNet weights per net, and whether their features map onto base_net by key
# ("key") or, where torchvision names the layers differently, by position ("order").
IMAGENET_BASE_NETS = {
    "vgg16-ssd": (models.VGG16_Weights.IMAGENET1K_FEATURES, "order"),
    "sq-ssd-lite": (models.SqueezeNet1_1_Weights.IMAGENET1K_V1, "key"),
    "mb2-ssd-lite": (models.MobileNet_V2_Weights.IMAGENET1K_V1, "order"),
    "mb3-large-ssd-lite": (models.MobileNet_V3_Large_Weights.IMAGENET1K_V1, "key"),
    "mb3-small-ssd-lite": (models.MobileNet_V3_Small_Weights.IMAGENET1K_V1, "key"),
}

# torchvision's COCO-trained detectors: `--pretrained-ssd torchvision` (and the model path "torchvision").
TORCHVISION = "torchvision"
TORCHVISION_COCO = {
    "ssdlite320-mb3-large": models.detection.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1,
    "ssd300-vgg16": models.detection.SSD300_VGG16_Weights.COCO_V1,
}
UNUSED_SLOT = "N/A"  # torchvision's name for the COCO ids that have no category


class WeightsError(UserError):
    """A weights file that cannot be loaded; the message is one line naming the file."""


def read_checkpoint(path: str) -> dict:
    """The raw content of a .pth file: a state_dict or a checkpoint dict."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such file")
    try:
        torch_file = _looks_like_torch_file(path)
    except OSError as error:
        raise WeightsError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not torch_file:
        raise WeightsError(f"{path}: not a PyTorch weights file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        if "Weights only load failed" in str(error):
            reason = "it holds Python objects besides tensors; save model.state_dict(), not the model"
        else:
            reason = first_line(error)
        raise WeightsError(f"{path}: cannot be read ({reason})") from None
    if not isinstance(content, dict):
        raise WeightsError(f"{path}: holds a {type(content).__name__}, not a state_dict")
    return content


def load_weights(net: SSD, path: str) -> str:
    """Load `path` (or "torchvision") into `net`; returns a one-line description of what was loaded."""
    return load_content(net, read_weights(path, net.net_name), path)


def read_weights(path: str, net_name: str | None) -> dict:
    """read_checkpoint, or for "torchvision" the COCO state_dict of `net_name` from torchvision."""
    if path != TORCHVISION:
        return read_checkpoint(path)
    weights = TORCHVISION_COCO.get(net_name)
    if weights is None:
        raise WeightsError(f"torchvision publishes COCO weights for {' and '.join(TORCHVISION_COCO)} only, "
                           f"not {net_name}")
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except OSError as error:  # URLError included
        file = os.path.basename(weights.url)
        raise WeightsError(f"could not download {file} from {weights.url} ({first_line(error)}); offline, "
                           f"put {file} into {torch.hub.get_dir()}/checkpoints/") from None


def torchvision_labels(net_name: str) -> list[str]:
    """The model labels of torchvision's COCO weights: BACKGROUND, then its 91-slot category names
    ("N/A" for the ids COCO does not use)."""
    return [BACKGROUND] + list(TORCHVISION_COCO[net_name].meta["categories"][1:])


def load_content(net: SSD, content: dict, path: str) -> str:
    """Load what read_checkpoint(path) gave into `net` (for callers that read the file already)."""
    if "model" in content and isinstance(content["model"], dict):
        saved_net = content.get("net")
        if saved_net and saved_net != net.net_name:
            raise WeightsError(f"{path}: checkpoint of a {saved_net} net, not {net.net_name} (check --net)")
        content = content["model"]
    state = strip_wrapper_prefixes(content)
    if not state or not all(isinstance(value, Tensor) for value in state.values()):
        raise WeightsError(f"{path}: not a state_dict of tensors")
    if _is_base_net(net, state):
        _load_base_net(net, state, path)
        return f"loaded base net weights from {path}"
    return _load_ssd(net, state, path)


def load_imagenet_base_net(net: SSD) -> str:
    """Initialize the base net from torchvision's ImageNet weights (downloaded once, then cached)."""
    if net.net_name not in IMAGENET_BASE_NETS:
        raise WeightsError(f"torchvision has no ImageNet weights for the base net of {net.net_name}; "
                           f"pass a base-net file instead")
    weights, mapping = IMAGENET_BASE_NETS[net.net_name]
    try:
        state = torch.hub.load_state_dict_from_url(weights.url, progress=True, map_location="cpu")
    except OSError as error:  # URLError included
        raise WeightsError(f"could not download ImageNet weights for {net.net_name} from {weights.url} "
                           f"({first_line(error)}); offline, copy the file into "
                           f"{torch.hub.get_dir()}/checkpoints/ or pass a base-net file") from None
    features = {key.removeprefix("features."): value for key, value in state.items()
                if key.startswith("features.")}
    target = net.base_net.state_dict()
    if mapping == "order":
        if len(features) > len(target):
            raise WeightsError(f"{weights.url}: {len(features)} tensors, more than the base net's {len(target)}")
        features = dict(zip(target, features.values()))
    _check_shapes(features, target, weights.url)
    net.base_net.load_state_dict(features, strict=False)
    return f"loaded torchvision ImageNet weights ({len(features)} of {len(target)} base-net tensors)"


def _load_ssd(net: SSD, state: dict, path: str) -> str:
    expected = net.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise WeightsError(f"{path}: {_describe_key_mismatch(missing, unexpected)}; "
                           f"{_likely_cause(state, net)}")
    wrong = [key for key in expected if state[key].shape != expected[key].shape]
    heads = [key for key in wrong if key.startswith(net.HEAD_PREFIX)]
    if wrong != heads:
        raise WeightsError(f"{path}: shape mismatch at {_shape_diff(wrong[0], state, expected)}; "
                           f"{_likely_cause(state, net)}")
    if not heads:
        net.load_state_dict(state)
        return f"loaded {path}"
    saved_classes = class_count(state, net)
    kept = {key: value for key, value in state.items() if not key.startswith(net.HEAD_PREFIX)}
    net.load_state_dict(kept, strict=False)
    net.reset_classification_heads()
    return (f"loaded {path}; its classification heads are for {saved_classes} classes, the model has "
            f"{net.num_classes}: they were re-initialized")


def _is_base_net(net: SSD, state: dict) -> bool:
    base_keys = net.base_net.state_dict().keys()
    keys = {key.removeprefix("base_net.") for key in state}
    return keys == set(base_keys)


def _load_base_net(net: SSD, state: dict, path: str) -> None:
    state = {key.removeprefix("base_net."): value for key, value in state.items()}
    expected = net.base_net.state_dict()
    try:
        _check_shapes(state, expected, path)
    except WeightsError as error:
        raise WeightsError(f"{error}; is it the base net of {net.net_name}?") from None
    net.base_net.load_state_dict(state)


def _check_shapes(state: dict, expected: dict, source: str) -> None:
    for key, value in state.items():
        if key not in expected or value.shape != expected[key].shape:
            raise WeightsError(f"{source}: does not fit the base net at {_shape_diff(key, state, expected)}")


def strip_wrapper_prefixes(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        for prefix in _WRAPPER_PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def class_count(state: dict, net: SSD) -> int | None:
    """Classes (BACKGROUND included) a state_dict for `net`'s kind of net was trained for, from its
    first classification head's output channels; None when it has no such head."""
    head = net.classification_headers[0]
    conv = [name for name, module in head.named_modules() if isinstance(module, nn.Conv2d)][-1]
    weight = state.get(".".join(part for part in (net.HEAD_PREFIX + "0", conv, "weight") if part))
    return weight.shape[0] // net.anchors_per_location[0] if isinstance(weight, Tensor) else None


def _likely_cause(state: dict, net: SSD) -> str:
    keys = set(state)
    for name in NET_NAMES:
        if name == net.net_name:
            continue
        with torch.device("meta"):
            other = create_net(name, 2)
        if keys == set(other.state_dict()):
            return f"these weights look like a {name} model: pass --net {name}"
        if keys == set(other.base_net.state_dict()):
            return f"these weights look like the base net of {name}: pass --net {name}"
    return "is it a checkpoint of this net (--net) and of this width (--mb2-width-mult)?"


def _describe_key_mismatch(missing: list, unexpected: list) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} keys missing (first: {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:3])})")
    return " and ".join(parts)


def _shape_diff(key: str, state: dict, expected: dict) -> str:
    saved = tuple(state[key].shape)
    wanted = tuple(expected[key].shape) if key in expected else "no such key"
    return f"{key} (file {saved}, model {wanted})"


def _looks_like_torch_file(path: str) -> bool:
    """torch.save writes a zip archive; before PyTorch 1.6 it wrote a pickle (first byte 0x80)."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as file:
        return file.read(1) == b"\x80"
